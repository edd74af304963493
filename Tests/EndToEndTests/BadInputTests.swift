// BadInputTests: every bad input is answered, at -n 1 and -n 4, within 10 s, with exactly one line
// from rank 0 naming the option or the file, a non-zero status, and no output file at all.
import Foundation
import XCTest

final class BadInputTests: XCTestCase {
    /// A little-endian .npy (version 1.0) file.
    static func npy(_ descr: String, shape: [Int], payload: [UInt8]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
        dict += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)])
        d.append(contentsOf: Array(dict.utf8))
        d.append(contentsOf: payload)
        return d
    }
    static func f8(_ v: [Double]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
    static func i8(_ v: [Int64]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    /// Writes the input files the cases refer to into `dir`.
    func makeFiles(_ dir: URL) throws {
        func put(_ name: String, _ data: Data) throws { try data.write(to: dir.appendingPathComponent(name)) }
        let rows = 40, f = 5
        let x = (0..<(rows * f)).map { Double($0 % 7) - 3 }
        let y = (0..<rows).map { Int64($0 % 2) }
        try put("X.npy", Self.npy("<f8", shape: [rows, f], payload: Self.f8(x)))
        try put("y.npy", Self.npy("<i8", shape: [rows], payload: Self.i8(y)))
        var xn = x; xn[3 * f + 2] = .nan
        try put("X_nan.npy", Self.npy("<f8", shape: [rows, f], payload: Self.f8(xn)))
        var yb = y; yb[17] = 5
        try put("y_bad.npy", Self.npy("<i8", shape: [rows], payload: Self.i8(yb)))
        var yn = y; yn[9] = -1
        try put("y_negative.npy", Self.npy("<i8", shape: [rows], payload: Self.i8(yn)))
        try put("y_short.npy", Self.npy("<i8", shape: [rows - 1], payload: Self.i8(Array(y.dropLast()))))
        try put("y_float.npy", Self.npy("<f8", shape: [rows], payload: Self.f8(y.map(Double.init))))
        try put("X_1d.npy", Self.npy("<f8", shape: [rows], payload: Self.f8(Array(x.prefix(rows)))))
        try put("X_int.npy", Self.npy("<i8", shape: [rows, f], payload: Self.i8(x.map { Int64($0) })))
        try put("X_fortran.npy", Self.npy("<f8', 'fortran_order': True, 'x': '", shape: [rows, f], payload: Self.f8(x)))
        let full = Self.npy("<f8", shape: [rows, f], payload: Self.f8(x))
        try put("X_truncated.npy", full.prefix(full.count - 13))
        try put("X_text.npy", Data("1,2,3\n4,5,6\n".utf8))
        try put("Xt_wide.npy", Self.npy("<f8", shape: [4, f + 1], payload: Self.f8([Double](repeating: 1, count: 4 * (f + 1)))))
        try put("yt.npy", Self.npy("<i8", shape: [4], payload: Self.i8([0, 1, 0, 1])))
        try put("garbage.safetensors", Data((0..<200).map { UInt8($0 * 37 % 251) }))
        // A header that claims more bytes than the file has.
        var st = Data()
        let header = #"{"0.weight":{"dtype":"F32","shape":[64,5],"data_offsets":[0,1280]}}"#
        st.append(contentsOf: withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) })
        st.append(contentsOf: Array(header.utf8))
        st.append(contentsOf: [UInt8](repeating: 0, count: 100))
        try put("truncated.safetensors", st)
        try put("not-a-dir", Data("x".utf8))
    }

    func testEveryBadInputIsOneLineNoOutputNoHang() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeFiles(dir)
        func p(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let files = ["--train-labels", p("y.npy")]
        // (arguments, text the one line must contain, expected status)
        let cases: [([String], String, Int32)] = [
            (["--samples", "0"], "--samples", 3), (["--samples", "-5"], "--samples", 3),
            (["--features", "0"], "--features", 3), (["--informative", "0"], "--informative", 3),
            (["--redundant", "-1"], "--redundant", 3), (["--informative", "15", "--redundant", "10"], "--features", 3),
            (["--classes", "1"], "--classes", 3), (["--weights", "0.5,0.3,0.2"], "--weights", 3),
            (["--weights", "-0.1,1.1"], "--weights", 3), (["--weights", "abc"], "--weights", 3),
            (["--flip-y", "1.5"], "--flip-y", 3), (["--class-sep", "0"], "--class-sep", 3),
            (["--scale", "0"], "--scale", 3), (["--shift", "nan"], "--shift", 3),
            (["--seed", "-1"], "--seed", 3), (["--seed", "4294967296"], "--seed", 3),
            (["--test-fraction", "1.0"], "--test-fraction", 3), (["--test-fraction", "-0.1"], "--test-fraction", 3),
            (["--clusters-per-class", "0"], "--clusters-per-class", 3),
            (["--informative", "1", "--classes", "4"], "--informative", 3),
            (["--gamma", "-1"], "--gamma", 2), (["--gamma", "nan"], "--gamma", 2), (["--lr", "0"], "--lr", 2),
            (["--beta1", "1"], "--beta1", 2), (["--eps", "0"], "--eps", 2), (["--epochs", "-1"], "--epochs", 2),
            (["--batch-size", "0"], "--batch-size", 2), (["--chunk-size", "0"], "--chunk-size", 2),
            (["--hidden", "0"], "--hidden", 2), (["--hidden", "64,abc"], "--hidden", 2),
            (["--reduction", "bogus"], "--reduction", 2), (["--class-weights", "bogus"], "--class-weights", 3),
            (["--class-weights", "1,2,3"], "--class-weights", 3), (["--class-weights", "-1,2"], "--class-weights", 3),
            (["--optimizer-on", "bogus"], "--optimizer-on", 2), (["--precision", "float16"], "--precision", 2),
            (["--generator", "bogus"], "--generator", 2), (["--generator", "counter", "--stratify"], "--stratify", 3),
            (["--keep-checkpoints", "0"], "--keep-checkpoints", 2), (["--stall-timeout", "0"], "--stall-timeout", 2),
            (["--debug-fault", "1:x:nan"], "--debug-fault", 2), (["--no-such-option"], "no-such-option", 2),
            (["--resume", p("missing")], "--resume", 3),
            (["--metrics-out", p("missing-dir/m.jsonl")], "missing-dir", 3),
            (["--save-model", p("not-a-dir/m.safetensors")], "not-a-dir", 3),
            (["--init", p("garbage.safetensors")], "garbage.safetensors", 3),
            (["--init", p("truncated.safetensors")], "truncated.safetensors", 3),
            (["--train-data", p("X.npy")], "--train-labels", 2),
            (["--train-data", p("missing.npy")] + files, "missing.npy", 3),
            (["--train-data", p("X_truncated.npy")] + files, "X_truncated.npy", 3),
            (["--train-data", p("X_text.npy")] + files, "X_text.npy", 3),
            (["--train-data", p("X_1d.npy")] + files, "X_1d.npy", 3),
            (["--train-data", p("X_int.npy")] + files, "X_int.npy", 3),
            (["--train-data", p("X_fortran.npy")] + files, "X_fortran.npy", 3),
            (["--train-data", p("X_nan.npy")] + files, "X_nan.npy: row 3", 3),
            (["--train-data", p("X.npy"), "--train-labels", p("y_bad.npy"), "--classes", "2"], "y_bad.npy: row 17", 3),
            (["--train-data", p("X.npy"), "--train-labels", p("y_negative.npy")], "y_negative.npy: row 9", 3),
            (["--train-data", p("X.npy"), "--train-labels", p("y_short.npy")], "y_short.npy", 3),
            (["--train-data", p("X.npy"), "--train-labels", p("y_float.npy")], "y_float.npy", 3),
            (["--train-data", p("X.npy")] + files + ["--test-data", p("Xt_wide.npy"), "--test-labels", p("yt.npy")], "Xt_wide.npy", 3),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let outputs = ["--save-model", out.appendingPathComponent("m.safetensors").path,
                       "--metrics-out", out.appendingPathComponent("m.jsonl").path,
                       "--checkpoint-dir", out.appendingPathComponent("ck").path, "--epochs", "2"]
        var slowest = 0.0
        for (args, needle, status) in cases {
            // One process (the single-rank path, without mpirun's start-up cost) and mpirun -n 4.
            for ranks in [nil, 4] as [Int?] {
                // Options given twice: the case's own value wins (it comes last).
                let t = Date()
                let r = try FocalRun.run(outputs + args, ranks: ranks, timeout: 30)
                let seconds = Date().timeIntervalSince(t)
                slowest = max(slowest, seconds)
                let what = "\(args.joined(separator: " ")) at -n \(ranks ?? 1)"
                XCTAssertFalse(r.timedOut, "\(what): hung")
                XCTAssertLessThan(seconds, 10, what)
                XCTAssertEqual(r.status, status, "\(what): \(r.stderr)")
                let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
                XCTAssertEqual(lines.count, 1, "\(what): \(r.stderr)")
                XCTAssertTrue(r.stderr.hasPrefix("focal-ddp: error: ") && r.stderr.contains(needle), "\(what): \(r.stderr)")
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [], "\(what): wrote output")
            }
        }
        print("bad inputs: \(cases.count) cases x 2 rank counts answered; slowest \(slowest) s")
    }
}
