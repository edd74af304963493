// RandomState: NumPy's legacy `numpy.random.RandomState` (MT19937, init_genrand seeding) draw for draw.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Generator state

/// NumPy's legacy random generator, reproduced bit for bit for the draws scikit-learn uses.
///
/// References: Matsumoto & Nishimura 1998 (MT19937, `init_genrand`); NumPy `legacy-distributions.c`
/// (`legacy_gauss`: Marsaglia polar method with one spare), `distributions.c`
/// (`random_standard_uniform`: 53-bit double, `random_bounded_uint64` masked rejection) and
/// `mtrand.pyx` (`shuffle`, `permutation`: Fisher-Yates from the end). See
/// `docs/DATA.md` for what was verified.
///
/// A value type: copying it saves the complete state (used as a replay checkpoint).
public struct RandomState: Sendable, Equatable {
    /// `[624]` MT19937 state words.
    @usableFromInline var mt: [UInt32]
    /// Next word to temper; 624 means "twist before the next draw".
    @usableFromInline var index: Int
    /// The spare value of the polar Gaussian (`has_gauss`, `gauss`).
    @usableFromInline var spare: Double?

    /// `RandomState(seed)`: `init_genrand(seed)`.
    public init(seed: UInt32) {
        var key = [UInt32](repeating: 0, count: 624)
        key[0] = seed
        for i in 1..<624 {
            let prev = key[i - 1]
            key[i] = 1_812_433_253 &* (prev ^ (prev >> 30)) &+ UInt32(i)
        }
        mt = key
        index = 624
        spare = nil
    }

    // MARK: - 32-bit words

    /// Regenerates the 624 words (the standard MT19937 recurrence, split to avoid a modulo).
    @usableFromInline static func twist(_ s: UnsafeMutablePointer<UInt32>) {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7FFF_FFFF, matrix: UInt32 = 0x9908_B0DF
        @inline(__always) func step(_ i: Int, _ i1: Int, _ im: Int) {
            let y = (s[i] & upper) | (s[i1] & lower)
            s[i] = s[im] ^ (y >> 1) ^ ((0 &- (y & 1)) & matrix)
        }
        for i in 0..<227 { step(i, i + 1, i + 397) }
        for i in 227..<623 { step(i, i + 1, i - 227) }
        step(623, 0, 396)
    }

