// JSONReader: parses the JSON text of the metrics file back into `JSON` values (RFC 8259), and
// small accessors for reading records. No Foundation: numbers go through Swift's `Double(String)`,
// which rounds correctly, so a number written by `JSON.text` reads back to the same bits.

public struct JSONParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public var description: String { message }
}

// MARK: - Parsing

extension JSON {
    /// Parses one JSON value (surrounding white space allowed). Integers without fraction or
    /// exponent that fit in Int64 become `.int`, other numbers `.number`.
    public static func parse(_ text: String) throws -> JSON {
        var p = JSONParser(bytes: Array(text.utf8))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.fail("unexpected text after the value") }
        return v
    }

    /// Parses a JSON-lines text: one value per non-empty line. Errors name `source:line`.
    public static func parseLines(_ text: String, source: String) throws -> [JSON] {
        var out: [JSON] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            do {
                out.append(try parse(String(line)))
            } catch let e as JSONParseError {
                throw JSONParseError(message: "\(source):\(n + 1): \(e.message)")
            }
        }
        return out
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0

    func fail(_ why: String) -> JSONParseError { JSONParseError(message: "invalid JSON at byte \(i): \(why)") }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String, _ v: JSON) throws -> JSON {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("expected \(word)") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < 512 else { throw fail("nesting deeper than 512") }
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            i += 1
            var items: [JSON] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected , or ]") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "{"):
            i += 1
            var fields: [(String, JSON)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected :") }
                i += 1
                skipSpace()
                fields.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected , or }") }
                i += 1
                return .object(fields)
            }
        default:
            return try number()
        }
    }

    mutating func number() throws -> JSON {
        let start = i
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        while i < bytes.count {
            let c = bytes[i]
            if c >= 0x30 && c <= 0x39 { i += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                integral = false
                i += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard !text.isEmpty, text != "-" else { throw fail("unexpected character") }
        if integral, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else { throw fail("bad number '\(text)'") }
        return .number(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return v
    }

    mutating func string() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            guard c >= 0x20 else { throw fail("control character in a string") }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var u = try hex4()
                if u >= 0xD800 && u < 0xDC00, i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("bad surrogate pair") }
                    u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(u) else { throw fail("bad \\u escape") }
                out += Array(String(Character(scalar)).utf8)
            default: throw fail("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

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
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    /// An array of numbers; nil if it is not an array or an element is not a number.
    public var doubles: [Double]? {
        guard let a = array else { return nil }
        let d = a.compactMap(\.double)
        return d.count == a.count ? d : nil
    }
}
