/// The JSON contract of a record (docs/JSON.md, docs/schema/os3ctl.schema.json): every key is
/// always present (`null` when it does not apply), so a consumer never has to guess whether a key
/// is missing because of the outcome or because of a bug. `JSONText` (the fast path) and these
/// `Codable` implementations write the same bytes (Tests/OS3CoreTests/JSONTextTests).
public enum JSONContract {
    /// The version of every document os3ctl writes (`version`); bumped when a key changes meaning
    /// or disappears (adding a key is compatible).
    public static let version = 1
    public static let recordFormat = "os3ctl-record"
    public static let gateFormat = "os3ctl-gate"
    public static let stressFormat = "os3ctl-stress"
    public static let bisectFormat = "os3ctl-bisect"
    public static let runsFormat = "os3ctl-runs"
}

/// QEMU's end as `{"exit": 33}`, `{"signal": 9}` or `{"startError": "why"}` (records written before
/// version 1 used Swift's `{"exited": {"_0": 33}}`; they are still read).
extension ProcessEnd {
    private enum Keys: String, CodingKey {
        case exit, signal, startError
        case exited, signaled, failedToStart, _0
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .exited(let code): try c.encode(code, forKey: .exit)
        case .signaled(let signal): try c.encode(signal, forKey: .signal)
        case .failedToStart(let why): try c.encode(why, forKey: .startError)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        if let code = try c.decodeIfPresent(Int32.self, forKey: .exit) { self = .exited(code); return }
        if let signal = try c.decodeIfPresent(Int32.self, forKey: .signal) { self = .signaled(signal); return }
        if let why = try c.decodeIfPresent(String.self, forKey: .startError) { self = .failedToStart(why); return }
        if c.contains(.exited) { self = .exited(try c.nestedContainer(keyedBy: Keys.self, forKey: .exited).decode(Int32.self, forKey: ._0)); return }
        if c.contains(.signaled) { self = .signaled(try c.nestedContainer(keyedBy: Keys.self, forKey: .signaled).decode(Int32.self, forKey: ._0)); return }
        if c.contains(.failedToStart) {
            self = .failedToStart(try c.nestedContainer(keyedBy: Keys.self, forKey: .failedToStart).decode(String.self, forKey: ._0)); return
        }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected exit, signal or startError"))
    }
}

extension Verdict {
    private enum Keys: String, CodingKey { case kind, detail, missing, forbiddenLine, evidence }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(detail, forKey: .detail)
        try c.encode(missing, forKey: .missing)
        try c.encodeOrNull(forbiddenLine, forKey: .forbiddenLine)
        try c.encodeOrNull(evidence, forKey: .evidence)
    }
}

extension RunRecord {
    private enum Keys: String, CodingKey {
        case format, version
        case lane, laneFile, kernel, argv, kernelCommandLine, runDirectory, serialLog, startedAt, duration, verdict, end
        case markers, requiredCount, consoleBytes, stopLatency, backend, domain, lifecycle, recordError, ktap
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(JSONContract.recordFormat, forKey: .format)
        try c.encode(JSONContract.version, forKey: .version)
        try c.encode(lane, forKey: .lane)
        try c.encode(laneFile, forKey: .laneFile)
        try c.encode(kernel, forKey: .kernel)
        try c.encode(argv, forKey: .argv)
        try c.encode(kernelCommandLine, forKey: .kernelCommandLine)
        try c.encode(runDirectory, forKey: .runDirectory)
        try c.encode(serialLog, forKey: .serialLog)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(duration, forKey: .duration)
        try c.encode(verdict, forKey: .verdict)
        try c.encodeOrNull(end, forKey: .end)
        try c.encode(markers, forKey: .markers)
        try c.encode(requiredCount, forKey: .requiredCount)
        try c.encode(consoleBytes, forKey: .consoleBytes)
        try c.encodeOrNull(stopLatency, forKey: .stopLatency)
        try c.encodeOrNull(backend, forKey: .backend)
        try c.encodeOrNull(domain, forKey: .domain)
        try c.encodeOrNull(lifecycle, forKey: .lifecycle)
        try c.encodeOrNull(recordError, forKey: .recordError)
        try c.encodeOrNull(ktap, forKey: .ktap)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(lane: try c.decode(String.self, forKey: .lane), laneFile: try c.decode(String.self, forKey: .laneFile),
                  kernel: try c.decode(String.self, forKey: .kernel), argv: try c.decode([String].self, forKey: .argv),
                  kernelCommandLine: try c.decode(String.self, forKey: .kernelCommandLine),
                  runDirectory: try c.decode(String.self, forKey: .runDirectory), serialLog: try c.decode(String.self, forKey: .serialLog),
                  startedAt: try c.decode(String.self, forKey: .startedAt), duration: try c.decode(Double.self, forKey: .duration),
                  verdict: try c.decode(Verdict.self, forKey: .verdict), end: try c.decodeIfPresent(ProcessEnd.self, forKey: .end),
                  markers: try c.decode([MarkerHit].self, forKey: .markers), requiredCount: try c.decode(Int.self, forKey: .requiredCount),
                  consoleBytes: try c.decode(Int.self, forKey: .consoleBytes),
                  stopLatency: try c.decodeIfPresent(Double.self, forKey: .stopLatency),
                  backend: try c.decodeIfPresent(String.self, forKey: .backend), domain: try c.decodeIfPresent(String.self, forKey: .domain),
                  lifecycle: try c.decodeIfPresent(GuestLifecycle.self, forKey: .lifecycle))
        recordError = try c.decodeIfPresent(String.self, forKey: .recordError)
        ktap = try c.decodeIfPresent(KTAPReport.self, forKey: .ktap)
    }
}

