// CarriedExponentReducer: the default exact gradient reduction of float32 training: the same
// fixed-point idea as `ExactReducer` (round every chunk partial to a per-element power-of-two grid,
// add integers: exact, so the bits never depend on which rank holds which chunk or on MPI's order;
// ReproBLAS's binned sums, Demmel & Nguyen 2015, reduced to one bin), with the grid taken from the
// exponents the previous step agreed on, so that a step needs ONE collective of 5 bytes per value
// instead of an exponent MAX-allreduce (4 bytes) followed by an Int64 SUM-allreduce (8 bytes).
//
// Per element i, the state carried from step to step is e_i: the largest binary exponent of the
// element's chunk partials at the last step where one was non-zero (`unknownExponent` before any).
// A step with C chunks:
//   1. P_i = e_i + margin bounds the exponents expected this step; each chunk partial v is rounded
//      to an integer q = round(v * 2^(S - 1 - P_i)) (to nearest, ties to even), S = 31 - ceil(log2 C)
//      bits (51 - ceil(log2 C) for the two float64 extras: loss and weight sums), so |q| < 2^S and
//      the sum of all C chunks fits an Int32 (Int64); each rank adds its chunks' integers;
//   2. one allreduce of `SumMaxRecord`s adds the integers (Int32 lanes; each extra's Int64 sum is
//      split into three 17-bit limbs so that limb sums cannot overflow) and takes, by max, every
//      element's exponent this step (Int8 lanes) and four flags: non-finite, error, stop, overflow;
//   3. overflow (some |v| >= 2^(P_i + 1): the gradient grew by more than 2^margin, or the element
//      had no exponent yet) makes every rank redo the step's rounding on the grid of the exponents
//      the collective just returned (P_i = this step's max) and reduce again: one more collective,
//      same bits on every rank;
//   4. sums are scaled back by 2^(P_i + 1 - S); e_i becomes this step's max exponent where the
//      element was non-zero.
// A value whose exponent is e_i keeps S - margin bits (>= 25 with at most 64 chunks per step: at
// least float32's 24-bit significand); a value k binades below keeps k fewer. The bits are a
// deterministic function of the chunk partials and the carried exponents, which checkpoints store
// (`exponents`), so results stay identical for any number of ranks and across a resume.
// Runs whose batches exceed `maxChunks` chunks, float64 runs and statistics use `ExactReducer`.
import Collectives

public final class CarriedExponentReducer {
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

    /// Binades a partial may grow over the carried exponent without forcing a second collective.
    public static let margin = 1
    /// Most chunks per step: S - margin = 31 - ceil(log2 64) - 1 = 24 bits at the carried exponent.
    public static let maxChunks = 64
    /// The carried exponent of an element never seen non-zero.
    public static let unknownExponent = Int8.min
    /// Largest number of ranks: the extras' 17-bit limbs are summed in Int32 lanes (2^31 / 2^17).
    public static let maxRanks = 1 << 14

    /// `[width]` the exponents carried from the last step (`unknownExponent`: none yet).
    public var exponents: [Int8]
    /// How many steps needed the second collective (exponents grew past the margin), for logs.
    public private(set) var overflowSteps = 0

    /// `[localCapacity, mainCount]` row-major: this step's chunk gradients, written in place by the
    /// trainer's backward pass (`nextSlot`), kept for a redo after an overflow.
    private var slots: [Float]
    /// `[localCapacity, extraCount]`: this step's chunk extras.
    private var extras: [Double]
    private var stored = 0
    private var chunks = 1
    /// `[records * 64]` the sum lanes: this rank's sum of the chunks' integers per main value,
    /// then three limbs per extra (written by `pack`), then zeros.
    private var acc: [Int32]
    /// `[extraCount]` this rank's sums of the extras' integers.
    private var accExtra: [Int64]
    /// `[records * 64]` the max lanes: exponents of mains and extras, the four flags, padding.
    private var maxLanes: [Int8]
    /// `[mainCount]` 2^(S - 1 - P_i) of this step (0 where the exponent is unknown) and its
    /// inverse 2^(P_i + 1 - S) (the grid).
    private var scale: [Double]
    private var grid: [Double]
    /// `[mainCount]` 2^(P_i + 1): a partial at or above it overflows the grid (0 where unknown).
    private var limit: [Float]
    /// `[mainCount]` / `[extraCount]` this rank's largest |v| per element this step (NaN if seen).
    private var maxMain: [Float]
    private var maxExtra: [Double]
    /// `[records]` the wire buffer.
    private var records: [SumMaxRecord]

