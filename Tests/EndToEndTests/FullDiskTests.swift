// FullDiskTests: a checkpoint or model write on a full file system (a small tmpfs mounted in a
// private mount namespace) exits 5 with one line naming the file, leaves no partial file, and
// leaves the previous checkpoint valid: resuming from it gives the uninterrupted bytes.
import Foundation
import XCTest
import TestSupport

final class FullDiskTests: XCTestCase {
    /// --hidden 150: 3452 parameters, so a float32 checkpoint (parameters, m, v) is about 41 KB.
    let base = ["--log-every", "100", "--hidden", "150"]

    /// Runs focal-ddp with `arguments` on a fresh tmpfs of `size` at `mountPoint` (private mount
    /// namespace), then copies what the tmpfs holds into `keep` and lists it in `keep/LISTING`.
    func onTmpfs(size: String, mountPoint: String, keep: String, _ arguments: [String]) throws -> MPIRunResult {
        guard getuid() == 0 else { try Prerequisite.missing("root, to mount a tmpfs with unshare -m") }
        let probe = try MPIRun.run(URL(fileURLWithPath: "/usr/bin/unshare"), ranks: nil,
                                   arguments: ["-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs \"$1\"", "sh", mountPoint])
        guard probe.status == 0 else { try Prerequisite.missing("unshare -m and mount -t tmpfs: \(probe.stderr)") }
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let script = #"""
        mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99
        mnt="$2"; keep="$3"; bin="$4"; shift 4
        "$bin" "$@"; rc=$?
        ls -A "$mnt" > "$keep/LISTING"; cp -a "$mnt"/. "$keep"/
        exit $rc
        """#
        return try MPIRun.run(URL(fileURLWithPath: "/usr/bin/unshare"), ranks: nil,
                              arguments: ["-m", "sh", "-c", script, "sh", size, mountPoint, keep, try FocalRun.binary.path] + arguments,
                              timeout: 120)
    }

    func testCheckpointOnFullDiskKeepsThePreviousOne() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try FileManager.default.createDirectory(atPath: p("mnt"), withIntermediateDirectories: true)
        let plain = try FocalRun.run(base + ["--epochs", "3", "--save-model", p("plain.safetensors")])
        XCTAssertEqual(plain.status, 0, plain.stderr)

        // 64 KB holds the first checkpoint (epoch 1) but not a second one beside it.
        let full = try onTmpfs(size: "64k", mountPoint: p("mnt"), keep: p("kept"),
                               base + ["--epochs", "3", "--checkpoint-dir", p("mnt"), "--keep-checkpoints", "1"])
        XCTAssertEqual(full.status, 5, full.stdout + full.stderr)
        let lines = full.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, full.stderr)
        XCTAssertTrue(full.stderr.contains(p("mnt") + "/ckpt-step0000000002-epoch000002.safetensors"), full.stderr)
        let listing = try String(contentsOfFile: p("kept/LISTING"), encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(listing.filter { $0.hasPrefix("ckpt-") }, ["ckpt-step0000000001-epoch000001.safetensors"], "\(listing)")
        XCTAssertTrue(listing.allSatisfy { $0.hasPrefix("ckpt-step") && $0.hasSuffix(".safetensors") || $0.hasSuffix(".lock") },
                      "a partial or temporary file was left: \(listing)")

        let resumed = try FocalRun.run(base + ["--epochs", "3", "--resume", p("kept/ckpt-step0000000001-epoch000001.safetensors"),
                                               "--save-model", p("resumed.safetensors")])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: p("plain.safetensors"))))
    }

    func testModelOnFullDiskLeavesNoFile() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try FileManager.default.createDirectory(atPath: p("mnt"), withIntermediateDirectories: true)
        // The model (about 14 KB) does not fit in 8 KB.
        let full = try onTmpfs(size: "8k", mountPoint: p("mnt"), keep: p("kept"),
                               base + ["--epochs", "1", "--save-model", p("mnt/model.safetensors")])
        XCTAssertEqual(full.status, 5, full.stdout + full.stderr)
        XCTAssertEqual(full.stderr.split(separator: "\n").count, 1, full.stderr)
        XCTAssertTrue(full.stderr.contains(p("mnt/model.safetensors")), full.stderr)
        let listing = try String(contentsOfFile: p("kept/LISTING"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(listing, [], "a partial or temporary file was left: \(listing)")
    }
}
