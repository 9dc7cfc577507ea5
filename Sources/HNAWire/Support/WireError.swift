/// Why bytes could not be read as a header.
///
/// Parsers throw this (typed, so no existential box on the hot path) instead of trapping: a datapath
/// turns it into a drop-reason counter, `hna decode` prints it after the layers it did decode.
public enum WireError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header (or a length field inside it) needs.
    case truncated(header: String, needed: Int, available: Int)
    /// A field holds a value the format forbids (a bad version, a length smaller than the minimum...).
    case malformed(header: String, reason: String)
    /// A well-formed header that this implementation chooses not to handle (documented per header).
    case unsupported(header: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(header, needed, available):
            return "\(header): truncated (needs \(needed) bytes, \(available) available)"
        case let .malformed(header, reason):
            return "\(header): malformed: \(reason)"
        case let .unsupported(header, reason):
            return "\(header): unsupported: \(reason)"
        }
    }

    /// Throws `.truncated` unless `buffer` holds at least `needed` bytes.
    @inlinable @inline(__always)
    public static func require(_ needed: Int, in buffer: UnsafeRawBufferPointer, header: String) throws(WireError) {
        if _slowPath(buffer.count < needed) {
            throw .truncated(header: header, needed: needed, available: buffer.count)
        }
    }
}
