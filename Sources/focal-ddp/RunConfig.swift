// RunConfig: the validated configuration of one run, a plain Sendable value shared by all ranks.
import ArgumentParser
import Collectives
import FocalCore
import FocalData
import FocalFormats

/// Where the training rows come from.
enum DataInput: Sendable, Equatable {
    case generated(DatasetSpec)
    case files(train: String, trainLabels: String, test: String?, testLabels: String?, classes: Int?)
    /// CSV files holding features and the label column.
    case csv(train: String, test: String?, labelColumn: String?, classes: Int?)
}

struct RunConfig: Sendable {
    var input: DataInput
    var classWeights: ClassWeightScheme
    var train: TrainConfig
    var precision: Precision
    var initFile: String?
    /// Everything a resumed run must share with the checkpoint (not epochs, ranks, outputs, logging).
    func identity(shape: MLPShape) -> JSON {
        let t = train
        var data: JSON
        switch input {
        case .generated(let d):
            let c = d.classification
            data = .object([("generator", .string(d.generator.rawValue)), ("samples", .int(Int64(c.samples))),
                            ("features", .int(Int64(c.features))), ("informative", .int(Int64(c.informative))),
                            ("redundant", .int(Int64(c.redundant))), ("repeated", .int(Int64(c.repeated))),
                            ("classes", .int(Int64(c.classes))), ("clusters_per_class", .int(Int64(c.clustersPerClass))),
                            ("weights", c.weights.map { .array($0.map { .number($0) }) } ?? .null),
                            ("flip_y", .number(c.flipY)), ("class_sep", .number(c.classSep)), ("hypercube", .bool(c.hypercube)),
                            ("shift", .string(String(describing: c.shift))), ("scale", .string(String(describing: c.scale))),
                            ("shuffle", .bool(c.shuffle)), ("seed", .int(Int64(c.seed))),
                            ("test_fraction", .number(d.split.testFraction)), ("split_seed", .int(Int64(d.split.seed))),
                            ("stratify", .bool(d.split.stratify))])
        case let .csv(train, test, labelColumn, classes):
            data = .object([("train_data", .string(train)), ("test_data", test.map { .string($0) } ?? .null),
                            ("label_column", labelColumn.map { .string($0) } ?? .null),
                            ("classes", classes.map { .int(Int64($0)) } ?? .null)])
        case let .files(train, trainLabels, test, testLabels, classes):
            data = .object([("train_data", .string(train)), ("train_labels", .string(trainLabels)),
                            ("test_data", test.map { .string($0) } ?? .null), ("test_labels", testLabels.map { .string($0) } ?? .null),
                            ("classes", classes.map { .int(Int64($0)) } ?? .null)])
        }
        return .object([
            ("data", data), ("model", .string(shape.description)), ("precision", .string(precision.rawValue)),
            ("class_weights", .string(String(describing: classWeights))), ("gamma", .number(t.gamma)),
            ("reduction", .string(t.reduction.rawValue)), ("lr", .number(t.adam.lr)), ("beta1", .number(t.adam.beta1)),
            ("beta2", .number(t.adam.beta2)), ("eps", .number(t.adam.eps)), ("weight_decay", .number(t.adam.weightDecay)),
            ("adamw", .bool(t.adam.decoupled)), ("batch_size", t.batchSize.map { .int(Int64($0)) } ?? .null),
            ("chunk_size", .int(Int64(t.chunkSize))), ("shuffle_batches", .bool(t.shuffleBatches)),
            ("shuffle_seed", .int(Int64(t.shuffleSeed))), ("init_seed", .int(Int64(t.initSeed))),
            ("init", initFile.map { .string($0) } ?? .null), ("on_nan", .string(t.onNaN.rawValue)), ("fast_reduce", .bool(t.fastReduce)),
        ])
    }
    var metricsOut: String?
    var saveModel: String?
    var quiet: Bool
    var logLevel: LogLevel
    var simulateRanks: Int?
    var checkGradients: Bool
    var plotsDir: String?
    var checkpointDir: String?
    var checkpointEvery: Int
    var checkpointEverySteps: Int
    var keepCheckpoints: Int
    var resume: String?
    /// The command line, recorded in the metrics.
    var arguments: [String]
}

