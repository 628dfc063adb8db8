/// A LAVA job's raw log (`lavacli jobs logs --raw`: one `- {"dt": …, "lvl": …, "msg": …}` a line)
/// read back into what os3ctl judges: the guest's console between the device's QEMU wrapper's
/// first line and its exit line, with LAVA's timestamps, and how QEMU ended (docs/LAVA.md).
public struct LAVALog: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// Seconds since the epoch (LAVA's `dt`, UTC).
        public var time: Double
        public var level: String
        /// The message; for `results` entries, the raw JSON object.
        public var message: String
    }

    public var entries: [Entry]

    /// Parses the raw log; lines that are not log entries are ignored.
    public init(raw: String) {
        entries = raw.split(separator: "\n", omittingEmptySubsequences: true).compactMap { Self.entry(Substring($0)) }
    }

    /// One `- {"dt": "2026-12-06T07:27:04.816374", "lvl": "target", "msg": "…"}` line.
    static func entry(_ line: Substring) -> Entry? {
        let bytes = Array(line.utf8)
        guard let dt = stringValue(bytes, key: "\"dt\": \""), let time = parseTime(dt.text),
              let lvl = stringValue(bytes, key: "\"lvl\": \"") else { return nil }
        let msgKey = Array("\"msg\": ".utf8)
        guard let at = find(msgKey, in: bytes, from: lvl.end) else { return nil }
        let start = at + msgKey.count
        if start < bytes.count, bytes[start] == UInt8(ascii: "\"") {
            guard let msg = decodeString(bytes, from: start + 1) else { return nil }
            return Entry(time: time, level: lvl.text, message: msg.text)
        }
        // An object (results): kept as written, without the closing brace of the entry.
        var end = bytes.count
        if end > start, bytes[end - 1] == UInt8(ascii: "}") { end -= 1 }
        return Entry(time: time, level: lvl.text, message: String(decoding: bytes[start..<end], as: UTF8.self))
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard needle.count <= bytes.count else { return nil }
        var i = from
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0], Array(bytes[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func stringValue(_ bytes: [UInt8], key: String) -> (text: String, end: Int)? {
        guard let at = find(Array(key.utf8), in: bytes, from: 0) else { return nil }
        return decodeString(bytes, from: at + key.utf8.count)
    }

    /// A JSON string body from `from` (after its opening quote) to its closing quote.
    static func decodeString(_ bytes: [UInt8], from: Int) -> (text: String, end: Int)? {
        var out: [UInt8] = []
        var i = from
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { return (String(decoding: out, as: UTF8.self), i + 1) }
            if c == UInt8(ascii: "\\"), i + 1 < bytes.count {
                let e = bytes[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    guard i + 4 <= bytes.count, var code = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
                    i += 4
                    // A surrogate pair (\ud83d\ude00).
                    if (0xD800...0xDBFF).contains(code), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: bytes[i + 2..<i + 6], as: UTF8.self), radix: 16), (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                    out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                default: out.append(e)  // \" \\ \/
                }
                continue
            }
            out.append(c)
            i += 1
        }
        return nil
    }

    /// "2026-12-06T07:27:04.816374" (UTC) as seconds since the epoch.
    static func parseTime(_ text: String) -> Double? {
        let u = Array(text.utf8)
        guard u.count >= 19 else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: u[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let s = num(17..<19) else { return nil }
        var fraction = 0.0
        if u.count > 20, u[19] == UInt8(ascii: "."), let f = Double("0." + String(decoding: u[20...], as: UTF8.self)) { fraction = f }
        // Days since the epoch (the civil-from-days inverse, proleptic Gregorian).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + h * 3600 + mi * 60 + s) + fraction
    }

    /// LAVA 2023.01 writes a console's `"` as `\"` (fixed upstream in 2024.01): the line as the guest wrote it.
    public static func unescapeConsole(_ line: String) -> String { line.replacingAll("\\\"", with: "\"") }

    /// The guest's console as the device's QEMU wrapper framed it.
    public struct Console: Sendable, Equatable {
        public struct Line: Sendable, Equatable {
            public var time: Double
            public var text: String
            public init(time: Double, text: String) {
                self.time = time
                self.text = text
            }
        }
        /// When the wrapper started QEMU (nil: it never did, so the guest never ran).
        public var startTime: Double?
        /// The guest's lines (and QEMU's own messages, which share the device's console), unescaped.
        public var lines: [Line]
        /// How QEMU ended, from the wrapper's last line (nil: no such line).
        public var end: ProcessEnd?
        /// When the console was over: the exit line, or LAVA's first own message after the last line.
        public var endTime: Double?
        /// LAVA's own account of a test action that timed out (its message), if any.
        public var lavaTimeout: String?
        /// LAVA's errors (lvl error), for details.
        public var lavaErrors: [String]

        public init(startTime: Double?, lines: [Line], end: ProcessEnd?, endTime: Double?, lavaTimeout: String?, lavaErrors: [String]) {
            self.startTime = startTime
            self.lines = lines
            self.end = end
            self.endTime = endTime
            self.lavaTimeout = lavaTimeout
            self.lavaErrors = lavaErrors
        }

        /// The console as text, one line each, as `serial.log` holds it.
        public var text: String { lines.map { $0.text + "\n" }.joined() }
    }

    /// The console between `os3ctl-qemu-start` and `os3ctl-qemu-exit=N` (or `-signal=N`).
    public var console: Console {
        var c = Console(startTime: nil, lines: [], end: nil, endTime: nil, lavaTimeout: nil, lavaErrors: [])
        var over = false
        for e in entries {
            if e.level == "error" { c.lavaErrors.append(e.message) }
            // The exit line can reach LAVA's log as `feedback` once its monitor has matched it in
            // its buffer and moved on to finalize: read there too, and even after the console ended.
            if c.startTime != nil, c.end == nil, e.level == "target" || e.level == "feedback",
               let end = Self.endOf(Self.unescapeConsole(e.message).trimmingSpaces()) {
                c.end = end
                c.endTime = e.time
                over = true
                continue
            }
            if e.level != "target" {
                if c.startTime != nil, !over {
                    if c.endTime == nil { c.endTime = e.time }
                    if e.message.contains("timed out") { c.lavaTimeout = c.lavaTimeout ?? e.message }
                    // LAVA gave up on the console (its test timeout, an error) or moved on to its
                    // finalize step, where it types `poweroff` and echoes: nothing after is the guest's.
                    if Self.endsConsole(e) { over = true }
                }
                continue
            }
            // Console lines may carry a carriage return or other line noise around the wrapper's words.
            let text = Self.unescapeConsole(e.message)
            let trimmed = text.trimmingSpaces()
            if c.startTime == nil {
                if trimmed.hasSuffix(LAVAJob.startLine) { c.startTime = e.time }
                continue
            }
            guard !over else { continue }
            c.endTime = nil
            c.lines.append(.init(time: e.time, text: text))
        }
        return c
    }

    /// Whether LAVA's own entry ends what os3ctl takes as the guest's console.
    static func endsConsole(_ e: Entry) -> Bool {
        e.level == "exception" || e.level == "error" || e.message.hasPrefix("Finalising connection")
            || (e.message.hasPrefix("start: ") && e.message.contains(" finalize "))
    }

    /// `os3ctl-qemu-exit=33` -> exited(33), `os3ctl-qemu-signal=9` -> signaled(9).
    static func endOf(_ line: String) -> ProcessEnd? {
        if line.hasPrefix(LAVAJob.exitPrefix), let code = Int32(line.dropFirst(LAVAJob.exitPrefix.count)) { return .exited(code) }
        if line.hasPrefix(LAVAJob.signalPrefix), let sig = Int32(line.dropFirst(LAVAJob.signalPrefix.count)) { return .signaled(sig) }
        return nil
    }
}

