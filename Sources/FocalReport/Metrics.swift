// Metrics: a tiny deterministic JSON writer for the metrics JSON-lines file.
//
// Numbers are written so they parse back to the exact value: a Double as Swift's shortest
// round-trip decimal (a float32 value is first widened to Double, exactly, so the text is the
// shortest decimal of its exact double value); non-finite numbers are written as `null`.

import FocalCore

public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Keys keep their order.
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.text == b.text }

    /// Compact JSON text.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let d): return d.isFinite ? d.description : "null"
        case .string(let s): return JSON.quote(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

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
