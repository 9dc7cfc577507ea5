/// A log-linear histogram of non-negative integers (16 sub-buckets per power of two, so any
/// percentile is within about 6% of the true value) with O(1) recording and no allocation after
/// creation. Used for per-packet quantities, where keeping every sample would cost too much.
public struct Histogram: Sendable {
    @usableFromInline static let subBits = 4
    @usableFromInline static let bucketCount = 64 << 4
    /// The counts, in memory the histogram's copies share (recording is a plain increment: no array
    /// uniqueness check per sample).
    let storage: Buckets
    public private(set) var count: UInt64 = 0
    public private(set) var max = 0

    public init() { storage = Buckets() }

    final class Buckets: @unchecked Sendable {
        let counts: UnsafeMutablePointer<UInt64>
        init() {
            counts = .allocate(capacity: Histogram.bucketCount)
            counts.initialize(repeating: 0, count: Histogram.bucketCount)
        }
        deinit { counts.deallocate() }
    }

    static func bucket(_ v: Int) -> Int {
        if v < (1 << subBits) { return v }
        let top = (Int.bitWidth - 1) - v.leadingZeroBitCount
        let shift = top - subBits
        return ((shift + 1) << subBits) | ((v >> shift) & ((1 << subBits) - 1))
    }

    /// The largest value that falls in `bucket`.
    static func upper(_ b: Int) -> Int {
        if b < (1 << subBits) { return b }
        let shift = (b >> subBits) - 1
        let mantissa = (b & ((1 << subBits) - 1)) | (1 << subBits)
        return ((mantissa + 1) << shift) - 1
    }

    @inline(__always)
    public mutating func record(_ value: Int) {
        let v = value < 0 ? 0 : value
        storage.counts[Self.bucket(v)] &+= 1
        count &+= 1
        if v > max { max = v }
    }

    /// The value below which a fraction `q` of the samples fall (bucket upper bound, capped at the
    /// maximum seen); 0 when empty.
    public func percentile(_ q: Double) -> Int {
        guard count > 0 else { return 0 }
        let rank = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for b in 0 ..< Self.bucketCount where storage.counts[b] > 0 {
            let n = storage.counts[b]
            seen += n
            if seen >= Swift.max(rank, 1) { return Swift.min(Self.upper(b), max) }
        }
        return max
    }
}

/// Exact percentiles of a sample kept in full (flow-completion times: one value per flow).
public enum Percentile {
    /// Nearest-rank percentile of `sorted` (ascending); nil when empty.
    public static func of(sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((Double(sorted.count) * q).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all equal, 1/n when one takes everything.
public func jainIndex(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sum = values.reduce(0, +)
    let squares = values.reduce(0) { $0 + $1 * $1 }
    return squares > 0 ? sum * sum / (Double(values.count) * squares) : nil
}
