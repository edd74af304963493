// ClassificationPlan: a generated data set's parameters checked once, and the sizes both generators derive from them.

// MARK: - The plan

/// A `DatasetSpec` that has passed every rule, with the quantities scikit-learn derives from it
/// before drawing any random number: the completed class proportions, the samples per cluster,
/// the cluster of each generated row and the train/test sizes. Both generators
/// (`SklearnDataSource`, `CounterDataSource`) are built from a plan, so a spec is accepted or
/// refused identically by both and these sizes are computed in one place.
///
/// Rules (scikit-learn 1.9.1, `make_classification`'s parameter table and its own checks in
/// `sklearn/datasets/_samples_generator.py`, `train_test_split` in
/// `sklearn/model_selection/_split.py`): samples, features, informative and clusters per class
/// `>= 1`; redundant and repeated `>= 0`; `informative + redundant + repeated <= features`;
/// `informative >= log2(classes * clustersPerClass)`; weights of length `classes` or
/// `classes - 1`; `flipY` in `[0, 1]`; `classSep > 0`; `scale > 0`; a float test size strictly
/// between 0 and 1 that leaves a non-empty training set. The project's own limits on top: at
/// least 2 classes (scikit-learn accepts 1; a classifier cannot be trained on one); weights
/// finite, non-negative, a `classes - 1` list summing to at most 1, and no cluster size beyond
/// `Int`; `classSep`, `shift` and `scale` finite; a test fraction of 0 means "no test set";
/// `stratify` needs a test set, at least `classes` rows in each part (scikit-learn's
/// `StratifiedShuffleSplit` rule) and is refused by the counter generator (it would need every
/// label on every rank).
///
/// Errors name a `Field`, never command-line text; the command line maps fields to its options.
public struct ClassificationPlan: Sendable, Equatable {
    /// The validated spec.
    public let spec: DatasetSpec
    /// `classes * clustersPerClass`.
    public let clusters: Int
    /// Pure-noise columns, `features - informative - redundant - repeated` (scikit-learn's `n_random`).
    public let noise: Int
    /// `[classes]` the full weight vector: `nil` gives `1/K` each; `K` entries are used as given
    /// (not rescaled, as scikit-learn); `K - 1` entries get a last entry `1 - sum` (left-to-right
    /// float sum, as Python's `sum` of a list).
    public let proportions: [Double]
    /// `[clusters]` scikit-learn's `n_samples_per_cluster`: `int(samples * w[k mod K] / clustersPerClass)`
    /// (multiply, then divide, truncated), the shortfall from `samples` handed out one row at a time
    /// to clusters `0, 1, 2, ...` cyclically. May sum to more than `samples` when the weights do.
    public let clusterSizes: [Int]
    /// `[clusters + 1]`: cluster `k` holds generated rows `clusterStarts[k] ..< clusterStarts[k + 1]`,
    /// clamped to `samples` (when the sizes sum to more, later clusters are cut short, possibly to
    /// nothing, as in scikit-learn).
    public let clusterStarts: [Int]
    /// Rows of the training and test parts (`train_test_split` with a float `test_size`).
    public let trainCount: Int
    public let testCount: Int

    public var classification: ClassificationSpec { spec.classification }
    public var generator: GeneratorKind { spec.generator }
    public var samples: Int { spec.classification.samples }
    public var features: Int { spec.classification.features }
    public var classes: Int { spec.classification.classes }

    /// Checks `spec` against every rule (see the type's documentation) and derives the sizes.
    public init(_ spec: DatasetSpec) throws {
        try Self.validate(spec)
        let c = spec.classification
        self.spec = spec
        clusters = c.classes * c.clustersPerClass
        noise = c.features - c.informative - c.redundant - c.repeated
        proportions = Self.proportions(c)
        clusterSizes = Self.clusterSizes(samples: c.samples, proportions: proportions, clustersPerClass: c.clustersPerClass)
        var starts = [Int](repeating: 0, count: clusters + 1)
        for k in 0..<clusters { starts[k + 1] = min(starts[k] + clusterSizes[k], c.samples) }
        clusterStarts = starts
        let sizes = Self.splitSizes(samples: c.samples, testFraction: spec.split.testFraction)
        trainCount = sizes.train
        testCount = sizes.test
    }

    // MARK: Lookups

    /// The class of cluster `k` (before label noise): `k mod classes`.
    @inlinable
    public func classOf(cluster k: Int) -> Int { k % spec.classification.classes }

    /// The cluster holding generated row `row` (rows grouped by cluster, before any shuffle),
    /// `0 <= row < samples`.
    public func cluster(ofRow row: Int) -> Int {
        precondition(row >= 0 && row < samples, "cluster(ofRow:): row out of range")
        return clusterStarts.withUnsafeBufferPointer { Self.cluster(ofRow: row, starts: $0.baseAddress!, clusters: clusters) }
    }

