// InvarianceTests: the chunk plan, the exact reduction, and whole training runs give the same bits
// for any number of (in-process) ranks. The mpirun side is in EndToEndTests.
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

final class ChunkPlanTests: XCTestCase {
    func testEveryRowOwnedOnceWholeChunksIndependentOfRanks() {
        for (rows, batch, chunk) in [(800, 800, 256), (800, 96, 32), (13, 5, 2), (1, 1, 7), (1000, 333, 50)] {
            let reference = ChunkPlan(rows: rows, batchSize: batch, chunkSize: chunk, ranks: 1)
            for ranks in 1...9 {
                let plan = ChunkPlan(rows: rows, batchSize: batch, chunkSize: chunk, ranks: ranks)
                var seen = [Int](repeating: 0, count: rows)
                for b in 0..<plan.batchCount {
                    var chunksOfBatch: [Chunk] = []
                    var sizes: [Int] = []
                    for r in 0..<ranks {
                        let c = plan.chunks(batch: b, rank: r)
                        chunksOfBatch += c
                        sizes.append(c.count)
                    }
                    // The chunks of a batch are the single-rank chunks, in order, whatever the ranks.
                    XCTAssertEqual(chunksOfBatch, reference.chunks(batch: b, rank: 0))
                    XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "balanced within one chunk")
                }
                for r in 0..<ranks { for range in plan.ownedRanges(rank: r) { for i in range { seen[i] += 1 } } }
                XCTAssertEqual(seen, [Int](repeating: 1, count: rows), "rows=\(rows) batch=\(batch) chunk=\(chunk) ranks=\(ranks)")
            }
        }
    }
}

final class ExactReducerTests: XCTestCase {
    /// Chunk partials with a wide dynamic range and cancellation, spread over 1...8 ranks in
    /// contiguous runs: every rank gets the same bits as the one-process reference, always.
    func testSameBitsForAnyRankCount() throws {
        let chunks = 11, width = 40
        var partials: [[Double]] = []
        var state: UInt64 = 12345
        func rnd() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) * 0x1.0p-53
        }
        for c in 0..<chunks {
            partials.append((0..<width).map { i in
                let scale = pow(2.0, Double((i * 7 + c) % 60) - 30)
                return (rnd() - 0.5) * scale * (i % 5 == 0 ? 1e8 : 1) + (i == 3 ? (c % 2 == 0 ? 1e10 : -1e10) : 0)
            })
        }
        partials[4][7] = 0
        let fixed = partials
        let reference = ExactReducer.referenceSum(partials)
        // A plain Double sum, for comparison: the exact result is within float64 rounding of it.
        let naive = (0..<width).map { i in partials.reduce(0.0) { $0 + $1[i] } }
        for i in 0..<width where i != 3 { XCTAssertEqual(reference[i], naive[i], accuracy: 1e-12 * max(abs(naive[i]), 1e-300) + 1e-290) }
        for ranks in 1...8 {
            let results = try inProcess(ranks) { comm -> [Double] in
                let reducer = ExactReducer(width: width, localCapacity: chunks)
                let mine = (comm.rank * chunks / comm.size)..<((comm.rank + 1) * chunks / comm.size)
                for c in mine {
                    fixed[c].withUnsafeBufferPointer { reducer.add(main: $0.baseAddress!, mainCount: width, extra: []) }
                }
                var out = [Double](repeating: 0, count: width)
                let status = try reducer.reduce(comm, chunksInStep: chunks, result: &out)
                XCTAssertNil(status.nonFiniteRank)
                return out
            }
            for r in results { XCTAssertEqual(r.map(\.bitPattern), reference.map(\.bitPattern), "ranks \(ranks)") }
        }
    }

    /// A NaN on one rank is reported to every rank, naming the lowest rank that saw one.
    func testNonFiniteReportedEverywhere() throws {
        let results = try inProcess(4) { comm -> ReduceStatus in
            let reducer = ExactReducer(width: 2, localCapacity: 1)
            let v: [Double] = comm.rank == 2 ? [1, .nan] : (comm.rank == 3 ? [.infinity, 1] : [1, 2])
            v.withUnsafeBufferPointer { reducer.add(main: $0.baseAddress!, mainCount: 2, extra: []) }
            var out = [0.0, 0.0]
            return try reducer.reduce(comm, chunksInStep: 4, result: &out)
        }
        for s in results { XCTAssertEqual(s.nonFiniteRank, 2) }
    }
}

/// One training run as the command does it, on `ranks` in-process ranks; rank 0's outcome.
struct RunOutcome: Equatable {
    var losses: [Double]
    var params: [UInt64]
    var report: EvaluationReport?
}

