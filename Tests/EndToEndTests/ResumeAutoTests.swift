// ResumeAutoTests: `--resume auto` starts fresh on an empty directory, resumes an interrupted run
// to the uninterrupted bytes, skips a damaged newest checkpoint in one line, refuses a directory
// of another configuration (exit 3), and needs --checkpoint-dir (exit 2).
import Foundation
import XCTest
import TestSupport

final class ResumeAutoTests: XCTestCase {
    let base = ["--log-every", "100", "--hidden", "8"]

    func model(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testAutoNeedsCheckpointDir() throws {
        let r = try FocalRun.run(base + ["--epochs", "2", "--resume", "auto"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--checkpoint-dir"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    /// Fresh start (missing directory) equals a plain run; after 3 of 6 epochs, auto resumes to the
    /// uninterrupted bytes; with the newest file truncated it resumes from the older one (one line)
    /// and still ends with the same bytes; another configuration's directory is refused.
    func testFreshResumeDamagedAndForeign() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let plain = try FocalRun.run(base + ["--epochs", "6", "--save-model", p("plain.safetensors")])
        XCTAssertEqual(plain.status, 0, plain.stderr)

        let fresh = try FocalRun.run(base + ["--epochs", "6", "--checkpoint-dir", p("fresh"), "--resume", "auto",
                                             "--save-model", p("fresh.safetensors")])
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertTrue((fresh.stdout + fresh.stderr).contains("starting fresh"), fresh.stdout + fresh.stderr)
        XCTAssertEqual(try model(p("fresh.safetensors")), try model(p("plain.safetensors")))

        let first = try FocalRun.run(base + ["--epochs", "3", "--checkpoint-dir", p("ck"), "--resume", "auto"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let resumed = try FocalRun.run(base + ["--epochs", "6", "--checkpoint-dir", p("ck"), "--resume", "auto",
                                               "--save-model", p("resumed.safetensors")], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue((resumed.stdout + resumed.stderr).contains("resumed at epoch 3"), resumed.stdout + resumed.stderr)
        XCTAssertEqual(try model(p("resumed.safetensors")), try model(p("plain.safetensors")))

        // Truncate the newest checkpoint (epoch 6): auto skips it for epoch 5, in one line.
        let names = try FileManager.default.contentsOfDirectory(atPath: p("ck")).filter { $0.hasPrefix("ckpt-") }.sorted()
        let newest = try XCTUnwrap(names.last)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: p("ck/" + newest)))
        try handle.truncate(atOffset: 100)
        try handle.close()
        try FileManager.default.removeItem(atPath: p("resumed.safetensors"))
        let skipped = try FocalRun.run(base + ["--epochs", "6", "--checkpoint-dir", p("ck"), "--resume", "auto",
                                              "--save-model", p("resumed.safetensors")])
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        let lines = (skipped.stdout + skipped.stderr).split(separator: "\n").filter { $0.contains("skipped damaged") }
        XCTAssertEqual(lines.count, 1, skipped.stdout + skipped.stderr)
        XCTAssertTrue(lines.first?.contains(newest) ?? false, "\(lines)")
        XCTAssertTrue((skipped.stdout + skipped.stderr).contains("resumed at epoch 5"), skipped.stdout + skipped.stderr)
        XCTAssertEqual(try model(p("resumed.safetensors")), try model(p("plain.safetensors")))

        // Another configuration (--hidden 4) finds nothing of its own: refused, one line, exit 3.
        let foreign = try FocalRun.run(["--log-every", "100", "--hidden", "4", "--epochs", "6", "--checkpoint-dir", p("ck"),
                                        "--resume", "auto", "--save-model", p("foreign.safetensors")])
        XCTAssertEqual(foreign.status, 3, foreign.stderr)
        XCTAssertEqual(foreign.stderr.split(separator: "\n").count, 1, foreign.stderr)
        XCTAssertTrue(foreign.stderr.contains("another configuration") || foreign.stderr.contains("belongs to this configuration"), foreign.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p("foreign.safetensors")))
    }
}
