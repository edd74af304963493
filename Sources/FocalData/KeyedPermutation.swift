// A keyed bijection of [0, n) in O(1) memory: an alternating Feistel network with cycle-walking.

// MARK: - KeyedPermutation

/// A pseudo-random permutation of `0..<n` defined by a key, evaluated one index at a time.
///
/// Construction: write the domain `[0, 2^b)` (`b` the smallest with `2^b >= n`) as pairs
/// `(L, R)` of `l = floor(b / 2)` and `r = b - l` bits. Round `i` replaces one half by itself XOR a
/// keyed hash of the other half (left and right alternately), which is invertible whatever the
/// hash; four such rounds with a pseudo-random round function already give a pseudo-random
/// permutation (Luby and Rackoff 1988), six are used here; the unbalanced/alternating form is Black and Rogaway 2002,
/// "Ciphers with arbitrary finite domains", scheme FE2). Values that land in `[n, 2^b)` are fed
/// through again until they fall in `[0, n)` ("cycle-walking", Black and Rogaway 2002, section 4),
/// which keeps the map a bijection of `[0, n)`; since `2^b < 2n`, fewer than two passes on average.
///
/// Round function: the 64-bit finaliser of MurmurHash3 / SplitMix64 (Steele, Lea and Flood 2014)
/// applied to `half XOR roundKey`, truncated to the width of the other half.
public struct KeyedPermutation: Sendable, Equatable {
    public let count: Int
    /// The `rounds` 64-bit round keys (a fixed-size tuple: no array, no reference counting).
    private let roundKeys: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private let leftBits: Int
    private let rightBits: Int

    public static let rounds = 6

    /// A permutation of `0..<count` keyed by `key`; the `rounds` round keys are SplitMix64 outputs
    /// seeded with it.
    public init(count: Int, key: UInt64) {
        precondition(count >= 0, "KeyedPermutation: count must be non-negative")
        self.count = count
        var bits = 0
        while bits < 63 && (1 << bits) < count { bits += 1 }
        leftBits = bits / 2
        rightBits = bits - bits / 2
        var generator = SplitMix64(state: key)
        let keys = (0..<Self.rounds).map { _ in generator.next() }
        roundKeys = (keys[0], keys[1], keys[2], keys[3], keys[4], keys[5])
    }

    public static func == (a: KeyedPermutation, b: KeyedPermutation) -> Bool {
        a.count == b.count && a.roundKeys == b.roundKeys
    }

    @inline(__always)
    private func roundKey(_ round: Int) -> UInt64 {
        switch round {
        case 0: return roundKeys.0
        case 1: return roundKeys.1
        case 2: return roundKeys.2
        case 3: return roundKeys.3
        case 4: return roundKeys.4
        default: return roundKeys.5
        }
    }

    @inline(__always)
    static func mix(_ v: UInt64) -> UInt64 { SplitMix64.mix(v) }

    @inline(__always)
    private func forward(_ v: UInt64) -> UInt64 {
        let lMask: UInt64 = (1 << UInt64(leftBits)) &- 1
        let rMask: UInt64 = (1 << UInt64(rightBits)) &- 1
        var left = v >> UInt64(rightBits)
        var right = v & rMask
        for round in 0..<Self.rounds {
            if round & 1 == 0 {
                left ^= Self.mix(right ^ roundKey(round)) & lMask
            } else {
                right ^= Self.mix(left ^ roundKey(round)) & rMask
            }
        }
        return (left << UInt64(rightBits)) | right
    }

    @inline(__always)
    private func backward(_ v: UInt64) -> UInt64 {
        let lMask: UInt64 = (1 << UInt64(leftBits)) &- 1
        let rMask: UInt64 = (1 << UInt64(rightBits)) &- 1
        var left = v >> UInt64(rightBits)
        var right = v & rMask
        for round in stride(from: Self.rounds - 1, through: 0, by: -1) {
            if round & 1 == 0 {
                left ^= Self.mix(right ^ roundKey(round)) & lMask
            } else {
                right ^= Self.mix(left ^ roundKey(round)) & rMask
            }
        }
        return (left << UInt64(rightBits)) | right
    }

    /// The image of `i` (`0 <= i < count`).
    @inline(__always)
    public func apply(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "KeyedPermutation.apply: index out of range")
        var v = forward(UInt64(i))
        while v >= UInt64(count) { v = forward(v) }
        return Int(v)
    }

    /// The preimage of `i`: `inverse(apply(i)) == i`.
    @inline(__always)
    public func inverse(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "KeyedPermutation.inverse: index out of range")
        var v = backward(UInt64(i))
        while v >= UInt64(count) { v = backward(v) }
        return Int(v)
    }
}
