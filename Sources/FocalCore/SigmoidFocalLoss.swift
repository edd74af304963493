// SigmoidFocalLoss: torchvision's `sigmoid_focal_loss` over K logits per row with one-hot targets
// (`--loss sigmoid-focal`), forward and gradient w.r.t. the logits.
//
// torchvision/ops/focal_loss.py, per element (x a logit, t in {0, 1} its one-hot target):
//   p = sigmoid(x);  ce = binary_cross_entropy_with_logits(x, t);  p_t = p t + (1 - p)(1 - t)
//   l = ce * (1 - p_t)^gamma;  if alpha >= 0: l *= alpha t + (1 - alpha)(1 - t)
//   "mean" = l.mean() over all N x K elements, "sum" = l.sum().
// With y = x for t = 0 and y = -x for t = 1, 1 - p_t = sigmoid(y), p_t = sigmoid(-y) and
// ce = softplus(y) = max(y, 0) + log1p(exp(-|y|)); then
//   l = a_t * u^gamma * ce,  u = sigmoid(y),   dl/dy = a_t * u^gamma * (gamma * p_t * ce + u),
// and dl/dx = +-dl/dy. No power below gamma appears, so the gradient is finite for every gamma >= 0
// (torch's autograd of (1 - p_t)**gamma is 0 * inf = NaN at 1 - p_t == 0 with gamma < 1).

/// Which loss a run trains with (`--loss`).
public enum LossKind: String, Codable, Sendable, CaseIterable {
    /// The tutorial's softmax focal loss with per-class alpha (`FocalLoss.swift`).
    case softmaxFocal = "softmax-focal"
    /// torchvision's `sigmoid_focal_loss`, element by element over K logits.
    case sigmoidFocal = "sigmoid-focal"
}

/// Sigmoid focal loss of `rows` rows of `classes` logits with one-hot targets and, if `dLogits`
/// is given, the gradient of the *unnormalised* sum w.r.t. the logits.
/// - logits: `[rows, classes]` row-major; targets: `[rows]` in `0..<classes`; dLogits: `[rows, classes]` (written).
/// - alpha: torchvision's scalar alpha; negative: no weighting.
/// - Returns: the sum of the element losses and, as `weight`, the number of elements (rows * classes),
///   so that `mean` divides by N x K as torchvision does.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func sigmoidFocalLossSums<T: TrainScalar>(logits: UnsafePointer<T>, targets: UnsafePointer<Int32>, rows: Int,
                                                 classes k: Int, alpha: Double, gamma: T,
                                                 dLogits: UnsafeMutablePointer<T>?) -> LossSums {
    var sums = LossSums()
    let power = focalPower(gamma)
    let weighted = alpha >= 0
    let aPos = T(alpha), aNeg = T(1 - alpha)
    for r in 0..<rows {
        let t = Int(targets[r])
        precondition(t >= 0 && t < k, "sigmoidFocalLossSums: target \(t) outside 0..<\(k)")
        var rowLoss: T = 0
        for j in 0..<k {
            let x = logits[r * k + j]
            let positive = j == t
            let y = positive ? -x : x
            let e = T.exp(-abs(y))                              // in (0, 1]
            let ce = max(y, 0) + log1p(e)                       // softplus(y)
            // u = sigmoid(y), pt = sigmoid(-y), from e = exp(-|y|) without overflow.
            let u = y >= 0 ? 1 / (1 + e) : e / (1 + e)
            let pt = y >= 0 ? e / (1 + e) : 1 / (1 + e)
            let focal = power(u)
            let a: T = weighted ? (positive ? aPos : aNeg) : 1
            rowLoss += a * focal * ce
            if let d = dLogits {
                let g = a * focal * (gamma * pt * ce + u)
                d[r * k + j] = positive ? -g : g
            }
        }
        sums.loss += Double(rowLoss)
    }
    sums.weight = Double(rows * k)
    return sums
}

@inline(__always) private func log1p<T: TrainScalar>(_ x: T) -> T {
    // log1p from expm1's inverse is not in TrainScalar; log(1 + x) loses digits only for tiny x,
    // where one correction step (Goldberg's trick) restores them.
    let u = 1 + x
    if u == 1 { return x }
    return T.log(u) * x / (u - 1)
}

// MARK: - Reference

/// One element's sigmoid focal loss in Double by torchvision's own formula (test oracle):
/// p = sigmoid(x), ce = BCE-with-logits, p_t, (1 - p_t)^gamma, alpha_t.
public func sigmoidFocalLossReference(logit x: Double, target t: Double, alpha: Double, gamma: Double) -> Double {
    let p = 1 / (1 + _exp(-x))
    let ce = max(x, 0) - x * t + _log(1 + _exp(-abs(x)))
    let pt = p * t + (1 - p) * (1 - t)
    var l = ce * _pow(1 - pt, gamma)
    if alpha >= 0 { l *= alpha * t + (1 - alpha) * (1 - t) }
    return l
}