    /// The cluster holding `row` given raw `starts` `[clusters + 1]` (for hot loops over a plan's
    /// `clusterStarts`): the largest `k` with `starts[k] <= row` among non-empty clusters.
    @inlinable @inline(__always)
    public static func cluster(ofRow row: Int, starts: UnsafePointer<Int>, clusters: Int) -> Int {
        var lo = 0, hi = clusters  // invariant: starts[lo] <= row < starts[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if starts[mid] <= row { lo = mid } else { hi = mid }
        }
        return lo
    }

    // MARK: Derived sizes (pure functions of the spec; no random draws)

    /// The full weight vector (see `proportions`). `[classes]`.
    static func proportions(_ c: ClassificationSpec) -> [Double] {
        guard let w = c.weights else { return [Double](repeating: 1.0 / Double(c.classes), count: c.classes) }
        if w.count == c.classes { return w }
        var sum = 0.0
        for v in w { sum += v }
        return w + [1.0 - sum]
    }

    /// scikit-learn's `n_samples_per_cluster` (see `clusterSizes`). `[proportions.count * clustersPerClass]`.
    static func clusterSizes(samples n: Int, proportions w: [Double], clustersPerClass: Int) -> [Int] {
        let clusters = w.count * clustersPerClass
        var sizes = (0..<clusters).map { k in Int(Double(n) * w[k % w.count] / Double(clustersPerClass)) }
        let shortfall = n - sizes.reduce(0, +)
        if shortfall > 0 { for i in 0..<shortfall { sizes[i % clusters] += 1 } }
        return sizes
    }

    /// `train_test_split` sizes for a float `test_size` and no `train_size`
    /// (`_validate_shuffle_split`): `n_test = ceil(f * n)` with the product in float64 (so
    /// `0.07 * 100 = 7.000000000000001` gives 8), `n_train = n - n_test`. A fraction of 0 means no
    /// test set: `(n, 0)`.
    public static func splitSizes(samples n: Int, testFraction f: Double) -> (train: Int, test: Int) {
        if f == 0 { return (n, 0) }
        let product = f * Double(n)
        var nTest = Int(product)
        if Double(nTest) < product { nTest += 1 }
        return (n - nTest, nTest)
    }

    // MARK: Validation

    /// Most rows a generated data set may have (2^48: far beyond any memory, yet exact in float64).
    public static let maxSamples = 1 << 48
    /// Most columns, classes or clusters (2^24).
    public static let maxWidth = 1 << 24

    /// Throws `Invalid` for the first rule `d` breaks, in this order: the parameter table, the
    /// column budget, the log2 bound, the weights, the split.
    static func validate(_ d: DatasetSpec) throws {
        let c = d.classification
        func fail(_ field: Field, _ message: Message) -> Invalid { Invalid(field, message) }
        if c.samples < 1 { throw fail(.samples, "\(Field.samples) must be at least 1, got \(c.samples)") }
        if c.features < 1 { throw fail(.features, "\(Field.features) must be at least 1, got \(c.features)") }
        if c.informative < 1 { throw fail(.informative, "\(Field.informative) must be at least 1, got \(c.informative)") }
        if c.redundant < 0 { throw fail(.redundant, "\(Field.redundant) must be at least 0, got \(c.redundant)") }
        if c.repeated < 0 { throw fail(.repeated, "\(Field.repeated) must be at least 0, got \(c.repeated)") }
        if c.classes < 2 { throw fail(.classes, "\(Field.classes) must be at least 2, got \(c.classes)") }
        // Upper bounds that keep every size computation below (float64 products converted to Int,
        // arrays per cluster and per column) from overflowing or allocating absurd arrays.
        if c.samples > Self.maxSamples { throw fail(.samples, "\(Field.samples) must be at most \(Self.maxSamples), got \(c.samples)") }
        if c.features > Self.maxWidth { throw fail(.features, "\(Field.features) must be at most \(Self.maxWidth), got \(c.features)") }
        if c.classes > Self.maxWidth { throw fail(.classes, "\(Field.classes) must be at most \(Self.maxWidth), got \(c.classes)") }
        if c.clustersPerClass < 1 {
            throw fail(.clustersPerClass, "\(Field.clustersPerClass) must be at least 1, got \(c.clustersPerClass)")
        }
        // informative + redundant + repeated <= features (equality allowed), without overflow.
        if c.informative > c.features - c.redundant - c.repeated {
            throw fail(.features, "\(Field.informative) (\(c.informative)) + \(Field.redundant) (\(c.redundant)) + \(Field.repeated) (\(c.repeated)) exceed \(Field.features) (\(c.features))")
        }
        // n_informative < log2(n_classes * n_clusters_per_class)  <=>  2^n_informative < clusters.
        let clusters = c.classes.multipliedReportingOverflow(by: c.clustersPerClass)
        if clusters.overflow || (c.informative < 62 && (1 << c.informative) < clusters.partialValue) {
            throw fail(.informative, "\(Field.informative) (\(c.informative)) too small: 2^informative must be at least \(Field.classes) x \(Field.clustersPerClass) = \(c.classes) x \(c.clustersPerClass)")
        }
        if clusters.partialValue > Self.maxWidth {
            throw fail(.clustersPerClass, "\(Field.classes) x \(Field.clustersPerClass) = \(c.classes) x \(c.clustersPerClass) clusters is more than \(Self.maxWidth)")
        }
        if let w = c.weights {
            if w.count != c.classes && w.count != c.classes - 1 {
                throw fail(.weights, "\(Field.weights) has \(w.count) values; expected \(c.classes) or \(c.classes - 1) (\(Field.classes) or one fewer)")
            }
            if let bad = w.first(where: { !$0.isFinite || $0 < 0 }) {
                throw fail(.weights, "\(Field.weights) must be finite and non-negative, got \(bad)")
            }
            let full = proportions(c)
            if full.last! < 0 {
                throw fail(.weights, "\(Field.weights): \(c.classes - 1) values sum to more than 1, leaving the last class a negative weight")
            }
            let limit = 0x1p62
            if let big = full.first(where: { Double(c.samples) * $0 / Double(c.clustersPerClass) >= limit }) {
                throw fail(.weights, "\(Field.weights): \(big) is too large (a cluster of more than 2^62 rows)")
            }
        }
        if !(c.flipY >= 0 && c.flipY <= 1) { throw fail(.flipY, "\(Field.flipY) must lie in [0, 1], got \(c.flipY)") }
        if !(c.classSep > 0) || !c.classSep.isFinite {
            throw fail(.classSep, "\(Field.classSep) must be positive and finite, got \(c.classSep)")
        }
        if case .value(let v) = c.shift, !v.isFinite { throw fail(.shift, "\(Field.shift) must be finite, got \(v)") }
        if case .value(let v) = c.scale, !(v > 0) || !v.isFinite {
            throw fail(.scale, "\(Field.scale) must be positive and finite, got \(v)")
        }
        let s = d.split
        if s.testFraction == 0 {
            if s.stratify { throw fail(.stratify, "\(Field.stratify) needs a test set (\(Field.testFraction) > 0)") }
            return
        }
        if !(s.testFraction > 0 && s.testFraction < 1) {
            throw fail(.testFraction, "\(Field.testFraction) must lie strictly between 0 and 1 (or be 0 for no test set), got \(s.testFraction)")
        }
        let sz = splitSizes(samples: c.samples, testFraction: s.testFraction)
        if sz.train < 1 {
            throw fail(.testFraction, "\(Field.testFraction) \(s.testFraction) of \(c.samples) \(Field.samples) leaves an empty training set")
        }
        if sz.test < 1 {
            throw fail(.testFraction, "\(Field.testFraction) \(s.testFraction) of \(c.samples) \(Field.samples) gives an empty test set")
        }
        if s.stratify {
            if d.generator == .counter {
                throw fail(.stratify, "\(Field.stratify) is not supported by the counter generator (it would need every label on every rank)")
            }
            // StratifiedShuffleSplit: each part must hold at least one row per class.
            if sz.train < c.classes {
                throw fail(.stratify, "\(Field.stratify): \(sz.train) training rows are fewer than the \(c.classes) classes (change \(Field.testFraction))")
            }
            if sz.test < c.classes {
                throw fail(.stratify, "\(Field.stratify): \(sz.test) test rows are fewer than the \(c.classes) classes (change \(Field.testFraction))")
            }
        }
    }
}

