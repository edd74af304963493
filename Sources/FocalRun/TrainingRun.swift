// TrainingRun: one training run on one rank, as a sequence of named phases — load, weights,
// restore, train, evaluate, write. Every phase is collective: a failure on any rank becomes the
// same error on every rank (`Communicator.agree`), so no rank is left waiting in a collective.
import FocalFormats
import Collectives
import FocalCore
import FocalData
import FocalReport

/// The program's version, recorded in metrics.
public let focalVersion = "0.3.1"

/// An interrupted run: the position reached and where its checkpoint went.
public struct Interrupted: Error, CustomStringConvertible, ClassifiedError {
    public var epoch: Int
    public var step: Int
    public var checkpoint: String?
    /// The shell line that resumes from `checkpoint` (`resumeCommand`).
    public var resumeCommand: String
    public var failureKind: FailureKind { .interrupted }
    public var description: String {
        if let c = checkpoint {
            return "interrupted by a signal at epoch \(epoch), step \(step); checkpoint written to \(c); resume with: \(resumeCommand)"
        }
        return "interrupted by a signal at epoch \(epoch), step \(step); no checkpoint (set --checkpoint-dir to keep progress)"
    }
}

public final class TrainingRun<T: TrainScalar> {
    public let config: RunConfig
    public let comm: Communicator
    let log: RunLog
    /// Polled before every step; true on any rank stops every rank after that step.
    let stopRequested: StopPoll

    /// Metric records so far (epoch, eval, config), written as JSON lines by rank 0.
    var records: [JSON] = []
    /// The checkpoint file resumed from (rank 0; a directory resolved to its newest file).
    private var resumedPath: String?
    /// The newest checkpoint written, if any.
    private var lastCheckpoint: String?
    /// Rank 0's lock on `--checkpoint-dir`, held for the run's life (`checkOutputs`).
    var checkpointLock: DirectoryLock?
    /// The run lineage's id (rank 0 makes it at a fresh start; a resume reads it from the checkpoint).
    var runId = ""
    /// The validation rows (as the test part), when the run has any (`--val-fraction`, `--val-data`).
    var validation: LocalData<T>?
    /// The StandardScaler statistics applied to every row, when `--standardize` is on.
    private var standardization: Standardization?
    /// Early stopping's state, its best parameters `[parameterCount]`, and the epoch it stopped after.
    var stopping = EarlyStoppingState()
    var bestParams: [T]?
    var stoppedEpoch: Int?
    /// `--calibrate` and `--tune-threshold`'s choices (stored in the model file).
    var decision = DecisionRule()

    public init(config: RunConfig, comm: Communicator, log: RunLog, stopRequested: @escaping StopPoll) {
        self.config = config
        // Every collective of the run, from the data load on, under the --stall-timeout watchdog.
        self.comm = WatchedCommunicator.watching(comm, timeout: config.train.stallTimeout)
        self.log = log
        self.stopRequested = stopRequested
    }