extension TrainOptions {
    /// Validates everything that does not need the data; throws `ValidationError` (usage) or
    /// `DataError` naming the option.
    func runConfig(data: DataOptions, arguments: [String]) throws -> RunConfig {
        var t = TrainConfig()
        t.hidden = try hiddenWidths()
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        try require(gamma.isFinite && gamma >= 0, "--gamma: \(gamma) must be a finite number >= 0")
        try require(lr.isFinite && lr > 0, "--lr: \(lr) must be a finite number > 0")
        try require(beta1 >= 0 && beta1 < 1, "--beta1: \(beta1) must lie in [0, 1)")
        try require(beta2 >= 0 && beta2 < 1, "--beta2: \(beta2) must lie in [0, 1)")
        try require(eps.isFinite && eps > 0, "--eps: \(eps) must be a finite number > 0")
        try require(weightDecay.isFinite && weightDecay >= 0, "--weight-decay: \(weightDecay) must be a finite number >= 0")
        try require(epochs >= 0, "--epochs: \(epochs) must be >= 0")
        try require((batchSize ?? 1) >= 1, "--batch-size: \(batchSize ?? 0) must be >= 1")
        try require(chunkSize >= 1, "--chunk-size: \(chunkSize) must be >= 1")
        try require(logEvery >= 0, "--log-every: \(logEvery) must be >= 0")
        try require(evalEvery >= 0, "--eval-every: \(evalEvery) must be >= 0")
        try require((simulateRanks ?? 1) >= 1 && (simulateRanks ?? 1) <= 1024, "--simulate-ranks: \(simulateRanks ?? 0) must lie in 1...1024")
        try require(checkpointEvery >= 0, "--checkpoint-every: \(checkpointEvery) must be >= 0")
        try require(checkpointEverySteps >= 0, "--checkpoint-every-steps: \(checkpointEverySteps) must be >= 0")
        try require(keepCheckpoints >= 1, "--keep-checkpoints: \(keepCheckpoints) must be >= 1")
        try require(stallTimeout.isFinite && stallTimeout > 0, "--stall-timeout: \(stallTimeout) must be a number of seconds > 0")
        t.stallTimeout = stallTimeout
        t.fault = try injectedFault()
        t.gamma = gamma
        t.reduction = reduction
        t.adam.lr = lr
        t.adam.beta1 = beta1
        t.adam.beta2 = beta2
        t.adam.eps = eps
        t.adam.weightDecay = weightDecay
        t.adam.decoupled = adamw
        t.optimizerOn = optimizerOn
        t.epochs = epochs
        t.batchSize = batchSize
        t.chunkSize = chunkSize
        t.shuffleBatches = shuffleBatches
        t.fastReduce = fastReduce
        t.shuffleSeed = UInt64(max(0, data.seed))
        t.logEvery = logEvery
        t.evalEvery = evalEvery
        t.initSeed = initSeed
        t.onNaN = onNan

        let input: DataInput
        if let x = trainData, x.hasSuffix(".csv") {
            if trainLabels != nil || testLabels != nil {
                throw ValidationError("--train-labels/--test-labels are for .npy input; a .csv file holds its labels (--label-column)")
            }
            if let t = testData, !t.hasSuffix(".csv") { throw ValidationError("--test-data must be .csv like --train-data") }
            if let k = data.classes, k < 2 { throw ValidationError("--classes: \(k) must be >= 2") }
            input = .csv(train: x, test: testData, labelColumn: labelColumn, classes: data.classes)
        } else if let x = trainData {
            if labelColumn != nil { throw ValidationError("--label-column is for .csv input") }
            guard let y = trainLabels else { throw ValidationError("--train-data needs --train-labels") }
            if (testData == nil) != (testLabels == nil) {
                throw ValidationError("--test-data and --test-labels go together")
            }
            if let k = data.classes, k < 2 { throw ValidationError("--classes: \(k) must be >= 2") }
            input = .files(train: x, trainLabels: y, test: testData, testLabels: testLabels, classes: data.classes)
        } else {
            if trainLabels != nil || testData != nil || testLabels != nil {
                throw ValidationError("--train-labels, --test-data and --test-labels need --train-data")
            }
            let spec = try data.datasetSpec()
            try validateDataset(spec)
            input = .generated(spec)
        }
        return RunConfig(input: input, classWeights: try data.classWeightScheme(), train: t, precision: precision,
                         initFile: self.`init`, metricsOut: metricsOut, saveModel: saveModel, quiet: quiet,
                         logLevel: logLevel, simulateRanks: simulateRanks, checkGradients: checkGradients,
                         plotsDir: plots, checkpointDir: checkpointDir, checkpointEvery: checkpointEvery,
                         checkpointEverySteps: checkpointEverySteps, keepCheckpoints: keepCheckpoints, resume: resume,
                         arguments: arguments)
    }
}

/// Validates generated-data parameters with the rules of the chosen generator.
func validateDataset(_ spec: DatasetSpec) throws {
    switch spec.generator {
    case .sklearn: try SklearnDataSource.validate(spec)
    case .counter: try CounterDataSource.validate(spec)
    }
}

/// Builds the data source of a run (on every rank; cheap: no rows are made here; collective for CSV).
func makeDataSource(_ input: DataInput, comm: Communicator) throws -> DataSource {
    switch input {
    case .generated(let spec):
        switch spec.generator {
        case .sklearn: return try SklearnDataSource(spec)
        case .counter: return try CounterDataSource(spec)
        }
    case let .files(train, trainLabels, test, testLabels, classes):
        return try NpyDataSource(trainX: train, trainY: trainLabels, testX: test, testY: testLabels, classes: classes)
    case let .csv(train, test, labelColumn, classes):
        return try CsvDataSource.open(train: train, test: test, labelColumn: labelColumn, classes: classes, comm: comm)
    }
}
