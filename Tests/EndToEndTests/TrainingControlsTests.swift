// TrainingControlsTests: the controls of issue 13 (LR schedules with warmup, gradient clipping,
// sigmoid focal loss) end to end: a few configurations combining several controls give the same
// loss log, model bytes and metrics on 1 process, --simulate-ranks and mpirun; a resume under a
// schedule gives the uninterrupted run's bytes; bad input is one line, exit 2, no output; predict
// writes sigmoid scores for a sigmoid model.
import Foundation
import XCTest
import TestSupport

final class TrainingControlsTests: XCTestCase {
    func check(_ name: String, _ arguments: [String], simulate: [Int], mpirun: [Int]) throws {
        let reference = try FocalRun.fingerprint(arguments)
        XCTAssertFalse(reference.logLines.isEmpty, "\(name): no loss lines")
        // The epoch records carry the schedule's rate and the gradient norms.
        let epochs = reference.metrics.filter { $0.contains("\"type\":\"epoch\"") }
        XCTAssertFalse(epochs.isEmpty, name)
        for e in epochs { XCTAssertTrue(e.contains("\"grad_norm\":") && e.contains("\"grad_norm_max\":"), "\(name): \(e)") }
        for n in simulate {
            XCTAssertEqual(try FocalRun.fingerprint(arguments, simulate: n), reference, "\(name): --simulate-ranks \(n) differs from one process")
        }
        for n in mpirun {
            XCTAssertEqual(try FocalRun.fingerprint(arguments, ranks: n), reference, "\(name): mpirun -n \(n) differs from one process")
        }
        print("\(name): identical loss log, model bytes and metrics for 1 process, --simulate-ranks \(simulate), mpirun -n \(mpirun)")
    }

    func testWarmupCosineClippingShuffledMiniBatches() throws {
        try check("warmup+cosine+clip", ["--batch-size", "96", "--chunk-size", "20", "--shuffle-batches", "--epochs", "4",
                                         "--log-every", "1", "--lr", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "5",
                                         "--min-lr", "0.0001", "--clip-grad-norm", "1.5"],
                  simulate: [3, 7], mpirun: [2, 3])
    }

    func testSigmoidFocalStepScheduleWarmupEpochsFloat64Replicated() throws {
        try check("sigmoid+step+warmup-epochs", ["--classes", "3", "--samples", "600", "--loss", "sigmoid-focal",
                                                 "--sigmoid-alpha", "0.4", "--batch-size", "128", "--chunk-size", "32",
                                                 "--lr-schedule", "step", "--step-size", "4", "--step-gamma", "0.5",
                                                 "--warmup-epochs", "1", "--precision", "float64", "--optimizer-on", "replicated",
                                                 "--epochs", "4", "--log-every", "1", "--reduction", "sum", "--clip-grad-norm", "5"],
                  simulate: [3], mpirun: [2, 3])
    }

    func testLinearScheduleWithClippingFourClasses() throws {
        try check("linear+clip", ["--samples", "600", "--features", "12", "--informative", "6", "--redundant", "2",
                                  "--classes", "4", "--weights", "0.5,0.25,0.15,0.1", "--hidden", "16,8",
                                  "--batch-size", "100", "--chunk-size", "16", "--lr-schedule", "linear", "--lr", "0.005",
                                  "--min-lr", "0.0005", "--clip-grad-norm", "0.8", "--epochs", "3", "--log-every", "1",
                                  "--warmup-steps", "2", "--warmup-start-factor", "0.3"],
                  simulate: [3], mpirun: [3])
    }

