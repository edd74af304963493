// InProcessCommunicatorTests: the in-process world (1..8 ranks) against closed-form results.

import Collectives
import Foundation
import XCTest

// MARK: - Helpers

/// Input of rank `r` at element `i`: a small integer, exact in Float, so any sum order agrees.
private func input(_ r: Int, _ i: Int) -> Int { (r * 5 + i * 3) % 13 + 1 }

private struct Boom: Error {}

final class InProcessCommunicatorTests: XCTestCase {
    // MARK: - Reductions

    func testAllreduceEveryOpAndWorldSize() throws {
        for size in 1...8 {
            for op in ReduceOp.allCases {
                let results = try InProcessCommunicator.run(ranks: size) { comm -> ([Float], [Int64]) in
                    var a = (0..<7).map { Float(input(comm.rank, $0)) }
                    try comm.allreduce(&a, op: op)
                    let b = try comm.allreduced((0..<7).map { Int64(input(comm.rank, $0)) }, op: op)
                    return (a, b)
                }
                // Written out without `op.combine` (which the in-process world itself uses).
                let want = (0..<7).map { i -> Int64 in
                    let values = (0..<size).map { Int64(input($0, i)) }
                    switch op {
                    case .sum: return values.reduce(0, +)
                    case .max: return values.max()!
                    case .min: return values.min()!
                    }
                }
                if size >= 2 {
                    // The inputs tell the operations apart: no element's SUM, MAX and MIN coincide.
                    for i in 0..<7 {
                        let values = (0..<size).map { input($0, i) }
                        XCTAssertEqual(Set([values.reduce(0, +), values.max()!, values.min()!]).count, 3, "size \(size) element \(i)")
                    }
                }
                for (r, (a, b)) in results.enumerated() {
                    let maxDiff = zip(a, want).map { abs(Double($0) - Double($1)) }.max() ?? 0
                    XCTAssertEqual(maxDiff, 0, "size \(size) op \(op) rank \(r): max difference \(maxDiff) (tolerance 0)")
                    XCTAssertEqual(b, want, "size \(size) op \(op) rank \(r)")
                }
            }
        }
    }

