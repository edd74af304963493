// CsvTests: the CSV data source: layouts, line endings, every malformed-row error with its
// file:line, world-size invariance over 1-6 in-process ranks, and bitwise equality with .npy.

import Collectives
import Foundation
import XCTest
@testable import FocalData
@testable import FocalFormats

final class CsvTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/csvtests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: - Helpers

    /// Writes `text` to a new file in the test directory and returns its path.
    private func file(_ name: String, _ text: String) throws -> String {
        let path = dir + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Opens `path` on `ranks` in-process ranks; rank r reads an even share of the rows.
    /// Returns the concatenated rows (equal on success) or every rank's error message.
    private func load(_ path: String, ranks: Int, labelColumn: String? = nil, classes: Int? = nil,
                      test: String? = nil) throws -> (rows: Rows?, test: Rows?, errors: [String]) {
        let results = try InProcessCommunicator.run(ranks: ranks) { comm -> (Rows?, Rows?, String?) in
            do {
                let source = try CsvDataSource.open(train: path, test: test, labelColumn: labelColumn,
                                                    classes: classes, comm: comm)
                let n = source.trainCount, m = source.testCount
                let share = (comm.rank * n / comm.size)..<((comm.rank + 1) * n / comm.size)
                let tshare = (comm.rank * m / comm.size)..<((comm.rank + 1) * m / comm.size)
                let both = try source.rows(train: [share], test: test == nil ? [] : [tshare])
                return (both.train, both.test, nil)
            } catch {
                return (nil, nil, "\(error)")
            }
        }
        let errors = results.compactMap { $0.2 }
        if !errors.isEmpty {
            XCTAssertEqual(errors.count, ranks, "every rank must fail, not only some: \(errors)")
            XCTAssertEqual(Set(errors).count, 1, "every rank must report the same error: \(errors)")
            return (nil, nil, errors)
        }
        var out = Rows(features: results[0].0!.features)
        var tout = Rows(features: results[0].0!.features)
        for r in results {
            out.x += r.0!.x
            out.y += r.0!.y
            tout.x += r.1!.x
            tout.y += r.1!.y
        }
        return (out, tout, [])
    }

    /// The single error every rank reported for `text`, at 1 and 4 ranks (they must agree).
    private func error(_ text: String, labelColumn: String? = nil, classes: Int? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = try self.file("bad.csv", text)
        let one = try load(path, ranks: 1, labelColumn: labelColumn, classes: classes)
        let four = try load(path, ranks: 4, labelColumn: labelColumn, classes: classes)
        XCTAssertEqual(one.errors.count, 1, "expected an error", file: file, line: line)
        XCTAssertEqual(one.errors.first, four.errors.first, "1 and 4 ranks disagree", file: file, line: line)
        // The in-memory parser (used by the fuzzer) reports the same message.
        XCTAssertThrowsError(try Csv.parse(Array(text.utf8), labelColumn: labelColumn, classes: classes,
                                           fileName: path, parts: 3), file: file, line: line) {
            XCTAssertEqual("\($0)", one.errors.first, file: file, line: line)
        }
        return (one.errors.first ?? "").replacingOccurrences(of: dir + "/", with: "")
    }

    // MARK: - Layouts

    func testHeaderAndNoHeader() throws {
        let plain = try file("plain.csv", "1.5,2,0\n-3,4e-3,1\n5,6,1\n")
        let headed = try file("headed.csv", "a,b,label\n1.5,2,0\n-3,4e-3,1\n5,6,1\n")
        let expected = Rows(features: 2, x: [1.5, 2, -3, 0.004, 5, 6], y: [0, 1, 1])
        XCTAssertEqual(try load(plain, ranks: 1).rows, expected)
        XCTAssertEqual(try load(headed, ranks: 1).rows, expected)
        XCTAssertEqual(try load(headed, ranks: 3).rows, expected)
        let layout = try Csv.parse(Array("a, b ,label\n1,2,0\n".utf8)).layout
        XCTAssertEqual(layout.header, ["a", "b", "label"])
        XCTAssertEqual(try Csv.parse(Array("1,2,0\n".utf8)).layout.header, nil)
        // Header only: zero rows, not an error.
        XCTAssertEqual(try load(try file("h.csv", "a,b,c\n"), ranks: 2).rows, Rows(features: 2))
    }

    func testLabelColumnByNameAndIndex() throws {
        let path = try file("l.csv", "y,f1,f2\n1,0.5,0.25\n0,1.5,2.5\n")
        let expected = Rows(features: 2, x: [0.5, 0.25, 1.5, 2.5], y: [1, 0])
        XCTAssertEqual(try load(path, ranks: 2, labelColumn: "y").rows, expected)
        XCTAssertEqual(try load(path, ranks: 2, labelColumn: "0").rows, expected)
        let noHeader = try file("n.csv", "0.5,1,0.25\n1.5,0,2.5\n")
        XCTAssertEqual(try load(noHeader, ranks: 2, labelColumn: "1").rows, expected)
        XCTAssertEqual(try error("y,f1,f2\n1,2,3\n", labelColumn: "z"),
                       "bad.csv: label column 'z' is neither a name in the header nor a column index 0..<3")
        XCTAssertEqual(try error("1,2,3\n", labelColumn: "3"),
                       "bad.csv: label column '3' must be a column index 0..<3 (the file has no header)")
    }

    func testCRLFAndTrailingEmptyLinesAndNoFinalNewline() throws {
        let expected = Rows(features: 2, x: [1, 2, 3, 4], y: [0, 1])
        for text in ["a,b,c\r\n1,2,0\r\n3,4,1\r\n", "1,2,0\r\n3,4,1", "1,2,0\n3,4,1\n\n\n", "1,2,0\r\n3,4,1\r\n\r\n",
                     "a,b,c\n1,2,0\n3,4,1.0\n"] {
            let path = try file("c.csv", text)
            for ranks in [1, 2, 5] {
                let got = try load(path, ranks: ranks)
                XCTAssertEqual(got.rows, expected, "\(text.debugDescription) at \(ranks) ranks: \(got.errors)")
            }
        }
    }

    /// The file reader with tiny blocks (lines spanning many reads, seeks in and out of the
    /// buffer) returns the same lines as the in-memory reader.
    func testLineReaderAcrossBlocks() throws {
        let text = "a,b\r\n\n123456789,1\n\r\nx\n,\r\nlast"
        let path = try file("r.csv", text)
        let memory = CsvLineReader(bytes: Array(text.utf8), name: "m")
        var expected: [[UInt8]] = []
        while let line = try memory.nextLine() { expected.append(Array(line)) }
        XCTAssertEqual(expected.map { String(decoding: $0, as: UTF8.self) }, ["a,b", "", "123456789,1", "", "x", ",", "last"])
        for block in [1, 2, 3, 7, 64] {
            let reader = try CsvLineReader(path: path, block: block)
            var got: [[UInt8]] = []
            while let line = try reader.nextLine() { got.append(Array(line)) }
            XCTAssertEqual(got, expected, "block \(block)")
            for offset in [0, 5, 9, text.utf8.count] {
                reader.seek(offset)
                memory.seek(offset)
                XCTAssertEqual(try reader.nextLine().map(Array.init), try memory.nextLine().map(Array.init), "block \(block), offset \(offset)")
            }
        }
    }

    // MARK: - Errors

    func testMalformedRows() throws {
        XCTAssertEqual(try error("a,b,c\n1,2,0\n1,2\n"), "bad.csv:3: 2 fields, expected 3")
        XCTAssertEqual(try error("1,2,0\n1,2,0,4\n"), "bad.csv:2: 4 fields, expected 3")
        XCTAssertEqual(try error("a,b,c\n1,2,0\n3,x,1\n"), "bad.csv:3: feature 'x' in column 1 ('b') is not a number")
        XCTAssertEqual(try error("1,2,0\n3,,1\n"), "bad.csv:2: feature '' in column 1 is not a number")
        XCTAssertEqual(try error("1,2,0\n3,4,1\nnan,4,1\n"), "bad.csv:3: feature 'nan' in column 0 is not finite")
        XCTAssertEqual(try error("1,2,0\n3,inf,1\n"), "bad.csv:2: feature 'inf' in column 1 is not finite")
        XCTAssertEqual(try error("1,2,0\n3,1e999,1\n"), "bad.csv:2: feature '1e999' in column 1 is not finite")
        XCTAssertEqual(try error("1,2,0\n3,4,0.5\n"), "bad.csv:2: label '0.5' in column 2 is not an integer")
        XCTAssertEqual(try error("1,2,0\n3,4,one\n"), "bad.csv:2: label 'one' in column 2 is not an integer")
        XCTAssertEqual(try error("1,2,0\n3,4,-1\n"), "bad.csv:2: label -1 outside 0..<2^31")
        XCTAssertEqual(try error("1,2,0\n3,4,2\n", classes: 2), "bad.csv:2: label 2 outside 0..<2 (classes 2)")
        XCTAssertEqual(try error("1,2,0\n\n3,4,1\n"), "bad.csv:2: empty line before more data")
        XCTAssertEqual(try error("1\n"), "bad.csv:1: found 1 column, need at least 2 (features and a label)")
        XCTAssertEqual(try error(""), "bad.csv: empty file (no header and no rows)")
        XCTAssertEqual(try error("\n1,2,0\n"), "bad.csv:1: the first line is empty (expected a header or a data row)")
        // The first bad line in the file wins, wherever the byte ranges fall.
        var text = "a,b,c\n"
        for i in 0..<40 { text += "\(i),\(i + 1),\(i % 2)\n" }
        text += "1,2\n" + "1,x,0\n"
        XCTAssertEqual(try error(text), "bad.csv:42: 2 fields, expected 3")
        // A missing file names itself.
        let missing = try load(dir + "/none.csv", ranks: 2)
        XCTAssertTrue(missing.errors.first?.contains("none.csv: cannot open") ?? false, "\(missing.errors)")
    }

    func testTestFileWithDifferentFeatureCount() throws {
        let a = try file("a.csv", "1,2,0\n")
        let b = try file("b.csv", "1,2,3,0\n")
        let got = try load(a, ranks: 2, test: b)
        XCTAssertEqual(got.errors.first, "\(b): 3 features per row, but \(a) has 2")
    }

    // MARK: - World-size invariance

    func testWorldSizeInvariance() throws {
        for rowsCount in [0, 1, 3, 17] {
            var text = "x0,x1,x2,label\r\n"
            var reference = Rows(features: 3)
            for i in 0..<rowsCount {
                let v = [Double(i) * 0.1, -Double(i) / 7, Double(i * i) + 0.5]
                text += v.map(\.description).joined(separator: ",") + ",\(i % 3)\r\n"
                reference.x += v
                reference.y.append(Int32(i % 3))
            }
            let path = try file("w\(rowsCount).csv", text)
            let test = try file("t\(rowsCount).csv", text)
            for ranks in 1...6 {
                let got = try load(path, ranks: ranks, test: test)
                XCTAssertEqual(got.errors, [], "\(rowsCount) rows at \(ranks) ranks")
                XCTAssertEqual(got.rows, reference, "\(rowsCount) rows at \(ranks) ranks")
                XCTAssertEqual(got.test, reference, "\(rowsCount) rows at \(ranks) ranks (test file)")
                for parts in [ranks, ranks + 7] {
                    XCTAssertEqual(try Csv.parse(Array(text.utf8), parts: parts).rows, reference, "parse, \(parts) parts")
                }
            }
        }
    }

    /// Scattered single-row requests (rows outside a rank's own byte range) read the right rows.
    func testScatteredRanges() throws {
        var text = ""
        for i in 0..<50 { text += "\(i),\(-i),\(i % 2)\n" }
        let path = try file("s.csv", text)
        let results = try InProcessCommunicator.run(ranks: 4) { comm -> Rows in
            let source = try CsvDataSource.open(train: path, test: nil, labelColumn: nil, classes: 2, comm: comm)
            let mine = stride(from: (3 - comm.rank) * 2, to: 50, by: 9).map { $0..<($0 + 1) }
            return try source.rows(.train, ranges: mine)
        }
        for (r, rows) in results.enumerated() {
            let expectedRows = Array(stride(from: (3 - r) * 2, to: 50, by: 9))
            XCTAssertEqual(rows.x, expectedRows.flatMap { [Double($0), Double(-$0)] }, "rank \(r)")
            XCTAssertEqual(rows.y, expectedRows.map { Int32($0 % 2) }, "rank \(r)")
        }
    }

    /// The trainer's pattern: each rank asks for its `ChunkPlan` ranges (many small ranges, most
    /// outside its own byte range); every rank gets exactly the reference rows of those ranges.
    func testChunkPlanRanges() throws {
        var text = "a,b,y\n"
        var reference = Rows(features: 2)
        for i in 0..<97 {
            text += "\(Double(i) / 3),\(-Double(i)),\(i % 4)\n"
            reference.x += [Double(i) / 3, -Double(i)]
            reference.y.append(Int32(i % 4))
        }
        let path = try file("p.csv", text)
        for ranks in [1, 2, 5] {
            let plan = ChunkPlan(rows: 97, batchSize: 16, chunkSize: 3, ranks: ranks)
            let got = try InProcessCommunicator.run(ranks: ranks) { comm -> Rows in
                let source = try CsvDataSource.open(train: path, test: nil, labelColumn: "y", classes: 4, comm: comm)
                return try source.rows(.train, ranges: plan.ownedRanges(rank: comm.rank))
            }
            for (r, rows) in got.enumerated() {
                let want = plan.ownedRanges(rank: r)
                XCTAssertEqual(rows.y, want.flatMap { reference.y[$0] }, "\(ranks) ranks, rank \(r)")
                XCTAssertEqual(rows.x, want.flatMap { reference.x[($0.lowerBound * 2)..<($0.upperBound * 2)] }, "\(ranks) ranks, rank \(r)")
            }
        }
    }

    // MARK: - Equality with .npy

    /// The tutorial fixture written as CSV (shortest round-trip decimals) gives bitwise the same
    /// rows as the .npy files, at 1 and 3 ranks.
    func testSameRowsAsNpy() throws {
        let root = try SklearnFixtureTests.fixtureRoot() + "/tutorial"
        let npy = try NpyDataSource(trainX: root + "/X_train.npy", trainY: root + "/y_train.npy",
                                    testX: root + "/X_test.npy", testY: root + "/y_test.npy", classes: nil)
        let all = try npy.rows(train: [0..<npy.trainCount], test: [0..<npy.testCount])
        func csv(_ rows: Rows, header: Bool) -> String {
            var s = header ? (0..<rows.features).map { "f\($0)" }.joined(separator: ",") + ",target\n" : ""
            for i in 0..<rows.count {
                s += rows.x[(i * rows.features)..<((i + 1) * rows.features)].map(\.description).joined(separator: ",")
                s += ",\(rows.y[i])\n"
            }
            return s
        }
        let train = try file("train.csv", csv(all.train, header: true))
        let test = try file("test.csv", csv(all.test, header: true))
        for ranks in [1, 3] {
            let got = try load(train, ranks: ranks, labelColumn: "target", test: test)
            XCTAssertEqual(got.errors, [])
            let a = try XCTUnwrap(got.rows), b = try XCTUnwrap(got.test)
            XCTAssertEqual(a.count, npy.trainCount)
            XCTAssertEqual(b.count, npy.testCount)
            var mismatches = 0
            for (u, v) in zip(a.x + b.x, all.train.x + all.test.x) where u.bitPattern != v.bitPattern { mismatches += 1 }
            print("CSV vs .npy at \(ranks) ranks: \(mismatches) of \(a.x.count + b.x.count) features differ in their bits (tolerance 0)")
            XCTAssertEqual(mismatches, 0)
            XCTAssertEqual(a.y, all.train.y)
            XCTAssertEqual(b.y, all.test.y)
        }
    }
}