    /// Runs every phase in order. Throws an agreed error, `Interrupted` after a signal, or
    /// `CommError.timedOut` when a collective stalled (the caller must then abort the job).
    public func run() throws {
        try checkOutputs()
        defer { checkpointLock?.releaseRemovingIfUnused() }
        let data = try load()
        let labels = try TrainingControlChecks.prepare(config.train, data: data, comm: comm, log: log)
        let alpha = try weights(data)
        let shape = MLPShape(features: data.features, hidden: config.train.hidden, classes: data.classes)
        let description = RunDescription(config, shape: shape)
        let identity = try description.json
        let start = try restore(shape: shape, identity: identity)
        announce(data: data, shape: shape, alpha: alpha)
        try checkGradients(data: data, shape: shape, alpha: alpha, initial: start.initial)
        let trainer = Trainer<T>(config: config.train, comm: comm, data: data, alpha: alpha,
                                 initial: start.resumed?.params ?? start.initial, labels: labels,
                                 evaluationRows: validation?.globalTestRows ?? 0)
        trainer.evaluationSet = validation
        trainer.evaluateLastEpoch = config.realData.earlyStopping != nil
        try restoreEarlyStopping(start.resumed, count: shape.parameterCount)
        if let fault = config.fault { trainer.hooks = fault.hooks(onRank: comm.rank) }
        var position = TrainingPosition()
        if let r = start.resumed {
            // A position that cannot occur in this run's epochs (sampled epochs included) is refused.
            try comm.agree {
                try Checkpoint.checkPosition(r, path: resumedPath ?? config.resume ?? "", epochs: config.train.epochs,
                                             batches: trainer.stepsPerEpoch, batchRows: trainer.epochPlan.batchSize)
            }
            trainer.adam.restore(m: r.m, v: r.v, step: r.adamStep)
            position = r.position
            log.info("resumed at epoch \(position.epoch), step \(position.globalStep) from \(resumedPath ?? config.resume ?? "")")
        }
        let seconds = try train(trainer, from: position, shape: shape, description: description, identity: identity,
                                alpha: alpha, data: data)
        try finishEarlyStopping(trainer)
        try calibrateAndTune(trainer, shape: shape)
        try evaluate(trainer, data: data, shape: shape)
        let trained = max(0, (stoppedEpoch.map { $0 + 1 } ?? config.train.epochs) - position.epoch)
        let ranks = comm.size
        log.info("trained \(trained) epochs in \(formatFixed(seconds, digits: 3)) s (\(formatFixed(Double(trainer.epochPlan.rows) * Double(trained) / max(seconds, 1e-9), digits: 0)) samples/s over \(ranks) rank\(ranks == 1 ? "" : "s"))")
        records.append(try configRecord(description, alpha: alpha, data: data, shape: shape))
        try write(params: trainer.params, shape: shape, final: true)
    }

    // MARK: - Phase: load

    /// This rank's rows (its chunks of every batch) in the training precision, and global counts.
    func load() throws -> LocalData<T> {
        let t0 = monotonicSeconds()
        // Memory is checked before anything large is allocated: for generated data before the
        // generator runs, for files once their sizes are known.
        if case .generated(let spec) = config.input, let plan = try? ClassificationPlan(spec) { try checkMemory(DataSize(plan)) }
        let source = try comm.agree { try makeDataSource(config.input, comm: comm, stopRequested: stopRequested) }
        if case .generated = config.input {} else { try checkMemory(DataSize(source)) }
        let loaded: RunData<T> = try loadRunData(config: config, source: source, comm: comm, stopRequested: stopRequested)
        let data = loaded.data
        validation = loaded.validation
        standardization = loaded.standardization
        if config.logLevel >= .debug {
            var local = [Int](repeating: 0, count: data.classes)
            for y in data.trainY { local[Int(y)] += 1 }
            log.debug("on \(comm.processorName): holds \(data.trainY.count) training rows (classes \(local.map(String.init).joined(separator: "/"))) and \(data.testY.count) test rows in \(data.trainPlan.ownedRanges(rank: comm.rank).count) ranges; data ready in \(formatFixed(monotonicSeconds() - t0, digits: 3)) s")
        }
        return data
    }

    // MARK: - Phase: weights

    /// The class weights alpha `[classes]` from the global training counts.
    func weights(_ data: LocalData<T>) throws -> [Double] {
        try comm.agree {
            guard data.globalTrainRows > 0 else { throw DataError("the training set is empty") }
            return try classWeights(scheme: config.classWeights, counts: data.trainCounts)
        }
    }

    // MARK: - Phase: restore

