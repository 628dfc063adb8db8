import FoundationEssentials
import OS3Core
import Testing

/// `JSONText` writes the records os3ctl keeps; JSONEncoder's output is the reference, byte for byte.
@Suite struct JSONTextTests {
    static func reference<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Text with everything a console line or a path can hold: quotes, backslashes, slashes,
    /// control characters, DEL, non-ASCII and astral characters.
    static func text(_ rng: inout SplitMix64) -> String {
        let pieces = ["os3: ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{8}", "\u{C}", "\u{1B}[2K", "\u{1F}",
                      "\u{7F}", "é", "✓", "😀", "\u{2028}", "ALL OK", " ", "x", "0.5", "{", "}", "[", ":", ","]
        return (0..<Int(rng.next() % 8)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
    }

    /// Durations and times as os3ctl measures them, plus the forms Swift prints differently
    /// (integers, exponents, negative zero, the extremes).
    static func number(_ rng: inout SplitMix64) -> Double {
        switch rng.next() % 6 {
        case 0: rng.nextDouble() * 0.5
        case 1: Double(rng.next() % 1000)
        case 2: [0, -0.0, 1e-7, 1e-5, 1e-4, 1e16, 1e21, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 123456789.123][Int(rng.next() % 10)]
        case 3: rng.nextDouble() * 1e-6
        case 4: rng.nextDouble() * 1e22
        default: -rng.nextDouble() * 100
        }
    }

    static func record(_ rng: inout SplitMix64) -> RunRecord {
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { rng.next() % 2 == 0 ? value() : nil }
        let kinds = VerdictKind.allCases, evidence = VerdictEvidence.allCases, lifecycles = GuestLifecycle.allCases
        let ends: [ProcessEnd] = [.exited(33), .exited(0), .exited(-1), .signaled(9), .failedToStart(text(&rng))]
        let verdict = Verdict(kind: kinds[Int(rng.next() % UInt64(kinds.count))], detail: text(&rng),
                              missing: (0..<Int(rng.next() % 3)).map { _ in text(&rng) }, forbiddenLine: maybe(text(&rng)),
                              evidence: maybe(evidence[Int(rng.next() % UInt64(evidence.count))]))
        var r = RunRecord(
            lane: text(&rng), laneFile: text(&rng), kernel: text(&rng), argv: (0..<Int(rng.next() % 4)).map { _ in text(&rng) },
            kernelCommandLine: text(&rng), runDirectory: text(&rng), serialLog: text(&rng), startedAt: text(&rng),
            duration: number(&rng), verdict: verdict, end: maybe(ends[Int(rng.next() % UInt64(ends.count))]),
            markers: (0..<Int(rng.next() % 4)).map { _ in
                MarkerHit(id: text(&rng), time: number(&rng), line: Int(rng.next() % 100_000), text: text(&rng))
            },
            requiredCount: Int(rng.next() % 30), consoleBytes: Int(rng.next() % 1 << 40), stopLatency: maybe(number(&rng)),
            backend: maybe(text(&rng)), domain: maybe(text(&rng)),
            lifecycle: maybe(lifecycles[Int(rng.next() % UInt64(lifecycles.count))]))
        // KTAP lanes: results of every status, names with whatever text() makes, a plan or none.
        if rng.next() % 3 == 0 {
            let statuses = ["ok", "not ok", "ok", "not ok"], directives = ["", "", " # SKIP \(text(&rng))", " # TODO"]
            var lines = ["KTAP version 1"]
            if rng.next() % 4 != 0 { lines.append("1..\(rng.next() % 6)") }
            for n in 1...Int(1 + rng.next() % 4) {
                let k = Int(rng.next() % 4)
                lines.append("\(statuses[k]) \(n) \(text(&rng).filter { $0 != "\n" && $0 != "#" })\(directives[k])")
            }
            r.ktap = KTAPReport.parse(lines.joined(separator: "\n"))
        }
        return r
    }

    @Test func aRecordIsWrittenExactlyAsJSONEncoderWritesIt() throws {
        var rng = SplitMix64(seed: 0x0535_0A7C)
        for _ in 0..<1500 {
            let r = Self.record(&rng)
            let ours = r.jsonText.pretty
            #expect(ours == (try Self.reference(r)), "\(ours)")
            #expect(try JSONDecoder().decode(RunRecord.self, from: Data(ours.utf8)) == r)
        }
    }

    @Test func aListOfRecordsIsWrittenExactlyAsJSONEncoderWritesIt() throws {
        var rng = SplitMix64(seed: 7)
        for count in [0, 1, 3] {
            let records = (0..<count).map { _ in Self.record(&rng) }
            #expect(JSONText.array(records.map(\.jsonText)).pretty == (try Self.reference(records)))
        }
    }

    @Test func objectKeysAreSortedByTheirBytesWhateverTheOrderGiven() {
        let text = JSONText.object([("b", .int(1)), ("B", .int(2)), ("a10", .int(3)), ("a9", .int(4))]).pretty
        #expect(text == "{\n  \"B\" : 2,\n  \"a10\" : 3,\n  \"a9\" : 4,\n  \"b\" : 1\n}")
    }

    /// The keys of a JSON object (null values included), and those of its "verdict".
    struct Keys: Decodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        var keys: Set<String>
        var verdict: Set<String>
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            keys = Set(c.allKeys.map(\.stringValue))
            verdict = Set(try c.nestedContainer(keyedBy: Key.self, forKey: Key(stringValue: "verdict")).allKeys.map(\.stringValue))
        }
    }

