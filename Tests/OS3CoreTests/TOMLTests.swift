import Foundation
import Testing
@testable import OS3Core

/// os3ctl's own TOML 1.0 parser (Sources/OS3Core/TOML.swift): the examples of the TOML 1.0
/// specification that apply, and the mistakes it must reject at the right line.
@Suite("TOML parser")
struct TOMLTests {
    private func parse(_ text: String) throws -> TOMLTable { try TOMLTable.parse(text) }

    private func failure(_ text: String) -> TOMLError? {
        do { _ = try TOMLTable.parse(text); return nil } catch { return error }
    }

    @Test("keys: bare, quoted, dotted, and the line each was written on")
    func keys() throws {
        let t = try parse("""
            # comment
            key = "value"
            bare_key-1 = 1
            "127.0.0.1" = "quoted"
            'literal key' = 2
            "" = "empty"
            site."google.com" = true
            fruit . color = "yellow"
            """)
        #expect(t.keys == ["key", "bare_key-1", "127.0.0.1", "literal key", "", "site", "fruit"])
        #expect(t["key"]?.string == "value")
        #expect(t["127.0.0.1"]?.string == "quoted")
        #expect(t["site"]?.table?["google.com"]?.bool == true)
        #expect(t["fruit"]?.table?["color"]?.string == "yellow")
        #expect(t.line(of: "key") == 2)
        #expect(t.line(of: "fruit") == 8)
    }

