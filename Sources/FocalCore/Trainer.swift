// Trainer: the data-parallel training loop over a `Communicator`: per-chunk forward, focal loss and
// backward, one exact reduction per step, Adam on rank 0 (or everywhere) and a parameter broadcast,
// held-out evaluation from a global confusion matrix.
import Collectives
import FocalData
import FocalFormats

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Configuration

/// Where Adam runs (`--optimizer-on`).
public enum OptimizerPlacement: String, Codable, Sendable, CaseIterable {
    /// Rank 0 steps, then broadcasts the parameters (the mission's design).
    case root
    /// Every rank steps on the identical reduced gradient; no broadcast.
    case replicated
}

/// What a non-finite loss or gradient does (`--on-nan`).
public enum NaNPolicy: String, Codable, Sendable, CaseIterable {
    /// Stop every rank with an error naming the step and the rank.
    case stop
    /// Skip the update on every rank and go on.
    case skip
}

public struct TrainConfig: Codable, Sendable, Equatable {
    public var hidden: [Int] = [64]
    public var gamma: Double = 2
    public var reduction: LossReduction = .mean
    public var adam = AdamConfig()
    public var optimizerOn: OptimizerPlacement = .root
    public var epochs: Int = 100
    /// Global batch size in rows; nil means the whole training set (full batch).
    public var batchSize: Int?
    /// Rows per chunk: the unit of computation whose results never depend on the number of ranks.
    public var chunkSize: Int = 256
    /// Visit the batches in a new order each epoch (keyed by `shuffleSeed` and the epoch).
    public var shuffleBatches: Bool = false
    public var shuffleSeed: UInt64 = 42
    /// Log (and record) the loss every this many epochs (and at the last epoch).
    public var logEvery: Int = 10
    /// Evaluate on the held-out split every this many epochs (0: only at the end).
    public var evalEvery: Int = 0
    public var initSeed: UInt64 = 0
    public var onNaN: NaNPolicy = .stop
    /// Seconds a step's collectives may take before the job is declared stalled (nil: forever).
    public var stallTimeout: Double?
    /// Plain float64 allreduce instead of the exact one (`--fast-reduce`): results then depend on
    /// the number of ranks, within float64 rounding of the gradient sums.
    public var fastReduce: Bool = false
    /// `--wide-reduce`: the exact reduction of 0.2.0 in float32 runs too (`ExactReducer`: Int32
    /// exponents, 64-bit sums, 12 bytes per value) instead of the compact one
    /// (`CompactExactReducer`: 1-byte exponents, 32-bit sums, 5 bytes per value). Float64 runs always use it.
    public var wideReduce: Bool = false
    /// The learning-rate schedule (`LRSchedule.swift`); the default is a constant `adam.lr`.
    public var lrSchedule = LRScheduleConfig()
    /// `--clip-grad-norm`: the largest global L2 norm of a step's gradient (nil: no clipping).
    public var clipGradNorm: Double?
    /// `--loss`: softmax focal (the tutorial's) or torchvision's sigmoid focal loss.
    public var loss: LossKind = .softmaxFocal
    /// `--sigmoid-alpha` of the sigmoid focal loss (negative: no weighting).
    public var sigmoidAlpha: Double = 0.25
    /// `--sampler`: class-rebalanced epochs (`Sampler.swift`).
    public var sampler: SamplerKind = .none
    public init() {}
}

/// Fixed points of a step where a test can intervene (fault injection, `--debug-fault`). The
/// trainer only calls them; production runs install none, and the step carries no fault branches.
public struct StepHooks<T: TrainScalar> {
    /// At the start of global step `step`, on this rank, before any work. Returns a local error
    /// code to report to every rank through the step's own collective (0: none).
    public var stepStart: ((_ step: Int) -> Int32)?
    /// After each chunk's backward pass, with that chunk's gradient `[parameterCount]`.
    public var afterBackward: ((_ step: Int, _ chunkGradient: UnsafeMutableBufferPointer<T>) -> Void)?
    public init(stepStart: ((Int) -> Int32)? = nil,
                afterBackward: ((Int, UnsafeMutableBufferPointer<T>) -> Void)? = nil) {
        self.stepStart = stepStart
        self.afterBackward = afterBackward
    }
}

