// RunDescription: the one description of a run — its data and every setting its result depends
// on — built once from the configuration. Its JSON is the run's identity in every checkpoint (a
// resume must match it key by key) and the body of the metrics file's "config" record.
import FocalCore
import FocalData
import FocalFormats

/// Everything a resumed run must share with its checkpoint (not epochs, ranks, outputs, logging).
/// Keys and their order are those of checkpoints written since version 0.1.0, so they still load.
public struct RunDescription: Codable, Sendable, Equatable {
    /// Where the rows come from.
    public enum DataSource: Sendable, Equatable {
        case generated(Generated)
        case files(Files)
        case csv(Csv)
    }

    /// Generated data: the generator and its parameters (`make_classification`'s) and the split.
    public struct Generated: Codable, Sendable, Equatable {
        public var generator: String
        public var samples: Int, features: Int, informative: Int, redundant: Int, repeated: Int
        public var classes: Int, clustersPerClass: Int
        public var weights: [Double]?
        public var flipY: Double, classSep: Double
        public var hypercube: Bool
        /// `ColumnTransform` as text: `value(x)` or `random`.
        public var shift: String, scale: String
        public var shuffle: Bool
        public var seed: Int64
        public var testFraction: Double, splitSeed: Int64
        public var stratify: Bool

        enum CodingKeys: String, CodingKey {
            case generator, samples, features, informative, redundant, repeated, classes
            case clustersPerClass = "clusters_per_class", weights, flipY = "flip_y", classSep = "class_sep"
            case hypercube, shift, scale, shuffle, seed, testFraction = "test_fraction", splitSeed = "split_seed"
            case stratify
        }
    }

    /// `.npy` features and labels.
    public struct Files: Codable, Sendable, Equatable {
        public var trainData: String, trainLabels: String
        public var testData: String?, testLabels: String?
        public var classes: Int?
        enum CodingKeys: String, CodingKey {
            case trainData = "train_data", trainLabels = "train_labels", testData = "test_data"
            case testLabels = "test_labels", classes
        }
    }

    /// CSV files holding features and the label column.
    public struct Csv: Codable, Sendable, Equatable {
        public var trainData: String, testData: String?
        public var labelColumn: String?
        public var classes: Int?
        enum CodingKeys: String, CodingKey {
            case trainData = "train_data", testData = "test_data", labelColumn = "label_column", classes
        }
    }

    public var data: DataSource
    /// `MLPShape.description`, e.g. `20-64-2`.
    public var model: String
    public var precision: String
    public var classWeights: String
    public var gamma: Double
    public var reduction: String
    public var lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    public var adamw: Bool
    /// Rows per global batch; nil: the whole training set.
    public var batchSize: Int?
    public var chunkSize: Int
    public var shuffleBatches: Bool
    /// Seeds are stored as their 64-bit pattern (a seed above Int64.max is negative here).
    public var shuffleSeed: Int64, initSeed: Int64
    public var `init`: String?
    public var onNaN: String
    public var fastReduce: Bool
    /// "compact" for float32 runs with the default exact reduction (0.3.0); nil otherwise.
    /// Not a coding key: added to the identity by `json` only when set.
    public var exactReduction: String?
    /// Schedule, clipping, loss and sampler (`TrainingControls.swift`); nil, and absent from the identity, at their defaults.
    public var controls: TrainingControls?
    /// The real-data settings (standardization, validation, ...): keys added to the identity only
    /// when a setting is on, so earlier checkpoints keep loading (`RealDataDescription`).
    public var realData = RealDataDescription()

    enum CodingKeys: String, CodingKey {
        case data, model, precision, classWeights = "class_weights", gamma, reduction, lr, beta1, beta2, eps
        case weightDecay = "weight_decay", adamw, batchSize = "batch_size", chunkSize = "chunk_size"
        case shuffleBatches = "shuffle_batches", shuffleSeed = "shuffle_seed", initSeed = "init_seed", `init`
        case onNaN = "on_nan", fastReduce = "fast_reduce", controls
    }

    /// The description of `config` training a model of `shape`.
    public init(_ config: RunConfig, shape: MLPShape) {
        switch config.input {
        case .generated(let d):
            let c = d.classification
            data = .generated(Generated(
                generator: d.generator.rawValue, samples: c.samples, features: c.features, informative: c.informative,
                redundant: c.redundant, repeated: c.repeated, classes: c.classes, clustersPerClass: c.clustersPerClass,
                weights: c.weights, flipY: c.flipY, classSep: c.classSep, hypercube: c.hypercube,
                shift: String(describing: c.shift), scale: String(describing: c.scale), shuffle: c.shuffle,
                seed: Int64(c.seed), testFraction: d.split.testFraction, splitSeed: Int64(d.split.seed),
                stratify: d.split.stratify))
        case let .files(train, trainLabels, test, testLabels, classes):
            data = .files(Files(trainData: train, trainLabels: trainLabels, testData: test, testLabels: testLabels,
                                classes: classes))
        case let .csv(train, test, labelColumn, classes):
            data = .csv(Csv(trainData: train, testData: test, labelColumn: labelColumn, classes: classes))
        }
        let t = config.train
        model = shape.description
        precision = config.precision.rawValue
        classWeights = String(describing: config.classWeights)
        gamma = t.gamma
        reduction = t.reduction.rawValue
        lr = t.adam.lr
        beta1 = t.adam.beta1
        beta2 = t.adam.beta2
        eps = t.adam.eps
        weightDecay = t.adam.weightDecay
        adamw = t.adam.decoupled
        batchSize = t.batchSize
        chunkSize = t.chunkSize
        shuffleBatches = t.shuffleBatches
        shuffleSeed = Int64(bitPattern: t.shuffleSeed)
        initSeed = Int64(bitPattern: t.initSeed)
        `init` = config.initFile
        onNaN = t.onNaN.rawValue
        fastReduce = t.fastReduce
        exactReduction = config.precision == .float32 && !t.fastReduce && !t.wideReduce ? "compact" : nil
        controls = TrainingControls(t)
        realData = RealDataDescription(config)
    }