func trainInProcess(_ spec: DatasetSpec, _ config: TrainConfig, ranks: Int, precision: Precision = .float32,
                    scheme: ClassWeightScheme = .inverse) throws -> RunOutcome {
    func run<T: TrainScalar>(_: T.Type) throws -> RunOutcome {
        try inProcess(ranks) { comm -> RunOutcome in
            pinBLASToOneThread()
            let source: DataSource = spec.generator == .sklearn ? try SklearnDataSource(spec) : try CounterDataSource(spec)
            let data: LocalData<T> = try loadLocalData(source: source, comm: comm, batchSize: config.batchSize, chunkSize: config.chunkSize)
            let alpha = try classWeights(scheme: scheme, counts: data.trainCounts)
            let trainer = Trainer<T>(config: config, comm: comm, data: data, alpha: alpha)
            var losses: [Double] = []
            try trainer.train(onEpoch: { losses.append($0.loss) })
            let report = data.globalTestRows > 0 ? EvaluationReport(try trainer.evaluate()) : nil
            return RunOutcome(losses: losses, params: trainer.params.map { UInt64(Double($0).bitPattern) }, report: report)
        }[0]
    }
    return precision == .float32 ? try run(Float.self) : try run(Double.self)
}

final class WorldSizeInvarianceTests: XCTestCase {
    func assertInvariant(_ spec: DatasetSpec, _ config: TrainConfig, ranks: [Int] = [2, 3, 4, 7],
                         precision: Precision = .float32, file: StaticString = #filePath, line: UInt = #line) throws {
        let one = try trainInProcess(spec, config, ranks: 1, precision: precision)
        XCTAssertFalse(one.losses.isEmpty, file: file, line: line)
        XCTAssertTrue(one.losses.allSatisfy { $0.isFinite }, file: file, line: line)
        for n in ranks {
            let many = try trainInProcess(spec, config, ranks: n, precision: precision)
            XCTAssertEqual(many.losses.map(\.bitPattern), one.losses.map(\.bitPattern), "losses, \(n) ranks", file: file, line: line)
            XCTAssertEqual(many.params, one.params, "parameters, \(n) ranks", file: file, line: line)
            XCTAssertEqual(many.report, one.report, "evaluation, \(n) ranks", file: file, line: line)
        }
    }

    func testTutorialRecipe() throws {
        var c = TrainConfig()
        c.epochs = 15
        c.logEvery = 1
        try assertInvariant(DatasetSpec(), c)
    }

    /// `--wide-reduce`: 0.2.0's exact reduction in a float32 run, and a float32 run whose batches
    /// exceed the compact reduction's 64 chunks (it then takes the wide one by itself).
    func testWideReductionAndManyChunksPerStep() throws {
        var c = TrainConfig()
        c.epochs = 6
        c.logEvery = 1
        c.wideReduce = true
        try assertInvariant(DatasetSpec(), c, ranks: [2, 5])
        c.wideReduce = false
        c.chunkSize = 8      // 800 rows in one batch: 100 chunks per step
        try assertInvariant(DatasetSpec(), c, ranks: [3])
    }

    func testFourClassesTwoHiddenLayersReplicatedFloat64() throws {
        var s = DatasetSpec()
        s.classification.samples = 600
        s.classification.features = 12
        s.classification.informative = 6
        s.classification.redundant = 2
        s.classification.classes = 4
        s.classification.weights = [0.5, 0.25, 0.15, 0.1]
        var c = TrainConfig()
        c.hidden = [16, 8]
        c.reduction = .weightedMean
        c.epochs = 8
        c.logEvery = 1
        c.chunkSize = 64
        c.optimizerOn = .replicated
        try assertInvariant(s, c, precision: .float64)
    }

    func testMiniBatchesUnevenLastBatchShuffled() throws {
        var c = TrainConfig()
        c.batchSize = 96       // 800 rows: 8 batches of 96 and one of 32
        c.chunkSize = 20       // batches of 5 chunks (4 x 20 + 16), the last of 2 (20 + 12)
        c.shuffleBatches = true
        c.gamma = 0.5
        c.epochs = 3
        c.logEvery = 1
        try assertInvariant(DatasetSpec(), c, ranks: [2, 3, 5, 8])
    }

    func testMoreRanksThanTestRowsCounterGenerator() throws {
        var s = DatasetSpec()
        s.generator = .counter
        s.classification.samples = 40   // 8 test rows
        var c = TrainConfig()
        c.chunkSize = 4                 // 2 test chunks: most ranks hold no test rows
        c.epochs = 4
        c.logEvery = 1
        try assertInvariant(s, c, ranks: [3, 7, 9])
    }

    /// The root-plus-broadcast optimizer and the replicated one give the same parameters.
    func testOptimizerPlacementsAgree() throws {
        var c = TrainConfig()
        c.epochs = 5
        c.logEvery = 1
        let root = try trainInProcess(DatasetSpec(), c, ranks: 3)
        c.optimizerOn = .replicated
        let replicated = try trainInProcess(DatasetSpec(), c, ranks: 3)
        XCTAssertEqual(root, replicated)
    }

    /// The tutorial's default run learns the minority class (a sanity check of the whole recipe).
    func testTutorialLearnsTheMinorityClass() throws {
        let out = try trainInProcess(DatasetSpec(), TrainConfig(), ranks: 2)
        XCTAssertLessThan(out.losses.last!, out.losses.first! * 0.5)
        let recall1 = try XCTUnwrap(out.report).perClass[1].recall
        print("tutorial recipe: minority-class recall \(recall1), loss \(out.losses.first!) -> \(out.losses.last!)")
        XCTAssertGreaterThan(recall1, 0.7)
    }
}
