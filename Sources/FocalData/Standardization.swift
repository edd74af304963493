// Standardization: scikit-learn's StandardScaler as fitted statistics — per-feature mean and
// population standard deviation — applied to float64 rows before the cast to the training
// precision. The statistics are computed by `standardizationStatistics` (FocalCore) from exact
// global sums; here are the value, its transform and its text form in model files.
import FocalFormats

/// Fitted StandardScaler statistics (`mean_`, `scale_`), each `[features]`.
public struct Standardization: Sendable, Equatable {
    /// `[features]` scikit-learn's `mean_`.
    public var mean: [Double]
    /// `[features]` scikit-learn's `scale_`: sqrt(var_), 1 for (near-)constant features.
    public var scale: [Double]

    public init(mean: [Double], scale: [Double]) {
        precondition(mean.count == scale.count, "Standardization: mean and scale of different lengths")
        self.mean = mean
        self.scale = scale
    }

    public var features: Int { mean.count }

    /// `StandardScaler.transform`: `x = (x - mean_) / scale_` in float64, in place, on rows
    /// `x` `[rows, features]` row-major (scikit-learn: `X -= self.mean_; X /= self.scale_`).
    public func apply(to x: inout [Double]) {
        let f = mean.count
        guard f > 0 else { return }
        x.withUnsafeMutableBufferPointer { b in
            mean.withUnsafeBufferPointer { m in
                scale.withUnsafeBufferPointer { s in
                    var i = 0
                    while i < b.count {
                        for j in 0..<f { b[i + j] = (b[i + j] - m[j]) / s[j] }
                        i += f
                    }
                }
            }
        }
    }

    /// scikit-learn's `scale_` from the population variance `var_` (`StandardScaler.partial_fit`):
    /// features found constant by `_is_constant_feature(var, mean, n_samples)` — `var <=
    /// n*eps*var + (n*mean*eps)^2`, eps of float64 — get scale 1 (`_handle_zeros_in_scale` with
    /// that mask); the others `sqrt(var)`.
    public static func scale(variance v: Double, mean m: Double, samples n: Int) -> Double {
        let eps = Double.ulpOfOne
        let nd = Double(n)
        let bound = nd * eps * v + (nd * m * eps) * (nd * m * eps)
        return v <= bound ? 1.0 : v.squareRoot()
    }

    // MARK: - Model-file metadata (shortest round-trip decimals)

    /// Metadata keys of a model file.
    public static let meanKey = "standardize_mean", scaleKey = "standardize_scale"

    /// The statistics as metadata: comma-separated shortest round-trip decimals (Swift's
    /// `Double.description`, which parses back to the same bits, as Python's `repr`).
    public var metadata: [String: String] {
        [Self.meanKey: mean.map { $0.description }.joined(separator: ","),
         Self.scaleKey: scale.map { $0.description }.joined(separator: ",")]
    }

    /// The statistics stored in a model file's metadata, nil when it holds none. Throws when they
    /// are malformed or do not match `features`.
    public static func from(metadata: [String: String], features: Int, path: String) throws -> Standardization? {
        let m = metadata[meanKey], s = metadata[scaleKey]
        if m == nil && s == nil { return nil }
        guard let m, let s else { throw DataError("\(path): metadata holds only one of \(meanKey) and \(scaleKey)") }
        func parse(_ text: String, _ key: String) throws -> [Double] {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            var out: [Double] = []
            for p in parts {
                guard let v = Double(p), v.isFinite else { throw DataError("\(path): metadata \(key) holds '\(p)', not a finite number") }
                out.append(v)
            }
            guard out.count == features else {
                throw DataError("\(path): metadata \(key) holds \(out.count) values, but the model has \(features) features")
            }
            return out
        }
        let scale = try parse(s, scaleKey)
        if let bad = scale.firstIndex(where: { !($0 > 0) }) {
            throw DataError("\(path): metadata \(scaleKey) value \(scale[bad]) at feature \(bad) is not > 0")
        }
        return Standardization(mean: try parse(m, meanKey), scale: scale)
    }
}
