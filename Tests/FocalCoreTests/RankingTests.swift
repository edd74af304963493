// RankingTests: ROC-AUC and average precision against scikit-learn on a committed fixture with tied
// scores; the distributed helper and the predictor give the same bits for any number of ranks and
// reproduce the trainer's evaluation.
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData

// MARK: - Fixture

/// One case of Fixtures/ranking/cases.json (made by scripts/make_ranking_fixture.py).
struct RankingCase {
    var name: String
    var classes: Int
    /// `[rows, classes]` row-major softmax probabilities.
    var probabilities: [Double]
    /// `[rows]`.
    var labels: [Int32]
    /// `[classes]` sklearn's roc_auc_score / average_precision_score, one-vs-rest.
    var rocAUC: [Double]
    var averagePrecision: [Double]

    static func load() throws -> [RankingCase] {
        let root = try Fixtures.json("ranking/cases.json")
        let cases = root["cases"] as! [[String: Any]]
        return cases.map { c in
            RankingCase(name: c["name"] as! String, classes: c["classes"] as! Int,
                        probabilities: (c["probabilities_bits"] as! [String]).map { Double(bitPattern: UInt64($0, radix: 16)!) },
                        labels: (c["labels"] as! [NSNumber]).map { Int32($0.intValue) },
                        rocAUC: (c["roc_auc"] as! [NSNumber]).map(\.doubleValue),
                        averagePrecision: (c["average_precision"] as! [NSNumber]).map(\.doubleValue))
        }
    }
}

/// Largest absolute difference; asserts it is within `tolerance` and prints it.
@discardableResult
func assertAbsClose(_ a: [Double], _ b: [Double], absolute tolerance: Double, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) -> Double {
    XCTAssertEqual(a.count, b.count, "\(what): lengths differ", file: file, line: line)
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let d = abs(x - y)
        if !(d <= worst) { worst = d.isNaN ? .infinity : d }
    }
    print("\(what): max absolute difference \(worst) (tolerance \(tolerance))")
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max absolute difference \(worst) > \(tolerance)", file: file, line: line)
    return worst
}

final class RankingTests: XCTestCase {
    /// Agreement with scikit-learn 1.9 within 1e-12 (absolute), ties included.
    func testAgreesWithSklearnFixture() throws {
        let cases = try RankingCase.load()
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let r = rankingMetrics(scores: c.probabilities, labels: c.labels, classes: c.classes)
            assertAbsClose(r.rocAUC, c.rocAUC, absolute: 1e-12, "\(c.name) ROC-AUC")
            assertAbsClose(r.averagePrecision, c.averagePrecision, absolute: 1e-12, "\(c.name) average precision")
        }
    }

    /// Small hand-checked cases: ties form one threshold; perfect and reversed rankings.
    func testHandComputedCases() {
        // Scores 0.9(+) 0.5(+) 0.5(-) 0.1(-): thresholds {0.9: 1/0, 0.5: 2/1, 0.1: 2/2}.
        // ROC: trapezoids (0-0)(1+0) + (1-0)(2+1) + (2-1)(2+2) = 7 over 2*P*N = 8.
        // AP: (1/2)(1/1) + (1/2)(2/3) = 5/6.
        let s = [0.9, 0.5, 0.5, 0.1], y = [true, true, false, false]
        XCTAssertEqual(rocAUC(scores: s, positive: y), 7.0 / 8.0)
        XCTAssertEqual(averagePrecision(scores: s, positive: y), 5.0 / 6.0, accuracy: 1e-15)
        XCTAssertEqual(rocAUC(scores: [0.9, 0.8, 0.2], positive: [true, true, false]), 1)
        XCTAssertEqual(rocAUC(scores: [0.1, 0.8, 0.9], positive: [true, false, false]), 0)
        // All scores tied: ROC-AUC 1/2, AP = prevalence.
        XCTAssertEqual(rocAUC(scores: [0.5, 0.5, 0.5, 0.5], positive: [true, false, false, false]), 0.5)
        XCTAssertEqual(averagePrecision(scores: [0.5, 0.5, 0.5, 0.5], positive: [true, false, false, false]), 0.25)
        // Undefined without positives (or negatives for ROC): NaN.
        XCTAssertTrue(rocAUC(scores: [0.1, 0.2], positive: [false, false]).isNaN)
        XCTAssertTrue(rocAUC(scores: [0.1, 0.2], positive: [true, true]).isNaN)
        XCTAssertTrue(averagePrecision(scores: [0.1, 0.2], positive: [false, false]).isNaN)
        XCTAssertEqual(averagePrecision(scores: [0.1, 0.2], positive: [true, true]), 1)
    }

    /// The gathered metrics are bitwise identical on every rank and for 1...6 ranks, whatever the
    /// (uneven, possibly empty) split of the rows.
    func testDistributedSameBitsForAnyRankCount() throws {
        let c = try RankingCase.load()[1]
        let rows = c.labels.count, k = c.classes
        @Sendable func bits(_ r: RankingReport) -> [UInt64] { (r.rocAUC + r.averagePrecision).map(\.bitPattern) }
        let reference = bits(rankingMetrics(scores: c.probabilities, labels: c.labels, classes: k))
        for ranks in 1...6 {
            let probs = c.probabilities, labels = c.labels
            let results = try inProcess(ranks) { comm -> [UInt64] in
                // Uneven contiguous pieces (cut at r^2/n^2 of the rows); rank 0 holds nothing from 3 ranks on.
                func cut(_ r: Int) -> Int { comm.size >= 3 && r == 1 ? 0 : (r * r * rows) / (comm.size * comm.size) }
                let lo = cut(comm.rank), hi = cut(comm.rank + 1)
                let report = try rankingReport(comm: comm, probabilities: Array(probs[(lo * k)..<(hi * k)]),
                                               labels: Array(labels[lo..<hi]), classes: k)
                XCTAssertEqual(report.rows, rows)
                return bits(report)
            }
            for (r, b) in results.enumerated() { XCTAssertEqual(b, reference, "\(ranks) ranks, rank \(r)") }
        }
    }
}

