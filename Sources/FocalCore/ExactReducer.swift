// ExactReducer: sums per-chunk partial vectors over all ranks with a result that depends only on
// the multiset of chunk partials, never on which rank holds which chunk or on MPI's reduction order.
//
// Method (fixed-point with a globally agreed per-element exponent, as in the binned sums of
// ReproBLAS, Demmel & Nguyen 2015, reduced to one bin):
//   1. each rank stores its chunks' partials (Double) and the largest binary exponent it saw per
//      element; an Int32 MAX-allreduce agrees on E_i = max over all chunks of exponent(|v_i|),
//      and carries status flags (a non-finite value seen; an error on a rank) in extra slots;
//   2. every partial is rounded to an integer on the grid 2^(E_i + 1 - S), where
//      S = 51 - ceil(log2(chunks in the step)), so |q| <= 2^S and the sum of all chunks stays
//      below 2^51 (exact in an Int64, and in reach of the branch-free rounding trick); ranks add
//      their integers (exact) and an Int64 SUM-allreduce adds the ranks' (exact, so associative);
//   3. the integer sums are scaled back by 2^(E_i + 1 - S).
// Each value keeps S (45-50 in practice) bits relative to the largest chunk partial of its
// element, far more than float32 carries; the rounding is a deterministic function of each chunk.
// Cost per step: an Int32 and an Int64 allreduce of the vector's length.
import Collectives

/// The step's status as every rank sees it after the reduction: a typed view over the slots that
/// ride at the end of the step's own collective (no extra message).
///
/// Exact mode, four `Int32` slots after the exponents, combined by MAX: non-finite seen
/// (`Int32.max - rank`, so the lowest rank wins), error (`Int32.max - rank`), that error's code,
/// stop requested (1). Empty slots hold `Int32.min` (0 for the stop slot). Plain mode
/// (`--fast-reduce`), three `Double` slots after the sums, combined by SUM: non-finite count,
/// error-code sum, stop count; sums cannot name a rank, so -1 stands for "some rank".
public struct ReduceStatus: Sendable, Equatable {
    /// Lowest rank that saw a non-finite partial, if any (-1: some rank).
    public var nonFiniteRank: Int?
    /// Lowest rank that reported an error, if any (-1: some rank), with its code.
    public var errorRank: Int?
    public var errorCode: Int32 = 0
    /// Some rank asked every rank to stop after this step (a SIGTERM or SIGINT).
    public var stopRequested: Bool = false

    /// No failure, no stop.
    public init() {}

    /// Slots after the exponents in exact mode, and after the sums in plain mode.
    static let exactSlots = 4, plainSlots = 3

    /// Writes this rank's flags into the four exact-mode slots starting at `base` (MAX-combined).
    static func encodeExact(rank: Int, nonFinite: Bool, errorCode: Int32, stop: Bool,
                            into e: inout [Int32], at base: Int) {
        let tag = Int32.max - Int32(rank)
        e[base] = nonFinite ? tag : Int32.min
        e[base + 1] = errorCode != 0 ? tag : Int32.min
        e[base + 2] = errorCode != 0 ? errorCode : Int32.min
        e[base + 3] = stop ? 1 : 0
    }

    /// Reads the four exact-mode slots at `base` after the MAX-allreduce.
    init(exact e: [Int32], at base: Int) {
        stopRequested = e[base + 3] != 0
        if e[base] > Int32.min { nonFiniteRank = Int(Int32.max - e[base]) }
        if e[base + 1] > Int32.min {
            errorRank = Int(Int32.max - e[base + 1])
            errorCode = e[base + 2]
        }
    }

    /// Writes this rank's flags into the three plain-mode slots at `base` (SUM-combined).
    static func encodePlain(nonFinite: Bool, errorCode: Int32, stop: Bool, into p: inout [Double], at base: Int) {
        p[base] = nonFinite ? 1 : 0
        p[base + 1] = Double(errorCode)
        p[base + 2] = stop ? 1 : 0
    }

    /// Reads the three plain-mode slots at `base` after the SUM-allreduce.
    init(plain p: [Double], at base: Int) {
        stopRequested = p[base + 2] > 0
        if p[base] > 0 { nonFiniteRank = -1; return }
        if p[base + 1] != 0 { errorRank = -1; errorCode = Int32(clamping: Int(p[base + 1])) }
    }

    /// True when the step's sums cannot be used (a non-finite value or a rank's error).
    public var failed: Bool { nonFiniteRank != nil || errorRank != nil }
}

public final class ExactReducer {
    /// Values per chunk partial.
    public let width: Int
    /// False for `--fast-reduce`: chunk partials are added in float64 as they come and one plain
    /// float64 SUM-allreduce combines the ranks (cheaper, but the bits then depend on the number of
    /// ranks and on MPI's reduction order).
    public let exact: Bool
    /// `[width + 3]`: plain mode's buffer: sums, then the status slots (`ReduceStatus`).
    private var plain: [Double]
    /// Most chunks this rank stores in one step.
    public let localCapacity: Int
    /// `[localCapacity, width]` row-major: this step's chunk partials.
    private var partials: [Double]
    private var stored = 0
    /// `[width + 4]`: per-element max exponent, then the status slots (`ReduceStatus`).
    private var exponents: [Int32]
    /// Seconds a collective may take before `reduce` gives up with `CommError.timedOut`
    /// (nil: wait forever). A stuck collective is only escaped by aborting the job.
    public var stallTimeout: Double?
    /// `[width]` integer sums.
    private var fixed: [Int64]
    /// `[width]` per-element power-of-two scale of the current step.
    private var scales: [Double]
    /// `[width]` largest |value| per element over this rank's chunks of the step.
    private var maxMagnitude: [Double]

