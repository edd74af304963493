// SignalUSR1Tests: SIGUSR1 (Slurm's warning ahead of a time limit, `--signal=USR1@120`) stops a
// run like SIGTERM: at the next step boundary, with a checkpoint, exit 6 and the resume line;
// resuming from that checkpoint gives the uninterrupted run's bytes.
import Foundation
import TestSupport
import XCTest

final class SignalUSR1Tests: XCTestCase {
    func testUSR1StopsWithACheckpointAndResumes() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--epochs", "3000", "--log-every", "500", "--hidden", "8"]
        let full = dir.appendingPathComponent("full.safetensors").path
        XCTAssertEqual(try FocalRun.run(common + ["--save-model", full], timeout: 300).status, 0)
        let ck = dir.appendingPathComponent("ck").path
        let job = try MPIRun.start(try FocalRun.binary, ranks: nil,
                                   arguments: common + ["--checkpoint-dir", ck, "--checkpoint-every", "0"])
        let started = Date()
        while !((try? String(contentsOfFile: job.outPath, encoding: .utf8)) ?? "").contains("Epoch: 0"),
              Date().timeIntervalSince(started) < 60 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        job.signal(SIGUSR1)
        let r = try job.wait(timeout: 30)
        XCTAssertEqual(r.status, 6, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted by a signal"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--resume"), r.stderr)
        let kept = try FileManager.default.contentsOfDirectory(atPath: ck).filter { $0.hasPrefix("ckpt-") }
        XCTAssertEqual(kept.count, 1, "\(kept)")
        let out = dir.appendingPathComponent("resumed.safetensors").path
        let resumed = try FocalRun.run(common + ["--resume", ck, "--save-model", out], ranks: 2, timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: full)))
    }
}
