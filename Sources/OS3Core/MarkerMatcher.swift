import COS3Bytes
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and when a marker was first seen on the console.
public struct MarkerHit: Sendable, Codable, Equatable {
    public var id: String
    /// Seconds since the guest was started.
    public var time: Double
    /// 1-based line of the serial log.
    public var line: Int
    /// The console line (truncated), for reports.
    public var text: String

    public init(id: String, time: Double, line: Int, text: String) {
        self.id = id
        self.time = time
        self.line = line
        self.text = text
    }
}

public enum MatchEvent: Sendable, Equatable {
    case seen(MarkerHit)
    case forbidden(MarkerHit)
}

/// Matches a console byte stream against a marker set as it arrives, in bounded memory.
/// Lines are matched whole, whatever the read boundaries; a forbidden literal is also looked for in
/// the unfinished line so a panic is caught before its newline arrives. Bytes need not be UTF-8.
public struct MarkerMatcher: Sendable {
    /// Longest line kept in memory; longer lines are matched in overlapping windows.
    public static let maxLine = 64 * 1024

    private struct Compiled: @unchecked Sendable {
        let marker: Marker
        let literal: [UInt8]?
        let regex: Regex<AnyRegexOutput>?
        /// Text every match of `regex` must contain: lines without it skip the regex engine.
        let prefilter: [UInt8]?
    }

    public let set: MarkerSet
    private var pendingRequired: [Compiled]
    private let forbidden: [Compiled]
    private let overlap: Int
    private var partial: [UInt8] = []
    private var partialCheckedForbidden = 0
    private var forbiddenInPartial = false
    private var lineNumber = 1
    public private(set) var hits: [String: MarkerHit] = [:]
    public private(set) var forbiddenHit: MarkerHit?
    public private(set) var bytes = 0

    public init(_ set: MarkerSet) {
        self.set = set
        func compile(_ m: Marker) -> Compiled {
            switch m.pattern {
            case .literal(let s): return Compiled(marker: m, literal: Array(s.utf8), regex: nil, prefilter: nil)
            // Patterns are validated when marker files are parsed.
            case .regex(let r): return Compiled(marker: m, literal: nil, regex: try? Regex(r), prefilter: requiredLiteral(r).map { Array($0.utf8) })
            }
        }
        pendingRequired = set.required.map(compile)
        forbidden = set.forbidden.map(compile)
        let longest = (set.required + set.forbidden).map { $0.patternText.utf8.count }.max() ?? 1
        overlap = min(longest, 4096)
    }

    /// True while a forbidden marker was seen in a line whose newline has not arrived yet.
    public var forbiddenLineIncomplete: Bool { forbiddenInPartial }

    /// The required markers not seen yet, in definition order.
    public var missing: [Marker] { pendingRequired.map(\.marker) }

