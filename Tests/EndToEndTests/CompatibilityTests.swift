// CompatibilityTests: files written by focal-ddp 0.1.0 (Tests/Fixtures/compat-0.1.0, made before the
// module restructuring) still load: a checkpoint resumes with --wide-reduce (0.1.0's reduction) to
// the uninterrupted run's exact model bytes on 1 and 2 ranks, and without it is refused in one line
// naming the option, the model file works with --init and predict, and plot reads the metrics
// (and today's docs/plots/tutorial-metrics.jsonl).
import Foundation
import XCTest
import TestSupport

final class CompatibilityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/compat-0.1.0")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }

    func testOldCheckpointResumesToTheUninterruptedBytes() throws {
        let reference = try Data(contentsOf: URL(fileURLWithPath: fixture("model.safetensors")))
        for ranks in [nil, 2] as [Int?] {
            let dir = try FocalRun.scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let out = dir.appendingPathComponent("model.safetensors")
            let r = try FocalRun.run(["--resume", fixture("ckpt-step0000000050-epoch000050.safetensors"),
                                      "--save-model", out.path, "--quiet", "--wide-reduce"], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try Data(contentsOf: out), reference, "resumed model bytes on \(ranks ?? 1) rank(s)")
        }
    }

    func testOldFloat32CheckpointWithoutWideReduceIsRefusedNamingTheOption() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model.safetensors")
        let r = try FocalRun.run(["--resume", fixture("ckpt-step0000000050-epoch000050.safetensors"),
                                  "--save-model", out.path, "--quiet"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("exact_reduction") && r.stderr.contains("--wide-reduce"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testOldModelFileWorksWithInitAndPredict() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        // --init with no training step saves the same parameters: identical bytes.
        let r = try FocalRun.run(["--init", fixture("model.safetensors"), "--epochs", "0", "--save-model", p("same.safetensors"), "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p("same.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: fixture("model.safetensors"))))
        let gen = try FocalRun.run(["generate", "--out", dir.path])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let pred = try FocalRun.run(["predict", "--model", fixture("model.safetensors"), "--data", p("X_test.npy"),
                                     "--labels", p("y_test.npy"), "--out", p("proba.npy")])
        XCTAssertEqual(pred.status, 0, pred.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: p("proba.npy")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: p("proba_class.npy")))
        // The evaluation printed by predict is the training run's (same confusion matrix).
        let metrics = try String(contentsOfFile: fixture("metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"confusion\":[[146,15],[4,35]]"), "fixture's final confusion matrix")
        XCTAssertTrue(pred.stdout.contains("t0  146   15") && pred.stdout.contains("t1    4   35"), pred.stdout)
    }

    func testPlotReadsOldMetricsFiles() throws {
        for metrics in [fixture("metrics.jsonl"), Self.repository.appendingPathComponent("docs/plots/tutorial-metrics.jsonl").path] {
            let dir = try FocalRun.scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try FocalRun.run(["plot", metrics, "--out", dir.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let svgs = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".svg") }
            XCTAssertGreaterThanOrEqual(svgs.count, 3, "plots from \(metrics): \(svgs)")
        }
    }
}
