// Predict: class probabilities and predicted classes of a saved model on a .npy feature file,
// sharded across ranks like training, each rank writing its rows into shared output files.
//
// Output layout (both C-order .npy, rows in the input file's order):
//   --out P.npy         float64 `[rows, classes]`: softmax probabilities (computed in the model's
//                       precision, widened exactly to float64); for a model trained with
//                       `--loss sigmoid-focal` (metadata `loss`), per-class sigmoid scores
//   P_class.npy         int64 `[rows]`: the predicted class (first argmax of the logits, the rule
//                       of the training run's evaluation), next to P.npy (the `.npy` suffix of
//                       --out replaced by `_class.npy`)
// Files appear complete or not at all: rank 0 creates hidden temporary files at full size, every
// rank writes its rows at their offsets, rank 0 renames them (FocalRun's ShardedNpyWriter).
import ArgumentParser
import Collectives
import FocalCore
import FocalReport
import FocalRun
import FocalData
import FocalFormats
import FocalRun
#if canImport(Glibc)
import Glibc
#endif

struct Predict: ParsableCommand, RankedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write class probabilities and predicted classes of a saved model (--save-model) for a feature file.",
        discussion: """
        Writes OUT (float64 [rows, classes] probabilities) and OUT with `.npy` replaced by `_class.npy` \
        (int64 [rows] predicted classes). With --labels, also prints the evaluation (as training does) \
        and per-class ROC-AUC and PR-AUC. The model's precision decides the arithmetic; with the training \
        run's --chunk-size the predictions reproduce its evaluation exactly, for any number of ranks.
        """)

    @Option(help: ArgumentHelp("Model file written by --save-model (safetensors with focal-ddp metadata).", valueName: "FILE"))
    var model: String
    @Option(help: ArgumentHelp("Features: float32 or float64 .npy, shape [rows, features].", valueName: "X.npy"))
    var data: String
    @Option(help: ArgumentHelp("Probabilities output (.npy); the predicted classes go to <OUT without .npy>_class.npy.", valueName: "FILE"))
    var out: String
    @Option(help: ArgumentHelp("Labels (int32 or int64 .npy, shape [rows]): print the evaluation and ranking metrics.", valueName: "y.npy"))
    var labels: String?
    @Option(parsing: .unconditional, help: "Decision threshold for two classes (class 1 if p1 >= X), overriding the one stored by --tune-threshold.")
    var threshold: Double?
    @Option(help: "Rows per chunk; use the training run's --chunk-size to reproduce its evaluation bit for bit.")
    var chunkSize: Int = 256
    @Option(help: "Run N logical ranks as threads of this process (no mpirun).")
    var simulateRanks: Int?

    func validate() throws {
        guard out.hasSuffix(".npy"), out.count > 4, !out.hasSuffix("/.npy") else {
            throw ValidationError("--out: '\(out)' must name a .npy file")
        }
        if let t = threshold, !(t >= 0 && t <= 1) { throw ValidationError("--threshold: \(t) must lie in [0, 1]") }
        if chunkSize < 1 { throw ValidationError("--chunk-size: \(chunkSize) must be at least 1") }
        if let n = simulateRanks, n < 1 || n > 1024 { throw ValidationError("--simulate-ranks: \(n) must lie in 1...1024") }
    }

    func execute(arguments: [String]) -> Int32 {
        let job = PredictJob(model: model, data: data, out: out, labels: labels, chunkSize: chunkSize, threshold: threshold)
        return withCommunicator(simulate: simulateRanks) { comm in
            pinBLASToOneThread()
            do {
                try job.run(comm: comm)
                return 0
            } catch {
                return reportAgreed(error, comm: comm)
            }
        }
    }
}

/// The class-file path for a probabilities path `P.npy`: `P_class.npy`.
func classFilePath(forProbabilities out: String) -> String {
    String(out.dropLast(4)) + "_class.npy"
}

// MARK: - The job on one rank

