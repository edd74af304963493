// JSONTests: the shared JSON value, its strict RFC 8259 parser, its writer and the Codable bridge.
import Foundation
import XCTest
import FocalData  // the project's one SplitMix64, for the bit-pattern tests
import FocalFormats

final class JSONParserTests: XCTestCase {
    /// Asserts that `bytes` are refused, with `phrase` in the message when given.
    private func assertRefused(_ bytes: [UInt8], _ phrase: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let shown = String(decoding: bytes, as: UTF8.self).debugDescription
        do {
            let v = try JSON.parse(bytes)
            XCTFail("\(shown) was accepted as \(v.text)", file: file, line: line)
        } catch let e as JSONParseError {
            if let phrase { XCTAssertTrue(e.message.contains(phrase), "\(shown): expected '\(phrase)' in: \(e)", file: file, line: line) }
            XCTAssertFalse(e.description.contains("\n"), "error is not one line: \(e)", file: file, line: line)
        } catch {
            XCTFail("\(shown): not a JSONParseError: \(error)", file: file, line: line)
        }
    }

    private func assertRefused(_ text: String, _ phrase: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        assertRefused(Array(text.utf8), phrase, file: file, line: line)
    }

    func testNumberGrammarIsExact() {
        for bad in ["01", "-01", "00", "+1", ".5", "-.5", "1.", "1.e5", "1e", "1e+", "1E-", "-", "--1", "- 1",
                    "0x10", "1_000", "NaN", "Infinity", "-Infinity", "nan", "1,5", "[01]", "{\"a\":-}"] {
            assertRefused(bad)
        }
        assertRefused("01", "leading zero")
        assertRefused("[1, -01]", "leading zero")
        assertRefused("1.", "'.' must be followed by a digit")
        assertRefused("1e", "exponent")
        assertRefused("-", "'-' must be followed by a digit")
        assertRefused("+1", "unexpected character '+'")
        // Beyond Double's range: refused, not turned into infinity; underflow rounds to zero.
        assertRefused("1e400", "out of the range")
        assertRefused("-1.8e308", "out of the range")
        XCTAssertEqual(try JSON.parse("1e-400").double, 0)
    }

