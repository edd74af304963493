// CounterDataSource: make_classification's construction from counter-based randomness, so any row
// is a pure function of (seed, row index) and a rank materialises only its own rows.

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
/// The construction is scikit-learn's (see the project's make_classification spec): cluster sizes
/// with the same rounding and shortfall rule, cluster `k` of class `k mod K`, centres on distinct
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
    public let spec: DatasetSpec
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
    /// `[clusters + 1]`: cluster `k` holds generated rows `clusterStart[k]..<clusterStart[k + 1]`
    /// (clamped to `samples`, so late clusters may be cut short as in scikit-learn).
    public let clusterStart: [Int]
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

    // MARK: Validation (scikit-learn's rules)

    /// Checks `spec` with scikit-learn's rules for `make_classification` and `train_test_split`
    /// (spec sections 2.1, 2.2 and 3); throws one line naming the option. Deviations: weights must
    /// be finite and the completed weight vector non-negative, `shift`/`classSep` finite, and
    /// `stratify` is refused (a stratified split needs every label: O(samples) work per rank).
    public static func validate(_ spec: DatasetSpec) throws {
        let c = spec.classification
        guard spec.generator == .counter else {
            throw DataError("CounterDataSource needs --generator counter (got \(spec.generator.rawValue))")
        }
        guard c.samples >= 1 else { throw DataError("--samples must be at least 1 (got \(c.samples))") }
        guard c.features >= 1 else { throw DataError("--features must be at least 1 (got \(c.features))") }
        guard c.informative >= 1 else { throw DataError("--informative must be at least 1 (got \(c.informative))") }
        guard c.redundant >= 0 else { throw DataError("--redundant must be at least 0 (got \(c.redundant))") }
        guard c.repeated >= 0 else { throw DataError("--repeated must be at least 0 (got \(c.repeated))") }
        guard c.classes >= 1 else { throw DataError("--classes must be at least 1 (got \(c.classes))") }
        guard c.clustersPerClass >= 1 else {
            throw DataError("--clusters-per-class must be at least 1 (got \(c.clustersPerClass))")
        }
        guard c.flipY >= 0 && c.flipY <= 1 else { throw DataError("--flip-y must lie in [0, 1] (got \(c.flipY))") }
        guard c.classSep > 0 && c.classSep.isFinite else {
            throw DataError("--class-sep must be a positive finite number (got \(c.classSep))")
        }
        if case .value(let v) = c.shift, !v.isFinite { throw DataError("--shift must be finite (got \(v))") }
        if case .value(let v) = c.scale, !(v > 0 && v.isFinite) {
            throw DataError("--scale must be a positive finite number (got \(v))")
        }
        let used = c.informative.addingReportingOverflow(c.redundant)
        guard !used.overflow, used.partialValue + c.repeated <= c.features else {
            throw DataError("--informative + --redundant + --repeated must be at most --features (\(c.features))")
        }
        let (clusters, overflow) = c.classes.multipliedReportingOverflow(by: c.clustersPerClass)
        guard !overflow, c.informative >= 62 || (1 << c.informative) >= clusters else {
            throw DataError("--informative (\(c.informative)) must be at least log2(--classes * --clusters-per-class)")
        }
        if let w = c.weights {
            guard w.count == c.classes || w.count == c.classes - 1 else {
                throw DataError("--weights must have --classes or --classes - 1 entries (got \(w.count))")
            }
            let full = fullWeights(c)
            guard full.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw DataError("--weights must be finite, non-negative and (with classes - 1 entries) sum to at most 1")
            }
        }
        let f = spec.split.testFraction
        if f != 0 {
            guard f > 0 && f < 1 else { throw DataError("--test-fraction must be 0 or lie strictly between 0 and 1 (got \(f))") }
            let nTest = testRows(fraction: f, samples: c.samples)
            guard c.samples - nTest >= 1 else {
                throw DataError("--test-fraction \(f) of \(c.samples) samples leaves an empty training set")
            }
        }
        guard !spec.split.stratify else {
            throw DataError("--stratify is not supported by the counter generator (it would need every label on every rank)")
        }
    }

    /// scikit-learn's weight vector: `nil` -> `1/K` each; `K - 1` entries -> last `1 - sum`
    /// (left-to-right sum); `K` entries as given.
    static func fullWeights(_ c: ClassificationSpec) -> [Double] {
        guard var w = c.weights else { return Array(repeating: 1.0 / Double(c.classes), count: c.classes) }
        if w.count == c.classes - 1 {
            var sum = 0.0
            for v in w { sum += v }
            w.append(1.0 - sum)
        }
        return w
    }

    /// scikit-learn's cluster sizes (spec 2.3): `int(n * w[k mod K] / clustersPerClass)`, then the
    /// shortfall handed out one row at a time to clusters 0, 1, 2, ... cyclically. `[clusters]`.
    public static func clusterSizes(_ c: ClassificationSpec) -> [Int] {
        let w = fullWeights(c)
        let clusters = c.classes * c.clustersPerClass
        var sizes = (0..<clusters).map { k in Int(Double(c.samples) * w[k % c.classes] / Double(c.clustersPerClass)) }
        let shortfall = c.samples - sizes.reduce(0, +)
        if shortfall > 0 { for i in 0..<shortfall { sizes[i % clusters] += 1 } }
        return sizes
    }

    /// `ceil(f * n)` in double precision (scikit-learn's float `test_size`).
    static func testRows(fraction f: Double, samples n: Int) -> Int {
        let t = f * Double(n)
        let i = Int(t)
        return Double(i) < t ? i + 1 : i
    }

    // MARK: Construction of the global state

    public init(_ spec: DatasetSpec) throws {
        try Self.validate(spec)
        let c = spec.classification
        self.spec = spec
        features = c.features
        classes = c.classes
        informative = c.informative
        redundant = c.redundant
        repeated = c.repeated
        noise = c.features - c.informative - c.redundant - c.repeated
        clusters = c.classes * c.clustersPerClass
        flipY = c.flipY
        testCount = spec.split.testFraction == 0 ? 0 : Self.testRows(fraction: spec.split.testFraction, samples: c.samples)
        trainCount = c.samples - testCount

        var starts = [0]
        for size in Self.clusterSizes(c) { starts.append(min(c.samples, starts.last! + size)) }
        clusterStart = starts

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

    /// The cluster of generated row `g` (its class before label noise is `cluster % classes`).
    public func cluster(ofGenerated g: Int) -> Int {
        var lo = 0, hi = clusters  // clusterStart[lo] <= g < clusterStart[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if clusterStart[mid] <= g { lo = mid } else { hi = mid }
        }
        return lo
    }

    // MARK: Rows

    public func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        (try materialise(.train, train), try materialise(.test, test))
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
        let scratchCount = 2 * (informative + noise + 1) + features
        var scratch = [Double](repeating: 0, count: scratchCount)
        x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    var out = 0
                    for r in ranges {
                        for position in r {
                            let g = generatedRow(datasetRow(part, position: position))
                            yb[out] = generate(g, into: xb.baseAddress! + out * features, scratch: sb.baseAddress!)
                            out += 1
                        }
                    }
                }
            }
        }
        return Rows(features: features, x: x, y: y)
    }

    /// Writes generated row `g` (`[features]`, output column order) to `out` and returns its label.
    /// `scratch` holds at least `2 * (informative + noise + 1) + features` doubles.
    @inline(__always)
    func generate(_ g: Int, into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) -> Int32 {
        let inf = informative
        let k = cluster(ofGenerated: g)
        let lo = UInt32(truncatingIfNeeded: g), hi = UInt32(truncatingIfNeeded: g >> 32)
        // Normal deviates z: [informative | noise], two per Philox block.
        let z = scratch
        let normals = inf + noise
        var j = 0
        var block: UInt32 = 0
        while j < normals {
            let (a, b) = RandomBits.normalPair(sampleKey.block(.init(lo, hi, block, CounterKeys.normalDomain)))
            z[j] = a
            z[j + 1] = b
            j += 2
            block += 1
        }
        // Pre-shuffle columns: informative | redundant | repeated | noise.
        let pre = scratch + 2 * (normals / 2 + 1)
        transforms.withUnsafeBufferPointer { a in
            centres.withUnsafeBufferPointer { centre in
                let base = a.baseAddress! + k * inf * inf
                for col in 0..<inf { pre[col] = 0 }
                for i in 0..<inf {
                    let zi = z[i]
                    let row = base + i * inf
                    for col in 0..<inf { pre[col] += zi * row[col] }
                }
                for col in 0..<inf { pre[col] += centre[k * inf + col] }
            }
        }
        if redundant > 0 {
            redundantMap.withUnsafeBufferPointer { b in
                for col in 0..<redundant { pre[inf + col] = 0 }
                for i in 0..<inf {
                    let xi = pre[i]
                    let row = b.baseAddress! + i * redundant
                    for col in 0..<redundant { pre[inf + col] += xi * row[col] }
                }
            }
        }
        for r in 0..<repeated { pre[inf + redundant + r] = pre[repeatedSources[r]] }
        let noiseStart = inf + redundant + repeated
        for r in 0..<noise { pre[noiseStart + r] = z[inf + r] }
        // Shift, scale, column order.
        shifts.withUnsafeBufferPointer { shift in
            scales.withUnsafeBufferPointer { scale in
                columnOrder.withUnsafeBufferPointer { order in
                    for col in 0..<features {
                        let src = order[col]
                        out[col] = (pre[src] + shift[src]) * scale[src]
                    }
                }
            }
        }
        // Label: the cluster's class, replaced with probability flipY by a uniform class.
        var label = k % classes
        let flip = sampleKey.block(.init(lo, hi, 0, CounterKeys.labelDomain))
        if RandomBits.uniform(flip.x, flip.y) < flipY {
            label = RandomBits.below(classes, flip.z, flip.w)
        }
        return Int32(label)
    }
}
