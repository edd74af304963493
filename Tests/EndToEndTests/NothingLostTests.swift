// NothingLostTests: checkpoints of one run never pruned by another, one job per checkpoint
// directory, outputs never onto inputs, failures before the first step, integrity of the
// checkpoint header and position, and no file left behind by a failed generate, plot or predict.
import Foundation
import XCTest
import TestSupport
import FocalFormats
import FocalRun

final class NothingLostTests: XCTestCase {
    func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    func checkpoints(_ dir: String) -> [String] { files(dir).filter { $0.hasPrefix("ckpt-") } }

    /// Waits until `condition` holds (at most `seconds`).
    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    // MARK: - Lineages

    /// A run started in a directory holding another run's later-step checkpoints keeps its own
    /// newest checkpoints (the old pruning deleted them, keeping the other run's higher names),
    /// leaves the other run's files alone, and the checkpoint path it prints exists.
    func testOtherRunsLaterCheckpointsKeptAndPrintedResumePathExists() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path
        let first = try FocalRun.run(["--epochs", "40", "--log-every", "100", "--checkpoint-dir", ck, "--keep-checkpoints", "2"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let older = checkpoints(ck)
        XCTAssertEqual(older, ["ckpt-step0000000039-epoch000039.safetensors", "ckpt-step0000000040-epoch000040.safetensors"])

        let job = try MPIRun.start(try FocalRun.binary, ranks: nil,
                                   arguments: ["--epochs", "100000", "--log-every", "100000", "--lr", "0.002", "--hidden", "8",
                                               "--checkpoint-dir", ck, "--keep-checkpoints", "2"])
        // Signal once the second run has written at least three checkpoints of its own (pruning ran).
        XCTAssertTrue(waitFor(60) { checkpoints(ck).count >= 4 }, "the second run wrote no checkpoints: \(checkpoints(ck))")
        job.signal(SIGTERM)
        let r = try job.wait(timeout: 30)
        XCTAssertFalse(r.timedOut)
        XCTAssertTrue(r.stderr.contains("interrupted by a signal"), r.stderr)
        let kept = checkpoints(ck)
        for name in older { XCTAssertTrue(kept.contains(name), "the first run's \(name) was deleted: \(kept)") }
        let own = kept.filter { !older.contains($0) }
        XCTAssertEqual(own.count, 2, "the second run keeps its newest 2: \(kept)")
        let printed = r.stderr.range(of: #"[^\s'"]*ckpt-step[0-9]+-epoch[0-9]+\.safetensors"#, options: .regularExpression)
            .map { String(r.stderr[$0]) }
        XCTAssertNotNil(printed, "no checkpoint path printed: \(r.stderr)")
        if let printed {
            XCTAssertTrue(FileManager.default.fileExists(atPath: printed), "the printed resume path \(printed) does not exist: \(kept)")
            XCTAssertFalse(older.contains(URL(fileURLWithPath: printed).lastPathComponent), "printed the other run's file")
        }
    }

    /// A second job on a directory held by a running job is refused, naming the holder's host and
    /// pid; a holder killed with SIGKILL does not block the next job.
    func testSecondJobRefusedAndKilledHolderDoesNotBlock() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path
        let holder = try MPIRun.start(try FocalRun.binary, ranks: nil,
                                      arguments: ["--epochs", "100000", "--log-every", "100000", "--hidden", "8", "--checkpoint-dir", ck])
        XCTAssertTrue(waitFor(60) { !checkpoints(ck).isEmpty }, "the first job wrote no checkpoint")
        let second = try FocalRun.run(["--epochs", "2", "--checkpoint-dir", ck], timeout: 60)
        XCTAssertEqual(second.status, 3, second.stderr)
        XCTAssertEqual(second.stderr.split(separator: "\n").count, 1, second.stderr)
        XCTAssertTrue(second.stderr.contains(ck), second.stderr)
        XCTAssertTrue(second.stderr.contains("pid \(holder.pid)"), "holder pid \(holder.pid): \(second.stderr)")
        XCTAssertTrue(second.stderr.contains("host \(ProcessInfo.processInfo.hostName)") || second.stderr.contains("host "), second.stderr)
        XCTAssertFalse(second.stdout.contains("Epoch:"), "the refused job trained: \(second.stdout)")

        holder.signal(SIGKILL)
        let h = try holder.wait(timeout: 30)
        XCTAssertEqual(h.status, 128 + SIGKILL)
        let next = try FocalRun.run(["--epochs", "2", "--checkpoint-dir", ck], timeout: 60)
        XCTAssertEqual(next.status, 0, "a crashed holder blocks the directory: \(next.stderr)")
        XCTAssertTrue(checkpoints(ck).contains("ckpt-step0000000002-epoch000002.safetensors"), "\(checkpoints(ck))")
    }

    // MARK: - Outputs onto inputs

    /// An output that is the same file as an input or another output is refused (exit 2) before
    /// the run, and the input is unchanged.
    func testOutputOntoInputOrOtherOutputRefused() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        XCTAssertEqual(try FocalRun.run(["generate", "--out", data, "--samples", "200"]).status, 0)
        let x = data + "/X_train.npy", y = data + "/y_train.npy"
        let before = try Data(contentsOf: URL(fileURLWithPath: x))
        let model = dir.appendingPathComponent("m.safetensors").path
        let f = dir.appendingPathComponent("f").path
        let cases: [(args: [String], needle: String)] = [
            (["--train-data", x, "--train-labels", y, "--save-model", x], "--save-model \(x): is the same file as the input --train-data"),
            // Another spelling of the same file (a relative component) is found by its inode.
            (["--train-data", x, "--train-labels", y, "--metrics-out", data + "/../data/X_train.npy"], "--metrics-out"),
            (["--metrics-out", f, "--save-model", f], "--save-model \(f): is the same file as the output --metrics-out"),
            (["--plots", f, "--checkpoint-dir", f], "--checkpoint-dir"),
        ]
        for c in cases {
            let r = try FocalRun.run(["--epochs", "2"] + c.args)
            XCTAssertEqual(r.status, 2, "\(c.args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(c.needle), "\(c.needle): \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("Epoch:"), "trained before refusing: \(c.args)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: x)), before, "the input was changed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f))

        XCTAssertEqual(try FocalRun.run(["--train-data", x, "--train-labels", y, "--epochs", "2", "--save-model", model]).status, 0)
        let test = data + "/X_test.npy"
        let testBefore = try Data(contentsOf: URL(fileURLWithPath: test))
        let p = try FocalRun.run(["predict", "--model", model, "--data", test, "--out", test])
        XCTAssertEqual(p.status, 2, p.stderr)
        XCTAssertTrue(p.stderr.contains("--out \(test): is the same file as the input --data"), p.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: test)), testBefore, "predict overwrote its input")
    }

    // MARK: - Failing before the first step

    /// A 250-byte output name (its temporary file would pass NAME_MAX), an empty name and a
    /// directory are refused before the first step: no loss line, no metrics file.
    func testBadOutputNamesFailBeforeFirstStep() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let long = dir.appendingPathComponent(String(repeating: "m", count: 250)).path
        for (option, value, needle) in [("--save-model", long, "250 bytes"), ("--metrics-out", long, "250 bytes"),
                                        ("--save-model", dir.path, "is a directory"), ("--save-model", "", "empty")] {
            var args = ["--epochs", "100000", "--log-every", "1", option, value]
            if option != "--metrics-out" { args += ["--metrics-out", metrics] }
            let r = try FocalRun.run(args, timeout: 60)
            XCTAssertNotEqual(r.status, 0, "\(option) '\(value)'")
            XCTAssertTrue(r.status == 2 || r.status == 3, "\(option): \(r.status) \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(needle), "\(needle): \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("Epoch:"), "trained before failing: \(option)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: metrics), "a metrics file was written")
        }
    }

    /// 1e300 in a float64 .npy trained in float32 is refused at load time naming the file and row
    /// (exit 3), also when standardization's sums overflow first; in float64 without scaling it trains.
    func testFeatureOverflowingTrainingPrecisionNamesFileAndRow() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        XCTAssertEqual(try FocalRun.run(["generate", "--out", data, "--samples", "200"]).status, 0)
        let x = data + "/X_train.npy"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: x))
        let headerEnd = bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1
        let features = 20, row = 37, column = 4
        var big = (1e300).bitPattern.littleEndian
        withUnsafeBytes(of: &big) { bytes.replaceSubrange((headerEnd + (row * features + column) * 8)..<(headerEnd + (row * features + column + 1) * 8), with: $0) }
        try bytes.write(to: URL(fileURLWithPath: x))
        for ranks in [nil, 3] as [Int?] {
            // Without standardization the value reaches the float32 cast; with it (the default for
            // file input) its squared deviation overflows float64 first: both name file, row, column.
            for (extra, needle) in [(["--standardize", "off"], "float32"), ([], "--standardize")] {
                let r = try FocalRun.run(["--train-data", x, "--train-labels", data + "/y_train.npy", "--epochs", "2"] + extra, ranks: ranks)
                XCTAssertEqual(r.status, 3, r.stderr)
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
                XCTAssertTrue(r.stderr.contains("\(x): row \(row)") && r.stderr.contains("column \(column)") && r.stderr.contains(needle), r.stderr)
                XCTAssertFalse(r.stdout.contains("Epoch:"))
            }
        }
        let model = dir.appendingPathComponent("m.safetensors").path
        let ok = try FocalRun.run(["--train-data", x, "--train-labels", data + "/y_train.npy", "--epochs", "2", "--precision", "float64",
                                   "--standardize", "off"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        // predict with a float32 model refuses the row too, and writes nothing.
        XCTAssertEqual(try FocalRun.run(["--epochs", "2", "--save-model", model]).status, 0)
        let out = dir.appendingPathComponent("pred").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let p = try FocalRun.run(["predict", "--model", model, "--data", x, "--out", out + "/p.npy"], ranks: 2)
        XCTAssertEqual(p.status, 3, p.stderr)
        XCTAssertTrue(p.stderr.contains("\(x): row \(row)") && p.stderr.contains("column \(column)"), p.stderr)
        XCTAssertEqual(files(out), [], "predict left files")
    }

    // MARK: - Integrity

    /// `"gamma":2.0` edited to `3.0` in a checkpoint header (same length: only the checksum can
    /// tell) is refused, also when the resumed run asks for gamma 3.
    func testEditedHeaderRefusedByChecksum() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path
        XCTAssertEqual(try FocalRun.run(["--epochs", "2", "--checkpoint-dir", ck]).status, 0)
        let file = ck + "/" + checkpoints(ck).last!
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let needle = Data(#"gamma\":2.0"#.utf8)
        let at = try XCTUnwrap(bytes.range(of: needle), "no gamma in the header")
        bytes[at.upperBound - 3] = UInt8(ascii: "3")
        let edited = dir.appendingPathComponent("edited.safetensors").path
        try bytes.write(to: URL(fileURLWithPath: edited))
        let r = try FocalRun.run(["--epochs", "4", "--gamma", "3", "--resume", edited])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("checksum"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    /// Positions that cannot occur, written with a valid checksum, are refused in one line with
    /// exit 3 (never a trap), on one process and under mpirun.
    func testCraftedPositionRefused() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path
        XCTAssertEqual(try FocalRun.run(["--epochs", "3", "--checkpoint-dir", ck]).status, 0)
        let original = try SafetensorsFile.read(path: ck + "/" + checkpoints(ck).last!)
        XCTAssertEqual(try original.int64s("state.counters"), [3, 0, 3, 0, 0, 3], "epoch, batch, step, rows, skipped, adam step")
        // Counters: epoch, batches done, global step, rows, skipped, Adam step (full batch: 1 batch per epoch).
        let crafted: [(String, [Int64])] = [
            ("negative epoch", [-1, 0, 3, 0, 0, 3]),
            ("epoch beyond the run", [9_000_000_000, 0, 9_000_000_000, 0, 0, 3]),
            ("huge counters", [Int64.max, Int64.max, Int64.max, Int64.max, Int64.max, Int64.max]),
            ("batch beyond the batch count", [1, 5, 6, 0, 0, 3]),
            ("inconsistent step", [2, 0, 77, 0, 0, 3]),
            ("negative Adam step", [2, 0, 2, 0, 0, -4]),
        ]
        for (name, counters) in crafted {
            var f = original
            f.tensors["state.counters"] = .init(shape: [6], int64s: counters)
            let path = dir.appendingPathComponent("crafted.safetensors").path
            try Checkpoint.sealed(f).write(path: path)
            for ranks in [nil, 2] as [Int?] {
                let r = try FocalRun.run(["--epochs", "5", "--resume", path], ranks: ranks)
                XCTAssertEqual(r.status, 3, "\(name): \(r.stderr)")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("impossible position") || r.stderr.contains("beyond --epochs 5"), "\(name): \(r.stderr)")
            }
        }
        // The untouched state, resealed, still resumes (the check refuses only what cannot occur).
        let resealed = dir.appendingPathComponent("resealed.safetensors").path
        try Checkpoint.sealed(original).write(path: resealed)
        let ok = try FocalRun.run(["--epochs", "5", "--resume", resealed])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    // MARK: - Nothing left behind

    /// generate, plot and predict failing after their first write leave no file behind.
    func testFailedGeneratePlotPredictLeaveNothing() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // generate: class weights that do not fit the classes fail after the rows exist.
        let fresh = dir.appendingPathComponent("fresh").path
        let g = try FocalRun.run(["generate", "--out", fresh, "--samples", "200", "--class-weights", "1,2,3"])
        XCTAssertEqual(g.status, 3, g.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh), "generate left \(files(fresh))")
        // generate: the third output cannot be written (a directory there): no temporary files.
        let blocked = dir.appendingPathComponent("blocked").path
        try FileManager.default.createDirectory(atPath: blocked + "/X_test.npy", withIntermediateDirectories: true)
        let g2 = try FocalRun.run(["generate", "--out", blocked, "--samples", "200"], ranks: 2)
        XCTAssertNotEqual(g2.status, 0)
        XCTAssertEqual(files(blocked), ["X_test.npy"], "generate left files")

        // plot: the last picture cannot be written: no other picture stays.
        let data = dir.appendingPathComponent("data").path
        XCTAssertEqual(try FocalRun.run(["generate", "--out", data, "--samples", "200"]).status, 0)
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let model = dir.appendingPathComponent("m.safetensors").path
        XCTAssertEqual(try FocalRun.run(["--epochs", "3", "--metrics-out", metrics, "--save-model", model]).status, 0)
        let plots = dir.appendingPathComponent("plots").path
        try FileManager.default.createDirectory(atPath: plots + "/recall.svg", withIntermediateDirectories: true)
        let p = try FocalRun.run(["plot", metrics, "--out", plots])
        XCTAssertNotEqual(p.status, 0)
        XCTAssertEqual(files(plots), ["recall.svg"], "plot left files")
        let newPlots = dir.appendingPathComponent("newplots").path
        let bad = dir.appendingPathComponent("bad.jsonl").path
        try Data("{\"type\": \"epoch\", \"epoch\": \n".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertNotEqual(try FocalRun.run(["plot", bad, "--out", newPlots]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: newPlots), "plot left \(files(newPlots))")

        // predict: labels that do not match the rows fail after the outputs were opened.
        let out = dir.appendingPathComponent("pred").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try FocalRun.run(["predict", "--model", model, "--data", data + "/X_test.npy", "--labels", data + "/y_train.npy",
                                  "--out", out + "/p.npy"], ranks: 2)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(files(out), [], "predict left files")
    }
}
