// focal-bench: benchmarks (training throughput against the sgemm peak, data generation, exact vs
// plain reduction, the Swift allreduce wrapper against plain C MPI_Allreduce; sgemm peak).
//
// Usage: focal-bench <subcommand> [options]. Each subcommand is one entry of `subcommands` below;
// add new ones there. `train`, `datagen`, `reduce`, `allreduce` and `collectives` run under `mpirun -n N`;
// `sgemm` runs without MPI. docs/PERFORMANCE.md gives the commands and the measured figures.

import CBLAS
import CMPI
import Collectives
import Foundation
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Subcommands

struct Subcommand {
    let name: String
    let summary: String
    let run: ([String]) throws -> Int32
}

let subcommands: [Subcommand] = [
    Subcommand(name: "train",
               summary: "training samples/s, GFLOP/s vs the concurrent sgemm limit, step split, memory "
                   + "[--config tutorial|large] [--runs N] [--optimizer-on root|replicated|both] [--reduce exact|fast|wide|both|all] [--ranks-label TEXT] [--chunk-size N] [--samples N] [--sgemm-reps N]",
               run: trainBench),
    Subcommand(name: "datagen",
               summary: "data generation rows/s per rank and peak memory vs shard "
                   + "[--generator sklearn|counter] [--samples N] [--features N] [--runs N]",
               run: datagenBench),
    Subcommand(name: "reduce",
               summary: "ms per step: exact (fixed-point) reduction vs plain float/double allreduce "
                   + "[--width N] [--chunks N] [--reps N]",
               run: reduceBench),
    Subcommand(name: "allreduce",
               summary: "median µs per in-place float allreduce, Swift wrapper vs C MPI_Allreduce (run under mpirun -n 2)",
               run: allreduceBench),
    Subcommand(name: "collectives",
               summary: "µs per step of each reduction scheme's allreduce calls at given parameter counts (under mpirun) "
                   + "[--params P,P,...] [--schemes NAME,...] [--reps N] [--min-reps N] [--budget SECONDS] [--label TEXT]",
               run: collectivesBench),
    Subcommand(name: "sgemm",
               summary: "single-thread cblas_sgemm GFLOP/s for 4096x256x256 (median of runs)",
               run: sgemmBench),
]

// MARK: - Timing helpers

/// Seconds on the project's one monotonic clock.
func now() -> Double { monotonicSeconds() }

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func pad(_ s: String, _ width: Int) -> String {
    String(repeating: " ", count: Swift.max(0, width - s.count)) + s
}

func fixed(_ x: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", x)
}

// MARK: - allreduce

/// For each message size: `runs` rounds, each timing one block of `reps` C calls and one block of
/// `reps` Swift calls (order alternating between rounds), after a barrier; per-call time is the
/// block time / reps on rank 0, and the table shows the median over rounds.
func allreduceBench(_ arguments: [String]) throws -> Int32 {
    try MPIRuntime.initialize()
    let concrete = try MPIRuntime.world
    /// The wrapper as the trainer sees it: through the protocol existential.
    let comm: any Communicator = concrete
    /// (bytes, repetitions per timed block): short blocks (about 0.5-15 ms) and many rounds, so
    /// that the median survives the other processes sharing the two cores.
    let sizes: [(bytes: Int, reps: Int)] = [(8, 2000), (4096, 500), (65_536, 100), (1 << 20, 10), (16 << 20, 2)]
    let runs = 41
    /// [16 MiB / 4] floats, all zero (sums stay zero: no overflow, no denormals).
    var buffer = [Float](repeating: 0, count: (16 << 20) / 4)
    var rows: [String] = []
    let cWorld = cmpi_comm_world(), cFloat = cmpi_float(), cSum = cmpi_op_sum(), inPlace = cmpi_in_place()

    try buffer.withUnsafeMutableBufferPointer { whole in
        let base = whole.baseAddress!
        for (bytes, reps) in sizes {
            let count = bytes / 4
            let view = UnsafeMutableBufferPointer(start: base, count: count)
            func cBlock() throws -> Double {
                try comm.barrier()
                let t0 = now()
                for _ in 0..<reps {
                    let rc = MPI_Allreduce(inPlace, base, Int32(count), cFloat, cSum, cWorld)
                    if rc != MPI_SUCCESS { throw CommError.mpi(call: "MPI_Allreduce", code: rc, message: "bench") }
                }
                return (now() - t0) / Double(reps)
            }
            func swiftBlock() throws -> Double {
                try comm.barrier()
                let t0 = now()
                for _ in 0..<reps { try comm.allreduce(view, op: .sum) }
                return (now() - t0) / Double(reps)
            }
            _ = try cBlock()  // warm-up
            _ = try swiftBlock()
            var cTimes: [Double] = []
            var swiftTimes: [Double] = []
            for run in 0..<runs {
                if run % 2 == 0 {
                    cTimes.append(try cBlock())
                    swiftTimes.append(try swiftBlock())
                } else {
                    swiftTimes.append(try swiftBlock())
                    cTimes.append(try cBlock())
                }
            }
            // Added time: the median of the per-round differences (paired, so a slow round
            // affects both of its blocks alike), not the difference of the medians.
            let c = median(cTimes), s = median(swiftTimes)
            let added = median(zip(swiftTimes, cTimes).map { $0 - $1 })
            let label = bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : bytes >= 1024 ? "\(bytes >> 10) KiB" : "\(bytes) B"
            rows.append(pad(label, 8) + pad(fixed(c * 1e6, 2), 12) + pad(fixed(s * 1e6, 2), 12)
                        + pad(fixed(added * 1e9, 0), 11) + pad(fixed(s / c, 3), 8))
        }
    }
    if concrete.rank == 0 {
        print("allreduce, in place, MPI_FLOAT sum, ranks=\(concrete.size), \(runs) rounds, median per call (rank 0);"
              + " added = median of per-round (Swift - C)")
        print(pad("size", 8) + pad("C µs", 12) + pad("Swift µs", 12) + pad("added ns", 11) + pad("ratio", 8))
        rows.forEach { print($0) }
    }
    return 0
}

// MARK: - sgemm

/// C[M,N] = A[M,K] · B[K,N], row-major, M=4096, N=256, K=256, one OpenBLAS thread; 2MNK flops.
func sgemmBench(_ arguments: [String]) throws -> Int32 {
    let gflops = try sgemmGFlops(reps: 9)
    print("sgemm 4096x256x256 (MxNxK), 1 thread: \(fixed(gflops, 1)) GFLOP/s (median of 9 runs)")
    return 0
}

// MARK: - Main

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let command = subcommands.first(where: { $0.name == name }) else {
    print("usage: focal-bench <subcommand>")
    for s in subcommands { print("  " + s.name.padding(toLength: 11, withPad: " ", startingAt: 0) + "  " + s.summary) }
    MPIRuntime.exit(code: arguments.isEmpty || arguments.first == "--help" ? 0 : 2)
}
do {
    let code = try command.run(Array(arguments.dropFirst()))
    MPIRuntime.exit(code: code)
} catch let error as BenchError {
    print("focal-bench \(name): \(error)")  // a bad option or value: usage, as focal-ddp's exit 2
    MPIRuntime.exit(code: 2)
} catch {
    print("focal-bench \(name): \(error)")
    MPIRuntime.exit(code: 1)
}
