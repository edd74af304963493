// CounterDataSource: make_classification's construction from counter-based randomness, so any row
// is a pure function of (seed, row index) and a rank materialises only its own rows.
import FocalFormats

// MARK: - Keys and domains

/// The 32-bit tags that separate the independent Philox streams of a data set.
///
/// Global state: `PhiloxStream(key0: seed, key1: globalTag)`; per-sample draws:
/// `Philox4x32(key0: seed, key1: sampleTag)` at counter `(g mod 2^32, g / 2^32, block, domain)`
/// for generated row `g`; split: `PhiloxStream(key0: split seed, key1: splitTag)`.
enum CounterKeys {
    static let globalTag: UInt32 = 0x676C_6F62   // "glob"
    static let sampleTag: UInt32 = 0x7361_6D70   // "samp"
    static let splitTag: UInt32 = 0x7370_6C74    // "splt"
    /// Counter word 3 of a sample's normal deviates (informative, then noise columns).
    static let normalDomain: UInt32 = 0
    /// Counter word 3 of a sample's label-noise block (flip uniform, new label).
    static let labelDomain: UInt32 = 1
}

// MARK: - CounterDataSource

/// `make_classification` + `train_test_split` rebuilt on counter-based randomness (Philox4x32-10).
///
/// The construction is scikit-learn's `make_classification` (`sklearn/datasets/_samples_generator.py`;
/// docs/COUNTER-GENERATOR.md): cluster sizes from the same `ClassificationPlan` as the sklearn
/// generator (same rounding and shortfall rule), cluster `k` of class `k mod K`, centres on distinct
/// hypercube vertices (`+-classSep`, scaled by a random polytope when `hypercube` is false), one
/// informative map `A_k` (entries uniform in `[-1, 1)`) per cluster, redundant columns
/// `informative @ B`, repeated columns copied from random sources, noise columns, label flips,
/// shift then scale, rows grouped by cluster before a row shuffle, and a column shuffle.
/// The random numbers differ: small global quantities come from a stream keyed by the seed
/// (recomputed on every rank, cheap); every per-row draw comes from Philox keyed by
/// (seed, generated row index); the row shuffle and the split are keyed bijections
/// (`KeyedPermutation`), so a row costs O(1) whatever the data set size and rank count.
///
/// Row indices: a *generated* row `g` is the `g`-th row before the row shuffle (rows grouped by
/// cluster); the shuffled data set's row `p` is generated row `rowPermutation(p)`; test position
/// `t` is data set row `splitPermutation(t)`, train position `t` is `splitPermutation(testCount + t)`.
public struct CounterDataSource: DataSource, Sendable {
    /// The validated parameters and the sizes derived from them (cluster sizes, split sizes).
    public let plan: ClassificationPlan
    public var spec: DatasetSpec { plan.spec }
    public let features: Int
    public let classes: Int
    public let trainCount: Int
    public let testCount: Int

    let informative: Int
    let redundant: Int
    let repeated: Int
    let noise: Int
    let clusters: Int
    let flipY: Double
    /// `[clusters, informative]`, row-major: the cluster centres.
    public let centres: [Double]
    /// `[clusters, informative, informative]`, row-major: `A_k[i, j]` at `(k * inf + i) * inf + j`;
    /// a row's informative part is `z @ A_k + centre_k` for its normal deviates `z` `[informative]`.
    public let transforms: [Double]
    /// `[informative, redundant]`, row-major: redundant columns are `informative @ B`.
    public let redundantMap: [Double]
    /// `[repeated]`: the pre-shuffle column each repeated column copies.
    public let repeatedSources: [Int]
    /// `[features]`, per pre-shuffle column: `x = (x + shift) * scale`.
    public let shifts: [Double]
    /// `[features]`, per pre-shuffle column.
    public let scales: [Double]
    /// `[features]`: output column `j` is pre-shuffle column `columnOrder[j]`
    /// (pre-shuffle layout: informative | redundant | repeated | noise).
    public let columnOrder: [Int]
    /// Data set row -> generated row (`nil` when `shuffle` is false).
    let rowPermutation: KeyedPermutation?
    /// Split position -> data set row (`nil` when there is no test set).
    let splitPermutation: KeyedPermutation?
    let sampleKey: Philox4x32

    // MARK: Construction of the global state

    /// Validates `spec` (`ClassificationPlan`) and builds the global state.
    public init(_ spec: DatasetSpec) throws {
        try self.init(ClassificationPlan(spec))
    }