    /// Feeds a chunk of console output that arrived `time` seconds after start.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, at time: Double) -> [MatchEvent] {
        var events: [MatchEvent] = []
        guard forbiddenHit == nil else {
            completeForbiddenLine(chunk)
            return events
        }
        bytes += chunk.count
        var start = 0
        let base = chunk.baseAddress
        while start < chunk.count, let base {
            let rest = chunk.count - start
            if let nl = memchr(base + start, 0x0A, rest) {
                let end = base.distance(to: UnsafeRawPointer(nl))
                if partial.isEmpty {
                    match(UnsafeRawBufferPointer(rebasing: chunk[start..<end]), time: time, into: &events)
                } else {
                    partial.append(contentsOf: chunk[start..<end])
                    partial.withUnsafeBytes { match($0, time: time, into: &events) }
                    partial.removeAll(keepingCapacity: partial.capacity <= 2 * Self.maxLine)
                }
                partialCheckedForbidden = 0
                lineNumber += 1
                start = end + 1
                if forbiddenHit != nil { return events }
            } else {
                partial.append(contentsOf: chunk[start...])
                start = chunk.count
            }
        }
        if partial.count > Self.maxLine {
            // A runaway line: match what we have, keep a tail so a marker cut here still matches.
            partial.withUnsafeBytes { match($0, time: time, into: &events) }
            partial.removeFirst(partial.count - overlap)
            partialCheckedForbidden = 0
        } else if !partial.isEmpty && !forbidden.isEmpty {
            checkPartialForForbidden(time: time, into: &events)
        }
        return events
    }

    public mutating func feed(_ bytes: [UInt8], at time: Double) -> [MatchEvent] {
        bytes.withUnsafeBytes { feed($0, at: time) }
    }

    /// Matches the last, unterminated line (the guest may exit without a newline).
    public mutating func finish(at time: Double) -> [MatchEvent] {
        var events: [MatchEvent] = []
        guard forbiddenHit == nil, !partial.isEmpty else { return events }
        partial.withUnsafeBytes { match($0, time: time, into: &events) }
        partial.removeAll()
        return events
    }

    /// A forbidden marker caught in an unfinished line: keep reading until its newline so the
    /// report shows the whole line (the verdict and its time are already fixed).
    private mutating func completeForbiddenLine(_ chunk: UnsafeRawBufferPointer) {
        guard forbiddenInPartial, var hit = forbiddenHit else { return }
        bytes += chunk.count
        if let nl = chunk.firstIndex(of: 0x0A) {
            partial.append(contentsOf: chunk[..<nl])
            forbiddenInPartial = false
        } else if partial.count < Self.maxLine {
            partial.append(contentsOf: chunk)
        }
        var line = partial
        if line.last == 0x0D { line.removeLast() }
        hit.text = line.withUnsafeBytes { Self.excerpt($0) }
        forbiddenHit = hit
    }

    private mutating func checkPartialForForbidden(time: Double, into events: inout [MatchEvent]) {
        // Only look at bytes not checked before (plus an overlap) to stay linear.
        let from = max(0, partialCheckedForbidden - overlap)
        partial.withUnsafeBytes { all in
            let window = UnsafeRawBufferPointer(rebasing: all[from...])
            for f in forbidden {
                if let lit = f.literal, contains(window, lit) {
                    record(forbidden: f.marker, line: all, time: time, into: &events)
                    forbiddenInPartial = true
                    return
                }
            }
        }
        partialCheckedForbidden = partial.count
    }

    private mutating func match(_ line: UnsafeRawBufferPointer, time: Double, into events: inout [MatchEvent]) {
        var line = line
        if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        var decoded: String?
        func text() -> String {
            if let decoded { return decoded }
            let s = String(decoding: line, as: UTF8.self)
            decoded = s
            return s
        }
        for f in forbidden where matches(f, line, text) {
            record(forbidden: f.marker, line: line, time: time, into: &events)
            return
        }
        var i = 0
        while i < pendingRequired.count {
            let c = pendingRequired[i]
            if matches(c, line, text) {
                let hit = MarkerHit(id: c.marker.id, time: time, line: lineNumber, text: Self.excerpt(line))
                hits[c.marker.id] = hit
                events.append(.seen(hit))
                pendingRequired.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    private func matches(_ c: Compiled, _ line: UnsafeRawBufferPointer, _ text: () -> String) -> Bool {
        if let lit = c.literal { return contains(line, lit) }
        guard let regex = c.regex else { return false }
        if let p = c.prefilter, !contains(line, p) { return false }
        return (try? regex.firstMatch(in: text())) != nil
    }

    private mutating func record(forbidden m: Marker, line: UnsafeRawBufferPointer, time: Double, into events: inout [MatchEvent]) {
        let hit = MarkerHit(id: m.id, time: time, line: lineNumber, text: Self.excerpt(line))
        forbiddenHit = hit
        events.append(.forbidden(hit))
    }

    static func excerpt(_ line: UnsafeRawBufferPointer) -> String {
        let limit = 240
        let s = String(decoding: line.prefix(limit), as: UTF8.self)
        return line.count > limit ? s + "…" : s
    }

    private func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let h = haystack.baseAddress else { return false }
        return needle.withUnsafeBytes { n in os3_find(h, haystack.count, n.baseAddress!, n.count) >= 0 }
    }
}

/// The longest run of plain characters that every match of `pattern` must contain, or nil when
/// that cannot be told simply. Conservative: only text outside groups and classes, no
/// alternation or inline options anywhere, and a character followed by a quantifier is dropped.
func requiredLiteral(_ pattern: String) -> String? {
    if pattern.contains("|") || pattern.contains("(?") { return nil }
    let chars = Array(pattern)
    var best = "", run = ""
    var depth = 0, inClass = false, i = 0
    func endRun() {
        if run.count > best.count { best = run }
        run = ""
    }
    while i < chars.count {
        let c = chars[i]
        if inClass {
            if c == "\\" { i += 2; continue }
            if c == "]" { inClass = false }
            i += 1
            continue
        }
        switch c {
        case "\\":
            endRun()
            i += 2
            continue
        case "[":
            endRun(); inClass = true
        case "(":
            endRun(); depth += 1
        case ")":
            endRun(); depth = max(0, depth - 1)
        case "?", "*", "{":
            // The quantified character is optional: it does not belong to the run.
            if !run.isEmpty { run.removeLast() }
            endRun()
            if c == "{" { while i < chars.count && chars[i] != "}" { i += 1 } }
        case "+":
            endRun()
        case ".", "^", "$":
            endRun()
        default:
            if depth == 0 { run.append(c) } else { endRun() }
        }
        i += 1
    }
    endRun()
    return best.count >= 3 ? best : nil
}
