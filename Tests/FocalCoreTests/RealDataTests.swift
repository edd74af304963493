// RealDataTests: StandardScaler statistics against scikit-learn's values (fixtures written by
// scripts/real_data.py, so no scikit-learn is needed here), identical bits for any number of
// ranks, the model-metadata round trip, and the stratified validation split.
import Foundation
import XCTest
import Collectives
import FocalCore
import FocalData
import FocalFormats
import FocalReport
import FocalRun

/// Rows held in memory as a data source (train part only).
struct ArraySource: DataSource {
    let features: Int
    let classes: Int
    /// `[rows, features]` row-major.
    let x: [Double]
    /// `[rows]`.
    let y: [Int32]
    var trainCount: Int { y.count }
    var testCount: Int { 0 }
    func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        var rx: [Double] = [], ry: [Int32] = []
        for r in train { rx += x[(r.lowerBound * features)..<(r.upperBound * features)]; ry += y[r] }
        return (Rows(features: features, x: rx, y: ry), Rows(features: features))
    }
}

/// A fixture of Tests/Fixtures/real-data.
func realDataFixture(_ name: String) throws -> JSON {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/real-data/\(name)")
    return try JSON.parse(String(contentsOf: url, encoding: .utf8))
}

final class StandardizationTests: XCTestCase {
    func testMatchesScikitLearnForAnyRankCountAndChunking() throws {
        let fixture = try realDataFixture("standard_scaler.json")
        let rows = try XCTUnwrap(fixture["X"]?.array).map { try XCTUnwrap($0.doubles) }
        let mean = try XCTUnwrap(fixture["mean_"]?.doubles), scale = try XCTUnwrap(fixture["scale_"]?.doubles)
        let transformed = try XCTUnwrap(fixture["transformed"]?.array).map { try XCTUnwrap($0.doubles) }
        let f = mean.count
        // The fixture holds a constant feature, near-constant ones (scale 1 by scikit-learn's rule),
        // a tiny-scale one and ordinary ones: check that the rule is really exercised.
        XCTAssertTrue(scale.contains(1.0))
        XCTAssertTrue(scale.contains { $0 < 0.01 })
        let source = ArraySource(features: f, classes: 2, x: rows.flatMap { $0 }, y: rows.map { _ in 0 })
        var reference: Standardization?
        for (ranks, chunk) in [(1, 256), (1, 2), (3, 2), (4, 1)] {
            let plan = ChunkPlan(rows: rows.count, batchSize: rows.count, chunkSize: chunk, ranks: ranks)
            let fitted = try inProcess(ranks) { comm in try standardizationStatistics(source: source, plan: plan, comm: comm) }
            for s in fitted {
                for j in 0..<f {
                    XCTAssertEqual(s.mean[j], mean[j], accuracy: 1e-12 * max(abs(mean[j]), 1e-300), "mean_[\(j)], \(ranks) ranks")
                    XCTAssertEqual(s.scale[j], scale[j], accuracy: 1e-12 * scale[j], "scale_[\(j)], \(ranks) ranks")
                }
                XCTAssertEqual(s.mean.map(\.bitPattern), fitted[0].mean.map(\.bitPattern), "every rank holds the same bits")
            }
            // The same chunking gives the same bits at any number of ranks.
            if chunk == 2 {
                if let r = reference {
                    XCTAssertEqual(fitted[0].mean.map(\.bitPattern), r.mean.map(\.bitPattern))
                    XCTAssertEqual(fitted[0].scale.map(\.bitPattern), r.scale.map(\.bitPattern))
                } else { reference = fitted[0] }
            }
        }
        var x = rows.flatMap { $0 }
        Standardization(mean: mean, scale: scale).apply(to: &x)
        for (i, v) in transformed.flatMap({ $0 }).enumerated() {
            XCTAssertEqual(x[i], v, accuracy: 1e-12 * max(1, abs(v)), "transformed value \(i)")
        }
    }

    func testConstantFeatureRule() {
        // scikit-learn: var <= n*eps*var + (n*mean*eps)^2 -> scale 1.
        XCTAssertEqual(Standardization.scale(variance: 0, mean: 5, samples: 10), 1)
        XCTAssertEqual(Standardization.scale(variance: 1e-20, mean: 1e6, samples: 100), 1)
        XCTAssertEqual(Standardization.scale(variance: 4, mean: 1e6, samples: 100), 2)
    }