    func testNumbersParsedToIntOrDouble() throws {
        XCTAssertEqual(try JSON.parse("0"), .int(0))
        XCTAssertEqual(try JSON.parse("-12"), .int(-12))
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSON.parse("-9223372036854775808"), .int(Int64.min))
        XCTAssertEqual(try JSON.parse("9223372036854775808"), .number(9223372036854775808))
        XCTAssertEqual(try JSON.parse("-9223372036854775809"), .number(-9223372036854775808.0))
        XCTAssertEqual(try JSON.parse("1.0"), .number(1))
        XCTAssertEqual(try JSON.parse("1E2"), .number(100))
        XCTAssertEqual(try JSON.parse("2.5e-3"), .number(0.0025))
        XCTAssertEqual(try JSON.parse("-0.0e+0"), .number(-0.0))
        // -0 keeps its sign: a Double, not the integer 0.
        guard case .number(let z) = try JSON.parse("-0") else { return XCTFail("-0 is not a number") }
        XCTAssertEqual(z.bitPattern, (-0.0).bitPattern)
        XCTAssertEqual(try JSON.parse(" \t\r\n[ 1 , 2 ]\n "), .array([.int(1), .int(2)]))
    }

    func testSyntaxRefused() {
        for bad in ["", "   ", "nul", "truex", "True", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{,}", "{\"a\" 1}",
                    "{'a':1}", "{a:1}", "{\"a\":1}{}", "[1]]", "[", "{", "\"abc", "[1,", "{\"a\":", "/* c */ 1",
                    "\u{FEFF}1", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\""] {
            assertRefused(bad)
        }
        assertRefused("{\"a\":1} x", "unexpected data after the JSON object")
        assertRefused("[1] x", "unexpected data after the JSON array")
        assertRefused("1 2", "unexpected data after the JSON value")
    }

    func testStringsRefused() {
        assertRefused("\"a\u{1}b\"", "control character in string")
        assertRefused("\"a\tb\"", "control character in string")
        assertRefused("\"a\nb\"", "control character in string")
        assertRefused("\"\\ud800\"", "unpaired surrogate")
        assertRefused("\"\\udc00\"", "unpaired surrogate")
        assertRefused("\"\\ud800\\u0041\"", "unpaired surrogate")
        assertRefused("\"\\ud800x\"", "unpaired surrogate")
        assertRefused("\"\\udbff\\udbff\"", "unpaired surrogate")
        // Invalid UTF-8 (RFC 3629): a stray byte, an overlong form, an encoded surrogate, a truncated
        // sequence, a code point above U+10FFFF, a continuation byte alone, and outside a string.
        let q = UInt8(ascii: "\"")
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82],
                             [0xF4, 0x90, 0x80, 0x80], [0x80], [0xF0, 0x80, 0x80, 0x80], [0xC3]] {
            assertRefused([q] + bad + [q], "not valid UTF-8")
        }
        assertRefused([0xC3, 0xA9])
    }

    func testDuplicateKeysRefusedAtAnyDepth() throws {
        assertRefused("{\"a\":1,\"a\":1}", "duplicate key 'a'")
        assertRefused("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key 'a'")
        // The same key after an escape is still the same key.
        assertRefused("{\"é\":1,\"\\u00e9\":2}", "duplicate key 'é'")
        // Big objects use a set: still caught.
        let many = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        assertRefused("{\(many),\"k17\":0}", "duplicate key 'k17'")
        do {
            _ = try JSON.parse("[0,{\"b\":{\"x\":1,\"x\":2}}]")
            XCTFail("nested duplicate accepted")
        } catch let e as JSONParseError {
            XCTAssertEqual(e.duplicateKey, "x")
            XCTAssertEqual(e.path, [.index(1), .key("b")])
            XCTAssertEqual(e.offset, 15)
            XCTAssertEqual(e.description, "invalid JSON at byte 15 (in $[1].b): duplicate key 'x'")
        }
        // Same key in different objects is fine.
        XCTAssertNoThrow(try JSON.parse("[{\"a\":1},{\"a\":{\"a\":2}}]"))
    }

    func testNestingLimit() throws {
        func nested(_ n: Int) -> String { String(repeating: "[", count: n) + String(repeating: "]", count: n) }
        XCTAssertNoThrow(try JSON.parse(nested(512)))
        assertRefused(nested(513), "nesting deeper than 512")
        XCTAssertNoThrow(try JSON.parse(nested(3), maxDepth: 3))
        XCTAssertThrowsError(try JSON.parse("{\"a\":[{}]}", maxDepth: 2))
        XCTAssertNoThrow(try JSON.parse("{\"a\":[1]}", maxDepth: 2))
        XCTAssertNoThrow(try JSON.parse("7", maxDepth: 0))
    }

    func testErrorsSayWhere() {
        XCTAssertThrowsError(try JSON.parse("{\"a\":[1,2,tru]}")) { e in
            guard let e = e as? JSONParseError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.offset, 10)
            XCTAssertEqual(e.path, [.key("a"), .index(2)])
            XCTAssertEqual("\(e)", "invalid JSON at byte 10 (in $.a[2]): unexpected character 't' (expected a value)")
        }
        XCTAssertThrowsError(try JSON.parse("{\"a b\":[\"\\q\"]}")) { e in
            XCTAssertEqual("\(e)", "invalid JSON at byte 9 (in $[\"a b\"][0]): bad escape '\\q'")
        }
    }

    func testJSONLines() throws {
        let v = try JSON.parseLines("{\"a\":1}\n\n  \r\n[2]\r\n3", source: "m.jsonl")
        XCTAssertEqual(v, [.object([("a", .int(1))]), .array([.int(2)]), .int(3)])
        XCTAssertEqual(try JSON.parseLines("", source: "e"), [])
        XCTAssertThrowsError(try JSON.parseLines("{\"a\":1}\n{\"a\":}\n", source: "m.jsonl")) { e in
            guard let e = e as? JSONParseError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.offset, 5)
            XCTAssertTrue("\(e)".hasPrefix("m.jsonl:2: invalid JSON at byte 5"), "\(e)")
        }
        // A value may not span lines.
        XCTAssertThrowsError(try JSON.parseLines("[1,\n2]", source: "s")) { XCTAssertTrue("\($0)".hasPrefix("s:1:"), "\($0)") }
    }

    /// The committed metrics file of the tutorial (written by the old metrics writer) parses line by
    /// line, and the writer gives back every line byte for byte.
    func testCommittedMetricsFileParsesAndRewritesIdentically() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/plots/tutorial-metrics.jsonl").standardized.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let records = try JSON.parseLines(text, source: path)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(records.count, lines.count)
        XCTAssertGreaterThan(records.count, 10)
        for (r, line) in zip(records, lines) {
            XCTAssertEqual(r.text, String(line))
            XCTAssertNotNil(r["type"]?.string)
        }
        let evals = records.filter { $0["type"]?.string == "eval" }
        XCTAssertFalse(evals.isEmpty)
        XCTAssertEqual(evals[0]["recall"]?.doubles?.count, 2)
        XCTAssertEqual(evals[0]["support"]?.doubles, [161, 39])
    }
}

