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
/// Every literal (required and forbidden markers, and the text each regex needs) is found in one
/// pass by an Aho–Corasick automaton, so the cost per byte does not grow with the number of
/// markers; regexes run only on lines that contain their required text. Lines are matched whole,
/// whatever the read boundaries, and a forbidden literal is reported the moment its last byte
/// arrives, before its newline. Bytes need not be UTF-8.
public struct MarkerMatcher: Sendable {
    /// Longest line kept in memory; longer lines are matched in overlapping windows.
    public static let maxLine = 64 * 1024

    private enum Role: Sendable { case required(Int), forbidden(Int), prefilter(Int) }

    private struct RegexMarker: Sendable {
        let marker: Marker
        let regex: MarkerRegex
        let forbidden: Bool
        let requiredIndex: Int?
        let hasPrefilter: Bool
    }

    public let set: MarkerSet
    private let automaton: AhoCorasick
    private let roles: [Role]
    private let regexes: [RegexMarker]
    private let overlap: Int
    private var state: Int32 = 0
    private var seen: [Bool]
    private var unseenCount: Int
    /// The current line's bytes so far (at most maxLine of them).
    private var line: [UInt8] = []
    private var lineLiterals: [Int] = []
    private var lineCandidates: [Bool]
    private var forbiddenInPartial = false
    private var lineNumber = 1
    public private(set) var hits: [String: MarkerHit] = [:]
    public private(set) var forbiddenHit: MarkerHit?
    public private(set) var bytes = 0

    public init(_ set: MarkerSet) {
        self.set = set
        var patterns: [[UInt8]] = []
        var roles: [Role] = []
        var regexes: [RegexMarker] = []
        let all = set.required.enumerated().map { ($0.element, false, $0.offset) } + set.forbidden.enumerated().map { ($0.element, true, $0.offset) }
        for (m, forbidden, index) in all {
            switch m.pattern {
            case .literal(let t):
                // Never empty: marker files refuse empty text.
                patterns.append(Array(t.utf8))
                roles.append(forbidden ? .forbidden(index) : .required(index))
            case .regex(let r):
                // Marker files validate (and cache) their patterns when parsed. A set built in code
                // with an invalid pattern is a programming error: stop loudly rather than judge
                // with a marker that can never match (a silently skipped check).
                let regex: MarkerRegex
                do { regex = try RegexCache.shared.regex(r) } catch {
                    preconditionFailure("marker '\(m.id)': invalid regex reached the matcher unvalidated: \(error)")
                }
                let pre = regex.requiredLiteral
                if let pre { patterns.append(Array(pre.utf8)); roles.append(.prefilter(regexes.count)) }
                regexes.append(RegexMarker(marker: m, regex: regex, forbidden: forbidden,
                                           requiredIndex: forbidden ? nil : index, hasPrefilter: pre != nil))
            }
        }
        automaton = AhoCorasick(patterns)
        self.roles = roles
        self.regexes = regexes
        seen = Array(repeating: false, count: set.required.count)
        unseenCount = set.required.count
        lineCandidates = Array(repeating: false, count: regexes.count)
        let longest = (set.required + set.forbidden).map { $0.patternText.utf8.count }.max() ?? 1
        overlap = min(longest, 4096)
    }

    /// True while a forbidden marker was seen in a line whose newline has not arrived yet.
    public var forbiddenLineIncomplete: Bool { forbiddenInPartial }

    /// The required markers not seen yet, in definition order.
    public var missing: [Marker] { self.set.required.enumerated().filter { !seen[$0.offset] }.map(\.element) }

