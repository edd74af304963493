// DataReduceBench: `focal-bench datagen` (generation rows/s per rank, peak memory against the
// shard) and `focal-bench reduce` (the exact reduction of one step against a plain allreduce).

import Collectives
import FocalCore
import FocalData
import SwiftMPI

// MARK: - datagen

/// Each rank materialises the rows it owns under the tutorial's plan (full batch, chunks of 256),
/// as `loadLocalData` does. First one `loadLocalData` (float32 shard, counts agreed) for the time
/// and peak memory, then `runs` timed calls of the source's `rows(train:test:)` (float64 rows).
func datagenBench(_ arguments: [String]) throws -> Int32 {
    let args = try BenchArguments(arguments, known: ["generator", "samples", "features", "runs"])
    var spec = DatasetSpec()
    guard let generator = GeneratorKind(rawValue: args.string("generator", "counter")) else {
        throw BenchError("--generator: '\(args.string("generator", ""))' is not sklearn or counter")
    }
    spec.generator = generator
    spec.classification.samples = try args.int("samples", 1_000_000)
    spec.classification.features = try args.int("features", 20)
    let runs = try args.int("runs", 3)

    try MPIRuntime.initialize()
    let comm: Communicator = try MPIRuntime.world
    let load0 = loadAverage()
    let rssStart = peakRSSMiB()
    let source = try makeSource(spec)
    try comm.barrier()
    var t0 = now()
    let data: LocalData<Float> = try loadLocalData(source: source, comm: comm, batchSize: nil, chunkSize: 256)
    let loadSeconds = now() - t0
    let rssLoaded = peakRSSMiB()
    let ownedRows = data.trainY.count + data.testY.count
    let shardMiB = Double((data.trainX.count + data.testX.count) * 4 + ownedRows * 4) / 1_048_576

    let train = data.trainPlan.ownedRanges(rank: comm.rank), test = data.testPlan.ownedRanges(rank: comm.rank)
    var times: [Double] = []
    for _ in 0..<runs {
        try comm.barrier()
        t0 = now()
        let rows = try source.rows(train: train, test: test)
        times.append(now() - t0)
        precondition(rows.train.count + rows.test.count == ownedRows, "datagen: row count changed between calls")
    }
    let g = median(times)
    let mine = [Double(ownedRows), g, loadSeconds, rssStart, rssLoaded, shardMiB]
    let all = try comm.allgather(mine)
    guard comm.rank == 0 else { return 0 }
    let total = spec.classification.samples
    print("focal-bench datagen: generator \(generator.rawValue), \(total) x \(spec.classification.features), "
          + "\(comm.size) rank(s), median of \(runs) runs of rows(train:test:); load average \(load0) -> \(loadAverage())")
    print(pad("rank", 5) + pad("rows held", 11) + pad("gen s", 9) + pad("rows/s held", 14) + pad("dataset rows/s", 16)
          + pad("load s", 9) + pad("RSS start", 11) + pad("RSS peak", 10) + pad("shard MiB", 11) + pad("peak-shard", 12))
    var perRank: [String] = []
    for r in 0..<comm.size {
        let m = Array(all[(r * mine.count)..<((r + 1) * mine.count)])
        print(pad("\(r)", 5) + pad("\(Int(m[0]))", 11) + pad(fixed(m[1], 3), 9) + pad(fixed(m[0] / m[1], 0), 14)
              + pad(fixed(Double(total) / m[1], 0), 16) + pad(fixed(m[2], 3), 9) + pad(fixed(m[3], 1), 11)
              + pad(fixed(m[4], 1), 10) + pad(fixed(m[5], 1), 11) + pad(fixed(m[4] - m[5], 1), 12))
        perRank.append(fixed(m[0] / m[1], 0))
    }
    print("RESULT {\"generator\": \"\(generator.rawValue)\", \"ranks\": \(comm.size), \"rows_per_s_per_rank\": [\(perRank.joined(separator: ", "))]}")
    return 0
}

// MARK: - reduce

