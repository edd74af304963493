// ClassificationPlanTests: one set of rules for both generators, and the plan's sizes against scikit-learn's numbers.

import XCTest
@testable import FocalData
import FocalFormats

final class ClassificationPlanTests: XCTestCase {
    typealias Field = ClassificationPlan.Field

    /// The default spec (the tutorial's) for `generator`, edited.
    func spec(_ generator: GeneratorKind, _ edit: (inout DatasetSpec) -> Void = { _ in }) -> DatasetSpec {
        var d = DatasetSpec()
        d.generator = generator
        edit(&d)
        return d
    }

    /// The refusal of building `body`, as a plan error (nil when it did not throw one).
    func refusal(_ body: () throws -> Void) -> ClassificationPlan.Invalid? {
        do { try body() } catch let e as ClassificationPlan.Invalid { return e } catch { XCTFail("not a plan error: \(error)") }
        return nil
    }

    // MARK: - Validation: the same verdict from both generators

    /// Every rule, each broken once: the plan and both sources refuse with the same field and the
    /// same one-line message.
    func testEveryRuleRefusesIdenticallyInBothGenerators() {
        let cases: [(Field, (inout DatasetSpec) -> Void)] = [
            (.samples, { $0.classification.samples = 0 }),
            (.samples, { $0.classification.samples = -5 }),
            (.features, { $0.classification.features = 0 }),
            (.informative, { $0.classification.informative = 0 }),
            (.redundant, { $0.classification.redundant = -1 }),
            (.repeated, { $0.classification.repeated = -2 }),
            // scikit-learn accepts one class; the project refuses it in both generators.
            (.classes, { $0.classification.classes = 1; $0.classification.weights = nil }),
            (.classes, { $0.classification.classes = 0; $0.classification.weights = nil }),
            (.clustersPerClass, { $0.classification.clustersPerClass = 0 }),
            // informative + redundant + repeated > features.
            (.features, { $0.classification.repeated = 6 }),
            (.features, { $0.classification.informative = 15; $0.classification.redundant = 6 }),
            // 2^informative < classes * clustersPerClass.
            (.informative, { $0.classification.informative = 1; $0.classification.redundant = 0 }),
            (.informative, { $0.classification.informative = 3; $0.classification.classes = 5; $0.classification.weights = nil }),
            (.informative, { $0.classification.clustersPerClass = Int.max / 2 }),
            // weights: length K or K - 1, finite, non-negative, K - 1 summing to at most 1, not absurdly large.
            (.weights, { $0.classification.weights = [0.2, 0.3, 0.5] }),
            (.weights, { $0.classification.weights = [] }),
            (.weights, { $0.classification.weights = [-0.1, 0.5] }),
            (.weights, { $0.classification.weights = [.nan] }),
            (.weights, { $0.classification.weights = [.infinity, 1] }),
            (.weights, { $0.classification.weights = [1.5] }),
            (.weights, { $0.classification.weights = [1e300, 0] }),
            (.flipY, { $0.classification.flipY = 1.5 }),
            (.flipY, { $0.classification.flipY = -0.1 }),
            (.flipY, { $0.classification.flipY = .nan }),
            (.classSep, { $0.classification.classSep = 0 }),
            (.classSep, { $0.classification.classSep = -1 }),
            (.classSep, { $0.classification.classSep = .infinity }),
            (.shift, { $0.classification.shift = .value(.infinity) }),
            (.scale, { $0.classification.scale = .value(0) }),
            (.scale, { $0.classification.scale = .value(.nan) }),
            (.testFraction, { $0.split.testFraction = 1 }),
            (.testFraction, { $0.split.testFraction = -0.2 }),
            (.testFraction, { $0.split.testFraction = .nan }),
            // ceil(0.9999 * 1000) = 1000 test rows: an empty training set.
            (.testFraction, { $0.split.testFraction = 0.9999 }),
            (.testFraction, { $0.classification.samples = 1 }),
            (.stratify, { $0.split.stratify = true; $0.split.testFraction = 0 }),
        ]
        for (field, edit) in cases {
            let plan = refusal { _ = try ClassificationPlan(spec(.sklearn, edit)) }
            let sklearn = refusal { _ = try SklearnDataSource(spec(.sklearn, edit)) }
            let counter = refusal { _ = try CounterDataSource(spec(.counter, edit)) }
            XCTAssertEqual(plan?.field, field, "\(plan.map { "\($0)" } ?? "accepted")")
            XCTAssertEqual(sklearn, plan, "sklearn: \(sklearn.map { "\($0)" } ?? "accepted")")
            XCTAssertEqual(counter, plan, "counter: \(counter.map { "\($0)" } ?? "accepted")")
            XCTAssertFalse("\(plan.map { "\($0)" } ?? "")".contains("\n"))
        }
    }

