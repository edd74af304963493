// Options: every command-line option of focal-ddp, with help and the tutorial's defaults.
import ArgumentParser
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats

extension GeneratorKind: ExpressibleByArgument {}
extension LossReduction: ExpressibleByArgument {}
extension OptimizerPlacement: ExpressibleByArgument {}
extension NaNPolicy: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

extension LogLevel: ExpressibleByArgument {}

// MARK: - Data options (shared by `train` and `generate`)

struct DataOptions: ParsableArguments {
    @Option(help: "Data generator: sklearn (bit-for-bit make_classification) or counter (keyed by seed and row, for scale).")
    var generator: GeneratorKind = .sklearn
    @Option(parsing: .unconditional, help: "Number of samples (train + test).")
    var samples: Int = 1000
    @Option(parsing: .unconditional, help: "Number of features.")
    var features: Int = 20
    @Option(parsing: .unconditional, help: "Informative features.")
    var informative: Int = 10
    @Option(parsing: .unconditional, help: "Redundant features (linear combinations of informative ones).")
    var redundant: Int = 5
    @Option(parsing: .unconditional, help: "Repeated features (copies of informative or redundant ones).")
    var repeated: Int = 0
    @Option(parsing: .unconditional, help: "Number of classes (with --train-data: default is the largest label + 1).")
    var classes: Int?
    @Option(parsing: .unconditional, help: "Clusters per class.")
    var clustersPerClass: Int = 2
    @Option(parsing: .unconditional,
            help: "Class proportions, comma separated, K or K-1 values (default 0.8,0.2 for 2 classes, else equal).")
    var weights: String?
    @Option(parsing: .unconditional, help: "Fraction of labels assigned at random.")
    var flipY: Double = 0.01
    @Option(parsing: .unconditional, help: "Cluster separation (hypercube side / 2).")
    var classSep: Double = 1.0
    @Flag(help: "Put cluster centres on a random polytope instead of hypercube vertices.")
    var noHypercube = false
    @Option(parsing: .unconditional, help: "Shift added to every feature: a number, or 'random' (scikit-learn's None).")
    var shift: String = "0.0"
    @Option(parsing: .unconditional, help: "Scale applied to every feature: a number, or 'random' (scikit-learn's None).")
    var scale: String = "1.0"
    @Flag(help: "Do not shuffle rows and columns (scikit-learn's shuffle=False).")
    var noShuffle = false
    @Option(parsing: .unconditional, help: "Generator seed (random_state), 0 ... 4294967295.")
    var seed: Int64 = 42
    @Option(parsing: .unconditional, help: "Fraction of rows held out for testing (train_test_split's test_size).")
    var testFraction: Double = 0.2
    @Option(parsing: .unconditional, help: "Seed of the train/test split (its random_state).")
    var splitSeed: Int64 = 42
    @Flag(help: "Stratified split (train_test_split's stratify=y).")
    var stratify = false
    @Option(parsing: .unconditional,
            help: "Class weights alpha: inverse (the tutorial's 1/(count/n)), balanced (n/(K*count)), effective (Cui et al. 2019), none, or a comma list.")
    var classWeights: String = "inverse"
    @Option(parsing: .unconditional, help: "Beta of the 'effective' class-weight scheme.")
    var beta: Double = 0.999

    /// Builds the generated data set's description; every error names its option.
    func datasetSpec() throws -> DatasetSpec {
        var d = DatasetSpec()
        d.generator = generator
        var c = ClassificationSpec()
        c.samples = samples
        c.features = features
        c.informative = informative
        c.redundant = redundant
        c.repeated = repeated
        c.classes = classes ?? 2
        c.clustersPerClass = clustersPerClass
        if let w = weights {
            c.weights = try parseDoubles(w, option: "--weights")
        } else {
            c.weights = c.classes == 2 ? [0.8, 0.2] : nil
        }
        c.flipY = flipY
        c.classSep = classSep
        c.hypercube = !noHypercube
        c.shift = try parseTransform(shift, option: "--shift")
        c.scale = try parseTransform(scale, option: "--scale")
        c.shuffle = !noShuffle
        c.seed = try parseSeed(seed, option: "--seed")
        d.classification = c
        d.split.testFraction = testFraction
        d.split.seed = try parseSeed(splitSeed, option: "--split-seed")
        d.split.stratify = stratify
        return d
    }

