// CompactExactReducer: the default exact gradient reduction of float32 training. The method of
// `ExactReducer` (round every chunk partial to a per-element power-of-two grid set by the
// element's largest exponent over all chunks and ranks, then add integers: exact, so the bits never
// depend on which rank holds which chunk or on MPI's order; ReproBLAS's binned sums, Demmel &
// Nguyen 2015, reduced to one bin) with narrow lanes: 1-byte exponents and 32-bit sums, 5 bytes
// per value on the wire instead of 4 + 8.
//
// A step with C chunks over all ranks (C <= `maxChunks`):
//   1. each rank keeps its chunks' float32 gradients (the backward pass writes them in place,
//      `nextSlot`) and the largest |v| per element; a UInt8 MAX-allreduce agrees on every element's
//      largest binary exponent E_i (stored as E_i + 128, clamped to -127...127, so an element that
//      is zero everywhere has E_i = -127; the extras: 0 for zero) and carries three flags:
//      non-finite seen, error, stop;
//   2. every partial is rounded to an integer q = round(v * 2^(S - 1 - E_i)) (to nearest, ties to
//      even) with S = 30 - ceil(log2 C), so |q| <= 2^S and the sum of all C chunks stays below 2^30
//      in magnitude (an Int32); the two float64 extras (loss and weight sums) use S = 51 -
//      ceil(log2 C) and Int64 sums, sent as three 17-bit limbs each; ranks add their integers and
//      an Int32 SUM-allreduce adds the ranks' (exact, so associative);
//   3. the sums are scaled back by 2^(E_i + 1 - S).
// A value in the top binade of its element keeps S >= 24 bits (C <= 64): a float32 partial there is
// represented exactly; one k binades lower keeps S - k. Runs whose steps have more chunks, float64
// runs, `--wide-reduce` and statistics use `ExactReducer` (S = 51 - ceil(log2 C), 64-bit sums).
// Cost per step: a 1-byte MAX-allreduce and a 4-byte SUM-allreduce per value (bytes on the wire
// per step: `messageBytes`); failures cost one more small collective that names the rank.
import Collectives

public final class CompactExactReducer {
    /// Float32 gradient values per chunk partial.
    public let mainCount: Int
    /// Float64 values after them (loss sum, weight sum).
    public let extraCount: Int
    /// `mainCount + extraCount`.
    public var width: Int { mainCount + extraCount }
    /// Most chunks this rank stores in one step.
    public let localCapacity: Int
    /// Seconds a collective may take before `reduce` gives up with `CommError.timedOut`.
    public var stallTimeout: Double?

    /// Most chunks per step: S = 30 - ceil(log2 64) = 24 bits, float32's significand.
    public static let maxChunks = 64
    /// Largest number of ranks: the extras' 17-bit limbs are summed in Int32 lanes (2^31 / 2^17).
    public static let maxRanks = 1 << 14

    /// `[localCapacity, mainCount]` row-major: this step's chunk gradients, written in place by the
    /// trainer's backward pass (`nextSlot`). Owned memory, as `MLPWorkspace`'s buffers: the pointer
    /// `nextSlot` hands out stays valid (an array's would not outlive its closure).
    private let slots: UnsafeMutablePointer<Float>
    /// `[localCapacity, extraCount]`: this step's chunk extras.
    private var extras: [Double]
    private var stored = 0
    private var chunks = 1
    /// `[mainCount]` the high 16 bits of the bit pattern of this rank's largest |v| per element
    /// this step (sign, 8 exponent bits, 7 significand bits): for non-negative floats the integer
    /// order of bit patterns is the numeric order and a NaN's is above infinity's, so a 16-bit
    /// integer max (one SSE2 instruction for 8 values) gives the largest exponent and catches
    /// non-finite values. `[extraCount]` the largest |v| as Doubles (NaN replaces the max).
    private var maxMain: [Int16]
    private var maxExtra: [Double]
    /// `[width + 3]` MAX-reduced: the exponent lanes, E + 128 (for mains E is clamped to -127, so
    /// never 0; for the extras 0 means zero everywhere), then the three flags.
    private var lanes: [UInt8]
    /// `[mainCount + 3 * extraCount]` the integer sums: mains, then three limbs per extra.
    private var sums: [Int32]