    /// Two epochs, then a resume on other rank counts to four: the uninterrupted run's bytes.
    func testResumeUnderAScheduleGivesTheSameBytes() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let common = ["--batch-size", "100", "--lr", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "6",
                      "--clip-grad-norm", "1", "--epochs", "4", "--log-every", "1"]
        let straight = try FocalRun.run(common + ["--save-model", p("straight.safetensors")])
        XCTAssertEqual(straight.status, 0, straight.stderr)
        let first = try FocalRun.run(common + ["--checkpoint-dir", p("ck"), "--save-model", p("unused.safetensors")], ranks: 2)
        XCTAssertEqual(first.status, 0, first.stderr)
        let ck = p("ck/ckpt-step0000000016-epoch000002.safetensors")
        XCTAssertTrue(FileManager.default.fileExists(atPath: ck))
        let resumed = try FocalRun.run(common + ["--resume", ck, "--save-model", p("resumed.safetensors"), "--simulate-ranks", "3"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: p("straight.safetensors"))))
        // A changed --epochs under a schedule that depends on it: one line naming --epochs, exit 2, no output.
        var changed = common
        changed[changed.firstIndex(of: "--epochs")! + 1] = "6"
        let refused = try FocalRun.run(changed + ["--resume", ck, "--save-model", p("refused.safetensors")], ranks: 2)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--epochs"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p("refused.safetensors")))
    }

    func testBadControlsAreOneLineExitTwoNoOutput() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.safetensors").path
        let cases: [([String], String)] = [
            (["--warmup-steps", "30", "--batch-size", "100"], "--warmup-steps"),   // 3 epochs x 8 steps = 24
            (["--warmup-epochs", "3"], "--warmup-epochs"),
            (["--warmup-steps", "2", "--warmup-epochs", "1"], "--warmup-steps and --warmup-epochs"),
            (["--lr-schedule", "step"], "--step-size"),
            (["--min-lr", "0.5"], "--min-lr"),
            (["--clip-grad-norm", "0"], "--clip-grad-norm"),
            (["--loss", "sigmoid-focal", "--sigmoid-alpha", "1.5"], "--sigmoid-alpha"),
            (["--sigmoid-alpha", "0.5"], "--sigmoid-alpha"),
            (["--loss", "sigmoid-focal", "--class-weights", "none"], "--class-weights"),
            (["--loss", "sigmoid-focal", "--reduction", "weighted-mean"], "--reduction"),
        ]
        for (args, needle) in cases {
            for ranks in [nil, 2] as [Int?] {
                let r = try FocalRun.run(["--epochs", "3", "--save-model", model] + args, ranks: ranks, timeout: 30)
                XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: model), "\(args): wrote a model")
            }
        }
    }

    /// predict on a sigmoid model: per-class sigmoid scores (rows do not sum to 1), the class is
    /// their argmax, and the evaluation equals the training run's.
    func testPredictWritesSigmoidScoresForASigmoidModel() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        XCTAssertEqual(try FocalRun.run(["generate", "--out", dir.path, "--classes", "3", "--samples", "600"]).status, 0)
        let train = try FocalRun.run(["--classes", "3", "--samples", "600", "--loss", "sigmoid-focal", "--epochs", "20",
                                      "--save-model", p("m.safetensors")])
        XCTAssertEqual(train.status, 0, train.stderr)
        let r = try FocalRun.run(["predict", "--model", p("m.safetensors"), "--data", p("X_test.npy"),
                                  "--labels", p("y_test.npy"), "--out", p("s.npy")], ranks: 2)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("sigmoid scores"), r.stdout)
        func table(_ s: String) -> [String] {
            s.split(separator: "\n").map(String.init).filter { $0.hasPrefix("  ") && !$0.contains("epoch") && !$0.contains("AUC") && !$0.contains("auc") }
        }
        let scores = try Self.npyDoubles(p("s.npy"))
        let classes = try Self.npyInt64s(p("s_class.npy"))
        XCTAssertEqual(scores.count, classes.count * 3)
        var offSum = 0
        for (i, c) in classes.enumerated() {
            let row = Array(scores[(i * 3)..<(i * 3 + 3)])
            XCTAssertTrue(row.allSatisfy { $0 > 0 && $0 < 1 })
            XCTAssertEqual(Int64(row.firstIndex(of: row.max()!)!), c)
            if abs(row.reduce(0, +) - 1) > 1e-3 { offSum += 1 }
        }
        XCTAssertGreaterThan(offSum, classes.count / 2, "sigmoid scores should not be softmax probabilities")
        XCTAssertEqual(table(r.stdout).prefix(6), table(train.stdout).prefix(6))
    }

    // MARK: - Samplers

    /// The model bytes of sampled runs are identical for 1 to 5 ranks and --simulate-ranks 7.
    func testUndersampledMiniBatchesOnOneToFiveRanksAndSimulatedSeven() throws {
        try check("undersample", ["--sampler", "undersample", "--batch-size", "64", "--chunk-size", "16", "--epochs", "3",
                                  "--log-every", "1", "--class-weights", "none", "--lr", "0.005", "--clip-grad-norm", "2",
                                  "--warmup-steps", "4"],
                  simulate: [7], mpirun: [2, 3, 4, 5])
    }

    func testBalancedAndOversampledCombinedWithOtherControls() throws {
        try check("balanced+sigmoid", ["--sampler", "balanced", "--batch-size", "96", "--chunk-size", "24", "--epochs", "3",
                                       "--log-every", "1", "--loss", "sigmoid-focal", "--lr-schedule", "linear",
                                       "--warmup-steps", "3", "--shuffle-batches"],
                  simulate: [3], mpirun: [2, 3])
        try check("oversample+float64", ["--sampler", "oversample", "--classes", "3", "--weights", "0.7,0.2",
                                         "--batch-size", "128", "--chunk-size", "32", "--epochs", "2", "--log-every", "1",
                                         "--precision", "float64", "--optimizer-on", "replicated"],
                  simulate: [3], mpirun: [3])
    }

    /// A sampled run resumed from a mid-epoch checkpoint on other rank counts ends with the bytes of
    /// the uninterrupted run; a --batch-size larger than a sampled epoch is refused.
    func testSampledRunResumesToTheSameBytes() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let common = ["--sampler", "undersample", "--batch-size", "50", "--epochs", "3", "--log-every", "1"]
        let straight = try FocalRun.run(common + ["--save-model", p("straight.safetensors")])
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertTrue(straight.stdout.contains("sampler undersample: 336 rows per epoch, classes 168/168"), straight.stdout)
        let first = try FocalRun.run(common + ["--checkpoint-dir", p("ck"), "--checkpoint-every", "0",
                                               "--checkpoint-every-steps", "10", "--save-model", p("unused.safetensors")], ranks: 3)
        XCTAssertEqual(first.status, 0, first.stderr)
        let ck = p("ck/ckpt-step0000000010-epoch000001.safetensors")
        XCTAssertTrue(FileManager.default.fileExists(atPath: ck), (try? FileManager.default.contentsOfDirectory(atPath: p("ck")).joined(separator: ",")) ?? "")
        let resumed = try FocalRun.run(common + ["--resume", ck, "--save-model", p("resumed.safetensors")], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: p("straight.safetensors"))))
        let refused = try FocalRun.run(["--sampler", "undersample", "--batch-size", "400", "--save-model", p("no.safetensors")], ranks: 2)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--batch-size"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p("no.safetensors")))
    }

    static func npyPayload(_ path: String) throws -> Data {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(d[8]) | Int(d[9]) << 8
        return d.subdata(in: (10 + headerLength)..<d.count)
    }
    static func npyDoubles(_ path: String) throws -> [Double] {
        try npyPayload(path).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }
    static func npyInt64s(_ path: String) throws -> [Int64] {
        try npyPayload(path).withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    }
}
