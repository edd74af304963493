// RandomStateTests: the legacy MT19937 port against values printed by NumPy 2.4.6.

import XCTest
@testable import FocalData

final class RandomStateTests: XCTestCase {
    func testFirstWordsMatchNumPy() {
        var a = RandomState(seed: 42)
        XCTAssertEqual((0..<5).map { _ in a.nextUInt32() }, [1608637542, 3421126067, 4083286876, 787846414, 3143890026])
        var b = RandomState(seed: 7)
        XCTAssertEqual((0..<5).map { _ in b.nextUInt32() }, [327741615, 976413892, 3349725721, 1369975286, 1882953283])
    }

    func testRandomSampleBitwise() {
        var r = RandomState(seed: 42)
        let got = (0..<3).map { _ in r.randomSample() }
        XCTAssertEqual(got.map(\.bitPattern), [0.3745401188473625, 0.9507143064099162, 0.7319939418114051].map(\.bitPattern))
    }

    /// 7 normals, 3 uniforms, 6 normals: the spare survives the uniform draws (tolerance: bitwise).
    func testNormalSpareSurvivesUniforms() {
        var r = RandomState(seed: 42)
        let n1 = (0..<7).map { _ in r.standardNormal() }
        let u = (0..<3).map { _ in r.uniform() }
        let n2 = (0..<6).map { _ in r.standardNormal() }
        let e1 = [0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254,
                  -0.23415337472333597, -0.23413695694918055, 1.5792128155073915]
        let eu = [0.020584494295802447, 0.9699098521619943, 0.8324426408004217]
        let e2 = [0.7674347291529088, -0.580878134023515, -0.5251698071781478, -0.5713801657541415,
                  -0.9240828377471049, -2.6125490126936013]
        let got = n1 + u + n2, want = e1 + eu + e2
        let maxDiff = zip(got, want).map { abs($0 - $1) }.max()!
        print("RandomState normals/uniforms: max |diff| = \(maxDiff)")
        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern))
    }

    func testSkipNormalsKeepsTheStream() {
        for skip in [0, 1, 2, 5, 8, 13] {
            var a = RandomState(seed: 9), b = RandomState(seed: 9)
            _ = a.standardNormal(); _ = b.standardNormal()
            for _ in 0..<skip { _ = a.standardNormal() }
            b.skipStandardNormals(skip)
            XCTAssertEqual(a, b, "skip \(skip)")
            XCTAssertEqual(a.standardNormal().bitPattern, b.standardNormal().bitPattern)
        }
    }

    func testIntegersAndPermutation() {
        var r = RandomState(seed: 1)
        XCTAssertEqual((0..<5).map { _ in r.randint(10) }, [5, 8, 9, 5, 0])
        XCTAssertEqual((0..<3).map { _ in r.randint(1 << 40) }, [620178591873, 877839392327, 1020783786492])
        XCTAssertEqual((0..<2).map { _ in r.randint(1 << 32) }, [1704103302, 4018109721])
        XCTAssertEqual(r.permutation(10), [1, 7, 0, 3, 8, 9, 5, 6, 4, 2])
        XCTAssertEqual((0..<2).map { _ in r.randint(1) }, [0, 0])
        XCTAssertEqual(r.randint(7), 4)
    }
}
