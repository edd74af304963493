// FaultTests: no hangs and no lost work. Injected faults on one rank end every rank within
// seconds with one message; a killed or signalled job resumes from its checkpoint to the
// uninterrupted run's bytes, also on a different number of ranks.
import Foundation
import XCTest
import TestSupport

final class FaultTests: XCTestCase {
    func runTimed(_ args: [String], ranks: Int?, timeout: Double = 60) throws -> (MPIRunResult, Double) {
        let t = Date()
        let r = try FocalRun.run(args, ranks: ranks, timeout: timeout)
        return (r, Date().timeIntervalSince(t))
    }

    func testInjectedFaultsEndEveryRankWithinSeconds() throws {
        let cases: [(kind: String, status: Int32, needle: String, limit: Double)] = [
            ("nan", 4, "non-finite loss or gradient at epoch 5, step 5 (first seen on rank 2)", 10),
            ("error", 5, "rank 2 reported a failure", 10),
            ("hang", 5, "did not complete within 3 s", 15),
            ("exit", 9, "", 10),
        ]
        for c in cases {
            let (r, seconds) = try runTimed(["--epochs", "50", "--debug-fault", "2:5:\(c.kind)", "--stall-timeout", "3"], ranks: 4)
            print("fault \(c.kind): status \(r.status) after \(seconds) s: \(r.stderr.split(separator: "\n").first ?? "")")
            XCTAssertFalse(r.timedOut, "\(c.kind) hung")
            XCTAssertEqual(r.status, c.status, "\(c.kind): \(r.stderr)")
            XCTAssertLessThan(seconds, c.limit, c.kind)
            if !c.needle.isEmpty { XCTAssertTrue(r.stderr.contains(c.needle), "\(c.kind): \(r.stderr)") }
            if c.kind == "nan" || c.kind == "error" {
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
            }
        }
    }

