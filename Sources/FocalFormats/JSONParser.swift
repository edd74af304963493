// JSONParser: the one strict JSON parser (RFC 8259) over UTF-8 bytes, for whole texts and JSON Lines.
//
// Strict means only what RFC 8259 allows, plus the interoperability rules it recommends (section 4:
// unique names; section 8.1: UTF-8): the number grammar exactly (section 6: no leading zeros, no
// `+`, no bare `.5`, `1.` or `1e`, no `-` alone), numbers beyond Double's range refused (section 6
// lets a parser limit the range), strings must be valid UTF-8 (RFC 3629) without unescaped control
// characters or unpaired surrogate escapes, duplicate keys in any object refused, no byte order
// mark, and a nesting limit (section 9). Numbers go through Swift's `Double(String)`, which rounds
// correctly, so a number written by `JSON.text` reads back to the same bits.

/// One step from the root to a value: an object key or an array index.
public enum JSONPathComponent: Sendable, Equatable, CustomStringConvertible {
    case key(String)
    case index(Int)

    /// `.name`, `["name with spaces"]` or `[3]`.
    public var description: String {
        switch self {
        case .index(let i): return "[\(i)]"
        case .key(let k):
            let simple = !k.isEmpty && k.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_")
            }
            return simple ? "." + k : "[" + JSON.string(k).text + "]"
        }
    }
}

/// Why a text is not (acceptable) JSON, and where.
public struct JSONParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, e.g. "number with a leading zero" or "duplicate key 'a'".
    public var message: String
    /// Byte offset of the problem in the parsed bytes (for `parseLines`: in its line).
    public var offset: Int
    /// The containers enclosing the problem, outermost first (empty: at the top level).
    public var path: [JSONPathComponent] = []
    /// The repeated key, when the problem is a duplicate key in an object (at `path`).
    public var duplicateKey: String?
    /// For `parseLines`: the source name and the 1-based line number.
    public var source: String?
    public var line: Int?

    public init(message: String, offset: Int, path: [JSONPathComponent] = [], duplicateKey: String? = nil) {
        self.message = message
        self.offset = offset
        self.path = path
        self.duplicateKey = duplicateKey
    }

    /// `[source:line: ]invalid JSON at byte N[ (in $.a[2])]: message`, on one line.
    public var description: String {
        var s = ""
        if let source { s += source + ":" }
        if let line { s += "\(line):" }
        if !s.isEmpty { s += " " }
        s += "invalid JSON at byte \(offset)"
        if !path.isEmpty { s += " (in $" + path.map(\.description).joined() + ")" }
        return s + ": " + message
    }
}

// MARK: - Entry points

extension JSON {
    /// The default nesting limit: arrays and objects nested at most this deep.
    public static let defaultMaxDepth = 512

    /// Parses one JSON value from UTF-8 bytes (white space around it allowed). Integers without
    /// fraction or exponent that fit in Int64 become `.int` (except `-0`, which becomes
    /// `.number(-0.0)`), other numbers `.number`. Throws `JSONParseError`.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = JSON.defaultMaxDepth) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buffer in
            var p = JSONByteParser(bytes: buffer, maxDepth: maxDepth)
            return try p.document()
        }
    }

    /// Parses one JSON value from a text (see `parse(_ bytes:maxDepth:)`).
    public static func parse(_ text: String, maxDepth: Int = JSON.defaultMaxDepth) throws -> JSON {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Parses JSON Lines (jsonlines.org): one value per line; lines holding only spaces, tabs or a
    /// carriage return are skipped. A `JSONParseError` carries `source` and the 1-based line
    /// (its description starts `source:line:`), and its offset counts bytes within that line.
    public static func parseLines(_ text: String, source: String, maxDepth: Int = JSON.defaultMaxDepth) throws -> [JSON] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            var out: [JSON] = []
            var start = 0
            var line = 1
            while start <= buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != 0x0A { end += 1 }
                let lineBytes = UnsafeBufferPointer(rebasing: buffer[start..<end])
                if !lineBytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    var p = JSONByteParser(bytes: lineBytes, maxDepth: maxDepth)
                    do {
                        out.append(try p.document())
                    } catch var e as JSONParseError {
                        e.source = source
                        e.line = line
                        throw e
                    }
                }
                start = end + 1
                line += 1
            }
            return out
        }
    }
}

