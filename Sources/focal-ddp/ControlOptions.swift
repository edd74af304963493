// ControlOptions: the training controls — learning-rate schedule and warmup, gradient clipping,
// the loss (softmax or sigmoid focal), class-balanced sampling — parsed and checked, then applied
// to `TrainConfig`.
import ArgumentParser
import FocalCore

extension LRScheduleKind: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}

struct ControlOptions: ParsableArguments {
    // Schedule
    @Option(help: "Learning-rate schedule per optimizer step: constant, cosine (to --min-lr), linear (to --min-lr) or step (times --step-gamma every --step-size steps); PyTorch's CosineAnnealingLR, LinearLR, StepLR.")
    var lrSchedule: LRScheduleKind = .constant
    @Option(parsing: .unconditional, help: "Linear warmup over this many optimizer steps before the schedule (PyTorch's LinearLR from --warmup-start-factor to 1).")
    var warmupSteps: Int?
    @Option(parsing: .unconditional, help: "Linear warmup over this many epochs (not with --warmup-steps).")
    var warmupEpochs: Int?
    @Option(parsing: .unconditional, help: "The warmup's first rate as a fraction of --lr, in (0, 1].")
    var warmupStartFactor: Double = 0.1
    @Option(parsing: .unconditional, help: "The final rate of the cosine and linear schedules (cosine's eta_min).")
    var minLr: Double = 0
    @Option(parsing: .unconditional, help: "Optimizer steps between two decays of the step schedule (required by --lr-schedule step).")
    var stepSize: Int?
    @Option(parsing: .unconditional, help: "The step schedule's factor.")
    var stepGamma: Double = 0.1

    // Clipping
    @Option(parsing: .unconditional, help: "Scale each step's gradient to this global L2 norm when above it (torch.nn.utils.clip_grad_norm_; the norm in float64 from the exactly reduced gradient).")
    var clipGradNorm: Double?

    // Loss
    @Option(help: "Loss: softmax-focal (the tutorial's, with per-class --class-weights) or sigmoid-focal (torchvision.ops.sigmoid_focal_loss over K one-hot logits).")
    var loss: LossKind = .softmaxFocal
    @Option(parsing: .unconditional, help: "Alpha of the sigmoid focal loss (default 0.25; negative: none, as torchvision). Only with --loss sigmoid-focal.")
    var sigmoidAlpha: Double?

    // Sampling
    @Option(help: "Class-rebalanced epochs, each a function of --seed, the epoch and the position (never of the ranks): none, undersample (every class down to the minority's count, without replacement), oversample (every class up to the majority's count: its rows plus draws with replacement), balanced (as many rows as the training set, drawn with replacement, classes as equal as possible in every batch).")
    var sampler: SamplerKind = .none

    /// Checks the controls and writes them into `train` (whose `adam.lr`, `reduction` and `epochs`
    /// are already set). `arguments` tell an explicit `--class-weights` from its default.
    func apply(to train: inout TrainConfig, arguments: [String]) throws {
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        try require(warmupSteps == nil || warmupEpochs == nil, "--warmup-steps and --warmup-epochs: give one of them, not both")
        if let w = warmupSteps { try require(w >= 1, "--warmup-steps: \(w) must be >= 1") }
        if let w = warmupEpochs { try require(w >= 1, "--warmup-epochs: \(w) must be >= 1") }
        try require(warmupStartFactor > 0 && warmupStartFactor <= 1, "--warmup-start-factor: \(warmupStartFactor) must lie in (0, 1]")
        try require(minLr.isFinite && minLr >= 0, "--min-lr: \(minLr) must be a finite number >= 0")
        try require(minLr <= train.adam.lr, "--min-lr: \(minLr) is above --lr \(train.adam.lr)")
        try require(lrSchedule != .step || stepSize != nil, "--step-size: required by --lr-schedule step")
        if let s = stepSize { try require(s >= 1, "--step-size: \(s) must be >= 1") }
        try require(stepGamma.isFinite && stepGamma > 0, "--step-gamma: \(stepGamma) must be a finite number > 0")
        if let c = clipGradNorm { try require(c.isFinite && c > 0, "--clip-grad-norm: \(c) must be a finite number > 0") }
        if let a = sigmoidAlpha {
            try require(loss == .sigmoidFocal, "--sigmoid-alpha: applies only to --loss sigmoid-focal")
            try require(a.isFinite && a <= 1, "--sigmoid-alpha: \(a) must be a number <= 1 (negative: no weighting)")
        }
        if loss == .sigmoidFocal {
            let explicitWeights = arguments.contains { $0 == "--class-weights" || $0.hasPrefix("--class-weights=") }
            try require(!explicitWeights, "--class-weights: does not apply to --loss sigmoid-focal (it weights by --sigmoid-alpha)")
            try require(train.reduction != .weightedMean, "--reduction: weighted-mean does not apply to --loss sigmoid-focal (use mean or sum)")
        }
        var s = LRScheduleConfig()
        s.kind = lrSchedule
        s.warmup = warmupSteps.map { .steps($0) } ?? warmupEpochs.map { .epochs($0) }
        s.warmupStartFactor = warmupStartFactor
        s.minLR = minLr
        s.stepSize = stepSize
        s.stepGamma = stepGamma
        train.lrSchedule = s
        train.clipGradNorm = clipGradNorm
        train.loss = loss
        train.sigmoidAlpha = sigmoidAlpha ?? 0.25
        train.sampler = sampler
    }
}
