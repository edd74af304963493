// MemoryBudget: what a run will allocate, estimated before anything large is allocated, against
// the memory of the host; a run that cannot fit is refused in one line (exit 2) instead of
// aborting in an allocation or swapping. Also refuses step counts that cannot be counted.
import Collectives
import FocalCore
import FocalData
import FocalFormats
import FocalReport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The estimate

/// Bytes one rank allocates for a run, counted in float64 so that absurd sizes stay numbers.
/// Sizes follow the allocations in `Trainer`, `ExactReducer`, `MLPWorkspace` and `loadLocalData`.
public struct MemoryEstimate: Sendable, Equatable {
    public var parameters: Double
    public var total: Double

    /// - Parameters: `scalarBytes` 4 or 8 (the training precision); `trainRows`/`testRows` global;
    ///   `sequential` when the source delivers all of a rank's rows as float64 in one call.
    public init(features: Int, hidden: [Int], classes: Int, scalarBytes: Int, trainRows: Int, testRows: Int,
                batchSize: Int?, chunkSize: Int, ranks: Int, exactReduce: Bool, sequential: Bool) {
        let s = Double(scalarBytes), ranksD = Double(max(ranks, 1))
        let widths = ([features] + hidden + [max(classes, 2)]).map { Double(max($0, 0)) }
        var p = 0.0
        for l in 1..<widths.count { p += widths[l - 1] * widths[l] + widths[l] }
        parameters = p
        let nTrain = Double(max(trainRows, 0)), nTest = Double(max(testRows, 0))
        let batch = min(Double(max(batchSize ?? trainRows, 1)), max(nTrain, 1))
        let chunkRows = min(Double(max(chunkSize, 1)), max(nTrain, nTest, 1))
        let chunksPerRank = exactReduce ? max(1, ((batch / chunkRows).rounded(.up) / ranksD).rounded(.up)) : 1
        // Trainer: params, Adam m and v, one chunk's gradient, the step's gradient, the initial
        // parameters (or a checkpoint's three arrays while they are shared).
        var bytes = 8 * p * s
        // ExactReducer: partials [chunks, P+2] float64; exponents Int32, fixed Int64, scales and
        // largest magnitudes float64 [P+2]; the trainer's sums [P+2] float64.
        bytes += (p + 2) * (8 * chunksPerRank + 4 + 8 + 8 + 8 + 8)
        // MLPWorkspace: one activation buffer per layer, two delta buffers [chunk, max width],
        // the logits' gradient [chunk, classes]; its copy of the parameters (weights transposed).
        let maxWidth = widths.max() ?? 1
        bytes += chunkRows * (widths.dropFirst().reduce(0, +) + 2 * maxWidth + widths.last!) * s
        bytes += p * s
        // The shard in the training precision (and its labels), and the float64 rows while they
        // are converted: all of them for a sequential source, one block otherwise.
        let localRows = (nTrain + nTest) / ranksD + 2 * chunkRows
        bytes += localRows * (widths[0] * s + 4)
        bytes += (sequential ? localRows : min(localRows, 16_384)) * widths[0] * 8
        // Held-out probabilities [test rows, classes] and the gathered scores and labels.
        bytes += nTest / ranksD * widths.last! * s + nTest * 12
        total = bytes
    }
}

/// `bytes` for people: "1.5 GB", "730.0 MB" (powers of 1000, one decimal).
public func formatBytes(_ bytes: Double) -> String {
    guard bytes.isFinite else { return "\(bytes) bytes" }
    for (unit, size) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] where bytes >= size {
        return formatFixed(bytes / size, digits: 1) + " " + unit
    }
    return formatFixed(bytes, digits: 0) + " bytes"
}

// MARK: - The host

/// The memory a process on this host may still use: `MemAvailable` of /proc/meminfo, lowered to
/// the cgroup's limit minus its usage when one is set (v2 `memory.max`, v1 `limit_in_bytes`),
/// and to `FOCAL_MEMORY_LIMIT` (bytes) when that is set. nil when nothing can be read.
public struct HostMemory: Sendable, Equatable {
    public var available: Double
    public var total: Double?
    /// Where `available` came from, for the message.
    public var source: String

