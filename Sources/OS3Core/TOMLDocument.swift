/// A parsed TOML file (see `TOMLTable.parse`): every key and table header knows its line, so a
/// bad value is reported where it was written.
struct TOMLDocument {
    let file: String
    let table: TOMLTable

    init(file: String, text: String, code: OS3Error.Code) throws {
        try self.init(file: file, bytes: Array(text.utf8), code: code)
    }

    /// The file as read: its bytes, checked to be UTF-8 (a bad byte is reported at its line and column).
    init(file: String, bytes: [UInt8], code: OS3Error.Code) throws {
        self.file = file
        if let bad = UTF8Problem.find(in: bytes) {
            throw OS3Error(code, bad.message, file: file, line: bad.line, fix: UTF8Problem.fix)
        }
        do {
            table = try TOMLTable.parse(bytes: bytes)
        } catch {
            throw OS3Error(code, "not valid TOML: \(error.message)", file: file, line: error.line,
                           fix: error.fix ?? "correct the TOML syntax at that line (see docs/FORMATS.md)")
        }
    }
}

/// Typed access to one TOML table with errors that carry file, line and a fix.
struct TOMLReader {
    let document: TOMLDocument
    let table: TOMLTable
    let section: String   // "" for the top level, "marker#2" for the third [[marker]]
    let code: OS3Error.Code
    let allowedKeys: [String]

    func fail(_ key: String?, _ message: String, fix: String? = nil) -> OS3Error {
        let line = key.flatMap { table.line(of: $0) } ?? table.line
        return OS3Error(code, message, file: document.file, line: line, fix: fix)
    }

    func checkUnknownKeys() throws {
        // The first unknown key in file order (one pass: the file may hold a million keys).
        guard let key = table.keys.first(where: { !allowedKeys.contains($0) }) else { return }
        let near = Suggestions.closest(to: key, among: allowedKeys, maxDistance: 3).map { "did you mean '\($0)'? " } ?? ""
        throw fail(key, "unknown key '\(excerpt(key))'\(section.isEmpty ? "" : " in [\(sectionName)]")",
                   fix: "\(near)allowed keys: \(allowedKeys.joined(separator: ", "))")
    }

    var sectionName: String {
        if let hash = section.lastIndex(of: "#") { return String(section[..<hash]) }
        return section
    }

    func string(_ key: String, required: Bool = true, default value: String = "") throws -> String {
        guard let node = table[key] else {
            if required { throw fail(nil, "missing required key '\(key)'\(section.isEmpty ? "" : " in [\(sectionName)]")", fix: "add `\(key) = \"...\"`") }
            return value
        }
        guard let s = node.string else { throw fail(key, "'\(key)' must be a string", fix: "quote the value: `\(key) = \"...\"`") }
        return s
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let node = table[key] else { return value }
        guard let b = node.bool else { throw fail(key, "'\(key)' must be true or false", fix: "write `\(key) = true` or `\(key) = false` (no quotes)") }
        return b
    }

    func optionalString(_ key: String) throws -> String? {
        guard table[key] != nil else { return nil }
        return try string(key)
    }

    func int(_ key: String, required: Bool = true, default value: Int = 0, range: ClosedRange<Int>) throws -> Int {
        guard let node = table[key] else {
            if required { throw fail(nil, "missing required key '\(key)'\(section.isEmpty ? "" : " in [\(sectionName)]")", fix: "add `\(key) = <integer>`") }
            return value
        }
        guard let i = node.int else { throw fail(key, "'\(key)' must be an integer", fix: "write a whole number without quotes") }
        guard range.contains(i) else { throw fail(key, "'\(key)' = \(i) is out of range", fix: "use a value from \(range.lowerBound) to \(range.upperBound)") }
        return i
    }

    func seconds(_ key: String, range: ClosedRange<Double>) throws -> Double {
        guard let node = table[key] else {
            throw fail(nil, "missing required key '\(key)'\(section.isEmpty ? "" : " in [\(sectionName)]")", fix: "add `\(key) = <seconds>`")
        }
        let value: Double
        if let i = node.int { value = Double(i) } else if let d = node.double { value = d } else {
            throw fail(key, "'\(key)' must be a number of seconds", fix: "write e.g. `\(key) = 10` or `\(key) = 2.5`")
        }
        // TOML has nan and inf (and 1e400 is inf): neither is a timeout.
        guard value.isFinite else {
            throw fail(key, "'\(key)' = \(value) is not a finite number of seconds", fix: "use \(range.lowerBound)...\(range.upperBound) seconds")
        }
        guard range.contains(value) else { throw fail(key, "'\(key)' = \(value) s is out of range", fix: "use \(range.lowerBound)...\(range.upperBound) seconds") }
        return value
    }

    func strings(_ key: String, required: Bool = true) throws -> [String] {
        guard let node = table[key] else {
            if required { throw fail(nil, "missing required key '\(key)'", fix: "add `\(key) = [\"...\"]`") }
            return []
        }
        guard let array = node.array else { throw fail(key, "'\(key)' must be an array of strings", fix: "write `\(key) = [\"a\", \"b\"]`") }
        return try array.map { element in
            guard let s = element.string else { throw fail(key, "'\(key)' must contain only strings", fix: "quote every element") }
            return s
        }
    }

    func subtable(_ key: String, allowed: [String]) throws -> TOMLReader? {
        guard let node = table[key] else { return nil }
        guard let t = node.table else { throw fail(key, "'\(key)' must be a table", fix: "write it as a [\(key)] section") }
        return TOMLReader(document: document, table: t, section: key, code: code, allowedKeys: allowed)
    }

    func tableArray(_ key: String, allowed: [String]) throws -> [TOMLReader] {
        guard let node = table[key] else { return [] }
        guard let array = node.array else { throw fail(key, "'\(key)' must be written as [[\(key)]] sections", fix: nil) }
        return try array.enumerated().map { index, element in
            guard let t = element.table else { throw fail(key, "'\(key)' must be written as [[\(key)]] sections", fix: nil) }
            return TOMLReader(document: document, table: t, section: "\(key)#\(index)", code: code, allowedKeys: allowed)
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
