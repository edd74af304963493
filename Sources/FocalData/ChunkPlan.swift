// ChunkPlan: which global rows form which chunk, and which chunks each rank owns in each batch.
//
// The rule that makes results independent of the number of ranks: the rows of a split part are
// cut into global batches of `batchSize` rows (the last may be short), each batch into chunks of
// `chunkSize` rows (the last chunk of a batch may be short). Neither size depends on the number
// of ranks, so chunk (b, j) is the same rows at every world size and is computed the same way
// wherever it lives. A batch's chunks are split among the ranks in contiguous runs as evenly as
// possible (rank r owns chunks floor(r*c/P) ..< floor((r+1)*c/P) of a batch with c chunks), so
// a rank owns whole chunks, may own none, and its rows never move between batches or epochs.

/// One chunk: global batch index, index within the batch, and its rows (positions in the part).
public struct Chunk: Sendable, Equatable {
    public var batch: Int
    public var index: Int
    public var rows: Range<Int>
}

public struct ChunkPlan: Sendable, Equatable {
    /// Rows in the split part.
    public let rows: Int
    /// Global batch size in rows (full batch: `rows`).
    public let batchSize: Int
    /// Chunk size in rows.
    public let chunkSize: Int
    /// Number of ranks.
    public let ranks: Int

    public init(rows: Int, batchSize: Int, chunkSize: Int, ranks: Int) {
        precondition(rows >= 0 && batchSize >= 1 && chunkSize >= 1 && ranks >= 1, "ChunkPlan: invalid sizes")
        self.rows = rows
        // A batch or chunk larger than the part is the whole part: clamped, so no index
        // arithmetic below can overflow whatever the options say (`--batch-size 9223372036854775807`).
        self.batchSize = min(batchSize, max(rows, 1))
        self.chunkSize = min(chunkSize, max(rows, 1))
        self.ranks = ranks
    }

    /// Number of global batches, `ceil(rows / batchSize)`.
    public var batchCount: Int { (rows + batchSize - 1) / batchSize }

    /// Rows of batch `b`.
    public func batchRows(_ b: Int) -> Range<Int> {
        let start = b * batchSize
        return start..<min(rows, start + batchSize)
    }

    /// Number of chunks in batch `b`.
    public func chunkCount(batch b: Int) -> Int {
        (batchRows(b).count + chunkSize - 1) / chunkSize
    }

    /// The chunk indices of batch `b` owned by `rank`: a contiguous, possibly empty run.
    public func ownedChunkIndices(batch b: Int, rank: Int) -> Range<Int> {
        let c = chunkCount(batch: b)
        return (rank * c / ranks)..<((rank + 1) * c / ranks)
    }

    /// The chunks of batch `b` owned by `rank`, in order.
    public func chunks(batch b: Int, rank: Int) -> [Chunk] {
        let base = batchRows(b).lowerBound
        let end = batchRows(b).upperBound
        return ownedChunkIndices(batch: b, rank: rank).map { j in
            Chunk(batch: b, index: j, rows: (base + j * chunkSize)..<min(end, base + (j + 1) * chunkSize))
        }
    }

    /// Every row range `rank` holds, sorted and merged (what it must load or generate).
    public func ownedRanges(rank: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for b in 0..<batchCount {
            let owned = chunks(batch: b, rank: rank)
            guard let first = owned.first, let last = owned.last else { continue }
            let r = first.rows.lowerBound..<last.rows.upperBound
            if let prev = out.last, prev.upperBound == r.lowerBound {
                out[out.count - 1] = prev.lowerBound..<r.upperBound
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// For each batch, the offset (in rows) of `rank`'s first row of that batch within its local
    /// storage, which holds its rows of all batches concatenated in batch order.
    public func localBatchOffsets(rank: Int) -> [Int] {
        var offsets: [Int] = []
        var acc = 0
        for b in 0..<batchCount {
            offsets.append(acc)
            acc += chunks(batch: b, rank: rank).reduce(0) { $0 + $1.rows.count }
        }
        return offsets
    }
}
