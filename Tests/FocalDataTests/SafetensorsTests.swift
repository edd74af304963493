// SafetensorsTests: round trips, PyTorch-written fixtures, deterministic bytes and every malformed-file error.

import Foundation
import XCTest
@testable import FocalData
@testable import FocalFormats

final class SafetensorsTests: XCTestCase {

    // MARK: - Helpers

    /// Tests/FocalDataTests/Fixtures/safetensors (written by scripts/pytorch_reference.py).
    private func fixture(_ name: String) throws -> String {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return dir.appendingPathComponent("safetensors").appendingPathComponent(name).path
    }

    private func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    private func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The values.json the script writes beside the samples.
    private struct Values: Decodable {
        struct Entry: Decodable {
            var dtype: String
            var shape: [Int]
            var ints: [Int64]?
            var reals: [Double]?
            enum CodingKeys: String, CodingKey { case dtype, shape, values }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                dtype = try c.decode(String.self, forKey: .dtype)
                shape = try c.decode([Int].self, forKey: .shape)
                if dtype.hasPrefix("int") {
                    ints = try c.decode([Int64].self, forKey: .values)
                } else {
                    reals = try c.decode([Double].self, forKey: .values)
                }
            }
        }
        struct Probe: Decodable {
            var shape: [Int]
            var index: [Int]
            var values: [Double]
            var sum_float64: Double
        }
        var mixed: [String: Entry]
        var tutorial_init: [String: [String: Probe]]
    }

    private func values() throws -> Values {
        try JSONDecoder().decode(Values.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("values.json"))))
    }

    /// A sample with every dtype, a scalar, an empty tensor and metadata needing escapes.
    private func sample() -> SafetensorsFile {
        SafetensorsFile(
            tensors: [
                "0.weight": .init(shape: [2, 3], floats: [1, -2, 3.5, .leastNonzeroMagnitude, -.infinity, .greatestFiniteMagnitude]),
                "0.bias": .init(shape: [2], floats: [0.25, -0.125]),
                "alpha": .init(shape: [3], doubles: [1.25, 5, .pi]),
                "steps": .init(shape: [], int64s: [Int64.min]),
                "labels": .init(shape: [2, 2], int32s: [0, 1, Int32.max, -1]),
                "empty": .init(shape: [0, 4], doubles: []),
                "ünïcode name": .init(shape: [1], doubles: [-0.0]),
            ],
            metadata: ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t bell \u{7} é"])
    }

    /// A file from a header string and payload; the header is used exactly as given.
    private func rawFile(header: String, payload: [UInt8], claimedLength: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let n = claimedLength ?? UInt64(h.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + payload
    }

    /// Asserts that reading `contents` from a file fails with a DataError naming the file and containing `phrase`.
    private func assertRejects(_ contents: [UInt8], _ phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try temporaryDirectory() + "/bad.safetensors"
        try Data(contents).write(to: URL(fileURLWithPath: path))
        do {
            let f = try SafetensorsFile.read(path: path)
            XCTFail("expected an error containing '\(phrase)', read \(f.tensors.count) tensors", file: file, line: line)
        } catch let e as DataError {
            XCTAssertTrue(e.message.hasPrefix(path + ": "), "error does not name the file: \(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(phrase), "expected '\(phrase)' in: \(e)", file: file, line: line)
            XCTAssertFalse(e.message.contains("\n"), "error is not one line: \(e)", file: file, line: line)
        }
    }

    // MARK: - Round trip and determinism

    func testRoundTripEveryDtypeScalarEmptyAndMetadata() throws {
        let dir = try temporaryDirectory()
        let original = sample()
        try original.write(path: dir + "/a.safetensors")
        let back = try SafetensorsFile.read(path: dir + "/a.safetensors")
        XCTAssertEqual(back, original)
        XCTAssertEqual(try back.floats("0.weight").map(\.bitPattern), [1, -2, 3.5, .leastNonzeroMagnitude, -.infinity, .greatestFiniteMagnitude].map { (v: Float) in v.bitPattern })
        XCTAssertEqual(try back.doubles("alpha"), [1.25, 5, .pi])
        XCTAssertEqual(try back.int64s("steps"), [Int64.min])
        XCTAssertEqual(try back.int64s("labels"), [0, 1, Int64(Int32.max), -1])
        XCTAssertEqual(try back.doubles("empty"), [])
        XCTAssertEqual(try back.doubles("ünïcode name").first?.sign, .minus)
        XCTAssertEqual(back.tensors["steps"]?.shape, [])
        XCTAssertEqual(back.metadata["note"], original.metadata["note"])

        // Header padded with spaces to a multiple of 8.
        let raw = try bytes(dir + "/a.safetensors")
        let n = raw[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0, "header length \(n) is not a multiple of 8")
        // No temporary file left beside the result.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.safetensors"])
    }

    func testIdenticalContentGivesIdenticalBytes() throws {
        let dir = try temporaryDirectory()
        let a = sample()
        // Same content built in another insertion order.
        var b = SafetensorsFile()
        for key in a.tensors.keys.sorted().reversed() { b.tensors[key] = a.tensors[key] }
        for key in a.metadata.keys.sorted().reversed() { b.metadata[key] = a.metadata[key] }
        try a.write(path: dir + "/a.safetensors")
        try b.write(path: dir + "/b.safetensors")
        try b.write(path: dir + "/b.safetensors")  // overwrite in place
        XCTAssertEqual(try bytes(dir + "/a.safetensors"), try bytes(dir + "/b.safetensors"))
        XCTAssertEqual(try a.encoded(), try b.encoded())
    }

    func testPayloadOrderIsDtypeThenName() throws {
        let header = String(decoding: try sample().encoded().dropFirst(8), as: UTF8.self)
        let order = ["steps", "alpha", "empty", "ünïcode name", "0.bias", "0.weight", "labels"]
        let positions = order.map { header.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted(), "header: \(header)")
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 é\"}"), header)
    }

    // MARK: - PyTorch-written files

    func testReadsPyTorchMixedSample() throws {
        let f = try SafetensorsFile.read(path: fixture("mixed.safetensors"))
        let expected = try values().mixed
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(Set(f.tensors.keys), Set(expected.keys))
        let dtypes = ["float32": SafetensorsFile.DType.float32, "float64": .float64, "int64": .int64, "int32": .int32]
        for (name, e) in expected {
            let t = try f.tensor(name)
            XCTAssertEqual(t.dtype, dtypes[e.dtype], name)
            XCTAssertEqual(t.shape, e.shape, name)
            if let ints = e.ints {
                XCTAssertEqual(try f.int64s(name), ints, name)
            } else {
                // Exact: the JSON holds the float64 repr of each stored value.
                XCTAssertEqual(try f.doubles(name), e.reals, name)
            }
        }
        XCTAssertEqual(try f.floats("weight")[3], Float(0.1))
    }

    func testReadsPyTorchTutorialInit() throws {
        let probes = try values().tutorial_init
        for tag in ["f32", "f64"] {
            let f = try SafetensorsFile.read(path: fixture("tutorial_init_\(tag).safetensors"))
            XCTAssertEqual(f.tensors.keys.sorted(), ["0.bias", "0.weight", "2.bias", "2.weight"])
            var maxSumDiff = 0.0
            for (name, p) in try XCTUnwrap(probes[tag]) {
                let t = try f.tensor(name)
                XCTAssertEqual(t.dtype, tag == "f32" ? .float32 : .float64)
                XCTAssertEqual(t.shape, p.shape, name)  // weights [out, in]
                let v = try f.doubles(name)
                for (i, x) in zip(p.index, p.values) { XCTAssertEqual(v[i], x, "\(tag) \(name)[\(i)]") }
                // Sum order differs from torch's: tolerance 1e-12 absolute (sums are O(1), ~1300 terms).
                let diff = abs(v.reduce(0, +) - p.sum_float64)
                maxSumDiff = max(maxSumDiff, diff)
                XCTAssertLessThan(diff, 1e-12, "\(tag) \(name) sum")
            }
            print("safetensors tutorial_init_\(tag): max |sum - torch sum| = \(maxSumDiff)")
        }
        // The f64 file is the f32 initialisation widened (model.double()).
        let f32 = try SafetensorsFile.read(path: fixture("tutorial_init_f32.safetensors"))
        let f64 = try SafetensorsFile.read(path: fixture("tutorial_init_f64.safetensors"))
        XCTAssertEqual(try f32.doubles("0.weight"), try f64.doubles("0.weight"))
        XCTAssertEqual(try f64.floats("2.bias"), try f32.floats("2.bias"))
    }

    /// The writer's layout is the reference writer's: re-encoding a PyTorch file gives its bytes.
    func testReencodingPyTorchFilesIsByteIdentical() throws {
        for name in ["mixed.safetensors", "tutorial_init_f32.safetensors", "tutorial_init_f64.safetensors"] {
            let path = try fixture(name)
            XCTAssertEqual(try SafetensorsFile.read(path: path).encoded(), try bytes(path), name)
        }
    }

    // MARK: - Accessor errors

    func testAccessorErrors() throws {
        let f = sample()
        XCTAssertThrowsError(try f.floats("missing")) { XCTAssertTrue("\($0)".contains("no tensor named 'missing'"), "\($0)") }
        XCTAssertThrowsError(try f.doubles("steps")) { XCTAssertTrue("\($0)".contains("is I64, not F32 or F64"), "\($0)") }
        XCTAssertThrowsError(try f.int64s("alpha")) { XCTAssertTrue("\($0)".contains("is F64, not I32 or I64"), "\($0)") }
        XCTAssertEqual(try f.floats("alpha"), [1.25, 5, Float(Double.pi)])  // rounded to nearest (Float.pi is rounded down)
        XCTAssertThrowsError(try SafetensorsFile.Tensor(dtype: .float32, shape: [2, 2], bytes: [0, 0, 0, 0]))
        var bad = SafetensorsFile()
        bad.tensors["__metadata__"] = .init(shape: [1], floats: [1])
        XCTAssertThrowsError(try bad.encoded()) { XCTAssertTrue("\($0)".contains("reserved"), "\($0)") }
        bad.tensors = ["x": SafetensorsFile.Tensor(shape: [1], floats: [1])]
        bad.tensors["x"]?.bytes.append(0)
        XCTAssertThrowsError(try bad.encoded()) { XCTAssertTrue("\($0)".contains("does not match"), "\($0)") }
    }

    func testWriteIntoMissingDirectoryNamesThePath() throws {
        let path = try temporaryDirectory() + "/no/such/dir/x.safetensors"
        XCTAssertThrowsError(try sample().write(path: path)) {
            XCTAssertTrue("\($0)".hasPrefix(path + ": cannot create temporary file"), "\($0)")
        }
    }

    // MARK: - Malformed files

    func testMissingFile() throws {
        let path = try temporaryDirectory() + "/absent.safetensors"
        XCTAssertThrowsError(try SafetensorsFile.read(path: path)) {
            XCTAssertTrue("\($0)".hasPrefix(path + ": cannot open"), "\($0)")
        }
    }

    func testTruncatedAndBadLengths() throws {
        let good = try sample().encoded()
        try assertRejects([], "truncated safetensors file: 0 bytes")
        try assertRejects(Array(good.prefix(5)), "truncated safetensors file: 5 bytes")
        try assertRejects(Array(good.prefix(40)), "truncated safetensors file: header length")
        try assertRejects(rawFile(header: "{}", payload: [], claimedLength: 1 << 40), "exceeds the limit")
        // Cut inside the payload: the last tensor's offsets fall outside.
        try assertRejects(Array(good.dropLast(3)), "outside the")
    }

    func testGarbledHeaders() throws {
        let t = #""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let four: [UInt8] = [0, 0, 128, 63]
        try assertRejects(rawFile(header: "[\(t)]", payload: four), "must be a JSON object starting with '{'")
        try assertRejects(rawFile(header: " {\(t)}", payload: four), "must be a JSON object starting with '{'")
        try assertRejects(rawFile(header: "{\(t)", payload: four), "garbled safetensors header")
        try assertRejects(rawFile(header: "{\(t)}x", payload: four), "unexpected data after the JSON object")
        try assertRejects(rawFile(header: "{\(t),}", payload: four), "garbled safetensors header")
        try assertRejects(rawFile(header: "{\"a\u{1}\":1}", payload: []), "control character in string")
        var badUTF8 = rawFile(header: "{\"ab\":{}}", payload: [])
        badUTF8[10] = 0xFF
        try assertRejects(badUTF8, "not valid UTF-8")
        try assertRejects(rawFile(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", payload: four), "leading zero")
        // Trailing spaces (the reference writer's padding) are fine.
        XCTAssertNoThrow(try SafetensorsFile.decode(rawFile(header: "{\(t)}   ", payload: four), source: "x"))
    }

    func testBadEntries() throws {
        let four: [UInt8] = [0, 0, 128, 63]
        func one(_ fields: String, payload: [UInt8] = four) -> [UInt8] { rawFile(header: "{\"a\":{\(fields)}}", payload: payload) }
        try assertRejects(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, payload: four), "duplicate key 'a'")
        try assertRejects(one(#""dtype":"BF16","shape":[2],"data_offsets":[0,4]"#), "unsupported dtype \"BF16\"")
        try assertRejects(one(#""dtype":"F32","shape":[1]"#), "needs \"dtype\", \"shape\" and \"data_offsets\"")
        try assertRejects(one(#""dtype":"F32","shape":[1],"data_offsets":[0,4],"offsets":[0,4]"#), "unexpected field 'offsets'")
        try assertRejects(one(#""dtype":"F32","shape":[-1],"data_offsets":[0,4]"#), "\"shape\" must be an array of non-negative integers")
        try assertRejects(one(#""dtype":"F32","shape":[1.0],"data_offsets":[0,4]"#), "\"shape\" must be an array of non-negative integers")
        try assertRejects(one(#""dtype":"F32","shape":[1],"data_offsets":[0,4,8]"#), "\"data_offsets\" must be [begin, end]")
        try assertRejects(one(#""dtype":F32,"shape":[1],"data_offsets":[0,4]"#), "garbled safetensors header")
        try assertRejects(one(#""dtype":1,"shape":[1],"data_offsets":[0,4]"#), "bad or repeated \"dtype\"")
        try assertRejects(one(#""dtype":"F32","shape":[1],"data_offsets":[0,8]"#), "outside the 4-byte payload")
        try assertRejects(one(#""dtype":"F32","shape":[1],"data_offsets":[4,0]"#), "outside the 4-byte payload")
        try assertRejects(one(#""dtype":"F32","shape":[2],"data_offsets":[0,4]"#), "does not match its 4 bytes")
        try assertRejects(one(#""dtype":"F64","shape":[99999999999,99999999999],"data_offsets":[0,4]"#), "does not match its 4 bytes")
        try assertRejects(rawFile(header: #"{"a":[1]}"#, payload: []), "entry 'a' is not an object")
        try assertRejects(rawFile(header: #"{"__metadata__":{"k":1}}"#, payload: []), "__metadata__ value of 'k' is not a string")
        try assertRejects(rawFile(header: #"{"__metadata__":["k"]}"#, payload: []), "__metadata__ must be an object")
        try assertRejects(rawFile(header: #"{"__metadata__":{"k":"1","k":"2"}}"#, payload: []), "__metadata__ has a duplicate key 'k'")
    }

    func testPayloadCoverage() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        try assertRejects(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, payload: eight), "overlaps another tensor")
        try assertRejects(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, payload: eight), "hole before tensor 'a'")
        try assertRejects(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, payload: eight), "4 trailing bytes")
        try assertRejects(rawFile(header: "{}", payload: [1]), "1 trailing bytes")
        // Empty tensors anywhere and an empty file body are fine.
        let ok = try SafetensorsFile.decode(rawFile(header: #"{"e":{"dtype":"I32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, payload: [0, 0, 128, 63]), source: "x")
        XCTAssertEqual(try ok.floats("a"), [1])
        XCTAssertEqual(try ok.int64s("e"), [])
        XCTAssertEqual(try SafetensorsFile.decode(rawFile(header: "{}", payload: []), source: "x"), SafetensorsFile())
    }
}
