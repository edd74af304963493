// Calibration: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks")
// and the calibration figures, all in float64 on logits gathered in global row order (so every
// rank computes the same bits, for any number of ranks).
//
// - NLL(T) = mean_i [logsumexp(z_i / T) - z_{i,y_i} / T]; with beta = 1/T it is convex in beta
//   (its second derivative is the mean variance of z under softmax(beta z)), so the minimiser is
//   unique. `fitTemperature`: golden-section search on log T over [log 0.01, log 100] with a
//   fixed number of iterations, then Newton steps in beta, each kept only when |dNLL/dbeta| shrinks.
// - log loss: scikit-learn's `log_loss` (probabilities clipped to [eps, 1 - eps], eps of float64).
// - Brier: binary `brier_score_loss(y, p1)` = mean (p1 - y)^2; multiclass mean_i sum_k (p_ik - [y_i = k])^2.
// - ECE: over top-label confidence, 15 equal-width bins placed as `calibration_curve` places them
//   (`np.searchsorted(linspace(0, 1, 16)[1:-1], c)`: bin i = (i/15, (i+1)/15], the first holding 0),
//   sum_b (n_b / n) |accuracy_b - confidence_b|.
// - `calibrationCurve`: scikit-learn's `calibration_curve(y, p1, n_bins, strategy="uniform")`.
#if canImport(Glibc)
import Glibc
#endif

/// Row-wise softmax of `logits` `[rows, classes]` divided by `temperature`, in float64
/// (max-shifted, as torch.softmax). Returns `[rows, classes]`.
public func softmax64(logits z: [Double], classes k: Int, temperature t: Double = 1) -> [Double] {
    var p = [Double](repeating: 0, count: z.count)
    let rows = k > 0 ? z.count / k : 0
    for r in 0..<rows {
        var m = -Double.infinity
        for j in 0..<k { m = max(m, z[r * k + j] / t) }
        var s = 0.0
        for j in 0..<k { let e = exp(z[r * k + j] / t - m); p[r * k + j] = e; s += e }
        for j in 0..<k { p[r * k + j] /= s }
    }
    return p
}

/// Mean negative log-likelihood of softmax(logits / T) (`logits` `[rows, classes]`, `y` `[rows]`).
public func temperatureNLL(logits z: [Double], labels y: [Int32], classes k: Int, temperature t: Double) -> Double {
    var total = 0.0
    for r in 0..<y.count {
        var m = -Double.infinity
        for j in 0..<k { m = max(m, z[r * k + j] / t) }
        var s = 0.0
        for j in 0..<k { s += exp(z[r * k + j] / t - m) }
        total += m + log(s) - z[r * k + Int(y[r])] / t
    }
    return total / Double(max(1, y.count))
}

/// The temperature T in [0.01, 100] minimising `temperatureNLL` (see the header). Deterministic.
public func fitTemperature(logits z: [Double], labels y: [Int32], classes k: Int) -> Double {
    let f = { (u: Double) in temperatureNLL(logits: z, labels: y, classes: k, temperature: exp(u)) }
    var a = log(0.01), b = log(100.0)
    let g = (5.0.squareRoot() - 1) / 2
    var c = b - g * (b - a), d = a + g * (b - a)
    var fc = f(c), fd = f(d)
    for _ in 0..<120 {
        if fc <= fd { b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c) } else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d) }
    }
    var t = exp((a + b) / 2)
    // Newton in beta = 1/T: NLL'(beta) = mean(E_p[z] - z_y), NLL''(beta) = mean(Var_p[z]). Near the
    // minimum NLL is too flat to compare in float64, so a step is kept when |NLL'| shrinks.
    func derivatives(_ beta: Double) -> (Double, Double) {
        var d1 = 0.0, d2 = 0.0
        for r in 0..<y.count {
            var m = -Double.infinity
            for j in 0..<k { m = max(m, beta * z[r * k + j]) }
            var s = 0.0, ez = 0.0, ez2 = 0.0
            for j in 0..<k {
                let e = exp(beta * z[r * k + j] - m), v = z[r * k + j]
                s += e; ez += e * v; ez2 += e * v * v
            }
            let mean = ez / s
            d1 += mean - z[r * k + Int(y[r])]
            d2 += max(0, ez2 / s - mean * mean)
        }
        return (d1, d2)
    }
    var (d1, d2) = derivatives(1 / t)
    for _ in 0..<4 {
        guard d2 > 0, d1 != 0 else { break }
        let next = 1 / t - d1 / d2
        guard next > 0 else { break }
        let tn = min(100, max(0.01, 1 / next))
        let (n1, n2) = derivatives(1 / tn)
        guard abs(n1) < abs(d1) else { break }
        t = tn
        (d1, d2) = (n1, n2)
    }
    return t
}