final class JSONWriterTests: XCTestCase {
    func testCompactOrderedText() {
        let v: JSON = .object([("z", .int(1)), ("a", .array([.null, .bool(true), .bool(false)])), ("m", .object([])),
                               ("n", .number(0.1)), ("s", .string("x")), ("e", .array([]))])
        XCTAssertEqual(v.text, #"{"z":1,"a":[null,true,false],"m":{},"n":0.1,"s":"x","e":[]}"#)
        var bytes: [UInt8] = [0x41]
        v.write(to: &bytes)
        XCTAssertEqual(bytes, [0x41] + Array(v.text.utf8))
        // Order survives a round trip; equality sees the order.
        let back = try? JSON.parse(v.text)
        XCTAssertEqual(back, v)
        XCTAssertEqual(back?["a"]?.array?.count, 3)
        XCTAssertNotEqual(JSON.object([("a", .int(1)), ("b", .int(2))]), .object([("b", .int(2)), ("a", .int(1))]))
        XCTAssertNil(v["missing"])
        XCTAssertNil(JSON.array([.int(1), .string("x")]).doubles)
    }

    func testNumbers() {
        XCTAssertEqual(JSON.number(1).text, "1.0")
        XCTAssertEqual(JSON.number(-0.0).text, "-0.0")
        XCTAssertEqual(JSON.number(1e300).text, "1e+300")
        XCTAssertEqual(JSON.number(.leastNonzeroMagnitude).text, "5e-324")
        XCTAssertEqual(JSON.number(Double(Float(0.1))).text, "0.10000000149011612")
        XCTAssertEqual(JSON.int(Int64.min).text, "-9223372036854775808")
        for d in [Double.nan, .infinity, -.infinity, -Double.nan] {
            XCTAssertEqual(JSON.number(d).text, "null")
            XCTAssertEqual(JSON.number(d), .null)
        }
    }

    func testRandomDoubleBitPatternsRoundTripExactly() throws {
        var rng = SplitMix64(state: 0x5EED)
        var checked = 0
        for _ in 0..<50_000 {
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { continue }
            let back = try JSON.parse(JSON.number(d).text)
            guard case .number(let e) = back else { return XCTFail("\(d) read back as \(back.text)") }
            XCTAssertEqual(e.bitPattern, d.bitPattern, "\(d)")
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if f.isFinite { XCTAssertEqual(try JSON.parse(JSON.number(Double(f)).text).double.map(Float.init), f) }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 49_000)
        for d in [Double.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.leastNormalMagnitude, 0.1 + 0.2, 1 / 3.0] {
            XCTAssertEqual(try JSON.parse(JSON.array([.number(d)]).text).array?.first?.double?.bitPattern, d.bitPattern)
        }
    }

    func testStringEscapesAsSerdeJSON() throws {
        let s = "q\"b\\s/\u{8}\u{c}\n\r\t\u{0}\u{1}\u{1f}\u{7f}é€😀"
        XCTAssertEqual(JSON.string(s).text, #""q\"b\\s/\b\f\n\r\t\u0000\u0001\u001f"# + "\u{7f}é€😀\"")
        var bytes: [UInt8] = []
        JSON.writeString("\u{1b}[0m", to: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), #""\u001b[0m""#)
        // Every scalar below 0x80, every escape form, back to the same string.
        let all = String(String.UnicodeScalarView((0..<0x80).map { Unicode.Scalar(UInt8($0)) }))
        XCTAssertEqual(try JSON.parse(JSON.string(all).text).string, all)
        XCTAssertEqual(try JSON.parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u00E9\u20AC""#).string, "\"\\/\u{8}\u{c}\n\r\t" + "Aéé€")
    }

    func testUnicodeAndSurrogatePairs() throws {
        XCTAssertEqual(try JSON.parse(#""\ud83d\ude00 \uD834\uDD1E""#).string, "😀 𝄞")
        XCTAssertEqual(try JSON.parse(#""\udbff\udfff""#).string, "\u{10FFFF}")
        XCTAssertEqual(try JSON.parse(#""\u0000""#).string, "\u{0}")
        let text = "ascii é ß 中文 😀 \u{10FFFF} \u{FFFD} e\u{301}"
        XCTAssertEqual(try JSON.parse(JSON.string(text).text).string, text)
        XCTAssertEqual(try JSON.parse(Array(JSON.object([(text, .string(text))]).text.utf8))[text]?.string, text)
    }
}

// MARK: - Codable bridge

private enum Phase: String, Codable, Equatable { case warmup, train, eval = "evaluation" }

private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case rect(Double, Double)
    case none
}

private struct Inner: Codable, Equatable {
    var name: String
    var values: [Double]
    var note: String?
}

private struct Record: Codable, Equatable {
    var id: Int
    var phase: Phase
    var loss: Double?
    var lr: Float
    var counts: [Int64]
    var flags: [Bool?]
    var inner: Inner
    var inners: [Inner]
    var optionalInner: Inner?
    var table: [String: Int]
    var grid: [[UInt8]]
    var shape: Shape
    var small: Int8
    var big: UInt64
}

/// Equality with NaN equal to NaN (a decoded non-finite value comes back as NaN).
private func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

final class JSONCodableTests: XCTestCase {
    private let sample = Record(
        id: 7, phase: .eval, loss: nil, lr: 0.001, counts: [1, -2, Int64.max], flags: [true, nil, false],
        inner: Inner(name: "a\"b\n", values: [0.1, -0.0, 1e-300], note: nil),
        inners: [Inner(name: "x", values: [], note: "n"), Inner(name: "y", values: [2], note: nil)],
        optionalInner: nil, table: ["k": 1], grid: [[1, 2], [], [255]], shape: .rect(1, 2), small: -128,
        big: UInt64(Int64.max))

    func testNestedRoundTripThroughText() throws {
        let json = try JSONValueEncoder().encode(sample)
        let back = try JSONValueDecoder().decode(Record.self, from: try JSON.parse(json.text))
        XCTAssertEqual(back, sample)
        // Keys in declaration order, nil optionals as explicit null, arrays keep their nulls.
        guard case .object(let fields) = json else { return XCTFail(json.text) }
        XCTAssertEqual(fields.map(\.0), ["id", "phase", "loss", "lr", "counts", "flags", "inner", "inners", "optionalInner",
                                         "table", "grid", "shape", "small", "big"])
        XCTAssertEqual(json["phase"], .string("evaluation"))
        XCTAssertEqual(json["loss"], .null)
        XCTAssertEqual(json["optionalInner"], .null)
        XCTAssertEqual(json["flags"]?.text, "[true,null,false]")
        XCTAssertEqual(json["inner"]?.text, #"{"name":"a\"b\n","values":[0.1,-0.0,1e-300],"note":null}"#)
        XCTAssertEqual(json["lr"], .number(Double(Float(0.001))))
        XCTAssertEqual(json["big"], .int(Int64.max))
        XCTAssertEqual(json["shape"]?.text, #"{"rect":{"_0":1.0,"_1":2.0}}"#)
    }

    func testOmittingNils() throws {
        let json = try JSONValueEncoder(nilEncoding: .omitKey).encode(sample)
        XCTAssertNil(json["loss"])
        XCTAssertNil(json["optionalInner"])
        XCTAssertEqual(json["inner"]?.text, #"{"name":"a\"b\n","values":[0.1,-0.0,1e-300]}"#)
        XCTAssertEqual(json["flags"]?.text, "[true,null,false]")
        XCTAssertEqual(try JSONValueDecoder().decode(Record.self, from: json), sample)
    }

    func testNonFiniteDoublesAreNullAndComeBackAsNaN() throws {
        struct M: Codable { var a: Double; var b: Float; var c: Double?; var d: [Double]; var e: Double? }
        let m = M(a: .infinity, b: -.infinity, c: .nan, d: [1, .nan, -.infinity], e: 2.5)
        let json = try JSONValueEncoder().encode(m)
        XCTAssertEqual(json.text, #"{"a":null,"b":null,"c":null,"d":[1.0,null,null],"e":2.5}"#)
        let back = try JSONValueDecoder().decode(M.self, from: json)
        XCTAssertTrue(back.a.isNaN)
        XCTAssertTrue(back.b.isNaN)
        XCTAssertNil(back.c)  // an optional reads null as nil
        XCTAssertTrue(zip(back.d, [1, .nan, .nan]).allSatisfy { same($0, $1) })
        XCTAssertEqual(back.e, 2.5)
    }

    func testTopLevelAndSingleValues() throws {
        let enc = JSONValueEncoder(), dec = JSONValueDecoder()
        XCTAssertEqual(try enc.encode(3), .int(3))
        XCTAssertEqual(try enc.encode("s"), .string("s"))
        XCTAssertEqual(try enc.encode([Phase.warmup, .train]), .array([.string("warmup"), .string("train")]))
        XCTAssertEqual(try enc.encode(Optional<Int>.none), .null)
        XCTAssertEqual(try enc.encode(Shape.none).text, #"{"none":{}}"#)
        XCTAssertEqual(try dec.decode(Phase.self, from: .string("evaluation")), .eval)
        XCTAssertEqual(try dec.decode([Shape].self, from: try enc.encode([Shape.circle(radius: 2), .none])),
                       [.circle(radius: 2), .none])
        XCTAssertEqual(try dec.decode(Double.self, from: .int(3)), 3)
        XCTAssertEqual(try dec.decode(Float.self, from: .number(0.5)), 0.5)
        XCTAssertEqual(try dec.decode(Int?.self, from: .null), nil)
        XCTAssertEqual(try dec.decode(UInt16.self, from: .int(65535)), 65535)
    }

    func testIntegerRules() throws {
        let enc = JSONValueEncoder(), dec = JSONValueDecoder()
        XCTAssertEqual(try enc.encode(UInt64(Int64.max)), .int(Int64.max))
        XCTAssertThrowsError(try enc.encode(UInt64(Int64.max) + 1)) { e in
            guard case EncodingError.invalidValue = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try enc.encode(["a": [UInt.max]])) { e in
            guard case EncodingError.invalidValue(_, let c) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(c.codingPath.map(\.stringValue), ["a", "Index 0"])
        }
        // Only .int in range decodes to an integer type.
        XCTAssertThrowsError(try dec.decode(Int.self, from: .number(1))) { e in
            guard case DecodingError.typeMismatch = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try dec.decode(UInt8.self, from: .int(256))) { e in
            guard case DecodingError.dataCorrupted = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try dec.decode(UInt.self, from: .int(-1)))
        XCTAssertThrowsError(try dec.decode(Int.self, from: .null)) { e in
            guard case DecodingError.valueNotFound = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try dec.decode(Float.self, from: .number(1e300))) { e in
            guard case DecodingError.dataCorrupted = e else { return XCTFail("\(e)") }
        }
    }

    func testDecodingErrorsCarryTheCodingPath() throws {
        var json = try JSONValueEncoder().encode(sample)
        guard case .object(var fields) = json else { return XCTFail() }
        // inners[1].values[0] becomes a string.
        let i = fields.firstIndex { $0.0 == "inners" }!
        fields[i].1 = try JSON.parse(#"[{"name":"x","values":[],"note":"n"},{"name":"y","values":["2"],"note":null}]"#)
        json = .object(fields)
        XCTAssertThrowsError(try JSONValueDecoder().decode(Record.self, from: json)) { e in
            guard case DecodingError.typeMismatch(_, let c) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(c.codingPath.map(\.stringValue), ["inners", "Index 1", "values", "Index 0"])
        }
        XCTAssertThrowsError(try JSONValueDecoder().decode(Inner.self, from: try JSON.parse(#"{"values":[]}"#))) { e in
            guard case DecodingError.keyNotFound(let k, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(k.stringValue, "name")
        }
        XCTAssertThrowsError(try JSONValueDecoder().decode(Phase.self, from: .string("nope"))) { e in
            guard case DecodingError.dataCorrupted = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try JSONValueDecoder().decode(Inner.self, from: .array([])))
        XCTAssertThrowsError(try JSONValueDecoder().decode([Int].self, from: .object([])))
    }

    func testHandWrittenContainers() throws {
        struct Custom: Codable, Equatable {
            var a: Int
            var s: String
            var d: Double
            var tail: [Int]
            init(a: Int, s: String, d: Double, tail: [Int]) { self.a = a; self.s = s; self.d = d; self.tail = tail }
            enum K: String, CodingKey { case z, a, nested, list }
            enum N: String, CodingKey { case s, d }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                try c.encode(0, forKey: .z)
                try c.encode(a, forKey: .a)
                var n = c.nestedContainer(keyedBy: N.self, forKey: .nested)
                try n.encode(s, forKey: .s)
                var l = c.nestedUnkeyedContainer(forKey: .list)
                try l.encode(d)
                var inner = l.nestedUnkeyedContainer()
                for t in tail { try inner.encode(t) }
                try n.encode(d, forKey: .d)  // a nested container written after its siblings
            }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: K.self)
                a = try c.decode(Int.self, forKey: .a)
                let n = try c.nestedContainer(keyedBy: N.self, forKey: .nested)
                s = try n.decode(String.self, forKey: .s)
                var l = try c.nestedUnkeyedContainer(forKey: .list)
                d = try l.decode(Double.self)
                var inner = try l.nestedUnkeyedContainer()
                var t: [Int] = []
                while !inner.isAtEnd { t.append(try inner.decode(Int.self)) }
                tail = t
                XCTAssertTrue(l.isAtEnd)
                XCTAssertEqual(c.allKeys.map(\.stringValue), ["z", "a", "nested", "list"])
            }
        }
        let v = Custom(a: 1, s: "t", d: 0.5, tail: [3, 4])
        let json = try JSONValueEncoder().encode(v)
        XCTAssertEqual(json.text, #"{"z":0,"a":1,"nested":{"s":"t","d":0.5},"list":[0.5,[3,4]]}"#)
        XCTAssertEqual(try JSONValueDecoder().decode(Custom.self, from: json), v)
    }
}

