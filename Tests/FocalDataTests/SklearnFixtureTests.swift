// SklearnFixtureTests: SklearnDataSource against scikit-learn 1.9.1 output (scripts/make_sklearn_fixtures.py).

import Foundation
import XCTest
@testable import FocalData
import FocalFormats

/// The parameters stored beside each fixture (`params.json`).
struct FixtureParams: Decodable {
    var classification: ClassificationSpec
    var split: SplitSpec
}

final class SklearnFixtureTests: XCTestCase {
    static func fixtureRoot() throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent("sklearn").path
    }

    static func fixtureNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixtureRoot()).sorted()
    }

    static func load(_ name: String) throws -> (spec: DatasetSpec, xTrain: NpyArray, yTrain: [Int64], xTest: NpyArray, yTest: [Int64]) {
        let dir = try fixtureRoot() + "/" + name
        let params = try JSONDecoder().decode(FixtureParams.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/params.json")))
        var spec = DatasetSpec()
        spec.classification = params.classification
        spec.split = params.split
        return (spec, try Npy.read(path: dir + "/X_train.npy").values, try XCTUnwrap(Npy.read(path: dir + "/y_train.npy").values.integers),
                try Npy.read(path: dir + "/X_test.npy").values, try XCTUnwrap(Npy.read(path: dir + "/y_test.npy").values.integers))
    }

    func testAtLeastNineFixtures() throws {
        XCTAssertGreaterThanOrEqual(try Self.fixtureNames().count, 9)
    }

    /// Labels and split bitwise for every fixture; features bitwise for the tutorial (FMA rule),
    /// otherwise max |diff| <= 1e-13 * max |X|.
    func testEveryFixture() throws {
        for name in try Self.fixtureNames() {
            let f = try Self.load(name)
            let source = try SklearnDataSource(f.spec)
            XCTAssertEqual(source.trainCount, f.yTrain.count, name)
            XCTAssertEqual(source.testCount, f.yTest.count, name)
            let both = try source.rows(train: [0..<source.trainCount], test: [0..<source.testCount])
            XCTAssertEqual(both.train.y.map(Int64.init), f.yTrain, "\(name): train labels")
            XCTAssertEqual(both.test.y.map(Int64.init), f.yTest, "\(name): test labels")
            let want = f.xTrain.doubles + f.xTest.doubles
            let got = both.train.x + both.test.x
            XCTAssertEqual(got.count, want.count, name)
            guard got.count == want.count else { continue }
            let maxAbs = want.map { abs($0) }.max() ?? 0
            let maxDiff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            let differing = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            print("fixture \(name): max |diff| = \(maxDiff) (max |X| = \(maxAbs)), \(differing) of \(got.count) entries not bitwise equal")
            if name == "tutorial" {
                XCTAssertEqual(differing, 0, "\(name): features must be bitwise equal")
            }
            XCTAssertLessThanOrEqual(maxDiff, 1e-13 * maxAbs, name)
            // Class counts offered without features.
            for (part, y) in [(SplitPart.train, f.yTrain), (.test, f.yTest)] {
                var counts = [Int64](repeating: 0, count: f.spec.classification.classes)
                for v in y { counts[Int(v)] += 1 }
                XCTAssertEqual(source.classCounts(part), counts, "\(name) \(part)")
                XCTAssertEqual(source.labels(part).map(Int64.init), y, "\(name) \(part)")
            }
        }
    }

    func testTutorialCounts() throws {
        let source = try SklearnDataSource(DatasetSpec())
        XCTAssertEqual(source.classCounts(.train), [632, 168])
        XCTAssertEqual(source.classCounts(.test), [161, 39])
        XCTAssertEqual(try classWeights(scheme: .inverse, counts: source.classCounts(.train)).map(\.bitPattern),
                       [1.2658227848101264, 4.761904761904762].map(\.bitPattern))
    }

    /// Shards for 1...8 ranks, concatenated, equal all rows; so do scattered ranges.
    func testShardsEqualAllRows() throws {
        for name in ["tutorial", "reservoir_odd", "polytope_random_shift_scale", "many_blocks"] {
            let source = try SklearnDataSource(try Self.load(name).spec)
            let all = try source.rows(train: [0..<source.trainCount], test: [0..<source.testCount])
            for ranks in 1...8 {
                var train = Rows(features: source.features), test = Rows(features: source.features)
                for r in 0..<ranks {
                    let a = source.trainCount * r / ranks, b = source.trainCount * (r + 1) / ranks
                    let c = source.testCount * r / ranks, d = source.testCount * (r + 1) / ranks
                    let part = try source.rows(train: [a..<b], test: [c..<d])
                    train.x += part.train.x; train.y += part.train.y
                    test.x += part.test.x; test.y += part.test.y
                    let onlyTrain = try source.rows(.train, ranges: [a..<b])
                    XCTAssertEqual(onlyTrain, part.train)
                }
                XCTAssertEqual(train, all.train, "\(name) ranks \(ranks)")
                XCTAssertEqual(test, all.test, "\(name) ranks \(ranks)")
            }
            let ranges = [2..<5, 17..<18, 30..<(source.trainCount - 3)]
            let scattered = try source.rows(.train, ranges: ranges)
            var want = Rows(features: source.features)
            for r in ranges {
                want.x += all.train.x[(r.lowerBound * source.features)..<(r.upperBound * source.features)]
                want.y += all.train.y[r]
            }
            XCTAssertEqual(scattered, want, name)
            let empty = try source.rows(train: [], test: [])
            XCTAssertEqual(empty.train.count + empty.test.count, 0)
        }
    }

    /// Pass 2 split over worker threads gives the same rows (three blocks in `many_blocks`).
    func testThreadsDoNotChangeRows() throws {
        var source = try SklearnDataSource(try Self.load("many_blocks").spec)
        let one = try source.rows(train: [0..<source.trainCount], test: [0..<source.testCount])
        for threads in [2, 3, 8] {
            source.threads = threads
            let many = try source.rows(train: [5..<source.trainCount], test: [0..<source.testCount])
            XCTAssertEqual(many.test, one.test, "threads \(threads)")
            XCTAssertEqual(many.train.y, Array(one.train.y[5...]), "threads \(threads)")
            XCTAssertEqual(many.train.x, Array(one.train.x[(5 * source.features)...]), "threads \(threads)")
        }
    }

    func testBadRangesThrow() throws {
        let source = try SklearnDataSource(DatasetSpec())
        XCTAssertThrowsError(try source.rows(.train, ranges: [0..<801]))
        XCTAssertThrowsError(try source.rows(.train, ranges: [5..<10, 8..<12]))
        XCTAssertThrowsError(try source.rows(.test, ranges: [10..<20, 0..<5]))
    }

    /// No test set: `--test-fraction 0` gives every row to training, in generation order.
    func testNoTestSet() throws {
        var spec = DatasetSpec()
        spec.split.testFraction = 0
        let source = try SklearnDataSource(spec)
        XCTAssertEqual(source.trainCount, 1000)
        XCTAssertEqual(source.testCount, 0)
        XCTAssertEqual(source.classCounts(.train).reduce(0, +), 1000)
    }
}
