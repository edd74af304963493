// SumMaxRecord: the wire element of the carried-exponent gradient reduction (FocalCore's
// `CarriedExponentReducer`): 64 `Int32` lanes combined by wrapping addition and 64 `Int8` lanes
// combined by maximum, 320 bytes. One allreduce of records carries a step's fixed-point sums and
// the exponents and flags that go with them, so a step needs one collective, not a SUM and a MAX.
//
// Addition of the sum lanes wraps (exact modulo 2^32, hence associative and commutative, as MPI
// requires of a user operation); max is associative and commutative. Over MPI the record is one
// contiguous 320-byte datatype reduced by a user-defined commutative operation (`MPI_Op_create`,
// MPI 4.0 §6.9.5), so MPI may split a message between records, never inside one.

/// One element of a sum/max reduction. `ReduceOp.sum` over records means the record's own
/// combination (`reduceSum`): lane-wise wrapping sum of `sums` and lane-wise max of `maxima`;
/// `.max` and `.min` are not defined for records.
public struct SumMaxRecord: CommScalar, Sendable {
    /// Lanes of each kind per record.
    public static let lanes = 64
    /// Bytes per record on the wire: 64 × 4 + 64 × 1.
    public static let wireBytes = 320

    /// `[64]` lanes added with wrapping.
    public var sums: SIMD64<Int32>
    /// `[64]` lanes combined by maximum.
    public var maxima: SIMD64<Int8>

    public init(sums: SIMD64<Int32> = .zero, maxima: SIMD64<Int8> = SIMD64(repeating: .min)) {
        self.sums = sums
        self.maxima = maxima
    }

    public static var kind: ScalarKind { .sumMaxRecord }
    /// The neutral element: zero sums, `Int8.min` maxima.
    public static var zero: SumMaxRecord { SumMaxRecord() }

    @inlinable
    public func reduceSum(_ other: SumMaxRecord) -> SumMaxRecord {
        SumMaxRecord(sums: sums &+ other.sums, maxima: pointwiseMax(maxima, other.maxima))
    }

    /// Combines `count` records at `input` into those at `inout` (both possibly unaligned raw
    /// memory): the body of the MPI user operation and of the in-process reduction.
    @inlinable
    public static func combine(_ input: UnsafeRawPointer, into output: UnsafeMutableRawPointer, count: Int) {
        let maxOffset = MemoryLayout<SIMD64<Int32>>.size
        for r in 0..<count {
            let a = input + r * wireBytes, b = output + r * wireBytes
            let s = a.loadUnaligned(as: SIMD64<Int32>.self) &+ UnsafeRawPointer(b).loadUnaligned(as: SIMD64<Int32>.self)
            let m = pointwiseMax(a.loadUnaligned(fromByteOffset: maxOffset, as: SIMD64<Int8>.self),
                                 UnsafeRawPointer(b).loadUnaligned(fromByteOffset: maxOffset, as: SIMD64<Int8>.self))
            b.storeBytes(of: s, as: SIMD64<Int32>.self)
            b.storeBytes(of: m, toByteOffset: maxOffset, as: SIMD64<Int8>.self)
        }
    }

    // Records are not ordered; `Comparable` is required of every collective element and is given
    // a lexicographic order on the lanes so that it is at least a total order.
    public static func < (a: SumMaxRecord, b: SumMaxRecord) -> Bool {
        for i in 0..<lanes where a.sums[i] != b.sums[i] { return a.sums[i] < b.sums[i] }
        for i in 0..<lanes where a.maxima[i] != b.maxima[i] { return a.maxima[i] < b.maxima[i] }
        return false
    }
}
