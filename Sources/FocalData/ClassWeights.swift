// ClassWeights: per-class loss weights from training-set counts (tutorial, balanced, effective number).

import FocalFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Schemes

/// How per-class weights are derived from the training label counts.
public enum ClassWeightScheme: Sendable, Equatable, CustomStringConvertible {
    /// The tutorial's `1.0 / (count / n)`, evaluated exactly in that order in float64.
    case inverse
    /// scikit-learn's `compute_class_weight("balanced")`: `n / (K * count)`.
    case balanced
    /// Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of Samples":
    /// `(1 - beta) / (1 - beta^count)`, normalised so the weights sum to `K`.
    case effective(beta: Double)
    /// All ones.
    case none
    /// Given weights, one per class.
    case explicit([Double])

    /// The default `beta` of `effective` (Cui et al. use 0.9 ... 0.9999).
    public static let defaultBeta = 0.999

    /// Parses `--class-weights`: `inverse | balanced | effective | effective:<beta> | none | w0,w1,...`.
    public init(parsing text: String) throws {
        let t = text.trimmingCharactersInSpaces()
        switch t {
        case "inverse": self = .inverse
        case "balanced": self = .balanced
        case "effective": self = .effective(beta: Self.defaultBeta)
        case "none": self = .none
        default:
            if t.hasPrefix("effective:") {
                guard let beta = Double(t.dropFirst("effective:".count)), beta > 0, beta < 1 else {
                    throw DataError("--class-weights: effective:<beta> needs 0 < beta < 1, got '\(text)'")
                }
                self = .effective(beta: beta)
                return
            }
            let parts = t.split(separator: ",", omittingEmptySubsequences: false)
            var values = [Double]()
            for p in parts {
                guard let v = Double(p.trimmingCharactersInSpaces()) else {
                    throw DataError("--class-weights: expected inverse, balanced, effective, none or w0,w1,...; got '\(text)'")
                }
                values.append(v)
            }
            self = .explicit(values)
        }
    }

    public var description: String {
        switch self {
        case .inverse: return "inverse"
        case .balanced: return "balanced"
        case .effective(let beta): return beta == Self.defaultBeta ? "effective" : "effective:\(beta)"
        case .none: return "none"
        case .explicit(let w): return w.map { "\($0)" }.joined(separator: ",")
        }
    }
}

// MARK: - Counts

/// Rows per class, `[classes]`, of labels in `0..<classes` (NumPy's `bincount(y, minlength=classes)`).
public func labelCounts<S: Sequence>(_ labels: S, classes: Int) -> [Int64] where S.Element == Int32 {
    var counts = [Int64](repeating: 0, count: classes)
    for y in labels { counts[Int(y)] += 1 }
    return counts
}

// MARK: - Weights

/// Per-class weights `[K]` from training label counts `counts` `[K]` (global counts, not per rank).
/// Throws a `--class-weights` error for a class without rows under a scheme dividing by its count,
/// and for an explicit list of the wrong length or with negative or non-finite values.
public func classWeights(scheme: ClassWeightScheme, counts: [Int64]) throws -> [Double] {
    let k = counts.count
    let n = Double(counts.reduce(0, +))
    func requireAllPresent() throws {
        if let c = counts.firstIndex(where: { $0 <= 0 }) {
            throw DataError("--class-weights \(scheme): class \(c) has no training rows, its weight would divide by zero")
        }
    }
    switch scheme {
    case .inverse:
        try requireAllPresent()
        return counts.map { 1.0 / (Double($0) / n) }
    case .balanced:
        try requireAllPresent()
        return counts.map { n / (Double(k) * Double($0)) }
    case .effective(let beta):
        guard beta > 0, beta < 1 else { throw DataError("--class-weights: effective needs 0 < beta < 1, got \(beta)") }
        try requireAllPresent()
        let raw = counts.map { (1.0 - beta) / (1.0 - pow(beta, Double($0))) }
        let sum = raw.reduce(0, +)
        return raw.map { $0 / sum * Double(k) }
    case .none:
        return [Double](repeating: 1.0, count: k)
    case .explicit(let w):
        if w.count != k { throw DataError("--class-weights: \(w.count) values given for \(k) classes") }
        if let bad = w.first(where: { !$0.isFinite || $0 < 0 }) {
            throw DataError("--class-weights: weights must be finite and non-negative, got \(bad)")
        }
        return w
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces (no Foundation needed).
    func trimmingCharactersInSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
