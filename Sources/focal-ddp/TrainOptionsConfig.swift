// RunOptions: turns the training options into a validated `RunConfig` (every error names its option).
import FocalFormats
import ArgumentParser
import Collectives
import FocalCore
import FocalData
import FocalRun

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
        try require(resume != "auto" || checkpointDir != nil, "--resume auto: needs --checkpoint-dir (the directory it resumes from)")
        try require(keepCheckpoints >= 1, "--keep-checkpoints: \(keepCheckpoints) must be >= 1")
        try require(stallTimeout.isFinite && stallTimeout > 0, "--stall-timeout: \(stallTimeout) must be a number of seconds > 0")
        t.stallTimeout = stallTimeout
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
        t.wideReduce = wideReduce
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
                         fault: try injectedFault(), arguments: arguments)
    }
}

/// Validates generated-data parameters with `ClassificationPlan`'s rules (the same for both
/// generators); a refusal becomes a one-line `DataError` naming the options.
func validateDataset(_ spec: DatasetSpec) throws {
    do {
        _ = try ClassificationPlan(spec)
    } catch let invalid as ClassificationPlan.Invalid {
        throw DataError(invalid.message.rendered(naming: optionName))
    }
}

/// The command-line option that sets a `ClassificationPlan` field.
func optionName(_ field: ClassificationPlan.Field) -> String {
    switch field {
    case .generator: return "--generator"
    case .samples: return "--samples"
    case .features: return "--features"
    case .informative: return "--informative"
    case .redundant: return "--redundant"
    case .repeated: return "--repeated"
    case .classes: return "--classes"
    case .clustersPerClass: return "--clusters-per-class"
    case .weights: return "--weights"
    case .flipY: return "--flip-y"
    case .classSep: return "--class-sep"
    case .shift: return "--shift"
    case .scale: return "--scale"
    case .testFraction: return "--test-fraction"
    case .stratify: return "--stratify"
    }
}
