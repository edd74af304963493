// Metrics: the records of the metrics JSON-lines file as Codable types. They are written and read
// back through the same types (FocalFormats' Codable bridge, writer and strict parser): a Double
// as its shortest round-trip decimal, a non-finite number as `null` (read back as NaN).
//
// A file holds, in order: "epoch" records (logged epochs), "eval" records (evaluations of the
// validation split, "split":"val", or of the test split, "split":"test"; the last test one also
// carries ranking metrics), with the real-data options "early_stopping", "calibration" and
// "threshold" records (FocalRun writes them; README's metrics section lists their keys), and one "config" record
// (written by FocalRun's `ConfigRecord`; this layer reads only the part the plots need).
import FocalCore
import FocalData
import FocalFormats

/// A logged epoch: `{"type":"epoch","epoch":…,"loss":…,"lr":…,"elapsed_s":…,"samples_per_s":…,"skipped_steps":…,"grad_norm":…,"grad_norm_max":…}`;
/// `lr` is the rate of the epoch's last step.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var type = "epoch"
    public var epoch: Int
    /// The run's reduction over every per-row loss of the epoch.
    public var loss: Double
    public var lr: Double
    /// Seconds since training started.
    public var elapsedS: Double
    /// Training rows per second over the epoch (all ranks together).
    public var samplesPerS: Double
    /// Steps skipped for a non-finite value (`--on-nan skip`).
    public var skippedSteps: Int
    /// The global L2 norm of the epoch's last step's gradient before clipping, and the epoch's
    /// largest (null when every step of the epoch was skipped).
    public var gradNorm: Double?
    public var gradNormMax: Double?

    enum CodingKeys: String, CodingKey {
        case type, epoch, loss, lr, elapsedS = "elapsed_s", samplesPerS = "samples_per_s", skippedSteps = "skipped_steps"
        case gradNorm = "grad_norm", gradNormMax = "grad_norm_max"
    }

    public init(_ r: EpochRecord) {
        epoch = r.epoch
        loss = r.loss
        lr = r.lr
        elapsedS = r.elapsed
        samplesPerS = r.samplesPerSecond
        skippedSteps = r.skippedSteps
        gradNorm = r.gradNorm
        gradNormMax = r.gradNormMax
    }
}

/// A held-out evaluation: confusion-matrix metrics (scikit-learn's definitions, `Evaluation.swift`)
/// and, for the final one, per-class one-vs-rest ROC-AUC and PR-AUC.
public struct EvalMetrics: Codable, Sendable, Equatable {
    public var type = "eval"
    /// Which rows: "val" (the validation split) or "test"; absent in files of earlier versions.
    public var split: String?
    /// The epoch after which it ran (the last epoch for the final evaluation).
    public var epoch: Int?
    public var rows: Int64
    /// The loss on these rows under the run's reduction (null when not computed or non-finite).
    public var loss: Double?
    public var accuracy: Double
    public var balancedAccuracy: Double
    public var macroF1: Double
    /// `[classes]` each.
    public var precision: [Double], recall: [Double], f1: [Double]
    public var support: [Int64]
    /// `[classes][classes]`: rows are true classes, columns predicted classes.
    public var confusion: [[Int64]]
    /// `[classes]` (NaN, written null, when undefined); absent from intermediate evaluations.
    public var rocAUC: [Double]?
    public var prAUC: [Double]?

    enum CodingKeys: String, CodingKey {
        case type, split, epoch, rows, loss, accuracy, balancedAccuracy = "balanced_accuracy", macroF1 = "macro_f1"
        case precision, recall, f1, support, confusion, rocAUC = "roc_auc", prAUC = "pr_auc"
    }

    /// `epoch` and the ranking metrics only when present; `loss` always (null when nil).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        if let split { try c.encode(split, forKey: .split) }
        if let epoch { try c.encode(epoch, forKey: .epoch) }
        try c.encode(rows, forKey: .rows)
        if let loss { try c.encode(loss, forKey: .loss) } else { try c.encodeNil(forKey: .loss) }
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(balancedAccuracy, forKey: .balancedAccuracy)
        try c.encode(macroF1, forKey: .macroF1)
        try c.encode(precision, forKey: .precision)
        try c.encode(recall, forKey: .recall)
        try c.encode(f1, forKey: .f1)
        try c.encode(support, forKey: .support)
        try c.encode(confusion, forKey: .confusion)
        if let rocAUC { try c.encode(rocAUC, forKey: .rocAUC) }
        if let prAUC { try c.encode(prAUC, forKey: .prAUC) }
    }

    public init(_ report: EvaluationReport, epoch: Int?, ranking: RankingReport? = nil, split: String? = nil) {
        self.split = split
        self.epoch = epoch
        rows = report.rows
        loss = report.loss
        accuracy = report.accuracy
        balancedAccuracy = report.balancedAccuracy
        macroF1 = report.macroF1
        precision = report.perClass.map(\.precision)
        recall = report.perClass.map(\.recall)
        f1 = report.perClass.map(\.f1)
        support = report.perClass.map(\.support)
        confusion = report.confusion
        rocAUC = ranking?.rocAUC
        prAUC = ranking?.averagePrecision
    }
}

