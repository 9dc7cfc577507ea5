/// A small ordered JSON value and serializer, for the machine-readable output of `hna decode --json`,
/// `hna bench --json` and friends: keys keep the order they were added in, integers stay integers,
/// and nothing here depends on Foundation.
public enum JSONValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Ordered key/value pairs.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }

    public static func integer<I: BinaryInteger>(_ v: I) -> JSONValue { .int(Int64(v)) }

    /// Looks up `key` in an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }

    /// Compact serialization on one line.
    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d):
            if !d.isFinite { out += "null" } else if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += String(d) }
        case let .string(s): JSONValue.escape(s, into: &out)
        case let .array(items):
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += ", " }
                v.write(to: &out)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += ", " }
                JSONValue.escape(k, into: &out)
                out += ": "
                v.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal (RFC 8259 escaping).
    public static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                out += "\\u" + String(u.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