    /// One tempered output from state `s` at `index` (twisting when `index` reaches 624).
    @inlinable @inline(__always)
    static func next(_ s: UnsafeMutablePointer<UInt32>, _ index: inout Int) -> UInt32 {
        if index >= 624 {
            twist(s)
            index = 0
        }
        var y = s[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `random_sample()` on raw state (see `randomSample()`).
    @inlinable @inline(__always)
    static func nextDouble(_ s: UnsafeMutablePointer<UInt32>, _ index: inout Int) -> Double {
        let a = next(s, &index) >> 5, b = next(s, &index) >> 6
        return (Double(a) * 67_108_864.0 + Double(b)) / 9_007_199_254_740_992.0
    }

    /// Runs `body` on the raw state words and position (one uniqueness check for many draws).
    @inlinable mutating func withWords<R>(_ body: (UnsafeMutablePointer<UInt32>, inout Int) -> R) -> R {
        var i = index
        let r = mt.withUnsafeMutableBufferPointer { body($0.baseAddress!, &i) }
        index = i
        return r
    }

    /// One tempered 32-bit output.
    @inlinable public mutating func nextUInt32() -> UInt32 {
        withWords { Self.next($0, &$1) }
    }

    /// A 64-bit draw: two 32-bit outputs, the FIRST in the high half.
    @inlinable public mutating func nextUInt64() -> UInt64 {
        let hi = UInt64(nextUInt32())
        return (hi << 32) | UInt64(nextUInt32())
    }

    // MARK: - Uniform doubles

    /// `random_sample()`: `((a >> 5) * 2^26 + (b >> 6)) / 2^53`, in [0, 1).
    @inlinable public mutating func randomSample() -> Double {
        withWords { Self.nextDouble($0, &$1) }
    }

    /// `uniform(low, high)`: `low + (high - low) * u`.
    @inlinable public mutating func uniform(_ low: Double = 0.0, _ high: Double = 1.0) -> Double {
        let range = high - low
        return low + range * randomSample()
    }

    // MARK: - Normal deviates

    /// `standard_normal()` (legacy_gauss): polar Box-Muller, returns `f * x2` and keeps `f * x1`.
    @inlinable public mutating func standardNormal() -> Double {
        var v = 0.0
        fillStandardNormals(&v, count: 1)
        return v
    }

    /// `count` successive `standardNormal()` values into `out` `[count]` (one call's worth of draws).
    @inlinable public mutating func fillStandardNormals(_ out: UnsafeMutablePointer<Double>, count: Int) {
        if count <= 0 { return }
        var t = 0
        if let s = spare {
            out[0] = s
            spare = nil
            t = 1
        }
        var left: Double? = nil
        withWords { s, i in
            while t < count {
                var x1 = 0.0, x2 = 0.0, r2 = 0.0
                repeat {
                    x1 = 2.0 * Self.nextDouble(s, &i) - 1.0
                    x2 = 2.0 * Self.nextDouble(s, &i) - 1.0
                    r2 = x1 * x1 + x2 * x2
                } while r2 >= 1.0 || r2 == 0.0
                let f = (-2.0 * log(r2) / r2).squareRoot()
                out[t] = f * x2
                if t + 1 < count { out[t + 1] = f * x1 } else { left = f * x1 }
                t += 2
            }
        }
        if left != nil { spare = left }
    }

    /// Advances the stream exactly as `count` calls of `standardNormal()` would, skipping the
    /// logarithm for pairs that are fully consumed (the spare left at the end, if any, is exact).
    @inlinable public mutating func skipStandardNormals(_ count: Int) {
        var n = count
        if n <= 0 { return }
        if spare != nil {
            spare = nil
            n -= 1
        }
        let pairs = n / 2
        withWords { s, i in
            for _ in 0..<pairs {
                var r2 = 0.0
                repeat {
                    let x1 = 2.0 * Self.nextDouble(s, &i) - 1.0
                    let x2 = 2.0 * Self.nextDouble(s, &i) - 1.0
                    r2 = x1 * x1 + x2 * x2
                } while r2 >= 1.0 || r2 == 0.0
            }
        }
        if n % 2 == 1 { _ = standardNormal() }
    }

    // MARK: - Integers

    /// `randint(0, high)` (int64) by masked rejection; `high >= 1`. `high == 1` draws nothing.
    @inlinable public mutating func randint(_ high: Int) -> Int {
        precondition(high >= 1, "randint: high must be at least 1")
        return Int(bounded(UInt64(high - 1)))
    }

    /// A value in `[0, range]`: NumPy's `random_bounded_uint64` with `use_masked = true`.
    @inlinable public mutating func bounded(_ range: UInt64) -> UInt64 {
        if range == 0 { return 0 }
        if range == 0xFFFF_FFFF { return UInt64(nextUInt32()) }
        var mask = range
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4
        mask |= mask >> 8; mask |= mask >> 16; mask |= mask >> 32
        if range < 0xFFFF_FFFF {
            let m32 = UInt32(truncatingIfNeeded: mask), r32 = UInt32(truncatingIfNeeded: range)
            while true {
                let v = nextUInt32() & m32
                if v <= r32 { return UInt64(v) }
            }
        }
        while true {
            let v = nextUInt64() & mask
            if v <= range { return v }
        }
    }

    // MARK: - Shuffles

    /// `shuffle(x)` for a 1-D array: Fisher-Yates from the end, `j` in `[0, i]`.
    @inlinable public mutating func shuffle<T>(_ x: inout [T]) {
        let n = x.count
        if n < 2 { return }
        x.withUnsafeMutableBufferPointer { b in
            var i = n - 1
            while i >= 1 {
                let j = Int(bounded(UInt64(i)))
                b.swapAt(i, j)
                i -= 1
            }
        }
    }

    /// `permutation(n)`: `shuffle(arange(n))`. `[n]`.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<max(n, 0))
        shuffle(&p)
        return p
    }
}