/// The part of a "calibration" record the plots read: the split, T and, for two classes, the
/// reliability curves (`calibration_curve(y, p1, n_bins=15, strategy="uniform")`) before and after.
public struct CalibrationRecord: Decodable, Sendable, Equatable {
    public var split: String
    public var temperature: Double
    public var curveBefore: CalibrationCurve?
    public var curveAfter: CalibrationCurve?
    enum CodingKeys: String, CodingKey { case split, temperature, curveBefore = "curve_before", curveAfter = "curve_after" }
}

/// The part of the "config" record the report layer reads (class counts and the model), from
/// any version's config record.
public struct ConfigSummary: Decodable, Sendable, Equatable {
    /// `[classes]` global class counts of each split.
    public var trainCounts: [Int64]
    public var testCounts: [Int64]?
    /// The model's layer widths, e.g. `20-64-2`.
    public var model: String?

    enum CodingKeys: String, CodingKey { case trainCounts = "train_counts", testCounts = "test_counts", model }
}

/// A whole metrics file, read back through the record types.
public struct MetricsFile: Sendable, Equatable {
    public var epochs: [EpochMetrics] = []
    public var evals: [EvalMetrics] = []
    /// The last config record's summary, if any.
    public var config: ConfigSummary?
    /// "calibration" records (`--calibrate`), in file order.
    public var calibrations: [CalibrationRecord] = []

    public init(epochs: [EpochMetrics] = [], evals: [EvalMetrics] = [], config: ConfigSummary? = nil) {
        self.epochs = epochs
        self.evals = evals
        self.config = config
    }

    /// Parses JSON-lines text; every error names `source:line`.
    public init(text: String, source: String) throws {
        var line = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line += 1
            if raw.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            do {
                try add(try JSON.parse(String(raw)), at: "\(source):\(line)")
            } catch let e as JSONParseError {
                throw DataError("\(source):\(line): \(e.message)")
            }
        }
    }

    /// The records of a run in memory (as FocalRun writes them), read through the same types.
    public init(records: [JSON]) throws {
        for (i, r) in records.enumerated() { try add(r, at: "record \(i + 1)") }
    }

    /// Records of unknown types are skipped (a newer writer may add some); a known type with a
    /// missing or mistyped field is an error naming `place` and the field.
    private mutating func add(_ value: JSON, at place: String) throws {
        let decoder = JSONValueDecoder()
        do {
            switch value["type"]?.string {
            case "epoch": epochs.append(try decoder.decode(EpochMetrics.self, from: value))
            case "eval": evals.append(try decoder.decode(EvalMetrics.self, from: value))
            case "config": config = try decoder.decode(ConfigSummary.self, from: value)
            case "calibration": calibrations.append(try decoder.decode(CalibrationRecord.self, from: value))
            default: return
            }
        } catch let e as DecodingError {
            throw DataError("\(place): \(describe(e))")
        }
    }

    /// True when the file holds nothing to plot.
    public var isEmpty: Bool { epochs.isEmpty && evals.isEmpty && config == nil }
}

/// A decoding error in one line: what was wrong, and where (`$.field[index]`).
private func describe(_ e: DecodingError) -> String {
    func path(_ p: [CodingKey]) -> String {
        "$" + p.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
    switch e {
    case .keyNotFound(let k, let c): return "missing field \(path(c.codingPath + [k]))"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
        return "bad value at \(path(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
}

// MARK: - Records as JSON values

extension EpochRecord {
    /// The epoch's metrics record.
    public var json: JSON { (try? JSONValueEncoder().encode(EpochMetrics(self))) ?? .null }
}

extension EvaluationReport {
    /// The evaluation's metrics record, with the ranking metrics when given.
    public func json(epoch: Int?, ranking: RankingReport? = nil, split: String? = nil) -> JSON {
        (try? JSONValueEncoder().encode(EvalMetrics(self, epoch: epoch, ranking: ranking, split: split))) ?? .null
    }
}