/// Log loss, Brier score and ECE of probabilities `p` `[rows, classes]` against `y` `[rows]`.
public struct CalibrationFigures: Codable, Sendable, Equatable {
    public var logLoss: Double
    public var brier: Double
    public var ece: Double
    enum CodingKeys: String, CodingKey { case logLoss = "log_loss", brier, ece }

    public init(probabilities p: [Double], labels y: [Int32], classes k: Int, bins: Int = 15) {
        let n = y.count
        let eps = Double.ulpOfOne
        var ll = 0.0, br = 0.0
        for r in 0..<n {
            let c = Int(y[r])
            ll -= log(min(1 - eps, max(eps, p[r * k + c])))
            if k == 2 {
                let d = p[r * k + 1] - Double(c)
                br += d * d
            } else {
                for j in 0..<k { let d = p[r * k + j] - (j == c ? 1 : 0); br += d * d }
            }
        }
        logLoss = ll / Double(max(1, n))
        brier = br / Double(max(1, n))
        var conf = [Double](repeating: 0, count: n), correct = [Double](repeating: 0, count: n)
        for r in 0..<n {
            var best = 0
            for j in 1..<max(k, 1) where p[r * k + j] > p[r * k + best] { best = j }
            conf[r] = p[r * k + best]
            correct[r] = best == Int(y[r]) ? 1 : 0
        }
        let binned = uniformBins(conf, outcome: correct, bins: bins)
        var e = 0.0
        for b in binned where b.count > 0 {
            e += Double(b.count) / Double(max(1, n)) * abs(b.outcomeSum / Double(b.count) - b.scoreSum / Double(b.count))
        }
        ece = e
    }
}

/// Per bin: rows, sum of scores, sum of outcomes; bins placed as `calibration_curve(strategy="uniform")`.
func uniformBins(_ score: [Double], outcome: [Double], bins: Int) -> [(count: Int, scoreSum: Double, outcomeSum: Double)] {
    // np.linspace(0, 1, bins + 1)[1:-1]: i * (1 / bins); np.searchsorted(side="left") counts the
    // inner edges strictly below the value.
    let step = 1.0 / Double(bins)
    let inner = (1..<bins).map { Double($0) * step }
    var out = [(count: Int, scoreSum: Double, outcomeSum: Double)](repeating: (0, 0, 0), count: bins)
    for (i, s) in score.enumerated() {
        let b = inner.reduce(0) { $0 + ($1 < s ? 1 : 0) }
        out[b].count += 1
        out[b].scoreSum += s
        out[b].outcomeSum += outcome[i]
    }
    return out
}

/// `calibration_curve(y, p1, n_bins, strategy="uniform")`: for each non-empty bin, the fraction of
/// positives (`probTrue`) and the mean score (`probPred`).
public struct CalibrationCurve: Codable, Sendable, Equatable {
    public var probTrue: [Double]
    public var probPred: [Double]
    enum CodingKeys: String, CodingKey { case probTrue = "prob_true", probPred = "prob_pred" }

    public init(labels y: [Int32], p1: [Double], bins: Int = 15) {
        let b = uniformBins(p1, outcome: y.map { Double($0) }, bins: bins).filter { $0.count > 0 }
        probTrue = b.map { $0.outcomeSum / Double($0.count) }
        probPred = b.map { $0.scoreSum / Double($0.count) }
    }
}