    public init(_ plan: ClassificationPlan) throws {
        guard plan.generator == .counter else {
            throw ClassificationPlan.Invalid(.generator, "CounterDataSource needs \(ClassificationPlan.Field.generator) counter, got \(plan.generator.rawValue)")
        }
        self.plan = plan
        let spec = plan.spec
        let c = spec.classification
        features = c.features
        classes = c.classes
        informative = c.informative
        redundant = c.redundant
        repeated = c.repeated
        noise = plan.noise
        clusters = plan.clusters
        flipY = c.flipY
        testCount = plan.testCount
        trainCount = plan.trainCount

        // Global draws, in this order, from one stream keyed by the seed.
        var g = PhiloxStream(key0: c.seed, key1: CounterKeys.globalTag)
        let inf = informative
        // 1. Distinct hypercube vertices: bit d of the vertex code (most significant first) gives
        //    coordinate d as +-classSep.
        var codes: [[UInt64]] = []
        let words = (inf + 63) / 64
        func randomCode() -> [UInt64] {
            (0..<words).map { w in
                let bits = w == words - 1 ? inf - 64 * w : 64
                return bits == 64 ? g.next() : g.next() & ((1 << UInt64(bits)) - 1)
            }
        }
        if inf < 30 && (1 << inf) <= 2 * clusters {
            // Dense case: partial Fisher-Yates over all 2^inf vertices (at most 2 * clusters).
            var all = Array(0..<(1 << inf))
            for i in 0..<clusters {
                let j = i + g.nextBelow(all.count - i)
                all.swapAt(i, j)
                codes.append([UInt64(all[i])])
            }
        } else {
            // Sparse case: draw codes until distinct (at least half of the vertices are free).
            var seen = Set<[UInt64]>()
            while codes.count < clusters {
                let code = randomCode()
                if seen.insert(code).inserted { codes.append(code) }
            }
        }
        var centres = [Double](repeating: 0, count: clusters * inf)
        for k in 0..<clusters {
            for d in 0..<inf {
                let bit = inf - 1 - d
                let set = (codes[k][bit / 64] >> UInt64(bit % 64)) & 1 == 1
                centres[k * inf + d] = set ? c.classSep : -c.classSep
            }
        }
        // 2. Random polytope: one factor per cluster, then one per coordinate.
        if !c.hypercube {
            let perCluster = (0..<clusters).map { _ in g.nextUniform() }
            let perCoordinate = (0..<inf).map { _ in g.nextUniform() }
            for k in 0..<clusters { for d in 0..<inf { centres[k * inf + d] *= perCluster[k] * perCoordinate[d] } }
        }
        self.centres = centres
        // 3. One informative map per cluster, entries 2u - 1.
        transforms = (0..<(clusters * inf * inf)).map { _ in 2 * g.nextUniform() - 1 }
        // 4. Redundant map.
        redundantMap = (0..<(inf * c.redundant)).map { _ in 2 * g.nextUniform() - 1 }
        // 5. Repeated sources: floor((n - 1) u + 1/2), n = informative + redundant.
        let n = inf + c.redundant
        repeatedSources = (0..<c.repeated).map { _ in Int(Double(n - 1) * g.nextUniform() + 0.5) }
        // 6. Shift and scale per column.
        switch c.shift {
        case .value(let v): shifts = Array(repeating: v, count: c.features)
        case .random: shifts = (0..<c.features).map { _ in (2 * g.nextUniform() - 1) * c.classSep }
        }
        switch c.scale {
        case .value(let v): scales = Array(repeating: v, count: c.features)
        case .random: scales = (0..<c.features).map { _ in 1 + 100 * g.nextUniform() }
        }
        // 7. Column shuffle (Fisher-Yates from the end) and the row-shuffle key.
        var order = Array(0..<c.features)
        if c.shuffle {
            for i in stride(from: c.features - 1, to: 0, by: -1) { order.swapAt(i, g.nextBelow(i + 1)) }
            rowPermutation = KeyedPermutation(count: c.samples, key: g.next())
        } else {
            rowPermutation = nil
        }
        columnOrder = order
        if testCount > 0 {
            var s = PhiloxStream(key0: spec.split.seed, key1: CounterKeys.splitTag)
            splitPermutation = KeyedPermutation(count: c.samples, key: s.next())
        } else {
            splitPermutation = nil
        }
        sampleKey = Philox4x32(key0: c.seed, key1: CounterKeys.sampleTag)
    }