    func testMetadataRoundTripAndRefusals() throws {
        let s = Standardization(mean: [0.1, -3e-300, 1e6 + 0.5], scale: [1.0 / 3.0, 1, 2.5e-8])
        let back = try XCTUnwrap(Standardization.from(metadata: s.metadata, features: 3, path: "m"))
        XCTAssertEqual(back.mean.map(\.bitPattern), s.mean.map(\.bitPattern))
        XCTAssertEqual(back.scale.map(\.bitPattern), s.scale.map(\.bitPattern))
        XCTAssertNil(try Standardization.from(metadata: [:], features: 3, path: "m"))
        XCTAssertThrowsError(try Standardization.from(metadata: s.metadata, features: 4, path: "m")) { e in
            XCTAssertTrue("\(e)".contains("4 features"), "\(e)")
        }
        var bad = s.metadata
        bad[Standardization.scaleKey] = "1,0,2"
        XCTAssertThrowsError(try Standardization.from(metadata: bad, features: 3, path: "m"))
    }
}

final class ValidationSplitTests: XCTestCase {
    func testStratifiedOrderedDisjointAndSeeded() throws {
        let y: [Int32] = (0..<200).map { $0 % 10 == 0 ? 1 : 0 }
        let a = try validationSplit(labels: y, classes: 2, fraction: 0.25, seed: 7)
        XCTAssertEqual(a.validation.count, 50)
        XCTAssertEqual(a.train.count, 150)
        XCTAssertEqual(a.train, a.train.sorted())
        XCTAssertEqual(a.validation, a.validation.sorted())
        XCTAssertEqual(Set(a.train + a.validation).count, 200)
        XCTAssertEqual(a.validation.filter { y[$0] == 1 }.count, 5, "stratified: 10 % of 50")
        XCTAssertEqual(try validationSplit(labels: y, classes: 2, fraction: 0.25, seed: 7).validation, a.validation)
        XCTAssertNotEqual(try validationSplit(labels: y, classes: 2, fraction: 0.25, seed: 8).validation, a.validation)
    }

    func testClassWithoutValidationRowIsRefused() {
        // 3 rows of class 1 in 200: 1 % of the rows go to validation, so class 1 gets none.
        let y: [Int32] = (0..<200).map { $0 < 3 ? 1 : 0 }
        XCTAssertThrowsError(try validationSplit(labels: y, classes: 2, fraction: 0.01, seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("--val-fraction"), "\(e)")
        }
    }

    func testPartViewMapsRows() throws {
        let source = ArraySource(features: 1, classes: 2, x: (0..<10).map(Double.init), y: (0..<10).map { Int32($0 % 2) })
        let view = PartView(base: source, train: .subset(.train, [1, 2, 3, 7]), test: .subset(.train, [0, 9]))
        XCTAssertEqual(view.trainCount, 4)
        XCTAssertEqual(view.testCount, 2)
        let r = try view.rows(train: [1..<4], test: [0..<2])
        XCTAssertEqual(r.train.x, [2, 3, 7])
        XCTAssertEqual(r.test.x, [0, 9])
    }
}

final class EarlyStoppingRuleTests: XCTestCase {
    func testPatienceAndMinDeltaAsKeras() {
        let c = EarlyStoppingConfig(patience: 2, monitor: .loss, minDelta: 0.1)
        var s = EarlyStoppingState()
        XCTAssertTrue(s.observe(1.0, epoch: 0, config: c))
        XCTAssertFalse(s.observe(0.95, epoch: 1, config: c), "0.05 is not more than min delta 0.1")
        XCTAssertFalse(s.shouldStop(c))
        XCTAssertTrue(s.observe(0.85, epoch: 2, config: c))
        XCTAssertEqual(s.bestEpoch, 2)
        XCTAssertFalse(s.observe(.nan, epoch: 3, config: c))
        XCTAssertFalse(s.observe(0.80, epoch: 4, config: c))
        XCTAssertTrue(s.shouldStop(c))
        XCTAssertEqual(s.bestScore, 0.85)
        let up = EarlyStoppingConfig(patience: 1, monitor: .balancedAccuracy)
        var t = EarlyStoppingState()
        t.observe(0.5, epoch: 0, config: up)
        XCTAssertFalse(t.observe(0.5, epoch: 1, config: up), "equal is no improvement")
        XCTAssertTrue(t.shouldStop(up))
    }

