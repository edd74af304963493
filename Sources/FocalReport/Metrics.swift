// Metrics: the records of the metrics JSON-lines file as `JSON` values (written by FocalFormats'
// writer: a Double as its shortest round-trip decimal, a non-finite number as `null`).
import FocalFormats
import FocalCore

extension EpochRecord {
    public var json: JSON {
        .object([("type", .string("epoch")), ("epoch", .int(Int64(epoch))), ("loss", .number(loss)),
                 ("lr", .number(lr)), ("elapsed_s", .number(elapsed)), ("samples_per_s", .number(samplesPerSecond)),
                 ("skipped_steps", .int(Int64(skippedSteps)))])
    }
}

extension EvaluationReport {
    /// The evaluation as a JSON object with `type` (e.g. "eval").
    public func json(type: String, epoch: Int?) -> JSON {
        var fields: [(String, JSON)] = [("type", .string(type))]
        if let e = epoch { fields.append(("epoch", .int(Int64(e)))) }
        fields += [
            ("rows", .int(rows)),
            ("loss", loss.map { .number($0) } ?? .null),
            ("accuracy", .number(accuracy)),
            ("balanced_accuracy", .number(balancedAccuracy)),
            ("macro_f1", .number(macroF1)),
            ("precision", .array(perClass.map { .number($0.precision) })),
            ("recall", .array(perClass.map { .number($0.recall) })),
            ("f1", .array(perClass.map { .number($0.f1) })),
            ("support", .array(perClass.map { .int($0.support) })),
            ("confusion", .array(confusion.map { .array($0.map { .int($0) }) })),
        ]
        return .object(fields)
    }
}
