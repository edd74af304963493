// SklearnDataSource: make_classification + train_test_split, bit for bit, holding only the requested rows.

import Dispatch
import FocalFormats

/// A raw pointer handed to worker threads that write disjoint ranges of it.
struct SharedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

// MARK: - Data source

/// `sklearn.datasets.make_classification` followed by `train_test_split`, reproduced from the
/// legacy MT19937 stream (see `docs/DATA.md`).
///
/// Memory rule: the whole random stream is replayed, but only the requested rows' features are
/// stored, plus O(samples) integer indices (labels, row shuffle, split). `init` runs pass 1: it
/// advances the stream cheaply (normals without their logarithm), saving checkpoints of the
/// generator state every `checkpointRows` rows of the two normal-deviate calls, and keeps every
/// small draw (centres, covariance matrices, shuffles, label flips). `rows(train:test:)` runs
/// pass 2 from the checkpoints and computes only the needed rows.
public struct SklearnDataSource: DataSource, Sendable {
    /// The MT19937 stream is replayed on every call: fetch all rows at once.
    public var isSequential: Bool { true }

    /// The validated parameters and the sizes derived from them (cluster sizes, split sizes).
    public let plan: ClassificationPlan
    public var spec: DatasetSpec { plan.spec }
    public let features: Int
    public let classes: Int
    public let trainCount: Int
    public let testCount: Int
    /// Worker threads for pass 2 (blocks are independent given their checkpoints); the rows do not
    /// depend on it. Default 1: under MPI every rank is already a process.
    public var threads: Int = 1
    /// Polled between blocks of rows; true ends generation with `LoadStopped`.
    let stopRequested: StopPoll?

    let samples: Int
    let nInformative: Int
    let nRedundant: Int
    let nRepeated: Int
    let nRandom: Int
    /// `[nClusters, nInformative]` row-major cluster centres (vertices, possibly scaled).
    let centroids: [Double]
    /// `[nClusters, nInformative, nInformative]` covariance factors `A = 2u - 1`, row-major.
    let covariances: [Double]
    /// `[nInformative, nRedundant]` row-major `B = 2u - 1`.
    let redundantMatrix: [Double]
    /// `[nRepeated]` source column of each repeated column.
    let repeatedSource: [Int]
    /// `[features]` shift and scale per (unshuffled) column.
    let shiftColumns: [Double]
    let scaleColumns: [Double]
    /// `[samples]` final labels in generation order (after flips).
    let generatedLabels: [Int32]
    /// `[samples]` `rowOrder[s]` = generation row of shuffled row `s` (identity without shuffle).
    let rowOrder: [Int]
    /// `[features]` `columnOrder[j]` = unshuffled column shown as column `j`.
    let columnOrder: [Int]
    /// Positions of each part in the shuffled data set, in `train_test_split` order.
    let split: SplitIndices
    /// Rows per checkpoint and the checkpoints (`[ceil(samples / checkpointRows)]` each) at the
    /// start of each block of rows in the informative (step 3) and noise (step 7) normal draws.
    let checkpointRows: Int
    let informativeCheckpoints: [RandomState]
    let noiseCheckpoints: [RandomState]
    /// `[classes]` label counts per part.
    let trainClassCounts: [Int64]
    let testClassCounts: [Int64]

    // MARK: - Pass 1

    /// Validates `dataset` (`ClassificationPlan`) and runs pass 1.
    public init(_ dataset: DatasetSpec) throws {
        try self.init(ClassificationPlan(dataset))
    }