extension KeyedEncodingContainer {
    /// `null` rather than a missing key: the keys of a document never depend on the outcome.
    public mutating func encodeOrNull<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}

/// Seeds are 64-bit: as JSON numbers, jq and JavaScript round them to a double (13679457532755275413
/// becomes …276000) and a replay boots the wrong seed. They are written as decimal strings (and
/// read back from either form).
extension KeyedDecodingContainer {
    public func decodeSeed(forKey key: Key) throws -> UInt64 {
        if let text = try? decode(String.self, forKey: key) {
            guard let seed = UInt64(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "a seed is a decimal string of a 64-bit number")
            }
            return seed
        }
        return try decode(UInt64.self, forKey: key)
    }
}

extension StressRun {
    private enum Keys: String, CodingKey { case index, seed, offset, underLoad, host, record, replay }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(index, forKey: .index)
        try c.encode(String(seed), forKey: .seed)
        try c.encode(offset, forKey: .offset)
        try c.encode(underLoad, forKey: .underLoad)
        try c.encode(host, forKey: .host)
        try c.encode(record, forKey: .record)
        try c.encode(replay, forKey: .replay)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(index: try c.decode(Int.self, forKey: .index), seed: try c.decodeSeed(forKey: .seed),
                  offset: try c.decode(Double.self, forKey: .offset), underLoad: try c.decode(Bool.self, forKey: .underLoad),
                  host: try c.decode(String.self, forKey: .host), record: try c.decode(RunRecord.self, forKey: .record),
                  replay: try c.decode(String.self, forKey: .replay))
    }
}

extension StressSummary.Slow {
    private enum Keys: String, CodingKey { case index, seed, duration, verdict }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(index, forKey: .index)
        try c.encode(String(seed), forKey: .seed)
        try c.encode(duration, forKey: .duration)
        try c.encode(verdict, forKey: .verdict)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(index: try c.decode(Int.self, forKey: .index), seed: try c.decodeSeed(forKey: .seed),
                  duration: try c.decode(Double.self, forKey: .duration), verdict: try c.decode(VerdictKind.self, forKey: .verdict))
    }
}

extension StressSummary {
    /// Every stored property under its own name, `null` for what this experiment did not measure
    /// (no baseline, no idle runs, ...). Read from the type itself, so a field added later is
    /// written too (a hand-kept key list would drop it silently).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        for child in Mirror(reflecting: self).children {
            guard let label = child.label else { continue }
            let key = AnyCodingKey(stringValue: label)
            if let optional = child.value as? any OptionalValue, optional.isNone {
                try c.encodeNil(forKey: key)
            } else if let value = child.value as? any Encodable {
                try c.encode(value, forKey: key)
            }
        }
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

protocol OptionalValue { var isNone: Bool { get } }
extension Optional: OptionalValue { var isNone: Bool { self == nil } }