    /// Exponent of an element that is zero in every chunk.
    static let emptyExponent: Int32 = -4000

    /// Bytes one step passes to its allreduce(s): exact, the Int32 exponents and status slots plus
    /// the Int64 sums; plain, the float64 sums and status slots.
    public var messageBytes: Int { exact ? 4 * exponents.count + 8 * fixed.count : 8 * plain.count }

    public init(width: Int, localCapacity: Int, exact: Bool = true) {
        self.width = width
        self.exact = exact
        plain = [Double](repeating: 0, count: exact ? 0 : width + ReduceStatus.plainSlots)
        self.localCapacity = exact ? max(1, localCapacity) : 1
        partials = [Double](repeating: 0, count: self.localCapacity * width)
        exponents = [Int32](repeating: Self.emptyExponent, count: width + ReduceStatus.exactSlots)
        fixed = [Int64](repeating: 0, count: width)
        scales = [Double](repeating: 0, count: width)
        maxMagnitude = [Double](repeating: 0, count: width)
        reset()
    }

    /// Starts a new step: forgets stored partials.
    public func reset() {
        stored = 0
        // Through buffer pointers: element-wise access to a class's array property costs a
        // dynamic exclusivity check per element.
        exponents.withUnsafeMutableBufferPointer { e in for i in 0..<width { e[i] = Self.emptyExponent } }
        maxMagnitude.withUnsafeMutableBufferPointer { m in m.update(repeating: 0) }
        plain.withUnsafeMutableBufferPointer { b in b.update(repeating: 0) }
    }

