// JSON: the project's one JSON value (RFC 8259) and its deterministic compact writer.
//
// The writer's output is canonical for a given value: keys in the given order, no white space,
// integers in decimal, a Double as Swift's shortest round-trip decimal (`Double.description`, which
// `JSON.parse` reads back to the same bits; a float32 value is first widened to Double, exactly),
// non-finite numbers as `null`. Strings are escaped as serde_json escapes them (the safetensors
// reference writer, huggingface/safetensors, is serde_json): `\"` `\\` `\b` `\f` `\n` `\r` `\t`,
// other control characters as `\u00xx` with lowercase hex, everything else (including `/` and
// U+007F) as raw UTF-8. The parser is in JSONParser.swift, the Codable bridge in JSONCodable.swift.

/// A JSON value. Objects keep their keys in order (the writer keeps it, the parser reports it).
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer; the parser gives `.int` to numbers without fraction or exponent that fit Int64.
    case int(Int64)
    /// Any other number; a non-finite value is written as `null`.
    case number(Double)
    case string(String)
    case array([JSON])
    /// Fields in order; keys are unique in anything `JSON.parse` returns.
    case object([(String, JSON)])

    /// Equal when the written texts are equal: field order matters, `.number(1.0) != .int(1)`,
    /// and a non-finite `.number` equals `.null` (both are written `null`).
    public static func == (a: JSON, b: JSON) -> Bool { a.text == b.text }
}

// MARK: - Writing

extension JSON {
    /// The compact JSON text.
    public var text: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the compact JSON text as UTF-8 to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .number(let d): out.append(contentsOf: (d.isFinite ? d.description : "null").utf8)
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (n, (key, value)) in fields.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `s` as a quoted JSON string with serde_json's escaping: `"` and `\` escaped, control
    /// characters as `\b \f \n \r \t` or else `\u00xx` (lowercase hex), everything else raw UTF-8.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigit(b >> 4))
                out.append(hexDigit(b & 0xF))
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// The lowercase hex digit of `v` (0...15).
private func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 - 10 + v }

// MARK: - Reading values

extension JSON {
    /// The value of `key` in an object (the first such field), else nil.
    public subscript(key: String) -> JSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    /// A number (`.int` or `.number`) as Double; nil otherwise (also for `null`).
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    /// The string of a `.string`, else nil.
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }

    /// The elements of an `.array`, else nil.
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }

    /// An array of numbers; nil if it is not an array or an element is not a number.
    public var doubles: [Double]? {
        guard let a = array else { return nil }
        let d = a.compactMap(\.double)
        return d.count == a.count ? d : nil
    }
}
