// TrainingControls: the schedule, clipping, loss and sampler settings of a run as they enter its identity
// (`RunDescription.controls`), the checks that need the loaded data, and the resume check that a
// schedule depending on the run's length was not given another `--epochs`.
import Collectives
import FocalCore
import FocalFormats

/// The part of a run's identity set by `--lr-schedule`, `--warmup-*`, `--min-lr`, `--step-*`,
/// `--clip-grad-norm`, `--loss`, `--sigmoid-alpha` and `--sampler`. Absent (nil) when all are at their defaults,
/// so identities of runs without them are those of earlier versions.
public struct TrainingControls: Codable, Sendable, Equatable {
    public var lrSchedule: String
    public var warmupSteps: Int?, warmupEpochs: Int?
    public var warmupStartFactor: Double?
    public var minLR: Double?
    public var stepSize: Int?, stepGamma: Double?
    /// The run's epochs, when the schedule's rates depend on the total number of steps.
    public var epochs: Int?
    public var clipGradNorm: Double?
    public var loss: String
    public var sigmoidAlpha: Double?
    /// `--sampler` when not `none`.
    public var sampler: String?

    enum CodingKeys: String, CodingKey {
        case lrSchedule = "lr_schedule", warmupSteps = "warmup_steps", warmupEpochs = "warmup_epochs"
        case warmupStartFactor = "warmup_start_factor", minLR = "min_lr", stepSize = "step_size"
        case stepGamma = "step_gamma", epochs, clipGradNorm = "clip_grad_norm", loss, sigmoidAlpha = "sigmoid_alpha"
        case sampler
    }

    /// The controls of `t`, or nil when they are all at their defaults.
    public init?(_ t: TrainConfig) {
        let s = t.lrSchedule
        guard !(s.isDefault && t.clipGradNorm == nil && t.loss == .softmaxFocal && t.sampler == .none) else { return nil }
        lrSchedule = s.kind.rawValue
        switch s.warmup {
        case .steps(let w): warmupSteps = w
        case .epochs(let e): warmupEpochs = e
        case nil: break
        }
        if s.warmup != nil { warmupStartFactor = s.warmupStartFactor }
        if s.kind == .cosine || s.kind == .linear { minLR = s.minLR }
        if s.kind == .step { stepSize = s.stepSize; stepGamma = s.stepGamma }
        if s.kind.dependsOnTotalSteps { epochs = t.epochs }
        clipGradNorm = t.clipGradNorm
        loss = t.loss.rawValue
        if t.loss == .sigmoidFocal { sigmoidAlpha = t.sigmoidAlpha }
        if t.sampler != .none { sampler = t.sampler.rawValue }
    }
}

public enum TrainingControlChecks {
    /// After the data is loaded, on every rank: gathers the global labels when a sampler needs
    /// them (collective), refuses a `--batch-size` larger than a sampled epoch and a warmup as long
    /// as the run (agreed usage errors). Returns the labels for `Trainer` (nil without a sampler).
    public static func prepare<T: TrainScalar>(_ t: TrainConfig, data: LocalData<T>, comm: Communicator,
                                               log: RunLog? = nil) throws -> [Int32]? {
        var labels: [Int32]? = nil
        var steps = data.trainPlan.batchCount
        if t.sampler != .none {
            let all = try globalTrainLabels(data, comm: comm)
            labels = all
            let s = EpochSampler(kind: t.sampler, seed: t.shuffleSeed, batchSize: t.batchSize ?? data.trainPlan.rows,
                                 labels: all, classes: data.classes)
            let rows = s.epochRows
            try comm.agree {
                if let b = t.batchSize, b > rows {
                    throw TrainingError(message: "--batch-size: \(b) is larger than a sampled epoch (\(rows) rows under --sampler \(t.sampler.rawValue))", failureKind: .usage)
                }
            }
            let batch = max(1, t.batchSize ?? rows)
            steps = (rows + batch - 1) / batch
            log?.info("sampler \(t.sampler.rawValue): \(rows) rows per epoch, classes \(s.classCounts.map(String.init).joined(separator: "/")) (of those present), \(steps) steps per epoch")
        }
        try comm.agree { try check(t, stepsPerEpoch: steps) }
        return labels
    }

    /// The checks that need the number of steps per epoch (a warmup as long as the run or longer):
    /// a usage error (exit 2) naming the option.
    public static func check(_ t: TrainConfig, stepsPerEpoch: Int) throws {
        if let message = t.lrSchedule.problem(lr: t.adam.lr, stepsPerEpoch: stepsPerEpoch, epochs: t.epochs) {
            throw TrainingError(message: message, failureKind: .usage)
        }
    }

    /// Refuses, in one line naming `--epochs`, a resume whose schedule length changed: the
    /// checkpoint at `path` was written with `controls.epochs` different from `current`'s.
    public static func checkResume(path: String, current: TrainingControls?) throws {
        guard let epochs = current?.epochs,
              let file = try? SafetensorsFile.read(path: path),
              let text = file.metadata["identity"], let saved = try? JSON.parse(text),
              case .object(let top) = saved, let c = top.first(where: { $0.0 == "controls" })?.1,
              case .object(let fields) = c, let e = fields.first(where: { $0.0 == "epochs" })?.1,
              case .int(let was) = e, Int(was) != epochs else { return }
        throw TrainingError(message: "--epochs: \(epochs) differs from the checkpoint's \(was); the --lr-schedule \(current?.lrSchedule ?? "") rates depend on the run's length (resume with --epochs \(was))", failureKind: .usage)
    }
}

extension RunDescription {
    /// The identity without a `controls` key when there are none (as earlier versions wrote it).
    static func strippingNullControls(_ json: JSON) -> JSON {
        guard case .object(let fields) = json else { return json }
        return .object(fields.filter { !($0.0 == "controls" && $0.1 == .null) })
    }
}
