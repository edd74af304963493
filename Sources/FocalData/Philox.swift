// Philox4x32-10 counter-based generator, uniform doubles and Box-Muller normals derived from it.

// MARK: - Philox4x32-10

/// The Philox4x32-10 block function of Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
/// as easy as 1, 2, 3", SC'11 (2011), with the constants of the Random123 distribution.
///
/// A block maps a 128-bit counter and a 64-bit key to 128 pseudo-random bits; distinct
/// (key, counter) pairs give independent-looking blocks, so any draw can be computed on its own,
/// in any order, on any rank. One round (paper, section 3.3):
/// `(hi0, lo0) = M0 * c0`, `(hi1, lo1) = M1 * c2` (32x32 -> 64-bit products),
/// `c' = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)`; the key is bumped by the Weyl constants
/// `(W0, W1)` between rounds; ten rounds.
public struct Philox4x32: Sendable, Equatable {
    /// Four 32-bit words (a counter or an output block).
    public typealias Block = SIMD4<UInt32>

    public static let m0: UInt32 = 0xD251_1F53
    public static let m1: UInt32 = 0xCD9E_8D57
    public static let w0: UInt32 = 0x9E37_79B9
    public static let w1: UInt32 = 0xBB67_AE85

    public var key0: UInt32
    public var key1: UInt32

    public init(key0: UInt32, key1: UInt32) {
        self.key0 = key0
        self.key1 = key1
    }

    /// The ten-round block for `counter` under this key.
    @inlinable @inline(__always)
    public func block(_ counter: Block) -> Block {
        var c0 = counter.x, c1 = counter.y, c2 = counter.z, c3 = counter.w
        var k0 = key0, k1 = key1
        for round in 0..<10 {
            if round > 0 { k0 &+= Self.w0; k1 &+= Self.w1 }
            let p0 = UInt64(Self.m0) &* UInt64(c0)
            let p1 = UInt64(Self.m1) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            c0 = hi1 ^ c1 ^ k0
            c1 = lo1
            c2 = hi0 ^ c3 ^ k1
            c3 = lo0
        }
        return Block(c0, c1, c2, c3)
    }
}

// MARK: - Uniform doubles and normals from raw words

/// Conversions of Philox words to doubles. All are pure functions of their input words, built from
/// IEEE-754 `+ - * /` and `squareRoot()` only (no libm), so a draw is bit-identical on every
/// machine and every rank.
public enum RandomBits {
    /// A double in `[0, 1)` from 53 bits: the high 53 bits of `hi:lo` times `2^-53`.
    @inlinable @inline(__always)
    public static func uniform(_ hi: UInt32, _ lo: UInt32) -> Double {
        bits53(hi, lo) * 0x1p-53
    }

    /// The integer `(hi:lo) >> 11` (53 bits) as a double, converted exactly without an integer
    /// conversion instruction (so loops over it vectorise): high 21 bits times 2^32 plus the low
    /// 32 bits, each placed in the mantissa of 2^52 and 2^52 subtracted.
    @inlinable @inline(__always)
    static func bits53(_ hi: UInt32, _ lo: UInt32) -> Double {
        let high = Double(bitPattern: UInt64(hi >> 11) | 0x4330_0000_0000_0000) - 4_503_599_627_370_496.0
        let low = Double(bitPattern: UInt64((hi << 21) | (lo >> 11)) | 0x4330_0000_0000_0000) - 4_503_599_627_370_496.0
        return high * 4_294_967_296.0 + low
    }

    /// A double in `(0, 1]` from 53 bits: `(bits + 1) * 2^-53` (safe to take the logarithm of).
    @inlinable @inline(__always)
    public static func uniformOpenClosed(_ hi: UInt32, _ lo: UInt32) -> Double {
        (bits53(hi, lo) + 1) * 0x1p-53
    }

