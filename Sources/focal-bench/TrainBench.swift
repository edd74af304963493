// TrainBench: `focal-bench train`: training throughput of the real trainer against the sgemm peak
// measured in the same run on every rank at once, with the step split, data time and peak memory.

import CBLAS
import Collectives
import FocalCore
import FocalData
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Arguments

/// A usage error of a benchmark subcommand: one line naming the option.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// `--name value` pairs of one subcommand; an unknown name or a missing value is a `BenchError`.
struct BenchArguments {
    private var values: [String: String] = [:]

    init(_ arguments: [String], known: Set<String>) throws {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            let name = String(a.drop(while: { $0 == "-" }))
            guard a.hasPrefix("--"), known.contains(name) else {
                throw BenchError("unknown option '\(a)' (known: \(known.sorted().map { "--" + $0 }.joined(separator: ", ")))")
            }
            guard i + 1 < arguments.count else { throw BenchError("\(a) needs a value") }
            values[name] = arguments[i + 1]
            i += 2
        }
    }

    func string(_ name: String, _ fallback: String) -> String { values[name] ?? fallback }

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let text = values[name] else { return fallback }
        guard let v = Int(text), v >= 1 else { throw BenchError("--\(name): '\(text)' must be an integer >= 1") }
        return v
    }
}

// MARK: - Configurations

/// A named benchmark configuration: the data set and the training recipe.
struct BenchConfig {
    var name: String
    var spec: DatasetSpec
    var train: TrainConfig
    var defaultRuns: Int

    /// `tutorial`: the tutorial's recipe (sklearn generator 1000 x 20, 64 hidden, full batch of
    /// 800 rows, 100 epochs). `large`: issue 7's configuration (counter generator 1,250,000 x 64,
    /// 8 classes, 256-256 hidden, batch 4096, 1 epoch over 1,000,000 training rows).
    static func named(_ name: String) throws -> BenchConfig {
        var spec = DatasetSpec()
        var train = TrainConfig()
        train.logEvery = 0
        train.evalEvery = 0
        switch name {
        case "tutorial":
            train.hidden = [64]
            train.epochs = 100
            train.batchSize = nil
            return BenchConfig(name: name, spec: spec, train: train, defaultRuns: 11)
        case "large":
            spec.generator = .counter
            spec.classification.samples = 1_250_000
            spec.classification.features = 64
            spec.classification.informative = 32
            spec.classification.redundant = 16
            spec.classification.classes = 8
            spec.classification.weights = [0.5, 0.2, 0.1, 0.08, 0.05, 0.04, 0.02, 0.01]
            train.hidden = [256, 256]
            train.epochs = 1
            train.batchSize = 4096
            return BenchConfig(name: name, spec: spec, train: train, defaultRuns: 5)
        default:
            throw BenchError("--config: '\(name)' is not a configuration (tutorial or large)")
        }
    }
}

/// Builds the data source of a generated data set.
func makeSource(_ spec: DatasetSpec) throws -> DataSource {
    switch spec.generator {
    case .sklearn: return try SklearnDataSource(spec)
    case .counter: return try CounterDataSource(spec)
    }
}

// MARK: - Measurements shared by the subcommands

/// Peak resident set of this process so far, in MiB (`getrusage` `ru_maxrss`, KiB on Linux).
func peakRSSMiB() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) / 1024
}

/// Single-thread `cblas_sgemm` 4096x256x256 (row-major, C = A·B) run by every rank at the same
/// time after a barrier: the rate each rank reaches while the others compete for memory and
/// cache. Returns this rank's median GFLOP/s over `reps` calls (2MNK flops per call).
func concurrentSgemmGFlops(comm: Communicator, reps: Int) throws -> Double {
    try sgemmGFlops(reps: reps, beforeTiming: { try comm.barrier() })
}

