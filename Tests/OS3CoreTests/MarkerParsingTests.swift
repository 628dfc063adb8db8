import Testing
@testable import OS3Core

@Suite("Marker files")
struct MarkerParsingTests {
    static let good = """
    description = "boot"

    [[marker]]
    id = "boot"
    text = "os3: boot ok"

    [[marker]]
    id = "mem"
    regex = 'mem total=\\d+'

    [[forbidden]]
    id = "panic"
    text = "PANIC"

    [[order]]
    sequence = ["boot", "mem"]
    """

    static func error(_ text: String) -> OS3Error? {
        do { _ = try MarkerSet.parse(file: "markers/m.toml", text: text); return nil } catch let e as OS3Error { return e } catch { return nil }
    }

    @Test("literal, regex, forbidden and order entries are read with their lines")
    func parses() throws {
        let set = try MarkerSet.parse(file: "markers/m.toml", text: Self.good)
        #expect(set.required.map(\.id) == ["boot", "mem"])
        #expect(set.required[0].pattern == .literal("os3: boot ok"))
        #expect(set.required[1].pattern == .regex("mem total=\\d+"))
        #expect(set.required[1].line == 8)
        #expect(set.forbidden.map(\.id) == ["panic"])
        #expect(set.orders == [["boot", "mem"]])
    }

    @Test("a regular expression that does not compile is rejected at its line")
    func badRegex() throws {
        let e = try #require(Self.error(Self.good.replacingAll("'mem total=\\d+'", with: "'mem (total'")))
        #expect(e.code == .invalidMarkers)
        #expect(e.line == 9)
        #expect(e.message.contains("invalid regular expression"))
    }