    /// `stopRequested` is polled once per block of rows (pass 1 here and pass 2 in `rows`); once
    /// true, generation ends with `LoadStopped`.
    public init(_ plan: ClassificationPlan, stopRequested: StopPoll? = nil) throws {
        self.stopRequested = stopRequested
        guard plan.generator == .sklearn else {
            throw ClassificationPlan.Invalid(.generator, "SklearnDataSource needs \(ClassificationPlan.Field.generator) sklearn, got \(plan.generator.rawValue)")
        }
        self.plan = plan
        let dataset = plan.spec
        let c = dataset.classification
        let n = c.samples
        samples = n
        features = c.features
        classes = c.classes
        nInformative = c.informative
        nRedundant = c.redundant
        nRepeated = c.repeated
        nRandom = plan.noise
        let nInf = c.informative
        let nClusters = plan.clusters
        // Cluster row blocks (scikit-learn's n_samples_per_cluster, clamped to n).
        let starts = plan.clusterStarts

        var rng = RandomState(seed: c.seed)

        // Step 1: hypercube vertices.
        var centres = [Double](repeating: 0, count: nClusters * nInf)
        let highBits = max(nInf - 30, 0)
        for k in 0..<nClusters {
            for d in 0..<highBits { centres[k * nInf + d] = Double(rng.randint(2)) }
        }
        let bits = nInf - highBits
        let vertices = Self.sampleWithoutReplacement(population: 1 << bits, count: nClusters, rng: &rng)
        for k in 0..<nClusters {
            for d in 0..<bits {
                let bit = (vertices[k] >> (bits - 1 - d)) & 1
                centres[k * nInf + highBits + d] = Double(bit)
            }
        }
        for i in centres.indices { centres[i] = centres[i] * (2 * c.classSep) - c.classSep }
        // Step 2: random polytope.
        if !c.hypercube {
            for k in 0..<nClusters {
                let f = rng.uniform()
                for d in 0..<nInf { centres[k * nInf + d] *= f }
            }
            let perCoordinate = (0..<nInf).map { _ in rng.uniform() }
            for k in 0..<nClusters {
                for d in 0..<nInf { centres[k * nInf + d] *= perCoordinate[d] }
            }
        }
        centroids = centres

        // Step 3: informative normals (skipped, checkpointed).
        let blockRows = max(4096, (n + 1023) / 1024)
        checkpointRows = blockRows
        var infoCk = [RandomState]()
        var r0 = 0
        while r0 < n {
            try stopRequested.check()
            infoCk.append(rng)
            rng.skipStandardNormals(min(blockRows, n - r0) * nInf)
            r0 += blockRows
        }
        informativeCheckpoints = infoCk

        // Step 4: per-cluster covariance factors and labels.
        var labels = [Int32](repeating: 0, count: n)
        var cov = [Double](repeating: 0, count: nClusters * nInf * nInf)
        for k in 0..<nClusters {
            for r in starts[k]..<starts[k + 1] { labels[r] = Int32(plan.classOf(cluster: k)) }
            for i in 0..<(nInf * nInf) { cov[k * nInf * nInf + i] = 2 * rng.uniform() - 1 }
        }
        covariances = cov

        // Step 5: redundant combination.
        var b = [Double](repeating: 0, count: nInf * c.redundant)
        if c.redundant > 0 {
            for i in b.indices { b[i] = 2 * rng.uniform() - 1 }
        }
        redundantMatrix = b

        // Step 6: repeated columns: floor((n - 1) * u + 0.5) via astype(intp) (truncation of a
        // non-negative value).
        let nUseful = nInf + c.redundant
        repeatedSource = (0..<c.repeated).map { _ in Int(Double(nUseful - 1) * rng.uniform() + 0.5) }

        // Step 7: noise normals (skipped, checkpointed).
        var noiseCk = [RandomState]()
        if nRandom > 0 {
            r0 = 0
            while r0 < n {
                try stopRequested.check()
                noiseCk.append(rng)
                rng.skipStandardNormals(min(blockRows, n - r0) * nRandom)
                r0 += blockRows
            }
        }
        noiseCheckpoints = noiseCk

        // Step 8: label noise (always drawn).
        try stopRequested.check()
        var flipRows = [Int]()
        for r in 0..<n where rng.uniform() < c.flipY { flipRows.append(r) }
        for r in flipRows { labels[r] = Int32(rng.randint(c.classes)) }
        generatedLabels = labels

        // Steps 9-10: shift, then scale.
        switch c.shift {
        case .value(let v): shiftColumns = [Double](repeating: v, count: c.features)
        case .random: shiftColumns = (0..<c.features).map { _ in (2 * rng.uniform() - 1) * c.classSep }
        }
        switch c.scale {
        case .value(let v): scaleColumns = [Double](repeating: v, count: c.features)
        case .random: scaleColumns = (0..<c.features).map { _ in 1 + 100 * rng.uniform() }
        }

        // Step 11: row then column shuffle.
        var columns = Array(0..<c.features)
        if c.shuffle {
            rowOrder = rng.permutation(n)
            rng.shuffle(&columns)
        } else {
            rowOrder = Array(0..<n)
        }
        columnOrder = columns

        // train_test_split.
        let s = dataset.split
        if s.testFraction == 0 {
            split = SplitIndices(train: Array(0..<n), test: [])
        } else if s.stratify {
            let shuffledLabels = rowOrder.map { labels[$0] }
            split = try stratifiedShuffleSplit(labels: shuffledLabels, classes: c.classes, train: plan.trainCount,
                                               test: plan.testCount, seed: s.seed)
        } else {
            split = shuffleSplit(samples: n, train: plan.trainCount, test: plan.testCount, seed: s.seed)
        }
        trainCount = plan.trainCount
        testCount = plan.testCount
        let order = rowOrder
        trainClassCounts = labelCounts(split.train.lazy.map { labels[order[$0]] }, classes: c.classes)
        testClassCounts = labelCounts(split.test.lazy.map { labels[order[$0]] }, classes: c.classes)
    }