/// Where training stands between two steps; enough to resume with identical results.
public struct TrainingPosition: Codable, Sendable, Equatable {
    /// The epoch in progress (or about to start).
    public var epoch: Int = 0
    /// Batches of `epoch` already done.
    public var batchesDone: Int = 0
    /// Steps done since the start of training.
    public var globalStep: Int = 0
    /// The epoch's running sums (for its logged loss): loss, alpha weight, rows, skipped steps.
    public var lossSum: Double = 0
    public var weightSum: Double = 0
    public var rows: Int = 0
    public var skipped: Int = 0
    /// The epoch's gradient norms so far (before clipping): the last step's and the largest.
    /// Not stored in checkpoints: after a resume they cover the steps since the resume.
    public var gradNorm: Double?
    public var gradNormMax: Double?
    public init() {}
}

/// Thrown by `train` when every rank agreed to stop (a signal) after the step at `position`.
public struct TrainingStopped: Error, Sendable {
    public var position: TrainingPosition
}

// MARK: - Data as a rank holds it

/// One rank's rows of both split parts, in the training precision, with the plans that place them.
public struct LocalData<T: TrainScalar> {
    public var features: Int
    public var classes: Int
    /// `[trainRows, features]` row-major: this rank's training rows, batch after batch.
    public var trainX: [T]
    /// `[trainRows]`.
    public var trainY: [Int32]
    /// `[testRows, features]` row-major.
    public var testX: [T]
    /// `[testRows]`.
    public var testY: [Int32]
    public var trainPlan: ChunkPlan
    public var testPlan: ChunkPlan
    /// Global per-class counts of the training and test sets (exact integer allreduce).
    public var trainCounts: [Int64]
    public var testCounts: [Int64]

    public var globalTrainRows: Int { trainPlan.rows }
    public var globalTestRows: Int { testPlan.rows }
}

/// Loads this rank's rows from `source` following the chunk rule, and agrees on class counts.
/// Every rank must call it; a failure on any rank becomes the same `AgreedError` everywhere.
/// Rows arrive as float64 and are converted block by block (`blockRows` at a time) into the
/// training precision (after `standardization`, when given), so the float64 copy never exceeds one block — except for sequential
/// sources (the sklearn generator replays its whole stream per call), fetched in one call.
/// `stopRequested` is polled between blocks; once true on a rank, every rank throws the agreed
/// `LoadStopped` (exit 6).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func loadLocalData<T: TrainScalar>(source: DataSource, comm: Communicator, batchSize: Int?,
                                          chunkSize: Int, blockRows: Int = 16_384, standardization: Standardization? = nil,
                                          stopRequested: StopPoll? = nil,
                                          as: T.Type = T.self) throws -> LocalData<T> {
    let nTrain = source.trainCount, nTest = source.testCount
    let trainPlan = ChunkPlan(rows: nTrain, batchSize: max(1, batchSize ?? nTrain), chunkSize: chunkSize, ranks: comm.size)
    let testPlan = ChunkPlan(rows: nTest, batchSize: max(1, nTest), chunkSize: chunkSize, ranks: comm.size)
    let F = source.features
    var trainX: [T] = [], testX: [T] = [], trainY: [Int32] = [], testY: [Int32] = []
    try comm.agree {
        let trainRanges = trainPlan.ownedRanges(rank: comm.rank), testRanges = testPlan.ownedRanges(rank: comm.rank)
        trainX.reserveCapacity(trainRanges.reduce(0) { $0 + $1.count } * F)
        testX.reserveCapacity(testRanges.reduce(0) { $0 + $1.count } * F)
        // `rows` hold the rows at `ranges` of `part`; a value the training precision cannot hold
        // (1e300 in float32) is refused naming its file and row (`checkRepresentable`).
        func append(_ rows: Rows, _ part: SplitPart, _ ranges: [Range<Int>], _ x: inout [T], _ y: inout [Int32]) throws {
            let start = x.count
            var rows = rows
            // `--standardize`: StandardScaler's transform in float64, before the cast.
            standardization?.apply(to: &rows.x)
            rows.x.withUnsafeBufferPointer { b in for v in b { x.append(T(v)) } }
            y += rows.y
            try checkRepresentable(x[start...], source: rows.x, features: F, part: part, ranges: ranges, in: source)
        }
        if source.isSequential {
            let both = try source.rows(train: trainRanges, test: testRanges)
            try append(both.train, .train, trainRanges, &trainX, &trainY)
            try append(both.test, .test, testRanges, &testX, &testY)
            return
        }
        for (part, ranges) in [(SplitPart.train, trainRanges), (SplitPart.test, testRanges)] {
            for block in blocks(of: ranges, rows: max(1, blockRows)) {
                try stopRequested.check()
                let rows = try source.rows(part, ranges: block)
                if part == .train { try append(rows, part, block, &trainX, &trainY) } else { try append(rows, part, block, &testX, &testY) }
            }
        }
    }
    var k = source.classes
    if k == 0 {
        // Infer the number of classes: the largest label + 1 over all ranks of both parts.
        let local = Int32(max(trainY.max() ?? 0, testY.max() ?? 0))
        k = Int(try comm.allreduce(local, op: .max)) + 1
        try comm.agree { if k < 2 { throw DataError("labels hold a single class (0); pass --classes K for K >= 2") } }
    }
    var counts = [Int64](repeating: 0, count: 2 * k)
    for y in trainY { counts[Int(y)] += 1 }
    for y in testY { counts[k + Int(y)] += 1 }
    try comm.allreduce(&counts, op: .sum)
    return LocalData(features: F, classes: k, trainX: trainX, trainY: trainY, testX: testX, testY: testY,
                     trainPlan: trainPlan, testPlan: testPlan,
                     trainCounts: Array(counts[0..<k]), testCounts: Array(counts[k...]))
}