    public static func current() -> HostMemory? {
        var best: HostMemory?
        func lower(_ bytes: Double, _ source: String, total: Double? = nil) {
            guard bytes.isFinite, bytes >= 0 else { return }
            if best == nil || bytes < best!.available {
                best = HostMemory(available: bytes, total: total ?? best?.total, source: source)
            }
        }
        if let info = readText("/proc/meminfo") {
            var fields: [String: Double] = [:]
            for line in info.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == ":" })
                if parts.count >= 2, let kb = Double(parts[1]) { fields[String(parts[0])] = kb * 1024 }
            }
            if let a = fields["MemAvailable"] ?? fields["MemFree"] { lower(a, "available memory", total: fields["MemTotal"]) }
        }
        if let limit = readNumber("/sys/fs/cgroup/memory.max"), limit < 1e18 {
            lower(limit - (readNumber("/sys/fs/cgroup/memory.current") ?? 0), "the cgroup's memory limit", total: limit)
        } else if let limit = readNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit < 1e18 {
            lower(limit - (readNumber("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0), "the cgroup's memory limit", total: limit)
        }
        if let text = getenv("FOCAL_MEMORY_LIMIT").map({ String(cString: $0) }), let limit = Double(text) {
            lower(limit, "FOCAL_MEMORY_LIMIT")
        }
        return best
    }

    /// A small kernel file read to its end (/proc and /sys files report size 0).
    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while out.count < 1 << 20 {
            let r = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { break }
            out += buffer[0..<r]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func readNumber(_ path: String) -> Double? {
        readText(path).flatMap { Double($0.split(separator: "\n").first.map(String.init) ?? "") }
    }
}

// MARK: - The check

/// A run refused before it starts (exit 2).
public struct RunRefused: Error, ClassifiedError, CustomStringConvertible, Sendable {
    public var message: String
    public var failureKind: FailureKind { .usage }
    public var description: String { message }
}

/// The sizes of a run's data that the estimate needs, from an open source or, for generated data,
/// from its parameters before anything is generated.
struct DataSize {
    var features: Int, classes: Int, trainRows: Int, testRows: Int
    var sequential: Bool
    /// Bytes the source itself holds per rank (the sklearn generator's per-row indices).
    var sourceBytes: Double

    init(_ source: DataSource) {
        features = source.features; classes = source.classes
        trainRows = source.trainCount; testRows = source.testCount
        sequential = source.isSequential
        sourceBytes = 0
    }

    init(_ plan: ClassificationPlan) {
        features = plan.features; classes = plan.classes
        trainRows = plan.trainCount; testRows = plan.testCount
        sequential = plan.generator == .sklearn
        // SklearnDataSource: labels (Int32), row order, split positions and pass 2's slots (Int).
        sourceBytes = plan.generator == .sklearn ? Double(plan.samples) * 28 : 0
    }
}

extension TrainingRun {
    /// Refuses, on every rank alike, a run whose step count overflows or whose memory does not fit
    /// the host: the ranks sharing a host (same processor name) add up their estimates.
    func checkMemory(_ data: DataSize) throws {
        let t = config.train
        let plan = ChunkPlan(rows: data.trainRows, batchSize: max(1, t.batchSize ?? data.trainRows),
                             chunkSize: t.chunkSize, ranks: comm.size)
        let (_, overflow) = t.epochs.multipliedReportingOverflow(by: max(plan.batchCount, 1))
        if overflow || Double(t.epochs) * Double(plan.batchCount) > 9.0e15 {
            throw RunRefused(message: "--epochs: \(t.epochs) epochs of \(plan.batchCount) steps each is more steps than can be counted (at most 9e15)")
        }
        let estimate = MemoryEstimate(features: data.features, hidden: t.hidden, classes: data.classes,
                                      scalarBytes: MemoryLayout<T>.size, trainRows: data.trainRows,
                                      testRows: data.testRows, batchSize: t.batchSize, chunkSize: t.chunkSize,
                                      ranks: comm.size, exactReduce: !t.fastReduce, sequential: data.sequential)
        let mine = min(estimate.total + data.sourceBytes, 9.0e18)
        // One gather of (host name, estimate) per rank: who shares this rank's host, and their sum.
        let host = Array(comm.processorName.utf8)
        let names = try comm.allgatherv(host)
        let needs = try comm.allgather([mine])
        var onHost = 0, need = 0.0
        for (r, name) in names.enumerated() where name == host { onHost += 1; need += needs[r] }
        try comm.agree {
            guard let memory = HostMemory.current(), need > memory.available else { return }
            let ranks = onHost == 1 ? "" : " (\(onHost) ranks on this host)"
            let total = memory.total.map { ", \(formatBytes($0)) in all" } ?? ""
            throw RunRefused(message: "the run needs about \(formatBytes(need)) of memory on this host\(ranks) (a model of \(formatFixed(estimate.parameters, digits: 0)) parameters with Adam state, gradients and reduction buffers, and the data), but \(memory.source) is \(formatBytes(memory.available))\(total); use a smaller --hidden, --chunk-size or --batch-size, or more hosts")
        }
    }
}
