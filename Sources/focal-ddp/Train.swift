// Train: the default command. Loads (or generates) each rank's rows, trains, evaluates, writes.
import ArgumentParser
import Collectives
import FocalCore
import FocalData
import FocalFormats
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

/// A command that runs on every rank and returns the exit status every rank agrees on.
protocol RankedCommand {
    func execute(arguments: [String]) -> Int32
}

struct Train: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the MLP with class-weighted focal loss (the default command).")

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Training") var options: TrainOptions

    func execute(arguments: [String]) -> Int32 {
        let config: RunConfig
        do {
            config = try options.runConfig(data: data, arguments: arguments)
        } catch {
            return reportLocal(error)
        }
        return withCommunicator(simulate: config.simulateRanks) { comm in runTraining(config, comm: comm) }
    }
}

// MARK: - Communicator choice

/// Runs `body` once per rank: under mpirun with the MPI world; with `simulate` as that many
/// threads; otherwise as a single rank without MPI (the debug mode). Returns rank 0's status.
func withCommunicator(simulate: Int?, _ body: @escaping @Sendable (Communicator) -> Int32) -> Int32 {
    if let n = simulate {
        if underMPILauncher, let size = getenvInt("OMPI_COMM_WORLD_SIZE"), size > 1 {
            return reportLocal(ValidationError("--simulate-ranks runs ranks as threads of one process; do not combine it with mpirun -n \(size)"))
        }
        return runInProcess(ranks: n, body)
    }
    if underMPILauncher {
        do {
            let world = try MPIRuntime.world
            return body(world)
        } catch {
            return reportLocal(error, kind: .system)
        }
    }
    return runInProcess(ranks: 1, body)
}

private func runInProcess(ranks: Int, _ body: @escaping @Sendable (Communicator) -> Int32) -> Int32 {
    do {
        let codes = try InProcessCommunicator.run(ranks: ranks) { comm in body(comm) }
        return codes.first ?? 0
    } catch {
        return reportLocal(error, kind: .system)
    }
}

func getenvInt(_ key: String) -> Int? {
    getenv(key).flatMap { Int(String(cString: $0)) }
}

/// Prints an error found identically on every rank (option validation) once, from rank 0.
func reportLocal(_ error: Error, kind: FailureKind? = nil) -> Int32 {
    let k: FailureKind = kind ?? ((error is ValidationError) ? .usage : (error as? ClassifiedError)?.failureKind ?? .system)
    if launchRank == 0 { printError("focal-ddp: error: \(error)") }
    return k.rawValue
}

/// Prints an error agreed by all ranks once, from rank 0 of `comm`, and returns its exit status.
func reportAgreed(_ error: Error, comm: Communicator) -> Int32 {
    let kind: FailureKind
    var message = String(describing: error)
    if let a = error as? AgreedError {
        kind = a.kind
        if comm.size > 1 && !message.contains("rank") { message += " (rank \(a.rank))" }
    } else if let c = error as? ClassifiedError {
        kind = c.failureKind
    } else {
        kind = .system
    }
    if comm.rank == 0 { printError("focal-ddp: error: \(message)") }
    return kind.rawValue
}

// MARK: - A training run on one rank

/// Rank-0 output, honouring --quiet.
struct Console {
    let rank: Int
    let quiet: Bool
    let level: LogLevel
    // Flushed at once: under mpirun a rank's output is a pipe, and a log line should not wait
    // in a buffer (users watch it; a signalled job must not lose it).
    func info(_ s: String) { if rank == 0 && !quiet && level >= .info { print(s); fflush(nil) } }
    func summary(_ s: String) { if rank == 0 { print(s); fflush(nil) } }
    /// Debug lines come from every rank, prefixed by it.
    func debug(_ s: String) { if level >= .debug { print("[rank \(rank)] \(s)") } }
}

func runTraining(_ config: RunConfig, comm: Communicator) -> Int32 {
    pinBLASToOneThread()
    installStopHandlers()
    do {
        switch config.precision {
        case .float32: try trainTyped(config, comm: comm, as: Float.self)
        case .float64: try trainTyped(config, comm: comm, as: Double.self)
        }
        return 0
    } catch let CommError.timedOut(operation, seconds) {
        // A stuck collective cannot be left: say where, then end the whole job. Rank 0 speaks
        // first; the others only if rank 0 is the one that hangs (it would have aborted them).
        if comm.rank != 0 { sleep(2) }
        printError("focal-ddp: error: rank \(comm.rank): \(operation) did not complete within \(formatFixed(seconds, digits: 0)) s (--stall-timeout); another rank has stopped or hangs; aborting the job")
        comm.abort(code: FailureKind.system.rawValue)
    } catch {
        return reportAgreed(error, comm: comm)
    }
}

