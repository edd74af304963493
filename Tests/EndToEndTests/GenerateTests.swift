// GenerateTests: `focal-ddp generate` under mpirun writes exactly scikit-learn's split (fixtures
// made by scripts/make_sklearn_fixtures.py), whatever the number of ranks.
import Foundation
import XCTest

final class GenerateTests: XCTestCase {
    /// The repository's FocalDataTests fixtures (this target has no resources of its own).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FocalDataTests/Fixtures/sklearn").standardized

    /// The data bytes of a version-1/2 .npy file (after its header).
    func payload(_ url: URL) throws -> Data {
        let d = try Data(contentsOf: url)
        XCTAssertEqual(Array(d.prefix(6)), [0x93] + Array("NUMPY".utf8), url.path)
        let major = d[6]
        let headerLength = major == 1 ? Int(d[8]) | Int(d[9]) << 8 : Int(d[8]) | Int(d[9]) << 8 | Int(d[10]) << 16 | Int(d[11]) << 24
        return d.subdata(in: (major == 1 ? 10 : 12) + headerLength..<d.count)
    }

    func testTutorialBitForBitUnderAnyRankCount() throws {
        for ranks in [nil, 3, 4] as [Int?] {
            let dir = try FocalRun.scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try FocalRun.run(["generate", "--out", dir.path], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("632 / 168"), r.stdout)
            XCTAssertTrue(r.stdout.contains("1.2658227848101264, 4.761904761904762"), r.stdout)
            for name in ["X_train.npy", "y_train.npy", "X_test.npy", "y_test.npy"] {
                let ours = try payload(dir.appendingPathComponent(name))
                let sklearn = try payload(Self.fixtures.appendingPathComponent("tutorial/\(name)"))
                XCTAssertEqual(ours, sklearn, "\(name) with \(ranks.map(String.init) ?? "no") mpirun ranks")
            }
            // No temporary or probe files are left behind.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
            XCTAssertEqual(left, [])
        }
    }

    /// Float32 output, a 4-class data set with K-1 weights, more ranks than test rows.
    func testOtherShapesAndMoreRanksThanRows() throws {
        let dir1 = try FocalRun.scratch(), dir8 = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir1); try? FileManager.default.removeItem(at: dir8) }
        let args = ["generate", "--samples", "30", "--classes", "4", "--weights", "0.5,0.2,0.2", "--informative", "4",
                    "--features", "7", "--redundant", "1", "--dtype", "float32"]
        XCTAssertEqual(try FocalRun.run(args + ["--out", dir1.path]).status, 0)
        let r = try FocalRun.run(args + ["--out", dir8.path], ranks: 8)
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["X_train.npy", "y_train.npy", "X_test.npy", "y_test.npy"] {
            XCTAssertEqual(try Data(contentsOf: dir1.appendingPathComponent(name)),
                           try Data(contentsOf: dir8.appendingPathComponent(name)), name)
        }
    }

    /// A bad option is one line and writes nothing.
    func testBadOptionWritesNothing() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try FocalRun.run(["generate", "--out", dir.path, "--informative", "30"], ranks: 2)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }
}

/// `predict` on a saved model reproduces the training run's evaluation exactly, on any ranks.
final class PredictTests: XCTestCase {
    func testPredictReproducesTrainingEvaluation() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        XCTAssertEqual(try FocalRun.run(["generate", "--out", dir.path]).status, 0)
        let train = try FocalRun.run(["--epochs", "30", "--save-model", p("m.safetensors")], ranks: 2)
        XCTAssertEqual(train.status, 0, train.stderr)
        func table(_ s: String) -> [String] {
            s.split(separator: "\n").map(String.init).filter { $0.hasPrefix("  ") && !$0.contains("epoch") }
        }
        let expected = table(train.stdout)
        XCTAssertGreaterThan(expected.count, 6)
        var outputs: [Data] = []
        for ranks in [nil, 3] as [Int?] {
            let out = p("pred\(ranks ?? 1).npy")
            let r = try FocalRun.run(["predict", "--model", p("m.safetensors"), "--data", p("X_test.npy"),
                                      "--labels", p("y_test.npy"), "--out", out], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(table(r.stdout), expected, "predict at \(ranks ?? 1) ranks")
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        XCTAssertEqual(outputs[0], outputs[1], "probabilities differ between 1 and 3 ranks")
    }
}