    /// Where training starts: `--init` parameters, or a checkpoint's whole state (read by rank 0,
    /// copied to every rank). Also refuses unwritable outputs before the first step.
    func restore(shape: MLPShape, identity: JSON) throws -> (initial: [T]?, resumed: CheckpointState<T>?) {
        let initial: [T]? = try comm.agree {
            guard let path = config.initFile else { return nil }
            return try ModelFile.parameters(from: SafetensorsFile.read(path: path), shape: shape, path: path, as: T.self)
        }
        // Rank 0 reads the checkpoint and checks every output (it is the one that writes them).
        var resumed: CheckpointState<T>? = try comm.agree {
            guard comm.rank == 0 else { return nil }
            var state: CheckpointState<T>? = nil
            if config.resume == Checkpoint.auto, let dir = config.checkpointDir {
                let choice = try Checkpoint.newestValid(dir: dir, shape: shape, identity: identity, as: T.self)
                if let note = choice.note { log.info(note) }
                if let path = choice.path {
                    try TrainingControlChecks.checkResume(path: path, current: TrainingControls(config.train))
                    resumedPath = path
                } else {
                    log.info("--resume auto: no checkpoint in \(dir); starting fresh")
                }
                state = choice.state
            } else if let r = config.resume {
                let path = try Checkpoint.resolve(r)
                try TrainingControlChecks.checkResume(path: path, current: TrainingControls(config.train))
                state = try Checkpoint.read(path: path, shape: shape, identity: identity, as: T.self)
                resumedPath = path
            }
            // Outputs were checked before loading (`checkOutputs`); their directories may have
            // changed since, so check them again right before the first step.
            try checkOutputPaths()
            return state
        }
        // The lineage: kept across resumes (a format-1 checkpoint has none: a new one starts).
        runId = try comm.broadcast(comm.rank == 0 ? (resumed.map(\.runId).flatMap { $0.isEmpty ? nil : $0 } ?? Checkpoint.newRunId()) : "", root: 0)
        // Under `--resume auto` rank 0 alone knows whether a checkpoint was found.
        let resuming = try comm.broadcast(comm.rank == 0 ? (resumed != nil ? "1" : "") : "", root: 0) == "1"
        if resuming {
            let extra = resumed?.extra ?? [:]  // rank 0's; `restoreEarlyStopping` shares it
            resumed = try shareCheckpoint(resumed, count: shape.parameterCount)
            resumed?.extra = extra
        }
        return (initial, resumed)
    }

    /// Rank 0's checkpoint state, copied to every rank (the file need not be visible to other hosts).
    private func shareCheckpoint(_ local: CheckpointState<T>?, count: Int) throws -> CheckpointState<T> {
        var params = local?.params ?? [T](repeating: 0, count: count)
        var m = local?.m ?? [T](repeating: 0, count: count)
        var v = local?.v ?? [T](repeating: 0, count: count)
        try comm.broadcast(&params, root: 0)
        try comm.broadcast(&m, root: 0)
        try comm.broadcast(&v, root: 0)
        let p = try comm.broadcast(value: local?.position ?? TrainingPosition(), root: 0)
        var step = [Int64(local?.adamStep ?? 0)]
        try comm.broadcast(&step, root: 0)
        return CheckpointState(params: params, m: m, v: v, adamStep: Int(step[0]), position: p)
    }

    private func announce(data: LocalData<T>, shape: MLPShape, alpha: [Double]) {
        let ranks = comm.size
        log.info("focal-ddp \(focalVersion): \(ranks) rank\(ranks == 1 ? "" : "s"), model \(shape) (\(shape.parameterCount) parameters, \(T.precision.rawValue)), gamma \(config.train.gamma), \(config.train.reduction.rawValue) reduction, standardization \(standardization == nil ? "off" : "on")")

        log.info("train \(data.globalTrainRows) rows, classes \(data.trainCounts.map(String.init).joined(separator: "/")); test \(data.globalTestRows) rows, classes \(data.testCounts.map(String.init).joined(separator: "/")); class weights \(config.classWeights): [\(alpha.map { String($0) }.joined(separator: ", "))]")
        if let v = validation {
            log.info("validation \(v.globalTestRows) rows, classes \(v.testCounts.map(String.init).joined(separator: "/"))")
        }
        if comm.rank == 0, let notice = blasKernelNotice() {  // rank 0 alone reads /proc/cpuinfo
            log.info(notice)
        }
    }

