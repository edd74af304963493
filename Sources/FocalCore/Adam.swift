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
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                for i in 0..<mb.count {
                    var g = grad[i]
                    if useDecay {
                        if c.decoupled { params[i] = params[i] * decay } else { g = g + wd * params[i] }
                    }
                    mb[i] = mb[i] + oneMinusB1 * (g - mb[i])
                    vb[i] = vb[i] * b2 + (oneMinusB2 * g) * g
                    let denom = vb[i].squareRoot() / bc2Sqrt + eps
                    params[i] = params[i] + (negStep * mb[i]) / denom
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