struct PredictJob: Sendable {
    var model: String, data: String, out: String, labels: String?, chunkSize: Int
    var threshold: Double? = nil

    func run(comm: Communicator) throws {
        // An output onto an input (`--out` onto `--data`) is refused before anything is read (exit 2).
        try comm.agree {
            guard comm.rank == 0 else { return }
            try FileIO.checkDistinct(inputs: [("--model", model), ("--data", data)] + (labels.map { [("--labels", $0)] } ?? []),
                                     outputs: [("--out", out), ("--out (classes)", classFilePath(forProbabilities: out))])
        }
        let (file, shape, precision) = try comm.agree { () -> (SafetensorsFile, MLPShape, Precision) in
            let file = try SafetensorsFile.read(path: model)
            let shape = try ModelFile.shape(of: file, path: model)
            guard let text = file.metadata["precision"] else {
                throw DataError("\(model): metadata 'precision' is missing (expected float32 or float64)")
            }
            guard let p = Precision(rawValue: text) else {
                throw DataError("\(model): metadata precision '\(text)' is not float32 or float64")
            }
            return (file, shape, p)
        }
        switch precision {
        case .float32: try run(file: file, shape: shape, comm: comm, as: Float.self)
        case .float64: try run(file: file, shape: shape, comm: comm, as: Double.self)
        }
    }

