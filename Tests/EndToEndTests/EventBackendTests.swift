// EventBackendTests: Open MPI's runtime loops (PMIx, on libevent) run on libevent's poll backend,
// not epoll, in every rank and, under `launch`, in mpirun: epoll's backend can print a stray
// "[warn] Epoll MOD(1) on fd N failed ... Bad file descriptor" line when a job ends (seen once in
// BadInputTests' 60 failing 4-rank runs in one CI run), which would break "every error is one line".
// libevent names the backend of each loop it creates when EVENT_SHOW_METHOD is set.
import Foundation
import TestSupport
import XCTest

final class EventBackendTests: XCTestCase {
    /// The lines "[msg] libevent using: X" in `text`, counted by X.
    static func backends(_ text: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("[msg] libevent using: ") {
            counts[String(line.dropFirst("[msg] libevent using: ".count)), default: 0] += 1
        }
        return counts
    }

    /// Plain `mpirun -n N focal-ddp` (mpirun's own environment untouched): mpirun keeps its epoll
    /// loop, so the number of epoll loops must not grow with the ranks (it was 1 + N before the
    /// ranks chose poll), while the poll loops do.
    func testRanksChoosePollUnderPlainMPIRun() throws {
        guard let mpirun = TestCluster.findInPath("mpirun") else { return XCTFail("mpirun not found on PATH") }
        var counts: [Int: [String: Int]] = [:]
        for n in [1, 3] {
            var argv = ["-q", "-n", "\(n)", "--oversubscribe", "--mca", "pml", "ob1",
                        "-x", "EVENT_SHOW_METHOD", "-x", "OPENBLAS_NUM_THREADS"]
            if getuid() == 0 { argv.insert("--allow-run-as-root", at: 0) }
            argv += [try FocalRun.binary.path, "--epochs", "1", "--hidden", "8", "--samples", "200"]
            let r = try MPIRun.run(URL(fileURLWithPath: mpirun), ranks: nil, arguments: argv, timeout: 60,
                                   extraEnvironment: ["EVENT_SHOW_METHOD": "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            counts[n] = Self.backends(r.stderr)
        }
        print("libevent loops, plain mpirun: -n 1 \(counts[1]!), -n 3 \(counts[3]!)")
        XCTAssertEqual(counts[1]?["epoll"] ?? 0, counts[3]?["epoll"] ?? 0, "a rank chose epoll: \(counts)")
        XCTAssertGreaterThan(counts[3]?["poll"] ?? 0, counts[1]?["poll"] ?? 0, "no loop of the ranks was seen: \(counts)")
    }

    /// `./launch -n 2`: no loop at all runs on epoll, mpirun's included.
    func testLaunchRunsNoEpollLoop() throws {
        let r = try MPIRun.run(TestCluster.repository.appendingPathComponent("launch"), ranks: nil,
                               arguments: ["-n", "2", "--epochs", "1", "--hidden", "8", "--samples", "200",
                                           "--", "-x", "EVENT_SHOW_METHOD"],
                               timeout: 60,
                               extraEnvironment: ["FOCAL_BINARY": try FocalRun.binary.path, "FOCAL_NO_INSTALL": "1",
                                                  "EVENT_SHOW_METHOD": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let counts = Self.backends(r.stderr)
        print("libevent loops under launch -n 2: \(counts)")
        XCTAssertNil(counts["epoll"], "an epoll loop: \(counts)")
        XCTAssertGreaterThanOrEqual(counts["poll"] ?? 0, 3, "too few loops seen: \(counts)")
    }
}
