// FocalLoss: class-weighted focal loss over softmax logits, forward and gradient w.r.t. the logits.
//
// Lin et al. 2017, "Focal Loss for Dense Object Detection", eq. (5), in the tutorial's multi-class
// form: per row with logits z `[K]` and target t,
//   ce = logsumexp(z) - z[t],  pt = exp(-ce),  l = alpha[t] * (1 - pt)^gamma * ce.
// Gradient (p = softmax(z), d_jt = [j == t]):
//   dl/dz_j = alpha[t] * g * (p_j - d_jt),  g = (1 - pt)^gamma + gamma * pt * ce * (1 - pt)^(gamma - 1).
// The second term is 0 * inf at pt = 1 when gamma < 1 (the NaN trap of autograd implementations);
// written as g = (1 - pt)^gamma * (1 + gamma * pt * ce / (1 - pt)) with ce / (1 - pt) -> 1 as
// ce -> 0, and 1 - pt = -expm1(-ce) (no cancellation), it is finite for every gamma >= 0.

/// How a batch's per-row losses become one number (`--reduction`).
public enum LossReduction: String, Codable, Sendable, CaseIterable {
    /// Divide by the rows of the global batch (the tutorial's `.mean()`).
    case mean
    /// Divide by the global batch's sum of `alpha[target]` (PyTorch's `cross_entropy(weight=)`).
    case weightedMean = "weighted-mean"
    /// No division.
    case sum
}

/// Sums over a block of rows, kept as sums so that ranks can add them before dividing once.
public struct LossSums: Sendable, Equatable {
    /// Σ per-row loss.
    public var loss: Double = 0
    /// Σ alpha[target].
    public var weight: Double = 0
    public init(loss: Double = 0, weight: Double = 0) { self.loss = loss; self.weight = weight }
}

/// The focal modulating power x^gamma of both focal losses: a multiplication for the common integer
/// gammas (pow is the costliest call per row), pow otherwise. pow(0, 0) = 1 keeps gamma 0 as
/// cross-entropy.
@inline(__always)
func focalPower<T: TrainScalar>(_ gamma: T) -> (T) -> T {
    switch gamma {
    case 0: return { _ in 1 }
    case 1: return { $0 }
    case 2: return { $0 * $0 }
    default: return { T.pow($0, gamma) }
    }
}

/// Focal loss of `rows` rows and, if `dLogits` is given, the gradient of the *unnormalised* loss
/// sum w.r.t. the logits (divide by the reduction's divisor afterwards, once, globally).
/// - logits: `[rows, classes]` row-major; targets: `[rows]` in `0..<classes`;
///   alpha: `[classes]`; dLogits: `[rows, classes]` (written).
/// - Returns: the sums of the per-row losses and of `alpha[target]`, in Double.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func focalLossSums<T: TrainScalar>(logits: UnsafePointer<T>, targets: UnsafePointer<Int32>, rows: Int,
                                          classes k: Int, alpha: UnsafePointer<T>, gamma: T,
                                          dLogits: UnsafeMutablePointer<T>?) -> LossSums {
    var sums = LossSums()
    let power = focalPower(gamma)
    for r in 0..<rows {
        let z = logits + r * k
        let t = Int(targets[r])
        precondition(t >= 0 && t < k, "focalLossSums: target \(t) outside 0..<\(k)")
        var zmax = z[0]
        for j in 1..<max(k, 1) where z[j] > zmax { zmax = z[j] }
        // exp(z_j - max) once per class; kept in the gradient row when there is one.
        let dz = dLogits.map { $0 + r * k }
        var s: T = 0
        for j in 0..<k {
            let e = T.exp(z[j] - zmax)
            dz?[j] = e
            s += e
        }
        let logS = T.log(s)
        // As torch's log_softmax: ce = -((z_t - max) - log Σ exp(z - max)), never below 0.
        let ce = max(0, logS - (z[t] - zmax))
        let pt = T.exp(-ce)
        let omp = -T.expm1(-ce)                       // 1 - pt without cancellation
        let focal = power(omp)
        let a = alpha[t]
        sums.loss += Double(a * focal * ce)
        sums.weight += Double(a)
        if let dz {
            let ratio: T = omp > 0 ? ce / omp : 1        // ce / (1 - pt) -> 1 as ce -> 0
            let g = a * focal * (1 + gamma * pt * ratio)
            let inv = 1 / s
            for j in 0..<k {
                let p = dz[j] * inv                      // softmax_j
                dz[j] = g * (j == t ? p - 1 : p)
            }
        }
    }
    return sums
}