    /// `--check-gradients`: the analytic gradient against central differences, in float64.
    private func checkGradients(data: LocalData<T>, shape: MLPShape, alpha: [Double], initial: [T]?) throws {
        guard config.checkGradients else { return }
        let worst = try comm.agree { () -> Double in
            let m = min(data.trainY.count, 64)
            let p = (initial ?? initialParameters(shape, seed: config.train.initSeed, as: T.self)).map { Double($0) }
            return gradientCheck(shape: shape, params: p, x: data.trainX[0..<(m * data.features)].map { Double($0) },
                                 y: Array(data.trainY[0..<m]), alpha: alpha, gamma: config.train.gamma,
                                 reduction: config.train.reduction, loss: config.train.loss,
                                 sigmoidAlpha: config.train.sigmoidAlpha)
        }
        let all = try comm.allreduce(worst, op: .max)
        let bound = 1e-4
        log.info("gradient check (float64, central differences): largest relative error \(all) (bound \(bound))")
        if !(all <= bound) {
            throw TrainingError(message: "gradient check failed: relative error \(all) above \(bound)", failureKind: .numeric)
        }
    }

    // MARK: - Phase: train

    /// The epochs from `start`; checkpoints on schedule and on a stop request. Returns the seconds
    /// spent. After a signal, writes what it has and throws `Interrupted`.
    private func train(_ trainer: Trainer<T>, from start: TrainingPosition, shape: MLPShape,
                       description: RunDescription, identity: JSON, alpha: [Double], data: LocalData<T>) throws -> Double {
        let tTrain = monotonicSeconds()
        let totalSteps = config.train.epochs * trainer.stepsPerEpoch
        // A run resumed after early stopping stopped has nothing left to train.
        let alreadyStopped = config.realData.earlyStopping.map { stopping.shouldStop($0) } ?? false
        if alreadyStopped { stoppedEpoch = start.epoch - 1 }
        do {
            if !alreadyStopped { try trainer.train(from: start, onEpoch: { r in
                // The tutorial's line, at multiples of --log-every; the last epoch is recorded in the metrics too.
                if r.epoch % config.train.logEvery == 0 { log.info("Epoch: \(r.epoch), Loss: \(r.loss)") }
                records.append(r.json)
            }, onEval: { epoch, result in
                let report = EvaluationReport(result)
                log.info("  epoch \(epoch): \(validation == nil ? "held-out" : "validation") accuracy \(formatFixed(report.accuracy, digits: 4)), balanced \(formatFixed(report.balancedAccuracy, digits: 4)), recall [\(report.perClass.map { formatFixed($0.recall, digits: 4) }.joined(separator: ", "))]")
                records.append(report.json(epoch: epoch, split: validation == nil ? "test" : "val"))
                try earlyStoppingStep(trainer, epoch: epoch, result: result, data: data, shape: shape)
            }, afterStep: { pos, epochEnded in
                log.stepDone(step: pos.globalStep, epoch: pos.epoch, of: totalSteps, rowsPerEpoch: trainer.epochPlan.rows,
                             stepsPerEpoch: trainer.stepsPerEpoch)
                let byEpoch = epochEnded && config.checkpointEvery > 0 && pos.epoch % config.checkpointEvery == 0
                let bySteps = config.checkpointEverySteps > 0 && pos.globalStep % config.checkpointEverySteps == 0
                if (byEpoch || bySteps || trainer.stopAgreed) && pos.epoch <= config.train.epochs {
                    try checkpoint(trainer, at: pos, shape: shape, identity: identity)
                }
            }, stopRequested: stopRequested) }
        } catch let stopped as TrainingStopped {
            records.append(try configRecord(description, alpha: alpha, data: data, shape: shape))
            try write(params: trainer.params, shape: shape, final: false)
            let written = config.checkpointDir != nil ? lastCheckpoint : nil
            throw Interrupted(epoch: stopped.position.epoch, step: stopped.position.globalStep, checkpoint: written,
                              resumeCommand: resumeCommand(arguments: config.arguments, ranks: comm.size,
                                                           checkpoint: written ?? ""))
        }
        let seconds = monotonicSeconds() - tTrain
        if config.logLevel >= .debug {
            let t = trainer.timings
            log.debug("training \(formatFixed(seconds, digits: 3)) s over \(t.steps) steps: forward \(formatFixed(t.forward, digits: 3)) loss \(formatFixed(t.loss, digits: 3)) backward \(formatFixed(t.backward, digits: 3)) reduction \(formatFixed(t.reduction, digits: 3)) optimizer \(formatFixed(t.optimizer, digits: 3)) broadcast \(formatFixed(t.broadcast, digits: 3))\(config.train.sampler == .none ? "" : " sampled-row exchange \(formatFixed(t.exchange, digits: 3))")")
        }
        return seconds
    }