    /// Global label counts of a split part, `[classes]` (no features generated).
    public func classCounts(_ part: SplitPart) -> [Int64] {
        part == .train ? trainClassCounts : testClassCounts
    }

    /// The labels of a part, `[count]`, in the part's order (cheap: no features generated).
    public func labels(_ part: SplitPart) -> [Int32] {
        (part == .train ? split.train : split.test).map { generatedLabels[rowOrder[$0]] }
    }

    /// `sample_without_replacement(population, count, method="auto")` from scikit-learn's
    /// `utils/_random.pyx`: permutation for `0.01 < ratio < 0.99`, tracking selection below,
    /// reservoir sampling above. Returns `[count]`.
    static func sampleWithoutReplacement(population: Int, count: Int, rng: inout RandomState) -> [Int] {
        let ratio = Double(count) / Double(population)
        if ratio > 0.01 && ratio < 0.99 {
            return Array(rng.permutation(population)[0..<count])
        }
        if ratio < 0.2 {
            var selected = Set<Int>()
            var out = [Int]()
            for _ in 0..<count {
                var j = rng.randint(population)
                while selected.contains(j) { j = rng.randint(population) }
                selected.insert(j)
                out.append(j)
            }
            return out
        }
        var out = Array(0..<count)
        if population > count {
            for i in count..<population {
                let j = rng.randint(i + 1)
                if j < count { out[j] = i }
            }
        }
        return out
    }

    // MARK: - Pass 2

    public func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        try Self.checkRanges(train, count: trainCount, part: "train")
        try Self.checkRanges(test, count: testCount, part: "test")
        let nTrainOut = train.reduce(0) { $0 + $1.count }
        let nTestOut = test.reduce(0) { $0 + $1.count }
        let nOut = nTrainOut + nTestOut
        let f = features
        // slot[generation row] = output row (train rows first, then test rows), or -1.
        var slot = [Int](repeating: -1, count: samples)
        var q = 0
        for r in train { for p in r { slot[rowOrder[split.train[p]]] = q; q += 1 } }
        for r in test { for p in r { slot[rowOrder[split.test[p]]] = q; q += 1 } }