/// An interrupted run: the position reached and where its checkpoint went.
struct Interrupted: Error, CustomStringConvertible, ClassifiedError {
    var epoch: Int
    var step: Int
    var checkpoint: String?
    var resumeHint: String
    var failureKind: FailureKind { .interrupted }
    var description: String {
        if let c = checkpoint {
            return "interrupted by a signal at epoch \(epoch), step \(step); checkpoint written to \(c); resume with: \(resumeHint) --resume \(c)"
        }
        return "interrupted by a signal at epoch \(epoch), step \(step); no checkpoint (set --checkpoint-dir to keep progress)"
    }
}

private func trainTyped<T: TrainScalar>(_ config: RunConfig, comm: Communicator, as: T.Type) throws {
    let console = Console(rank: comm.rank, quiet: config.quiet, level: config.logLevel)
    let t0 = monotonicSeconds()
    let source = try comm.agree { try makeDataSource(config.input, comm: comm) }
    let data: LocalData<T> = try loadLocalData(source: source, comm: comm, batchSize: config.train.batchSize,
                                               chunkSize: config.train.chunkSize)
    let tData = monotonicSeconds() - t0
    if config.logLevel >= .debug {
        var local = [Int](repeating: 0, count: data.classes)
        for y in data.trainY { local[Int(y)] += 1 }
        console.debug("on \(comm.processorName): holds \(data.trainY.count) training rows (classes \(local.map(String.init).joined(separator: "/"))) and \(data.testY.count) test rows in \(data.trainPlan.ownedRanges(rank: comm.rank).count) ranges; data ready in \(formatFixed(tData, digits: 3)) s")
    }
    let alpha = try comm.agree {
        guard data.globalTrainRows > 0 else { throw DataError("the training set is empty") }
        return try classWeights(scheme: config.classWeights, counts: data.trainCounts)
    }
    let shape = MLPShape(features: data.features, hidden: config.train.hidden, classes: data.classes)
    let identity = config.identity(shape: shape)
    let initial: [T]? = try comm.agree {
        guard let path = config.initFile else { return nil }
        return try ModelFile.parameters(from: SafetensorsFile.read(path: path), shape: shape, path: path, as: T.self)
    }
    // Refuse unwritable outputs and unusable checkpoints before the first step (rank 0 writes).
    var resumed: CheckpointState<T>? = try comm.agree {
        guard comm.rank == 0 else { return nil }
        var state: CheckpointState<T>? = nil
        if let r = config.resume {
            state = try Checkpoint.read(path: try Checkpoint.resolve(r), shape: shape, identity: identity, as: T.self)
        }
        for path in [config.metricsOut, config.saveModel].compactMap({ $0 }) { try FileIO.checkWritable(path) }
        if let dir = config.plotsDir { try FileIO.checkCreatableDirectory(dir, option: "--plots") }
        if let dir = config.checkpointDir { try FileIO.checkCreatableDirectory(dir, option: "--checkpoint-dir") }
        return state
    }
    if config.resume != nil { resumed = try shareCheckpoint(resumed, comm: comm, count: shape.parameterCount) }

    let ranks = comm.size
    console.info("focal-ddp \(focalVersion): \(ranks) rank\(ranks == 1 ? "" : "s"), model \(shape) (\(shape.parameterCount) parameters, \(T.precision.rawValue)), gamma \(config.train.gamma), \(config.train.reduction.rawValue) reduction")
    console.info("train \(data.globalTrainRows) rows, classes \(data.trainCounts.map(String.init).joined(separator: "/")); test \(data.globalTestRows) rows, classes \(data.testCounts.map(String.init).joined(separator: "/")); class weights \(config.classWeights): [\(alpha.map { String($0) }.joined(separator: ", "))]")

    if config.checkGradients {
        let worst = try comm.agree { () -> Double in
            let m = min(data.trainY.count, 64)
            let p = (initial ?? initialParameters(shape, seed: config.train.initSeed, as: T.self)).map { Double($0) }
            return gradientCheck(shape: shape, params: p, x: data.trainX[0..<(m * data.features)].map { Double($0) },
                                 y: Array(data.trainY[0..<m]), alpha: alpha, gamma: config.train.gamma,
                                 reduction: config.train.reduction)
        }
        let all = try comm.allreduce(worst, op: .max)
        let bound = 1e-4
        console.info("gradient check (float64, central differences): largest relative error \(all) (bound \(bound))")
        if !(all <= bound) {
            throw TrainingError(message: "gradient check failed: relative error \(all) above \(bound)", failureKind: .numeric)
        }
    }

    let trainer = Trainer<T>(config: config.train, comm: comm, data: data, alpha: alpha, initial: resumed?.params ?? initial)
    var start = TrainingPosition()
    if let r = resumed {
        trainer.adam.restore(m: r.m, v: r.v, step: r.adamStep)
        start = r.position
        console.info("resumed at epoch \(start.epoch), step \(start.globalStep) from \(config.resume!)")
    }
    var records: [JSON] = []
    let progress = Progress(enabled: comm.rank == 0 && !config.quiet && outputIsTerminal(),
                            totalSteps: config.train.epochs * data.trainPlan.batchCount, rowsPerEpoch: data.globalTrainRows,
                            stepsPerEpoch: data.trainPlan.batchCount)
    var lastCheckpoint: String?
    let tTrain = monotonicSeconds()

    /// Rank 0 writes a checkpoint of the state after `pos` (collective: errors are agreed).
    func checkpoint(_ pos: TrainingPosition) throws {
        guard let dir = config.checkpointDir else { return }
        lastCheckpoint = try comm.agree { () -> String in
            let name = Checkpoint.fileName(epoch: pos.epoch, globalStep: pos.globalStep)
            guard comm.rank == 0 else { return dir + "/" + name }
            try FileIO.ensureDirectory(dir, option: "--checkpoint-dir")
            let state = CheckpointState(params: trainer.params, m: trainer.adam.m, v: trainer.adam.v,
                                        adamStep: trainer.adam.step, position: pos)
            return try Checkpoint.write(Checkpoint.encode(state, shape: shape, identity: identity), dir: dir, name: name,
                                        keep: config.keepCheckpoints)
        }
    }
    /// Rank 0 writes the metrics so far and the plots (also when the run stops early).
    func writeOutputs(final: Bool) throws {
        try comm.agree {
            guard comm.rank == 0 else { return }
            if let path = config.metricsOut {
                try FileIO.replace(path, with: Array((records.map(\.text).joined(separator: "\n") + "\n").utf8))
            }
            if let dir = config.plotsDir {
                try FileIO.ensureDirectory(dir, option: "--plots")
                try writePlots(records: records, to: dir)
            }
            if final, let path = config.saveModel { try ModelFile.encode(trainer.params, shape: shape).write(path: path) }
        }
    }

    do {
        try trainer.train(from: start, onEpoch: { r in
            // The tutorial's line, at multiples of --log-every; the last epoch is recorded in the metrics too.
            progress.clear()
            if r.epoch % config.train.logEvery == 0 { console.info("Epoch: \(r.epoch), Loss: \(r.loss)") }
            records.append(r.json)
        }, onEval: { epoch, report in
            progress.clear()
            console.info("  epoch \(epoch): held-out accuracy \(formatFixed(report.accuracy, digits: 4)), balanced \(formatFixed(report.balancedAccuracy, digits: 4)), recall [\(report.perClass.map { formatFixed($0.recall, digits: 4) }.joined(separator: ", "))]")
            records.append(report.json(type: "eval", epoch: epoch))
        }, afterStep: { pos, epochEnded in
            progress.update(step: pos.globalStep, epoch: pos.epoch)
            let byEpoch = epochEnded && config.checkpointEvery > 0 && pos.epoch % config.checkpointEvery == 0
            let bySteps = config.checkpointEverySteps > 0 && pos.globalStep % config.checkpointEverySteps == 0
            if (byEpoch || bySteps || trainer.stopAgreed) && pos.epoch <= config.train.epochs { try checkpoint(pos) }
        }, stopRequested: stopSignalled)
    } catch let stopped as TrainingStopped {
        progress.clear()
        records.append(configRecord(config, shape: shape, alpha: alpha, data: data, ranks: ranks))
        try writeOutputs(final: false)
        let hint = "./launch -n N " + config.arguments.filter { !$0.hasPrefix("--resume") }.joined(separator: " ")
        throw Interrupted(epoch: stopped.position.epoch, step: stopped.position.globalStep,
                          checkpoint: config.checkpointDir != nil ? lastCheckpoint : nil, resumeHint: hint)
    }
    progress.clear()
    let trainSeconds = monotonicSeconds() - tTrain
    let t = trainer.timings
    console.debug("training \(formatFixed(trainSeconds, digits: 3)) s over \(t.steps) steps: forward \(formatFixed(t.forward, digits: 3)) loss \(formatFixed(t.loss, digits: 3)) backward \(formatFixed(t.backward, digits: 3)) reduction \(formatFixed(t.reduction, digits: 3)) optimizer \(formatFixed(t.optimizer, digits: 3)) broadcast \(formatFixed(t.broadcast, digits: 3))")

    if data.globalTestRows > 0 {
        let report = try trainer.evaluate()
        let predictions = probabilities(shape: shape, params: trainer.params, x: data.testX, chunkSize: config.train.chunkSize)
        let ranking = try rankingReport(comm: comm, probabilities: predictions.probabilities, labels: data.testY, classes: data.classes)
        console.summary(report.table())
        console.summary(ranking.table())
        records.append(ranking.appended(to: report.json(type: "eval", epoch: config.train.epochs - 1)))
    } else {
        console.summary("No held-out evaluation: no test rows (pass --test-data/--test-labels or a --test-fraction above 0).")
    }
    let trained = max(0, config.train.epochs - start.epoch)
    console.info("trained \(trained) epochs in \(formatFixed(trainSeconds, digits: 3)) s (\(formatFixed(Double(data.globalTrainRows * trained) / max(trainSeconds, 1e-9), digits: 0)) samples/s over \(ranks) rank\(ranks == 1 ? "" : "s"))")
    records.append(configRecord(config, shape: shape, alpha: alpha, data: data, ranks: ranks))
    try writeOutputs(final: true)
}