    /// Rank 0 writes a checkpoint of the state after `pos` (collective: errors are agreed).
    private func checkpoint(_ trainer: Trainer<T>, at pos: TrainingPosition, shape: MLPShape, identity: JSON) throws {
        guard let dir = config.checkpointDir else { return }
        lastCheckpoint = try comm.agree { () -> String in
            let name = Checkpoint.fileName(epoch: pos.epoch, globalStep: pos.globalStep)
            guard comm.rank == 0 else { return dir + "/" + name }
            try FileIO.ensureDirectory(dir, option: "--checkpoint-dir")
            var state = CheckpointState(params: trainer.params, m: trainer.adam.m, v: trainer.adam.v,
                                        adamStep: trainer.adam.step, position: pos, runId: runId)
            state.extra = earlyStoppingTensors()
            return try Checkpoint.write(Checkpoint.encode(state, shape: shape, identity: identity), dir: dir, name: name,
                                        keep: config.keepCheckpoints)
        }
    }

    // MARK: - Phase: evaluate

    /// The final held-out evaluation: confusion-matrix metrics and ranking metrics, printed and recorded.
    private func evaluate(_ trainer: Trainer<T>, data: LocalData<T>, shape: MLPShape) throws {
        guard data.globalTestRows > 0 else {
            log.summary("No held-out evaluation: no test rows (pass --test-data/--test-labels or a --test-fraction above 0).")
            return
        }
        let report = EvaluationReport(try trainer.evaluate())
        let predictions = probabilities(shape: shape, params: trainer.params, x: data.testX, chunkSize: config.train.chunkSize,
                                        scores: config.train.loss.scores)
        let ranking = try rankingReport(comm: comm, probabilities: predictions.probabilities, labels: data.testY, classes: data.classes)
        log.summary(report.table())
        log.summary(ranking.table())
        try evaluateDecisionRule(trainer, data: data, shape: shape)
        let epoch = bestParams != nil ? stopping.bestEpoch : config.train.epochs - 1
        records.append(report.json(epoch: epoch, ranking: ranking, split: "test"))
    }

    // MARK: - Phase: write

    /// Rank 0 writes the metrics so far and the plots (also when the run stops early), and at the
    /// end the model (collective: errors are agreed).
    private func write(params: [T], shape: MLPShape, final: Bool) throws {
        try comm.agree {
            guard comm.rank == 0 else { return }
            if let path = config.metricsOut {
                try FileIO.replace(path, with: Array((records.map(\.text).joined(separator: "\n") + "\n").utf8))
            }
            if let dir = config.plotsDir {
                try FileIO.ensureDirectory(dir, option: "--plots")
                try writePlots(try MetricsFile(records: records), to: dir)
            }
            if final, let path = config.saveModel {
                let metadata = ModelFile.lossMetadata(config.train.loss)
                    .merging(standardization?.metadata ?? [:]) { a, _ in a }
                    .merging(decision.metadata) { a, _ in a }
                try ModelFile.encode(params, shape: shape, extraMetadata: metadata).write(path: path)
            }
        }
    }

    /// The run's description and facts as the last metrics record.
    private func configRecord(_ description: RunDescription, alpha: [Double], data: LocalData<T>,
                              shape: MLPShape) throws -> JSON {
        try JSONValueEncoder().encode(ConfigRecord(
            run: description, trainRows: data.globalTrainRows, testRows: data.globalTestRows,
            trainCounts: data.trainCounts, testCounts: data.testCounts, alpha: alpha,
            parameters: shape.parameterCount, optimizerOn: config.train.optimizerOn.rawValue,
            epochs: config.train.epochs, batchRows: data.trainPlan.batchSize, ranks: comm.size))
    }
}
