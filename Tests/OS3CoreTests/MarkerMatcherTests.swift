import Testing
@testable import OS3Core

@Suite("Marker matching on a console stream")
struct MarkerMatcherTests {
    static let set = MarkerSet(
        required: [Marker(id: "boot", pattern: .literal("os3: boot ok")),
                   Marker(id: "mem", pattern: .regex("mem total=\\d+ MiB")),
                   Marker(id: "done", pattern: .literal("os3: ALL OK"))],
        forbidden: [Marker(id: "panic", pattern: .literal("os3: PANIC"))],
        orders: [["boot", "mem", "done"]])

    static let console = Array("hello\nos3: boot ok entry=pvh\nos3: mem total=256 MiB\nos3: ALL OK\n".utf8)

    @Test("a marker split across two reads is still matched, wherever the split falls", arguments: 0...console.count)
    func splitAnywhere(_ cut: Int) {
        var m = MarkerMatcher(Self.set)
        _ = m.feed(Array(Self.console[..<cut]), at: 0.1)
        _ = m.feed(Array(Self.console[cut...]), at: 0.2)
        _ = m.finish(at: 0.3)
        #expect(m.missing.isEmpty)
        #expect(m.hits["boot"]?.line == 2)
        #expect(m.hits["mem"]?.line == 3)
        #expect(m.hits["done"]?.line == 4)
    }

    @Test("byte-at-a-time delivery (how a UART arrives) matches every marker once")
    func byteAtATime() {
        var m = MarkerMatcher(Self.set)
        var events: [MatchEvent] = []
        for b in Self.console { events += m.feed([b], at: 0) }
        #expect(events.count == 3)
        #expect(m.missing.isEmpty)
    }

    @Test("a marker not printed stays missing")
    func missing() {
        var m = MarkerMatcher(Self.set)
        _ = m.feed(Array("os3: boot ok\nos3: mem total=1 MiB\n".utf8), at: 0)
        _ = m.finish(at: 0)
        #expect(m.missing.map(\.id) == ["done"])
    }

    @Test("a forbidden literal is caught before its line ends")
    func forbiddenInUnfinishedLine() {
        var m = MarkerMatcher(Self.set)
        let events = m.feed(Array("os3: boot ok\nos3: PAN".utf8), at: 0.1) + m.feed(Array("IC: oh no".utf8), at: 0.2)
        #expect(events.contains { if case .forbidden(let h) = $0 { h.id == "panic" && h.time == 0.2 } else { false } })
        #expect(m.forbiddenLineIncomplete)
        _ = m.feed(Array(" at rip\nmore".utf8), at: 0.3)
        #expect(!m.forbiddenLineIncomplete)
        #expect(m.forbiddenHit?.text == "os3: PANIC: oh no at rip")
        #expect(m.forbiddenHit?.time == 0.2)
    }

    @Test("a forbidden line's excerpt has no CR, whether its CRLF came in the same chunk or a later one")
    func forbiddenExcerptWithoutCR() {
        var whole = MarkerMatcher(Self.set)
        _ = whole.feed(Array("os3: PANIC: bad\r\nnext".utf8), at: 0.1)
        var split = MarkerMatcher(Self.set)
        _ = split.feed(Array("os3: PANIC: bad".utf8), at: 0.1)
        _ = split.feed(Array("\r\nnext".utf8), at: 0.2)
        #expect(whole.forbiddenHit?.text == "os3: PANIC: bad")
        #expect(split.forbiddenHit?.text == "os3: PANIC: bad")
    }

    @Test("a forbidden marker stops matching: later markers are not credited")
    func nothingAfterForbidden() {
        var m = MarkerMatcher(Self.set)
        _ = m.feed(Array("os3: PANIC: x\nos3: ALL OK\n".utf8), at: 0)
        #expect(m.hits["done"] == nil)
        #expect(m.forbiddenHit?.id == "panic")
    }

    @Test("CRLF line ends, NUL bytes and invalid UTF-8 do not hide markers")
    func dirtyBytes() {
        var m = MarkerMatcher(Self.set)
        var bytes: [UInt8] = [0xFF, 0xFE, 0x00, 0x0A]
        bytes += Array("\u{0}os3: boot ok\r\n".utf8) + [0xC3, 0x28] + Array(" os3: mem total=4 MiB\r\nos3: ALL OK".utf8)
        _ = m.feed(bytes, at: 0)
        _ = m.finish(at: 0)
        #expect(m.missing.isEmpty)
        #expect(m.hits["boot"]?.line == 2)
    }

    @Test("a regex marker with an anchor matches the whole line without its line ending")
    func anchoredRegex() {
        let set = MarkerSet(required: [Marker(id: "c", pattern: .regex("^os3: cmdline \".*\"$"))])
        var m = MarkerMatcher(set)
        _ = m.feed(Array("os3: cmdline \"a b\"\r\n".utf8), at: 0)
        #expect(m.missing.isEmpty)
    }