    func classWeightScheme() throws -> ClassWeightScheme {
        guard beta > 0 && beta < 1 else { throw DataError("--beta: \(beta) must lie strictly between 0 and 1") }
        let scheme = try ClassWeightScheme(parsing: classWeights)
        if case .effective = scheme, classWeights == "effective" { return .effective(beta: beta) }
        return scheme
    }
}

func parseDoubles(_ s: String, option: String) throws -> [Double] {
    let parts = s.split(separator: ",", omittingEmptySubsequences: false)
    return try parts.map { p in
        guard let v = Double(p.trimmingCharacters()) else {
            throw DataError("\(option): '\(p)' is not a number (expected a comma-separated list such as 0.8,0.2)")
        }
        return v
    }
}

func parseTransform(_ s: String, option: String) throws -> ColumnTransform {
    if s == "random" { return .random }
    guard let v = Double(s) else { throw DataError("\(option): '\(s)' is neither a number nor 'random'") }
    return .value(v)
}

func parseSeed(_ v: Int64, option: String) throws -> UInt32 {
    guard v >= 0 && v <= Int64(UInt32.max) else {
        throw DataError("\(option): \(v) is outside 0...4294967295 (scikit-learn's random_state range)")
    }
    return UInt32(v)
}

extension Substring {
    func trimmingCharacters() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

// MARK: - Training options

struct TrainOptions: ParsableArguments {
    // Input files
    @Option(help: ArgumentHelp("Training data instead of generated data: features as .npy (float32/float64, [rows, features], C order, with --train-labels), or a .csv holding features and the label column.", valueName: "X.npy|X.csv"))
    var trainData: String?
    @Option(help: ArgumentHelp("CSV label column: a header name or a 0-based index (default: the last column).", valueName: "NAME|INDEX"))
    var labelColumn: String?
    @Option(help: ArgumentHelp("Training labels (.npy, int32/int64, [rows]).", valueName: "y.npy"))
    var trainLabels: String?
    @Option(help: ArgumentHelp("Held-out data (.npy with --test-labels, or .csv).", valueName: "X.npy|X.csv"))
    var testData: String?
    @Option(help: ArgumentHelp("Held-out labels (.npy).", valueName: "y.npy"))
    var testLabels: String?

    // Model
    @Option(help: "Hidden layer widths, comma separated (e.g. 256,256).")
    var hidden: String = "64"
    @Option(parsing: .unconditional, help: "Seed of the PyTorch-style uniform(+-1/sqrt(fan_in)) initialisation.")
    var initSeed: UInt64 = 0
    @Option(help: ArgumentHelp("Start from these parameters (safetensors, PyTorch nn.Sequential names 0.weight, 0.bias, 2.weight, ...; F32 or F64).", valueName: "FILE"))
    var `init`: String?
    @Option(help: "Training precision: float32 (cblas_sgemm) or float64 (cblas_dgemm).")
    var precision: Precision = .float32

    // Loss
    @Option(parsing: .unconditional, help: "Focal loss gamma (0: class-weighted cross-entropy).")
    var gamma: Double = 2
    @Option(help: "Loss reduction: mean (divide by rows, as the tutorial), weighted-mean (divide by the sum of alpha[target]), sum.")
    var reduction: LossReduction = .mean

    // Optimizer
    @Option(parsing: .unconditional, help: "Adam learning rate.")
    var lr: Double = 1e-3
    @Option(parsing: .unconditional, help: "Adam beta1.")
    var beta1: Double = 0.9
    @Option(parsing: .unconditional, help: "Adam beta2.")
    var beta2: Double = 0.999
    @Option(parsing: .unconditional, help: "Adam epsilon (added after the bias-corrected square root, as PyTorch).")
    var eps: Double = 1e-8
    @Option(parsing: .unconditional, help: "Weight decay (L2 added to the gradient; decoupled with --adamw).")
    var weightDecay: Double = 0
    @Flag(help: "Decoupled weight decay (AdamW).")
    var adamw = false
    @Option(help: "Where Adam runs: root (rank 0 steps and broadcasts the parameters) or replicated (every rank steps).")
    var optimizerOn: OptimizerPlacement = .root

