// RealDataOptions: the options for real tabular data (issue 12) — standardization and a validation
// split — validated into `RealDataConfig` (every error names its option).
import ArgumentParser
import FocalData
import FocalReport
import FocalRun

extension StandardizeMode: ExpressibleByArgument {}
extension MonitorMetric: ExpressibleByArgument {}

struct RealDataOptions: ParsableArguments {
    @Option(help: "Standardize the features (scikit-learn's StandardScaler, fitted on the training rows after the validation part is set aside): auto (on for --train-data, off for generated data), on, off.")
    var standardize: StandardizeMode = .auto
    @Option(parsing: .unconditional, help: ArgumentHelp("Set aside this fraction of the training rows as a stratified validation split (train_test_split's test_size).", valueName: "F"))
    var valFraction: Double?
    @Option(parsing: .unconditional, help: "Seed of the validation split (default: --split-seed).")
    var valSeed: Int64?
    @Option(help: ArgumentHelp("Validation data instead of --val-fraction: .npy features (with --val-labels) or a .csv holding the label column.", valueName: "X.npy|X.csv"))
    var valData: String?
    @Option(help: ArgumentHelp("Validation labels (.npy, int32/int64, [rows]).", valueName: "y.npy"))
    var valLabels: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many validation evaluations without improvement and save the best evaluation's model (needs validation data; validates every epoch unless --eval-every is given).", valueName: "PATIENCE"))
    var earlyStopping: Int?
    @Option(help: "What early stopping watches on the validation split: loss (the training objective), pr-auc, roc-auc (the minority class's for two classes, macro means otherwise), balanced-accuracy, macro-f1.")
    var monitor: MonitorMetric?
    @Option(parsing: .unconditional, help: "Smallest change of the monitored value that counts as an improvement (absolute, as Keras and Lightning).")
    var minDelta: Double?
    @Option(help: ArgumentHelp("Choose the decision threshold on the validation split (two classes): f1, balanced-accuracy, recall-at-precision=P, precision-at-recall=R; class 1 if p1 >= t; stored in the model, applied by predict.", valueName: "RULE"))
    var tuneThreshold: String?
    @Option(help: ArgumentHelp("Calibrate the probabilities on the validation split: temperature (one T > 0 minimising the validation NLL of softmax(logits / T)); stored in the model, applied by evaluation and predict.", valueName: "temperature"))
    var calibrate: String?

    /// The validated settings; `splitSeed` is --split-seed (the default of --val-seed).
    func config(input: DataInput, splitSeed: Int64) throws -> RealDataConfig {
        var r = RealDataConfig()
        r.standardize = standardize
        if valLabels != nil && valData == nil { throw ValidationError("--val-labels needs --val-data") }
        if valSeed != nil && valFraction == nil { throw ValidationError("--val-seed needs --val-fraction") }
        if let f = valFraction {
            if valData != nil { throw ValidationError("--val-fraction and --val-data exclude each other") }
            guard f.isFinite && f > 0 && f < 1 else { throw ValidationError("--val-fraction: \(f) must lie strictly between 0 and 1") }
            let seed = valSeed ?? splitSeed
            guard seed >= 0 && seed <= Int64(UInt32.max) else {
                throw ValidationError("--val-seed: \(seed) must lie in 0...4294967295")
            }
            r.validation = .fraction(f, seed: UInt32(seed))
        } else if let v = valData {
            switch input {
            case .generated: throw ValidationError("--val-data needs --train-data (generated data: use --val-fraction)")
            case .csv:
                guard v.hasSuffix(".csv") else { throw ValidationError("--val-data must be .csv like --train-data") }
                if valLabels != nil { throw ValidationError("--val-labels is for .npy input; a .csv file holds its labels (--label-column)") }
            case .files:
                if v.hasSuffix(".csv") { throw ValidationError("--val-data must be .npy like --train-data") }
                if valLabels == nil { throw ValidationError("--val-data needs --val-labels") }
            }
            r.validation = .files(data: v, labels: valLabels)
        }
        if let p = earlyStopping {
            guard p >= 1 else { throw ValidationError("--early-stopping: \(p) must be >= 1") }
            let d = minDelta ?? 0
            guard d.isFinite && d >= 0 else { throw ValidationError("--min-delta: \(d) must be a finite number >= 0") }
            guard r.validation != nil else {
                throw ValidationError("--early-stopping needs validation data (--val-fraction or --val-data)")
            }
            r.earlyStopping = EarlyStoppingConfig(patience: p, monitor: monitor ?? .loss, minDelta: d)
        } else if monitor != nil || minDelta != nil {
            throw ValidationError("--monitor and --min-delta need --early-stopping")
        }
        if let t = tuneThreshold {
            guard let objective = ThresholdObjective(t) else {
                throw ValidationError("--tune-threshold: '\(t)' must be f1, balanced-accuracy, recall-at-precision=P or precision-at-recall=R with P, R in (0, 1]")
            }
            guard r.validation != nil else {
                throw ValidationError("--tune-threshold needs validation data (--val-fraction or --val-data)")
            }
            r.tuneThreshold = objective
        }
        if let c = calibrate {
            guard c == "temperature" else { throw ValidationError("--calibrate: '\(c)' must be temperature") }
            guard r.validation != nil else {
                throw ValidationError("--calibrate needs validation data (--val-fraction or --val-data)")
            }
            r.calibrateTemperature = true
        }
        return r
    }
}