/// The verdict of a boot on a LAVA device, by os3ctl's own engine: the console judged by the
/// lane's markers, how QEMU ended from the device's wrapper line, hangs and timeouts from LAVA's
/// timestamps. LAVA's job status plays no part (it passes missing markers and hangs, docs/LAVA.md).
public enum LAVAJudge {
    public struct Outcome: Sendable {
        public var observation: BootObservation
        public var verdict: Verdict
        public var matcher: MarkerMatcher
    }

    public static func judge(_ console: LAVALog.Console, lane: Lane, markers: MarkerSet, jobError: String? = nil) -> Outcome {
        var matcher = MarkerMatcher(markers)
        guard let start = console.startTime else {
            let why = jobError ?? console.lavaErrors.last ?? "no error given"
            let o = BootObservation(end: .failedToStart("LAVA never started QEMU on the device (no \(LAVAJob.startLine) line; LAVA: \(why))"))
            return Outcome(observation: o, verdict: verdict(o, console: console, lane: lane, markers: markers), matcher: matcher)
        }
        // The silences os3ctl would have stopped the guest for, from LAVA's timestamps.
        var stop: StopReason?
        var previous = start
        var stopAt: Double?
        for line in console.lines {
            if stop == nil, line.time - previous >= lane.idleTimeout { stop = .idleTimeout; stopAt = previous + lane.idleTimeout }
            if stop == nil, line.time - start > lane.totalTimeout { stop = .totalTimeout; stopAt = start + lane.totalTimeout }
            if let stopAt, line.time > stopAt { break }
            _ = matcher.feed(Array((line.text + "\n").utf8), at: line.time - start)
            previous = line.time
        }
        var end = console.end
        if stop == nil {
            if end == nil {
                // The guest never ended: LAVA stopped it at the test timeout (the lane's total).
                let over = console.endTime ?? previous
                stop = over - previous >= lane.idleTimeout ? .idleTimeout : .totalTimeout
            } else if let t = console.endTime, t - previous >= lane.idleTimeout {
                // Silent until LAVA stopped QEMU (its wrapper still said how): a hang.
                stop = .idleTimeout
            } else if let t = console.endTime, t - start > lane.totalTimeout {
                stop = .totalTimeout
            }
        }
        if stop != nil { end = nil }
        _ = matcher.finish(at: (console.endTime ?? previous) - start)
        var o = BootObservation(end: end, stopReason: stop, matcher: matcher)
        // Without the exit line and without a timeout LAVA ended the job itself (an error, a cancel).
        if console.end == nil, stop == .totalTimeout, console.lavaTimeout == nil, let error = jobError ?? console.lavaErrors.last {
            o = BootObservation(end: .failedToStart("LAVA ended the job before QEMU ended, without the device's \(LAVAJob.exitPrefix)N line: \(error)"), stopReason: nil,
                                matcher: matcher)
        }
        return Outcome(observation: o, verdict: verdict(o, console: console, lane: lane, markers: markers), matcher: matcher)
    }

    /// os3ctl's verdict, saying which evidence decided: the device's exit line, or LAVA's job.
    static func verdict(_ o: BootObservation, console: LAVALog.Console, lane: Lane, markers: MarkerSet) -> Verdict {
        var verdict = Verdict.judge(o, markers: markers, success: lane.success, idleTimeout: lane.idleTimeout, totalTimeout: lane.totalTimeout)
        switch verdict.evidence {
        case .exitCode?:
            verdict.evidence = .deviceExitLine
            verdict.detail += " (the device's QEMU wrapper: \(console.end.map(Self.words) ?? "?"))"
        case .startFailure?:
            verdict.evidence = .lavaJob
            verdict.detail = verdict.detail.replacingAll("QEMU failed to start: ", with: "")
        default: break
        }
        return verdict
    }

    static func words(_ end: ProcessEnd) -> String {
        switch end {
        case .exited(let code): "\(LAVAJob.exitPrefix)\(code)"
        case .signaled(let sig): "\(LAVAJob.signalPrefix)\(sig)"
        case .failedToStart(let why): why
        }
    }
}
