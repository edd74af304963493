// FuzzSmokeTests: a short libFuzzer run (10,000 inputs) of each file reader via fuzz/run.sh.
//
// Skipped, with the reason printed, when this toolchain cannot build `-sanitize=fuzzer` targets;
// under CI=true it fails instead, naming what is missing (TestSupport's `Prerequisite`).
// The first run builds the sanitizer binary under .build-fuzz/ (about a minute); later runs reuse it.

import Foundation
import XCTest
import TestSupport

final class FuzzSmokeTests: XCTestCase {
    /// The repository root (this file is Tests/EndToEndTests/FuzzSmokeTests.swift).
    private var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private var script: URL { root.appendingPathComponent("fuzz/run.sh") }

    func testEachReaderSurvivesTenThousandInputs() throws {
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            try Prerequisite.missing("fuzz/run.sh not found (or not executable) at \(script.path)")
        }
        let check = try MPIRun.run(script, ranks: nil, arguments: ["--check"], timeout: 120)
        if check.status == 77 {
            try Prerequisite.missing(check.stderr.trimmingCharacters(in: .whitespacesAndNewlines),
                                     test: "FuzzSmokeTests.\(#function)")
        }
        XCTAssertEqual(check.status, 0, "fuzz/run.sh --check failed: \(check.stderr)")
        let build = try MPIRun.run(script, ranks: nil, arguments: ["--build"], timeout: 600)
        XCTAssertEqual(build.status, 0, "fuzz build failed: \(build.stderr.suffix(2000))")
        guard build.status == 0 else { return }
        for target in ["npy", "csv", "safetensors"] {
            let r = try MPIRun.run(script, ranks: nil, arguments: [target, "10000"], timeout: 300)
            let done = r.stderr.split(separator: "\n").last { $0.hasPrefix("Done ") } ?? "no 'Done' line"
            print("fuzz \(target): status \(r.status), \(done)")
            XCTAssertFalse(r.timedOut, "fuzz \(target) timed out")
            XCTAssertEqual(r.status, 0, "fuzz \(target) found a crash:\n\(r.stderr.suffix(3000))")
            XCTAssertTrue(r.stderr.contains("Done 10000 runs"), "fuzz \(target) did not complete 10000 runs:\n\(r.stderr.suffix(2000))")
        }
    }
}
