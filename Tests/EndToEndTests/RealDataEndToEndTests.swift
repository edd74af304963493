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
        let cases: [([String], Int32, String)] = [
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.001"], 3, "--val-fraction"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "1.5"], 2, "--val-fraction"),
            (["--train-data", x, "--train-labels", y, "--val-data", x], 2, "--val-data"),
            (["--val-data", x, "--val-labels", y], 2, "--val-data"),
            (["--train-data", x, "--train-labels", y, "--val-seed", "3"], 2, "--val-seed"),
            (["--train-data", x, "--train-labels", y, "--early-stopping", "3"], 2, "--early-stopping"),
            (["--train-data", x, "--train-labels", y, "--val-fraction", "0.2", "--early-stopping", "0"], 2, "--early-stopping"),
            (["--train-data", x, "--train-labels", y, "--monitor", "loss"], 2, "--monitor"),
        ]
        for (args, status, phrase) in cases {
            let r = try FocalRun.run(args + ["--save-model", out, "--epochs", "1"])
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(phrase), "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(args): output written")
        }
    }
}
