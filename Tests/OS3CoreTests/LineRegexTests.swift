import Foundation
import Testing
@testable import OS3Core

/// LineRegex answers for Swift Regex on the common subset of its syntax (see LineRegex). These
/// compare the two on generated patterns and lines, so the subset can only ever be a shortcut.
@Suite("Marker regexes: the fast subset agrees with Swift Regex")
struct LineRegexTests {
    private static func fast(_ pattern: String, _ line: String) -> Bool? {
        guard let regex = LineRegex(pattern) else { return nil }
        return Array(line.utf8).withUnsafeBufferPointer { regex.matches($0) }
    }

    private static func swift(_ pattern: String, _ line: String) throws -> Bool {
        try Regex(pattern).firstMatch(in: line) != nil
    }

    /// A random pattern from a grammar that mixes the subset with constructs outside it.
    private static func pattern(_ random: inout SplitMix64, depth: Int = 0) -> String {
        func pick(_ xs: [String]) -> String { xs[Int(random.next() % UInt64(xs.count))] }
        let atoms = ["a", "b", "0", "1", " ", "=", "-", ":", "x", ".", #"\d"#, #"\w"#, #"\s"#, #"\D"#, #"\W"#, #"\S"#,
                     #"\."#, #"\-"#, #"\/"#, #"\*"#, #"\("#, #"\["#, #"\]"#, #"\{"#, #"\|"#, #"\\"#, #"\^"#, #"\$"#, #"\?"#, #"\+"#,
                     "[ab]", "[^a]", "[a-c]", "[0-9a-f]", #"[\d-]"#, "[-a]", "[a-]", #"[a\]]"#, #"[^\s]"#, "[.*+?$^(){}|]", #"[\w=]"#]
        // Outside the subset (left to Swift Regex, which may accept or reject them): now and then.
        let odd = ["[]a]", "[a&&b]", "[[a]]", "[z-a]", #"\b"#, #"\x41"#, "(?i)a", "{", "}", "]", ")", "é", #"[\D]"#, "[a--b]"]
        let quantifiers = ["", "", "", "", "*", "+", "?", "{2}", "{1,3}", "{2,}", "{0,1}"]
        let oddQuantifiers = ["*?", "+?", "{3,1}", "{,2}", "**", "{1,2}+"]
        var items: [String] = []
        for _ in 0..<(1 + Int(random.next() % 4)) {
            var atom: String
            switch random.next() % 10 {
            case 0 where depth < 2: atom = "(" + pattern(&random, depth: depth + 1) + ")"
            case 1 where depth < 2: atom = "(?:" + pattern(&random, depth: depth + 1) + ")"
            case 2: atom = pick(["^", "$"])
            case 3 where random.next() % 4 == 0: atom = pick(odd)
            default: atom = pick(atoms)
            }
            items.append(atom + (random.next() % 30 == 0 ? pick(oddQuantifiers) : pick(quantifiers)))
        }
        var result = items.joined()
        if random.next() % 5 == 0 { result += "|" + pattern(&random, depth: depth + 1) }
        if random.next() % 4 == 0 { result = "^" + result }
        if random.next() % 4 == 0 { result += "$" }
        return result
    }

    private static func line(_ random: inout SplitMix64) -> String {
        let alphabet = Array("ab0129 -=x:.*/]\\(\t[{|^$?+c_A")
        return String((0..<Int(random.next() % 10)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    @Test("on generated patterns and lines, every pattern the subset takes is valid Swift Regex and matches the same lines")
    func generatedAgree() throws {
        var random = SplitMix64(seed: 0x11E_4E6E)
        var (taken, matched, unmatched) = (0, 0, 0)
        for _ in 0..<2500 {
            let pattern = Self.pattern(&random)
            guard LineRegex(pattern) != nil else { continue }
            taken += 1
            let regex = try #require(try? Regex(pattern), "the subset took \(pattern), which Swift Regex rejects")
            for _ in 0..<25 {
                let line = Self.line(&random)
                let expected = (try? regex.firstMatch(in: line)) != nil
                let answer = Self.fast(pattern, line)
                #expect(answer == expected, "/\(pattern)/ on \"\(line)\"")
                if expected { matched += 1 } else { unmatched += 1 }
            }
            #expect(Self.fast(pattern, "") == ((try? regex.wholeMatch(in: "")) != nil), "/\(pattern)/ on the empty line")
        }
        // The generator has to exercise both outcomes, or this compares nothing.
        #expect(taken > 1000 && matched > 4000 && unmatched > 4000, "taken \(taken), matched \(matched), unmatched \(unmatched)")
    }

    @Test("every regex in the shipped marker files runs on the fast subset")
    func shippedMarkersAreInTheSubset() throws {
        let markers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../markers").standardized
        var count = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: markers.path) where file.hasSuffix(".toml") {
            let text = try String(contentsOf: markers.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("regex = '") {
                let pattern = String(line.dropFirst("regex = '".count).dropLast())
                #expect(LineRegex(pattern) != nil, "\(file): /\(pattern)/ would need Swift Regex's slow parser")
                count += 1
            }
        }
        #expect(count >= 20)
    }

    @Test("a marker's regex answers lines that are not plain ASCII through Swift Regex")
    func nonASCIILinesGoToSwiftRegex() throws {
        #expect(Self.fast("^a.b$", "aéb") == nil)
        let regex = try MarkerRegex("^a.b$")
        for (line, expected) in [("aéb", true), ("axb", true), ("aééb", false), ("a\u{1}b", true)] {
            let bytes = Array(line.utf8)
            #expect(bytes.withUnsafeBufferPointer { regex.matches($0) { line } } == expected, "\(line)")
        }
    }

    @Test("patterns outside the subset are left to Swift Regex, with its own error for a bad one",
          arguments: ["(?i)boot", #"\bok\b"#, "a*?", "[a&&b]", "a{,3}", "", "(a|)", "é+"])
    func outsideTheSubset(_ pattern: String) {
        #expect(LineRegex(pattern) == nil)
    }

    @Test("a bad pattern is still rejected with Swift Regex's message")
    func badPatternRejected() {
        #expect(throws: (any Error).self) { try MarkerRegex("os3: (unclosed") }
    }
}
