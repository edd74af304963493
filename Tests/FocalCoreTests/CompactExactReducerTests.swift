// CompactExactReducerTests: the compact exact reduction (the default of float32 training: 1-byte
// exponents, 32-bit sums) against its plain one-process reference, on 1 to 8 in-process ranks
// holding the chunks in every contiguous split; its precision against exact float64 sums; its
// failure reports; and its bytes on the wire.
import Collectives
import FocalCore
import XCTest

final class CompactExactReducerTests: XCTestCase {
    /// A deterministic stream of uniform doubles in [0, 1).
    struct Stream {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) * 0x1.0p-53
        }
    }

    /// Chunk partials `[chunks][mainCount + 2]`: mains are float32 values over 60 binades (with
    /// zeros, subnormals and cancellation), then a loss sum and a weight sum.
    static func partials(chunks: Int, mainCount: Int, seed: UInt64 = 99) -> [[Double]] {
        var s = Stream(state: seed)
        return (0..<chunks).map { c in
            var v = (0..<mainCount).map { i -> Double in
                if i % 13 == 0 && c % 3 == 1 { return 0 }                        // zero in some chunks
                if i == 5 { return 0 }                                           // zero everywhere
                if i == 6 { return Double(Float.leastNonzeroMagnitude) * Double(c + 1) }  // subnormal
                let scale = pow(2.0, Double((i * 5 + c * 3) % 60) - 30)
                return Double(Float((s.next() - 0.5) * scale))
            }
            v.append(Double(c + 1) * 0.123456789)   // loss sum
            v.append(Double(256 - c))               // weight sum
            return v
        }
    }

    func testSameBitsAsTheReferenceForAnyRankCount() throws {
        for chunks in [1, 7, 16, 64] {
            let mainCount = 150, width = mainCount + 2
            let data = Self.partials(chunks: chunks, mainCount: mainCount)
            let reference = CompactExactReducer.referenceSum(data, mainCount: mainCount).map(\.bitPattern)
            for ranks in 1...8 {
                let results = try inProcess(ranks) { comm -> [UInt64] in
                    let reducer = CompactExactReducer(mainCount: mainCount, extraCount: 2, localCapacity: chunks)
                    var out: [UInt64] = []
                    for _ in 0..<2 {  // two steps: nothing leaks from one into the next
                        reducer.begin(chunksInStep: chunks)
                        // Contiguous runs of chunks per rank, as the chunk plan deals them.
                        for c in (comm.rank * chunks / comm.size)..<((comm.rank + 1) * chunks / comm.size) {
                            let slot = reducer.nextSlot()
                            for i in 0..<mainCount { slot[i] = Float(data[c][i]) }
                            reducer.add(extra: Array(data[c][mainCount...]))
                        }
                        var sums = [Double](repeating: -1, count: width)
                        let status = try reducer.reduce(comm, result: &sums)
                        XCTAssertFalse(status.failed)
                        out = sums.map(\.bitPattern)
                    }
                    return out
                }
                for r in results { XCTAssertEqual(r, reference, "\(chunks) chunks, \(ranks) ranks") }
            }
        }
    }

    /// Within half a grid step per chunk of the exact sum, the grid being 2^(E + 1 - S) with E the
    /// element's largest exponent and S = 30 - ceil(log2 chunks) (51 for the extras): S >= 24 bits
    /// relative to the largest partial. Partials in the top binades are summed exactly.
    func testPrecisionAgainstExactSums() throws {
        for chunks in [4, 16, 64] {
            let mainCount = 150
            let data = Self.partials(chunks: chunks, mainCount: mainCount, seed: UInt64(chunks))
            let sums = CompactExactReducer.referenceSum(data, mainCount: mainCount)
            let h = Int(ceil(log2(Double(chunks))))
            for i in 0..<(mainCount + 2) {
                let exact = data.reduce(0.0) { $0 + $1[i] }  // float32 partials over 60 binades: exact in a double
                let largest = data.map { abs($0[i]) }.max()!
                guard largest > 0 else { XCTAssertEqual(sums[i], 0); continue }
                let s = (i < mainCount ? 30 : 51) - h
                XCTAssertGreaterThanOrEqual(s, 24)
                let grid = pow(2.0, Double(max(-127, Int(largest.exponent)) + 1 - s))
                XCTAssertLessThanOrEqual(abs(sums[i] - exact), Double(chunks) * grid / 2, "\(chunks) chunks, element \(i)")
            }
            // Equal exponents: every float32 partial is on the grid, the sum is exact.
            var s = Stream(state: 7)
            let flat = (0..<chunks).map { _ in (0..<8).map { _ in Double(Float(1 + s.next())) } + [1, 1] }
            let r = CompactExactReducer.referenceSum(flat, mainCount: 8)
            for i in 0..<8 { XCTAssertEqual(r[i], flat.reduce(0.0) { $0 + $1[i] }) }
        }
    }

    func testNonFiniteErrorsAndStopNameTheLowestRank() throws {
        let results = try inProcess(4) { comm -> ReduceStatus in
            let reducer = CompactExactReducer(mainCount: 3, extraCount: 2, localCapacity: 1)
            reducer.begin(chunksInStep: 4)
            let slot = reducer.nextSlot()
            slot[0] = 1; slot[1] = comm.rank == 2 ? .nan : 2; slot[2] = comm.rank == 3 ? .infinity : 3
            reducer.add(extra: [1, 1])
            var out = [Double](repeating: 0, count: 5)
            return try reducer.reduce(comm, result: &out, errorCode: comm.rank == 1 ? 7 : 0, requestStop: comm.rank == 0)
        }
        for s in results {
            XCTAssertEqual(s.nonFiniteRank, 2)
            XCTAssertEqual(s.errorRank, 1)
            XCTAssertEqual(s.errorCode, 7)
            XCTAssertTrue(s.stopRequested)
        }
        // A stop alone is not a failure, and the sums are delivered.
        let stops = try inProcess(3) { comm -> (ReduceStatus, [Double]) in
            let reducer = CompactExactReducer(mainCount: 2, extraCount: 2, localCapacity: 1)
            reducer.begin(chunksInStep: 3)
            let slot = reducer.nextSlot()
            slot[0] = 0.5; slot[1] = -2
            reducer.add(extra: [1, 2])
            var out = [Double](repeating: 0, count: 4)
            return (try reducer.reduce(comm, result: &out, requestStop: comm.rank == 2), out)
        }
        for (s, out) in stops {
            XCTAssertTrue(s.stopRequested)
            XCTAssertFalse(s.failed)
            XCTAssertEqual(out, [1.5, -6, 3, 6])
        }
    }

    /// A NaN or an infinity is caught at any position: in the eight-at-a-time part of the exponent
    /// pass and in its tail (43 = 5 x 8 + 3), positive or negative, on the rank that holds it.
    func testNonFiniteFoundAtAnyPosition() throws {
        for position in [0, 7, 8, 17, 39, 40, 42] {
            for bad in [Float.nan, .infinity, -.infinity, -Float.nan] {
                let results = try inProcess(3) { comm -> ReduceStatus in
                    let reducer = CompactExactReducer(mainCount: 43, extraCount: 2, localCapacity: 1)
                    reducer.begin(chunksInStep: 3)
                    let slot = reducer.nextSlot()
                    for i in 0..<43 { slot[i] = Float(i) - 20.5 }
                    if comm.rank == 1 { slot[position] = bad }
                    reducer.add(extra: [1, 1])
                    var out = [Double](repeating: 0, count: 45)
                    return try reducer.reduce(comm, result: &out)
                }
                for s in results { XCTAssertEqual(s.nonFiniteRank, 1, "\(bad) at \(position)") }
            }
        }
    }

    /// Bytes passed to the step's two allreduces for the large configuration's 84,488 parameters:
    /// 1 per exponent and flag (84,490 + 3) plus 4 per sum (84,488 + 6 limbs), 1.25x a float32
    /// allreduce of the gradient; `ExactReducer` passes 4 x (84,490 + 4) + 8 x 84,490 (exact) or
    /// 8 x (84,490 + 3) (`--fast-reduce`).
    func testBytesOnTheWire() {
        let reducer = CompactExactReducer(mainCount: 84_488, extraCount: 2, localCapacity: 8)
        XCTAssertEqual(reducer.messageBytes, 84_493 + 4 * 84_494)
        XCTAssertLessThanOrEqual(Double(reducer.messageBytes) / Double(4 * 84_488), 1.26)
        XCTAssertEqual(ExactReducer(width: 84_490, localCapacity: 8).messageBytes, 4 * 84_494 + 8 * 84_490)
        XCTAssertEqual(ExactReducer(width: 84_490, localCapacity: 8, exact: false).messageBytes, 8 * 84_493)
    }
}