    /// Feeds a chunk of console output that arrived `time` seconds after start.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, at time: Double) -> [MatchEvent] {
        var events: [MatchEvent] = []
        guard forbiddenHit == nil else {
            completeForbiddenLine(chunk)
            return events
        }
        guard let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self), chunk.count > 0 else { return events }
        bytes += chunk.count
        if unprefilteredRegexPending {
            feedLineByLine(base, chunk.count, time: time, into: &events)
        } else {
            feedFast(base, chunk.count, time: time, into: &events)
        }
        return events
    }

    /// Regexes without a required literal must see every line: split on newlines and finish each.
    private var unprefilteredRegexPending: Bool {
        regexes.contains { r in !r.hasPrefilter && (r.forbidden || !seen[r.requiredIndex!]) }
    }

    private mutating func feedLineByLine(_ base: UnsafePointer<UInt8>, _ n: Int, time: Double, into events: inout [MatchEvent]) {
        var i = 0
        while i < n {
            guard let next = continueLine(base, n, from: i, lineStart: i, time: time, into: &events) else { return }
            i = next
        }
    }

    /// Scans the rest of the current line from `from`, then ends it at its newline and returns the
    /// index after that; or keeps it for the next chunk and returns nil (nil too once a forbidden
    /// marker has stopped the matching).
    private mutating func continueLine(_ base: UnsafePointer<UInt8>, _ n: Int, from: Int, lineStart: Int,
                                       time: Double, into events: inout [MatchEvent]) -> Int? {
        let newline = memchr(base + from, 0x0A, n - from).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
        scan(base, from: from, to: newline ?? n, lineStart: lineStart, lineEnd: newline, time: time, into: &events)
        if forbiddenHit != nil { return nil }
        guard let newline else {
            appendToLine(base + lineStart, n - lineStart, time: time, into: &events)
            return nil
        }
        endLine(base, lineStart: lineStart, newline: newline, time: time, into: &events)
        return forbiddenHit == nil ? newline + 1 : nil
    }

    /// The common case: the automaton runs across lines in C, and only a line in which something
    /// matched is looked at as a line. Newlines are counted, not split on.
    private mutating func feedFast(_ base: UnsafePointer<UInt8>, _ n: Int, time: Double, into events: inout [MatchEvent]) {
        var i = 0
        // A line carried over from the last chunk with work pending: finish it first.
        if lineHasWork {
            guard let next = continueLine(base, n, from: 0, lineStart: 0, time: time, into: &events) else { return }
            i = next
        }
        var lineStart = i
        var counted = i  // newlines before `counted` are already in lineNumber
        while i < n {
            var p = i
            let hit = automaton.scan(state: &state, base, position: &p, end: n)
            let s = state
            guard hit else { break }
            // Something matched and ends at p - 1: find its line.
            if let nl = os3_memrchr(base + lineStart, 0x0A, p - lineStart) {
                lineStart = base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
                if !line.isEmpty { line.removeAll(keepingCapacity: true) }
            }
            lineNumber += os3_count_byte(base + counted, lineStart - counted, 0x0A)
            counted = lineStart
            let newline = memchr(base + (p - 1), 0x0A, n - (p - 1)).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
            note(automaton.patterns(endingAt: s), base: base, lineStart: lineStart, lineEnd: newline, chunkEnd: n, time: time, into: &events)
            if forbiddenHit != nil { return }
            // Collect the rest of this line's matches, then finish it.
            guard let next = continueLine(base, n, from: p, lineStart: lineStart, time: time, into: &events) else { return }
            counted = next
            i = next
            lineStart = i
        }
        // No work pending: count the remaining newlines and keep only the unfinished tail (for
        // the excerpt should a marker complete in the next chunk).
        lineNumber += os3_count_byte(base + counted, n - counted, 0x0A)
        if let nl = os3_memrchr(base + lineStart, 0x0A, n - lineStart) {
            lineStart = base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            line.removeAll(keepingCapacity: true)
        }
        appendToLine(base + lineStart, n - lineStart, time: time, into: &events)
    }

    private var lineHasWork: Bool { !lineLiterals.isEmpty || lineCandidates.contains(true) }

    /// Ends the line whose last byte is before `newline` (the line may have begun in an earlier chunk).
    private mutating func endLine(_ base: UnsafePointer<UInt8>, lineStart: Int, newline: Int, time: Double, into events: inout [MatchEvent]) {
        if line.isEmpty {
            finishLine(UnsafeBufferPointer(start: base + lineStart, count: newline - lineStart), time: time, into: &events)
        } else {
            line.append(contentsOf: UnsafeBufferPointer(start: base + lineStart, count: newline - lineStart))
            line.withUnsafeBufferPointer { finishLine($0, time: time, into: &events) }
            line.removeAll(keepingCapacity: line.capacity <= 2 * Self.maxLine)
        }
        lineNumber += 1
        state = 0
    }

    public mutating func feed(_ bytes: [UInt8], at time: Double) -> [MatchEvent] {
        bytes.withUnsafeBytes { feed($0, at: time) }
    }

    /// Matches the last, unterminated line (the guest may exit without a newline).
    public mutating func finish(at time: Double) -> [MatchEvent] {
        var events: [MatchEvent] = []
        guard forbiddenHit == nil, !line.isEmpty else { return events }
        line.withUnsafeBufferPointer { finishLine($0, time: time, into: &events) }
        line.removeAll()
        return events
    }

    /// Runs the automaton over bytes [from, to) of the current line, noting what matched.
    private mutating func scan(_ base: UnsafePointer<UInt8>, from: Int, to: Int, lineStart: Int, lineEnd: Int?,
                               time: Double, into events: inout [MatchEvent]) {
        var p = from
        while p < to {
            let hit = automaton.scan(state: &state, base, position: &p, end: to)
            guard hit else { return }
            note(automaton.patterns(endingAt: state), base: base, lineStart: lineStart, lineEnd: lineEnd, chunkEnd: to, time: time, into: &events)
            if forbiddenHit != nil { return }
        }
    }

    /// Records patterns that just matched in the current line: literals to credit at its end,
    /// regexes to try at its end, and a forbidden literal at once.
    private mutating func note(_ patterns: ArraySlice<Int32>, base: UnsafePointer<UInt8>, lineStart: Int, lineEnd: Int?, chunkEnd: Int,
                               time: Double, into events: inout [MatchEvent]) {
        for pattern in patterns {
            switch roles[Int(pattern)] {
            case .required(let r):
                if !seen[r] && !lineLiterals.contains(r) { lineLiterals.append(r) }
            case .prefilter(let x):
                lineCandidates[x] = true
            case .forbidden(let f):
                guard forbiddenHit == nil else { return }
                // Caught mid-line: report now with what the line holds so far.
                var text = line
                text.append(contentsOf: UnsafeBufferPointer(start: base + lineStart, count: (lineEnd ?? chunkEnd) - lineStart))
                if lineEnd == nil { forbiddenInPartial = true; line = text }
                record(forbidden: set.forbidden[f], text: text, time: time, into: &events)
                return
            }
        }
    }

    /// Keeps the unfinished line; a runaway line is matched in windows so memory stays bounded.
    private mutating func appendToLine(_ p: UnsafePointer<UInt8>, _ count: Int, time: Double, into events: inout [MatchEvent]) {
        line.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
        if line.count > Self.maxLine {
            line.withUnsafeBufferPointer { finishLine($0, time: time, into: &events, window: true) }
            line.removeFirst(line.count - overlap)
        }
    }

    private mutating func finishLine(_ raw: UnsafeBufferPointer<UInt8>, time: Double, into events: inout [MatchEvent], window: Bool = false) {
        var text = raw
        if text.last == 0x0D { text = UnsafeBufferPointer(rebasing: text.dropLast()) }
        let needRegex = regexes.indices.filter { x in
            let r = regexes[x]
            if let ri = r.requiredIndex, seen[ri] { return false }
            return !r.hasPrefilter || lineCandidates[x]
        }
        for x in needRegex where regexes[x].forbidden {
            if regexes[x].regex.matches(text) {
                record(forbidden: regexes[x].marker, text: Array(text), time: time, into: &events)
                return
            }
        }
        var found = lineLiterals
        for x in needRegex where !regexes[x].forbidden {
            if let ri = regexes[x].requiredIndex, regexes[x].regex.matches(text) { found.append(ri) }
        }
        for r in found.sorted() where !seen[r] {
            seen[r] = true
            unseenCount -= 1
            let hit = MarkerHit(id: set.required[r].id, time: time, line: lineNumber, text: Self.excerpt(text))
            hits[hit.id] = hit
            events.append(.seen(hit))
        }
        lineLiterals.removeAll(keepingCapacity: true)
        // A window of a runaway line keeps its candidates: the rest of the line is still to come.
        if !window { for x in needRegex { lineCandidates[x] = false } }
    }

    /// A forbidden marker caught in an unfinished line: keep reading until its newline so the
    /// report shows the whole line (the verdict and its time are already fixed).
    private mutating func completeForbiddenLine(_ chunk: UnsafeRawBufferPointer) {
        guard forbiddenInPartial, var hit = forbiddenHit else { return }
        bytes += chunk.count
        if let nl = chunk.firstIndex(of: 0x0A) {
            line.append(contentsOf: chunk[..<nl])
            forbiddenInPartial = false
        } else if line.count < Self.maxLine {
            line.append(contentsOf: chunk)
        }
        var text = line
        if text.last == 0x0D { text.removeLast() }
        hit.text = text.withUnsafeBufferPointer { Self.excerpt($0) }
        forbiddenHit = hit
    }

    private mutating func record(forbidden m: Marker, text: [UInt8], time: Double, into events: inout [MatchEvent]) {
        // The excerpt is the line without its CR, however the chunks fell (as completeForbiddenLine does).
        var text = text
        if text.last == 0x0D { text.removeLast() }
        let hit = MarkerHit(id: m.id, time: time, line: lineNumber, text: text.withUnsafeBufferPointer { Self.excerpt($0) })
        forbiddenHit = hit
        events.append(.forbidden(hit))
    }

    static func excerpt(_ line: UnsafeBufferPointer<UInt8>) -> String {
        let limit = 240
        let s = String(decoding: line.prefix(limit), as: UTF8.self)
        return line.count > limit ? s + "…" : s
    }
}
