// GradientClipping: the global L2 norm of a step's gradient and `--clip-grad-norm`, with the
// semantics of `torch.nn.utils.clip_grad_norm_` (torch/nn/utils/clip_grad.py):
//   total_norm = || [ ||g_1||, ||g_2||, ... ] ||_2        (over every parameter tensor)
//   clip_coef  = max_norm / (total_norm + 1e-6);  g *= min(clip_coef, 1.0)
// The gradient here is the exactly reduced one (identical on every rank), so the norm and the
// decision are identical on every rank. The norm is accumulated in float64 over the gradient as
// it is used (its training-precision values); PyTorch accumulates in the parameters' precision,
// so float32 runs may differ from PyTorch in the last bits of the factor.

/// The L2 norm of `grad` `[count]`, accumulated in Double in one fixed order: eight running sums,
/// lane j over the elements i = j (mod 8) below the last multiple of eight, combined as
/// `((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`, then the remaining elements in order.
/// The order decides the last bits; it is the same on every rank for the same gradient. (A single
/// running sum, the order before 0.3.1, is a chain of dependent additions: 0.1 ms per step for
/// the large configuration's 84,488 parameters, on rank 0's critical path.)
@_specialize(where T == Float)
@_specialize(where T == Double)
public func gradientNorm<T: TrainScalar>(_ grad: UnsafeBufferPointer<T>) -> Double {
    guard let g = grad.baseAddress else { return 0 }
    let n = grad.count
    var acc = SIMD8<Double>.zero
    var i = 0
    while i + 8 <= n {
        let d = SIMD8<Double>(UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<T>.self))
        acc += d * d
        i += 8
    }
    var s = combinedLanes(acc)
    while i < n {
        let d = Double(g[i])
        s += d * d
        i += 1
    }
    return s.squareRoot()
}

/// The eight running sums of `gradientNorm`, combined pairwise in a fixed order.
@inline(__always)
func combinedLanes(_ s: SIMD8<Double>) -> Double {
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// The step's mean gradient `grad[i] = T(sums[i] / divisor)` (`[count]`) and its L2 norm, in one
/// pass of eight lanes: the norm is `gradientNorm`'s, over the same values in the same order
/// (the same bits), without a second pass over the gradient.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func meanGradientAndNorm<T: TrainScalar>(sums: UnsafePointer<Double>, divisor: Double,
                                                into grad: UnsafeMutableBufferPointer<T>) -> Double {
    guard let g = grad.baseAddress else { return 0 }
    let n = grad.count
    let lanes = SIMD8<Double>(repeating: divisor)
    var acc = SIMD8<Double>.zero
    var i = 0
    while i + 8 <= n {
        let v = SIMD8<T>(UnsafeRawPointer(sums + i).loadUnaligned(as: SIMD8<Double>.self) / lanes)
        UnsafeMutableRawPointer(g + i).storeBytes(of: v, as: SIMD8<T>.self)
        let d = SIMD8<Double>(v)
        acc += d * d
        i += 8
    }
    var s = combinedLanes(acc)
    while i < n {
        let v = T(sums[i] / divisor)
        g[i] = v
        let d = Double(v)
        s += d * d
        i += 1
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