    /// Specs on the edge of a rule are accepted by both (equality allowed, as in scikit-learn).
    func testEdgeCasesAcceptedByBothGenerators() throws {
        let cases: [(String, (inout DatasetSpec) -> Void)] = [
            ("informative + redundant == features", { $0.classification.informative = 15; $0.classification.redundant = 5 }),
            ("2^informative == clusters", {
                $0.classification.features = 4; $0.classification.informative = 2; $0.classification.redundant = 2
            }),
            ("weights summing to more than 1", { $0.classification.weights = [0.9, 0.9] }),
            ("K - 1 weights summing to exactly 1", { $0.classification.weights = [1.0] }),
            ("no weights", { $0.classification.weights = nil; $0.classification.classes = 3 }),
            ("zero weights", { $0.classification.weights = [0, 0] }),
            ("flip_y 0 and 1", { $0.classification.flipY = 1 }),
            ("no test set", { $0.split.testFraction = 0 }),
            ("one training row", { $0.classification.samples = 2; $0.split.testFraction = 0.5 }),
            ("random shift and scale", { $0.classification.shift = .random; $0.classification.scale = .random }),
        ]
        for (what, edit) in cases {
            let plan = try ClassificationPlan(spec(.sklearn, edit))
            let sklearn = try SklearnDataSource(spec(.sklearn, edit))
            let counter = try CounterDataSource(spec(.counter, edit))
            XCTAssertEqual(sklearn.trainCount, plan.trainCount, what)
            XCTAssertEqual(counter.trainCount, plan.trainCount, what)
            XCTAssertEqual(sklearn.testCount, plan.testCount, what)
            XCTAssertEqual(counter.testCount, plan.testCount, what)
        }
    }

    /// The one rule that differs by generator: the counter generator refuses a stratified split
    /// (it would need every label on every rank); the sklearn generator reproduces it.
    func testStratifyIsTheOnlyGeneratorSpecificRule() throws {
        let edit: (inout DatasetSpec) -> Void = { $0.split.stratify = true }
        XCTAssertNoThrow(try SklearnDataSource(spec(.sklearn, edit)))
        XCTAssertEqual(refusal { _ = try ClassificationPlan(spec(.counter, edit)) }?.field, .stratify)
        // Fewer rows in a part than classes: refused before any data is made, by both.
        let small: (inout DatasetSpec) -> Void = {
            $0.classification.samples = 10; $0.split.testFraction = 0.1; $0.split.stratify = true
        }
        XCTAssertEqual(refusal { _ = try ClassificationPlan(spec(.sklearn, small)) }?.field, .stratify)
        XCTAssertEqual(refusal { _ = try ClassificationPlan(spec(.counter, small)) }?.field, .stratify)
        // A source refuses a plan made for the other generator.
        XCTAssertEqual(refusal { _ = try CounterDataSource(ClassificationPlan(spec(.sklearn))) }?.field, .generator)
        XCTAssertEqual(refusal { _ = try SklearnDataSource(ClassificationPlan(spec(.counter))) }?.field, .generator)
    }