    // Loop
    @Option(parsing: .unconditional, help: "Epochs.")
    var epochs: Int = 100
    @Option(parsing: .unconditional, help: "Global batch size in rows (default: the whole training set, full batch).")
    var batchSize: Int?
    @Option(parsing: .unconditional, help: "Rows per chunk, the unit whose results never depend on the number of ranks (part of the result's identity).")
    var chunkSize: Int = 256
    @Flag(help: "Visit the batches in a new order each epoch (keyed by --seed and the epoch).")
    var shuffleBatches = false
    @Flag(help: "Plain float64 gradient allreduce instead of the exact one: a little faster, but results then depend on the number of ranks (within rounding).")
    var fastReduce = false
    @Flag(help: "The exact reduction of 0.2.0 in float32 runs: 4-byte exponents and 64-bit sums, 12 bytes per parameter per step instead of 5 (float64 runs always use it). Needed to resume a float32 checkpoint written by 0.2.0 or earlier.")
    var wideReduce = false
    @Option(parsing: .unconditional, help: "Print the loss every this many epochs (0: never).")
    var logEvery: Int = 10
    @Option(parsing: .unconditional, help: "Also evaluate on the held-out split every this many epochs (0: only at the end).")
    var evalEvery: Int = 0
    @Option(help: "On a non-finite loss or gradient: stop (every rank, with the step and rank) or skip the update.")
    var onNan: NaNPolicy = .stop

    // Output
    @Option(help: ArgumentHelp("Write metrics as JSON lines (epoch records, then the evaluation).", valueName: "FILE.jsonl"))
    var metricsOut: String?
    @Option(help: ArgumentHelp("Save the final parameters (safetensors, loadable by safetensors.torch.load_file into nn.Sequential).", valueName: "FILE.safetensors"))
    var saveModel: String?
    @Flag(help: "Print only errors and the final summary.")
    var quiet = false
    @Option(help: "Log level: error, warning, info, debug (debug: per-rank shard sizes and timings).")
    var logLevel: LogLevel = .info

    @Option(help: ArgumentHelp("Write SVG plots (class distribution, loss, recall) into this directory at the end.", valueName: "DIR"))
    var plots: String?

    // Checkpoints
    @Option(help: ArgumentHelp("Write checkpoints (parameters, Adam state, data position) into this directory.", valueName: "DIR"))
    var checkpointDir: String?
    @Option(parsing: .unconditional, help: "Checkpoint every this many epochs (with --checkpoint-dir; 0: only on a signal).")
    var checkpointEvery: Int = 1
    @Option(parsing: .unconditional, help: "Also checkpoint every this many steps (0: off), for long epochs.")
    var checkpointEverySteps: Int = 0
    @Option(parsing: .unconditional, help: "Keep the newest this many checkpoints.")
    var keepCheckpoints: Int = 3
    @Option(help: ArgumentHelp("Resume from a checkpoint file, or the newest checkpoint in a directory (any number of ranks); auto: the newest valid one in --checkpoint-dir, or a fresh start.", valueName: "PATH"))
    var resume: String?

    // Failure handling
    @Option(parsing: .unconditional, help: "Seconds a step's collectives may take before the job is declared stalled and aborted.")
    var stallTimeout: Double = 600
    @Option(help: ArgumentHelp("Testing: make RANK fail at global STEP (KIND: nan, error, hang, exit).", valueName: "RANK:STEP:KIND"))
    var debugFault: String?

    // Debug
    @Option(parsing: .unconditional, help: "Run N logical ranks as threads of this process (no mpirun); results equal mpirun -n N.")
    var simulateRanks: Int?
    @Flag(help: "Compare the analytic gradient with central finite differences (float64) before training.")
    var checkGradients = false

    func injectedFault() throws -> InjectedFault? {
        guard let text = debugFault else { return nil }
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let r = Int(parts[0]), r >= 0, let st = Int(parts[1]), st >= 0,
              let kind = InjectedFault.Kind(rawValue: parts[2]) else {
            throw ValidationError("--debug-fault: '\(text)' must be RANK:STEP:KIND with KIND one of nan, error, hang, exit")
        }
        return InjectedFault(rank: r, step: st, kind: kind)
    }

    func hiddenWidths() throws -> [Int] {
        let parts = hidden.split(separator: ",", omittingEmptySubsequences: false)
        let widths = parts.map { Int($0.trimmingCharacters()) }
        guard !parts.isEmpty, widths.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--hidden: '\(hidden)' must be a comma-separated list of widths >= 1 (e.g. 64 or 256,256)")
        }
        return widths.map { $0! }
    }
}