/// Median GFLOP/s of single-thread `cblas_sgemm` 4096x256x256 (row-major, C = A·B, 2MNK flops
/// per call) over `reps` calls, after one warm-up call and `beforeTiming` (e.g. a barrier).
func sgemmGFlops(reps: Int, beforeTiming: () throws -> Void = {}) rethrows -> Double {
    openblas_set_num_threads(1)
    let m = 4096, n = 256, k = 256
    /// A `[m, k]`, B `[k, n]`, C `[m, n]`, row-major.
    let a = (0..<(m * k)).map { Float(($0 % 17) - 8) * 0.01 }
    let b = (0..<(k * n)).map { Float(($0 % 13) - 6) * 0.01 }
    var c = [Float](repeating: 0, count: m * n)
    func once() -> Double {
        let t0 = now()
        c.withUnsafeMutableBufferPointer { cp in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        1, a, Int32(k), b, Int32(n), 0, cp.baseAddress, Int32(n))
        }
        return now() - t0
    }
    _ = once()
    try beforeTiming()
    let times = (0..<reps).map { _ in once() }
    return 2 * Double(m * n * k) / median(times) / 1e9
}

/// CPU seconds used by this process so far (all threads; `CLOCK_PROCESS_CPUTIME_ID`). Less
/// sensitive than wall time to other processes sharing the cores (not immune: caches are shared,
/// and MPI's busy polling counts as CPU time).
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`), as printed by `uptime`.
func loadAverage() -> String {
    guard let f = fopen("/proc/loadavg", "r") else { return "?" }
    defer { fclose(f) }
    var buffer = [CChar](repeating: 0, count: 128)
    guard fgets(&buffer, Int32(buffer.count), f) != nil else { return "?" }
    let text = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

// MARK: - train

/// Per run and rank: `[wall, forward, loss, backward, reduction, optimizer, broadcast, cpu]` seconds.
private let splitNames = ["wall", "forward", "loss", "backward", "reduction", "optimizer", "broadcast", "cpu"]

func trainBench(_ arguments: [String]) throws -> Int32 {
    let args = try BenchArguments(arguments, known: ["config", "runs", "ranks-label", "optimizer-on", "chunk-size", "sgemm-reps", "samples", "reduce"])
    var config = try BenchConfig.named(args.string("config", "tutorial"))
    let runs = try args.int("runs", config.defaultRuns)
    let sgemmReps = try args.int("sgemm-reps", 15)
    config.train.chunkSize = try args.int("chunk-size", config.train.chunkSize)
    config.spec.classification.samples = try args.int("samples", config.spec.classification.samples)
    let placements: [OptimizerPlacement]
    switch args.string("optimizer-on", "root") {
    case "root": placements = [.root]
    case "replicated": placements = [.replicated]
    case "both": placements = [.root, .replicated]
    case let other: throw BenchError("--optimizer-on: '\(other)' is not root, replicated or both")
    }
    let reductions: [String]
    switch args.string("reduce", "exact") {
    case "exact", "fast", "wide": reductions = [args.string("reduce", "exact")]
    case "both": reductions = ["exact", "fast"]
    case "all": reductions = ["exact", "fast", "wide"]
    case let other: throw BenchError("--reduce: '\(other)' is not exact, fast, wide, both or all")
    }
    /// The runs of one round, alternating: placement x reduction; key `root`, `root_fast`, ...
    let variants: [(key: String, placement: OptimizerPlacement, reduce: String)] = placements.flatMap { p in
        reductions.map { r in (r == "exact" ? p.rawValue : "\(p.rawValue)_\(r)", p, r) }
    }

    try MPIRuntime.initialize()
    let comm: Communicator = try MPIRuntime.world
    pinBLASToOneThread()
    let ranks = comm.size, rank = comm.rank
    let label = args.string("ranks-label", "\(ranks) rank\(ranks == 1 ? "" : "s")")
    let loadBefore = loadAverage()
    let rssStart = peakRSSMiB()

    // Data (excluded from the training time).
    try comm.barrier()
    let tData0 = now()
    let source = try comm.agree { try makeSource(config.spec) }
    let data: LocalData<Float> = try loadLocalData(source: source, comm: comm, batchSize: config.train.batchSize,
                                                   chunkSize: config.train.chunkSize)
    let dataSeconds = now() - tData0
    let rssData = peakRSSMiB()
    /// Bytes this rank holds: float32 features and int32 labels of both split parts.
    let shardBytes = Double((data.trainX.count + data.testX.count) * 4 + (data.trainY.count + data.testY.count) * 4)
    let alpha = try classWeights(scheme: .inverse, counts: data.trainCounts)
    let shape = MLPShape(features: data.features, hidden: config.train.hidden, classes: data.classes)

    // The limit: sgemm on every rank at once, before and after the training runs.
    var peaks = [try concurrentSgemmGFlops(comm: comm, reps: sgemmReps)]

    // Training runs (placements alternate within a run, so noise hits them alike).
    var splits: [String: [[Double]]] = [:]
    var wire: [String: Int] = [:]
    for _ in 0..<runs {
        for (key, placement, reduce) in variants {
            var train = config.train
            train.optimizerOn = placement
            train.fastReduce = reduce == "fast"
            train.wideReduce = reduce == "wide"
            let trainer = Trainer<Float>(config: train, comm: comm, data: data, alpha: alpha)
            try comm.barrier()
            let t0 = now(), c0 = cpuSeconds()
            try trainer.train(onEpoch: { _ in })
            let wall = now() - t0, cpu = cpuSeconds() - c0
            let t = trainer.timings
            splits[key, default: []].append([wall, t.forward, t.loss, t.backward, t.reduction, t.optimizer, t.broadcast, cpu])
            wire[key] = trainer.reductionMessageBytes
        }
    }
    peaks.append(try concurrentSgemmGFlops(comm: comm, reps: sgemmReps))
    let rssTrain = peakRSSMiB()
    let loadAfter = loadAverage()

    // Gather per-rank figures on every rank.
    let peakPerRank = try comm.allgather([median(peaks)])
    let memory = try comm.allgather([rssStart, rssData, rssTrain, shardBytes / 1_048_576, dataSeconds,
                                     Double(data.trainY.count)])
    var gathered: [String: [[Double]]] = [:]  // [rank * runs + run] -> split
    for (p, _, _) in variants {
        let flat = try comm.allgather(splits[p]!.flatMap { $0 })
        gathered[p] = stride(from: 0, to: flat.count, by: splitNames.count).map { Array(flat[$0..<($0 + splitNames.count)]) }
    }
    guard rank == 0 else { return 0 }

    // Report.
    let samples = Double(data.globalTrainRows * config.train.epochs)
    let steps = data.trainPlan.batchCount * config.train.epochs
    let flopsPerSample = 6 * Double(shape.macsPerRow)
    /// Executed: forward 2·MACs, weight gradients 2·MACs, input gradients of every layer but the first.
    let executedPerSample = 4 * Double(shape.macsPerRow) + 2 * Double(shape.macsPerRow - shape.features * shape.outputs(0))
    let limit = peakPerRank.reduce(0, +)
    print("focal-bench train: config \(config.name) (\(shape), \(shape.parameterCount) parameters, float32), \(label), "
          + "\(data.globalTrainRows) training rows x \(config.train.epochs) epoch(s), batch \(config.train.batchSize.map(String.init) ?? "full"), "
          + "chunk \(config.train.chunkSize), \(steps) steps; \(runs) runs; load average \(loadBefore) -> \(loadAfter)")
    print("sgemm 4096x256x256, 1 thread, all ranks at once (median of \(2 * sgemmReps) per rank): "
          + peakPerRank.enumerated().map { "rank \($0.offset) \(fixed($0.element, 1))" }.joined(separator: ", ")
          + " GFLOP/s; limit (sum) \(fixed(limit, 1)) GFLOP/s")
    print("OpenBLAS kernels: \(blasCoreName)" + (blasKernelNotice().map { " (\($0))" } ?? ""))
    print("FLOPs per sample: 6 x sum(in*out) = \(Int(flopsPerSample)) (executed, no input gradient of layer 0: \(Int(executedPerSample)))")
    var result: [String] = ["\"config\": \"\(config.name)\"", "\"ranks\": \(ranks)", "\"label\": \"\(label)\"",
                            "\"samples\": \(Int(samples))", "\"steps\": \(steps)", "\"flops_per_sample\": \(Int(flopsPerSample))",
                            "\"executed_flops_per_sample\": \(Int(executedPerSample))", "\"sgemm_limit_gflops\": \(fixed(limit, 2))",
                            "\"load\": \"\(loadBefore) -> \(loadAfter)\""]
    for (p, placement, reduce) in variants {
        let all = gathered[p]!
        // A run's time is its slowest rank's.
        let walls = (0..<runs).map { r in (0..<ranks).map { all[$0 * runs + r][0] }.max()! }
        let wall = median(walls)
        let rate = samples / wall
        let gflops = rate * flopsPerSample / 1e9
        print("")
        let w = wire[p]!
        print("optimizer on \(placement.rawValue), \(reduce) reduction (\(w) bytes per step into the reduction's allreduces, "
              + "\(fixed(Double(w) / Double(4 * shape.parameterCount), 3))x a float32 allreduce of the gradient): median training time \(fixed(wall, 4)) s (runs: \(walls.map { fixed($0, 3) }.joined(separator: " "))); "
              + "\(fixed(rate, 0)) samples/s; \(fixed(gflops, 1)) GFLOP/s = \(fixed(100 * gflops / limit, 1))% of the sgemm limit "
              + "(executed FLOPs: \(fixed(100 * rate * executedPerSample / 1e9 / limit, 1))%)")
        print("step split, ms per step (median over runs; 'other' = wall - timed parts, e.g. the untimed reducer.add per chunk;")
        print("cpu = process CPU time per step; samples/cpu-s = this rank's training rows per CPU second):")
        print(pad("rank", 5) + splitNames.dropFirst().dropLast().map { pad($0, 11) }.joined() + pad("other", 9) + pad("wall", 9)
              + pad("cpu", 9) + pad("samples/cpu-s", 15))
        for r in 0..<ranks {
            let parts = (0..<(splitNames.count - 1)).map { i in median((0..<runs).map { all[r * runs + $0][i] }) * 1e3 / Double(steps) }
            let cpu = median((0..<runs).map { all[r * runs + $0][splitNames.count - 1] })
            let other = parts[0] - parts.dropFirst().reduce(0, +)
            let mine = Double(memory[r * 6 + 5] * Double(config.train.epochs))
            print(pad("\(r)", 5) + parts.dropFirst().map { pad(fixed($0, 3), 11) }.joined() + pad(fixed(other, 3), 9) + pad(fixed(parts[0], 3), 9)
                  + pad(fixed(cpu * 1e3 / Double(steps), 3), 9) + pad(fixed(mine / cpu, 0), 15))
            if r == 0 {
                result += ["\"\(p)_seconds\": \(fixed(wall, 5))", "\"\(p)_samples_per_s\": \(fixed(rate, 1))",
                           "\"\(p)_gflops\": \(fixed(gflops, 2))", "\"\(p)_wire_bytes\": \(w)",
                           "\"\(p)_runs_s\": [" + walls.map { fixed($0, 4) }.joined(separator: ", ") + "]",
                           "\"\(p)_samples_per_cpu_s\": \(fixed(mine / cpu, 1))",
                           "\"\(p)_cpu_s\": [" + (0..<runs).map { run in
                               fixed((0..<ranks).map { all[$0 * runs + run][splitNames.count - 1] }.reduce(0, +), 4)
                           }.joined(separator: ", ") + "]",
                           "\"\(p)_split_ms\": [" + parts.map { fixed($0, 4) }.joined(separator: ", ") + "]"]
            }
        }
    }
    print("")
    print("memory per rank (peak RSS, MiB): start, after data, after training; shard = float32 features + int32 labels held")
    for r in 0..<ranks {
        let m = memory[r * 6..<(r * 6 + 6)].map { $0 }
        print("  rank \(r): \(fixed(m[0], 1)) / \(fixed(m[1], 1)) / \(fixed(m[2], 1)) MiB; shard \(fixed(m[3], 1)) MiB "
              + "(\(Int(m[5])) training rows); peak - shard = \(fixed(m[2] - m[3], 1)) MiB; data ready in \(fixed(m[4], 3)) s")
    }
    result += ["\"peak_rss_mib\": [" + (0..<ranks).map { fixed(memory[$0 * 6 + 2], 1) }.joined(separator: ", ") + "]",
               "\"shard_mib\": [" + (0..<ranks).map { fixed(memory[$0 * 6 + 3], 1) }.joined(separator: ", ") + "]"]
    print("RESULT {" + result.joined(separator: ", ") + "}")
    return 0
}
