#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An empirical flow-size distribution: points (size, cumulative fraction), sampled by inverting the
/// CDF with linear interpolation between points (the published workloads are given that way).
public struct FlowSizeDistribution: Sendable, Equatable {
    public var name: String
    public private(set) var sizes: [Double]
    public private(set) var cumulative: [Double]

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Parses `size_bytes cumulative_percent` lines (blank lines and `#` comments ignored).
    public init(name: String, text: String) throws(ParseError) {
        self.name = name
        var s: [Double] = [], c: [Double] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2, let size = Double(fields[0]), let pct = Double(fields[1]),
                  size.isFinite, pct.isFinite, size >= 0, (0 ... 100).contains(pct)
            else { throw ParseError(description: "\(name) line \(n + 1): expected 'size_bytes cumulative_percent'") }
            if let ls = s.last, let lc = c.last, size < ls || pct < lc {
                throw ParseError(description: "\(name) line \(n + 1): sizes and percentages must not decrease")
            }
            s.append(size)
            c.append(pct / 100)
        }
        guard s.count >= 2, c.last == 1 else {
            throw ParseError(description: "\(name): needs at least two points and must end at 100%")
        }
        sizes = s
        cumulative = c
    }

    /// Reads a CDF file.
    public init(contentsOf path: String) throws(ParseError) {
        guard let text = readTextFile(path) else { throw ParseError(description: "cannot read \(path)") }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        try self.init(name: base.hasSuffix(".cdf") ? String(base.dropLast(4)) : base, text: text)
    }

    /// Inverse CDF at `u` in [0, 1).
    public func quantile(_ u: Double) -> Double {
        if u <= cumulative[0] { return sizes[0] }
        var lo = 0, hi = cumulative.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid } else { hi = mid }
        }
        let span = cumulative[hi] - cumulative[lo]
        if span <= 0 { return sizes[hi] }
        return sizes[lo] + (sizes[hi] - sizes[lo]) * (u - cumulative[lo]) / span
    }

    /// A flow size in bytes (at least 1).
    public func sample(_ rng: inout SimRandom) -> Int {
        max(1, Int(quantile(rng.unit()).rounded()))
    }

    /// Mean of the interpolated distribution (each segment is uniform between its end points).
    public var mean: Double {
        var m = sizes[0] * cumulative[0]
        for i in 1 ..< sizes.count {
            m += (cumulative[i] - cumulative[i - 1]) * (sizes[i] + sizes[i - 1]) / 2
        }
        return m
    }
}

/// Whole file as UTF-8 text, nil if unreadable (no Foundation needed).
func readTextFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n > 0 { bytes.append(contentsOf: buffer[0 ..< n]) }
        if n < buffer.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `text` to `path`, returning false on failure.
func writeTextFile(_ path: String, _ text: String) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    return fwrite(bytes, 1, bytes.count, f) == bytes.count
}