/// Rank 0's checkpoint state, copied to every rank (the file need not be visible to other hosts).
private func shareCheckpoint<T: TrainScalar>(_ local: CheckpointState<T>?, comm: Communicator, count: Int) throws -> CheckpointState<T> {
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

/// The run's configuration as the last metrics record.
private func configRecord<T>(_ c: RunConfig, shape: MLPShape, alpha: [Double], data: LocalData<T>, ranks: Int) -> JSON {
    var fields: [(String, JSON)] = [("type", .string("config")), ("version", .string(focalVersion))]
    switch c.input {
    case .generated(let d):
        let s = d.classification
        fields.append(("data", .object([
            ("generator", .string(d.generator.rawValue)), ("samples", .int(Int64(s.samples))),
            ("features", .int(Int64(s.features))), ("informative", .int(Int64(s.informative))),
            ("redundant", .int(Int64(s.redundant))), ("repeated", .int(Int64(s.repeated))),
            ("classes", .int(Int64(s.classes))), ("clusters_per_class", .int(Int64(s.clustersPerClass))),
            ("weights", s.weights.map { .array($0.map { .number($0) }) } ?? .null),
            ("flip_y", .number(s.flipY)), ("class_sep", .number(s.classSep)), ("hypercube", .bool(s.hypercube)),
            ("shuffle", .bool(s.shuffle)), ("seed", .int(Int64(s.seed))),
            ("test_fraction", .number(d.split.testFraction)), ("split_seed", .int(Int64(d.split.seed))),
            ("stratify", .bool(d.split.stratify)),
        ])))
    case let .csv(train, test, labelColumn, _):
        fields.append(("data", .object([("train_data", .string(train)), ("test_data", test.map { .string($0) } ?? .null),
                                        ("label_column", labelColumn.map { .string($0) } ?? .null)])))
    case let .files(train, trainLabels, test, testLabels, _):
        fields.append(("data", .object([("train_data", .string(train)), ("train_labels", .string(trainLabels)),
                                        ("test_data", test.map { .string($0) } ?? .null),
                                        ("test_labels", testLabels.map { .string($0) } ?? .null)])))
    }
    let t = c.train
    fields += [
        ("train_rows", .int(Int64(data.globalTrainRows))), ("test_rows", .int(Int64(data.globalTestRows))),
        ("train_counts", .array(data.trainCounts.map { .int($0) })), ("test_counts", .array(data.testCounts.map { .int($0) })),
        ("class_weights", .string(String(describing: c.classWeights))), ("alpha", .array(alpha.map { .number($0) })),
        ("model", .string(shape.description)), ("parameters", .int(Int64(shape.parameterCount))),
        ("precision", .string(c.precision.rawValue)), ("gamma", .number(t.gamma)), ("reduction", .string(t.reduction.rawValue)),
        ("lr", .number(t.adam.lr)), ("beta1", .number(t.adam.beta1)), ("beta2", .number(t.adam.beta2)),
        ("eps", .number(t.adam.eps)), ("weight_decay", .number(t.adam.weightDecay)), ("adamw", .bool(t.adam.decoupled)),
        ("optimizer_on", .string(t.optimizerOn.rawValue)), ("epochs", .int(Int64(t.epochs))),
        ("batch_size", .int(Int64(t.batchSize ?? data.globalTrainRows))), ("chunk_size", .int(Int64(t.chunkSize))),
        ("shuffle_batches", .bool(t.shuffleBatches)), ("fast_reduce", .bool(t.fastReduce)), ("init_seed", .int(Int64(t.initSeed))),
        ("init", c.initFile.map { .string($0) } ?? .null), ("ranks", .int(Int64(ranks))),
    ]
    return .object(fields)
}
