// RealDataEndToEndTests: standardization and a validation split on a real data set (breast
// cancer, exported by scripts/real_data.py) give identical bytes for one process,
// --simulate-ranks 3 and mpirun -n 2 and -n 3; predict applies the stored standardization; bad
// inputs of issue 12 are one line with exit code 3 (data) or 2 (usage) and no output file.
import Foundation
import XCTest

final class RealDataEndToEndTests: XCTestCase {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/real-data/data/breast_cancer")

    var trainArgs: [String] {
        let d = Self.data
        return ["--train-data", d.appendingPathComponent("X.npy").path, "--train-labels", d.appendingPathComponent("y.npy").path,
                "--val-fraction", "0.25", "--eval-every", "5", "--epochs", "20", "--batch-size", "128", "--chunk-size", "32"]
    }

    func testIdenticalForAnyNumberOfRanks() throws {
        let reference = try FocalRun.fingerprint(trainArgs)
        XCTAssertTrue(reference.logLines.contains { $0.contains("validation accuracy") }, "\(reference.logLines)")
        XCTAssertTrue(reference.metrics.contains { $0.contains(#""split":"val""#) })
        XCTAssertEqual(try FocalRun.fingerprint(trainArgs, simulate: 3), reference, "--simulate-ranks 3")
        for n in [2, 3] {
            XCTAssertEqual(try FocalRun.fingerprint(trainArgs, ranks: n), reference, "mpirun -n \(n)")
        }
    }

    func testEarlyStoppingSameEpochAndBytesForAnyRanksAndResume() throws {
        let args = trainArgs.filter { $0 != "--eval-every" && $0 != "5" }.map { $0 == "20" ? "200" : $0 }
            + ["--early-stopping", "4", "--monitor", "balanced-accuracy", "--log-every", "0"]
        let reference = try FocalRun.fingerprint(args)
        let stop = try XCTUnwrap(reference.metrics.first { $0.contains(#""type":"early_stopping""#) }, "\(reference.metrics)")
        XCTAssertFalse(stop.contains(#""stopped_epoch":null"#), "stopped before 200 epochs: \(stop)")
        XCTAssertEqual(try FocalRun.fingerprint(args, simulate: 3), reference, "--simulate-ranks 3")
        for n in [2, 3] {
            XCTAssertEqual(try FocalRun.fingerprint(args, ranks: n), reference, "mpirun -n \(n)")
        }
        // Resumed from an early checkpoint on 2 ranks: the same stop and the same model bytes.
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path, model = dir.appendingPathComponent("m.safetensors").path
        let first = try FocalRun.run(args + ["--checkpoint-dir", ck, "--checkpoint-every", "2", "--keep-checkpoints", "1000",
                                             "--save-model", model])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model)), reference.model)
        let names = try FileManager.default.contentsOfDirectory(atPath: ck).sorted()
        XCTAssertGreaterThan(names.count, 2)
        for name in [names[1], names.last!] {
            try? FileManager.default.removeItem(atPath: model)
            let r = try FocalRun.run(args + ["--resume", ck + "/" + name, "--save-model", model, "--simulate-ranks", "2"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model)), reference.model, "resumed from \(name)")
            XCTAssertEqual(r.stdout.split(separator: "\n").first { $0.hasPrefix("Early stopping") },
                           first.stdout.split(separator: "\n").first { $0.hasPrefix("Early stopping") })
        }
    }

    func testCalibrationAndThresholdIdenticalForAnyRanksAndAppliedByPredict() throws {
        let x = Self.data.appendingPathComponent("X.npy").path, y = Self.data.appendingPathComponent("y.npy").path
        let args = trainArgs + ["--test-data", x, "--test-labels", y, "--calibrate", "temperature",
                                "--tune-threshold", "balanced-accuracy"]
        let reference = try FocalRun.fingerprint(args)
        for kind in ["calibration", "threshold"] {
            XCTAssertEqual(reference.metrics.filter { $0.contains(#""type":"\#(kind)""#) }.count, 2, "\(kind) on val and test")
        }
        XCTAssertEqual(try FocalRun.fingerprint(args, simulate: 3), reference, "--simulate-ranks 3")
        XCTAssertEqual(try FocalRun.fingerprint(args, ranks: 2), reference, "mpirun -n 2")

        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors").path, out = dir.appendingPathComponent("p.npy").path
        let run = try FocalRun.run(args + ["--save-model", model])
        XCTAssertEqual(run.status, 0, run.stderr)
        let tuned = try XCTUnwrap(run.stdout.components(separatedBy: "Tuned operating point").last)
        let p = try FocalRun.run(["predict", "--model", model, "--data", x, "--labels", y, "--out", out])
        XCTAssertEqual(p.status, 0, p.stderr)
        func firstEvalLine(_ text: String) -> String? { text.split(separator: "\n").first { $0.hasPrefix("Held-out evaluation") }.map(String.init) }
        XCTAssertNotNil(firstEvalLine(tuned))
        XCTAssertEqual(firstEvalLine(p.stdout), firstEvalLine(tuned), "predict applies the stored threshold")
        // --threshold overrides it: 1.0 puts (almost) every row in class 0, so the evaluation changes.
        let o = try FocalRun.run(["predict", "--model", model, "--data", x, "--labels", y, "--out", out, "--threshold", "1"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertNotEqual(firstEvalLine(o.stdout), firstEvalLine(tuned))
        // Calibrated probabilities: every row sums to 1 and differs from the uncalibrated softmax.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let probs = bytes.subdata(in: (10 + headerLength)..<bytes.count).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        XCTAssertEqual(probs.count, 569 * 2)
        XCTAssertEqual(probs[0] + probs[1], 1, accuracy: 1e-12)
    }

    func testFirstLineSaysScalingAndPredictAppliesIt() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors").path
        let x = Self.data.appendingPathComponent("X.npy").path, y = Self.data.appendingPathComponent("y.npy").path
        let on = try FocalRun.run(["--train-data", x, "--train-labels", y, "--test-data", x, "--test-labels", y,
                                   "--epochs", "10", "--save-model", model])
        XCTAssertEqual(on.status, 0, on.stderr)
        XCTAssertTrue(on.stdout.split(separator: "\n").first?.hasSuffix("standardization on") ?? false, on.stdout)
        let trainEval = on.stdout.components(separatedBy: "Held-out evaluation").last ?? ""
        let p = try FocalRun.run(["predict", "--model", model, "--data", x, "--labels", y,
                                  "--out", dir.appendingPathComponent("p.npy").path])
        XCTAssertEqual(p.status, 0, p.stderr)
        let predictEval = p.stdout.components(separatedBy: "Held-out evaluation").last ?? "-"
        // The per-class table rows (precision, recall, F1, support) are the same.
        func classRows(_ text: String) -> [String] {
            Array(text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("      ") }.prefix(2))
        }
        XCTAssertEqual(classRows(predictEval).count, 2, p.stdout)
        XCTAssertEqual(classRows(predictEval), classRows(trainEval), "predict reproduces the evaluation")
        let off = try FocalRun.run(["--epochs", "1"])
        XCTAssertTrue(off.stdout.split(separator: "\n").first?.hasSuffix("standardization off") ?? false, off.stdout)
    }

    func testBadInputsOneLineNoOutput() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = Self.data.appendingPathComponent("X.npy").path, y = Self.data.appendingPathComponent("y.npy").path
        let out = dir.appendingPathComponent("m.safetensors").path
        func wine(_ name: String) -> String { Self.data.deletingLastPathComponent().appendingPathComponent("wine_imb/\(name)").path }
        let cases: [([String], Int32, String)] = [
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.001"], 3, "--val-fraction"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "1.5"], 2, "--val-fraction"),
            (["--train-data", x, "--train-labels", y, "--val-data", x], 2, "--val-data"),
            (["--val-data", x, "--val-labels", y], 2, "--val-data"),
            (["--train-data", x, "--train-labels", y, "--val-seed", "3"], 2, "--val-seed"),
            (["--train-data", x, "--train-labels", y, "--early-stopping", "3"], 2, "--early-stopping"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.2", "--early-stopping", "0"], 2, "--early-stopping"),
            (["--train-data", x, "--train-labels", y, "--monitor", "loss"], 2, "--monitor"),
            (["--train-data", x, "--train-labels", y, "--tune-threshold", "f1"], 2, "--tune-threshold"),
            (["--train-data", x, "--train-labels", y, "--calibrate", "temperature"], 2, "--calibrate"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.2", "--calibrate", "platt"], 2, "--calibrate"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.2", "--tune-threshold", "recall"], 2, "--tune-threshold"),
            (["--train-data", wine("X.npy"), "--train-labels", wine("y.npy"), "--val-fraction", "0.3", "--tune-threshold", "f1"],
             3, "--tune-threshold"),
        ]
        for (args, status, phrase) in cases {
            let r = try FocalRun.run(args + ["--save-model", out, "--epochs", "1"])
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(phrase), "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(args): output written")
        }
        // predict with a model whose standardization (30 features) does not fit the data (64).
        let model = dir.appendingPathComponent("model.safetensors").path
        XCTAssertEqual(try FocalRun.run(["--train-data", x, "--train-labels", y, "--epochs", "1", "--save-model", model]).status, 0)
        let digits = Self.data.deletingLastPathComponent().appendingPathComponent("digits9/X.npy").path
        let pout = dir.appendingPathComponent("p.npy").path
        let r = try FocalRun.run(["predict", "--model", model, "--data", digits, "--out", pout])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("digits9/X.npy") && r.stderr.contains("64 features"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pout))
    }
}