    func testMinorityClass() {
        XCTAssertEqual(minorityClass([10, 3]), 1)
        XCTAssertEqual(minorityClass([3, 3]), 0)
    }
}

final class ThresholdAndCalibrationTests: XCTestCase {
    func testThresholdsMatchScikitLearnFixture() throws {
        let fixture = try realDataFixture("thresholds.json")
        guard case .object(let cases)? = fixture["cases"] else { return XCTFail("no cases") }
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        var checked = 0
        for (name, c) in cases {
            let p1 = try XCTUnwrap(c["p1"]?.doubles), y = try XCTUnwrap(c["y"]?.doubles).map { Int32($0) }
            guard case .object(let choices)? = c["choices"] else { return XCTFail("\(name): no choices") }
            for (rule, expected) in choices {
                let objective = try XCTUnwrap(ThresholdObjective(rule), rule)
                let got = chooseThreshold(p1: p1, labels: y, objective: objective)
                if expected["threshold"]?.double == nil {
                    XCTAssertNil(got, "\(name) \(rule)")
                    continue
                }
                let point = try XCTUnwrap(got, "\(name) \(rule)")
                XCTAssertEqual(point.threshold, expected["threshold"]?.double, "\(name) \(rule)")
                XCTAssertEqual(Double(point.tp), expected["tp"]?.double, "\(name) \(rule)")
                XCTAssertEqual(Double(point.fp), expected["fp"]?.double, "\(name) \(rule)")
                XCTAssertEqual(point.precision, try XCTUnwrap(expected["precision"]?.double), accuracy: 1e-15)
                XCTAssertEqual(point.recall, try XCTUnwrap(expected["recall"]?.double), accuracy: 1e-15)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 20)
    }

    func testTemperatureAndFiguresMatchSciPyAndScikitLearn() throws {
        let fixture = try realDataFixture("calibration.json")
        guard case .object(let cases)? = fixture["cases"] else { return XCTFail("no cases") }
        for (name, c) in cases {
            let rows = try XCTUnwrap(c["logits"]?.array).map { try XCTUnwrap($0.doubles) }
            let k = rows[0].count, z = rows.flatMap { $0 }
            let y = try XCTUnwrap(c["y"]?.doubles).map { Int32($0) }
            let t = fitTemperature(logits: z, labels: y, classes: k)
            let root = try XCTUnwrap(c["temperature_gradient_root"]?.double)
            let scipy = try XCTUnwrap(c["temperature"]?.double)
            XCTAssertEqual(t, root, accuracy: 1e-9 * root, "\(name): T against the root of dNLL/dT")
            XCTAssertEqual(t, scipy, accuracy: 1e-6 * scipy, "\(name): T against minimize_scalar")
            XCTAssertEqual(temperatureNLL(logits: z, labels: y, classes: k, temperature: scipy),
                           try XCTUnwrap(c["nll_at_T"]?.double), accuracy: 1e-12)
            for (key, temperature) in [("before", 1.0), ("after", scipy)] {
                let p = softmax64(logits: z, classes: k, temperature: temperature)
                let f = CalibrationFigures(probabilities: p, labels: y, classes: k)
                let e = try XCTUnwrap(c[key])
                XCTAssertEqual(f.logLoss, try XCTUnwrap(e["log_loss"]?.double), accuracy: 1e-12, "\(name) \(key)")
                XCTAssertEqual(f.brier, try XCTUnwrap(e["brier"]?.double), accuracy: 1e-12, "\(name) \(key)")
                XCTAssertEqual(f.ece, try XCTUnwrap(e["ece"]?.double), accuracy: 1e-12, "\(name) \(key)")
                if k == 2, let curve = c["calibration_curve_\(key)"] {
                    let got = CalibrationCurve(labels: y, p1: (0..<y.count).map { p[$0 * 2 + 1] })
                    let pt = try XCTUnwrap(curve["prob_true"]?.doubles), pp = try XCTUnwrap(curve["prob_pred"]?.doubles)
                    XCTAssertEqual(got.probTrue.count, pt.count, "\(name) \(key) bins")
                    for (a, b) in zip(got.probTrue, pt) { XCTAssertEqual(a, b, accuracy: 1e-12) }
                    for (a, b) in zip(got.probPred, pp) { XCTAssertEqual(a, b, accuracy: 1e-12) }
                }
            }
        }
    }
}