    private func run<T: TrainScalar>(file: SafetensorsFile, shape: MLPShape, comm: Communicator, as: T.Type) throws {
        let t0 = monotonicSeconds()
        let (params, loss) = try comm.agree {
            (try ModelFile.parameters(from: file, shape: shape, path: model, as: T.self), try ModelFile.loss(of: file, path: model))
        }
        // `--standardize` statistics stored by training, applied in float64 before the cast.
        let standardization = try comm.agree {
            try Standardization.from(metadata: file.metadata, features: shape.features, path: model)
        }
        // `--calibrate` and `--tune-threshold`'s choices; `--threshold` overrides the stored one.
        var rule = try comm.agree { try DecisionRule.from(metadata: file.metadata, classes: shape.classes, path: model) }
        rule.scores = loss.scores
        if let t = threshold {
            try comm.agree {
                if shape.classes != 2 { throw DataError("--threshold: the model \(model) has \(shape.classes) classes; a threshold is for two") }
            }
            rule.threshold = t
        }

        // MARK: Rows of this rank (the chunk rule of training: full batch, whole chunks per rank)
        let header = try comm.agree { () -> NpyHeader in
            let h = try Npy.readHeader(path: data)
            guard h.dtype == .float32 || h.dtype == .float64, h.shape.count == 2 else {
                throw DataError("\(data): features must be a 2-D float32 or float64 array, found \(h.dtype.npyDescr) with shape \(h.shape)")
            }
            guard h.shape[1] == shape.features else {
                throw DataError("\(data): \(h.shape[1]) features per row, but the model \(model) (\(shape)) expects \(shape.features)")
            }
            return h
        }
        let n = header.rows
        let plan = ChunkPlan(rows: n, batchSize: max(1, n), chunkSize: chunkSize, ranks: comm.size)
        let ranges = plan.ownedRanges(rank: comm.rank)
        // The output files exist (hidden, at full size) before the work, so an unusable --out is
        // refused first (a FIFO or a device: exit 2; a missing directory: exit 3).
        let writer = try openOutputs(rows: n, classes: shape.classes, comm: comm)
        let local: (x: [Double], y: [Int32]?)
        do {
            local = try comm.agree { () -> (x: [Double], y: [Int32]?) in
                if let labels {
                    let source = try NpyDataSource(trainX: data, trainY: labels, testX: nil, testY: nil, classes: shape.classes)
                    let rows = try source.rows(train: ranges, test: [])
                    return (rows.train.x, rows.train.y)
                }
                var x: [Double] = []
                for r in ranges where !r.isEmpty {
                    let values = try Npy.readRows(path: data, rows: r).doubles
                    for (i, v) in values.enumerated() where !v.isFinite {
                        throw DataError("\(data): row \(r.lowerBound + i / shape.features) holds a non-finite feature (\(v)) in column \(i % shape.features)")
                    }
                    x += values
                }
                return (x, nil)
            }
            // A value the model's precision cannot hold (1e300 for a float32 model) is refused
            // naming its row, as training refuses it, rather than turned into NaN probabilities.
            try comm.agree {
                guard T.precision != .float64, let bad = local.x.firstIndex(where: { !T($0).isFinite }) else { return }
                let row = (ranges.first?.lowerBound ?? 0) + bad / shape.features
                throw DataError("\(data): row \(row): value \(local.x[bad]) in column \(bad % shape.features) overflows \(T.precision.rawValue), the model's precision")
            }
        } catch {
            writer.discard(comm: comm)
            throw error
        }
        let first = ranges.first?.lowerBound ?? 0
        precondition(ranges.count <= 1, "Predict: a full-batch plan gives one contiguous range per rank")

        // MARK: Forward passes
        var x = local.x
        standardization?.apply(to: &x)
        var p = probabilities(shape: shape, params: params, x: x.map { T($0) }, chunkSize: chunkSize, scores: loss.scores)
        var calibrated: [Double]? = nil
        if rule.temperature != nil || rule.threshold != nil {
            // Scores in float64 from the logits (after calibration), classes by the rule.
            let z = logitRows(shape: shape, params: params, x: x.map { T($0) }, chunkSize: chunkSize)
            let applied = rule.apply(logits: z, classes: shape.classes)
            p.predicted = applied.predicted
            if rule.temperature != nil { calibrated = applied.probabilities }
        }

        // MARK: Output files
        try writer.finish(rows: [
            (first, { (calibrated ?? p.probabilities.map { Double($0) }).withUnsafeBytes { Array($0) } }),
            (first, { p.predicted.map { Int64($0) }.withUnsafeBytes { Array($0) } }),
        ], comm: comm)
        let seconds = monotonicSeconds() - t0
        if comm.rank == 0 {
            print("wrote \(out) (float64 \(n) x \(shape.classes) \(loss == .sigmoidFocal ? "sigmoid scores" : "probabilities")) and \(classFilePath(forProbabilities: out)) (int64 \(n) classes): model \(shape) \(T.precision.rawValue), \(comm.size) rank\(comm.size == 1 ? "" : "s"), \(formatFixed(seconds, digits: 3)) s")
        }

        // MARK: Evaluation
        guard let y = local.y else { return }
        let k = shape.classes
        var confusion = [Int64](repeating: 0, count: k * k)
        for (t, c) in zip(y, p.predicted) { confusion[Int(t) * k + Int(c)] += 1 }
        try comm.allreduce(&confusion, op: .sum)
        let report = EvaluationReport(confusion: (0..<k).map { Array(confusion[($0 * k)..<(($0 + 1) * k)]) })
        let ranking = try rankingReport(comm: comm, probabilities: p.probabilities, labels: y, classes: k)
        if comm.rank == 0 {
            print(report.table())
            print(ranking.table())
        }
    }

    /// The two output files (probabilities `[rows, classes]` float64, classes `[rows]` int64),
    /// created by rank 0 at full size; every rank later writes its rows at their offsets.
    private func openOutputs(rows n: Int, classes k: Int, comm: Communicator) throws -> ShardedNpyWriter {
        try ShardedNpyWriter.open([
            .init(path: out, header: NpyHeader(dtype: .float64, shape: [n, k])),
            .init(path: classFilePath(forProbabilities: out), header: NpyHeader(dtype: .int64, shape: [n])),
        ], comm: comm) { path, rank, host in
            "\(path): rank \(rank) on \(host) does not see rank 0's temporary file; predict needs an output directory shared by all hosts"
        }
    }
}