/// The divisor a reduction applies to a global batch's sums.
@inlinable
public func lossDivisor(_ reduction: LossReduction, rows: Int, weightSum: Double) -> Double {
    switch reduction {
    case .mean: return Double(rows)
    case .weightedMean: return weightSum
    case .sum: return 1
    }
}

// MARK: - Reference

/// Per-row focal loss in Double by the textbook formula (test oracle).
public func focalLossReference(logits: [Double], target t: Int, alpha: Double, gamma: Double) -> Double {
    let m = logits.max()!
    let lse = m + _log(logits.reduce(0) { $0 + _exp($1 - m) })
    let ce = lse - logits[t]
    let pt = _exp(-ce)
    return alpha * _pow(1 - pt, gamma) * ce
}

@inline(__always) func _exp(_ x: Double) -> Double { Double.exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { Double.log(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Double.pow(x, y) }

// MARK: - Gradient check

/// Compares the analytic gradient of the reduced focal loss on `rows` rows with central finite
/// differences (float64, step `h` scaled by each parameter's magnitude) for up to `maxParameters`
/// parameters spread over the buffer. Returns the largest relative error
/// `|analytic - numeric| / max(|analytic|, |numeric|, 1e-6)`. With `loss: .sigmoidFocal` it checks
/// `sigmoidFocalLossSums` (whose `mean` divides by the N x K elements).
public func gradientCheck(shape: MLPShape, params: [Double], x: [Double], y: [Int32], alpha: [Double],
                          gamma: Double, reduction: LossReduction, loss kind: LossKind = .softmaxFocal,
                          sigmoidAlpha: Double = 0.25, maxParameters: Int = 256) -> Double {
    let m = y.count
    guard m > 0 else { return 0 }
    let ws = MLPWorkspace<Double>(shape: shape, capacity: m)
    var grad = [Double](repeating: 0, count: shape.parameterCount)
    var dLogits = [Double](repeating: 0, count: m * shape.classes)
    func loss(_ p: [Double], withGradient: Bool) -> Double {
        p.withUnsafeBufferPointer { pb in
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeBufferPointer { yb in
                    alpha.withUnsafeBufferPointer { ab in
                        ws.forward(params: pb.baseAddress!, x: xb.baseAddress!, rows: m)
                        let s = dLogits.withUnsafeMutableBufferPointer { db in
                            switch kind {
                            case .softmaxFocal:
                                return focalLossSums(logits: ws.logits, targets: yb.baseAddress!, rows: m, classes: shape.classes,
                                                     alpha: ab.baseAddress!, gamma: gamma, dLogits: withGradient ? db.baseAddress! : nil)
                            case .sigmoidFocal:
                                return sigmoidFocalLossSums(logits: ws.logits, targets: yb.baseAddress!, rows: m, classes: shape.classes,
                                                            alpha: sigmoidAlpha, gamma: gamma, dLogits: withGradient ? db.baseAddress! : nil)
                            }
                        }
                        let divisor = kind == .sigmoidFocal && reduction == .mean
                            ? s.weight : lossDivisor(reduction, rows: m, weightSum: s.weight)
                        if withGradient {
                            dLogits.withUnsafeBufferPointer { db in
                                grad.withUnsafeMutableBufferPointer { gb in
                                    ws.backward(params: pb.baseAddress!, x: xb.baseAddress!, rows: m,
                                                dLogits: db.baseAddress!, grad: gb.baseAddress!)
                                }
                            }
                            for i in 0..<grad.count { grad[i] /= divisor }
                        }
                        return s.loss / divisor
                    }
                }
            }
        }
    }
    _ = loss(params, withGradient: true)
    let analytic = grad
    let stride = max(1, shape.parameterCount / maxParameters)
    var worst = 0.0
    var p = params
    for i in Swift.stride(from: 0, to: shape.parameterCount, by: stride) {
        let h = 1e-6 * max(1, abs(params[i]))
        p[i] = params[i] + h
        let up = loss(p, withGradient: false)
        p[i] = params[i] - h
        let down = loss(p, withGradient: false)
        p[i] = params[i]
        let numeric = (up - down) / (2 * h)
        let err = abs(analytic[i] - numeric) / max(abs(analytic[i]), abs(numeric), 1e-6)
        worst = max(worst, err)
    }
    return worst
}
