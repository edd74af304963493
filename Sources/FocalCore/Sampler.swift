// Sampler: class-rebalanced epochs (`--sampler`), each epoch's row list a function of (seed, epoch,
// position) only — never of the number of ranks — so a sampled run keeps the guarantee.
//
// Per-epoch class counts follow imbalanced-learn's defaults (imblearn/under_sampling
// RandomUnderSampler, imblearn/over_sampling RandomOverSampler, sampling_strategy="auto"):
//   undersample  every class down to the minority class's count, drawn without replacement;
//   oversample   every class up to the majority class's count: its own rows plus draws with
//                replacement (imbalanced-learn keeps the originals and adds random duplicates);
//   balanced     an epoch of as many rows as the training set, drawn with replacement, each global
//                batch holding the classes in counts as equal as its size allows.
// Only classes present in the training set take part (imbalanced-learn sees only the labels in y).
// The list is built identically on every rank from the global label vector; the rows of each
// batch are fetched per step (`Trainer.gatherSampledBatch`), so memory per rank stays its shard
// plus one batch (and the labels, 4 bytes per training row, and the list, 4 per sampled row).
// Draws with replacement take `SplitMix64 output mod n` (a bias below n / 2^64: negligible).
import Collectives
import FocalData

/// `--sampler`.
public enum SamplerKind: String, Codable, Sendable, CaseIterable {
    case none, balanced, oversample, undersample
}

/// The row lists of a sampled run.
public struct EpochSampler: Sendable {
    public let kind: SamplerKind
    public let seed: UInt64
    public let batchSize: Int
    /// `[classesPresent][rows of that class]`: global training-row indices, ascending.
    public let classRows: [[Int32]]
    /// The labels of `classRows`' classes.
    public let presentClasses: [Int]

    /// - labels: `[trainRows]` the global training labels; classes: K.
    public init(kind: SamplerKind, seed: UInt64, batchSize: Int, labels: [Int32], classes: Int) {
        self.kind = kind
        self.seed = seed
        self.batchSize = batchSize
        var rows = [[Int32]](repeating: [], count: classes)
        for (i, y) in labels.enumerated() { rows[Int(y)].append(Int32(i)) }
        classRows = rows.filter { !$0.isEmpty }
        presentClasses = rows.indices.filter { !rows[$0].isEmpty }
    }

    /// `[classes]` per-class counts of one sampled epoch (0 for a class absent from the training set).
    public func classCounts(classes: Int) -> [Int] {
        var out = [Int](repeating: 0, count: classes)
        for (c, n) in zip(presentClasses, classCounts) { out[c] = n }
        return out
    }

    /// Rows per sampled epoch.
    public var epochRows: Int {
        let counts = classRows.map(\.count)
        switch kind {
        case .none: return counts.reduce(0, +)
        case .balanced: return counts.reduce(0, +)
        case .undersample: return (counts.min() ?? 0) * counts.count
        case .oversample: return (counts.max() ?? 0) * counts.count
        }
    }

    /// Per-class counts of one sampled epoch, in class order of the present classes.
    public var classCounts: [Int] {
        let counts = classRows.map(\.count)
        switch kind {
        case .none: return counts
        case .undersample: return counts.map { _ in counts.min() ?? 0 }
        case .oversample: return counts.map { _ in counts.max() ?? 0 }
        case .balanced:
            // The sum over batches of the per-batch split.
            var total = [Int](repeating: 0, count: counts.count)
            let n = epochRows
            var b = 0
            while b * batchSize < n {
                let size = min(batchSize, n - b * batchSize)
                for (c, q) in balancedSplit(size: size, batch: b, classes: counts.count).enumerated() { total[c] += q }
                b += 1
            }
            return total
        }
    }

    /// A keyed stream for (seed, epoch, stream id), independent of the ranks.
    private func key(epoch: Int, _ stream: UInt64) -> UInt64 {
        SplitMix64.mix(seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03 &+ stream &* 0xA24B_AED4_963E_E3F5)
    }

