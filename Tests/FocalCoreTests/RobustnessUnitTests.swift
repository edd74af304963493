// RobustnessUnitTests: the pieces behind issue 16's items 2-4 in isolation: number formatting and
// plot axes at the ends of float64, the memory estimate, the quoted resume line, the watched
// communicator (in-process ranks).
import XCTest
import Collectives
import FocalCore
import FocalReport
import FocalRun

final class RobustnessUnitTests: XCTestCase {
    func testFormatFixedPrintsHugeAndNonFiniteValues() {
        XCTAssertEqual(formatFixed(1.5, digits: 2), "1.50")
        XCTAssertEqual(formatFixed(-0.004, digits: 2), "0.00")
        for x in [9.3e18, -9.3e18, 1e300, .infinity, -.infinity, .greatestFiniteMagnitude] {
            XCTAssertEqual(formatFixed(x, digits: 4), x.description)
        }
        XCTAssertEqual(formatFixed(.nan, digits: 4), "nan")
    }

    func testNiceAxisAtTheEndsOfFloat64() {
        let cases: [(Double, Double)] = [(-.greatestFiniteMagnitude, .greatestFiniteMagnitude), (0, .greatestFiniteMagnitude),
                                         (1e19, 1e19), (0, .leastNonzeroMagnitude), (-1e308, 1e308), (1e300, 1e300 * 1.0000001), (.nan, .infinity)]
        for (lo, hi) in cases {
            let a = NiceAxis(lo: lo, hi: hi)
            XCTAssertFalse(a.ticks.isEmpty, "\(lo)...\(hi)")
            XCTAssertLessThanOrEqual(a.ticks.count, 1001, "\(lo)...\(hi)")
            XCTAssertTrue(a.ticks.allSatisfy(\.isFinite), "\(lo)...\(hi): \(a.ticks)")
            XCTAssertTrue((0...17).contains(a.decimals))
            for t in a.ticks { XCTAssertTrue(a.fraction(t).isFinite, "\(lo)...\(hi): fraction(\(t))") }
        }
        // The usual axis is unchanged.
        XCTAssertEqual(NiceAxis(lo: 0, hi: 0.437).ticks.count, 6)
    }

    func testMemoryEstimateCountsTheModelAndItsBuffers() {
        let e = MemoryEstimate(features: 20, hidden: [20000, 20000], classes: 2, scalarBytes: 4, trainRows: 800, testRows: 200,
                               batchSize: nil, chunkSize: 256, ranks: 1, exactReduce: true, sequential: true)
        XCTAssertEqual(e.parameters, 20.0 * 20000 + 20000 + 20000.0 * 20000 + 20000 + 20000.0 * 2 + 2)
        // 9 parameter-sized arrays of 4 bytes (the trainer's 8 and the workspace's copy), 4 chunk
        // partials of 8 bytes and 36 more bytes per parameter.
        XCTAssertGreaterThan(e.total, e.parameters * (36 + 32 + 36))
        XCTAssertLessThan(e.total, e.parameters * (36 + 32 + 36) * 1.01)
        let huge = MemoryEstimate(features: 20, hidden: [Int.max, Int.max], classes: 2, scalarBytes: 8, trainRows: Int.max,
                                  testRows: Int.max, batchSize: Int.max, chunkSize: Int.max, ranks: 1, exactReduce: true, sequential: true)
        XCTAssertTrue(huge.total > 1e30)
        XCTAssertEqual(formatBytes(40.1e9), "40.1 GB")
    }

    func testResumeCommandQuotesAndReplacesResume() {
        let line = resumeCommand(arguments: ["--resume", "old dir", "--metrics-out", "a b'c.jsonl", "--resume=x", "--epochs", "5", ""],
                                 ranks: 3, checkpoint: "ck dir/ckpt-1.safetensors")
        XCTAssertEqual(line, #"./launch -n 3 --metrics-out 'a b'\''c.jsonl' --epochs 5 '' --resume 'ck dir/ckpt-1.safetensors'"#)
        XCTAssertEqual(resumeCommand(arguments: ["--simulate-ranks", "4"], ranks: 4, checkpoint: "c"),
                       "./launch -n 1 --simulate-ranks 4 --resume c")
        XCTAssertEqual(shellQuoted("$(rm -rf x)"), "'$(rm -rf x)'")
    }

    /// Every collective of the watched communicator gives the plain one's results (in-process ranks).
    func testWatchedCommunicatorGivesTheSameResults() throws {
        let results = try InProcessCommunicator.run(ranks: 3) { plain -> [Int64] in
            let comm = WatchedCommunicator(plain, timeout: 10)
            var a: [Int64] = [Int64(comm.rank + 1), 10]
            try comm.allreduce(&a, op: .sum)
            var b: [Int64] = comm.rank == 2 ? [7, 8] : [0, 0]
            try comm.broadcast(&b, root: 2)
            let g = try comm.allgather([Int64(comm.rank)])
            let r = try comm.reduce([Int64(comm.rank)], op: .max, root: 0)
            let s = try comm.exclusivePrefixSum(Int64(comm.rank + 1))
            try comm.barrier()
            return a + b + g + r + [s]
        }
        XCTAssertEqual(results[0], [6, 30, 7, 8, 0, 1, 2, 2, 0])
        XCTAssertEqual(results[1], [6, 30, 7, 8, 0, 1, 2, 1])
        XCTAssertEqual(results[2], [6, 30, 7, 8, 0, 1, 2, 3])
    }
}