/// Cuts sorted row ranges into groups of at most `rows` rows (splitting ranges where needed).
func blocks(of ranges: [Range<Int>], rows: Int) -> [[Range<Int>]] {
    var out: [[Range<Int>]] = []
    var current: [Range<Int>] = []
    var filled = 0
    for r in ranges {
        var start = r.lowerBound
        while start < r.upperBound {
            let take = min(r.upperBound - start, rows - filled)
            current.append(start..<(start + take))
            filled += take
            start += take
            if filled == rows { out.append(current); current = []; filled = 0 }
        }
    }
    if !current.isEmpty { out.append(current) }
    return out
}

// MARK: - Outcome

public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    /// The reduction applied to all per-row losses of the epoch's steps.
    public var loss: Double
    public var lr: Double
    /// Seconds since training started.
    public var elapsed: Double
    /// Training rows processed per second over the epoch (all ranks together).
    public var samplesPerSecond: Double
    /// Steps skipped because of a non-finite value (`--on-nan skip`).
    public var skippedSteps: Int
    /// The global L2 norm of the epoch's last (non-skipped) step's gradient before clipping, and
    /// the largest of the epoch (nil when every step was skipped).
    public var gradNorm: Double?
    public var gradNormMax: Double?

    public init(epoch: Int, loss: Double, lr: Double, elapsed: Double, samplesPerSecond: Double, skippedSteps: Int,
                gradNorm: Double? = nil, gradNormMax: Double? = nil) {
        self.gradNorm = gradNorm
        self.gradNormMax = gradNormMax
        self.epoch = epoch
        self.loss = loss
        self.lr = lr
        self.elapsed = elapsed
        self.samplesPerSecond = samplesPerSecond
        self.skippedSteps = skippedSteps
    }
}

/// A held-out evaluation as the trainer computes it: global counts and the loss, from which the
/// report layer derives every metric.
public struct HeldOutResult: Sendable, Equatable {
    /// `[classes][classes]`: rows are true classes, columns predicted classes (argmax of logits).
    public var confusion: [[Int64]]
    /// The loss on these rows under the run's reduction (nil with no rows or a non-finite value).
    public var loss: Double?
    public init(confusion: [[Int64]], loss: Double?) {
        self.confusion = confusion
        self.loss = loss
    }
}

/// Where a step's time went, summed over the run (this rank), in seconds.
public struct StepTimings: Sendable, Equatable {
    public var forward = 0.0, loss = 0.0, backward = 0.0, reduction = 0.0, optimizer = 0.0, broadcast = 0.0
    /// Fetching sampled rows from the ranks that hold them (`--sampler`).
    public var exchange = 0.0
    public var steps = 0
    public var total: Double { forward + loss + backward + reduction + optimizer + broadcast + exchange }
}

public struct TrainingError: Error, CustomStringConvertible, ClassifiedError, Sendable {
    public var message: String
    public var failureKind: FailureKind
    public var description: String { message }
    public init(message: String, failureKind: FailureKind) {
        self.message = message
        self.failureKind = failureKind
    }
}

// MARK: - Trainer

public final class Trainer<T: TrainScalar> {
    public let config: TrainConfig
    public let shape: MLPShape
    public let comm: Communicator
    public let data: LocalData<T>
    /// `[classes]` class weights alpha.
    public let alpha: [T]
    /// `[parameterCount]`: the parameters, identical on every rank between steps.
    public var params: [T]
    public let adam: Adam<T>
    public private(set) var timings = StepTimings()
    /// Test hooks called at fixed points of each step (none in production).
    public var hooks = StepHooks<T>()
    /// The rows the intermediate evaluations use instead of the test rows (the validation split).
    public var evaluationSet: LocalData<T>?
    /// Evaluate after the last epoch too when it is on the `evalEvery` schedule (early stopping).
    public var evaluateLastEpoch = false
    /// Set by `onEval` (on every rank alike) to end training after this epoch (early stopping).
    public var stopAfterThisEpoch = false