// MARK: - Fields and errors

extension ClassificationPlan {
    /// A parameter of `DatasetSpec` (named as its Swift property; the command line maps each to an option).
    public enum Field: String, Sendable, CaseIterable {
        case generator
        case samples, features, informative, redundant, repeated, classes, clustersPerClass, weights
        case flipY, classSep, shift, scale
        case testFraction, stratify
    }

    /// Error text that refers to fields, so that each user interface can name them its own way.
    /// Written as a string literal with `\(Field.x)` interpolations; any other interpolated value
    /// becomes text.
    public struct Message: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
        public enum Piece: Sendable, Equatable {
            case text(String)
            case field(Field)
        }

        public let pieces: [Piece]

        public init(stringLiteral value: String) { pieces = [.text(value)] }
        public init(stringInterpolation: Interpolation) { pieces = stringInterpolation.pieces }

        public struct Interpolation: StringInterpolationProtocol {
            var pieces: [Piece] = []
            public init(literalCapacity: Int, interpolationCount: Int) {}
            public mutating func appendLiteral(_ literal: String) { if !literal.isEmpty { pieces.append(.text(literal)) } }
            public mutating func appendInterpolation(_ field: Field) { pieces.append(.field(field)) }
            public mutating func appendInterpolation<T>(_ value: T) { pieces.append(.text("\(value)")) }
        }

        /// The text with each field written as `name(field)`.
        public func rendered(naming name: (Field) -> String) -> String {
            pieces.map { piece -> String in
                switch piece {
                case .text(let t): return t
                case .field(let f): return name(f)
                }
            }.joined()
        }

        /// The text with fields under their Swift property names.
        public var description: String { rendered { $0.rawValue } }
    }

    /// A spec the plan refuses: the field at fault and a one-line message.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let field: Field
        public let message: Message

        public init(_ field: Field, _ message: Message) {
            self.field = field
            self.message = message
        }

        public var description: String { message.description }
    }
}