    static let flags = 3

    public init(mainCount: Int, extraCount: Int, localCapacity: Int) {
        self.mainCount = mainCount
        self.extraCount = extraCount
        self.localCapacity = max(1, localCapacity)
        slots = .allocate(capacity: self.localCapacity * mainCount)
        slots.initialize(repeating: 0, count: self.localCapacity * mainCount)
        extras = [Double](repeating: 0, count: self.localCapacity * extraCount)
        maxMain = [Int16](repeating: 0, count: mainCount)
        maxExtra = [Double](repeating: 0, count: extraCount)
        lanes = [UInt8](repeating: 0, count: mainCount + extraCount + Self.flags)
        sums = [Int32](repeating: 0, count: mainCount + 3 * extraCount)
    }

    deinit { slots.deallocate() }

    /// Bytes one step passes to its two allreduces: 1 per exponent and flag, 4 per integer sum.
    public var messageBytes: Int { lanes.count + 4 * sums.count }

    /// S: the integer bits of a value at its element's largest exponent, for 32- or 64-bit sums.
    static func precisionBits(chunks: Int, wide: Bool) -> Int {
        (wide ? 51 : 30) - ExactReducer.headroomBits(chunks: chunks)
    }

    /// 2^k as a Double, for -1022 <= k <= 1023 (built from its bit pattern: exact and fast).
    @inline(__always)
    static func pow2(_ k: Int) -> Double { Double(bitPattern: UInt64(1023 + k) << 52) }

