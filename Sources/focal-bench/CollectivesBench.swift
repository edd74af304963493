// CollectivesBench: `focal-bench collectives`: the gradient reduction's collectives alone, per
// reduction scheme and parameter count, timed under mpirun (for docs/SCALING.md's model).
//
// A scheme is the list of allreduce calls one training step makes for P parameters:
//   exact     the default (`CompactExactReducer`): UInt8 MAX of P + 5 (1-byte exponents of the
//             P gradient values and 2 extras, 3 flags), then Int32 SUM of P + 6    5 B/param, 2 calls
//   wide      `--wide-reduce` (0.2.0's `ExactReducer`): Int32 MAX of P + 4 and Int64 SUM of P
//             (the trainer sends P + 6 and P + 2: 40 bytes more per step, below this timing's
//             resolution; the committed records were taken with these counts)     12 B/param, 2 calls
//   fast      `--fast-reduce`: one float64 SUM of P + 3 (the trainer: P + 5)       8 B/param, 1 call
//   float32   one float32 SUM of P (the plain reference, not deterministic)        4 B/param, 1 call
//   broadcast not a reduction: `--optimizer-on root`'s broadcast of P float32 parameters
//             from rank 0 after the step (4 B/param, 1 call)
// Buffers are zero, so sums stay zero (no overflow, no denormals) over any number of repetitions.

import CMPI
import Collectives
import SwiftMPI

/// One reduction scheme: its name and its collectives for `p` parameters.
struct ReductionScheme: Sendable {
    let name: String
    /// Bytes per parameter on the wire (nominal, for the table).
    let bytesPerParameter: Int
    /// `(element kind, element count)` per allreduce call of one step.
    let calls: @Sendable (Int) -> [(kind: String, count: Int)]

    static let all: [ReductionScheme] = [
        ReductionScheme(name: "exact", bytesPerParameter: 5) { p in [("uint8-max", p + 5), ("int32-sum", p + 6)] },
        ReductionScheme(name: "wide", bytesPerParameter: 12) { p in [("int32-max", p + 4), ("int64-sum", p)] },
        ReductionScheme(name: "fast", bytesPerParameter: 8) { p in [("float64-sum", p + 3)] },
        ReductionScheme(name: "float32", bytesPerParameter: 4) { p in [("float32-sum", p)] },
        ReductionScheme(name: "broadcast", bytesPerParameter: 4) { p in [("float32-bcast", p)] },
    ]

    static func bytes(kind: String, count: Int) -> Int {
        switch kind {
        case "uint8-max": return count
        case "int64-sum", "float64-sum": return 8 * count
        default: return 4 * count  // int32-max, int32-sum, float32-sum, float32-bcast
        }
    }
}

/// Throws `CommError.mpi` when an MPI call made here directly returns an error code.
private func mpiCheck(_ code: Int32, _ call: String) throws {
    if code != MPI_SUCCESS { throw CommError.mpi(call: call, code: code, message: "focal-bench collectives") }
}

/// Runs one scheme's calls once on zeroed buffers.
private final class SchemeBuffers {
    var f32: [Float] = [], f64: [Double] = [], i32max: [Int32] = [], i32sum: [Int32] = [], i64: [Int64] = []
    var u8max: [UInt8] = []
    let calls: [(kind: String, count: Int)]

    init(calls: [(kind: String, count: Int)]) {
        self.calls = calls
        for (kind, count) in calls {
            switch kind {
            case "uint8-max": u8max = [UInt8](repeating: 0, count: count)
            case "int32-max": i32max = [Int32](repeating: 0, count: count)
            case "int32-sum": i32sum = [Int32](repeating: 0, count: count)
            case "int64-sum": i64 = [Int64](repeating: 0, count: count)
            case "float64-sum": f64 = [Double](repeating: 0, count: count)
            default: f32 = [Float](repeating: 0, count: count)  // float32-sum, float32-bcast
            }
        }
    }

