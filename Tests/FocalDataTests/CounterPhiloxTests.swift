// Tests of Philox4x32-10 (Random123 known answers), the uniform/normal helpers and KeyedPermutation.
import Foundation
import XCTest
import FocalData

final class CounterPhiloxTests: XCTestCase {
    // MARK: - Philox known answers

    /// Known-answer vectors of Random123's `kat_vectors` for philox4x32 with 10 rounds; also
    /// reproduced by an independent Python transcription of the paper's round function.
    func testPhiloxKnownAnswers() {
        let cases: [(ctr: Philox4x32.Block, key: (UInt32, UInt32), out: Philox4x32.Block)] = [
            (.init(0, 0, 0, 0), (0, 0), .init(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8)),
            (.init(repeating: 0xFFFF_FFFF), (0xFFFF_FFFF, 0xFFFF_FFFF),
             .init(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD)),
            (.init(0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), (0xA409_3822, 0x299F_31D0),
             .init(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1)),
        ]
        for c in cases {
            let got = Philox4x32(key0: c.key.0, key1: c.key.1).block(c.ctr)
            XCTAssertEqual(got, c.out, "Philox4x32-10 ctr \(c.ctr) key \(c.key)")
        }
    }

    // MARK: - Elementary functions against glibc

    func testLogAndSinCosAgainstLibm() {
        var stream = PhiloxStream(key0: 1, key1: 2)
        var maxLogRel = 0.0, maxTrig = 0.0
        for i in 0..<20_000 {
            // Mix uniform values with tiny ones (down to 2^-53) to cover every exponent.
            let u = i % 4 == 0 ? Double(stream.next() >> 11 | 1) * 0x1p-53 * 0x1p-20 : RandomBits.uniformOpenClosed(stream.nextWord(), stream.nextWord())
            let x = max(u, 0x1p-53)
            let ref = Foundation.log(x)
            if ref != 0 { maxLogRel = max(maxLogRel, abs(RandomBits.logUnit(x) - ref) / abs(ref)) }
            let t = stream.nextUniform()
            let (c, s) = RandomBits.cosSinTurn(t)
            maxTrig = max(maxTrig, abs(c - Foundation.cos(2 * Double.pi * t)), abs(s - Foundation.sin(2 * Double.pi * t)))
        }
        print("logUnit max relative difference to glibc log: \(maxLogRel); cosSinTurn max abs difference: \(maxTrig)")
        XCTAssertLessThan(maxLogRel, 1e-15, "logUnit relative error (tolerance 1e-15)")
        XCTAssertLessThan(maxTrig, 2e-15, "cosSinTurn absolute error (tolerance 2e-15)")
        XCTAssertEqual(RandomBits.logUnit(1.0), 0)
        XCTAssertEqual(RandomBits.uniform(0, 0), 0)
        XCTAssertEqual(RandomBits.uniform(0xFFFF_FFFF, 0xFFFF_FFFF), 1 - 0x1p-53)
        XCTAssertEqual(RandomBits.uniformOpenClosed(0xFFFF_FFFF, 0xFFFF_FFFF), 1)
        XCTAssertEqual(RandomBits.uniformOpenClosed(0, 0), 0x1p-53)
    }

