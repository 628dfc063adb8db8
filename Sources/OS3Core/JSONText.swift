/// A JSON value, written byte for byte as Foundation's `JSONEncoder` writes it with
/// `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]` (`Tests/OS3CoreTests/JSONTextTests`
/// holds the two together).
///
/// Why not JSONEncoder: a boot's `result.json` is written after QEMU exits, on the critical path of
/// every `boot`. JSONEncoder took ~0.25 ms there, and its first use in a process ~0.7 ms more to set
/// up the types' metadata. Writing the record directly takes microseconds.
public indirect enum JSONText: Sendable {
    case null
    case bool(Bool)
    case string(String)
    case int(Int)
    case double(Double)
    case array([JSONText])
    /// Keys are written sorted (by their UTF-8 bytes, as JSONEncoder sorts them), whatever the order here.
    case object([(String, JSONText)])

    /// The pretty-printed text, without a final newline.
    public var pretty: String {
        var out: [UInt8] = []
        out.reserveCapacity(2048)
        write(into: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(into out: inout [UInt8], indent: Int) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .int(let n): out += Array(String(n).utf8)
        case .double(let d):
            // JSONEncoder writes Swift's shortest round-trip form, minus a trailing ".0".
            var text = d.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            out += Array(text.utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            Self.writeItems(items.count, into: &out, indent: indent) { i, out in items[i].write(into: &out, indent: indent + 2) }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            let sorted = fields.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            out.append(UInt8(ascii: "{"))
            Self.writeItems(sorted.count, into: &out, indent: indent) { i, out in
                Self.writeString(sorted[i].0, into: &out)
                out += [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: " ")]
                sorted[i].1.write(into: &out, indent: indent + 2)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// One item per line, indented; an empty container still gets its blank line (as JSONEncoder's).
    private static func writeItems(_ count: Int, into out: inout [UInt8], indent: Int,
                                   _ item: (Int, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "\n"))
        if count == 0 { out.append(UInt8(ascii: "\n")) }
        for i in 0..<count {
            out += repeatElement(UInt8(ascii: " "), count: indent + 2)
            item(i, &out)
            if i < count - 1 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\n"))
        }
        out += repeatElement(UInt8(ascii: " "), count: indent)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += Array("\\u00".utf8)
                out += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)  // "/" and everything from 0x20 up (UTF-8 included) as is
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONText {
    /// A value, or `null`: keys never depend on the outcome (docs/JSON.md).
    static func orNull<T>(_ value: T?, _ make: (T) -> JSONText) -> JSONText { value.map(make) ?? .null }
}

extension RunRecord {
    /// The record as `result.json` and `--json` hold it (docs/JSON.md): the same bytes as its
    /// `Codable` form (RecordCoding.swift, which reads it back), written without JSONEncoder.
    public var jsonText: JSONText {
        .object([
            ("format", .string(JSONContract.recordFormat)), ("version", .int(JSONContract.version)),
            ("lane", .string(lane)), ("laneFile", .string(laneFile)), ("kernel", .string(kernel)),
            ("argv", .array(argv.map { .string($0) })), ("kernelCommandLine", .string(kernelCommandLine)),
            ("runDirectory", .string(runDirectory)), ("serialLog", .string(serialLog)),
            ("startedAt", .string(startedAt)), ("duration", .double(duration)), ("verdict", verdict.jsonText),
            ("markers", .array(markers.map(\.jsonText))), ("requiredCount", .int(requiredCount)),
            ("consoleBytes", .int(consoleBytes)), ("end", .orNull(end) { $0.jsonText }),
            ("stopLatency", .orNull(stopLatency) { .double($0) }), ("backend", .orNull(backend) { .string($0) }),
            ("domain", .orNull(domain) { .string($0) }), ("lifecycle", .orNull(lifecycle) { .string($0.rawValue) }),
            ("recordError", .orNull(recordError) { .string($0) }), ("ktap", .orNull(ktap) { $0.jsonText }),
        ])
    }
}

extension KTAPReport {
    var jsonText: JSONText {
        .object([
            ("plan", .orNull(plan) { .int($0) }), ("results", .array(results.map(\.jsonText))),
            ("missing", .array(missing.map { .int($0) })), ("missingCount", .int(missingCount)),
            ("headerSeen", .bool(headerSeen)), ("problems", .array(problems.map { .string($0) })),
        ])
    }
}

extension KTAPResult {
    var jsonText: JSONText {
        .object([
            ("number", .int(number)), ("name", .string(name)), ("path", .string(path)), ("depth", .int(depth)),
            ("status", .string(status.rawValue)), ("directive", .string(directive)), ("line", .int(line)),
        ])
    }
}

extension Verdict {
    var jsonText: JSONText {
        .object([
            ("kind", .string(kind.rawValue)), ("detail", .string(detail)), ("missing", .array(missing.map { .string($0) })),
            ("forbiddenLine", .orNull(forbiddenLine) { .string($0) }), ("evidence", .orNull(evidence) { .string($0.rawValue) }),
        ])
    }
}

extension MarkerHit {
    var jsonText: JSONText {
        .object([("id", .string(id)), ("time", .double(time)), ("line", .int(line)), ("text", .string(text))])
    }
}

extension ProcessEnd {
    /// `{"exit": 33}`, `{"signal": 9}` or `{"startError": "why"}` (docs/JSON.md).
    var jsonText: JSONText {
        switch self {
        case .exited(let code): .object([("exit", .int(Int(code)))])
        case .signaled(let signal): .object([("signal", .int(Int(signal)))])
        case .failedToStart(let why): .object([("startError", .string(why))])
        }
    }
}
