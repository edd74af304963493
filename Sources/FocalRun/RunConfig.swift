// RunConfig: the validated configuration of one run, a plain Sendable value shared by all ranks.
import FocalFormats
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalData

/// Where the training rows come from.
public enum DataInput: Sendable, Equatable {
    case generated(DatasetSpec)
    case files(train: String, trainLabels: String, test: String?, testLabels: String?, classes: Int?)
    /// CSV files holding features and the label column.
    case csv(train: String, test: String?, labelColumn: String?, classes: Int?)
}

/// Log verbosity (`--log-level`).
public enum LogLevel: String, CaseIterable, Sendable, Comparable {
    case error, warning, info, debug
    public static func < (a: LogLevel, b: LogLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct RunConfig: Sendable {
    public var input: DataInput
    public var classWeights: ClassWeightScheme
    public var train: TrainConfig
    public var precision: Precision
    public var initFile: String?
    public var metricsOut: String?
    public var saveModel: String?
    public var quiet: Bool
    public var logLevel: LogLevel
    public var simulateRanks: Int?
    public var checkGradients: Bool
    public var plotsDir: String?
    public var checkpointDir: String?
    public var checkpointEvery: Int
    public var checkpointEverySteps: Int
    public var keepCheckpoints: Int
    public var resume: String?
    /// `--debug-fault`: a failure to inject, for tests of the failure paths.
    public var fault: InjectedFault?
    /// The command line, recorded in the metrics.
    public var arguments: [String]
    /// Standardization, validation, early stopping, threshold, calibration (`RealDataConfig.swift`).
    public var realData = RealDataConfig()

    public init(input: DataInput, classWeights: ClassWeightScheme, train: TrainConfig, precision: Precision,
                initFile: String?, metricsOut: String?, saveModel: String?, quiet: Bool, logLevel: LogLevel,
                simulateRanks: Int?, checkGradients: Bool, plotsDir: String?, checkpointDir: String?,
                checkpointEvery: Int, checkpointEverySteps: Int, keepCheckpoints: Int, resume: String?,
                fault: InjectedFault?, arguments: [String]) {
        self.input = input
        self.classWeights = classWeights
        self.train = train
        self.precision = precision
        self.initFile = initFile
        self.metricsOut = metricsOut
        self.saveModel = saveModel
        self.quiet = quiet
        self.logLevel = logLevel
        self.simulateRanks = simulateRanks
        self.checkGradients = checkGradients
        self.plotsDir = plotsDir
        self.checkpointDir = checkpointDir
        self.checkpointEvery = checkpointEvery
        self.checkpointEverySteps = checkpointEverySteps
        self.keepCheckpoints = keepCheckpoints
        self.resume = resume
        self.fault = fault
        self.arguments = arguments
    }
}

/// Builds the data source of a run (on every rank; cheap: no rows are made here; collective for CSV).
/// `stopRequested` is polled during generation (the sklearn generator's pass 1).
public func makeDataSource(_ input: DataInput, comm: Communicator, stopRequested: StopPoll? = nil) throws -> DataSource {
    switch input {
    case .generated(let spec):
        switch spec.generator {
        case .sklearn: return try SklearnDataSource(ClassificationPlan(spec), stopRequested: stopRequested)
        case .counter: return try CounterDataSource(spec)
        }
    case let .files(train, trainLabels, test, testLabels, classes):
        return try NpyDataSource(trainX: train, trainY: trainLabels, testX: test, testY: testLabels, classes: classes)
    case let .csv(train, test, labelColumn, classes):
        return try CsvDataSource.open(train: train, test: test, labelColumn: labelColumn, classes: classes, comm: comm)
    }
}