// MARK: - Predictor

final class PredictorTests: XCTestCase {
    /// Probabilities computed chunk by chunk on 1...5 ranks from the trained parameters: the
    /// predicted classes give exactly `Trainer.evaluate()`'s confusion matrix, probabilities and
    /// ranking metrics have the same bits for every rank count, and each row sums to 1.
    func testPredictionsReproduceEvaluationForAnyRankCount() throws {
        let config: TrainConfig = {
            var c = TrainConfig()
            c.epochs = 5
            c.chunkSize = 32
            return c
        }()
        let spec = DatasetSpec()
        func run(ranks: Int) throws -> (confusion: [[Int64]], probBits: [UInt64], rankBits: [UInt64], evaluated: [[Int64]]) {
            try inProcess(ranks) { comm in
                pinBLASToOneThread()
                let source = try SklearnDataSource(spec)
                let data: LocalData<Float> = try loadLocalData(source: source, comm: comm, batchSize: nil, chunkSize: config.chunkSize)
                let alpha = try classWeights(scheme: .inverse, counts: data.trainCounts)
                let trainer = Trainer<Float>(config: config, comm: comm, data: data, alpha: alpha)
                try trainer.train(onEpoch: { _ in })
                let report = try trainer.evaluate()
                let p = probabilities(shape: trainer.shape, params: trainer.params, x: data.testX, chunkSize: config.chunkSize)
                XCTAssertEqual(p.rows, data.testY.count)
                for r in 0..<p.rows {
                    let s = (0..<data.classes).reduce(0.0) { $0 + Double(p.probabilities[r * data.classes + $1]) }
                    XCTAssertEqual(s, 1, accuracy: 1e-6)
                }
                var confusion = [Int64](repeating: 0, count: data.classes * data.classes)
                for (y, c) in zip(data.testY, p.predicted) { confusion[Int(y) * data.classes + Int(c)] += 1 }
                try comm.allreduce(&confusion, op: .sum)
                let all = try comm.allgatherv(p.probabilities.map { Int64(bitPattern: Double($0).bitPattern) }).flatMap { $0 }.map { UInt64(bitPattern: $0) }
                let ranking = try rankingReport(comm: comm, probabilities: p.probabilities, labels: data.testY, classes: data.classes)
                let k = data.classes
                return ((0..<k).map { Array(confusion[($0 * k)..<(($0 + 1) * k)]) }, all,
                        (ranking.rocAUC + ranking.averagePrecision).map(\.bitPattern), report.confusion)
            }[0]
        }
        let one = try run(ranks: 1)
        XCTAssertEqual(one.confusion, one.evaluated, "predict vs evaluate, 1 rank")
        XCTAssertEqual(one.probBits.count, 200 * 2)
        for n in 2...5 {
            let many = try run(ranks: n)
            XCTAssertEqual(many.confusion, many.evaluated, "predict vs evaluate, \(n) ranks")
            XCTAssertEqual(many.confusion, one.confusion, "\(n) ranks")
            XCTAssertEqual(many.probBits, one.probBits, "probability bits, \(n) ranks")
            XCTAssertEqual(many.rankBits, one.rankBits, "ranking bits, \(n) ranks")
        }
    }
}