    /// The identity as JSON (what checkpoints store and compare): the keys above, then the
    /// real-data keys that are on.
    public var json: JSON {
        get throws {
            let base = RunDescription.strippingNullControls(try JSONValueEncoder().encode(self))
            guard case .object(var fields) = base, case .object(let more) = try JSONValueEncoder().encode(realData) else { return base }
            fields += more
            // Added in 0.3.0, only where it changes the numerics: float32 runs with the exact
            // reduction round onto a 32-bit grid (`CompactExactReducer`), so their checkpoints
            // cannot continue a run of an earlier version (which has no such key), nor the reverse.
            if let kind = exactReduction { fields.append(("exact_reduction", .string(kind))) }
            return .object(fields)
        }
    }
}

extension RunDescription.DataSource: Codable {
    /// The variant's fields directly (no wrapper key), as checkpoints have always stored them; on
    /// reading, `generator` marks generated data and `label_column` or a missing `train_labels` CSV.
    public func encode(to encoder: Encoder) throws {
        switch self {
        case .generated(let g): try g.encode(to: encoder)
        case .files(let f): try f.encode(to: encoder)
        case .csv(let c): try c.encode(to: encoder)
        }
    }

    public init(from decoder: Decoder) throws {
        enum Probe: String, CodingKey { case generator, trainLabels = "train_labels" }
        let probe = try decoder.container(keyedBy: Probe.self)
        if probe.contains(.generator) {
            self = .generated(try RunDescription.Generated(from: decoder))
        } else if probe.contains(.trainLabels) {
            self = .files(try RunDescription.Files(from: decoder))
        } else {
            self = .csv(try RunDescription.Csv(from: decoder))
        }
    }
}

// MARK: - The metrics file's config record

/// The last record of the metrics file: the run's description plus what the run found and how it
/// ran. Written and read back through this one type.
public struct ConfigRecord: Codable, Sendable, Equatable {
    public var type = "config"
    public var version: String
    public var run: RunDescription
    public var trainRows: Int, testRows: Int
    /// `[classes]` global class counts of each split.
    public var trainCounts: [Int64], testCounts: [Int64]
    /// `[classes]` the class weights used.
    public var alpha: [Double]
    public var parameters: Int
    public var optimizerOn: String
    public var epochs: Int
    /// Rows per global batch as run (the whole training set when full batch).
    public var batchRows: Int
    public var ranks: Int

    enum CodingKeys: String, CodingKey {
        case type, version, trainRows = "train_rows", testRows = "test_rows", trainCounts = "train_counts"
        case testCounts = "test_counts", alpha, parameters, optimizerOn = "optimizer_on", epochs
        case batchRows = "batch_rows", ranks
    }

    public init(run: RunDescription, trainRows: Int, testRows: Int, trainCounts: [Int64], testCounts: [Int64],
                alpha: [Double], parameters: Int, optimizerOn: String, epochs: Int, batchRows: Int, ranks: Int) {
        version = focalVersion
        self.run = run
        self.trainRows = trainRows
        self.testRows = testRows
        self.trainCounts = trainCounts
        self.testCounts = testCounts
        self.alpha = alpha
        self.parameters = parameters
        self.optimizerOn = optimizerOn
        self.epochs = epochs
        self.batchRows = batchRows
        self.ranks = ranks
    }

    /// One flat object: `type`, `version`, the description's keys, then the run's facts.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(version, forKey: .version)
        try run.encode(to: encoder)
        try run.realData.encode(to: encoder)
        try c.encode(trainRows, forKey: .trainRows)
        try c.encode(testRows, forKey: .testRows)
        try c.encode(trainCounts, forKey: .trainCounts)
        try c.encode(testCounts, forKey: .testCounts)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(optimizerOn, forKey: .optimizerOn)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(batchRows, forKey: .batchRows)
        try c.encode(ranks, forKey: .ranks)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        version = try c.decode(String.self, forKey: .version)
        run = try RunDescription(from: decoder)
        run.realData = try RealDataDescription(from: decoder)
        trainRows = try c.decode(Int.self, forKey: .trainRows)
        testRows = try c.decode(Int.self, forKey: .testRows)
        trainCounts = try c.decode([Int64].self, forKey: .trainCounts)
        testCounts = try c.decode([Int64].self, forKey: .testCounts)
        alpha = try c.decode([Double].self, forKey: .alpha)
        parameters = try c.decode(Int.self, forKey: .parameters)
        optimizerOn = try c.decode(String.self, forKey: .optimizerOn)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchRows = try c.decode(Int.self, forKey: .batchRows)
        ranks = try c.decode(Int.self, forKey: .ranks)
    }
}
