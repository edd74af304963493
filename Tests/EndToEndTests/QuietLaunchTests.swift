// QuietLaunchTests: `launch` prints one line per step it takes (here: building), with the step's
// own output in a log file; a failing step shows the log's last lines and names the file. Runs a
// copy of `launch` in a scratch directory with a stand-in `swift` on PATH (no real build).
import Foundation
import TestSupport
import XCTest

final class QuietLaunchTests: XCTestCase {
    /// A scratch copy of the repository's `launch` with an empty package, and a fake `swift` that
    /// prints 100 lines and then builds a stand-in binary, or fails when FAKE_FAIL=1.
    func makeTree() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = try FocalRun.scratch()
        let fm = FileManager.default
        try fm.copyItem(at: root.appendingPathComponent("launch"), to: dir.appendingPathComponent("launch"))
        try fm.createDirectory(at: dir.appendingPathComponent("Sources"), withIntermediateDirectories: true)
        try "// empty\n".write(to: dir.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        let bin = dir.appendingPathComponent("bin")
        try fm.createDirectory(at: bin, withIntermediateDirectories: true)
        let fake = """
        #!/bin/sh
        for i in $(seq 1 100); do echo "compiling step $i of 100"; done
        if [ "${FAKE_FAIL:-0}" = 1 ]; then echo "error: the fake compiler failed" >&2; exit 3; fi
        mkdir -p .build/release && printf '#!/bin/sh\\necho built\\n' > .build/release/focal-ddp && chmod +x .build/release/focal-ddp
        """
        try fake.write(to: bin.appendingPathComponent("swift"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("swift").path, 0o755)
        return dir
    }

    func runLaunch(_ dir: URL, _ extra: [String: String]) throws -> MPIRunResult {
        let path = dir.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try MPIRun.run(dir.appendingPathComponent("launch"), ranks: nil, arguments: ["build"], timeout: 30,
                              extraEnvironment: ["PATH": path, "FOCAL_NO_INSTALL": "1"].merging(extra) { $1 })
    }

    func testBuildingPrintsOneLineAndLogsTheRest() throws {
        let dir = try makeTree()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runLaunch(dir, [:])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, "launch: building focal-ddp (release)...\n")
        let log = try String(contentsOf: dir.appendingPathComponent(".build/launch-build.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("compiling step 100 of 100"), log)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent(".build/release/focal-ddp").path))
        // Up to date: nothing to do, nothing printed.
        let again = try runLaunch(dir, [:])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stderr, "")
    }

    func testAFailedBuildShowsTheLogsLastLinesAndNamesIt() throws {
        let dir = try makeTree()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runLaunch(dir, ["FAKE_FAIL": "1"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.hasPrefix("launch: building focal-ddp (release)...\n"), r.stderr)
        XCTAssertTrue(r.stderr.contains("failed (status 3)"), r.stderr)
        XCTAssertTrue(r.stderr.contains(dir.appendingPathComponent(".build/launch-build.log").path), r.stderr)
        XCTAssertTrue(r.stderr.contains("error: the fake compiler failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("compiling step 100 of 100"), r.stderr)
        XCTAssertFalse(r.stderr.contains("compiling step 10 of 100"), "only the last lines: \(r.stderr)")
        XCTAssertLessThan(r.stderr.split(separator: "\n").count, 30, r.stderr)
    }
}
