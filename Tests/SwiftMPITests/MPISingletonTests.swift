// MPISingletonTests: the MPI wrapper in this test process, a singleton world (rank 0 of 1).
//
// MPI is initialised once for the whole test process and never finalised here (it cannot be
// re-initialised after MPI_Finalize). With one rank every reduction returns its input, a
// broadcast keeps the buffer, and the exclusive scan gives rank 0's documented values. One rank
// cannot tell SUM from MAX or one root from another: the same collectives with values that differ
// between ranks run on 2, 3 and 4 ranks in MPICheckRunTests (focal-mpi-check).

import Collectives
import SwiftMPI
import XCTest
import TestSupport

final class MPISingletonTests: XCTestCase {
    private var world: MPICommunicator!

    override func setUpWithError() throws {
        try MPIRuntime.initialize()
        try MPIRuntime.initialize()  // idempotent
        world = try MPIRuntime.world
        world.maxCountPerCall = Int(Int32.max)
    }

    func testRuntimeState() {
        XCTAssertTrue(MPIRuntime.isInitialized)
        XCTAssertFalse(MPIRuntime.isFinalized)
        XCTAssertEqual(world.rank, 0)
        XCTAssertEqual(world.size, 1)
        XCTAssertFalse(world.processorName.isEmpty)
    }

    private func checkType<T: CommScalar>(_ values: [T], file: StaticString = #filePath, line: UInt = #line) throws {
        for op in ReduceOp.allCases {
            var a = values
            try world.allreduce(&a, op: op)
            XCTAssertEqual(a, values, "in-place allreduce \(T.self) \(op)", file: file, line: line)
            XCTAssertEqual(try world.allreduced(values, op: op), values, "allreduce \(T.self) \(op)", file: file, line: line)
            XCTAssertEqual(try world.reduce(values, op: op, root: 0), values, "reduce \(T.self) \(op)", file: file, line: line)
            var scan = [T](repeating: T.zero, count: values.count)
            try values.withUnsafeBufferPointer { s in
                try scan.withUnsafeMutableBufferPointer { try world.exclusiveScan(s, into: $0, op: op) }
            }
            let want = op == .sum ? [T](repeating: T.zero, count: values.count) : values
            XCTAssertEqual(scan, want, "exclusiveScan \(T.self) \(op)", file: file, line: line)
            var nb = values
            try nb.withUnsafeMutableBufferPointer { b in
                let p = try world.startAllreduce(b, op: op)
                try p.wait(timeout: 10)
                XCTAssertTrue(try p.test(), file: file, line: line)
            }
            XCTAssertEqual(nb, values, "startAllreduce \(T.self) \(op)", file: file, line: line)
        }
        var b = values
        try world.broadcast(&b, root: 0)
        XCTAssertEqual(b, values, "broadcast \(T.self)", file: file, line: line)
        XCTAssertEqual(try world.allgatherv(values), [values], "allgatherv \(T.self)", file: file, line: line)
        XCTAssertEqual(try world.allgatherv([T]()), [[]], "empty allgatherv \(T.self)", file: file, line: line)
    }

    func testEveryTypeAndOp() throws {
        try checkType([Float(1.5), -2, 3e7])
        try checkType([Double(-0.25), 1e300, 7])
        try checkType([Int32.min, 0, Int32.max])
        try checkType([Int64.min, -1, Int64.max])
        try checkType([UInt8(0), 7, 255])
    }

    func testStringsCodableBarrierAndEmpty() throws {
        XCTAssertEqual(try world.broadcast("naïve ✓", root: 0), "naïve ✓")
        XCTAssertEqual(try world.broadcast(value: ["a": [1.0, 2.0]], root: 0), ["a": [1.0, 2.0]])
        try world.barrier()
        var empty: [Double] = []
        try world.allreduce(&empty, op: .sum)
        XCTAssertEqual(empty, [], "an empty allreduce stays empty")
        try world.broadcast(&empty, root: 0)
        XCTAssertEqual(empty, [], "an empty broadcast stays empty")
        XCTAssertEqual(try world.exclusivePrefixSum(5), 0)
        XCTAssertTrue(try world.any(true))
        XCTAssertFalse(try world.any(false))
    }

    func testSplittingAboveTheCountLimit() throws {
        world.maxCountPerCall = 3
        defer { world.maxCountPerCall = Int(Int32.max) }
        let values = (0..<10).map { Float($0) }
        var a = values
        try world.allreduce(&a, op: .sum)
        XCTAssertEqual(a, values)
        XCTAssertEqual(try world.allreduced(values, op: .max), values)
        var b = values
        try world.broadcast(&b, root: 0)
        XCTAssertEqual(b, values)
        XCTAssertThrowsError(try world.allgatherv(values)) { error in
            guard case CommError.countOverflow = error else { return XCTFail("expected countOverflow, got \(error)") }
        }
    }

    func testErrors() throws {
        var a: [Float] = [1]
        XCTAssertThrowsError(try world.broadcast(&a, root: 1)) { error in
            XCTAssertEqual(error as? CommError, .invalidRoot(1, size: 1))
        }
        var out: [Float] = [0, 0]
        XCTAssertThrowsError(try [Float(1)].withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { try world.allreduce(s, into: $0, op: .sum) }
        }) { error in
            guard case CommError.sizeMismatch = error else { return XCTFail("expected sizeMismatch, got \(error)") }
        }
        XCTAssertThrowsError(try MPIRuntime.world.reduce([Float(1)], op: .sum, root: -1))
    }
}
