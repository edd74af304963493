// CsvEndToEndTests: the same data as .npy and as .csv trains to identical bits, on 1 and 3 ranks;
// malformed CSV is one line naming file:line.
import Foundation
import XCTest

final class CsvEndToEndTests: XCTestCase {
    /// Writes the tutorial split (from `focal-ddp generate`) as CSV with a header and the label last.
    func makeCSV(_ dir: URL) throws {
        let gen = try FocalRun.run(["generate", "--out", dir.path])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        for part in ["train", "test"] {
            let x = try payload(dir.appendingPathComponent("X_\(part).npy"))
            let y = try payload(dir.appendingPathComponent("y_\(part).npy"))
            let doubles = x.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            let labels = y.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
            let f = doubles.count / labels.count
            var text = (0..<f).map { "f\($0)" }.joined(separator: ",") + ",label\n"
            for r in 0..<labels.count {
                // Swift's description is the shortest decimal that reads back to the same double.
                text += doubles[(r * f)..<((r + 1) * f)].map { "\($0)" }.joined(separator: ",") + ",\(labels[r])\n"
            }
            try text.write(to: dir.appendingPathComponent("\(part).csv"), atomically: true, encoding: .utf8)
        }
    }

    func payload(_ url: URL) throws -> Data {
        let d = try Data(contentsOf: url)
        let headerLength = Int(d[8]) | Int(d[9]) << 8
        return d.subdata(in: 10 + headerLength..<d.count)
    }

    func testCSVAndNpyTrainToIdenticalBits() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeCSV(dir)
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let npyArgs = ["--train-data", p("X_train.npy"), "--train-labels", p("y_train.npy"),
                       "--test-data", p("X_test.npy"), "--test-labels", p("y_test.npy"), "--epochs", "20"]
        let csvArgs = ["--train-data", p("train.csv"), "--test-data", p("test.csv"), "--label-column", "label", "--epochs", "20"]
        // Standardized (the default for file input): CSV and .npy give the same bits.
        XCTAssertEqual(try FocalRun.fingerprint(csvArgs).model, try FocalRun.fingerprint(npyArgs).model)
        // Unstandardized, the generated data itself trains to the same bits too.
        let reference = try FocalRun.fingerprint(npyArgs + ["--standardize", "off"])
        XCTAssertEqual(try FocalRun.fingerprint(["--epochs", "20"]).model, reference.model)
        for ranks in [nil, 3] as [Int?] {
            let f = try FocalRun.fingerprint(csvArgs + ["--standardize", "off"], ranks: ranks)
            XCTAssertEqual(f.model, reference.model, "CSV model bytes at \(ranks ?? 1) ranks")
            XCTAssertEqual(f.logLines, reference.logLines)
        }
    }

    func testMalformedCSVNamesFileAndLine() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = (0..<30).map { "\($0 % 5).5,\($0),\($0 % 2)" }
        let cases: [(String, [String], String)] = [
            ("missing.csv", good[0..<10] + ["1.0,2.0"] + good[10...], "missing.csv:11"),
            ("text.csv", ["a,b,label"] + good[0..<5] + ["1.0,abc,0"] + good[5...], "text.csv:7"),
            ("nan.csv", good[0..<20] + ["nan,1,0"] + good[20...], "nan.csv:21"),
            ("label.csv", good[0..<3] + ["1,2,7"] + good[3...], "label.csv:4"),
        ]
        for (name, lines, needle) in cases {
            let path = dir.appendingPathComponent(name).path
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            for ranks in [nil, 4] as [Int?] {
                let r = try FocalRun.run(["--train-data", path, "--classes", "2", "--epochs", "1"], ranks: ranks, timeout: 30)
                XCTAssertEqual(r.status, 3, "\(name): \(r.stderr)")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
                XCTAssertTrue(r.stderr.contains(needle), "\(name) at \(ranks ?? 1) ranks: \(r.stderr)")
            }
        }
    }
}
