// GradientClipping: the global L2 norm of a step's gradient and `--clip-grad-norm`, with the
// semantics of `torch.nn.utils.clip_grad_norm_` (torch/nn/utils/clip_grad.py):
//   total_norm = || [ ||g_1||, ||g_2||, ... ] ||_2        (over every parameter tensor)
//   clip_coef  = max_norm / (total_norm + 1e-6);  g *= min(clip_coef, 1.0)
// The gradient here is the exactly reduced one (identical on every rank), so the norm and the
// decision are identical on every rank. The norm is accumulated in float64 over the gradient as
// it is used (its training-precision values); PyTorch accumulates in the parameters' precision,
// so float32 runs may differ from PyTorch in the last bits of the factor.

/// The L2 norm of `grad` `[count]`, accumulated in Double.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func gradientNorm<T: TrainScalar>(_ grad: UnsafeBufferPointer<T>) -> Double {
    var s = 0.0
    for g in grad { let d = Double(g); s += d * d }
    return s.squareRoot()
}

/// The step's mean gradient `grad[i] = T(sums[i] / divisor)` (`[count]`) and its L2 norm, in one
/// pass: the norm is `gradientNorm`'s sum, over the same values in the same order (the same bits),
/// without a second pass over the gradient.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func meanGradientAndNorm<T: TrainScalar>(sums: UnsafePointer<Double>, divisor: Double,
                                                into grad: UnsafeMutableBufferPointer<T>) -> Double {
    var s = 0.0
    for i in grad.indices {
        let v = T(sums[i] / divisor)
        grad[i] = v
        let d = Double(v)
        s += d * d
    }
    return s.squareRoot()
}

/// The factor `min(1, maxNorm / (norm + 1e-6))` of `clip_grad_norm_`.
@inlinable
public func clipFactor(norm: Double, maxNorm: Double) -> Double {
    min(1.0, maxNorm / (norm + 1e-6))
}

/// Scales `grad` `[count]` in place by the clipping factor when it is below 1; returns the factor.
@discardableResult
@_specialize(where T == Float)
@_specialize(where T == Double)
public func clipGradient<T: TrainScalar>(_ grad: UnsafeMutableBufferPointer<T>, norm: Double, maxNorm: Double) -> Double {
    let f = clipFactor(norm: norm, maxNorm: maxNorm)
    if f < 1 {
        let t = T(f)
        for i in grad.indices { grad[i] *= t }
    }
    return f
}

/// Naive reference (test oracle): the norm as PyTorch composes it, per tensor then over the
/// tensors' norms, in Double, for tensors given as `[ranges]` of a flat buffer.
public func gradientNormReference(_ grad: [Double], tensors: [Range<Int>]) -> Double {
    let norms = tensors.map { r in grad[r].reduce(0) { $0 + $1 * $1 }.squareRoot() }
    return norms.reduce(0) { $0 + $1 * $1 }.squareRoot()
}