    // MARK: Index maps

    /// The data set row (after the row shuffle, before the split) at `position` of `part`.
    public func datasetRow(_ part: SplitPart, position: Int) -> Int {
        guard let split = splitPermutation else { return position }
        return split.apply(part == .test ? position : testCount + position)
    }

    /// The generated row (rows grouped by cluster) behind data set row `row`.
    public func generatedRow(_ row: Int) -> Int {
        rowPermutation?.apply(row) ?? row
    }

    /// The cluster of generated row `g` (its class before label noise is `plan.classOf(cluster:)`).
    public func cluster(ofGenerated g: Int) -> Int { plan.cluster(ofRow: g) }

    // MARK: Rows

    public func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        (try materialise(.train, train), try materialise(.test, test))
    }

    /// Generated row `g` computed one Philox block at a time with the scalar helpers: the test
    /// oracle of the batched path that `rows` uses (both must agree bit for bit).
    /// Returns `x` `[features]` in output column order and the label.
    public func referenceRow(generated g: Int) -> (x: [Double], y: Int32) {
        precondition(g >= 0 && g < trainCount + testCount, "referenceRow: generated row out of range")
        var x = [Double](repeating: 0, count: features)
        var z = [Double](repeating: 0, count: 2 * ((informative + noise + 1) / 2))
        var scratch = [Double](repeating: 0, count: features)
        var label: Int32 = 0
        withRowKernel(scratch: &scratch) { kernel in
            z.withUnsafeMutableBufferPointer { zb in
                x.withUnsafeMutableBufferPointer { xb in
                    let flip = RowKernel.scalarDraws(g, pairs: zb.count / 2, key: sampleKey, into: zb.baseAddress!)
                    label = kernel.generate(g, normals: zb.baseAddress!, flip: flip, into: xb.baseAddress!)
                }
            }
        }
        return (x, label)
    }

    private func materialise(_ part: SplitPart, _ ranges: [Range<Int>]) throws -> Rows {
        let limit = part == .train ? trainCount : testCount
        var total = 0
        var previousEnd = 0
        for r in ranges {
            guard r.lowerBound >= previousEnd, r.upperBound <= limit else {
                throw DataError("\(part.rawValue) ranges must be sorted, non-overlapping and within 0..<\(limit) (got \(ranges))")
            }
            previousEnd = r.upperBound
            total += r.count
        }
        var x = [Double](repeating: 0, count: total * features)
        var y = [Int32](repeating: 0, count: total)
        var scratch = [Double](repeating: 0, count: features)
        withRowKernel(scratch: &scratch) { kernel in
        x.withUnsafeMutableBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            var batch = RowBatch(capacity: RowBatch.rows, pairsPerRow: (informative + noise + 1) / 2)
            var rowsInBatch: [Int] = []
            rowsInBatch.reserveCapacity(RowBatch.rows)
            var out = 0
            func flush() {
                batch.draw(generated: rowsInBatch, key: sampleKey)
                batch.z.withUnsafeBufferPointer { z in
                    for (r, g) in rowsInBatch.enumerated() {
                        yb[out] = kernel.generate(g, normals: z.baseAddress! + r * 2 * batch.pairsPerRow,
                                                  flip: batch.flip(r), into: xb.baseAddress! + out * features)
                        out += 1
                    }
                }
                rowsInBatch.removeAll(keepingCapacity: true)
            }
            for r in ranges {
                for position in r {
                    rowsInBatch.append(generatedRow(datasetRow(part, position: position)))
                    if rowsInBatch.count == RowBatch.rows { flush() }
                }
            }
            if !rowsInBatch.isEmpty { flush() }
        }}}
        return Rows(features: features, x: x, y: y)
    }

    /// Runs `body` with a `RowKernel` over raw views of the global state, taken once per call (no
    /// reference counting per row); `scratch` is `[features]`.
    private func withRowKernel<R>(scratch: inout [Double], _ body: (RowKernel) -> R) -> R {
        transforms.withUnsafeBufferPointer { a in
        centres.withUnsafeBufferPointer { centre in
        redundantMap.withUnsafeBufferPointer { b in
        repeatedSources.withUnsafeBufferPointer { rep in
        shifts.withUnsafeBufferPointer { shift in
        scales.withUnsafeBufferPointer { scale in
        columnOrder.withUnsafeBufferPointer { order in
        plan.clusterStarts.withUnsafeBufferPointer { starts in
        scratch.withUnsafeMutableBufferPointer { sb in
            body(RowKernel(
                informative: informative, redundant: redundant, repeated: repeated, noise: noise,
                features: features, classes: classes, clusters: clusters, flipY: flipY, key: sampleKey,
                transforms: a.baseAddress!, centres: centre.baseAddress!, redundantMap: b.baseAddress,
                repeatedSources: rep.baseAddress, shifts: shift.baseAddress!, scales: scale.baseAddress!,
                columnOrder: order.baseAddress!, clusterStart: starts.baseAddress!, scratch: sb.baseAddress!))
        }}}}}}}}}
    }
}

