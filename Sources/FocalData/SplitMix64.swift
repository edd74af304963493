// SplitMix64: the repository's one small seeded 64-bit generator and its finaliser.

/// SplitMix64 (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number generators",
/// OOPSLA; the output function is Stafford's "variant 13" mixer): the state advances by the
/// golden-ratio increment `0x9E3779B97F4A7C15` and each output is `mix(state)`.
///
/// Used where every rank must make the same cheap pseudo-random decision without communicating:
/// initial parameters and batch order (FocalCore), the round keys of `KeyedPermutation`.
public struct SplitMix64: Sendable, Equatable {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    /// Advances the state and returns the next output.
    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The finaliser: a bijection of 64-bit words with good avalanche (also MurmurHash3-style
    /// mixing), `z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31`.
    @inlinable @inline(__always)
    public static func mix(_ v: UInt64) -> UInt64 {
        var z = v
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
