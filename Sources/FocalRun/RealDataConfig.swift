// RealDataConfig: the settings for real tabular data — feature standardization and a validation
// split — and how a run loads its rows with them (every step collective, every result
// independent of the number of ranks).
import Collectives
import FocalCore
import FocalData
import FocalFormats
import FocalReport

/// `--standardize`.
public enum StandardizeMode: String, CaseIterable, Sendable {
    /// On for file input (.npy, CSV), off for generated data (the tutorial stays bit-identical).
    case auto
    case on, off
}

/// Where the validation rows come from.
public enum ValidationInput: Sendable, Equatable {
    /// `--val-fraction F` of the training rows, stratified, seeded by `--val-seed`.
    case fraction(Double, seed: UInt32)
    /// `--val-data` (with `--val-labels` for .npy; a CSV holds its labels in the label column).
    case files(data: String, labels: String?)
}

public struct RealDataConfig: Sendable, Equatable {
    public var standardize: StandardizeMode = .auto
    public var validation: ValidationInput?
    /// `--early-stopping`, `--monitor`, `--min-delta`.
    public var earlyStopping: EarlyStoppingConfig?
    /// `--calibrate temperature`.
    public var calibrateTemperature = false
    /// `--tune-threshold` (binary problems only).
    public var tuneThreshold: ThresholdObjective?
    public init() {}

    /// Whether this run standardizes its features.
    public func standardizes(_ input: DataInput) -> Bool {
        switch standardize {
        case .on: return true
        case .off: return false
        case .auto:
            if case .generated = input { return false }
            return true
        }
    }
}

/// A run's rows: training and test (`data`), the validation rows (as the test part of
/// `validation`), and the standardization applied to all of them.
public struct RunData<T: TrainScalar> {
    public var data: LocalData<T>
    public var validation: LocalData<T>?
    public var standardization: Standardization?
}

/// Loads a run's rows (collective). With validation, the training part of `source` loses the
/// validation rows first; the standardization statistics come from the remaining training rows.
func loadRunData<T: TrainScalar>(config: RunConfig, source: DataSource, comm: Communicator,
                                 stopRequested: StopPoll? = nil, as: T.Type = T.self) throws -> RunData<T> {
    var train: DataSource = source
    var validation: DataSource? = nil
    switch config.realData.validation {
    case nil: break
    case .fraction(let f, let seed)?:
        let split = try comm.agree { () -> (train: [Int], validation: [Int], classes: Int) in
            let y = try allTrainingLabels(source)
            let k = max(source.classes, Int(y.max() ?? 0) + 1, 2)
            let s = try validationSplit(labels: y, classes: k, fraction: f, seed: seed)
            return (s.train, s.validation, k)
        }
        train = PartView(base: source, train: .subset(.train, split.train), test: .all(.test))
        validation = PartView(base: source, train: .none, test: .subset(.train, split.validation))
    case .files?: break
    }
    var standardization: Standardization? = nil
    if config.realData.standardizes(config.input) {
        let n = train.trainCount
        let plan = ChunkPlan(rows: n, batchSize: max(1, config.train.batchSize ?? n), chunkSize: config.train.chunkSize,
                             ranks: comm.size)
        standardization = try standardizationStatistics(source: train, plan: plan, comm: comm)
    }
    let data: LocalData<T> = try loadLocalData(source: train, comm: comm, batchSize: config.train.batchSize,
                                               chunkSize: config.train.chunkSize, standardization: standardization,
                                               stopRequested: stopRequested)
    var valData: LocalData<T>? = nil
    if case .files(let path, let labels)? = config.realData.validation {
        let k = data.classes
        validation = try comm.agree { () -> DataSource in
            let base: DataSource
            if path.hasSuffix(".csv") {
                var column: String? = nil
                if case .csv(_, _, let c, _) = config.input { column = c }
                base = try CsvDataSource.open(train: path, test: nil, labelColumn: column, classes: k, comm: comm)
            } else {
                guard let labels else { throw DataError("--val-data \(path): .npy features need --val-labels") }
                base = try NpyDataSource(trainX: path, trainY: labels, testX: nil, testY: nil, classes: k)
            }
            if base.features != source.features {
                throw DataError("--val-data \(path): \(base.features) features per row, but the training data has \(source.features)")
            }
            return PartView(base: base, train: .none, test: .all(.train))
        }
    }
    if let validation {
        let view = PartView(base: validation, train: .none, test: .all(.test), classes: data.classes)
        let v: LocalData<T> = try loadLocalData(source: view, comm: comm, batchSize: nil, chunkSize: config.train.chunkSize,
                                                standardization: standardization)
        try comm.agree { if v.globalTestRows == 0 { throw DataError("the validation set is empty") } }
        valData = v
    }
    if config.realData.tuneThreshold != nil {
        try comm.agree {
            if data.classes != 2 {
                throw DataError("--tune-threshold: the data has \(data.classes) classes; a decision threshold is for two classes")
            }
        }
    }
    return RunData(data: data, validation: valData, standardization: standardization)
}