    /// Box-Muller normals: deterministic per (key, counter); first four moments of 200k values
    /// within 5 standard errors of N(0, 1) (standard errors sqrt(k/n) for k = 1, 2, 6, 24... moments).
    func testNormalMoments() {
        let p = Philox4x32(key0: 42, key1: 7)
        XCTAssertEqual(RandomBits.normalPair(p.block(.init(5, 0, 0, 0))).0, RandomBits.normalPair(p.block(.init(5, 0, 0, 0))).0)
        let n = 200_000
        var s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0
        for i in 0..<(n / 2) {
            let (a, b) = RandomBits.normalPair(p.block(.init(UInt32(i), 0, 0, 0)))
            for v in [a, b] { s1 += v; s2 += v * v; s3 += v * v * v; s4 += v * v * v * v }
        }
        let m1 = s1 / Double(n), m2 = s2 / Double(n), m3 = s3 / Double(n), m4 = s4 / Double(n)
        let se = { (variance: Double) in 5 * (variance / Double(n)).squareRoot() }
        print("normal moments: mean \(m1) E[z^2] \(m2) E[z^3] \(m3) E[z^4] \(m4)")
        XCTAssertLessThan(abs(m1), se(1), "mean")
        XCTAssertLessThan(abs(m2 - 1), se(2), "second moment (Var z^2 = 2)")
        XCTAssertLessThan(abs(m3), se(15), "third moment (Var z^3 = 15)")
        XCTAssertLessThan(abs(m4 - 3), se(96), "fourth moment (Var z^4 = 96)")
    }

    // MARK: - KeyedPermutation

    func testPermutationIsBijectionForSmallN() {
        var seen = [Bool](repeating: false, count: 2001)
        for n in 1...2000 {
            let perm = KeyedPermutation(count: n, key: UInt64(n) &* 0x1234_5678_9ABC)
            for i in 0..<n { seen[i] = false }
            for i in 0..<n {
                let j = perm.apply(i)
                guard j >= 0 && j < n && !seen[j] else { return XCTFail("n=\(n): apply(\(i)) = \(j) repeats or is out of range") }
                seen[j] = true
                // The inverse is checked for every n up to 500 and every 50th n above (time budget).
                guard n > 500 && n % 50 != 0 || perm.inverse(j) == i else { return XCTFail("n=\(n): inverse(apply(\(i))) != \(i)") }
            }
        }
    }

    func testPermutationLargeNSampled() {
        var stream = PhiloxStream(key0: 9, key1: 9)
        for n in [1_000_003, 100_000_000, 1 << 40, (1 << 40) + 3, Int(1) << 62] {
            let perm = KeyedPermutation(count: n, key: 77)
            for _ in 0..<500 {
                let i = stream.nextBelow(n)
                let j = perm.apply(i)
                XCTAssertTrue(j >= 0 && j < n, "n=\(n): apply(\(i)) out of range")
                XCTAssertEqual(perm.inverse(j), i, "n=\(n): inverse(apply(i)) != i")
            }
        }
    }

    /// "Looks shuffled": for n = 10000 the rank correlation of i and apply(i) and the number of ascents
    /// are within 5 standard deviations of a uniform random permutation's (0 +- 1/sqrt(n-1);
    /// (n-1)/2 +- sqrt((n+1)/12)), fixed points are few (Poisson(1): at most 10), and two keys differ.
    func testPermutationLooksShuffled() {
        let n = 10_000
        let perm = KeyedPermutation(count: n, key: 2024)
        let image = (0..<n).map { perm.apply($0) }
        let mean = Double(n - 1) / 2
        var cov = 0.0, variance = 0.0, ascents = 0, fixed = 0
        for i in 0..<n {
            cov += (Double(i) - mean) * (Double(image[i]) - mean)
            variance += (Double(i) - mean) * (Double(i) - mean)
            if i > 0 && image[i] > image[i - 1] { ascents += 1 }
            if image[i] == i { fixed += 1 }
        }
        let r = cov / variance
        print("permutation n=\(n): correlation \(r), ascents \(ascents), fixed points \(fixed)")
        XCTAssertLessThan(abs(r), 5 / Double(n - 1).squareRoot(), "correlation")
        XCTAssertLessThan(abs(Double(ascents) - mean), 5 * (Double(n + 1) / 12).squareRoot(), "ascents")
        XCTAssertLessThanOrEqual(fixed, 10, "fixed points")
        let other = KeyedPermutation(count: n, key: 2025)
        XCTAssertGreaterThan((0..<n).filter { other.apply($0) != image[$0] }.count, n * 9 / 10, "a different key gives a different permutation")
    }
}
