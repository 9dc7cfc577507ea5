#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The simulator's only source of randomness. Every random choice (flow sizes, arrival times, ECMP salt,
/// spraying, start jitter) draws from generators seeded from the run's one seed, so the same seed gives
/// the same run, event for event.

/// SplitMix64: expands one 64-bit seed into the well-mixed state words xoshiro needs.
public struct SplitMix64: Sendable {
    public var state: UInt64

    @inlinable public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256**: fast, 256 bits of state, passes the usual statistical batteries; plenty for a
/// simulator and much cheaper than the system generator.
public struct SimRandom: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Seeds from one word; `stream` gives independent generators from the same seed (one per purpose),
    /// so adding a random draw for one purpose does not shift every other purpose's draws.
    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    @inlinable
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in 0 ..< bound (bound > 0), by multiply-shift (bias below 2^-32 for any bound a
    /// simulator uses).
    @inlinable
    public mutating func below(_ bound: Int) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: next() >> 32)) &* UInt64(bound)) >> 32)
    }

    /// Exponentially distributed with the given mean (Poisson inter-arrival times).
    @inlinable
    public mutating func exponential(mean: Double) -> Double {
        -mean * log(1 - unit())
    }
}