    /// Starts a step of `chunksInStep` chunks over all ranks (the same number on every rank).
    public func begin(chunksInStep: Int) {
        precondition(chunksInStep <= Self.maxChunks, "CompactExactReducer: \(chunksInStep) chunks per step, at most \(Self.maxChunks)")
        stored = 0
        chunks = max(1, chunksInStep)
        maxMain.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        maxExtra.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// `[mainCount]` where the next chunk's gradient goes (written before `add`).
    public func nextSlot() -> UnsafeMutablePointer<Float> {
        precondition(stored < localCapacity, "CompactExactReducer: more chunks than capacity \(localCapacity)")
        return slots + stored * mainCount
    }

    /// Commits the chunk written into `nextSlot()` with its `extra` `[extraCount]` values.
    public func add(extra: [Double]) {
        precondition(extra.count == extraCount, "CompactExactReducer: \(extra.count) extras, expected \(extraCount)")
        let base = stored * mainCount
        maxMain.withUnsafeMutableBufferPointer { mx in
            (slots + base).withMemoryRebound(to: Int32.self, capacity: mainCount) { bits in
                let m = mx.baseAddress!
                for i in 0..<mainCount { m[i] = Swift.max(m[i], Int16(truncatingIfNeeded: (bits[i] >> 16) & 0x7FFF)) }
            }
        }
        for j in 0..<extraCount {
            let v = extra[j]
            extras[stored * extraCount + j] = v
            let a = v.magnitude
            maxExtra[j] = (a > maxExtra[j] || a != a) ? a : maxExtra[j]
        }
        stored += 1
    }

    /// The exponent lane of a largest magnitude: its exponent clamped to -127...127, plus 128; 0
    /// for zero; nil for a magnitude too large for the lane (>= 2^128) or not finite.
    static func exponentLane(_ m: Double) -> UInt8? {
        if m == 0 { return 0 }
        guard m.isFinite, m < 0x1p128 else { return nil }
        return UInt8(max(-127, Int(m.exponent)) + 128)
    }

    /// Reduces over all ranks. On return `result` `[width]` holds the sums (identical bits on every
    /// rank) unless the status reports a failure, in which case `result` is left untouched.
    public func reduce(_ comm: Communicator, result: inout [Double], errorCode: Int32 = 0,
                       requestStop: Bool = false) throws -> ReduceStatus {
        precondition(result.count == width, "CompactExactReducer.reduce: result must hold width values")
        var nonFinite = false
        // Exponent lanes from the float32 exponent field: 1...254 is E + 127 (lane E + 128), 0 a
        // subnormal or zero (E clamps to -127: lane 1; a zero element sums to zero on any grid),
        // 255 an infinity or NaN.
        maxMain.withUnsafeBufferPointer { mx in
            lanes.withUnsafeMutableBufferPointer { l in
                nonFinite = Self.exponentLanes(mx.baseAddress!, count: mainCount, into: l.baseAddress!)
            }
        }
        for j in 0..<extraCount {
            guard let e = Self.exponentLane(maxExtra[j]) else { nonFinite = true; continue }
            lanes[mainCount + j] = e
        }
        let f = width
        lanes[f] = nonFinite ? 1 : 0
        lanes[f + 1] = errorCode != 0 ? 1 : 0
        lanes[f + 2] = requestStop ? 1 : 0
        try allreduce(comm, &lanes, op: .max, what: "the exponent agreement of the gradient reduction")
        var status = ReduceStatus()
        status.stopRequested = lanes[f + 2] > 0
        if lanes[f] > 0 || lanes[f + 1] > 0 {
            // Rare: a second, small collective names the lowest failing rank and its code.
            var who = [Int32](repeating: Int32.min, count: ReduceStatus.exactSlots)
            ReduceStatus.encodeExact(rank: comm.rank, nonFinite: nonFinite, errorCode: errorCode, stop: requestStop,
                                     into: &who, at: 0)
            try allreduce(comm, &who, op: .max, what: "the failure report of the gradient reduction")
            let named = ReduceStatus(exact: who, at: 0)
            status.nonFiniteRank = named.nonFiniteRank
            status.errorRank = named.errorRank
            status.errorCode = named.errorCode
            return status
        }
        let s = Self.precisionBits(chunks: chunks, wide: false)
        lanes.withUnsafeBufferPointer { l in
            sums.withUnsafeMutableBufferPointer { a in
                Self.quantize(slots, chunks: stored, count: mainCount, lanes: l.baseAddress!, precision: s,
                              into: a.baseAddress!)
            }
        }
        for j in 0..<extraCount {
            // L = a * 2^34 + b * 2^17 + c with 0 <= b, c < 2^17: limb sums over at most 2^14 ranks fit an Int32.
            var l: Int64 = 0
            if let g = extraGrid(j) {
                for c in 0..<stored { l &+= Self.round(extras[c * extraCount + j], grid: g) }
            }
            sums[mainCount + 3 * j] = Int32(truncatingIfNeeded: l >> 34)
            sums[mainCount + 3 * j + 1] = Int32(truncatingIfNeeded: (l >> 17) & 0x1FFFF)
            sums[mainCount + 3 * j + 2] = Int32(truncatingIfNeeded: l & 0x1FFFF)
        }
        try allreduce(comm, &sums, op: .sum, what: "the gradient reduction")
        // Scaled back by the grid: exact (an integer below 2^30, or 2^51, times a power of two).
        sums.withUnsafeBufferPointer { a in
            lanes.withUnsafeBufferPointer { l in
                result.withUnsafeMutableBufferPointer { r in
                    Self.scaleBack(a.baseAddress!, count: mainCount, lanes: l.baseAddress!, precision: s, into: r.baseAddress!)
                }
            }
        }
        for j in 0..<extraCount {
            guard let g = extraGrid(j) else { result[mainCount + j] = 0; continue }
            let b = mainCount + 3 * j
            let total = (Int64(sums[b]) << 34) &+ (Int64(sums[b + 1]) << 17) &+ Int64(sums[b + 2])
            result[mainCount + j] = Double(sign: .plus, exponent: g, significand: Double(total))
        }
        return status
    }

    /// The exponent lanes of `count` elements from the high halves of their largest |v| (see
    /// `maxMain`): the float32 exponent field f (1...254 is E + 127) gives the lane f + 1 = E + 128;
    /// f = 0 (zero or subnormal: E clamps to -127) gives 1; f = 255 (infinity or NaN) is reported
    /// (the return value) and its lane is meaningless. Eight elements at a time.
    static func exponentLanes(_ mx: UnsafePointer<Int16>, count: Int, into l: UnsafeMutablePointer<UInt8>) -> Bool {
        typealias V = SIMD8<UInt16>
        var bad = V.zero
        var i = 0
        while i + 8 <= count {
            let field = (UnsafeRawPointer(mx + i).loadUnaligned(as: V.self) &>> 7) & 0xFF
            bad |= (field &+ 1) & 0x100  // 0x100 exactly where field == 0xFF
            UnsafeMutableRawPointer(l + i).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: field &+ 1), as: SIMD8<UInt8>.self)
            i += 8
        }
        var tail: UInt16 = 0
        while i < count {
            let field = (UInt16(bitPattern: mx[i]) >> 7) & 0xFF
            tail |= (field &+ 1) & 0x100
            l[i] = UInt8(truncatingIfNeeded: field &+ 1)
            i += 1
        }
        return (bad.max() | tail) != 0
    }

    /// 2^(k_i) for eight exponent lanes: `bias + lane_i` (or `bias - lane_i`) in the exponent
    /// field of a Double, i.e. k_i = bias ± lane_i - 1023 (within -1022...1023 for the callers').
    @inline(__always)
    static func pow2(lanes l: UnsafePointer<UInt8>, bias: Int64, negated: Bool) -> SIMD8<Double> {
        let e = SIMD8<Int64>(truncatingIfNeeded: UnsafeRawPointer(l).loadUnaligned(as: SIMD8<UInt8>.self))
        let field = negated ? SIMD8<Int64>(repeating: bias) &- e : SIMD8<Int64>(repeating: bias) &+ e
        return unsafeBitCast(field &<< 52, to: SIMD8<Double>.self)
    }

    /// For every element i: q = round(v * 2^(S - 1 - E_i)) (to nearest, ties to even) of each of
    /// the `chunks` stored partials v (`slots` `[chunks, count]`), summed into `acc[i]` (which this
    /// overwrites). E_i = lane_i - 128. v * 2^k is exact (a float32 in a double, scaled by a power
    /// of two, at most 2^S < 2^51 in magnitude); adding 1.5 * 2^52 rounds it to nearest-even into
    /// the low bits of the sum's bit pattern, whose low 32 bits are then q (two's complement: the
    /// magic number's low 32 bits are zero). Eight elements at a time, every chunk before the
    /// next eight, so each sum and scale is loaded once.
    static func quantize(_ slots: UnsafePointer<Float>, chunks: Int, count: Int, lanes: UnsafePointer<UInt8>,
                         precision s: Int, into acc: UnsafeMutablePointer<Int32>) {
        // 2^(S - 1 - E) = 2^(S - 1 - lane + 128): exponent field 1023 + S + 127 - lane.
        let bias = Int64(1023 + s + 127)
        let magic = SIMD8<Double>(repeating: ExactReducer.magic)
        var i = 0
        while i + 8 <= count {
            let scale = pow2(lanes: lanes + i, bias: bias, negated: true)
            var sum = SIMD8<Int32>.zero
            var v = UnsafeRawPointer(slots + i)
            for _ in 0..<chunks {
                let r = SIMD8<Double>(v.loadUnaligned(as: SIMD8<Float>.self)) * scale + magic
                sum &+= SIMD8<Int32>(truncatingIfNeeded: unsafeBitCast(r, to: SIMD8<UInt64>.self))
                v += 4 * count
            }
            UnsafeMutableRawPointer(acc + i).storeBytes(of: sum, as: SIMD8<Int32>.self)
            i += 8
        }
        let magicBits = Int64(bitPattern: ExactReducer.magic.bitPattern)
        while i < count {
            let scale = Self.pow2(s - 1 - (Int(lanes[i]) - 128))
            var sum: Int32 = 0
            for c in 0..<chunks {
                let r = Double(slots[c * count + i]) * scale + ExactReducer.magic
                sum &+= Int32(truncatingIfNeeded: Int64(bitPattern: r.bitPattern) &- magicBits)
            }
            acc[i] = sum
            i += 1
        }
    }

    /// `result[i] = sums[i] * 2^(E_i + 1 - S)`: exact (an integer below 2^30 times a power of two).
    static func scaleBack(_ sums: UnsafePointer<Int32>, count: Int, lanes: UnsafePointer<UInt8>, precision s: Int,
                          into result: UnsafeMutablePointer<Double>) {
        // 2^(E + 1 - S) = 2^(lane - 128 + 1 - S): exponent field 1023 - 127 - S + lane.
        let bias = Int64(1023 - 127 - s)
        var i = 0
        while i + 8 <= count {
            let grid = pow2(lanes: lanes + i, bias: bias, negated: false)
            let q = UnsafeRawPointer(sums + i).loadUnaligned(as: SIMD8<Int32>.self)
            UnsafeMutableRawPointer(result + i).storeBytes(of: SIMD8<Double>(q) * grid, as: SIMD8<Double>.self)
            i += 8
        }
        while i < count {
            result[i] = Double(sums[i]) * Self.pow2(Int(lanes[i]) - 128 + 1 - s)
            i += 1
        }
    }

    /// The grid exponent of extra `j` this step (nil: zero everywhere).
    private func extraGrid(_ j: Int) -> Int? {
        let l = lanes[mainCount + j]
        return l == 0 ? nil : Int(l) - 128 + 1 - Self.precisionBits(chunks: chunks, wide: true)
    }

    /// round(v / 2^grid) to nearest-even (|v| < 2^(E + 1), so the result is at most 2^S).
    private static func round(_ v: Double, grid: Int) -> Int64 {
        guard v != 0 else { return 0 }
        return Int64(Double(sign: .plus, exponent: -grid, significand: v).rounded(.toNearestOrEven))
    }

    /// Blocking allreduce, or a non-blocking one polled against `stallTimeout`.
    private func allreduce<T: CommScalar>(_ comm: Communicator, _ buffer: inout [T], op: ReduceOp, what: String) throws {
        try reductionAllreduce(comm, &buffer, op: op, what: what, timeout: stallTimeout)
    }

    /// Plain reference: the chunk partials `[chunks][width]` (the first `mainCount` of each are
    /// float32 values) rounded exactly as `reduce` does and summed in order, on one process, with
    /// `Double.rounded` instead of the bit trick. For tests.
    public static func referenceSum(_ partials: [[Double]], mainCount: Int) -> [Double] {
        guard let width = partials.first?.count else { return [] }
        let c = partials.count
        var sums = [Double](repeating: 0, count: width)
        for i in 0..<width {
            let largest = partials.map { $0[i].magnitude }.max()!
            guard largest != 0 else { continue }
            // Mains: the float32 exponent field's E, -127 below the normal range; extras likewise.
            let e = largest < 0x1p-126 ? -127 : max(-127, Int(largest.exponent))
            let grid = e + 1 - precisionBits(chunks: c, wide: i >= mainCount)
            var total: Int64 = 0
            for p in partials { total += Int64(Double(sign: .plus, exponent: -grid, significand: p[i]).rounded(.toNearestOrEven)) }
            sums[i] = Double(sign: .plus, exponent: grid, significand: Double(total))
        }
        return sums
    }
}