    /// --on-nan skip: every rank skips the same update (one step of the fault's epoch, recorded as
    /// skipped), the run completes every epoch, and training goes on with finite losses after it.
    func testNaNSkipCompletes() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let (r, _) = try runTimed(["--epochs", "8", "--log-every", "1", "--debug-fault", "1:3:nan", "--on-nan", "skip",
                                   "--metrics-out", metrics], ranks: 3)
        XCTAssertEqual(r.status, 0, r.stderr)
        guard r.status == 0 else { return }
        let records = try MultiHostTests.records(metrics)
        let epochs = records.filter { $0["type"] as? String == "epoch" }
        XCTAssertEqual(epochs.map { $0["epoch"] as? Int }, (0..<8).map { $0 }, "one record per epoch")
        // One step per epoch (full batch): the fault's step 3 is epoch 3's only step.
        XCTAssertEqual(epochs.map { $0["skipped_steps"] as? Int }, [0, 0, 0, 1, 0, 0, 0, 0], "skipped steps per epoch")
        let later = epochs.dropFirst(4).compactMap { $0["loss"] as? Double }
        XCTAssertEqual(later.count, 4, "losses after the skipped step: \(epochs)")
        XCTAssertTrue(later.allSatisfy(\.isFinite), "losses after the skipped step: \(later)")
        let eval = records.first { $0["type"] as? String == "eval" }
        XCTAssertTrue((eval?["loss"] as? Double)?.isFinite ?? false, "held-out loss: \(String(describing: eval))")
    }

    /// SIGKILL to one rank mid-run ends the job; resuming from the last checkpoint on 4 and on 2
    /// ranks gives the uninterrupted run's model bytes.
    func testKilledRankThenResumeOnFourAndTwoRanks() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--epochs", "12", "--chunk-size", "64", "--batch-size", "200"]
        let full = dir.appendingPathComponent("full.safetensors").path
        XCTAssertEqual(try FocalRun.run(common + ["--save-model", full]).status, 0)
        let ck = dir.appendingPathComponent("ck").path
        // Rank 3 dies (exit, as after SIGKILL) at step 30, after the epoch-7 checkpoint (4 steps per epoch).
        let (killed, seconds) = try runTimed(common + ["--checkpoint-dir", ck, "--checkpoint-every", "1", "--debug-fault", "3:30:exit"], ranks: 4)
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertLessThan(seconds, 10)
        let kept = try FileManager.default.contentsOfDirectory(atPath: ck).filter { $0.hasPrefix("ckpt-") }.sorted()
        XCTAssertEqual(kept.count, 3, "keeps the newest 3: \(kept)")
        XCTAssertTrue(kept.last!.contains("epoch000007"), "\(kept)")
        for ranks in [4, 2] {
            let out = dir.appendingPathComponent("resumed\(ranks).safetensors").path
            let r = try FocalRun.run(common + ["--resume", ck, "--save-model", out], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("resumed at epoch 7"), r.stdout)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: full)),
                           "resumed on \(ranks) ranks differs from the uninterrupted run")
        }
    }

    /// SIGTERM to mpirun: a checkpoint is written at the next step, the job exits non-zero saying
    /// how to resume, and resuming reproduces the uninterrupted run.
    func testSIGTERMWritesCheckpointAndResumes() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Long enough that the signal (mpirun forwards it to the ranks after ~1 s here) lands mid-run.
        let common = ["--epochs", "8000", "--log-every", "1000", "--hidden", "8"]
        let full = dir.appendingPathComponent("full.safetensors").path
        XCTAssertEqual(try FocalRun.run(common + ["--save-model", full], timeout: 300).status, 0)
        let ck = dir.appendingPathComponent("ck").path
        let job = try MPIRun.start(try FocalRun.binary, ranks: 2,
                                   arguments: common + ["--checkpoint-dir", ck, "--checkpoint-every", "0"])
        // Signal once training has started (the first loss line is out), so the job is mid-run.
        let started = Date()
        while !((try? String(contentsOfFile: job.outPath, encoding: .utf8)) ?? "").contains("Epoch: 0"),
              Date().timeIntervalSince(started) < 60 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        job.signal(SIGTERM)
        let r = try job.wait(timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("interrupted by a signal"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--resume"), r.stderr)
        let kept = try FileManager.default.contentsOfDirectory(atPath: ck).filter { $0.hasPrefix("ckpt-") }
        XCTAssertEqual(kept.count, 1, "\(kept)")
        let out = dir.appendingPathComponent("resumed.safetensors").path
        let resumed = try FocalRun.run(common + ["--resume", ck, "--save-model", out], ranks: 3, timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: full)))
    }

    /// Truncated, corrupted and mismatched checkpoints are refused in one line; nothing is written.
    func testBadCheckpointsRefused() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ck = dir.appendingPathComponent("ck").path
        XCTAssertEqual(try FocalRun.run(["--epochs", "2", "--checkpoint-dir", ck]).status, 0)
        let file = ck + "/" + (try FileManager.default.contentsOfDirectory(atPath: ck).sorted().last!)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try bytes.prefix(bytes.count - 100).write(to: truncated)
        bytes[bytes.count - 10] ^= 0x40
        let flipped = dir.appendingPathComponent("flipped.safetensors")
        try bytes.write(to: flipped)
        let model = dir.appendingPathComponent("m.safetensors").path
        for (path, extra, needle) in [(truncated.path, [String](), "truncated"), (flipped.path, [], "checksum"),
                                      (file, ["--hidden", "32"], "model: checkpoint \"20-64-2\", now \"20-32-2\""),
                                      (file, ["--gamma", "1"], "gamma")] {
            let r = try FocalRun.run(["--epochs", "4", "--resume", path, "--save-model", model] + extra, ranks: 2)
            XCTAssertEqual(r.status, 3, "\(path) \(extra): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(needle) || r.stderr.contains("payload") || r.stderr.contains("outside"), "\(needle): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: model), "an output was written despite the refusal")
        }
    }
}
