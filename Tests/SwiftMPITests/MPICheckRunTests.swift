// MPICheckRunTests: runs the built focal-mpi-check under `mpirun -n 1...4` and expects its OK line; with a planted fault it must fail.
//
// One rank cannot tell SUM from MAX or one root from another; 2, 3 and 4 ranks with values that
// differ between ranks can, and the planted faults (FOCAL_MPI_CHECK_MUTATE) show that they do.

import Foundation
import SwiftMPI
import XCTest
import TestSupport

final class MPICheckRunTests: XCTestCase {
    /// Runs the check and returns its number of checks (0 if it did not say OK).
    @discardableResult
    private func runCheck(ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
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
        return checks
    }

    /// Runs the check with a planted fault and returns its verdict line (it must fail).
    private func runMutated(_ fault: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try MPIRuntime.initialize()
        let exe = try MPIRun.product("focal-mpi-check")
        let result = try MPIRun.run(exe, ranks: ranks, arguments: [], timeout: 60,
                                    extraEnvironment: ["FOCAL_MPI_CHECK_MUTATE": fault])
        let context = "\(result.command) (FOCAL_MPI_CHECK_MUTATE=\(fault))\nstdout:\n\(result.stdout)\nstderr:\n\(result.stderr)"
        XCTAssertFalse(result.timedOut, "timed out: \(context)", file: file, line: line)
        XCTAssertEqual(result.status, 1, "a planted fault must fail the check: \(context)", file: file, line: line)
        let verdict = result.stdout.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(verdict.hasPrefix("focal-mpi-check: FAILED ranks=\(ranks) check="), context, file: file, line: line)
        return verdict
    }

    func testOneRank() throws { try runCheck(ranks: 1) }

    /// Every rank is a root in turn, so each added rank adds checks (the extra roots ran).
    func testTwoThreeAndFourRanks() throws {
        let counts = try [2, 3, 4].map { try runCheck(ranks: $0) }
        XCTAssertEqual(counts, counts.sorted(), "checks at 2, 3, 4 ranks: \(counts)")
        XCTAssertEqual(Set(counts).count, 3, "checks at 2, 3, 4 ranks: \(counts)")
    }

    /// SUM carried out as MAX is caught at the first sum (2 ranks).
    func testPlantedSumAsMaxIsCaught() throws {
        let verdict = try runMutated("sum-as-max", ranks: 2)
        XCTAssertTrue(verdict.contains("check=Float.allreduce.inplace.sum "), verdict)
    }

    /// Broadcasts and reduces sent from rank 0 instead of the requested root are caught (4 ranks).
    func testPlantedWrongRootIsCaught() throws {
        let verdict = try runMutated("root-zero", ranks: 4)
        XCTAssertTrue(verdict.contains("check=Float.reduce.sum.root3 rank=3"), verdict)
    }

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