    /// Sum lanes: mains, then three limbs per extra. Max lanes: exponents (mains, extras), then flags.
    private var sumLanes: Int { mainCount + 3 * extraCount }
    private var flagLane: Int { mainCount + extraCount }
    static let flags = 4

    public init(mainCount: Int, extraCount: Int, localCapacity: Int) {
        self.mainCount = mainCount
        self.extraCount = extraCount
        self.localCapacity = max(1, localCapacity)
        exponents = [Int8](repeating: Self.unknownExponent, count: mainCount + extraCount)
        slots = [Float](repeating: 0, count: self.localCapacity * mainCount)
        extras = [Double](repeating: 0, count: self.localCapacity * extraCount)
        let lanes = max(mainCount + 3 * extraCount, mainCount + extraCount + Self.flags)
        let recordCount = (lanes + SumMaxRecord.lanes - 1) / SumMaxRecord.lanes
        acc = [Int32](repeating: 0, count: recordCount * SumMaxRecord.lanes)
        accExtra = [Int64](repeating: 0, count: extraCount)
        maxLanes = [Int8](repeating: Self.unknownExponent, count: recordCount * SumMaxRecord.lanes)
        scale = [Double](repeating: 0, count: mainCount)
        grid = [Double](repeating: 0, count: mainCount)
        limit = [Float](repeating: 0, count: mainCount)
        maxMain = [Float](repeating: 0, count: mainCount)
        maxExtra = [Double](repeating: 0, count: extraCount)
        records = [SumMaxRecord](repeating: .zero, count: recordCount)
    }

    /// Bytes one step sends into the allreduce (its message size): 320 per 64 lanes.
    public var messageBytes: Int { records.count * SumMaxRecord.wireBytes }

    /// S: the integer bits of a chunk's value at its element's bound, for 32- or 64-bit sums.
    static func precisionBits(chunks: Int, wide: Bool) -> Int {
        (wide ? 51 : 31) - ExactReducer.headroomBits(chunks: chunks)
    }