/// One step's gradient reduction at the large configuration's size: `width` = 84,488 parameters
/// + loss and weight sums, `chunks` = 16 chunks of 256 rows per 4096-row batch, split over the
/// ranks as the chunk plan does. Exact: `reset`, `add` of each local chunk, `reduce` (Int32 MAX +
/// Int64 SUM allreduce). Plain: one in-place float32 (or float64) SUM allreduce of `width` values.
/// Steps alternate, each after a barrier; medians of rank 0's times.
func reduceBench(_ arguments: [String]) throws -> Int32 {
    let args = try BenchArguments(arguments, known: ["width", "chunks", "reps"])
    let width = try args.int("width", 84_490)
    let chunks = try args.int("chunks", 16)
    let reps = try args.int("reps", 41)
    try MPIRuntime.initialize()
    let comm: Communicator = try MPIRuntime.world
    let load0 = loadAverage()
    let local = (comm.rank * chunks / comm.size)..<((comm.rank + 1) * chunks / comm.size)
    let main = width - 2
    /// `[local.count, main]`: per-chunk float32 partials (gradient-like magnitudes, mixed signs).
    let partials: [Float] = (0..<(local.count * main)).map { i in
        Float((i &* 2_654_435_761) % 2001 - 1000) * 1e-6
    }
    let reducer = ExactReducer(width: width, localCapacity: max(1, local.count))
    var sums = [Double](repeating: 0, count: width)
    /// `[width]` plain float32 and float64 buffers (zero: sums stay finite over the repetitions).
    var plainF = [Float](repeating: 0, count: width)
    var plainD = [Double](repeating: 0, count: width)
    /// `[width + 3]` and `[width]`: the exact reducer's two collectives alone (Int32 MAX, Int64 SUM).
    var ints32 = [Int32](repeating: 0, count: width + 3)
    var ints64 = [Int64](repeating: 0, count: width)
    var addT: [Double] = [], reduceT: [Double] = [], floatT: [Double] = [], doubleT: [Double] = [], intT: [Double] = []
    let extra = [1.5, 2.5]
    for rep in 0...reps {
        try comm.barrier()
        let t0 = now()
        reducer.reset()
        partials.withUnsafeBufferPointer { p in
            for c in 0..<local.count { reducer.add(main: p.baseAddress! + c * main, mainCount: main, extra: extra) }
        }
        let t1 = now()
        _ = try reducer.reduce(comm, chunksInStep: chunks, result: &sums)
        let t2 = now()
        try comm.barrier()
        let t3 = now()
        try comm.allreduce(&plainF, op: .sum)
        let t4 = now()
        try comm.barrier()
        let t5 = now()
        try comm.allreduce(&plainD, op: .sum)
        let t6 = now()
        try comm.barrier()
        let t7 = now()
        try comm.allreduce(&ints32, op: .max)
        try comm.allreduce(&ints64, op: .sum)
        let t8 = now()
        if rep > 0 {  // rep 0 warms up
            intT.append(t8 - t7)
            addT.append(t1 - t0)
            reduceT.append(t2 - t1)
            floatT.append(t4 - t3)
            doubleT.append(t6 - t5)
        }
    }
    guard comm.rank == 0 else { return 0 }
    let a = median(addT) * 1e3, r = median(reduceT) * 1e3, f = median(floatT) * 1e3, d = median(doubleT) * 1e3
    let i = median(intT) * 1e3
    print("focal-bench reduce: \(width) values, \(chunks) chunks per step (\(local.count) on rank 0), \(comm.size) rank(s), "
          + "median of \(reps) steps (rank 0); load average \(load0) -> \(loadAverage())")
    print("  exact:  add \(fixed(a, 3)) ms + reduce \(fixed(r, 3)) ms = \(fixed(a + r, 3)) ms per step")
    print("  of which its two collectives alone (Int32 MAX + Int64 SUM allreduce): \(fixed(i, 3)) ms")
    print("  plain float32 allreduce: \(fixed(f, 3)) ms; plain float64 allreduce: \(fixed(d, 3)) ms")
    print("  exact / plain float32: \(fixed((a + r) / f, 1))x")
    print("RESULT {\"ranks\": \(comm.size), \"exact_add_ms\": \(fixed(a, 4)), \"exact_reduce_ms\": \(fixed(r, 4)), "
          + "\"plain_float_ms\": \(fixed(f, 4)), \"exact_collectives_ms\": \(fixed(i, 4)), \"plain_double_ms\": \(fixed(d, 4))}")
    return 0
}