    static func keys(_ json: String) throws -> Keys { try JSONDecoder().decode(Keys.self, from: Data(json.utf8)) }

    @Test("a record has the same keys whatever the outcome: what does not apply is null, never missing")
    func stableKeys() throws {
        var rng = SplitMix64(seed: 17)
        let expected = try Self.keys(Self.record(&rng).jsonText.pretty).keys
        #expect(expected.isSuperset(of: ["end", "lifecycle", "stopLatency", "recordError", "version", "format"]))
        for _ in 0..<200 {
            let keys = try Self.keys(Self.record(&rng).jsonText.pretty)
            #expect(keys.keys == expected)
            #expect(keys.verdict == ["kind", "detail", "missing", "forbiddenLine", "evidence"])
        }
    }

    @Test("QEMU's end is {\"exit\": n}, {\"signal\": n} or {\"startError\": why}; records of the old form are still read")
    func processEnd() throws {
        #expect(try Self.reference(ProcessEnd.exited(33)) == "{\n  \"exit\" : 33\n}")
        #expect(try Self.reference(ProcessEnd.signaled(9)) == "{\n  \"signal\" : 9\n}")
        #expect(try Self.reference(ProcessEnd.failedToStart("x")) == "{\n  \"startError\" : \"x\"\n}")
        let old = #"[{"exited":{"_0":33}},{"signaled":{"_0":9}},{"failedToStart":{"_0":"gone"}}]"#
        #expect(try JSONDecoder().decode([ProcessEnd].self, from: Data(old.utf8)) == [.exited(33), .signaled(9), .failedToStart("gone")])
    }

    @Test("64-bit seeds are strings (exact in jq and JavaScript) and read back from either form")
    func seeds() throws {
        let slow = #"[{"index":1,"seed":"13679457532755275413","duration":1.5,"verdict":"hang"},{"index":2,"seed":7,"duration":1,"verdict":"pass"}]"#
        let decoded = try JSONDecoder().decode([StressSummary.Slow].self, from: Data(slow.utf8))
        #expect(decoded.map(\.seed) == [13679457532755275413, 7])
        #expect(try Self.reference(decoded[0]).contains("\"seed\" : \"13679457532755275413\""))
    }
}