// MARK: - The per-row kernel

/// Raw views of a `CounterDataSource`'s global state (valid inside `materialise` only) and the
/// computation of one generated row.
private struct RowKernel {
    let informative: Int, redundant: Int, repeated: Int, noise: Int
    let features: Int, classes: Int, clusters: Int
    let flipY: Double
    let key: Philox4x32
    /// See the matching `CounterDataSource` properties for shapes and layouts.
    let transforms: UnsafePointer<Double>, centres: UnsafePointer<Double>
    let redundantMap: UnsafePointer<Double>?, repeatedSources: UnsafePointer<Int>?
    let shifts: UnsafePointer<Double>, scales: UnsafePointer<Double>
    let columnOrder: UnsafePointer<Int>, clusterStart: UnsafePointer<Int>
    /// `[features]`: the pre-shuffle columns of the row being computed.
    let scratch: UnsafeMutablePointer<Double>

    @inline(__always)
    func cluster(ofGenerated g: Int) -> Int {
        ClassificationPlan.cluster(ofRow: g, starts: clusterStart, clusters: clusters)
    }

    /// The per-row draws of generated row `g`, one block at a time (the oracle of `RowBatch`):
    /// normals `z` `[2 * pairsPerRow]` (informative, then noise) and the label block.
    static func scalarDraws(_ g: Int, pairs: Int, key: Philox4x32, into z: UnsafeMutablePointer<Double>) -> Philox4x32.Block {
        let lo = UInt32(truncatingIfNeeded: g), hi = UInt32(truncatingIfNeeded: g >> 32)
        for j in 0..<pairs {
            let (a, b) = RandomBits.normalPair(key.block(.init(lo, hi, UInt32(j), CounterKeys.normalDomain)))
            z[2 * j] = a
            z[2 * j + 1] = b
        }
        return key.block(.init(lo, hi, 0, CounterKeys.labelDomain))
    }

    /// Writes generated row `g` (`[features]`, output column order) to `out` and returns its label,
    /// given its normal deviates `z` (`[informative + noise]`: informative, then noise) and its
    /// label block `flip`.
    @inline(__always)
    func generate(_ g: Int, normals z: UnsafePointer<Double>, flip: Philox4x32.Block,
                  into out: UnsafeMutablePointer<Double>) -> Int32 {
        let inf = informative
        let k = cluster(ofGenerated: g)
        // Pre-shuffle columns `[features]`: informative (z @ A_k + centre_k) | redundant | repeated | noise.
        let pre = scratch
        let a = transforms + k * inf * inf
        let centre = centres + k * inf
        for col in 0..<inf { pre[col] = 0 }
        for i in 0..<inf {
            let zi = z[i]
            let row = a + i * inf
            for col in 0..<inf { pre[col] += zi * row[col] }
        }
        for col in 0..<inf { pre[col] += centre[col] }
        if let b = redundantMap {
            for col in 0..<redundant { pre[inf + col] = 0 }
            for i in 0..<inf {
                let xi = pre[i]
                let row = b + i * redundant
                for col in 0..<redundant { pre[inf + col] += xi * row[col] }
            }
        }
        if let sources = repeatedSources {
            for r in 0..<repeated { pre[inf + redundant + r] = pre[sources[r]] }
        }
        let noiseStart = inf + redundant + repeated
        for r in 0..<noise { pre[noiseStart + r] = z[inf + r] }
        // Shift, then scale, then the column order.
        for col in 0..<features {
            let src = columnOrder[col]
            out[col] = (pre[src] + shifts[src]) * scales[src]
        }
        // Label: the cluster's class, replaced with probability flipY by a uniform class.
        var label = k % classes
        if RandomBits.uniform(flip.x, flip.y) < flipY {
            label = RandomBits.below(classes, flip.z, flip.w)
        }
        return Int32(label)
    }
}

