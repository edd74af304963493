// Adam: PyTorch's `torch.optim.Adam` / `AdamW` (single-tensor path) over one flat buffer.
//
// torch/optim/adam.py, `_single_tensor_adam` (amsgrad=False, maximize=False), per element:
//   t += 1
//   Adam:  g = g + weight_decay * p          AdamW: p = p * (1 - lr * weight_decay)
//   m = m + (1 - b1) * (g - m)               (exp_avg.lerp_(grad, 1 - beta1))
//   v = v * b2 + ((1 - b2) * g) * g          (exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2))
//   step_size = lr / (1 - b1^t)              (Python floats: double)
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps   (eps AFTER the bias-corrected sqrt: easy to miss)
//   p = p + (-step_size * m) / denom         (param.addcdiv_(exp_avg, denom, value=-step_size))
// Scalars are computed in double as Python does, then used in the tensor's precision.

public struct AdamConfig: Codable, Sendable, Equatable {
    public var lr: Double = 1e-3
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
    public var decoupled: Bool = false
    public init() {}
}

/// Adam state (`m`, `v`, `step`) over a flat parameter buffer of `count` elements.
public final class Adam<T: TrainScalar> {
    public let config: AdamConfig
    /// `[count]` first moments (exp_avg).
    public var m: [T]
    /// `[count]` second moments (exp_avg_sq).
    public var v: [T]
    /// Steps taken.
    public private(set) var step: Int = 0

    public init(count: Int, config: AdamConfig) {
        self.config = config
        m = [T](repeating: 0, count: count)
        v = [T](repeating: 0, count: count)
    }

    /// One update of `params` `[count]` with the gradient `grad` `[count]`, at the rate `lr` of
    /// this step (the schedule's; `config.lr` when nil), as PyTorch reads `group["lr"]` each step.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func update(params: UnsafeMutablePointer<T>, grad: UnsafePointer<T>, lr: Double? = nil) {
        step += 1
        var c = config
        if let lr { c.lr = lr }
        let t = Double(step)
        let oneMinusB1 = T(1 - c.beta1), b2 = T(c.beta2), oneMinusB2 = T(1 - c.beta2)
        let stepSize = c.lr / (1 - _pow(c.beta1, t))
        let bc2Sqrt = T((1 - _pow(c.beta2, t)).squareRoot())
        let negStep = T(-stepSize), eps = T(c.eps)
        let wd = T(c.weightDecay), decay = T(1 - c.lr * c.weightDecay)
        let useDecay = c.weightDecay != 0
        let n = m.count
        // AdamW's decay first (per element it comes before the step, so a pass of its own gives the
        // same values); then one branch-free loop, in two copies so that L2's term is not a
        // branch per element. The square roots vectorise only because FocalCore is built with
        // -fno-math-errno (Package.swift).
        if useDecay && c.decoupled { for i in 0..<n { params[i] = params[i] * decay } }
        // Eight lanes at a time through SIMD8 (the compiler does not vectorise the scalar loop
        // over four unrelated pointers); each lane runs exactly the scalar operations, in the
        // same order, so the bits are the scalar loop's.
        @inline(__always)
        func steps(_ mb: UnsafeMutablePointer<T>, _ vb: UnsafeMutablePointer<T>, coupled: Bool) {
            typealias V = SIMD8<T>
            var i = 0
            while i + 8 <= n {
                let p = UnsafeRawPointer(params + i).loadUnaligned(as: V.self)
                let gr = UnsafeRawPointer(grad + i).loadUnaligned(as: V.self)
                let g = coupled ? gr + V(repeating: wd) * p : gr
                let m0 = UnsafeRawPointer(mb + i).loadUnaligned(as: V.self)
                let v0 = UnsafeRawPointer(vb + i).loadUnaligned(as: V.self)
                let mi = m0 + V(repeating: oneMinusB1) * (g - m0)
                let vi = v0 * V(repeating: b2) + (V(repeating: oneMinusB2) * g) * g
                let denom = vi.squareRoot() / V(repeating: bc2Sqrt) + V(repeating: eps)
                UnsafeMutableRawPointer(mb + i).storeBytes(of: mi, as: V.self)
                UnsafeMutableRawPointer(vb + i).storeBytes(of: vi, as: V.self)
                UnsafeMutableRawPointer(params + i).storeBytes(of: p + (V(repeating: negStep) * mi) / denom, as: V.self)
                i += 8
            }
            while i < n {
                let g = coupled ? grad[i] + wd * params[i] : grad[i]
                let mi = mb[i] + oneMinusB1 * (g - mb[i])
                let vi = vb[i] * b2 + (oneMinusB2 * g) * g
                mb[i] = mi
                vb[i] = vi
                let denom = vi.squareRoot() / bc2Sqrt + eps
                params[i] = params[i] + (negStep * mi) / denom
                i += 1
            }
        }
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                if useDecay && !c.decoupled {
                    steps(mb.baseAddress!, vb.baseAddress!, coupled: true)
                } else {
                    steps(mb.baseAddress!, vb.baseAddress!, coupled: false)
                }
            }
        }
    }

    /// Counts a step taken elsewhere (ranks other than 0 under `--optimizer-on root`), so every
    /// rank knows the step number.
    public func advanceStepCounter() { step += 1 }

    /// Restores a saved state (checkpoints).
    public func restore(m: [T], v: [T], step: Int) {
        precondition(m.count == self.m.count && v.count == self.v.count, "Adam.restore: size mismatch")
        self.m = m
        self.v = v
        self.step = step
    }
}