    func step(_ comm: Communicator) throws {
        for (kind, _) in calls {
            switch kind {
            case "uint8-max": try comm.allreduce(&u8max, op: .max)
            case "int32-max": try comm.allreduce(&i32max, op: .max)
            case "int32-sum": try comm.allreduce(&i32sum, op: .sum)
            case "int64-sum": try comm.allreduce(&i64, op: .sum)
            case "float64-sum": try comm.allreduce(&f64, op: .sum)
            case "float32-sum": try comm.allreduce(&f32, op: .sum)
            default: try comm.broadcast(&f32, root: 0)  // float32-bcast
            }
        }
    }
}

extension SchemeBuffers {
    /// The local combine of one step alone: `MPI_Reduce_local` of a zero `[bytes]` source into each
    /// call's buffer with the call's datatype and op (what every rank computes per byte received).
    func localCombine(source: UnsafeRawPointer) throws {
        for (kind, count) in calls where kind != "float32-bcast" {  // a broadcast combines nothing
            let (type, op): (MPI_Datatype?, MPI_Op?) = switch kind {
            case "uint8-max": (cmpi_uint8(), cmpi_op_max())
            case "int32-max": (cmpi_int32(), cmpi_op_max())
            case "int32-sum": (cmpi_int32(), cmpi_op_sum())
            case "int64-sum": (cmpi_int64(), cmpi_op_sum())
            case "float64-sum": (cmpi_double(), cmpi_op_sum())
            default: (cmpi_float(), cmpi_op_sum())  // float32-sum
            }
            func run(_ target: UnsafeMutableRawPointer?) throws {
                try mpiCheck(MPI_Reduce_local(source, target, Int32(count), type, op), "MPI_Reduce_local")
            }
            switch kind {
            case "uint8-max": try u8max.withUnsafeMutableBytes { try run($0.baseAddress) }
            case "int32-max": try i32max.withUnsafeMutableBytes { try run($0.baseAddress) }
            case "int32-sum": try i32sum.withUnsafeMutableBytes { try run($0.baseAddress) }
            case "int64-sum": try i64.withUnsafeMutableBytes { try run($0.baseAddress) }
            case "float64-sum": try f64.withUnsafeMutableBytes { try run($0.baseAddress) }
            default: try f32.withUnsafeMutableBytes { try run($0.baseAddress) }
            }
        }
    }
}

func quantile(_ values: [Double], _ q: Double) -> Double {
    let s = values.sorted()
    let x = q * Double(s.count - 1)
    let i = Int(x), f = x - Double(i)
    return i + 1 < s.count ? s[i] * (1 - f) + s[i + 1] * f : s[i]
}