    @Test("a regex construct that cannot run in linear time is refused at its line, saying what, where and the fix",
          arguments: [(#"'os3: (\w+) \k<1>'"#, "unsupported construct `\\k<1>` (backreference) at column 12 of the pattern"),
                      (#"'(?<=os3: )ok'"#, "unsupported construct `(?<=` (lookbehind) at column 1"),
                      (#"'os3: [\d-a]+'"#, "range `\\d-a` needs a single character at each end at column 7")])
    func unsupportedConstruct(_ regex: String, _ message: String) throws {
        let e = try #require(Self.error(Self.good.replacingAll("'mem total=\\d+'", with: regex)))
        #expect(e.code == .invalidMarkers)
        #expect(e.file == "markers/m.toml")
        #expect(e.line == 9)
        #expect(e.message.contains(message), "\(e.message)")
        #expect(e.fix?.contains("docs/FORMATS.md") == true)
        #expect(!e.description.contains("Swift"))
    }

    @Test("5,000 nested brackets or parentheses are a clear error at the marker's line", arguments: ["[", "("])
    func deepNesting(_ open: String) throws {
        let e = try #require(Self.error(Self.good.replacingAll("'mem total=\\d+'", with: "'" + String(repeating: open, count: 5000) + "'")))
        #expect(e.code == .invalidMarkers)
        #expect(e.line == 9)
        #expect(e.message.contains("nested"), "\(e.message)")
        #expect(e.fix != nil)
    }

    @Test("escapes, non-ASCII text, lazy quantifiers and named groups are accepted")
    func extendedSyntax() throws {
        let set = try MarkerSet.parse(file: "markers/m.toml", text: Self.good.replacingAll("'mem total=\\d+'", with: #"'mem\x20total=(?<n>\d+?) \u{41}é'"#))
        #expect(set.required[1].pattern == .regex(#"mem\x20total=(?<n>\d+?) \u{41}é"#))
    }

    @Test("a pattern that matches the empty line is refused: it would match anything")
    func emptyMatchingRegex() throws {
        let e = try #require(Self.error(Self.good.replacingAll("'mem total=\\d+'", with: "'.*'")))
        #expect(e.line == 9)
    }

    @Test("a duplicate id names both places")
    func duplicateID() throws {
        let e = try #require(Self.error(Self.good.replacingAll("id = \"mem\"", with: "id = \"boot\"")))
        #expect(e.line == 8)
        #expect(e.message.contains("first defined at line 4"))
    }

    @Test("a marker with both text and regex is rejected")
    func bothPatterns() throws {
        let e = try #require(Self.error(Self.good.replacingAll("text = \"os3: boot ok\"", with: "text = \"os3: boot ok\"\nregex = 'x'")))
        #expect(e.message.contains("both text and regex"))
    }

    @Test("an order that names an unknown marker is rejected")
    func unknownOrderID() throws {
        let e = try #require(Self.error(Self.good.replacingAll("[\"boot\", \"mem\"]", with: "[\"boot\", \"memory\"]")))
        #expect(e.line == 16)
        #expect(e.message.contains("'memory'"))
    }

    @Test("an unknown key inside a marker entry is rejected at its line")
    func unknownKey() throws {
        let e = try #require(Self.error(Self.good.replacingAll("text = \"PANIC\"", with: "txt = \"PANIC\"")))
        #expect(e.line == 13)
        #expect(e.fix?.contains("did you mean 'text'") == true)
    }

    @Test("a lane's marker files are merged and an id defined in two files is an error")
    func merging() throws {
        let a = try MarkerSet.parse(file: "markers/a.toml", text: "[[marker]]\nid = \"x\"\ntext = \"X\"\n")
        let b = try MarkerSet.parse(file: "markers/b.toml", text: "[[marker]]\nid = \"y\"\ntext = \"Y\"\n")
        #expect(try MarkerSet.merging([a, b]).required.map(\.id) == ["x", "y"])
        #expect(throws: OS3Error.self) { try MarkerSet.merging([a, a]) }
    }

    @Test("a regex nested 40,000 groups or classes deep is refused at its line instead of overflowing the regex parser's stack",
          arguments: ["(", "[", "(?:"])
    func deepRegex(_ open: String) throws {
        let close = open == "[" ? "]" : ")"
        let pattern = String(repeating: open, count: 40_000) + "a" + String(repeating: close, count: 40_000)
        let e = try #require(Self.error("# deep\n[[marker]]\nid = \"x\"\nregex = '\(pattern)'\n"))
        #expect(e.line == 4)
        #expect(e.message.contains("nested 40000 groups deep"), "\(e)")
        // 64 levels are fine; escaped parentheses are not groups.
        let ok = String(repeating: "(", count: 64) + "a" + String(repeating: ")", count: 64) + String(repeating: "\\(", count: 100)
        #expect(throws: Never.self) { try MarkerSet.parse(file: "markers/m.toml", text: "[[marker]]\nid = \"x\"\nregex = '\(ok)'\n") }
    }

    @Test("an order over thousands of markers is checked in linear time")
    func longOrder() throws {
        let n = 20_000
        let markers = (0..<n).map { "[[marker]]\nid = \"m\($0)\"\ntext = \"line \($0)\"\n" }.joined()
        let order = "[[order]]\nsequence = [" + (0..<n).map { "\"m\($0)\"" }.joined(separator: ", ") + "]\n"
        let set = try MarkerSet.parse(file: "markers/m.toml", text: markers + order)
        #expect(set.orders.first?.count == n)
    }

    @Test("a marker built in code is checked as a marker file would be: an invalid regex throws, a valid one and a literal do not")
    func validateInCode() throws {
        #expect(throws: RegexSyntaxError.self) { try Marker(id: "x", pattern: .regex("os3: (unclosed")).validate() }
        #expect(throws: RegexSyntaxError.self) { try Marker(id: "x", pattern: .regex("(a)\\1")).validate() }
        try Marker(id: "x", pattern: .regex("^os3: (\\w+\\s?)+$")).validate()
        try Marker(id: "x", pattern: .literal("(unclosed")).validate()
    }
}