    @Test("basic strings decode every escape; literal strings keep backslashes")
    func strings() throws {
        let t = try parse(#"""
            a = "tab\tquote\"back\\nl\nuni\u00E9\U0001F600"
            b = 'C:\Users\nodejs\templates'
            c = '<\i\c*\s*>'
            d = "#not a comment" # but this is
            """#)
        #expect(t["a"]?.string == "tab\tquote\"back\\nl\nunié😀")
        #expect(t["b"]?.string == #"C:\Users\nodejs\templates"#)
        #expect(t["c"]?.string == #"<\i\c*\s*>"#)
        #expect(t["d"]?.string == "#not a comment")
    }

    @Test("multi-line strings: first newline trimmed, line-ending backslash, quotes before the close")
    func multilineStrings() throws {
        let t = try parse(#"""
            a = """
            Roses are red
            Violets are blue"""
            b = """\
                   The quick brown \
                   fox."""
            c = """Here are two quotation marks: "". Simple enough."""
            d = """Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"."""
            e = """"This," she said, "is just a pointless statement.""""
            f = '''
            The first newline is
            trimmed in raw strings.
               All other whitespace
               is preserved.
            '''
            g = ''''That,' she said, 'is still pointless.''''
            h = 1
            """#)
        #expect(t["a"]?.string == "Roses are red\nViolets are blue")
        #expect(t["b"]?.string == "The quick brown fox.")
        #expect(t["c"]?.string == #"Here are two quotation marks: "". Simple enough."#)
        #expect(t["d"]?.string == "Here are fifteen quotation marks: \(String(repeating: "\"", count: 15)).")
        #expect(t["e"]?.string == #""This," she said, "is just a pointless statement.""#)
        #expect(t["f"]?.string == "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n")
        #expect(t["g"]?.string == "'That,' she said, 'is still pointless.'")
        #expect(t.line(of: "h") == 17)
    }

    @Test("integers in every base, with underscores, up to the 64-bit limits")
    func integers() throws {
        let t = try parse("""
            a = +99
            b = 42
            c = 0
            d = -17
            e = 1_000
            f = 5_349_221
            g = 0xDEADBEEF
            h = 0xdead_beef
            i = 0o755
            j = 0b11010110
            k = 9223372036854775807
            l = -9223372036854775808
            m = -0
            """)
        let want: [String: Int] = ["a": 99, "b": 42, "c": 0, "d": -17, "e": 1000, "f": 5_349_221, "g": 0xDEADBEEF,
                                   "h": 0xDEADBEEF, "i": 0o755, "j": 0b11010110, "k": Int.max, "l": Int.min, "m": 0]
        for (key, value) in want { #expect(t[key]?.int == value, "\(key)") }
    }

    @Test("floats: fractions, exponents, underscores, inf and nan")
    func floats() throws {
        let t = try parse("""
            a = +1.0
            b = 3.1415
            c = -0.01
            d = 5e+22
            e = 1e06
            f = -2E-2
            g = 6.626e-34
            h = 224_617.445_991_228
            i = inf
            j = -inf
            k = nan
            l = 2.5
            """)
        #expect(t["a"]?.double == 1.0)
        #expect(t["b"]?.double == 3.1415)
        #expect(t["c"]?.double == -0.01)
        #expect(t["d"]?.double == 5e22)
        #expect(t["e"]?.double == 1e6)
        #expect(t["f"]?.double == -0.02)
        #expect(t["g"]?.double == 6.626e-34)
        #expect(t["h"]?.double == 224617.445991228)
        #expect(t["i"]?.double == .infinity)
        #expect(t["j"]?.double == -.infinity)
        #expect(t["k"]?.double?.isNaN == true)
        #expect(t["l"]?.int == nil, "a float is not an integer")
    }

    @Test("booleans and dates are bare values; dates are kept as written")
    func booleansAndDates() throws {
        let t = try parse("""
            yes = true
            no = false
            odt1 = 1979-05-27T07:32:00Z
            odt2 = 1979-05-27T00:32:00-07:00
            odt3 = 1979-05-27T00:32:00.999999-07:00
            odt4 = 1979-05-27 07:32:00Z
            ldt = 1979-05-27T07:32:00
            ld = 1979-05-27
            lt = 00:32:00.999999
            leap = 2024-02-29
            """)
        #expect(t["yes"]?.bool == true)
        #expect(t["no"]?.bool == false)
        #expect(t["odt4"] == .datetime("1979-05-27 07:32:00Z"))
        #expect(t["lt"] == .datetime("00:32:00.999999"))
        for key in ["odt1", "odt2", "odt3", "ldt", "ld", "leap"] { #expect(t[key]?.table == nil && t[key] != nil, "\(key)") }
    }

    @Test("arrays span lines, hold comments and a trailing comma, and may mix types")
    func arrays() throws {
        let t = try parse("""
            integers = [ 1, 2, 3 ]
            nested = [ [ 1, 2 ], ["a", 'b'] ]
            mixed = [ 0.1, "x", { a = 1 } ]
            multi = [
              "one", # the first
              "two",
            ]
            empty = []
            after = 1
            """)
        #expect(t["integers"] == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(t["nested"]?.array?[1] == .array([.string("a"), .string("b")]))
        #expect(t["mixed"]?.array?[2].table?["a"]?.int == 1)
        #expect(t["multi"] == .array([.string("one"), .string("two")]))
        #expect(t["empty"] == .array([]))
        #expect(t.line(of: "after") == 9)
    }

    @Test("tables: headers, implicit super-tables, dotted sub-tables, inline tables")
    func tables() throws {
        let t = try parse("""
            [x.y.z.w]
            a = 1
            [x]
            b = 2
            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]
            smooth = true
            [ dog . "tater.man" ]
            type.name = "pug"
            [points]
            p = { x = 1, y = 2, z.w = 3 }
            """)
        #expect(t["x"]?.table?["y"]?.table?["z"]?.table?["w"]?.table?["a"]?.int == 1)
        #expect(t["x"]?.table?["b"]?.int == 2)
        #expect(t["x"]?.table?.line == 3, "the line of an implicit table becomes its header's once defined")
        let apple = t["fruit"]?.table?["apple"]?.table
        #expect(apple?["taste"]?.table?["sweet"]?.bool == true)
        #expect(apple?["texture"]?.table?["smooth"]?.bool == true)
        #expect(t["dog"]?.table?["tater.man"]?.table?["type"]?.table?["name"]?.string == "pug")
        #expect(t["points"]?.table?["p"]?.table?["z"]?.table?["w"]?.int == 3)
        #expect(t["fruit"]?.table?.line == 5)
    }

    @Test("arrays of tables: each [[header]] appends one table, with its own line; sub-tables go to the last")
    func arraysOfTables() throws {
        let t = try parse("""
            [[marker]]
            id = "a"

            [[marker]]
            id = "b"
            [marker.detail]
            x = 1

            [[fruits.varieties]]
            name = "red delicious"
            """)
        let markers = try #require(t["marker"]?.array)
        #expect(markers.count == 2)
        #expect(markers[0].table?.line == 1)
        #expect(markers[1].table?.line == 4)
        #expect(markers[1].table?.line(of: "id") == 5)
        #expect(markers[1].table?["detail"]?.table?["x"]?.int == 1)
        #expect(t["fruits"]?.table?["varieties"]?.array?.first?.table?["name"]?.string == "red delicious")
    }

    @Test("CRLF line ends and a byte order mark are accepted")
    func lineEnds() throws {
        let t = try parse("\u{FEFF}a = 1\r\nb = \"\"\"\r\nx\r\ny\"\"\"\r\n# c\r\nc = 3\r\n")
        #expect(t["a"]?.int == 1)
        #expect(t["b"]?.string == "x\ny")
        #expect(t.line(of: "c") == 6)
    }

    @Test("each mistake is rejected at the line it is on, with a message that names it",
          arguments: [
            ("a = 1\nb = \n", 2, "expected a value"),
            ("a = 1\na = 2\n", 2, "defined more than once"),
            ("[t]\n[t]\n", 2, "defined more than once"),
            ("[fruit]\napple.color = 1\n[fruit.apple]\n", 3, "defined more than once"),
            ("[a.b]\n[a]\nb.c = 1\n", 3, "already defined elsewhere"),
            ("a = {b = 1}\na.c = 2\n", 2, "already defined elsewhere"),
            ("a = {b = 1}\n[a.c]\n", 2, "cannot have sub-tables"),
            ("a = [1]\n[[a]]\n", 2, "array of tables"),
            ("[[a]]\n[a]\n", 2, "defined more than once"),
            ("a = \"open\nb = 1\n", 1, "not closed"),
            ("a = 'open\n", 1, "not closed"),
            ("a = \"\"\"never closed\n\n", 1, "not closed"),
            ("a = \"bad \\q\"\n", 1, "unknown escape"),
            ("a = \"\\uD800\"\n", 1, "Unicode scalar"),
            ("a = [1, 2\nb = 3\n", 2, "expected ',' or ']'"),
            ("a = {x = 1,}\n", 1, "trailing comma"),
            ("a = {x = 1\n}\n", 1, "one line"),
            ("a = 1 b = 2\n", 1, "end of the line"),
            ("a = 01\n", 1, "not a valid value"),
            ("a = 1__000\n", 1, "not a valid value"),
            ("a = 1.\n", 1, "not a valid value"),
            ("x = 1\na = [\n  1,\n", 2, "this array is not closed"),
            ("a = .5\n", 1, "not a valid value"),
            ("a = +0x10\n", 1, "not a valid value"),
            ("a = 9223372036854775808\n", 1, "64 bits"),
            ("a = 1979-02-30\n", 1, "not a valid value"),
            ("a = 25:00:00\n", 1, "not a valid value"),
            ("a = True\n", 1, "not a valid value"),
            ("a = bare\n", 1, "strings need quotes"),
            ("\n\n= 1\n", 3, "expected a key"),
            ("a.\"\"\"b\"\"\" = 1\n", 1, "multi-line"),
            ("[a\n", 1, "']'"),
            ("[[a]\n", 1, "']]'"),
            ("a = \"x\u{01}y\"\n", 1, "control character"),
          ])
    func rejects(text: String, line: Int, message: String) {
        let error = failure(text)
        #expect(error?.line == line, "\(text.debugDescription): \(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(text.debugDescription): \(String(describing: error))")
    }

    @Test("invalid UTF-8 is rejected rather than guessed at, at its line and column")
    func invalidUTF8() {
        let bytes = Array("a = 1\nb = \"".utf8) + [0xFF, 0xFE] + Array("\"\n".utf8)
        #expect(throws: TOMLError(line: 2, message: "not valid UTF-8 (byte 0xFF at column 6)", fix: UTF8Problem.fix)) { try TOMLTable.parse(bytes: bytes) }
        #expect(throws: Never.self) { try TOMLTable.parse(bytes: Array("a = \"é\"\n".utf8)) }
    }

    @Test("a bad UTF-8 byte's column counts characters, not bytes, and its line counts newlines",
          arguments: [
              // Latin-1 é after UTF-8 ones: column 8 ('d = "éé' is 7 characters, 9 bytes), line 3.
              (Array("a = 1\n\nd = \"éé".utf8) + [0xE9, 0x22, 0x0A], 3, 8, 0xE9 as UInt8),
              ([0xC0, 0x80], 1, 1, 0xC0),                       // an overlong NUL
              (Array("x".utf8) + [0xED, 0xA0, 0x80], 1, 2, 0xED), // a surrogate
              ([0x0A, 0xF4, 0x90, 0x80, 0x80], 2, 1, 0xF4),       // above U+10FFFF
              (Array("ab".utf8) + [0xE2, 0x82], 1, 3, 0xE2),      // cut off at the end
              (Array("ab".utf8) + [0x80], 1, 3, 0x80),            // a lone continuation byte
          ])
    func utf8Positions(bytes: [UInt8], line: Int, column: Int, byte: UInt8) throws {
        let problem = try #require(UTF8Problem.find(in: bytes))
        #expect(problem.line == line)
        #expect(problem.column == column)
        #expect(problem.byte == byte)
    }

    @Test("the UTF-8 check agrees with the standard library's on random bytes")
    func utf8AgreesWithStandardLibrary() {
        var random = SplitMix64(seed: 0x0DF8)
        var invalid = 0
        for _ in 0..<20_000 {
            // Mostly plausible bytes (ASCII, lead and continuation bytes) so both outcomes occur.
            let count = Int(random.next() % 12)
            let alphabet: [UInt8] = [0x41, 0x0A, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
            let bytes = (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let ours = UTF8Problem.find(in: bytes)
            if ours != nil { invalid += 1 }
            #expect((ours == nil) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
            // Everything before the reported byte is valid.
            if let ours { #expect(String(validating: bytes[..<ours.offset], as: UTF8.self) != nil, "\(bytes)") }
        }
        #expect(invalid > 1000 && invalid < 19_000, "the generator must produce both: \(invalid) invalid")
    }

    /// `open` + the innermost value + `close`, `n` levels of `open`.
    private static func nested(_ n: Int, _ form: String) -> String {
        switch form {
        case "array": "a = " + String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n) + "\n"
        case "inline": "b = " + String(repeating: "{b = ", count: n) + "1" + String(repeating: "}", count: n) + "\n"
        case "dotted": Array(repeating: "a", count: n).joined(separator: ".") + " = 1\n"
        case "header": "x = 1\n[" + Array(repeating: "a", count: n).joined(separator: ".") + "]\n"
        default: "[" + Array(repeating: "a", count: n - 1).joined(separator: ".") + "]\nb = 1\n"  // "header-key"
        }
    }

    @Test("values nested 40,000 deep are an error at their line, not a stack overflow",
          arguments: ["array", "inline", "dotted", "header", "header-key"])
    func deepNesting(form: String) {
        let error = failure("# deep\n" + Self.nested(40_000, form))
        let line = form == "header" ? 3 : 2  // after "# deep" (and "x = 1")
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message.contains("nest more than 64 levels") == true, "\(String(describing: error))")
        #expect(error?.fix != nil)
    }

    @Test("exactly 64 levels are allowed, 65 are not, whichever way they are written",
          arguments: [("array", 63), ("inline", 63), ("dotted", 64), ("header", 64), ("header-key", 64)])
    func nestingLimit(form: String, deepest: Int) throws {
        #expect(TOMLTable.maxDepth == 64)
        #expect(throws: Never.self, "\(form) at \(deepest)") { try TOMLTable.parse(Self.nested(deepest, form)) }
        #expect(failure(Self.nested(deepest + 1, form))?.message.contains("nest more than") == true, "\(form) at \(deepest + 1)")
    }

    @Test("nesting counts across headers, dotted keys, arrays and inline tables together")
    func nestingAddsUp() throws {
        let header = "[" + Array(repeating: "h", count: 30).joined(separator: ".") + "]\n"
        let dotted = Array(repeating: "d", count: 30).joined(separator: ".")
        // The array is at depth 60, the inline table 61, x 62, and each bracket one more.
        #expect(throws: Never.self) { try TOMLTable.parse(header + dotted + " = [{x = [[1]]}]\n") }   // 64
        #expect(failure(header + dotted + " = [{x = [[[1]]]}]\n")?.message.contains("nest more than") == true)  // 65
    }

    @Test("a user's text in an error is cut to 80 characters, control characters escaped")
    func errorsQuoteBriefly() throws {
        let e = try #require(failure("a = " + String(repeating: "z", count: 100_000) + "\n"))
        #expect(e.message.contains(String(repeating: "z", count: 80) + "…'"))
        #expect(e.message.count < 200)
        #expect(excerpt("a\u{1B}[2Jb\nc") == "a\\u{1B}[2Jb\\u{A}c")
        #expect(excerpt(String(repeating: "é", count: 81)) == String(repeating: "é", count: 80) + "…")
        #expect(excerpt(String(repeating: "é", count: 80)) == String(repeating: "é", count: 80))
        // One Character of a million scalars (combining marks) is cut like any other text.
        let grapheme = "e" + String(repeating: "\u{301}", count: 1_000_000)
        #expect(excerpt(grapheme).unicodeScalars.count == 81)
    }

    /// Multi-megabyte inputs of every shape: each must simply finish. A quadratic parser (or
    /// error path) takes minutes on these, and the test run's own time limit fails it.
    @Test("multi-megabyte keys, strings, arrays, comments and many keys or tables parse in linear time")
    func linearTime() throws {
        let mb = 1 << 20
        let longKey = String(repeating: "k", count: 2 * mb)
        #expect(try parse(longKey + " = 1\n")[longKey]?.int == 1)
        let quotedKey = "\"" + String(repeating: "q", count: 2 * mb) + "\" = 1\n"
        #expect(try parse(quotedKey).keys.first?.utf8.count == 2 * mb)
        let string = String(repeating: "s", count: 2 * mb)
        #expect(try parse("a = \"\(string)\"\nb = '\(string)'\n")["b"]?.string?.utf8.count == 2 * mb)
        #expect(try parse("a = \"\"\"\n\(String(repeating: "line\n", count: mb / 2))\"\"\"\n")["a"]?.string?.utf8.count == 5 * mb / 2)
        let array = "a = [" + String(repeating: "1,", count: mb / 2) + "]\n"
        #expect(try parse(array)["a"]?.array?.count == mb / 2)
        let keys = (0..<100_000).map { "key\($0) = \($0)\n" }.joined()
        #expect(try parse(keys).keys.count == 100_000)
        let tables = String(repeating: "[[marker]]\nid = 1\n", count: 100_000)
        #expect(try parse(tables)["marker"]?.array?.count == 100_000)
        let comment = "# " + String(repeating: "c", count: 2 * mb) + "\na = 1\n"
        #expect(try parse(comment)["a"]?.int == 1)
        let number = "a = 1" + String(repeating: "0", count: 2 * mb) + "\n"
        #expect(failure(number)?.message.contains("longer than any number") == true)
        #expect(failure(number)!.message.count < 300)
        #expect(UTF8Problem.find(in: Array(String(repeating: "é", count: 2 * mb).utf8) + [0xFF])?.column == 2 * mb + 1)
    }

    @Test("every lane and marker file in the repository parses")
    func repositoryFiles() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        for dir in ["lanes", "markers"] {
            let path = "/\(root)/\(dir)"
            let names = try FileManager.default.contentsOfDirectory(atPath: path)
            #expect(names.contains { $0.hasSuffix(".toml") })
            for name in names where name.hasSuffix(".toml") {
                let text = try String(contentsOfFile: "\(path)/\(name)", encoding: .utf8)
                #expect(throws: Never.self, "\(dir)/\(name)") { _ = try TOMLTable.parse(text) }
            }
        }
    }
}