    /// Adds one chunk's partial: `main` `[mainCount]` in the training precision, then `extra`
    /// (e.g. loss and weight sums), together `width` values.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func add<T: TrainScalar>(main: UnsafePointer<T>?, mainCount: Int, extra: [Double]) {
        precondition(mainCount + extra.count == width, "ExactReducer: partial of \(mainCount + extra.count) values, width \(width)")
        if !exact {
            plain.withUnsafeMutableBufferPointer { b in
                if let main { for i in 0..<mainCount { b[i] += Double(main[i]) } }
                for j in 0..<extra.count { b[mainCount + j] += extra[j] }
            }
            return
        }
        precondition(stored < localCapacity, "ExactReducer: more chunks than capacity \(localCapacity)")
        let base = stored * width
        partials.withUnsafeMutableBufferPointer { p in
            maxMagnitude.withUnsafeMutableBufferPointer { mx in
                // Branch-free so it vectorises: copy, and a running max of |v| per element that
                // a NaN replaces (so any NaN or infinity shows up as a non-finite maximum).
                if let main {
                    for i in 0..<mainCount {
                        let v = Double(main[i])
                        p[base + i] = v
                        let a = v.magnitude
                        mx[i] = (a > mx[i] || a != a) ? a : mx[i]
                    }
                }
                for j in 0..<extra.count {
                    let v = extra[j], i = mainCount + j
                    p[base + i] = v
                    let a = v.magnitude
                    mx[i] = (a > mx[i] || a != a) ? a : mx[i]
                }
            }
        }
        stored += 1
    }

    /// Reduces over all ranks. `chunksInStep` is the global number of chunks of this step (the same
    /// on every rank). On return `result` `[width]` holds the sums (identical bits on every rank)
    /// unless the status reports a non-finite value, in which case `result` is left untouched.
    /// `errorCode` (non-zero) reports a local failure to every rank through the same collective.
    public func reduce(_ comm: Communicator, chunksInStep: Int, result: inout [Double],
                       errorCode: Int32 = 0, requestStop: Bool = false) throws -> ReduceStatus {
        precondition(result.count == width, "ExactReducer.reduce: result must hold width values")
        if !exact { return try reducePlain(comm, result: &result, errorCode: errorCode, requestStop: requestStop) }
        let w = width
        var nonFinite = false
        maxMagnitude.withUnsafeBufferPointer { m in
            exponents.withUnsafeMutableBufferPointer { e in
                for i in 0..<w where m[i] != 0 {
                    if m[i].isFinite {
                        e[i] = Int32(m[i].exponent)
                    } else {
                        nonFinite = true  // a NaN or an infinity in this rank's partials
                    }
                }
            }
        }
        ReduceStatus.encodeExact(rank: comm.rank, nonFinite: nonFinite, errorCode: errorCode, stop: requestStop,
                                 into: &exponents, at: width)
        try allreduce(comm, &exponents, op: .max, what: "the exponent agreement of the gradient reduction")
        let status = ReduceStatus(exact: exponents, at: width)
        if status.failed { return status }

        let s = Self.precisionBits(chunks: chunksInStep)
        partials.withUnsafeBufferPointer { p in
            exponents.withUnsafeBufferPointer { e in
                fixed.withUnsafeMutableBufferPointer { f in
                    scales.withUnsafeMutableBufferPointer { scale in
                        // scale_i = 2^(S - E_i - 1), exact; 0 marks an element that is zero everywhere,
                        // and infinity one so small that 2^(S - E_i - 1) overflows (slow path below).
                        for i in 0..<width {
                            f[i] = 0
                            let k = s - Int(e[i]) - 1
                            scale[i] = e[i] == Self.emptyExponent ? 0 : (k <= 1023 ? Double(sign: .plus, exponent: k, significand: 1) : .infinity)
                        }
                        for c in 0..<stored {
                            let base = c * width
                            for i in 0..<width {
                                // v * 2^(S - E - 1) is exact and below 2^51 in magnitude; adding
                                // 1.5 * 2^52 rounds it to an integer (to nearest, ties to even) held
                                // in the low bits of the sum's bit pattern: branch- and trap-free.
                                let k = scale[i].isFinite ? scale[i] : 0
                                let r = p[base + i] * k + Self.magic
                                f[i] &+= Int64(bitPattern: r.bitPattern) &- Int64(bitPattern: Self.magic.bitPattern)
                            }
                        }
                        for i in 0..<width where scale[i] == .infinity {
                            // Elements so small that 2^(S - E - 1) overflows a Double (below ~2^-970).
                            for c in 0..<stored {
                                let v = p[c * width + i]
                                guard v != 0 else { continue }
                                f[i] &+= Int64(Double(sign: .plus, exponent: s - Int(e[i]) - 1, significand: v)
                                                .rounded(.toNearestOrEven))
                            }
                        }
                    }
                }
            }
        }
        try allreduce(comm, &fixed, op: .sum, what: "the gradient reduction")
        exponents.withUnsafeBufferPointer { e in
            fixed.withUnsafeBufferPointer { f in
                result.withUnsafeMutableBufferPointer { r in
                    for i in 0..<r.count {
                        r[i] = e[i] == Self.emptyExponent
                            ? 0 : Double(sign: .plus, exponent: Int(e[i]) + 1 - s, significand: Double(f[i]))
                    }
                }
            }
        }
        return status
    }

    /// `--fast-reduce`: one float64 SUM-allreduce of the rank's running sums and the flags.
    private func reducePlain(_ comm: Communicator, result: inout [Double], errorCode: Int32,
                             requestStop: Bool) throws -> ReduceStatus {
        var bad = false
        for i in 0..<width where !plain[i].isFinite { bad = true }
        ReduceStatus.encodePlain(nonFinite: bad, errorCode: errorCode, stop: requestStop, into: &plain, at: width)
        try allreduce(comm, &plain, op: .sum, what: "the gradient reduction")
        let status = ReduceStatus(plain: plain, at: width)
        if status.failed { return status }
        for i in 0..<width { result[i] = plain[i] }
        return status
    }

    /// Blocking allreduce, or a non-blocking one polled against `stallTimeout`.
    private func allreduce<T: CommScalar>(_ comm: Communicator, _ buffer: inout [T], op: ReduceOp, what: String) throws {
        try reductionAllreduce(comm, &buffer, op: op, what: what, timeout: stallTimeout)
    }

    /// 1.5 * 2^52: adding it to |x| < 2^51 rounds x to an integer in the low mantissa bits.
    static let magic: Double = 6_755_399_441_055_744.0

    /// S: bits kept per chunk value relative to the element's largest magnitude; the sum of
    /// `chunks` values of magnitude below 2^S stays below 2^51 (the rounding trick's range).
    static func precisionBits(chunks: Int) -> Int { 51 - headroomBits(chunks: chunks) }

    /// ceil(log2(chunks)), at least 1.
    static func headroomBits(chunks: Int) -> Int {
        var bits = 1
        while (1 << bits) < chunks { bits += 1 }
        return bits
    }

    /// Plain reference: the exact sum of the given partials computed in order, rounded once
    /// (through the same fixed-point grid, on one process). For tests.
    public static func referenceSum(_ chunks: [[Double]]) -> [Double] {
        guard let w = chunks.first?.count else { return [] }
        var e = [Int32](repeating: emptyExponent, count: w)
        for c in chunks { for i in 0..<w where c[i] != 0 { e[i] = max(e[i], Int32(c[i].exponent)) } }
        let s = precisionBits(chunks: chunks.count)
        var out = [Double](repeating: 0, count: w)
        for i in 0..<w where e[i] != emptyExponent {
            var acc: Int64 = 0
            for c in chunks where c[i] != 0 {
                acc &+= Int64(Double(sign: .plus, exponent: s - Int(e[i]) - 1, significand: c[i]).rounded(.toNearestOrEven))
            }
            out[i] = Double(sign: .plus, exponent: Int(e[i]) + 1 - s, significand: Double(acc))
        }
        return out
    }
}