    private let workspace: MLPWorkspace<T>
    /// `[parameterCount]` one chunk's gradient (empty with the compact reducer, whose slots take it).
    private var chunkGrad: [T]
    /// `[chunkSize, classes]`.
    private var dLogits: [T]
    /// `[parameterCount]` the step's gradient after the reduction and division.
    private var grad: [T]
    /// The gradient of the last step (after reduction and division), `[parameterCount]`.
    public var lastGradient: [T] { grad }
    /// The learning rate of each step (identical on every rank: a function of the step index).
    private var schedule: LRSchedule
    /// The rate of the last step run (skipped or not).
    public private(set) var lastRate: Double
    /// The global gradient norm of the last step not skipped, before clipping.
    public private(set) var lastGradNorm: Double?
    /// The step's gradient reduction: `CompactExactReducer` (float32, exact, at most 64 chunks per
    /// step) or `ExactReducer` (float64, `--wide-reduce`, `--fast-reduce`, more chunks per step).
    private let reducer: ExactReducer?
    private let compact: CompactExactReducer?
    /// Bytes one step's gradient reduction passes to its allreduce(s) (a failing step adds one small
    /// collective that names the rank).
    public var reductionMessageBytes: Int { compact?.messageBytes ?? reducer!.messageBytes }
    /// `[parameterCount + 2]`: reduced gradient sums, loss sum, weight sum.
    private var sums: [Double]
    /// `[2]`: one chunk's loss sum and alpha sum (kept to avoid an allocation per step).
    private var extraSums = [0.0, 0.0]
    /// Per batch: this rank's chunks, and the local row offset of the batch's first owned row.
    private let myChunks: [[Chunk]]
    private let batchOffsets: [Int]
    /// Sampled epochs (`--sampler`): the sampler, the plan of a sampled epoch, the epoch whose row
    /// list is cached, the global labels `[trainRows]`, where this rank keeps its rows, and one
    /// batch of gathered rows (`[batchSize, features]`, `[batchSize]`).
    private let sampler: EpochSampler?
    /// The plan of one epoch's batches: the training set's, or a sampled epoch's.
    public let epochPlan: ChunkPlan
    private var sampledEpoch = -1
    private var sampledRows: [Int32] = []
    private let labels: [Int32]
    private let rowIndex: LocalRowIndex?
    private var batchX: [T] = []
    private var batchY: [Int32] = []
    private var exchange: [Int64] = []

    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int { epochPlan.batchCount }