    func testReduceBroadcastScanAndNonBlocking() throws {
        for size in 1...8 {
            let root = size / 2
            let results = try InProcessCommunicator.run(ranks: size) { comm -> [[Double]] in
                let mine = (0..<4).map { Double(input(comm.rank, $0)) }
                let reduced = try comm.reduce(mine, op: .sum, root: root)
                var b: [Double] = comm.rank == root ? [1.5, -2, 3] : [0, 0, 0]
                try comm.broadcast(&b, root: root)
                var scan = [Double](repeating: -1, count: 4)
                try mine.withUnsafeBufferPointer { s in
                    try scan.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: .max) }
                }
                var nb = mine
                var tested = false
                try nb.withUnsafeMutableBufferPointer { buf in
                    let p = try comm.startAllreduce(buf, op: .min)
                    try p.wait(timeout: 5)
                    tested = try p.test()
                }
                let prefix = try comm.exclusivePrefixSum(Int64(comm.rank + 1))
                try comm.barrier()
                return [reduced, b, scan, nb, [Double(prefix)], [tested ? 1 : 0]]
            }
            for (r, out) in results.enumerated() {
                let sum = (0..<4).map { i in Double((0..<size).map { input($0, i) }.reduce(0, +)) }
                XCTAssertEqual(out[0], r == root ? sum : [], "reduce, size \(size) rank \(r)")
                XCTAssertEqual(out[1], [1.5, -2, 3], "broadcast, size \(size) rank \(r)")
                let scanWant = (0..<4).map { i in
                    Double(r == 0 ? input(0, i) : (0..<r).map { input($0, i) }.max()!)
                }
                XCTAssertEqual(out[2], scanWant, "exclusiveScan max, size \(size) rank \(r)")
                XCTAssertEqual(out[3], (0..<4).map { i in Double((0..<size).map { input($0, i) }.min()!) },
                               "startAllreduce min, size \(size) rank \(r)")
                XCTAssertEqual(out[4], [Double(r * (r + 1) / 2)], "exclusivePrefixSum, size \(size) rank \(r)")
                XCTAssertEqual(out[5], [1], "test() after wait, size \(size) rank \(r)")
            }
        }
    }

    func testExclusiveScanSumGivesZerosOnRankZero() throws {
        let results = try InProcessCommunicator.run(ranks: 3) { comm -> [Int32] in
            var out: [Int32] = [99, 99]
            try [Int32(comm.rank + 1), 10].withUnsafeBufferPointer { s in
                try out.withUnsafeMutableBufferPointer { try comm.exclusiveScan(s, into: $0, op: .sum) }
            }
            return out
        }
        XCTAssertEqual(results, [[0, 0], [1, 10], [3, 20]])
    }

    // MARK: - Data movement

    func testUnevenAllgatherIncludingEmptyPieces() throws {
        for size in 1...8 {
            let results = try InProcessCommunicator.run(ranks: size) { comm in
                try comm.allgatherv((0..<(comm.rank % 3)).map { UInt8(comm.rank * 10 + $0) })
            }
            let want = (0..<size).map { r in (0..<(r % 3)).map { UInt8(r * 10 + $0) } }
            for (r, got) in results.enumerated() { XCTAssertEqual(got, want, "size \(size) rank \(r)") }
        }
    }

    func testStringAndCodableBroadcast() throws {
        struct Value: Codable, Equatable { var a: [Double]; var s: String }
        let results = try InProcessCommunicator.run(ranks: 4) { comm -> (String, Value) in
            let s = try comm.broadcast(comm.rank == 2 ? "weiß ✓" : "", root: 2)
            let v = try comm.broadcast(value: comm.rank == 0 ? Value(a: [1, 2.5], s: "x") : Value(a: [], s: ""))
            return (s, v)
        }
        for (s, v) in results {
            XCTAssertEqual(s, "weiß ✓")
            XCTAssertEqual(v, Value(a: [1, 2.5], s: "x"))
        }
    }

    func testEqualAllgatherRejectsUnevenPieces() {
        XCTAssertThrowsError(try InProcessCommunicator.run(ranks: 3) { comm in
            try comm.allgather([Float](repeating: 1, count: comm.rank))
        }) { error in
            guard case CommError.sizeMismatch = error else { return XCTFail("expected sizeMismatch, got \(error)") }
        }
    }

    func testInvalidRootThrows() {
        XCTAssertThrowsError(try InProcessCommunicator.run(ranks: 2) { comm in
            var a: [Float] = [1]
            try comm.broadcast(&a, root: 2)
        }) { error in
            XCTAssertEqual(error as? CommError, .invalidRoot(2, size: 2))
        }
    }

    // MARK: - Failure propagation

    func testThrowingRankMakesWaitingPeersFailInsteadOfHanging() {
        let start = Date()
        XCTAssertThrowsError(try InProcessCommunicator.run(ranks: 4) { comm -> Int in
            if comm.rank == 2 {
                Thread.sleep(forTimeInterval: 0.05)  // let the others block in the collective first
                throw Boom()
            }
            var a: [Float] = [1]
            try comm.allreduce(&a, op: .sum)
            return 0
        }) { error in
            XCTAssertTrue(error is Boom, "run should rethrow the original error, got \(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "peers should fail promptly")
    }

    func testPeersSeePeerFailed() {
        let seen = PeerErrors()
        XCTAssertThrowsError(try InProcessCommunicator.run(ranks: 3) { comm in
            if comm.rank == 0 { throw Boom() }
            do {
                try comm.barrier()
            } catch {
                seen.add(error)
                throw error
            }
        })
        let errors = seen.all
        XCTAssertEqual(errors.count, 2)
        for e in errors {
            guard case CommError.peerFailed = e else { return XCTFail("expected peerFailed, got \(e)") }
        }
    }

    func testRankReturningEarlyDoesNotHangOthers() {
        XCTAssertThrowsError(try InProcessCommunicator.run(ranks: 2) { comm in
            if comm.rank == 1 { return }
            try comm.barrier()  // rank 1 never comes
        }) { error in
            guard case CommError.peerFailed = error else { return XCTFail("expected peerFailed, got \(error)") }
        }
    }
}

/// Errors collected from several rank threads.
private final class PeerErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func add(_ e: Error) { lock.lock(); errors.append(e); lock.unlock() }
    var all: [Error] { lock.lock(); defer { lock.unlock() }; return errors }
}