/// For each scheme and parameter count: one warm-up step, then `reps` steps (fewer when the
/// warm-up says they would take longer than `--budget` seconds, at least `--min-reps`), each
/// after a barrier. A step's time is its slowest rank's (elementwise MAX allreduce of the
/// per-step times at the end); the table gives the median and quartiles over steps, and the
/// local combine alone (`MPI_Reduce_local` of the same calls: the op's CPU cost per step).
func collectivesBench(_ arguments: [String]) throws -> Int32 {
    let args = try BenchArguments(arguments, known: ["params", "schemes", "reps", "min-reps", "budget", "label"])
    let params = try args.string("params", "1474,84488,10508296").split(separator: ",").map { text -> Int in
        guard let p = Int(text), p >= 1 else { throw BenchError("--params: '\(text)' must be an integer >= 1") }
        return p
    }
    let names = args.string("schemes", ReductionScheme.all.map(\.name).filter { $0 != "broadcast" }.joined(separator: ","))
        .split(separator: ",").map(String.init)
    let schemes = try names.map { name in
        guard let s = ReductionScheme.all.first(where: { $0.name == name }) else {
            throw BenchError("--schemes: '\(name)' is not one of \(ReductionScheme.all.map(\.name).joined(separator: ", "))")
        }
        return s
    }
    let maxReps = try args.int("reps", 41)
    let minReps = min(maxReps, try args.int("min-reps", 3))
    let budget = Double(try args.int("budget", 20))
    let label = args.string("label", "")

    try MPIRuntime.initialize()
    let comm: Communicator = try MPIRuntime.world
    let hostNames = try comm.allgatherv(Array(comm.processorName.utf8)).map { String(decoding: $0, as: UTF8.self) }
    var distinct: [String] = []
    for h in hostNames where !distinct.contains(h) { distinct.append(h) }
    /// Rank -> host index, in order of first appearance.
    let layout = hostNames.map { distinct.firstIndex(of: $0)! }
    let load0 = loadAverage()

    var rows: [String] = []
    var points: [String] = []
    for p in params {
        for scheme in schemes {
            let calls = scheme.calls(p)
            let buffers = SchemeBuffers(calls: calls)
            try comm.barrier()
            var t0 = now()
            try buffers.step(comm)
            var warm = [now() - t0]
            try comm.allreduce(&warm, op: .max)
            let reps = max(minReps, min(maxReps, Int(budget / max(warm[0], 1e-9))))
            var times = [Double](repeating: 0, count: reps)
            for r in 0..<reps {
                try comm.barrier()
                t0 = now()
                try buffers.step(comm)
                times[r] = now() - t0
            }
            try comm.allreduce(&times, op: .max)
            // The local combine alone (rank 0's median of 5 after one warm-up; every rank runs it).
            let bytesTotal = calls.reduce(0) { $0 + ReductionScheme.bytes(kind: $1.kind, count: $1.count) }
            let source = [UInt8](repeating: 0, count: bytesTotal)
            var combine: [Double] = []
            try source.withUnsafeBytes { src in
                for r in 0..<6 {
                    t0 = now()
                    try buffers.localCombine(source: src.baseAddress!)
                    if r > 0 { combine.append(now() - t0) }
                }
            }
            let bytes = calls.reduce(0) { $0 + ReductionScheme.bytes(kind: $1.kind, count: $1.count) }
            let med = median(times), q1 = quantile(times, 0.25), q3 = quantile(times, 0.75)
            rows.append(pad(scheme.name, 13) + pad("\(p)", 10) + pad("\(bytes)", 11) + pad("\(calls.count)", 6)
                        + pad("\(reps)", 6) + pad(fixed(med * 1e6, 1), 13) + pad(fixed(q1 * 1e6, 1), 13)
                        + pad(fixed(q3 * 1e6, 1), 13) + pad(fixed(median(combine) * 1e6, 1), 13))
            let callList = calls.map { "[\"\($0.kind)\", \($0.count)]" }.joined(separator: ", ")
            points.append("{\"scheme\": \"\(scheme.name)\", \"params\": \(p), \"bytes\": \(bytes), \"calls\": [\(callList)], "
                          + "\"reps\": \(reps), \"median_us\": \(fixed(med * 1e6, 2)), \"q1_us\": \(fixed(q1 * 1e6, 2)), "
                          + "\"q3_us\": \(fixed(q3 * 1e6, 2)), \"min_us\": \(fixed(times.min()! * 1e6, 2)), "
                          + "\"local_combine_us\": \(fixed(median(combine) * 1e6, 2))}")
        }
    }
    let load1 = loadAverage()
    guard comm.rank == 0 else { return 0 }
    print("focal-bench collectives: \(comm.size) rank(s) on \(distinct.count) host(s) (rank -> host: "
          + layout.map(String.init).joined(separator: " ") + ")\(label.isEmpty ? "" : ", " + label); "
          + "per step: slowest rank, median and quartiles over steps; load average \(load0) -> \(load1)")
    print(pad("scheme", 13) + pad("params", 10) + pad("bytes", 11) + pad("calls", 6) + pad("reps", 6)
          + pad("median µs", 13) + pad("q1 µs", 13) + pad("q3 µs", 13) + pad("combine µs", 13))
    rows.forEach { print($0) }
    print("RESULT {\"bench\": \"collectives\", \"ranks\": \(comm.size), \"hosts\": \(distinct.count), "
          + "\"rank_hosts\": [\(layout.map(String.init).joined(separator: ", "))], \"label\": \"\(label)\", "
          + "\"load\": \"\(load0) -> \(load1)\", \"points\": [\(points.joined(separator: ", "))]}")
    return 0
}