        /// `[nTrainOut, features]` and `[nTestOut, features]`, row-major; filled in generation column
        /// layout (informative | redundant | repeated | noise), then shifted, scaled and column-shuffled.
        var trainX = [Double](repeating: 0, count: nTrainOut * f)
        var testX = [Double](repeating: 0, count: nTestOut * f)
        var outLabels = [Int32](repeating: 0, count: nOut)
        if nOut > 0 {
            trainX.withUnsafeMutableBufferPointer { trainOut in
                testX.withUnsafeMutableBufferPointer { testOut in
                    fill(train: trainOut, test: testOut, trainRows: nTrainOut, slot: slot)
                }
            }
            try stopRequested.check()  // fillBlocks returns early once a stop was requested
            for row in 0..<samples where slot[row] >= 0 { outLabels[slot[row]] = generatedLabels[row] }
        }
        let trainRows = Rows(features: f, x: trainX, y: Array(outLabels[0..<nTrainOut]))
        let testRows = Rows(features: f, x: testX, y: Array(outLabels[nTrainOut...]))
        return (trainRows, testRows)
    }

    /// Pass 2 proper: maps needed generation rows to staging positions (generation order), fills
    /// the staging rows block by block (blocks split over `threads` workers), then copies each
    /// staged row to its output slot (`slot` `[samples]`: slots `0..<trainRows` go to `train`, the
    /// rest to `test`, each `[rows, features]` row-major). Writing rows in generation order and
    /// copying them out afterwards (random reads, sequential writes) is much faster than scattering
    /// each row as it is made.
    private func fill(train: UnsafeMutableBufferPointer<Double>, test: UnsafeMutableBufferPointer<Double>,
                      trainRows: Int, slot: [Int]) {
        let f = features
        let blocks = informativeCheckpoints.count
        /// `[blocks + 1]` first staging position of each block; `[needed]` output slot of each staged row.
        var blockOffset = [Int](repeating: 0, count: blocks + 1)
        var stagedSlot = [Int]()
        stagedSlot.reserveCapacity(train.count / max(f, 1) + test.count / max(f, 1))
        for b in 0..<blocks {
            blockOffset[b] = stagedSlot.count
            for r in (b * checkpointRows)..<min((b + 1) * checkpointRows, samples) where slot[r] >= 0 {
                stagedSlot.append(slot[r])
            }
        }
        let needed = stagedSlot.count
        blockOffset[blocks] = needed
        /// `[needed, features]` finished rows in generation order.
        let stage = UnsafeMutablePointer<Double>.allocate(capacity: max(needed * f, 1))
        defer { stage.deallocate() }
        let shared = SharedPointer(stage)
        let offsets = blockOffset
        let workers = max(1, min(threads, blocks))
        if workers == 1 {
            fillBlocks(0..<blocks, slot: slot, blockOffset: offsets, stage: shared)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                fillBlocks((blocks * w / workers)..<(blocks * (w + 1) / workers), slot: slot,
                           blockOffset: offsets, stage: shared)
            }
        }
        // Copy the staged rows to their slots.
        var inverse = [Int](repeating: 0, count: needed)
        for i in 0..<needed { inverse[stagedSlot[i]] = i }
        for q in 0..<needed {
            let out = q < trainRows ? train.baseAddress! + q * f : test.baseAddress! + (q - trainRows) * f
            out.update(from: stage + inverse[q] * f, count: f)
        }
    }

    /// Replays the informative (step 3) and noise (step 7) normal draws side by side from the
    /// checkpoints of `blocks`, building each needed row completely in a scratch row and writing it
    /// to its staging position; unneeded rows are skipped without logarithms.
    private func fillBlocks(_ blocks: Range<Int>, slot: [Int], blockOffset: [Int], stage: SharedPointer<Double>) {
        let f = features, nInf = nInformative, nRed = nRedundant, nRep = nRepeated, nNoise = nRandom
        let nUseful = nInf + nRed
        let starts = plan.clusterStarts
        /// `[features]` one row in generation layout (informative | redundant | repeated | noise),
        /// then `[features]` the same row shifted and scaled.
        var scratch = [Double](repeating: 0, count: 2 * f)
        covariances.withUnsafeBufferPointer { cov in
        centroids.withUnsafeBufferPointer { cen in
        redundantMatrix.withUnsafeBufferPointer { bm in
        shiftColumns.withUnsafeBufferPointer { sh in
        scaleColumns.withUnsafeBufferPointer { sc in
        columnOrder.withUnsafeBufferPointer { order in
        repeatedSource.withUnsafeBufferPointer { rep in
        slot.withUnsafeBufferPointer { slots in
        scratch.withUnsafeMutableBufferPointer { sb in
            let x = sb.baseAddress!, y = x + f
            for blockIndex in blocks {
                if let poll = stopRequested, poll() { return }
                var next = blockOffset[blockIndex]
                if next == blockOffset[blockIndex + 1] { continue }
                let lo = blockIndex * checkpointRows, hi = min(lo + checkpointRows, samples)
                var last = -1
                for r in stride(from: hi - 1, through: lo, by: -1) where slots[r] >= 0 { last = r; break }
                var informative = informativeCheckpoints[blockIndex]
                var noise = nNoise > 0 ? noiseCheckpoints[blockIndex] : informative
                var k = plan.cluster(ofRow: lo)
                for r in lo...last {
                    if slots[r] < 0 {
                        informative.skipStandardNormals(nInf)
                        if nNoise > 0 { noise.skipStandardNormals(nNoise) }
                        continue
                    }
                    while r >= starts[k + 1] { k += 1 }
                    // Step 3: this row's normals; step 4: X_k @ A (per output one FMA per step in
                    // increasing index from 0.0, the rule that matches NumPy's OpenBLAS kernels for
                    // most shapes, see docs/DATA.md) + centroid.
                    informative.fillStandardNormals(y, count: nInf)
                    Self.product(y, cov.baseAddress! + k * nInf * nInf, rows: nInf, columns: nInf, into: x)
                    let centre = cen.baseAddress! + k * nInf
                    for j in 0..<nInf { x[j] = x[j] + centre[j] }
                    // Step 5: X[:, :nInf] @ B, same rule. Step 6: repeated columns. Step 7: noise.
                    Self.product(x, bm.baseAddress!, rows: nInf, columns: nRed, into: x + nInf)
                    for j in 0..<nRep { x[nUseful + j] = x[rep[j]] }
                    if nNoise > 0 { noise.fillStandardNormals(x + (f - nNoise), count: nNoise) }
                    // Steps 9-11: X += shift; X *= scale; X[:, j] = X[:, idx[j]].
                    for j in 0..<f { y[j] = (x[j] + sh[j]) * sc[j] }
                    let out = stage.pointer + next * f
                    next += 1
                    for j in 0..<f { out[j] = y[order[j]] }
                }
            }
        }
        }
        }
        }
        }
        }
        }
        }
        }
    }

    /// `out[j] = sum_t x[t] * m[t, j]` for a row vector `x` `[rows]` and `m` `[rows, columns]`
    /// row-major: per output a chain of fused multiply-adds in increasing `t` starting from 0.0
    /// (`acc.addingProduct`), four independent chains at a time so their latencies overlap.
    @inline(__always)
    static func product(_ x: UnsafePointer<Double>, _ m: UnsafePointer<Double>, rows: Int, columns: Int,
                        into out: UnsafeMutablePointer<Double>) {
        var j = 0
        while j + 4 <= columns {
            var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
            for t in 0..<rows {
                let xt = x[t], mt = m + t * columns + j
                a0.addProduct(xt, mt[0])
                a1.addProduct(xt, mt[1])
                a2.addProduct(xt, mt[2])
                a3.addProduct(xt, mt[3])
            }
            out[j] = a0; out[j + 1] = a1; out[j + 2] = a2; out[j + 3] = a3
            j += 4
        }
        while j < columns {
            var acc = 0.0
            for t in 0..<rows { acc.addProduct(x[t], m[t * columns + j]) }
            out[j] = acc
            j += 1
        }
    }

    static func checkRanges(_ ranges: [Range<Int>], count: Int, part: String) throws {
        var end = 0
        for r in ranges {
            if r.lowerBound < end || r.upperBound > count {
                throw DataError("rows: \(part) ranges must be sorted, non-overlapping and within 0..<\(count); got \(r)")
            }
            end = r.upperBound
        }
    }
}