// MARK: - The parser

private let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

/// Recursive descent over a byte buffer; `i` is the next byte to read.
private struct JSONByteParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(message: message, offset: offset ?? i)
    }

    /// What is at `i`, for messages: a printable character, a byte in hex, or the end.
    func found() -> String {
        guard i < bytes.count else { return "unexpected end of input" }
        let c = bytes[i]
        if c > 0x20 && c < 0x7F { return "unexpected character '\(Character(Unicode.Scalar(c)))'" }
        return "unexpected byte 0x" + String(c, radix: 16, uppercase: true)
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// A whole text: one value and nothing else but white space.
    mutating func document() throws -> JSON {
        skipSpace()
        let v = try value(depth: 0)
        skipSpace()
        guard i == bytes.count else {
            let kind: String
            switch v {
            case .object: kind = "object"
            case .array: kind = "array"
            default: kind = "value"
            }
            throw fail("unexpected data after the JSON \(kind)")
        }
        return v
    }

    /// `depth` is the number of arrays and objects enclosing the value.
    mutating func value(depth: Int) throws -> JSON {
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case quote: return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), 0x30...0x39: return try number()
        default: throw fail(found() + " (expected a value)")
        }
    }

    mutating func literal(_ word: StaticString, _ v: JSON) throws -> JSON {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, word.withUTF8Buffer({ w in (0..<n).allSatisfy { bytes[i + $0] == w[$0] } }) else {
            throw fail(found() + " (expected a value)")
        }
        i += n
        return v
    }

    mutating func object(depth: Int) throws -> JSON {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        i += 1
        var fields: [(String, JSON)] = []
        var keys = Set<String>()  // filled only for objects with many fields
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == quote else { throw fail(found() + " (expected a string key)") }
            let keyStart = i
            let key = try string()
            if isDuplicate(key, in: fields, index: &keys) {
                throw JSONParseError(message: "duplicate key '\(key)'", offset: keyStart, duplicateKey: key)
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail(found() + " (expected ':')") }
            i += 1
            skipSpace()
            do {
                fields.append((key, try value(depth: depth + 1)))
            } catch var e as JSONParseError {
                e.path.insert(.key(key), at: 0)
                throw e
            }
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "}") else { throw fail(found() + " (expected ',' or '}')") }
            i += 1
            return .object(fields)
        }
    }

    /// Whether `key` is already among `fields`: a linear scan for small objects, a set beyond.
    func isDuplicate(_ key: String, in fields: [(String, JSON)], index: inout Set<String>) -> Bool {
        if fields.count < 16 { return fields.contains { $0.0 == key } }
        if index.isEmpty { index = Set(fields.map(\.0)) }
        return !index.insert(key).inserted
    }

    mutating func array(depth: Int) throws -> JSON {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        i += 1
        var items: [JSON] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            do {
                items.append(try value(depth: depth + 1))
            } catch var e as JSONParseError {
                e.path.insert(.index(items.count), at: 0)
                throw e
            }
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "]") else { throw fail(found() + " (expected ',' or ']')") }
            i += 1
            return .array(items)
        }
    }

    // MARK: Numbers

    /// RFC 8259 section 6: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    mutating func number() throws -> JSON {
        let start = i
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number: '-' must be followed by a digit", at: start) }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw fail("number with a leading zero", at: start) }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        let integerEnd = i
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number: '.' must be followed by a digit", at: start) }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number: the exponent needs a digit", at: start) }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if integerEnd == i, let v = integer(from: negative ? start + 1 : start, to: i, negative: negative) {
            return v
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw fail("number \(text) is out of the range of a Double", at: start) }
        return .number(d)
    }

    /// The digits `from..<to` as `.int`, or nil when they do not fit Int64; `-0` is `.number(-0.0)`.
    func integer(from: Int, to: Int, negative: Bool) -> JSON? {
        var magnitude: UInt64 = 0
        for k in from..<to {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[k] - 0x30))
            if o1 || o2 { return nil }
            magnitude = s
        }
        if negative {
            if magnitude == 0 { return .number(-0.0) }
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return .int(Int64(truncatingIfNeeded: 0 &- magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return .int(Int64(magnitude))
    }

    // MARK: Strings

    /// A string starting at the opening quote; checks UTF-8 and decodes escapes.
    mutating func string() throws -> String {
        let open = i
        i += 1
        var run = i  // start of the bytes not yet copied to `decoded`
        var decoded: [UInt8]? = nil  // only once an escape is seen
        while true {
            guard i < bytes.count else { throw fail("unterminated string", at: open) }
            let c = bytes[i]
            if c == quote {
                let tail = UnsafeBufferPointer(rebasing: bytes[run..<i])
                i += 1
                guard var d = decoded else { return String(decoding: tail, as: UTF8.self) }
                d.append(contentsOf: tail)
                return String(decoding: d, as: UTF8.self)
            } else if c == backslash {
                var d = decoded ?? []
                d.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i]))
                try escape(into: &d)
                decoded = d
                run = i
            } else if c < 0x20 {
                throw fail("control character in string (must be escaped)")
            } else if c < 0x80 {
                i += 1
            } else {
                i += try utf8SequenceLength(at: i)
            }
        }
    }

    /// The length of the valid UTF-8 sequence at `k` (RFC 3629 section 4), or an error: no
    /// overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence.
    func utf8SequenceLength(at k: Int) throws -> Int {
        let lead = bytes[k]
        let n: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF  // the allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; hi = 0x9F
        case 0xF0: n = 4; lo = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; hi = 0x8F
        default: throw fail("string is not valid UTF-8", at: k)
        }
        guard k + n <= bytes.count, bytes[k + 1] >= lo, bytes[k + 1] <= hi,
              (2..<n).allSatisfy({ bytes[k + $0] & 0xC0 == 0x80 }) else {
            throw fail("string is not valid UTF-8", at: k)
        }
        return n
    }

    /// One escape sequence starting at the backslash at `i`, decoded into `out`.
    mutating func escape(into out: inout [UInt8]) throws {
        let start = i
        i += 1
        guard i < bytes.count else { throw fail("unterminated string") }
        let e = bytes[i]
        i += 1
        switch e {
        case quote, backslash, UInt8(ascii: "/"): out.append(e)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xDC00..<0xE000).contains(code) { throw fail("unpaired surrogate in \\u escape", at: start) }
            if (0xD800..<0xDC00).contains(code) {
                guard i + 1 < bytes.count, bytes[i] == backslash, bytes[i + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired surrogate in \\u escape", at: start)
                }
                i += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape", at: start) }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            appendUTF8(code, to: &out)
        default:
            throw fail("bad escape '\\\(Character(Unicode.Scalar(e)))'", at: start)
        }
    }

    /// Four hex digits (either case) of a `\u` escape.
    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw fail("bad \\u escape: hex digit expected")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

/// Appends the UTF-8 encoding of the scalar `v` (not a surrogate, at most U+10FFFF).
private func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
    switch v {
    case 0..<0x80:
        out.append(UInt8(v))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | v >> 6))
        out.append(UInt8(0x80 | v & 0x3F))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | v >> 12))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    default:
        out.append(UInt8(0xF0 | v >> 18))
        out.append(UInt8(0x80 | v >> 12 & 0x3F))
        out.append(UInt8(0x80 | v >> 6 & 0x3F))
        out.append(UInt8(0x80 | v & 0x3F))
    }
}
