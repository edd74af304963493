// DataSpec: the parameters of a synthetic imbalanced data set and its train/test split, and the
// interface every data source offers to the trainer (materialise only the rows a rank owns).
import FocalFormats

// MARK: - Generator parameters (scikit-learn's make_classification, same names and defaults)

/// A per-feature shift or scale: a scalar for every column, or drawn at random
/// (scikit-learn's `None`: shift `(2u - 1) * class_sep`, scale `1 + 100u`).
public enum ColumnTransform: Codable, Sendable, Equatable {
    case value(Double)
    case random
}

/// Which generator makes the rows.
public enum GeneratorKind: String, Codable, Sendable, CaseIterable {
    /// Bit-for-bit `sklearn.datasets.make_classification` (sequential MT19937 stream).
    case sklearn
    /// The same construction from a counter-based generator keyed by (seed, sample index).
    case counter
}

/// Parameters of `make_classification`. Defaults are the tutorial's call.
public struct ClassificationSpec: Codable, Sendable, Equatable {
    public var samples: Int = 1000
    public var features: Int = 20
    public var informative: Int = 10
    public var redundant: Int = 5
    public var repeated: Int = 0
    public var classes: Int = 2
    public var clustersPerClass: Int = 2
    /// Class proportions: length `classes` (used as given) or `classes - 1` (last = 1 - sum);
    /// `nil` means equal proportions (scikit-learn's `None`).
    public var weights: [Double]? = [0.8, 0.2]
    public var flipY: Double = 0.01
    public var classSep: Double = 1.0
    public var hypercube: Bool = true
    public var shift: ColumnTransform = .value(0.0)
    public var scale: ColumnTransform = .value(1.0)
    public var shuffle: Bool = true
    /// `random_state`; scikit-learn accepts 0...2^32-1.
    public var seed: UInt32 = 42

    public init() {}
}

/// The train/test split (`train_test_split(test_size=, shuffle=True, random_state=, stratify=)`).
public struct SplitSpec: Codable, Sendable, Equatable {
    /// Fraction of rows in the test set, strictly between 0 and 1 (scikit-learn: `ceil(f * n)` rows);
    /// 0 means no test set at all.
    public var testFraction: Double = 0.2
    public var seed: UInt32 = 42
    /// Stratified split (scikit-learn's `stratify=y`).
    public var stratify: Bool = false

    public init() {}
}

/// Everything that defines a generated data set.
public struct DatasetSpec: Codable, Sendable, Equatable {
    public var generator: GeneratorKind = .sklearn
    public var classification = ClassificationSpec()
    public var split = SplitSpec()

    public init() {}
}

// MARK: - Rows handed to the trainer (`Rows` lives in FocalFormats: the CSV reader produces it)

/// Which part of the split.
public enum SplitPart: String, Sendable {
    case train, test
}

/// A data set that can produce any subset of its rows without holding the rest.
///
/// Row positions are positions *within a split part*, in the part's own order (for the sklearn
/// generator: the order `train_test_split` returns). A position is a function of the seed and the
/// index only, never of the number of ranks.
public protocol DataSource {
    var features: Int { get }
    var classes: Int { get }
    var trainCount: Int { get }
    var testCount: Int { get }
    /// The rows at `ranges` (sorted, non-overlapping positions of `part`), concatenated in order.
    func rows(_ part: SplitPart, ranges: [Range<Int>]) throws -> Rows
    /// Both parts at once (lets a sequential generator replay its stream only once).
    func rows(train: [Range<Int>], test: [Range<Int>]) throws -> (train: Rows, test: Rows)
    /// True when every call replays the whole data set (ask for all rows in one call); false when
    /// rows can be fetched block by block at a cost proportional to the block.
    var isSequential: Bool { get }
    /// Where row `row` of `part` comes from, for messages ("X.npy: row 12").
    func location(_ part: SplitPart, row: Int) -> String
}

extension DataSource {
    public var isSequential: Bool { false }

    public func location(_ part: SplitPart, row: Int) -> String {
        "\(part == .train ? "training" : "test") row \(row)"
    }

    public func rows(_ part: SplitPart, ranges: [Range<Int>]) throws -> Rows {
        let both = try rows(train: part == .train ? ranges : [], test: part == .test ? ranges : [])
        return part == .train ? both.train : both.test
    }
}