    @Test("an endless line without newlines keeps memory bounded and still finds a marker inside it")
    func runawayLine() {
        var m = MarkerMatcher(Self.set)
        let filler = [UInt8](repeating: 0x41, count: 10_000)
        for i in 0..<100 {
            _ = m.feed(filler, at: 0)
            if i == 50 { _ = m.feed(Array("os3: boot ok".utf8), at: 0) }
        }
        #expect(m.hits["boot"] != nil)
        #expect(m.bytes == 1_000_000 + 12)
    }

    @Test("the last line is matched even when the guest exits without a newline")
    func unterminatedLastLine() {
        var m = MarkerMatcher(Self.set)
        _ = m.feed(Array("os3: ALL O".utf8), at: 0)
        #expect(m.hits["done"] == nil)
        _ = m.feed(Array("K".utf8), at: 0)
        _ = m.finish(at: 1)
        #expect(m.hits["done"]?.time == 1)
    }
}

@Suite("Regex prefilter")
struct RegexPrefilterTests {
    static func literal(_ pattern: String) throws -> String? { try MarkerRegex(pattern).requiredLiteral }

    @Test("the literal a regex requires is read from the parsed pattern",
          arguments: [(#"^os3: cmdline ".*"$"#, #"os3: cmdline ""#), (#"os3: memmap entries=\d+ ram=\d+"#, "os3: memmap entries="),
                      (#"cr3=0x[1-9a-f][0-9a-f]{8,} above4g=yes"#, "above4g=yes"), ("colou?r flavour", "r flavour"),
                      ("(abc)?defg", "defg"), ("ab+c", nil), ("(?:os3: )boot", "os3: boot")])
    func found(_ pattern: String, _ literal: String?) throws {
        #expect(try Self.literal(pattern) == literal)
    }

    @Test("escapes are the characters they stand for, never their spelling",
          arguments: [(#"os3:\x20PANIC"#, "os3: PANIC"), (#"\u{41}BC"#, "ABC"), (#"caf\u{E9} ok"#, "café ok"),
                      (#"a\.b\.c"#, "a.b.c"), (#"boot\tok"#, "boot\tok"), (#"x\x{3D}1 y"#, "x=1 y")])
    func escapes(_ pattern: String, _ literal: String) throws {
        #expect(try Self.literal(pattern) == literal)
    }

    @Test("no prefilter where the pattern does not require 3 bytes of fixed text",
          arguments: ["panic|oops", "(os3: panic|os3: oops)", "a.b", #"\d+\.\d+"#, #"\bok\b"#, "  ab  "])
    func refused(_ pattern: String) throws {
        #expect(try Self.literal(pattern) == nil)
    }

    @Test("every string a regex matches contains its prefilter literal")
    func soundness() throws {
        let samples: [(String, [String])] = [
            (#"^os3: cmdline ".*"$"#, [#"os3: cmdline """#, #"os3: cmdline "a b c""#]),
            ("colou?r flavour", ["color flavour", "colour flavour!"]),
            (#"x{2,3}yz{0,1}abc"#, ["xxyabc", "xxxyzabc"]),
            (#"os3:\x20PANIC\u{21}"#, ["os3: PANIC!"]),
        ]
        for (pattern, matching) in samples {
            let regex = try Regex(pattern)
            let literal = try #require(try Self.literal(pattern))
            for text in matching {
                #expect((try regex.firstMatch(in: text)) != nil, "\(pattern) should match \(text)")
                #expect(text.contains(literal), "\(text) lacks \(literal)")
            }
        }
    }

    @Test("a forbidden regex written with escapes (\\x20, \\u{...}) is tried on the line that matches it, and stops the boot",
          arguments: [#"os3:\x20PANIC"#, #"os3: P\u{41}NIC"#, #"os3:\x{20}PANIC vector=\d+"#])
    func forbiddenWithEscapesStopsTheBoot(_ pattern: String) {
        let set = MarkerSet(required: [Marker(id: "done", pattern: .literal("os3: ALL OK"))],
                            forbidden: [Marker(id: "panic", pattern: .regex(pattern))])
        var m = MarkerMatcher(set)
        let events = m.feed(Array("os3: boot ok\nos3: PANIC vector=14\nos3: ALL OK\n".utf8), at: 1)
        #expect(m.forbiddenHit?.id == "panic")
        #expect(m.forbiddenHit?.line == 2)
        #expect(!events.contains { if case .seen(let h) = $0 { h.id == "done" } else { false } })
    }
}

@Suite("Aho–Corasick automaton")
struct AhoCorasickTests {
    /// Every (pattern, end offset) the automaton reports, scanning byte by byte.
    static func occurrences(_ ac: AhoCorasick, _ text: [UInt8]) -> [[Int]] {
        var found: [[Int]] = []
        var s: Int32 = 0
        for (i, b) in text.enumerated() {
            s = ac.next(s, b)
            for p in ac.patterns(endingAt: s) { found.append([Int(p), i + 1]) }
        }
        return found.sorted { ($0[1], $0[0]) < ($1[1], $1[0]) }
    }

    static func naive(_ patterns: [[UInt8]], _ text: [UInt8]) -> [[Int]] {
        var found: [[Int]] = []
        for (p, pat) in patterns.enumerated() where pat.count <= text.count {
            for start in 0...(text.count - pat.count) where Array(text[start..<start + pat.count]) == pat { found.append([p, start + pat.count]) }
        }
        return found.sorted { ($0[1], $0[0]) < ($1[1], $1[0]) }
    }

    @Test("overlapping patterns and patterns inside other patterns are all found")
    func overlapping() {
        let patterns = ["he", "she", "his", "hers"].map { Array($0.utf8) }
        let ac = AhoCorasick(patterns)
        let text = Array("ushers".utf8)
        #expect(Self.occurrences(ac, text) == [[0, 4], [1, 4], [3, 6]])
    }

    @Test("random patterns over a small alphabet: the automaton finds exactly what a naive search finds")
    func randomized() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let patterns = (0..<Int(rng.next() % 8 + 1)).map { _ in (0..<Int(rng.next() % 4 + 1)).map { _ in UInt8(97 + rng.next() % 3) } }
            let text = (0..<Int(rng.next() % 60)).map { _ in UInt8(97 + rng.next() % 3) }
            #expect(Self.occurrences(AhoCorasick(patterns), text) == Self.naive(patterns, text))
        }
    }

    @Test("bytes in no pattern share one column; with every byte value in the patterns each has its own",
          arguments: [2, 200, 255, 256])
    func byteClasses(distinct: Int) {
        var rng = SplitMix64(seed: UInt64(distinct))
        // Patterns over the first `distinct` byte values, text over all 256.
        let patterns = (0..<40).map { _ in (0..<Int(rng.next() % 5 + 1)).map { _ in UInt8(rng.next() % UInt64(distinct)) } }
            + (0..<distinct).map { [UInt8($0)] }
        let ac = AhoCorasick(patterns)
        #expect(ac.shift <= 8)
        #expect((1 << ac.shift) >= Set(patterns.joined()).count, "every byte that occurs has a column")
        let text = (0..<3000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        #expect(Self.occurrences(ac, text) == Self.naive(patterns, text))
    }
}

@Suite("Marker matcher against a naive reference")
struct MatcherDifferentialTests {
    /// The obvious, slow definition: split into lines, strip \r, test each marker on each line.
    static func reference(_ set: MarkerSet, _ bytes: [UInt8]) -> (hits: [String: Int], forbidden: Int?) {
        var hits: [String: Int] = [:]
        for (n, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var line = Array(raw)
            if line.last == 0x0D { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            func matches(_ m: Marker) -> Bool {
                switch m.pattern {
                case .literal(let t): return line.count >= t.utf8.count && (0...(line.count - t.utf8.count)).contains { Array(line[$0..<$0 + t.utf8.count]) == Array(t.utf8) }
                case .regex(let r): return (try? Regex(r).firstMatch(in: text)) != nil
                }
            }
            if set.forbidden.contains(where: matches) { return (hits, n + 1) }
            for m in set.required where hits[m.id] == nil && matches(m) { hits[m.id] = n + 1 }
        }
        return (hits, nil)
    }

    static let sets: [MarkerSet] = [
        // Every regex has a required literal: the fast path (automaton across lines).
        MarkerSet(required: [Marker(id: "a", pattern: .literal("os3: ab")), Marker(id: "b", pattern: .literal("ba")),
                             Marker(id: "c", pattern: .regex(#"x=\d+ done"#)), Marker(id: "d", pattern: .regex("^zz zz$"))],
                  forbidden: [Marker(id: "p", pattern: .literal("PANIC")), Marker(id: "q", pattern: .regex(#"oops \d"#))]),
        // A regex with no required literal: every line goes through the line-by-line path.
        MarkerSet(required: [Marker(id: "a", pattern: .literal("os3: ab")), Marker(id: "b", pattern: .literal("ba")),
                             Marker(id: "c", pattern: .regex(#"x=\d+ done"#)), Marker(id: "d", pattern: .regex("^zz$"))],
                  forbidden: [Marker(id: "p", pattern: .literal("PANIC")), Marker(id: "q", pattern: .regex(#"oops \d"#))]),
    ]

    @Test("random consoles cut into random reads give the same hits and lines as the reference", arguments: [0, 1])
    func randomized(_ which: Int) {
        let set = Self.sets[which]
        let pieces = ["os3: ab", "ba", "x=12 done", "x= done", "zz", "zz zz", "PAN", "IC", "oops 4", "oops", "\n", "\r\n", "\n", "a", "b", " ", "\u{0}", "\u{FF}"]
        var rng = SplitMix64(seed: 2024)
        for _ in 0..<500 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(rng.next() % 40) { bytes += Array(pieces[Int(rng.next() % UInt64(pieces.count))].utf8) }
            var m = MarkerMatcher(set)
            var i = 0
            while i < bytes.count {
                let k = Int(rng.next() % 7) + 1
                _ = m.feed(Array(bytes[i..<min(bytes.count, i + k)]), at: 0)
                i += k
            }
            _ = m.finish(at: 0)
            let want = Self.reference(set, bytes)
            #expect(m.forbiddenHit?.line == want.forbidden, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
            if want.forbidden == nil {
                #expect(m.hits.mapValues(\.line) == want.hits, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
        }
    }
}