/// The real-data settings in a run's identity and config record. Each key is written only when
/// its setting is on (so runs without them keep the identity of earlier versions); absent keys
/// read back as off.
public struct RealDataDescription: Codable, Sendable, Equatable {
    /// True when the features are standardized (after `auto` is resolved).
    public var standardize: Bool = false
    public var valFraction: Double?
    public var valSeed: Int64?
    public var valData: String?, valLabels: String?
    /// Early stopping: patience, monitor, min delta, and the evaluation schedule it follows.
    public var earlyStopping: Int?
    public var monitor: String?
    public var minDelta: Double?
    public var evalEvery: Int?
    /// `--calibrate` and `--tune-threshold` (they change the model file).
    public var calibrate: String?
    public var tuneThreshold: String?

    enum CodingKeys: String, CodingKey {
        case standardize, valFraction = "val_fraction", valSeed = "val_seed", valData = "val_data", valLabels = "val_labels"
        case earlyStopping = "early_stopping", monitor, minDelta = "min_delta", evalEvery = "eval_every"
        case calibrate, tuneThreshold = "tune_threshold"
    }

    public init() {}

    public init(_ config: RunConfig) {
        let r = config.realData
        standardize = r.standardizes(config.input)
        switch r.validation {
        case nil: break
        case .fraction(let f, let seed)?:
            valFraction = f
            valSeed = Int64(seed)
        case .files(let data, let labels)?:
            valData = data
            valLabels = labels
        }
        if let e = r.earlyStopping {
            earlyStopping = e.patience
            monitor = e.monitor.rawValue
            minDelta = e.minDelta
            evalEvery = config.train.evalEvery
        }
        if r.calibrateTemperature { calibrate = "temperature" }
        tuneThreshold = r.tuneThreshold?.description
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if standardize { try c.encode(true, forKey: .standardize) }
        if let valFraction { try c.encode(valFraction, forKey: .valFraction) }
        if let valSeed { try c.encode(valSeed, forKey: .valSeed) }
        if let valData { try c.encode(valData, forKey: .valData) }
        if let valLabels { try c.encode(valLabels, forKey: .valLabels) }
        if let earlyStopping { try c.encode(earlyStopping, forKey: .earlyStopping) }
        if let monitor { try c.encode(monitor, forKey: .monitor) }
        if let minDelta { try c.encode(minDelta, forKey: .minDelta) }
        if let evalEvery { try c.encode(evalEvery, forKey: .evalEvery) }
        if let calibrate { try c.encode(calibrate, forKey: .calibrate) }
        if let tuneThreshold { try c.encode(tuneThreshold, forKey: .tuneThreshold) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        standardize = try c.decodeIfPresent(Bool.self, forKey: .standardize) ?? false
        valFraction = try c.decodeIfPresent(Double.self, forKey: .valFraction)
        valSeed = try c.decodeIfPresent(Int64.self, forKey: .valSeed)
        valData = try c.decodeIfPresent(String.self, forKey: .valData)
        valLabels = try c.decodeIfPresent(String.self, forKey: .valLabels)
        earlyStopping = try c.decodeIfPresent(Int.self, forKey: .earlyStopping)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor)
        minDelta = try c.decodeIfPresent(Double.self, forKey: .minDelta)
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery)
        calibrate = try c.decodeIfPresent(String.self, forKey: .calibrate)
        tuneThreshold = try c.decodeIfPresent(String.self, forKey: .tuneThreshold)
    }
}
