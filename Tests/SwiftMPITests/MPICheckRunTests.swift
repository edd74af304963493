// MPICheckRunTests: runs the built focal-mpi-check under `mpirun -n 1...4` and expects its OK line.

import Foundation
import SwiftMPI
import XCTest
import TestSupport

final class MPICheckRunTests: XCTestCase {
    private func runCheck(ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        // Initialise MPI in this test process first, as other suites do: the child must still run
        // (this is the situation where inherited pipes and OMPI_* variables broke earlier attempts).
        try MPIRuntime.initialize()
        let exe = try MPIRun.product("focal-mpi-check")
        let result = try MPIRun.run(exe, ranks: ranks, timeout: 60)
        let context = "\(result.command)\nstdout:\n\(result.stdout)\nstderr:\n\(result.stderr)"
        XCTAssertFalse(result.timedOut, "timed out after 60 s and was killed: \(context)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "exit status: \(context)", file: file, line: line)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 1, "expected exactly one line from rank 0: \(context)", file: file, line: line)
        let ok = lines.first ?? ""
        XCTAssertTrue(ok.hasPrefix("focal-mpi-check: OK ranks=\(ranks) checks="), "verdict: \(context)",
                      file: file, line: line)
        let checks = Int(ok.split(separator: "=").last ?? "") ?? 0
        XCTAssertGreaterThan(checks, 100, "number of checks: \(ok)", file: file, line: line)
    }

    func testOneRank() throws { try runCheck(ranks: 1) }
    func testTwoRanks() throws { try runCheck(ranks: 2) }
    func testThreeRanks() throws { try runCheck(ranks: 3) }
    func testFourRanks() throws { try runCheck(ranks: 4) }

    /// The helper itself: a job that outlives its deadline is killed and reported, not waited for.
    func testTimeoutKillsTheJob() throws {
        let start = Date()
        let result = try MPIRun.run(URL(fileURLWithPath: "/bin/sleep"), ranks: 2, arguments: ["60"], timeout: 2)
        XCTAssertTrue(result.timedOut, "expected a timeout: \(result)")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 15, "the killed job should be reaped promptly")
    }

    func testMissingProductFailsClearly() {
        XCTAssertThrowsError(try MPIRun.product("no-such-product")) { error in
            XCTAssertTrue("\(error)".contains("not found"), "\(error)")
        }
    }
}
