// Threshold: the decision threshold of a binary classifier chosen on validation scores.
//
// Rule (issue 12): class 1 when p1 >= t; t is one of the validation scores (the thresholds of
// scikit-learn's `precision_recall_curve` and `roc_curve`); among thresholds with the best value
// the largest wins. `recall-at-precision=P`: the highest recall among thresholds with precision
// >= P; `precision-at-recall=R`: the highest precision among thresholds with recall >= R. Each
// value is one correctly rounded division of exact integer counts, so equal fractions compare equal.

/// `--tune-threshold`.
public enum ThresholdObjective: Sendable, Equatable, CustomStringConvertible {
    case f1
    case balancedAccuracy
    case recallAtPrecision(Double)
    case precisionAtRecall(Double)

    /// Parses `f1`, `balanced-accuracy`, `recall-at-precision=P`, `precision-at-recall=R` (P, R in (0, 1]).
    public init?(_ text: String) {
        func value(_ prefix: String) -> Double? {
            guard text.hasPrefix(prefix), let v = Double(text.dropFirst(prefix.count)), v > 0, v <= 1 else { return nil }
            return v
        }
        if text == "f1" { self = .f1 } else if text == "balanced-accuracy" { self = .balancedAccuracy }
        else if let p = value("recall-at-precision=") { self = .recallAtPrecision(p) }
        else if let r = value("precision-at-recall=") { self = .precisionAtRecall(r) }
        else { return nil }
    }

    public var description: String {
        switch self {
        case .f1: return "f1"
        case .balancedAccuracy: return "balanced-accuracy"
        case .recallAtPrecision(let p): return "recall-at-precision=\(p)"
        case .precisionAtRecall(let r): return "precision-at-recall=\(r)"
        }
    }
}

/// An operating point: the threshold and its counts on the rows it was chosen on.
public struct OperatingPoint: Sendable, Equatable {
    public var threshold: Double
    public var tp: Int64, fp: Int64, tn: Int64, fn: Int64
    public init(threshold: Double, tp: Int64, fp: Int64, tn: Int64, fn: Int64) {
        self.threshold = threshold
        self.tp = tp
        self.fp = fp
        self.tn = tn
        self.fn = fn
    }
    public var precision: Double { Double(tp) / Double(max(1, tp + fp)) }
    public var recall: Double { Double(tp) / Double(max(1, tp + fn)) }
    public var f1: Double { Double(2 * tp) / Double(max(1, 2 * tp + fp + fn)) }
    public var balancedAccuracy: Double {
        let p = tp + fn, n = tn + fp
        return Double(tp * n + tn * p) / Double(max(1, 2 * p * n))
    }
}

/// The threshold for `objective` on scores `p1` `[rows]` with labels `y` `[rows]` (0 or 1); nil
/// when no threshold meets a constraint (or there are no rows).
public func chooseThreshold(p1: [Double], labels y: [Int32], objective: ThresholdObjective) -> OperatingPoint? {
    let order = p1.indices.sorted { p1[$0] > p1[$1] }
    let positives = Int64(y.reduce(0) { $0 + ($1 == 1 ? 1 : 0) }), negatives = Int64(y.count) - positives
    var best: (point: OperatingPoint, key: Double)? = nil
    var tp: Int64 = 0, fp: Int64 = 0
    var i = 0
    while i < order.count {
        let t = p1[order[i]]
        while i < order.count && p1[order[i]] == t {
            if y[order[i]] == 1 { tp += 1 } else { fp += 1 }
            i += 1
        }
        let point = OperatingPoint(threshold: t, tp: tp, fp: fp, tn: negatives - fp, fn: positives - tp)
        let key: Double?
        switch objective {
        case .f1: key = point.f1
        case .balancedAccuracy: key = point.balancedAccuracy
        case .recallAtPrecision(let p): key = point.precision >= p ? point.recall : nil
        case .precisionAtRecall(let r): key = point.recall >= r ? point.precision : nil
        }
        // Thresholds come in decreasing order: only a strictly better value replaces the best,
        // so among equal values the largest threshold stays.
        if let key, best == nil || key > best!.key { best = (point, key) }
    }
    return best?.point
}
