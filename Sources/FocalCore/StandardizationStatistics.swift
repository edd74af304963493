// StandardizationStatistics: StandardScaler's `mean_` and `scale_` from the training rows of all
// ranks, identical bits for any number of ranks.
//
// scikit-learn (`utils/extmath.py` `_incremental_mean_and_var` on a first batch, float64):
//   mean = sum(x) / n;  d = x - mean;  var = (sum(d^2) - sum(d)^2 / n) / n
// (two passes; the second term is the correction of the "2 pass algorithm", Chan, Golub and
// LeVeque). Here every sum is one partial per chunk of the training plan (the same rows at every
// world size), summed over the chunks with the exact reduction, so the result never depends on
// how chunks are spread over ranks.
import Collectives
import FocalData
import FocalFormats

/// Fits StandardScaler on the training part of `source` (rows placed by `plan`, whose chunks this
/// rank reads). Collective: every rank must call it. Throws on a non-finite feature.
public func standardizationStatistics(source: DataSource, plan: ChunkPlan, comm: Communicator) throws -> Standardization {
    let F = source.features, n = plan.rows
    let myChunks: [[Chunk]] = (0..<plan.batchCount).map { plan.chunks(batch: $0, rank: comm.rank) }
    let localChunks = myChunks.reduce(0) { $0 + $1.count }
    let totalChunks = (0..<plan.batchCount).reduce(0) { $0 + plan.chunkCount(batch: $1) }
    guard n > 0, F > 0 else { return Standardization(mean: [Double](repeating: 0, count: F), scale: [Double](repeating: 1, count: F)) }

    /// Calls `body` with each owned chunk's rows `[chunkRows, features]`, their count and the
    /// first one's row index (one read per batch; one read in all for a sequential source).
    func forEachChunk(_ body: ([Double], Int, Int) -> Void) throws {
        if source.isSequential {
            let ranges = plan.ownedRanges(rank: comm.rank)
            let rows = try source.rows(.train, ranges: ranges)
            var offset = 0
            for chunk in myChunks.joined() {
                let m = chunk.rows.count
                body(Array(rows.x[(offset * F)..<((offset + m) * F)]), m, chunk.rows.lowerBound)
                offset += m
            }
            return
        }
        for chunks in myChunks {
            guard let first = chunks.first, let last = chunks.last else { continue }
            let rows = try source.rows(.train, ranges: [first.rows.lowerBound..<last.rows.upperBound])
            var offset = 0
            for chunk in chunks {
                let m = chunk.rows.count
                body(Array(rows.x[(offset * F)..<((offset + m) * F)]), m, chunk.rows.lowerBound)
                offset += m
            }
        }
    }

    // Pass 1: sum(x) per feature. Values beyond sqrt(max / n) / 2 are refused here, naming their
    // file and row: their deviations' squares could overflow the sums of pass 2.
    let limit = (Double.greatestFiniteMagnitude / Double(n)).squareRoot() / 2
    let sumReducer = ExactReducer(width: F, localCapacity: max(1, localChunks))
    sumReducer.reset()
    /// A value whose contribution is not finite, named by file and row (the first this rank sees).
    func overflow(_ first: (row: Int, column: Int, value: Double)?, _ what: String) throws {
        guard let b = first else { return }
        throw DataError("\(source.location(.train, row: b.row)): value \(b.value) in column \(b.column): \(what) overflows float64 (--standardize; rescale the column, or --standardize off)")
    }
    try comm.agree {
        var bad: (row: Int, column: Int, value: Double)? = nil
        try forEachChunk { x, m, first in
            var s = [Double](repeating: 0, count: F)
            for r in 0..<m { for j in 0..<F { s[j] += x[r * F + j] } }
            // A magnitude above `limit` can make the column's squared deviations (pass 2) overflow.
            if bad == nil {
                for r in 0..<m { for j in 0..<F where bad == nil && !(x[r * F + j].magnitude <= limit) { bad = (first + r, j, x[r * F + j]) } }
            }
            sumReducer.add(main: UnsafePointer<Double>?.none, mainCount: 0, extra: s)
        }
        try overflow(bad, "its square, summed over \(n) rows,")
    }
    var sums = [Double](repeating: 0, count: F)
    let s1 = try sumReducer.reduce(comm, chunksInStep: max(1, totalChunks), result: &sums)
    if let r = s1.nonFiniteRank {
        throw DataError("--standardize: the training features hold a non-finite value (rank \(r))")
    }
    let mean = sums.map { $0 / Double(n) }

    // Pass 2: sum(d) and sum(d^2), d = x - mean.
    let devReducer = ExactReducer(width: 2 * F, localCapacity: max(1, localChunks))
    devReducer.reset()
    try comm.agree {
        var bad: (row: Int, column: Int, value: Double)? = nil
        try forEachChunk { x, m, first in
            var s = [Double](repeating: 0, count: 2 * F)
            for r in 0..<m {
                for j in 0..<F {
                    let d = x[r * F + j] - mean[j]
                    s[j] += d
                    s[F + j] += d * d
                    if bad == nil && !(d * d).isFinite { bad = (first + r, j, x[r * F + j]) }
                }
            }
            devReducer.add(main: UnsafePointer<Double>?.none, mainCount: 0, extra: s)
        }
        try overflow(bad, "its squared deviation from the column's mean")
    }
    var devs = [Double](repeating: 0, count: 2 * F)
    let s2 = try devReducer.reduce(comm, chunksInStep: max(1, totalChunks), result: &devs)
    if let r = s2.nonFiniteRank {
        throw DataError("--standardize: the squared deviations of the training features overflow (rank \(r))")
    }
    let nd = Double(n)
    var scale = [Double](repeating: 1, count: F)
    for j in 0..<F {
        let variance = (devs[F + j] - devs[j] * devs[j] / nd) / nd
        scale[j] = Standardization.scale(variance: variance, mean: mean[j], samples: n)
    }
    return Standardization(mean: mean, scale: scale)
}