    /// - labels: `[trainRows]` every training label (`globalTrainLabels`), needed with `config.sampler`.
    /// - evaluationRows: rows of another set `evaluate(on:)` will see (its chunks must fit the workspace).
    public init(config: TrainConfig, comm: Communicator, data: LocalData<T>, alpha: [Double], initial: [T]? = nil,
                labels: [Int32]? = nil, evaluationRows: Int = 0) {
        self.config = config
        self.comm = comm
        self.data = data
        shape = MLPShape(features: data.features, hidden: config.hidden, classes: data.classes)
        self.alpha = alpha.map { T($0) }
        params = initial ?? initialParameters(shape, seed: config.initSeed, as: T.self)
        precondition(params.count == shape.parameterCount, "Trainer: initial parameters of wrong size")
        adam = Adam<T>(count: shape.parameterCount, config: config.adam)
        if config.sampler != .none, let labels {
            let s = EpochSampler(kind: config.sampler, seed: config.shuffleSeed,
                                 batchSize: config.batchSize ?? data.trainPlan.rows, labels: labels, classes: data.classes)
            sampler = s
            epochPlan = ChunkPlan(rows: s.epochRows, batchSize: max(1, config.batchSize ?? s.epochRows),
                                  chunkSize: config.chunkSize, ranks: comm.size)
            self.labels = labels
            rowIndex = LocalRowIndex(plan: data.trainPlan, rank: comm.rank)
        } else {
            precondition(config.sampler == .none, "Trainer: --sampler needs the global labels")
            sampler = nil
            epochPlan = data.trainPlan
            self.labels = []
            rowIndex = nil
        }
        let chunkRows = min(config.chunkSize, max(1, max(data.trainPlan.rows, data.testPlan.rows, epochPlan.rows, evaluationRows)))
        workspace = MLPWorkspace<T>(shape: shape, capacity: max(1, chunkRows))
        dLogits = [T](repeating: 0, count: max(1, chunkRows) * data.classes)
        grad = [T](repeating: 0, count: shape.parameterCount)
        let plan = data.trainPlan
        myChunks = (0..<plan.batchCount).map { plan.chunks(batch: $0, rank: comm.rank) }
        batchOffsets = plan.localBatchOffsets(rank: comm.rank)
        let sampledPlan = epochPlan, rank = comm.rank
        let sampledCapacity = config.sampler == .none ? 1
            : ((0..<sampledPlan.batchCount).map { sampledPlan.ownedChunkIndices(batch: $0, rank: rank).count }.max() ?? 1)
        let capacity = max(myChunks.map(\.count).max() ?? 1, sampledCapacity)
        let stepPlan = epochPlan  // a local: the closure below must not capture self before init ends
        let maxChunks = (0..<stepPlan.batchCount).map { stepPlan.chunkCount(batch: $0) }.max() ?? 1
        if T.self == Float.self && !config.fastReduce && !config.wideReduce
            && maxChunks <= CompactExactReducer.maxChunks && comm.size <= CompactExactReducer.maxRanks {
            compact = CompactExactReducer(mainCount: shape.parameterCount, extraCount: 2, localCapacity: capacity)
            reducer = nil
            chunkGrad = []  // the backward pass writes into the compact reducer's slots
        } else {
            compact = nil
            chunkGrad = [T](repeating: 0, count: shape.parameterCount)
            reducer = ExactReducer(width: shape.parameterCount + 2, localCapacity: capacity, exact: !config.fastReduce)
        }
        sums = [Double](repeating: 0, count: shape.parameterCount + 2)
        schedule = LRSchedule(config.lrSchedule, lr: config.adam.lr, stepsPerEpoch: epochPlan.batchCount, epochs: config.epochs)
        lastRate = config.adam.lr
    }

