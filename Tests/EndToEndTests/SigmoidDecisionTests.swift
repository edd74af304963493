// SigmoidDecisionTests: issue 13's rules where they meet issue 12's decision layer — temperature
// calibration is refused for a sigmoid-focal model, and a tuned threshold applies to class 1's
// sigmoid score: `predict` with the stored threshold reproduces training's tuned operating point,
// on 1 process and on 2 ranks.
import Foundation
import XCTest
import TestSupport

final class SigmoidDecisionTests: XCTestCase {
    func testCalibrationRefusedForSigmoidModels() throws {
        let r = try FocalRun.run(["--loss", "sigmoid-focal", "--calibrate", "temperature", "--val-fraction", "0.2", "--epochs", "2"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--calibrate"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
    }

    func testThresholdOnTheClassOneSigmoidScore() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let gen = try FocalRun.run(["generate", "--out", dir.path])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        var tables: [String] = []
        for ranks in [nil, 2] as [Int?] {
            let model = p("m\(ranks ?? 1).safetensors")
            let train = try FocalRun.run(["--loss", "sigmoid-focal", "--tune-threshold", "f1", "--val-fraction", "0.25",
                                          "--epochs", "20", "--save-model", model, "--quiet"], ranks: ranks)
            XCTAssertEqual(train.status, 0, train.stderr)
            // The tuned operating point's confusion table, as training printed it.
            guard let at = train.stdout.range(of: "Tuned operating point") else {
                XCTFail("no tuned operating point: \(train.stdout)"); continue
            }
            let tuned = String(train.stdout[at.lowerBound...])
            let confusion = tuned.split(separator: "\n").filter { $0.hasPrefix("     t") }.prefix(2).joined(separator: "\n")
            XCTAssertEqual(confusion.split(separator: "\n").count, 2, tuned)
            tables.append(confusion)
            let pred = try FocalRun.run(["predict", "--model", model, "--data", p("X_test.npy"), "--labels", p("y_test.npy"),
                                         "--out", p("p\(ranks ?? 1).npy")], ranks: ranks)
            XCTAssertEqual(pred.status, 0, pred.stderr)
            XCTAssertTrue(pred.stdout.contains("sigmoid scores"), pred.stdout)
            XCTAssertTrue(pred.stdout.contains(confusion), "predict applies the stored threshold:\n\(pred.stdout)\nexpected\n\(confusion)")
        }
        XCTAssertEqual(tables.count, 2)
        XCTAssertEqual(tables.first, tables.last, "same operating point on 1 process and 2 ranks")
    }
}