    /// A class with a single row cannot be stratified: known only once the labels exist.
    func testStratifyWithASingleRowClassIsADataError() {
        let d = spec(.sklearn) {
            $0.classification.samples = 40; $0.classification.weights = [1.0, 0.0]; $0.classification.flipY = 0
            $0.classification.clustersPerClass = 1; $0.split.stratify = true
        }
        XCTAssertNoThrow(try ClassificationPlan(d))
        XCTAssertThrowsError(try SklearnDataSource(d)) { error in
            XCTAssertTrue(error is DataError)
            XCTAssertTrue("\(error)".contains("--stratify"), "\(error)")
        }
    }

    /// Messages refer to fields; a user interface names them its own way.
    func testMessagesSpeakInFields() throws {
        let e = try XCTUnwrap(refusal { _ = try ClassificationPlan(spec(.sklearn) {
            $0.classification.informative = 15; $0.classification.redundant = 10
        }) })
        XCTAssertEqual(e.field, .features)
        XCTAssertEqual("\(e)", "informative (15) + redundant (10) + repeated (0) exceed features (20)")
        let flags: [Field: String] = [.informative: "--informative", .redundant: "--redundant", .repeated: "--repeated",
                                      .features: "--features"]
        XCTAssertEqual(e.message.rendered { flags[$0]! },
                       "--informative (15) + --redundant (10) + --repeated (0) exceed --features (20)")
        XCTAssertEqual(e.message.pieces.filter { if case .field = $0 { return true } else { return false } }.count, 4)
        let s = try XCTUnwrap(refusal { _ = try ClassificationPlan(spec(.sklearn) { $0.classification.samples = 0 }) })
        XCTAssertEqual(s.message.rendered { "--\($0.rawValue)" }, "--samples must be at least 1, got 0")
    }

    // MARK: - Sizes against scikit-learn

    /// `n_samples_per_cluster` as in `make_classification`. The expected numbers were read off
    /// scikit-learn 1.9.1 itself (`make_classification(..., flip_y=0, shuffle=False)`, run lengths
    /// of `y`; scikit-learn is not a test dependency).
    func testClusterSizesFollowScikitLearn() throws {
        // Tutorial: 1000 samples, weights [0.8, 0.2], two clusters per class.
        var plan = try ClassificationPlan(spec(.sklearn))
        XCTAssertEqual(plan.proportions, [0.8, 0.2])
        XCTAssertEqual(plan.clusterSizes, [400, 100, 400, 100])
        XCTAssertEqual(plan.clusterStarts, [0, 400, 500, 900, 1000])
        // 101 samples, three classes at 0.2: int(10.1) = 10 each, shortfall 41 handed out cyclically.
        plan = try ClassificationPlan(spec(.sklearn) {
            $0.classification.samples = 101; $0.classification.classes = 3; $0.classification.weights = [0.2, 0.2, 0.2]
            $0.classification.informative = 3
        })
        XCTAssertEqual(plan.clusterSizes, [17, 17, 17, 17, 17, 16])
        // Weights summing to more than 1: sizes 45 x 4, the output still has 100 rows, the last
        // cluster is empty.
        plan = try ClassificationPlan(spec(.sklearn) { $0.classification.samples = 100; $0.classification.weights = [0.9, 0.9] })
        XCTAssertEqual(plan.clusterSizes, [45, 45, 45, 45])
        XCTAssertEqual(plan.clusterStarts, [0, 45, 90, 100, 100])
        // scikit-learn's defaults (100 samples, 2 classes, weights None).
        plan = try ClassificationPlan(spec(.sklearn) { $0.classification.samples = 100; $0.classification.weights = nil })
        XCTAssertEqual(plan.proportions, [0.5, 0.5])
        XCTAssertEqual(plan.clusterSizes, [25, 25, 25, 25])
        // K - 1 weights: the last is 1 - (0.5 + 0.3) = 0.19999999999999996, so its clusters get
        // int(99.99999999999999) = 99 rows; the shortfall of 2 goes to clusters 0 and 1.
        plan = try ClassificationPlan(spec(.sklearn) {
            $0.classification.classes = 3; $0.classification.weights = [0.5, 0.3]
        })
        XCTAssertEqual(plan.proportions, [0.5, 0.3, 0.19999999999999996])
        XCTAssertEqual(plan.clusterSizes, [251, 151, 99, 250, 150, 99])
        XCTAssertEqual(plan.clusterStarts.last, 1000)
        // Three clusters per class: int(25.87) = 25 and int(6.47) = 6, shortfall 4.
        plan = try ClassificationPlan(spec(.sklearn) { $0.classification.samples = 97; $0.classification.clustersPerClass = 3 })
        XCTAssertEqual(plan.clusterSizes, [26, 7, 26, 7, 25, 6])
    }