    /// The order in which batches are visited in `epoch`.
    public func batchOrder(epoch: Int) -> [Int] {
        var order = Array(0..<epochPlan.batchCount)
        guard config.shuffleBatches, order.count > 1 else { return order }
        // Fisher-Yates with SplitMix64 keyed by (seed, epoch): independent of the ranks.
        var rng = SplitMix64(state: config.shuffleSeed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// True after a step in which some rank asked to stop (every rank sees the same value).
    public private(set) var stopAgreed = false

    /// Runs one global batch: returns the batch's (loss sum, weight sum, rows), or nil when the
    /// step was skipped for a non-finite value.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func step(batch b: Int, epoch: Int, stepIndex: Int, requestStop: Bool = false) throws -> (loss: Double, weight: Double, rows: Int)? {
        let P = shape.parameterCount, F = data.features
        reducer?.reset()
        compact?.begin(chunksInStep: epochPlan.chunkCount(batch: b))
        let localError = hooks.stepStart?(stepIndex) ?? 0
        let sampled = sampler != nil
        if sampled {
            let t = monotonicSeconds()
            try gatherSampledBatch(b, epoch: epoch)
            timings.exchange += monotonicSeconds() - t
        }
        let chunks = sampled ? epochPlan.chunks(batch: b, rank: comm.rank) : myChunks[b]
        let firstRow = chunks.first?.rows.lowerBound ?? 0
        let batchStart = epochPlan.batchRows(b).lowerBound
        params.withUnsafeBufferPointer { pb in
            // Once per step: every chunk's forward pass reads this step's parameters.
            let t = monotonicSeconds()
            workspace.load(params: pb.baseAddress!)
            timings.forward += monotonicSeconds() - t
            (sampled ? batchX : data.trainX).withUnsafeBufferPointer { xb in
                (sampled ? batchY : data.trainY).withUnsafeBufferPointer { yb in
                    alpha.withUnsafeBufferPointer { ab in
                        chunkGrad.withUnsafeMutableBufferPointer { gb in
                            dLogits.withUnsafeMutableBufferPointer { db in
                                for chunk in chunks {
                                    let local = sampled ? chunk.rows.lowerBound - batchStart
                                        : batchOffsets[b] + (chunk.rows.lowerBound - firstRow)
                                    let m = chunk.rows.count
                                    let x = xb.baseAddress! + local * F
                                    var t0 = monotonicSeconds()
                                    workspace.forward(x: x, rows: m)
                                    var t1 = monotonicSeconds(); timings.forward += t1 - t0; t0 = t1
                                    let s = lossSums(logits: workspace.logits, targets: yb.baseAddress! + local, rows: m,
                                                     alpha: ab.baseAddress!, dLogits: db.baseAddress!)
                                    t1 = monotonicSeconds(); timings.loss += t1 - t0; t0 = t1
                                    // The compact reducer keeps each chunk's gradient: the backward pass
                                    // writes straight into its slot (T is Float whenever it is used).
                                    let g = compact.map { UnsafeMutableRawPointer($0.nextSlot()).assumingMemoryBound(to: T.self) }
                                        ?? gb.baseAddress!
                                    workspace.backward(params: pb.baseAddress!, x: x, rows: m, dLogits: db.baseAddress!,
                                                       grad: g)
                                    t1 = monotonicSeconds(); timings.backward += t1 - t0
                                    hooks.afterBackward?(stepIndex, UnsafeMutableBufferPointer(start: g, count: P))
                                    extraSums[0] = s.loss
                                    extraSums[1] = s.weight
                                    if let compact {
                                        compact.add(extra: extraSums)
                                    } else {
                                        reducer?.add(main: UnsafePointer(g), mainCount: P, extra: extraSums)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var t0 = monotonicSeconds()
        let status: ReduceStatus
        do {
            if let compact {
                status = try compact.reduce(comm, result: &sums, errorCode: localError, requestStop: requestStop)
            } else {
                status = try reducer!.reduce(comm, chunksInStep: epochPlan.chunkCount(batch: b), result: &sums,
                                             errorCode: localError, requestStop: requestStop)
            }
        } catch let CommError.timedOut(operation, seconds) {
            throw CommError.timedOut(operation: "\(operation) at epoch \(epoch), step \(stepIndex)", seconds: seconds)
        }
        stopAgreed = status.stopRequested
        var t1 = monotonicSeconds(); timings.reduction += t1 - t0; t0 = t1
        timings.steps += 1
        lastRate = schedule.rate(step: stepIndex)
        if let r = status.nonFiniteRank {
            if config.onNaN == .skip { return nil }
            let on = r >= 0 ? "first seen on rank \(r)" : "on some rank"
            throw TrainingError(message: "non-finite loss or gradient at epoch \(epoch), step \(stepIndex) (\(on)); try a smaller --lr, or --on-nan skip",
                                failureKind: .numeric)
        }
        if let r = status.errorRank {
            let who = r >= 0 ? "rank \(r)" : "a rank"
            throw TrainingError(message: "\(who) reported a failure (code \(status.errorCode)) at epoch \(epoch), step \(stepIndex); every rank stopped", failureKind: .system)
        }
        let rows = epochPlan.batchRows(b).count
        let divisor = lossDivisor(divisorReduction, rows: rows, weightSum: sums[P + 1])
        // The norm of the identical reduced gradient: the same number, and decision, on every rank.
        let norm = sums.withUnsafeBufferPointer { sb in
            grad.withUnsafeMutableBufferPointer { meanGradientAndNorm(sums: sb.baseAddress!, divisor: divisor, into: $0) }
        }
        lastGradNorm = norm
        if let maxNorm = config.clipGradNorm {
            grad.withUnsafeMutableBufferPointer { _ = clipGradient($0, norm: norm, maxNorm: maxNorm) }
        }
        if config.optimizerOn == .replicated || comm.rank == 0 {
            let rate = lastRate
            params.withUnsafeMutableBufferPointer { p in
                grad.withUnsafeBufferPointer { g in adam.update(params: p.baseAddress!, grad: g.baseAddress!, lr: rate) }
            }
        }
        t1 = monotonicSeconds(); timings.optimizer += t1 - t0; t0 = t1
        if config.optimizerOn == .root && comm.size > 1 {
            try broadcastParameters(epoch: epoch, stepIndex: stepIndex)
            if comm.rank != 0 { adam.advanceStepCounter() }
        }
        timings.broadcast += monotonicSeconds() - t0
        return (sums[P], sums[P + 1], rows)
    }

    /// Rank 0's parameters to every rank (`--optimizer-on root`): a non-blocking broadcast polled
    /// against `--stall-timeout`, like the reduction, so a stopped rank cannot hang the others.
    private func broadcastParameters(epoch: Int, stepIndex: Int) throws {
        guard let limit = config.stallTimeout else { return try comm.broadcast(&params, root: 0) }
        try params.withUnsafeMutableBufferPointer { b in
            do {
                try comm.startBroadcast(b, root: 0).wait(timeout: limit)
            } catch CommError.timedOut {
                throw CommError.timedOut(operation: "the parameter broadcast at epoch \(epoch), step \(stepIndex)", seconds: limit)
            }
        }
    }

    /// Trains from `position` until `config.epochs` epochs are done. Calls `onEpoch` (every rank)
    /// for logged epochs, `onEval` for intermediate evaluations, and `afterStep` after every step
    /// with the position reached (for checkpoints). `stopRequested` is polled before each step;
    /// when any rank returns true, every rank finishes that step, calls `afterStep`, and `train`
    /// throws `TrainingStopped`.
    public func train(from position: TrainingPosition = TrainingPosition(), onEpoch: (EpochRecord) -> Void,
                      onEval: (Int, HeldOutResult) throws -> Void = { _, _ in },
                      afterStep: (TrainingPosition, _ epochEnded: Bool) throws -> Void = { _, _ in },
                      stopRequested: () -> Bool = { false }) throws {
        reducer?.stallTimeout = config.stallTimeout
        compact?.stallTimeout = config.stallTimeout
        let start = monotonicSeconds()
        var pos = position
        while pos.epoch < config.epochs {
            let epoch = pos.epoch
            let epochStart = monotonicSeconds()
            let order = batchOrder(epoch: epoch)
            let firstBatch = pos.batchesDone
            for b in order[pos.batchesDone...] {
                if let r = try step(batch: b, epoch: epoch, stepIndex: pos.globalStep, requestStop: stopRequested()) {
                    pos.lossSum += r.loss
                    pos.weightSum += r.weight
                    pos.rows += r.rows
                    if let g = lastGradNorm {
                        pos.gradNorm = g
                        pos.gradNormMax = max(pos.gradNormMax ?? g, g)
                    }
                } else {
                    pos.skipped += 1
                }
                pos.globalStep += 1
                pos.batchesDone += 1
                let epochEnded = pos.batchesDone == order.count
                if epochEnded { finishEpoch(&pos, start: start, epochStart: epochStart, batchesRun: order.count - firstBatch, onEpoch: onEpoch) }
                if epochEnded, config.evalEvery > 0, (epoch + 1) % config.evalEvery == 0,
                   epoch != config.epochs - 1 || evaluateLastEpoch {
                    try onEval(epoch, try evaluate(on: evaluationSet))
                }
                try afterStep(pos, epochEnded)
                if stopAgreed { throw TrainingStopped(position: pos) }
                if epochEnded && stopAfterThisEpoch { return }
            }
            if order.isEmpty { pos.epoch += 1 }
        }
    }

    /// Records the epoch's loss and moves `pos` to the next epoch.
    private func finishEpoch(_ pos: inout TrainingPosition, start: Double, epochStart: Double, batchesRun: Int,
                             onEpoch: (EpochRecord) -> Void) {
        let epoch = pos.epoch
        let isLast = epoch == config.epochs - 1
        if config.logEvery > 0 && (epoch % config.logEvery == 0 || isLast) {
            let now = monotonicSeconds()
            let loss = pos.rows > 0 ? pos.lossSum / lossDivisor(divisorReduction, rows: pos.rows, weightSum: pos.weightSum) : .nan
            let batches = max(1, epochPlan.batchCount)
            let rowsRun = Double(epochPlan.rows) * Double(batchesRun) / Double(batches)
            onEpoch(EpochRecord(epoch: epoch, loss: Double(T(loss)), lr: lastRate, elapsed: now - start,
                                samplesPerSecond: rowsRun / max(now - epochStart, 1e-12), skippedSteps: pos.skipped,
                                gradNorm: pos.gradNorm, gradNormMax: pos.gradNormMax))
        }
        let step = pos.globalStep
        pos = TrainingPosition()
        pos.epoch = epoch + 1
        pos.globalStep = step
    }

    /// Fills `batchX`/`batchY` with the rows of sampled batch `b` of `epoch`: each rank writes the
    /// rows it holds as float64 bit patterns into a zeroed buffer and one Int64 SUM allreduce gives
    /// every rank the whole batch (each value comes from exactly one rank, so the sum is exact and
    /// the bits are the holder's). Labels come from the global label vector.
    private func gatherSampledBatch(_ b: Int, epoch: Int) throws {
        guard let sampler, let rowIndex else { return }
        if sampledEpoch != epoch {
            sampledRows = sampler.rows(epoch: epoch)
            sampledEpoch = epoch
        }
        let F = data.features
        let positions = epochPlan.batchRows(b)
        let m = positions.count
        if exchange.count < m * F { exchange = [Int64](repeating: 0, count: m * F) }
        if batchX.count < m * F { batchX = [T](repeating: 0, count: m * F) }
        if batchY.count < m { batchY = [Int32](repeating: 0, count: m) }
        for i in 0..<(m * F) { exchange[i] = 0 }
        for (i, p) in positions.enumerated() {
            let row = Int(sampledRows[p])
            batchY[i] = labels[row]
            guard let l = rowIndex.local(row) else { continue }
            for f in 0..<F { exchange[i * F + f] = Int64(bitPattern: Double(data.trainX[l * F + f]).bitPattern) }
        }
        try exchange.withUnsafeMutableBufferPointer { try comm.allreduce(UnsafeMutableBufferPointer(rebasing: $0[0..<(m * F)]), op: .sum) }
        for i in 0..<(m * F) { batchX[i] = T(Double(bitPattern: UInt64(bitPattern: exchange[i]))) }
    }

    /// The reduction's divisor rule: the sigmoid loss's `mean` divides by its N x K elements, which
    /// `sigmoidFocalLossSums` returns as its weight sum.
    private var divisorReduction: LossReduction {
        config.loss == .sigmoidFocal && config.reduction == .mean ? .weightedMean : config.reduction
    }

    /// The run's loss (`config.loss`) of a chunk: its sums and, with `dLogits`, its logit gradient.
    private func lossSums(logits: UnsafePointer<T>, targets: UnsafePointer<Int32>, rows: Int, alpha: UnsafePointer<T>,
                          dLogits: UnsafeMutablePointer<T>?) -> LossSums {
        switch config.loss {
        case .softmaxFocal:
            return focalLossSums(logits: logits, targets: targets, rows: rows, classes: data.classes, alpha: alpha,
                                 gamma: T(config.gamma), dLogits: dLogits)
        case .sigmoidFocal:
            return sigmoidFocalLossSums(logits: logits, targets: targets, rows: rows, classes: data.classes,
                                        alpha: config.sigmoidAlpha, gamma: T(config.gamma), dLogits: dLogits)
        }
    }

    /// Evaluates the current parameters on this rank's test rows (of `other`, e.g. the validation
    /// rows, when given; its chunks must fit the workspace, see `evaluationRows`); returns the global confusion
    /// matrix and loss (identical on every rank). With no test rows anywhere the matrix is zero.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func evaluate(on other: LocalData<T>? = nil) throws -> HeldOutResult {
        let data = other ?? self.data
        let K = data.classes, F = data.features
        let plan = data.testPlan
        var confusion = [Int64](repeating: 0, count: K * K)
        let lossReducer = ExactReducer(width: 2, localCapacity: max(1, plan.chunks(batch: 0, rank: comm.rank).count))
        lossReducer.reset()
        var offset = 0
        let chunks = plan.batchCount > 0 ? plan.chunks(batch: 0, rank: comm.rank) : []
        params.withUnsafeBufferPointer { pb in
            workspace.load(params: pb.baseAddress!)
            alpha.withUnsafeBufferPointer { ab in
                for chunk in chunks {
                    let m = chunk.rows.count
                    data.testX.withUnsafeBufferPointer { xb in
                        workspace.forward(x: xb.baseAddress! + offset * F, rows: m)
                    }
                    let logits = workspace.logits
                    let s = data.testY.withUnsafeBufferPointer { yb in
                        lossSums(logits: logits, targets: yb.baseAddress! + offset, rows: m, alpha: ab.baseAddress!, dLogits: nil)
                    }
                    for r in 0..<m {
                        var best = 0
                        for j in 1..<max(K, 1) where logits[r * K + j] > logits[r * K + best] { best = j }
                        confusion[Int(data.testY[offset + r]) * K + best] += 1
                    }
                    lossReducer.add(main: UnsafePointer<T>?.none, mainCount: 0, extra: [s.loss, s.weight])
                    offset += m
                }
            }
        }
        try comm.allreduce(&confusion, op: .sum)
        var ls = [0.0, 0.0]
        let status = try lossReducer.reduce(comm, chunksInStep: max(1, plan.batchCount > 0 ? plan.chunkCount(batch: 0) : 1), result: &ls)
        var loss: Double? = nil
        if status.nonFiniteRank == nil && plan.rows > 0 {
            loss = Double(T(ls[0] / lossDivisor(divisorReduction, rows: plan.rows, weightSum: ls[1])))
        }
        let matrix = (0..<K).map { Array(confusion[($0 * K)..<(($0 + 1) * K)]) }
        return HeldOutResult(confusion: matrix, loss: loss)
    }
}
