// LRSchedule: the learning rate of every optimizer step (`--lr-schedule`, `--warmup-*`), as
// PyTorch's schedulers compute it with `scheduler.step()` after every `optimizer.step()`.
//
// References: torch/optim/lr_scheduler.py (PyTorch 2.x), `LinearLR`, `CosineAnnealingLR`, `StepLR`,
// `LambdaLR` and `SequentialLR`. PyTorch's `get_lr` is *recursive* (each rate from the previous
// one), so a closed form differs in the last bits; we run the same recursion in Double (Python
// floats) from step 0, with the same operation order and the same libm `cos`:
//   warmup  LinearLR(start_factor=F, end_factor=1, total_iters=W), s in 0..<W:
//           r_0 = lr * F;  r_s = r_{s-1} * (1 + (1 - F) / (W * F + (s - 1) * (1 - F)))
//   then, e = s - W, as the second scheduler of SequentialLR(milestones=[W]) (at e = 0 PyTorch
//   calls its `_update_lr(0)`, which uses the closed form; without a warmup, its constructor's
//   initial step gives `lr`):
//   constant LambdaLR(lambda _: 1):                 r = lr * 1
//   cosine  CosineAnnealingLR(T_max=T, eta_min=m), T = total - W:
//           r_0 = m + (lr - m) * (1 + cos(pi * 0 / T)) / 2   (lr itself without a warmup)
//           r_e = (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T)) * (r_{e-1} - m) + m
//   linear  LinearLR(start_factor=1, end_factor=m / lr, total_iters=T):
//           r_0 = lr * (1 + (end - 1) * 0 / T);  r_e = r_{e-1} * (1 + (end - 1) / (T * 1 + (e - 1) * (end - 1))),
//           unchanged after e = T
//   step    StepLR(step_size=S, gamma=g): r_0 = lr * g ** 0;  r_e = r_{e-1} * g when e % S == 0
#if canImport(Glibc)
import Glibc
#endif

/// The schedule after the warmup (`--lr-schedule`).
public enum LRScheduleKind: String, Codable, Sendable, CaseIterable {
    case constant, cosine, linear, step
    /// True when the rates depend on the run's total number of steps (then `--epochs` is part of
    /// the checkpoint's identity).
    public var dependsOnTotalSteps: Bool { self == .cosine || self == .linear }
}

/// The warmup's length as given: in optimizer steps or in epochs (steps per epoch times E).
public enum WarmupLength: Codable, Sendable, Equatable {
    case steps(Int)
    case epochs(Int)

    public func steps(perEpoch: Int) -> Int {
        switch self {
        case .steps(let w): return w
        case .epochs(let e): return e * perEpoch
        }
    }
}

/// The schedule options of a run.
public struct LRScheduleConfig: Codable, Sendable, Equatable {
    public var kind: LRScheduleKind = .constant
    /// nil: no warmup.
    public var warmup: WarmupLength?
    /// `--warmup-start-factor` F in (0, 1].
    public var warmupStartFactor: Double = 0.1
    /// `--min-lr`: cosine's `eta_min` and linear's final rate.
    public var minLR: Double = 0
    /// `--step-size` S (required by `step`), in optimizer steps.
    public var stepSize: Int?
    /// `--step-gamma`.
    public var stepGamma: Double = 0.1
    public init() {}

    /// True for the default (a constant rate, no warmup): results then equal the unscheduled trainer's.
    public var isDefault: Bool { kind == .constant && warmup == nil }

    /// Checks what needs the run's length (known once the data is loaded); the message names the option.
    public func problem(lr: Double, stepsPerEpoch: Int, epochs: Int) -> String? {
        let total = stepsPerEpoch * epochs
        if let w = warmup {
            let steps = w.steps(perEpoch: stepsPerEpoch)
            let name: String
            switch w { case .steps: name = "--warmup-steps"; case .epochs: name = "--warmup-epochs" }
            if steps >= total {
                return "\(name): a warmup of \(steps) steps is as long as the run (\(total) steps: \(epochs) epochs of \(stepsPerEpoch)) or longer"
            }
        }
        if kind == .step && stepSize == nil { return "--step-size: required by --lr-schedule step" }
        if minLR > lr { return "--min-lr: \(minLR) is above --lr \(lr)" }
        return nil
    }
}

/// The rate of each optimizer step, by the recursion PyTorch runs (see the file header). Step
/// indices count every step, skipped ones included (`--on-nan skip`), as `scheduler.step()` does.
public struct LRSchedule: Sendable {
    public let config: LRScheduleConfig
    public let lr: Double
    /// Warmup steps W and total steps of the run.
    public let warmupSteps: Int, totalSteps: Int
    /// The step whose rate `current` holds (-1: none yet).
    private var index = -1
    private var current = 0.0

    public init(_ config: LRScheduleConfig, lr: Double, stepsPerEpoch: Int, epochs: Int) {
        self.config = config
        self.lr = lr
        warmupSteps = config.warmup?.steps(perEpoch: stepsPerEpoch) ?? 0
        totalSteps = stepsPerEpoch * epochs
    }

    /// The rate of global step `s` (>= 0). Sequential calls cost O(1); going back restarts at 0.
    public mutating func rate(step s: Int) -> Double {
        precondition(s >= 0, "LRSchedule.rate: negative step")
        if config.isDefault { return lr }
        if s < index { index = -1 }
        while index < s {
            index += 1
            current = next(index, previous: current)
        }
        return current
    }

    /// r_s from r_{s-1}, as PyTorch's `scheduler.step()` computes it.
    private func next(_ s: Int, previous r: Double) -> Double {
        let W = warmupSteps
        if s < W {
            let F = config.warmupStartFactor
            if s == 0 { return lr * F }
            return r * (1.0 + (1.0 - F) / (Double(W) * F + Double(s - 1) * (1.0 - F)))
        }
        let e = s - W
        let T = max(1, totalSteps - W)
        let m = config.minLR
        switch config.kind {
        case .constant:
            return lr * 1
        case .cosine:
            if e == 0 { return W > 0 ? m + (lr - m) * (1 + cos(Double.pi * 0 / Double(T))) / 2 : lr }
            if (e - 1 - T) % (2 * T) == 0 {
                return r + (lr - m) * (1 - cos(Double.pi / Double(T))) / 2
            }
            return (1 + cos(Double.pi * Double(e) / Double(T))) / (1 + cos(Double.pi * Double(e - 1) / Double(T))) * (r - m) + m
        case .linear:
            let end = m / lr
            if e == 0 { return W > 0 ? lr * (1.0 + (end - 1.0) * Double(min(T, 0)) / Double(T)) : lr * 1.0 }
            if e > T { return r }
            return r * (1.0 + (end - 1.0) / (Double(T) * 1.0 + Double(e - 1) * (end - 1.0)))
        case .step:
            let S = max(1, config.stepSize ?? 1)
            if e == 0 { return W > 0 ? lr * _pow(config.stepGamma, 0) : lr }
            return e % S == 0 ? r * config.stepGamma : r
        }
    }
}