// MARK: - Batched draws

/// The Philox blocks and normal deviates of up to `rows` generated rows, computed array-wise
/// (`RandomBits.philoxBlocks`, `RandomBits.normalPairs`); bit-identical to
/// `RowKernel.scalarDraws` row by row.
private struct RowBatch {
    static let rows = 64
    let pairsPerRow: Int
    /// Counter words `[capacity * (pairsPerRow + 1)]`: row r's normal block j at `r * pairsPerRow + j`,
    /// its label block at `capacity * pairsPerRow + r`.
    var c0: [UInt32], c1: [UInt32], c2: [UInt32], c3: [UInt32]
    /// Output words, same layout.
    var w0: [UInt32], w1: [UInt32], w2: [UInt32], w3: [UInt32]
    /// `[capacity, 2 * pairsPerRow]`, row-major: row r's normals (cos, sin of pair 0, then pair 1, ...).
    var z: [Double]
    var cosines: [Double], sines: [Double], logs: [Double]
    let capacity: Int

    init(capacity: Int, pairsPerRow: Int) {
        self.capacity = capacity
        self.pairsPerRow = pairsPerRow
        let blocks = capacity * (pairsPerRow + 1)
        c0 = [UInt32](repeating: 0, count: blocks); c1 = c0; c2 = c0; c3 = c0
        w0 = c0; w1 = c0; w2 = c0; w3 = c0
        z = [Double](repeating: 0, count: capacity * 2 * pairsPerRow)
        cosines = [Double](repeating: 0, count: capacity * pairsPerRow)
        sines = cosines
        logs = cosines
    }

    mutating func draw(generated rows: [Int], key: Philox4x32) {
        let p = pairsPerRow, n = rows.count
        for (r, g) in rows.enumerated() {
            let lo = UInt32(truncatingIfNeeded: g), hi = UInt32(truncatingIfNeeded: g >> 32)
            for j in 0..<p {
                c0[r * p + j] = lo; c1[r * p + j] = hi; c2[r * p + j] = UInt32(j); c3[r * p + j] = CounterKeys.normalDomain
            }
            let f = capacity * p + r
            c0[f] = lo; c1[f] = hi; c2[f] = 0; c3[f] = CounterKeys.labelDomain
        }
        let normalBlocks = n * p
        let flipStart = capacity * p
        c0.withUnsafeBufferPointer { c0 in c1.withUnsafeBufferPointer { c1 in
        c2.withUnsafeBufferPointer { c2 in c3.withUnsafeBufferPointer { c3 in
        w0.withUnsafeMutableBufferPointer { w0 in w1.withUnsafeMutableBufferPointer { w1 in
        w2.withUnsafeMutableBufferPointer { w2 in w3.withUnsafeMutableBufferPointer { w3 in
            let c = (c0.baseAddress!, c1.baseAddress!, c2.baseAddress!, c3.baseAddress!)
            let w = (w0.baseAddress!, w1.baseAddress!, w2.baseAddress!, w3.baseAddress!)
            RandomBits.philoxBlocks(key, count: normalBlocks, c0: c.0, c1: c.1, c2: c.2, c3: c.3,
                                    out0: w.0, out1: w.1, out2: w.2, out3: w.3)
            RandomBits.philoxBlocks(key, count: n, c0: c.0 + flipStart, c1: c.1 + flipStart, c2: c.2 + flipStart,
                                    c3: c.3 + flipStart, out0: w.0 + flipStart, out1: w.1 + flipStart,
                                    out2: w.2 + flipStart, out3: w.3 + flipStart)
            cosines.withUnsafeMutableBufferPointer { cs in sines.withUnsafeMutableBufferPointer { sn in
            logs.withUnsafeMutableBufferPointer { lg in
                RandomBits.normalPairs(count: normalBlocks, w.0, w.1, w.2, w.3,
                                       cosOut: cs.baseAddress!, sinOut: sn.baseAddress!, logScratch: lg.baseAddress!)
                z.withUnsafeMutableBufferPointer { z in
                    for b in 0..<normalBlocks {
                        z[2 * b] = cs[b]
                        z[2 * b + 1] = sn[b]
                    }
                }
            }}}
        }}}}}}}}
    }

    /// Row `r`'s label block.
    func flip(_ r: Int) -> Philox4x32.Block {
        let f = capacity * pairsPerRow + r
        return Philox4x32.Block(w0[f], w1[f], w2[f], w3[f])
    }
}
