import Foundation
import Testing
@testable import OS3Core

/// MarkerRegex is the only engine for marker regexes: it decides validity when the pattern is
/// parsed and matches any line (UTF-8 or not) in time linear in the line. On the syntax it shares
/// with Swift Regex and on ASCII lines the two must agree (Swift Regex is used here only, as a
/// reference).
@Suite("Marker regexes: one linear-time engine")
struct LineRegexTests {
    private static func matches(_ pattern: String, _ line: [UInt8]) throws -> Bool {
        let regex = try MarkerRegex(pattern)
        return line.withUnsafeBufferPointer { regex.matches($0) }
    }

    private static func matches(_ pattern: String, _ line: String) throws -> Bool { try matches(pattern, Array(line.utf8)) }

    private static func refusal(_ pattern: String) -> RegexSyntaxError? {
        do { _ = try MarkerRegex(pattern); return nil } catch { return error }
    }

    /// A random pattern of the syntax both engines accept with the same meaning on ASCII lines
    /// (everything but `\b`, whose Swift meaning is Unicode word segmentation).
    private static func commonPattern(_ random: inout SplitMix64, names: inout Int, depth: Int = 0) -> String {
        func pick(_ xs: [String]) -> String { xs[Int(random.next() % UInt64(xs.count))] }
        let atoms = ["a", "b", "0", "1", " ", "=", "-", ":", "x", ".", #"\d"#, #"\w"#, #"\s"#, #"\D"#, #"\W"#, #"\S"#,
                     #"\."#, #"\-"#, #"\/"#, #"\*"#, #"\("#, #"\["#, #"\]"#, #"\{"#, #"\|"#, #"\\"#, #"\^"#, #"\$"#, #"\?"#, #"\+"#,
                     #"\x20"#, #"\x61"#, #"\x{3D}"#, #"\u{62}"#, #"\u0030"#, #"\t"#,
                     "[ab]", "[^a]", "[a-c]", "[0-9a-f]", #"[\d-]"#, "[-a]", "[a-]", #"[a\]]"#, #"[^\s]"#, "[.*+?$^(){}|]", #"[\w=]"#,
                     #"[\x61-\x63]"#, #"[\t ]"#, #"[^\W\d]"#]
        let quantifiers = ["", "", "", "", "*", "+", "?", "{2}", "{1,3}", "{2,}", "{0,1}", "*?", "+?", "??", "{1,2}?"]
        var items: [String] = []
        for _ in 0..<(1 + Int(random.next() % 4)) {
            var atom: String
            var quantifiable = true
            switch random.next() % 10 {
            case 0 where depth < 2: atom = "(" + commonPattern(&random, names: &names, depth: depth + 1) + ")"
            case 1 where depth < 2: atom = "(?:" + commonPattern(&random, names: &names, depth: depth + 1) + ")"
            case 2 where depth < 2:
                names += 1
                atom = "(?<n\(names)>" + commonPattern(&random, names: &names, depth: depth + 1) + ")"
            case 3: atom = pick(["^", "$"]); quantifiable = false
            default: atom = pick(atoms)
            }
            items.append(atom + (quantifiable ? pick(quantifiers) : ""))
        }
        var result = items.joined()
        if random.next() % 5 == 0 { result += "|" + commonPattern(&random, names: &names, depth: depth + 1) }
        if random.next() % 4 == 0 { result = "^" + result }
        if random.next() % 4 == 0 { result += "$" }
        return result
    }

    private static func asciiLine(_ random: inout SplitMix64) -> String {
        let alphabet = Array("ab0129 -=x:.*/]\\(\t[{|^$?+c_A")
        return String((0..<Int(random.next() % 10)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    @Test("2,500 generated patterns of the common syntax x 25 ASCII lines (62,500 cases): Swift Regex accepts each and finds the same lines")
    func agreesWithSwiftRegex() throws {
        var random = SplitMix64(seed: 0x11E_4E6E)
        var names = 0
        var (matched, unmatched) = (0, 0)
        for _ in 0..<2500 {
            let pattern = Self.commonPattern(&random, names: &names)
            let ours = try #require(try? MarkerRegex(pattern), "refused /\(pattern)/: \(Self.refusal(pattern).map(String.init(describing:)) ?? "")")
            let swift = try #require(try? Regex(pattern), "Swift Regex rejects /\(pattern)/")
            for _ in 0..<25 {
                let line = Self.asciiLine(&random)
                let expected = (try? swift.firstMatch(in: line)) != nil
                #expect(Array(line.utf8).withUnsafeBufferPointer { ours.matches($0) } == expected, "/\(pattern)/ on \"\(line)\"")
                if expected { matched += 1 } else { unmatched += 1 }
            }
            #expect(ours.matchesEmptyLine == ((try? swift.wholeMatch(in: "")) != nil), "/\(pattern)/ on the empty line")
        }
        // The generator has to exercise both outcomes, or this compares nothing.
        #expect(matched > 10000 && unmatched > 10000, "matched \(matched), unmatched \(unmatched)")
    }

    /// Patterns from a wider grammar, with constructs that must be refused mixed in.
    private static func anyPattern(_ random: inout SplitMix64, depth: Int = 0) -> String {
        func pick(_ xs: [String]) -> String { xs[Int(random.next() % UInt64(xs.count))] }
        let atoms = ["a", "é", "ü", ".", #"\w"#, #"\W"#, #"\s"#, "[^a]", "[ab]", #"\b"#, #"\x41"#, #"\u{E9}"#, "[à-ÿ]", "^", "$"]
        let odd = [#"[\d-a]"#, #"[\s-a]"#, "[]a]", "[a&&b]", "[[a]]", "[z-a]", "(?i)a", "{", "}", "]", ")", #"\1"#, #"\k<n>"#,
                   "(?=a)", #"\p{L}"#, "[a--b]"]
        let quantifiers = ["", "", "*", "+", "?", "{2}", "*?"]
        let oddQuantifiers = ["*+", "{3,1}", "{,2}", "**", "{1,2}+"]
        var items: [String] = []
        for _ in 0..<(1 + Int(random.next() % 4)) {
            let atom = random.next() % 6 == 0 && depth < 2 ? "(" + anyPattern(&random, depth: depth + 1) + ")"
                : random.next() % 12 == 0 ? pick(odd) : pick(atoms)
            items.append(atom + (random.next() % 12 == 0 ? pick(oddQuantifiers) : pick(quantifiers)))
        }
        return items.joined() + (random.next() % 5 == 0 ? "|" + anyPattern(&random, depth: depth + 1) : "")
    }

    @Test("any pattern is either refused with a column and a fix, or matches UTF-8, non-ASCII and invalid lines (3,000 patterns)")
    func acceptedPatternsMatchAnyLine() throws {
        var random = SplitMix64(seed: 7)
        let lines: [[UInt8]] = [Array("aéb üa x".utf8), [0x61, 0xFF, 0x62], [0xC3], Array("ééé".utf8) + [0xE2, 0x82], Array("a\u{0}\u{1F600}".utf8)]
        var (accepted, refused) = (0, 0)
        for _ in 0..<3000 {
            let pattern = Self.anyPattern(&random)
            do {
                let regex = try MarkerRegex(pattern)
                accepted += 1
                for line in lines {
                    // Answers are checked elsewhere; here: every line gets one, none traps.
                    _ = line.withUnsafeBufferPointer { regex.matches($0) }
                }
            } catch {
                refused += 1
                #expect(error.column >= 1 && error.column <= pattern.unicodeScalars.count, "/\(pattern)/: \(error)")
                #expect(!error.fix.isEmpty)
            }
        }
        #expect(accepted > 1000 && refused > 500, "accepted \(accepted), refused \(refused)")
    }

    @Test("patterns that LineRegex took but Swift Regex rejected (which crashed os3ctl on a non-ASCII line) are refused",
          arguments: [#"os3: [\d-a]+"#, #"x[\s-a]"#])
    func formerlyCrashingPatterns(_ pattern: String) throws {
        let error = try #require(Self.refusal(pattern))
        #expect(error.reason.contains("needs a single character at each end"), "\(error)")
    }

    @Test("a catastrophic-backtracking marker on a long non-ASCII line returns, with the right answer")
    func noCatastrophicBacktracking() throws {
        let pattern = #"^os3: (\w+\s?)+$"#
        let long = "os3: " + String(repeating: "abcdefghij ", count: 3000) + "é!"
        #expect(try Self.matches(pattern, long) == false)
        #expect(try Self.matches(pattern, "os3: " + String(repeating: "abcdefghij ", count: 3000)) == true)
        #expect(try Self.matches(#"^(a|a)*b$"#, String(repeating: "a", count: 40_000) + "é") == false)
        #expect(try Self.matches(#"(a*)*b"#, String(repeating: "a", count: 40_000)) == false)
        #expect(try Self.matches(#"(a*)*b"#, String(repeating: "a", count: 40_000) + "b") == true)
    }

    @Test("escapes name characters: \\x20, \\x{41}, \\u{41}, \\u0041, \\t, \\e, escaped punctuation")
    func escapes() throws {
        #expect(try Self.matches(#"os3:\x20ok"#, "os3: ok"))
        #expect(try !Self.matches(#"os3:\x20ok"#, "os3:_ok"))
        #expect(try Self.matches(#"^\u{41}\x{42}\u0043$"#, "ABC"))
        #expect(try Self.matches(#"caf\u{E9}"#, "café"))
        #expect(try Self.matches(#"\u{1F600}"#, "ok 😀"))
        #expect(try Self.matches(#"a\tb"#, "a\tb"))
        #expect(try Self.matches(#"\e\[0m"#, "\u{1B}[0m"))
        #expect(try Self.matches(##"^\#\"\<\>$"##, "#\"<>"))
    }

    @Test("a character is one Unicode scalar; an invalid byte is one character only . and negated sets match")
    func charactersAndInvalidBytes() throws {
        #expect(try Self.matches("^a.b$", "aéb"))
        #expect(try !Self.matches("^a.b$", "aééb"))
        #expect(try Self.matches("^é+ ü$", "ééé ü"))
        #expect(try Self.matches("^[à-ÿ]{3}$", "éüà"))
        #expect(try Self.matches(#"^a\Wb$"#, "aéb"))  // \w is ASCII
        #expect(try !Self.matches(#"^a\wb$"#, "aéb"))
        let invalid: [UInt8] = [0x61, 0xFF, 0x62]
        #expect(try Self.matches("^a.b$", invalid))
        #expect(try Self.matches("^a[^x]b$", invalid))
        #expect(try Self.matches(#"^a\Sb$"#, invalid))
        #expect(try !Self.matches(#"^a[\x00-\u{10FFFF}]b$"#, invalid))
        #expect(try !Self.matches("^a..b$", invalid))
        // A truncated sequence is one invalid character per byte; the valid character after it counts.
        #expect(try Self.matches("^a..é$", [0x61, 0xE2, 0x82] + Array("é".utf8)))
        #expect(try Self.matches(#"^\u{20AC}$"#, [0xE2, 0x82, 0xAC]))
        #expect(try !Self.matches(#"\u{20AC}"#, [0xE2, 0x82, 0x61]))
    }

    @Test("\\b and \\B are ASCII word boundaries; \\A and \\z the line's ends")
    func boundaries() throws {
        #expect(try Self.matches(#"\bok\b"#, "ok"))
        #expect(try Self.matches(#"\bok\b"#, "is ok."))
        #expect(try !Self.matches(#"\bok\b"#, "took"))
        #expect(try !Self.matches(#"\bok\b"#, "ok_1"))
        #expect(try Self.matches(#"\bok\b"#, "éoké"))
        #expect(try Self.matches(#"\Bok"#, "took"))
        #expect(try !Self.matches(#"\Bok"#, "ok"))
        #expect(try Self.matches(#"\Aos3\z"#, "os3"))
        #expect(try !Self.matches(#"\Aos3\z"#, " os3"))
    }

    @Test("lazy quantifiers and named groups are accepted and find the same lines as their plain forms",
          arguments: [("a.*?b", "a.*b"), ("x+?y", "x+y"), ("ab??c", "ab?c"), ("(?<n>ab)+c", "(ab)+c"), ("(?'n'ab)c", "(?:ab)c"), ("(?P<n>a)b", "(a)b")])
    func lazyAndNamed(_ pattern: String, _ plain: String) throws {
        for line in ["", "ac", "abc", "xxxy", "aXbc", "ababc", "abbc"] {
            #expect(try Self.matches(pattern, line) == Self.matches(plain, line), "/\(pattern)/ on \(line)")
        }
    }

    @Test("what cannot run in linear time, or is not supported, is refused with what, where and a fix",
          arguments: [
              (#"os3: \k<name>"#, "unsupported construct `\\k<name>` (backreference)", 6),
              (#"(a)\1"#, "(backreference)", 4),
              ("(?=a)b", "(lookahead)", 1), ("a(?!b)", "(lookahead)", 2),
              ("(?<=a)b", "(lookbehind)", 1), ("(?<!a)b", "(lookbehind)", 1),
              ("a*+", "(possessive quantifier)", 2), ("(?>a)", "(atomic group)", 1),
              ("(?i)panic", "(inline options)", 1), (#"\p{L}"#, "(Unicode property)", 1),
              ("[[:alpha:]]", "(nested class or POSIX class)", 2), ("[a&&b]", "(class set operation)", 3),
              ("a{,3}", "does not start a count", 2), ("a{3,1}", "maximum below its minimum", 2),
              ("a{101}", "more than 100", 3), ("a**", "quantifier follows a quantifier", 3),
              (#"\q"#, "unsupported construct `\\q` (escape)", 1), ("[]", "`]` at the start of a class", 2),
              ("ab(c", "missing `)`", 3), ("a)", "unmatched `)`", 2), ("a\\", "at the end of the pattern", 2),
              (#"\x4"#, "bad escape", 1), (#"\u{D800}"#, "not a Unicode scalar", 1), ("[z-a]", "out of order", 2),
              ("*a", "nothing to repeat", 1), ("^*", "cannot be repeated", 2),
          ])
    func refused(_ pattern: String, _ reason: String, _ column: Int) throws {
        let error = try #require(Self.refusal(pattern), "/\(pattern)/ was accepted")
        #expect(error.reason.contains(reason), "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(!error.fix.isEmpty)
    }

    @Test("5,000 nested brackets or parentheses are refused, not a stack overflow", arguments: ["[", "(", "(?:"])
    func deepNesting(_ open: String) throws {
        let pattern = String(repeating: open, count: 5000) + "a"
        let error = try #require(Self.refusal(pattern))
        #expect(error.reason.contains("nested"), "\(error)")
        // 100 levels are fine.
        #expect(try Self.matches(String(repeating: "(", count: 100) + "a" + String(repeating: ")", count: 100), "a"))
    }

    @Test("a pattern whose counts expand past the program limit is refused")
    func programTooLarge() throws {
        let error = try #require(Self.refusal("((a{100}){100}){100}"))
        #expect(error.reason.contains("too large"))
        #expect(try Self.matches("x[0-9a-f]{100}", "x" + String(repeating: "f", count: 100)))
    }

    @Test("every regex in the shipped marker files compiles")
    func shippedMarkersCompile() throws {
        let markers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../markers").standardized
        var count = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: markers.path) where file.hasSuffix(".toml") {
            let text = try String(contentsOf: markers.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("regex = '") {
                let pattern = String(line.dropFirst("regex = '".count).dropLast())
                #expect(Self.refusal(pattern) == nil, "\(file): /\(pattern)/: \(Self.refusal(pattern).map(String.init(describing:)) ?? "")")
                count += 1
            }
        }
        #expect(count >= 20)
    }
}