    /// An integer in `[0, n)` from 64 bits by the multiply-shift map `floor(bits * n / 2^64)`
    /// (Lemire 2019, "Fast random integer generation in an interval", without the rejection step:
    /// the bias is below `n / 2^64`).
    @inlinable @inline(__always)
    public static func below(_ n: Int, _ hi: UInt32, _ lo: UInt32) -> Int {
        let bits = (UInt64(hi) << 32) | UInt64(lo)
        return Int(truncatingIfNeeded: bits.multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Two independent standard normals from one Philox block by the Box-Muller transform
    /// (Box and Muller 1958, "A note on the generation of random normal deviates"):
    /// `u1 in (0, 1]` from words (x, y), `u2 in [0, 1)` from words (z, w),
    /// `r = sqrt(-2 ln u1)`, returns `(r cos 2 pi u2, r sin 2 pi u2)`. Both values are used.
    @inlinable @inline(__always)
    public static func normalPair(_ b: Philox4x32.Block) -> (Double, Double) {
        let u1 = uniformOpenClosed(b.x, b.y)
        let u2 = uniform(b.z, b.w)
        let r = (-2.0 * logUnit(u1)).squareRoot()
        let (c, s) = cosSinTurn(u2)
        return (r * c, r * s)
    }

    // MARK: - Elementary functions (polynomials, no libm)

    /// Natural logarithm of `x` in `[2^-53, 1]` (normal doubles): `x = m 2^e` with `m` in
    /// `[sqrt(1/2), sqrt(2))`, `s = (m - 1) / (m + 1)`, `ln m = 2 atanh(s) = 2 s sum_k s^(2k) / (2k+1)`
    /// (Abramowitz and Stegun 4.1.28), truncated after `s^22` (`|s| <= 0.1716`: error below 1e-17
    /// relative); `e ln 2` with `ln 2` split in a high and a low part (Cody and Waite 1980).
    /// Max error measured against glibc `log`: see the tests (about 2 ulp).
    @inlinable @inline(__always)
    public static func logUnit(_ x: Double) -> Double {
        let bits = x.bitPattern
        // Biased exponent as a double without an integer conversion: 2^52 + field, minus 2^52.
        let field = Double(bitPattern: ((bits >> 52) & 0x7FF) | 0x4330_0000_0000_0000) - 4_503_599_627_370_496.0
        let m1 = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
        let big = m1 > 1.4142135623730951
        let m = big ? m1 * 0.5 : m1
        let de = field - (big ? 1022.0 : 1023.0)
        let s = (m - 1.0) / (m + 1.0)
        let z = s * s
        var p = 1.0 / 23.0
        p = p * z + 1.0 / 21.0
        p = p * z + 1.0 / 19.0
        p = p * z + 1.0 / 17.0
        p = p * z + 1.0 / 15.0
        p = p * z + 1.0 / 13.0
        p = p * z + 1.0 / 11.0
        p = p * z + 1.0 / 9.0
        p = p * z + 1.0 / 7.0
        p = p * z + 1.0 / 5.0
        p = p * z + 1.0 / 3.0
        let lnM = 2.0 * s + 2.0 * s * z * p
        return de * 6.93147180369123816490e-01 + (lnM + de * 1.90821492927058770002e-10)
    }

    /// `1.5 * 2^52`: adding and subtracting it rounds a double of magnitude below 2^51 to the
    /// nearest integer (ties to even), and the low bits of the sum hold that integer.
    @usableFromInline static let roundingMagic = 6_755_399_441_055_744.0

    /// `(cos 2 pi t, sin 2 pi t)` for `t` in `[0, 1)`: `r = 4t`, `k` the integer nearest to `r`
    /// (exact in binary, branch-free via `roundingMagic`), `x = (r - k) pi / 2` in `[-pi/4, pi/4]`,
    /// where the Taylor series of sin (to `x^15`) and cos (to `x^16`) are accurate to below 1e-16;
    /// the quadrant `k mod 4` picks and negates: 0 (cos, sin), 1 (-sin, cos), 2 (-cos, -sin), 3 (sin, -cos).
    @inlinable @inline(__always)
    public static func cosSinTurn(_ t: Double) -> (Double, Double) {
        let r = 4.0 * t
        let shifted = r + roundingMagic
        let k = shifted - roundingMagic
        let q = shifted.bitPattern & 3
        let x = (r - k) * 1.5707963267948966
        let x2 = x * x
        var sp = -1.0 / 1_307_674_368_000.0          // -1/15!
        sp = sp * x2 + 1.0 / 6_227_020_800.0          // 1/13!
        sp = sp * x2 - 1.0 / 39_916_800.0             // -1/11!
        sp = sp * x2 + 1.0 / 362_880.0                // 1/9!
        sp = sp * x2 - 1.0 / 5040.0
        sp = sp * x2 + 1.0 / 120.0
        sp = sp * x2 - 1.0 / 6.0
        let sinX = x + x * x2 * sp
        var cp = 1.0 / 20_922_789_888_000.0           // 1/16!
        cp = cp * x2 - 1.0 / 87_178_291_200.0         // -1/14!
        cp = cp * x2 + 1.0 / 479_001_600.0            // 1/12!
        cp = cp * x2 - 1.0 / 3_628_800.0              // -1/10!
        cp = cp * x2 + 1.0 / 40320.0
        cp = cp * x2 - 1.0 / 720.0
        cp = cp * x2 + 1.0 / 24.0
        cp = cp * x2 - 0.5
        let cosX = 1.0 + x2 * cp
        let odd = q & 1 == 1
        let c0 = odd ? sinX : cosX
        let s0 = odd ? cosX : sinX
        // Negate cos in quadrants 1 and 2, sin in 2 and 3: flip the sign bit.
        let c = Double(bitPattern: c0.bitPattern ^ ((((q &+ 1) >> 1) & 1) << 63))
        let s = Double(bitPattern: s0.bitPattern ^ (((q >> 1) & 1) << 63))
        return (c, s)
    }

    // MARK: - Batches (written so that the loop vectoriser can use SIMD instructions)

    /// Philox4x32-10 blocks for `count` counters: counter `b` is `(c0[b], c1[b], c2[b], c3[b])`;
    /// output word `i` of block `b` goes to `out[i][b]` (all arrays `[count]`).
    /// Bit-identical to `Philox4x32.block`; plain scalar code that the loop vectoriser turns into
    /// SIMD multiplies (`pmuludq`).
    @inlinable
    public static func philoxBlocks(_ key: Philox4x32, count: Int, c0: UnsafePointer<UInt32>, c1: UnsafePointer<UInt32>,
                                    c2: UnsafePointer<UInt32>, c3: UnsafePointer<UInt32>, out0: UnsafeMutablePointer<UInt32>,
                                    out1: UnsafeMutablePointer<UInt32>, out2: UnsafeMutablePointer<UInt32>,
                                    out3: UnsafeMutablePointer<UInt32>) {
        // Round keys (the Weyl sequence), computed once.
        var k0 = [UInt32](repeating: 0, count: 10), k1 = [UInt32](repeating: 0, count: 10)
        k0[0] = key.key0
        k1[0] = key.key1
        for r in 1..<10 { k0[r] = k0[r - 1] &+ Philox4x32.w0; k1[r] = k1[r - 1] &+ Philox4x32.w1 }
        k0.withUnsafeBufferPointer { k0 in
            k1.withUnsafeBufferPointer { k1 in
                for b in 0..<count {
                    var x0 = c0[b], x1 = c1[b], x2 = c2[b], x3 = c3[b]
                    for r in 0..<10 {
                        let p0 = UInt64(Philox4x32.m0) &* UInt64(x0)
                        let p1 = UInt64(Philox4x32.m1) &* UInt64(x2)
                        x0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ x1 ^ k0[r]
                        x1 = UInt32(truncatingIfNeeded: p1)
                        x2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ x3 ^ k1[r]
                        x3 = UInt32(truncatingIfNeeded: p0)
                    }
                    out0[b] = x0
                    out1[b] = x1
                    out2[b] = x2
                    out3[b] = x3
                }
            }
        }
    }

    /// `normalPair` for `count` blocks given as four word arrays `w0..w3` `[count]`;
    /// writes the cosine values to `cosOut` `[count]` and the sine values to `sinOut` `[count]`;
    /// `logScratch` `[count]` is workspace. Bit-identical to `normalPair` (the same inlined
    /// functions). The first loop is branch-free so the loop vectoriser can use SIMD instructions;
    /// the square root sits in a second loop because Swift's scalar `squareRoot()` keeps an errno
    /// path (a call to libm `sqrt`) that stops vectorisation.
    @inlinable
    public static func normalPairs(count: Int, _ w0: UnsafePointer<UInt32>, _ w1: UnsafePointer<UInt32>,
                                   _ w2: UnsafePointer<UInt32>, _ w3: UnsafePointer<UInt32>,
                                   cosOut: UnsafeMutablePointer<Double>, sinOut: UnsafeMutablePointer<Double>,
                                   logScratch: UnsafeMutablePointer<Double>) {
        for b in 0..<count {
            logScratch[b] = -2.0 * logUnit(uniformOpenClosed(w0[b], w1[b]))
            let (c, s) = cosSinTurn(uniform(w2[b], w3[b]))
            cosOut[b] = c
            sinOut[b] = s
        }
        for b in 0..<count {
            let r = logScratch[b].squareRoot()
            cosOut[b] = r * cosOut[b]
            sinOut[b] = r * sinOut[b]
        }
    }
}

// MARK: - A sequential stream (for the small global state)

/// Philox blocks at counters `(0, domain), (1, domain), ...` under one key, read word by word.
/// Used for the small global state of a data set (centres, matrices, permutation keys), which
/// every rank recomputes identically.
public struct PhiloxStream: RandomNumberGenerator, Sendable {
    private let philox: Philox4x32
    private let domain: UInt32
    private var index: UInt64 = 0
    private var buffer = Philox4x32.Block(repeating: 0)
    private var used = 4

    public init(key0: UInt32, key1: UInt32, domain: UInt32 = 0) {
        self.philox = Philox4x32(key0: key0, key1: key1)
        self.domain = domain
    }

    public mutating func nextWord() -> UInt32 {
        if used == 4 {
            buffer = philox.block(Philox4x32.Block(UInt32(truncatingIfNeeded: index),
                                                   UInt32(truncatingIfNeeded: index >> 32), domain, 0))
            index &+= 1
            used = 0
        }
        defer { used += 1 }
        return buffer[used]
    }

    /// 64 bits: the first word in the high half.
    public mutating func next() -> UInt64 {
        let hi = nextWord()
        return (UInt64(hi) << 32) | UInt64(nextWord())
    }

    /// A double in `[0, 1)` with 53 random bits.
    public mutating func nextUniform() -> Double {
        let hi = nextWord()
        return RandomBits.uniform(hi, nextWord())
    }

    /// An integer in `[0, n)`, exactly uniform (masked rejection, as NumPy's legacy `randint`).
    public mutating func nextBelow(_ n: Int) -> Int {
        precondition(n > 0, "nextBelow: n must be positive")
        let range = UInt64(n - 1)
        if range == 0 { return 0 }
        let mask = UInt64.max >> range.leadingZeroBitCount
        while true {
            let v = next() & mask
            if v <= range { return Int(v) }
        }
    }
}
