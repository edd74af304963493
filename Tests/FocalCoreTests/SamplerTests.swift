// SamplerTests: class-rebalanced epochs — per-epoch class counts equal imbalanced-learn's
// (RandomUnderSampler / RandomOverSampler defaults, committed as numbers by
// scripts/pytorch_reference.py), the lists are functions of (seed, epoch, position), and sampled
// training gives the same bits on any number of in-process ranks.
import XCTest
import Collectives
import FocalCore
import FocalData
import FocalFormats

final class SamplerTests: XCTestCase {
    static func labels(_ counts: [Int]) -> [Int32] {
        counts.enumerated().flatMap { k, c in [Int32](repeating: Int32(k), count: c) }
    }

    func histogram(_ rows: [Int32], labels: [Int32], classes: Int) -> [Int] {
        var h = [Int](repeating: 0, count: classes)
        for r in rows { h[Int(labels[Int(r)])] += 1 }
        return h
    }

    func testClassCountsEqualImbalancedLearn() throws {
        let doc = try Fixtures.json("sampler_counts.json")
        for c in doc["cases"] as! [[String: Any]] {
            let counts = c["counts"] as! [Int]
            // Shuffle the labels so classes are not in blocks.
            var y = Self.labels(counts)
            var g = SplitMix64(state: 7)
            for i in stride(from: y.count - 1, to: 0, by: -1) { y.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            for kind in [SamplerKind.undersample, .oversample] {
                let s = EpochSampler(kind: kind, seed: 42, batchSize: 16, labels: y, classes: counts.count)
                let expected = c[kind.rawValue] as! [Int]
                XCTAssertEqual(s.classCounts(classes: counts.count), expected, "\(kind) \(counts)")
                for epoch in 0..<3 {
                    let rows = s.rows(epoch: epoch)
                    XCTAssertEqual(histogram(rows, labels: y, classes: counts.count), expected, "\(kind) \(counts) epoch \(epoch)")
                    if kind == .undersample { XCTAssertEqual(Set(rows).count, rows.count, "without replacement") }
                    if kind == .oversample { XCTAssertEqual(Set(rows), Set((0..<y.count).map { Int32($0) }), "every original row") }
                }
            }
        }
    }

    func testBalancedBatchesAreAsEqualAsTheirSizeAllows() {
        let y = Self.labels([700, 90, 10])
        for batch in [7, 64, 100, 800] {
            let s = EpochSampler(kind: .balanced, seed: 3, batchSize: batch, labels: y, classes: 3)
            XCTAssertEqual(s.epochRows, 800)
            let rows = s.rows(epoch: 1)
            XCTAssertEqual(rows.count, 800)
            var start = 0
            while start < rows.count {
                let h = histogram(Array(rows[start..<min(rows.count, start + batch)]), labels: y, classes: 3)
                XCTAssertLessThanOrEqual(h.max()! - h.min()!, 1, "batch \(batch) at \(start): \(h)")
                start += batch
            }
            XCTAssertEqual(histogram(rows, labels: y, classes: 3), s.classCounts(classes: 3))
        }
    }

    func testListsAreFunctionsOfSeedAndEpoch() {
        let y = Self.labels([50, 20, 5])
        for kind in [SamplerKind.undersample, .oversample, .balanced] {
            let a = EpochSampler(kind: kind, seed: 9, batchSize: 10, labels: y, classes: 3)
            let b = EpochSampler(kind: kind, seed: 9, batchSize: 10, labels: y, classes: 3)
            XCTAssertEqual(a.rows(epoch: 4), b.rows(epoch: 4))
            XCTAssertNotEqual(a.rows(epoch: 4), a.rows(epoch: 5), "\(kind): a new list each epoch")
            let c = EpochSampler(kind: kind, seed: 10, batchSize: 10, labels: y, classes: 3)
            XCTAssertNotEqual(a.rows(epoch: 4), c.rows(epoch: 4), "\(kind): keyed by the seed")
        }
    }

    /// Sampled training on 1, 2, 3, 5 and 7 in-process ranks: the same parameters, bit for bit.
    func testSampledTrainingIsIdenticalOnAnyNumberOfRanks() throws {
        let base = "parity/four_class_f64/"
        for kind in [SamplerKind.undersample, .oversample, .balanced] {
            var config = TrainConfig()
            config.hidden = [8]
            config.epochs = 3
            config.batchSize = 50
            config.chunkSize = 16
            config.sampler = kind
            config.lrSchedule.kind = .cosine
            config.clipGradNorm = 1
            let fixed = config
            var unsampledConfig = config
            unsampledConfig.sampler = .none
            let unsampled = unsampledConfig
            func run(_ ranks: Int, sampled: Bool = true) throws -> [Float] {
                try inProcess(ranks) { comm -> [Float] in
                    let source = try NpyDataSource(trainX: Fixtures.path(base + "X_train.npy"), trainY: Fixtures.path(base + "y_train.npy"),
                                                   testX: nil, testY: nil, classes: nil)
                    let data: LocalData<Float> = try loadLocalData(source: source, comm: comm, batchSize: fixed.batchSize,
                                                                   chunkSize: fixed.chunkSize)
                    let labels = try globalTrainLabels(data, comm: comm)
                    let trainer = Trainer<Float>(config: sampled ? fixed : unsampled, comm: comm, data: data, alpha: [1, 1, 1, 1],
                                                 labels: labels)
                    // 450 training rows of counts 225/113/67/45: 180, 900 or 450 rows per epoch in batches of 50.
                    let expectedSteps = !sampled ? 9 : (kind == .undersample ? 4 : kind == .oversample ? 18 : 9)
                    XCTAssertEqual(trainer.stepsPerEpoch, expectedSteps)
                    try trainer.train(onEpoch: { _ in })
                    return trainer.params
                }[0]
            }
            let one = try run(1)
            XCTAssertNotEqual(one, try run(1, sampled: false), "\(kind) changes the result")
            for ranks in [2, 3, 5, 7] { XCTAssertEqual(try run(ranks), one, "\(kind) on \(ranks) ranks") }
        }
    }
}
