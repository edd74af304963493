// ValidationSplit: a validation part set aside from the training rows (`--val-fraction`) or read
// from its own files (`--val-data`), presented to the loader as ordinary data sources.
//
// The validation rows are chosen by the project's StratifiedShuffleSplit (`stratifiedShuffleSplit`,
// scikit-learn's `train_test_split(stratify=y, test_size=F, random_state=seed)`) on the labels of
// all training rows, so the choice depends on the seed only, never on the number of ranks. The
// remaining training rows and the validation rows both keep their original order.
import FocalFormats

/// Which rows of a base source one part of a view shows.
public enum PartMap {
    /// No rows.
    case none
    /// Every row of the base part, in order.
    case all(SplitPart)
    /// The base part's rows at these positions `[count]`, strictly ascending.
    case subset(SplitPart, [Int])

    var count: (DataSource) -> Int {
        { base in
            switch self {
            case .none: return 0
            case .all(let p): return p == .train ? base.trainCount : base.testCount
            case .subset(_, let rows): return rows.count
            }
        }
    }

    /// The base part and base ranges behind view ranges (sorted in, sorted out).
    func map(_ ranges: [Range<Int>]) -> (SplitPart, [Range<Int>])? {
        switch self {
        case .none: return nil
        case .all(let p): return (p, ranges)
        case .subset(let p, let rows):
            var out: [Range<Int>] = []
            for r in ranges {
                for i in r {
                    let o = rows[i]
                    if let last = out.last, last.upperBound == o { out[out.count - 1] = last.lowerBound..<(o + 1) } else { out.append(o..<(o + 1)) }
                }
            }
            return (p, out)
        }
    }
}

/// A data source whose train and test parts are chosen parts (or subsets) of a base source.
public struct PartView: DataSource {
    public let base: DataSource
    public let train: PartMap, test: PartMap
    public let features: Int
    public let classes: Int
    public let trainCount: Int, testCount: Int
    public var isSequential: Bool { base.isSequential }

    /// `classes`: the number of classes to report (nil: the base source's).
    public init(base: DataSource, train: PartMap, test: PartMap, classes: Int? = nil) {
        self.base = base
        self.train = train
        self.test = test
        features = base.features
        self.classes = classes ?? base.classes
        trainCount = train.count(base)
        testCount = test.count(base)
    }

    /// The base source's location of the row behind view row `row` of `part`.
    public func location(_ part: SplitPart, row: Int) -> String {
        guard let (basePart, ranges) = (part == .train ? train : test).map([row..<(row + 1)]),
              let r = ranges.first else { return "\(part == .train ? "training" : "test") row \(row)" }
        return base.location(basePart, row: r.lowerBound)
    }

    public func rows(train tr: [Range<Int>], test te: [Range<Int>]) throws -> (train: Rows, test: Rows) {
        let a = tr.isEmpty ? nil : train.map(tr), b = te.isEmpty ? nil : test.map(te)
        let empty = Rows(features: features)
        switch (a, b) {
        case (nil, nil): return (empty, empty)
        case let (x?, nil): return (try base.rows(x.0, ranges: x.1), empty)
        case let (nil, y?): return (empty, try base.rows(y.0, ranges: y.1))
        case let (x?, y?):
            if x.0 != y.0 {
                let both = try base.rows(train: x.0 == .train ? x.1 : y.1, test: x.0 == .train ? y.1 : x.1)
                return x.0 == .train ? (both.train, both.test) : (both.test, both.train)
            }
            return (try base.rows(x.0, ranges: x.1), try base.rows(y.0, ranges: y.1))
        }
    }
}

/// The labels `[trainCount]` of every training row of `source` (read in blocks of `blockRows`).
public func allTrainingLabels(_ source: DataSource, blockRows: Int = 65_536) throws -> [Int32] {
    let n = source.trainCount
    if source.isSequential || n <= blockRows { return n == 0 ? [] : try source.rows(.train, ranges: [0..<n]).y }
    var y: [Int32] = []
    y.reserveCapacity(n)
    var start = 0
    while start < n {
        let end = min(n, start + blockRows)
        y += try source.rows(.train, ranges: [start..<end]).y
        start = end
    }
    return y
}

/// The split of the training rows into remaining training rows and validation rows, both
/// ascending positions of the training part. `ceil(fraction * n)` validation rows (scikit-learn's
/// `test_size` rule), stratified by label. Throws, naming `--val-fraction`, when a class has fewer
/// than 2 training rows or gets no validation row.
public func validationSplit(labels y: [Int32], classes k: Int, fraction: Double, seed: UInt32) throws -> (train: [Int], validation: [Int]) {
    let n = y.count
    let nVal = Int((fraction * Double(n)).rounded(.up))
    let nTrain = n - nVal
    let counts = labelCounts(y, classes: k)
    if let bad = counts.indices.first(where: { counts[$0] < 2 }) {
        throw DataError("--val-fraction \(fraction): class \(bad) has \(counts[bad]) training row(s); a stratified validation split needs at least 2 per class")
    }
    guard nVal >= k, nTrain >= k else {
        throw DataError("--val-fraction \(fraction): \(nVal) validation and \(nTrain) training rows cannot hold each of the \(k) classes")
    }
    let split = try stratifiedShuffleSplit(labels: y, classes: k, train: nTrain, test: nVal, seed: seed)
    var valCounts = [Int](repeating: 0, count: k)
    for i in split.test { valCounts[Int(y[i])] += 1 }
    if let bad = valCounts.indices.first(where: { valCounts[$0] == 0 }) {
        throw DataError("--val-fraction \(fraction): class \(bad) gets no validation row (raise --val-fraction)")
    }
    return (split.train.sorted(), split.test.sorted())
}