    /// `train_test_split` with a float `test_size`: `n_test = ceil(f * n)` in float64 (expected
    /// sizes read off scikit-learn 1.9.1's `train_test_split`).
    func testSplitSizesFollowScikitLearn() throws {
        let cases: [(n: Int, f: Double, train: Int, test: Int)] = [
            (1000, 0.2, 800, 200), (100, 0.07, 92, 8),  // 0.07 * 100 = 7.000000000000001
            (3, 0.5, 1, 2), (10, 0.1, 9, 1), (3, 0.1, 2, 1), (7, 0.3, 4, 3), (50, 0, 50, 0),
        ]
        for c in cases {
            let plan = try ClassificationPlan(spec(.sklearn) {
                $0.classification.samples = c.n; $0.split.testFraction = c.f
            })
            XCTAssertEqual(plan.trainCount, c.train, "n \(c.n), f \(c.f)")
            XCTAssertEqual(plan.testCount, c.test, "n \(c.n), f \(c.f)")
        }
    }

    /// Split sizes against every scikit-learn fixture (arrays written by scikit-learn itself).
    func testSplitSizesMatchTheFixtures() throws {
        for name in try SklearnFixtureTests.fixtureNames() {
            let f = try SklearnFixtureTests.load(name)
            let plan = try ClassificationPlan(f.spec)
            XCTAssertEqual(plan.trainCount, f.yTrain.count, name)
            XCTAssertEqual(plan.testCount, f.yTest.count, name)
        }
    }

    // MARK: - Cluster lookup

    func testClusterLookupMatchesAScan() throws {
        for weights in [[0.8, 0.2], [0.9, 0.9], [1.0, 0.0]] as [[Double]] {
            let plan = try ClassificationPlan(spec(.sklearn) {
                $0.classification.samples = 97; $0.classification.weights = weights; $0.classification.clustersPerClass = 3
            })
            for row in 0..<plan.samples {
                let k = plan.cluster(ofRow: row)
                XCTAssertTrue(plan.clusterStarts[k] <= row && row < plan.clusterStarts[k + 1], "row \(row) in cluster \(k)")
                XCTAssertEqual(plan.classOf(cluster: k), k % 2)
            }
        }
    }

    /// Without label noise or shuffling, both generators label each cluster's rows with its class:
    /// per-class row counts equal the plan's clamped cluster sizes.
    func testBothGeneratorsLabelThePlansClusters() throws {
        let edit: (inout DatasetSpec) -> Void = {
            $0.classification.samples = 101; $0.classification.classes = 3; $0.classification.weights = [0.5, 0.3]
            $0.classification.informative = 3; $0.classification.flipY = 0; $0.split.testFraction = 0
            $0.classification.shuffle = false
        }
        let plan = try ClassificationPlan(spec(.sklearn, edit))
        var expected = [Int32](repeating: 0, count: plan.samples)
        for k in 0..<plan.clusters {
            for r in plan.clusterStarts[k]..<plan.clusterStarts[k + 1] { expected[r] = Int32(plan.classOf(cluster: k)) }
        }
        let sklearn = try SklearnDataSource(spec(.sklearn, edit)).rows(.train, ranges: [0..<plan.samples])
        let counter = try CounterDataSource(spec(.counter, edit)).rows(.train, ranges: [0..<plan.samples])
        XCTAssertEqual(sklearn.y, expected)
        XCTAssertEqual(counter.y, expected)
    }
}
