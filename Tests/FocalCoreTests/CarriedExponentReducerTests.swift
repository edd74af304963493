// CarriedExponentReducerTests: the carried-exponent reduction (the default of float32 training)
// against its plain one-process reference (`CarriedExponentReducer.referenceStep`), over steps whose
// exponents hold, grow past the margin (the redo), appear and vanish, on 1 to 6 in-process ranks
// holding the chunks in every split; its precision against exact float64 sums; its failure
// reports; and the wire record's layout and operation.
import Collectives
import FocalCore
import XCTest

final class CarriedExponentReducerTests: XCTestCase {
    /// A deterministic stream of uniform doubles in [0, 1).
    struct Stream {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) * 0x1.0p-53
        }
    }

    /// Steps of chunk partials `[steps][chunks][width]`: mains are Float values, the two extras
    /// Double; element magnitudes drift, jump up (forcing a redo), fall, start at zero.
    static func steps(count: Int, chunks: Int, mainCount: Int) -> [[[Double]]] {
        var s = Stream(state: 99)
        return (0..<count).map { step in
            (0..<chunks).map { c in
                var v = (0..<mainCount).map { i -> Double in
                    if i % 11 == 0 && step < 2 { return 0 }                      // appears at step 2
                    if i % 13 == 0 && c % 3 == 1 { return 0 }                    // zero in some chunks
                    var scale = pow(2.0, Double((i * 5) % 40) - 20)
                    if step == 3 && i % 7 == 0 { scale *= 64 }                   // grows past the margin
                    if step >= 4 && i % 4 == 0 { scale /= 1024 }                 // shrinks
                    return Double(Float((s.next() - 0.5) * scale))
                }
                v.append(Double(c + 1) * 0.123456789 * Double(step + 1))         // loss sum
                v.append(Double(256 - c))                                        // weight sum
                return v
            }
        }
    }

    func testSameBitsAsTheReferenceForAnyRankCountAcrossSteps() throws {
        let mainCount = 150, chunks = 7, width = mainCount + 2
        let data = Self.steps(count: 6, chunks: chunks, mainCount: mainCount)
        var exponents = [Int8](repeating: CarriedExponentReducer.unknownExponent, count: width)
        var reference: [[UInt64]] = []
        for step in data {
            let r = CarriedExponentReducer.referenceStep(step, mainCount: mainCount, exponents: exponents)
            reference.append(r.sums.map(\.bitPattern))
            exponents = r.next
        }
        for ranks in 1...6 {
            let results = try inProcess(ranks) { comm -> ([[UInt64]], Int, [Int8]) in
                let reducer = CarriedExponentReducer(mainCount: mainCount, extraCount: 2, localCapacity: chunks)
                var out: [[UInt64]] = []
                for step in data {
                    reducer.begin(chunksInStep: chunks)
                    // Contiguous runs of chunks per rank, as the chunk plan deals them.
                    for c in (comm.rank * chunks / comm.size)..<((comm.rank + 1) * chunks / comm.size) {
                        let slot = reducer.nextSlot()
                        for i in 0..<mainCount { slot[i] = Float(step[c][i]) }
                        reducer.add(extra: Array(step[c][mainCount...]))
                    }
                    var sums = [Double](repeating: 0, count: width)
                    let status = try reducer.reduce(comm, result: &sums)
                    XCTAssertFalse(status.failed)
                    out.append(sums.map(\.bitPattern))
                }
                return (out, reducer.overflowSteps, reducer.exponents)
            }
            for (sums, redos, next) in results {
                XCTAssertEqual(sums, reference, "ranks \(ranks)")
                XCTAssertEqual(next, exponents, "carried exponents, ranks \(ranks)")
                // Step 0 (no exponents yet), step 2 (new elements) and step 3 (growth) need the redo.
                XCTAssertEqual(redos, 3, "ranks \(ranks)")
            }
        }
    }

    /// Within half a grid step per chunk of the exact sum, the grid being 2^(bound + 1 - S) with
    /// S = 31 - ceil(log2 chunks) (51 for the extras) and the bound the larger of the carried
    /// exponent + margin and this step's largest exponent: 24 bits or more relative to the step's
    /// largest partial unless the element shrank since the last step (then k fewer for 2^k).
    func testPrecisionAgainstExactFloat64Sums() throws {
        let mainCount = 150, chunks = 7
        let data = Self.steps(count: 6, chunks: chunks, mainCount: mainCount)
        var exponents = [Int8](repeating: CarriedExponentReducer.unknownExponent, count: mainCount + 2)
        for (n, step) in data.enumerated() {
            let r = CarriedExponentReducer.referenceStep(step, mainCount: mainCount, exponents: exponents)
            var steadySteps = 0
            for i in 0..<(mainCount + 2) {
                let exact = step.reduce(0.0) { $0 + $1[i] }  // float32 partials: this double sum is exact enough
                let largest = step.map { abs($0[i]) }.max()!
                guard largest > 0 else { XCTAssertEqual(r.sums[i], 0); continue }
                let own = Int(largest.exponent)
                let carried = exponents[i] == CarriedExponentReducer.unknownExponent ? own
                    : Int(exponents[i]) + CarriedExponentReducer.margin
                let s = (i < mainCount ? 31 : 51) - 3
                let grid = pow(2.0, Double(max(carried, own) + 1 - s))
                XCTAssertLessThanOrEqual(abs(r.sums[i] - exact), Double(chunks) * grid / 2, "step \(n) element \(i)")
                if max(carried, own) <= own + 1 {
                    // No shrink: at least 24 bits relative to the step's largest partial.
                    XCTAssertLessThanOrEqual(abs(r.sums[i] - exact), Double(chunks) * largest * 0x1p-24, "step \(n) element \(i)")
                    steadySteps += 1
                }
            }
            XCTAssertGreaterThan(steadySteps, 0)
            exponents = r.next
        }
    }

    /// A step with identical exponents to the last one needs one collective and keeps
    /// float32 partials exact: the sums equal the exact sums of the partials.
    func testSteadyStepIsExactForFloat32Partials() throws {
        let mainCount = 64, chunks = 4
        var s = Stream(state: 7)
        let step = (0..<chunks).map { _ in (0..<mainCount).map { _ in Double(Float(1 + s.next())) } + [1, 2] }
        let warm = CarriedExponentReducer.referenceStep(step, mainCount: mainCount,
                                                        exponents: [Int8](repeating: CarriedExponentReducer.unknownExponent, count: mainCount + 2))
        let r = CarriedExponentReducer.referenceStep(step, mainCount: mainCount, exponents: warm.next)
        for i in 0..<mainCount { XCTAssertEqual(r.sums[i], step.reduce(0.0) { $0 + $1[i] }) }
    }

    func testNonFiniteAndErrorsNameTheLowestRank() throws {
        let results = try inProcess(4) { comm -> ReduceStatus in
            let reducer = CarriedExponentReducer(mainCount: 3, extraCount: 2, localCapacity: 1)
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
    }

    /// 5 bytes per value on the wire: 320-byte records of 64 Int32 and 64 Int8 lanes.
    func testRecordLayoutAndOperation() throws {
        XCTAssertEqual(MemoryLayout<SumMaxRecord>.stride, SumMaxRecord.wireBytes)
        XCTAssertEqual(SumMaxRecord.wireBytes, 64 * 4 + 64)
        var a = SumMaxRecord(), b = SumMaxRecord()
        for i in 0..<64 {
            a.sums[i] = Int32(i) - 30; b.sums[i] = Int32.max - Int32(i)
            a.maxima[i] = Int8(i) - 64; b.maxima[i] = Int8(63 - i) - 60
        }
        var out = a
        withUnsafeBytes(of: b) { bb in withUnsafeMutableBytes(of: &out) { SumMaxRecord.combine(bb.baseAddress!, into: $0.baseAddress!, count: 1) } }
        for i in 0..<64 {
            XCTAssertEqual(out.sums[i], a.sums[i] &+ b.sums[i])
            XCTAssertEqual(out.maxima[i], max(a.maxima[i], b.maxima[i]))
        }
        XCTAssertEqual(out, a.reduceSum(b))
        let reducer = CarriedExponentReducer(mainCount: 84_488, extraCount: 2, localCapacity: 8)
        // Lanes: 84,488 mains + 6 extra limbs (sums), 84,490 exponents + 4 flags (maxima): 1,321 records.
        XCTAssertEqual(reducer.messageBytes, 1_321 * 320)
        XCTAssertLessThanOrEqual(Double(reducer.messageBytes) / Double(4 * 84_488), 1.5)
    }
}