    /// Starts a step of `chunksInStep` chunks over all ranks (the same number on every rank).
    public func begin(chunksInStep: Int) {
        precondition(chunksInStep <= Self.maxChunks, "CarriedExponentReducer: \(chunksInStep) chunks per step, at most \(Self.maxChunks)")
        stored = 0
        chunks = max(1, chunksInStep)
        let s = Self.precisionBits(chunks: chunks, wide: false)
        setGrid(bounds: exponents, margin: Self.margin, bits: s)
        acc.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        accExtra.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        maxMain.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        maxExtra.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// 2^k as a Double, for -1022 <= k <= 1023 (built from its bit pattern: exact and fast).
    @inline(__always)
    static func pow2(_ k: Int) -> Double { Double(bitPattern: UInt64(1023 + k) << 52) }

    /// Fills `scale`, `grid` and `limit` for mains bounded by exponents `bounds` + `margin`.
    private func setGrid(bounds: [Int8], margin: Int, bits s: Int) {
        bounds.withUnsafeBufferPointer { e in
            scale.withUnsafeMutableBufferPointer { sc in
                grid.withUnsafeMutableBufferPointer { g in
                    limit.withUnsafeMutableBufferPointer { lim in
                        for i in 0..<mainCount {
                            let known = e[i] != Self.unknownExponent
                            let p = Int(e[i]) + margin  // -126...128 when known
                            sc[i] = known ? Self.pow2(s - 1 - p) : 0
                            g[i] = known ? Self.pow2(p + 1 - s) : 0
                            lim[i] = !known ? 0 : (p + 1 >= 128 ? .infinity : Float(bitPattern: UInt32(127 + p + 1) << 23))
                        }
                    }
                }
            }
        }
    }

    /// `[mainCount]` where the next chunk's gradient goes (valid until `add`).
    public func nextSlot() -> UnsafeMutablePointer<Float> {
        precondition(stored < localCapacity, "CarriedExponentReducer: more chunks than capacity \(localCapacity)")
        return slots.withUnsafeMutableBufferPointer { $0.baseAddress! + stored * mainCount }
    }

    /// Commits the chunk written into `nextSlot()` with its `extra` `[extraCount]` values: rounds
    /// it onto this step's grid and adds it to this rank's sums.
    public func add(extra: [Double]) {
        precondition(extra.count == extraCount, "CarriedExponentReducer: \(extra.count) extras, expected \(extraCount)")
        let base = stored * mainCount
        slots.withUnsafeBufferPointer { p in
            scale.withUnsafeBufferPointer { sc in
                acc.withUnsafeMutableBufferPointer { a in
                    maxMain.withUnsafeMutableBufferPointer { mx in
                        Self.quantize(p.baseAddress! + base, count: mainCount, scale: sc.baseAddress!, into: a.baseAddress!,
                                      max: mx.baseAddress!)
                    }
                }
            }
        }
        for j in 0..<extraCount {
            let v = extra[j]
            extras[stored * extraCount + j] = v
            let a = v.magnitude
            maxExtra[j] = (a > maxExtra[j] || a != a) ? a : maxExtra[j]
            accExtra[j] &+= Self.round(v, grid: extraGrid(j, exponent: exponents[mainCount + j]))
        }
        stored += 1
    }

    /// q_i = round(v_i * scale_i) added to `acc`, and the running max of |v_i| (NaN replaces it).
    /// Branch-free so it vectorises: v * scale is exact and below 2^S < 2^51 in magnitude unless
    /// the value overflows the grid (then the integer is garbage and the step is redone); adding
    /// 1.5 * 2^52 rounds it to nearest-even into the low bits of the sum's bit pattern.
    @inline(__always)
    static func quantize(_ v: UnsafePointer<Float>, count: Int, scale: UnsafePointer<Double>,
                         into acc: UnsafeMutablePointer<Int32>, max mx: UnsafeMutablePointer<Float>) {
        let magicBits = Int64(bitPattern: ExactReducer.magic.bitPattern)
        for i in 0..<count {
            let x = v[i]
            let r = Double(x) * scale[i] + ExactReducer.magic
            acc[i] &+= Int32(truncatingIfNeeded: Int64(bitPattern: r.bitPattern) &- magicBits)
            let a = x.magnitude
            mx[i] = (a > mx[i] || a != a) ? a : mx[i]
        }
    }

    /// The grid exponent of extra `j` for a bound exponent `e` (nil: unknown).
    private func extraGrid(_ j: Int, exponent e: Int8, margin: Int = CarriedExponentReducer.margin) -> Int? {
        e == Self.unknownExponent ? nil : Int(e) + margin + 1 - Self.precisionBits(chunks: chunks, wide: true)
    }

    /// round(v / 2^grid) to nearest-even (0 when the grid is unknown: that chunk then overflows).
    private static func round(_ v: Double, grid: Int?) -> Int64 {
        guard let grid, v.isFinite, v != 0 else { return 0 }
        let x = Double(sign: .plus, exponent: -grid, significand: v)
        guard x.magnitude < 0x1p62 else { return 0 }  // overflows the grid: the step is redone
        return Int64(x.rounded(.toNearestOrEven))
    }

    /// The Int8 lane of a largest magnitude: its exponent clamped to -127...127, `unknownExponent`
    /// for zero; nil for a magnitude too large for the lane (>= 2^128) or not finite.
    static func exponentLane(_ m: Double) -> Int8? {
        if m == 0 { return unknownExponent }
        guard m.isFinite, m < 0x1p128 else { return nil }
        return Int8(max(-127, Int(m.exponent)))
    }

    /// Reduces over all ranks. On return `result` `[width]` holds the sums (identical bits on every
    /// rank) unless the status reports a failure, in which case `result` is left untouched.
    public func reduce(_ comm: Communicator, result: inout [Double], errorCode: Int32 = 0,
                       requestStop: Bool = false) throws -> ReduceStatus {
        precondition(result.count == width, "CarriedExponentReducer.reduce: result must hold width values")
        var nonFinite = false, overflow = false
        // This rank's exponents (the exponent field of the largest |v|: 0 for subnormals gives -127,
        // the clamp; 255 is an infinity or NaN) and its overflow test, branch-free.
        maxMain.withUnsafeBufferPointer { mx in
            limit.withUnsafeBufferPointer { lim in
                maxLanes.withUnsafeMutableBufferPointer { lanes in
                    var bad: UInt32 = 0, over: UInt32 = 0
                    for i in 0..<mainCount {
                        let m = mx[i]
                        let field = (m.bitPattern >> 23) & 0xFF
                        bad |= field == 0xFF ? 1 : 0
                        over |= (m != 0 && m >= lim[i]) ? 1 : 0
                        lanes[i] = m == 0 ? Self.unknownExponent : Int8(truncatingIfNeeded: Int32(field) - 127)
                    }
                    nonFinite = bad != 0
                    overflow = over != 0
                }
            }
        }
        for j in 0..<extraCount {
            guard let e = Self.exponentLane(maxExtra[j]) else { nonFinite = true; continue }
            maxLanes[mainCount + j] = e
            if e != Self.unknownExponent,
               exponents[mainCount + j] == Self.unknownExponent || Int(e) > Int(exponents[mainCount + j]) + Self.margin {
                overflow = true
            }
        }
        let f = flagLane
        maxLanes[f] = nonFinite ? 1 : 0
        maxLanes[f + 1] = errorCode != 0 ? 1 : 0
        maxLanes[f + 2] = requestStop ? 1 : 0
        maxLanes[f + 3] = overflow ? 1 : 0
        pack()
        try allreduce(comm, &records, op: .sum, what: "the gradient reduction")
        unpack()
        var status = ReduceStatus()
        status.stopRequested = maxLanes[f + 2] > 0
        if maxLanes[f] > 0 || maxLanes[f + 1] > 0 {
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
        /// `[width]` this step's exponents over all ranks.
        let agreed = Array(maxLanes[0..<width])
        var bounds = exponents, margin = Self.margin
        if maxLanes[f + 3] > 0 {
            // Some partial grew past its bound: round again on this step's own exponents.
            overflowSteps += 1
            bounds = agreed
            margin = 0
            requantize(bounds: bounds)
            pack()
            try allreduce(comm, &records, op: .sum, what: "the gradient reduction (second pass)")
            unpack()
        }
        // Sums scaled back by the grid (exact: a power of two times an integer below 2^31 / 2^51).
        acc.withUnsafeBufferPointer { a in
            grid.withUnsafeBufferPointer { g in
                result.withUnsafeMutableBufferPointer { r in
                    for i in 0..<mainCount { r[i] = Double(a[i]) * g[i] }
                }
            }
        }
        for j in 0..<extraCount {
            guard let g = extraGrid(j, exponent: bounds[mainCount + j], margin: margin) else { result[mainCount + j] = 0; continue }
            let b = mainCount + 3 * j
            let total = (Int64(acc[b]) << 34) &+ (Int64(acc[b + 1]) << 17) &+ Int64(acc[b + 2])
            result[mainCount + j] = Double(sign: .plus, exponent: g, significand: Double(total))
        }
        // The next step's bounds: this step's exponents where the element was non-zero.
        for i in 0..<width where agreed[i] != Self.unknownExponent { exponents[i] = agreed[i] }
        return status
    }

    /// Rounds every stored chunk again on the grid of `bounds` (margin 0), into the sums.
    private func requantize(bounds: [Int8]) {
        setGrid(bounds: bounds, margin: 0, bits: Self.precisionBits(chunks: chunks, wide: false))
        acc.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        var scratch = [Float](repeating: 0, count: mainCount)
        for c in 0..<stored {
            slots.withUnsafeBufferPointer { p in
                scale.withUnsafeBufferPointer { sc in
                    acc.withUnsafeMutableBufferPointer { a in
                        scratch.withUnsafeMutableBufferPointer { mx in
                            Self.quantize(p.baseAddress! + c * mainCount, count: mainCount, scale: sc.baseAddress!,
                                          into: a.baseAddress!, max: mx.baseAddress!)
                        }
                    }
                }
            }
        }
        for j in 0..<extraCount {
            accExtra[j] = 0
            for c in 0..<stored {
                accExtra[j] &+= Self.round(extras[c * extraCount + j], grid: extraGrid(j, exponent: bounds[mainCount + j], margin: 0))
            }
        }
    }

    /// Writes each extra's limbs after the mains, then copies the lanes into the records.
    private func pack() {
        for j in 0..<extraCount {
            // L = a * 2^34 + b * 2^17 + c with 0 <= b, c < 2^17: limb sums over at most 2^14 ranks fit an Int32.
            let l = accExtra[j]
            acc[mainCount + 3 * j] = Int32(truncatingIfNeeded: l >> 34)
            acc[mainCount + 3 * j + 1] = Int32(truncatingIfNeeded: (l >> 17) & 0x1FFFF)
            acc[mainCount + 3 * j + 2] = Int32(truncatingIfNeeded: l & 0x1FFFF)
        }
        let n = SumMaxRecord.lanes, maxOffset = MemoryLayout<SIMD64<Int32>>.size
        records.withUnsafeMutableBytes { r in
            acc.withUnsafeBytes { s in
                maxLanes.withUnsafeBytes { m in
                    for k in 0..<(r.count / SumMaxRecord.wireBytes) {
                        let dst = r.baseAddress! + k * SumMaxRecord.wireBytes
                        dst.copyMemory(from: s.baseAddress! + k * n * 4, byteCount: n * 4)
                        (dst + maxOffset).copyMemory(from: m.baseAddress! + k * n, byteCount: n)
                    }
                }
            }
        }
    }

    /// Copies the reduced records back into the sum and max lanes.
    private func unpack() {
        let n = SumMaxRecord.lanes, maxOffset = MemoryLayout<SIMD64<Int32>>.size
        records.withUnsafeBytes { r in
            acc.withUnsafeMutableBytes { s in
                maxLanes.withUnsafeMutableBytes { m in
                    for k in 0..<(r.count / SumMaxRecord.wireBytes) {
                        let src = r.baseAddress! + k * SumMaxRecord.wireBytes
                        (s.baseAddress! + k * n * 4).copyMemory(from: src, byteCount: n * 4)
                        (m.baseAddress! + k * n).copyMemory(from: src + maxOffset, byteCount: n)
                    }
                }
            }
        }
    }

    /// Blocking allreduce, or a non-blocking one polled against `stallTimeout`.
    private func allreduce<T: CommScalar>(_ comm: Communicator, _ buffer: inout [T], op: ReduceOp, what: String) throws {
        guard let limit = stallTimeout else { return try comm.allreduce(&buffer, op: op) }
        try buffer.withUnsafeMutableBufferPointer { b in
            let pending = try comm.startAllreduce(b, op: op)
            do {
                try pending.wait(timeout: limit)
            } catch CommError.timedOut {
                throw CommError.timedOut(operation: what, seconds: limit)
            }
        }
    }

    /// Plain reference of one step: the chunk partials `[chunks][width]` (mains as Float values)
    /// rounded on the grid of `exponents` exactly as `reduce` does, with the overflow redo, summed
    /// in order with arbitrary precision integers (Int64 suffices here), on one process. Returns
    /// the sums and the next exponents. For tests.
    public static func referenceStep(_ partials: [[Double]], mainCount: Int, exponents: [Int8]) -> (sums: [Double], next: [Int8]) {
        let width = exponents.count, c = partials.count
        var maxExp = [Int8](repeating: unknownExponent, count: width)
        for p in partials { for i in 0..<width where p[i] != 0 { maxExp[i] = max(maxExp[i], exponentLane(p[i].magnitude)!) } }
        var overflow = false
        for i in 0..<width where maxExp[i] != unknownExponent {
            if exponents[i] == unknownExponent || Int(maxExp[i]) > Int(exponents[i]) + margin { overflow = true }
        }
        var sums = [Double](repeating: 0, count: width)
        for i in 0..<width {
            let bound: Int8 = overflow ? maxExp[i] : exponents[i]
            guard bound != unknownExponent else { continue }
            let grid = Int(bound) + (overflow ? 0 : margin) + 1 - precisionBits(chunks: c, wide: i >= mainCount)
            var total: Int64 = 0
            for p in partials { total += Int64(Double(sign: .plus, exponent: -grid, significand: p[i]).rounded(.toNearestOrEven)) }
            sums[i] = Double(sign: .plus, exponent: grid, significand: Double(total))
        }
        var next = exponents
        for i in 0..<width where maxExp[i] != unknownExponent { next[i] = maxExp[i] }
        return (sums, next)
    }
}