    /// `[epochRows]`: the global training rows of epoch `epoch`, position by position.
    public func rows(epoch: Int) -> [Int32] {
        let K = classRows.count
        switch kind {
        case .none:
            return (0..<epochRows).map { Int32($0) }
        case .undersample, .oversample:
            var list: [Int32] = []
            list.reserveCapacity(epochRows)
            let target = kind == .undersample ? (classRows.map(\.count).min() ?? 0) : (classRows.map(\.count).max() ?? 0)
            for (c, rows) in classRows.enumerated() {
                if kind == .undersample {
                    // The first `target` of a keyed permutation of the class's rows: without replacement.
                    let perm = KeyedPermutation(count: rows.count, key: key(epoch: epoch, UInt64(c) + 1))
                    for i in 0..<target { list.append(rows[perm.apply(i)]) }
                } else {
                    list += rows
                    var g = SplitMix64(state: key(epoch: epoch, UInt64(c) + 1))
                    for _ in rows.count..<target { list.append(rows[Int(g.next() % UInt64(rows.count))]) }
                }
            }
            // One keyed shuffle of the positions, so batches mix the classes.
            let perm = KeyedPermutation(count: list.count, key: key(epoch: epoch, 0))
            return (0..<list.count).map { list[perm.apply($0)] }
        case .balanced:
            let n = epochRows
            var list: [Int32] = []
            list.reserveCapacity(n)
            var g = SplitMix64(state: key(epoch: epoch, 0))
            var b = 0
            while b * batchSize < n {
                let size = min(batchSize, n - b * batchSize)
                for (c, q) in balancedSplit(size: size, batch: b, classes: K).enumerated() {
                    let rows = classRows[c]
                    for _ in 0..<q { list.append(rows[Int(g.next() % UInt64(rows.count))]) }
                }
                b += 1
            }
            return list
        }
    }

    /// Class counts of a balanced batch of `size` rows: `size / K` each, the remainder to `size % K`
    /// classes taken in turn from batch to batch.
    func balancedSplit(size: Int, batch b: Int, classes K: Int) -> [Int] {
        let q = size / K, r = size % K
        var out = [Int](repeating: q, count: K)
        for j in 0..<r { out[(b * r + j) % K] += 1 }
        return out
    }
}

// MARK: - Labels and rows across ranks

/// `[trainRows]`: every training label, gathered from the ranks' shards (one allgatherv) and put
/// at its global row by each rank's owned ranges. Identical on every rank.
public func globalTrainLabels<T: TrainScalar>(_ data: LocalData<T>, comm: Communicator) throws -> [Int32] {
    let pieces = try comm.allgatherv(data.trainY)
    var labels = [Int32](repeating: 0, count: data.trainPlan.rows)
    for (r, piece) in pieces.enumerated() {
        var i = 0
        for range in data.trainPlan.ownedRanges(rank: r) {
            for row in range { labels[row] = piece[i]; i += 1 }
        }
    }
    return labels
}

/// Where this rank keeps each training row it holds: global row -> index in `LocalData.trainX`.
struct LocalRowIndex {
    /// This rank's owned ranges and the local index of each range's first row.
    let ranges: [Range<Int>]
    let starts: [Int]

    init(plan: ChunkPlan, rank: Int) {
        ranges = plan.ownedRanges(rank: rank)
        var s: [Int] = [], acc = 0
        for r in ranges { s.append(acc); acc += r.count }
        starts = s
    }

    /// The local index of global row `row`, or nil when another rank holds it.
    func local(_ row: Int) -> Int? {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound <= row { lo = mid + 1 } else { hi = mid }
        }
        guard lo < ranges.count, ranges[lo].contains(row) else { return nil }
        return starts[lo] + (row - ranges[lo].lowerBound)
    }
}
