/// One milestone a boot must print (or, if forbidden, must never print).
public struct Marker: Sendable, Equatable, Codable, Hashable {
    public enum Pattern: Sendable, Equatable, Codable, Hashable {
        /// Matches a line containing this text.
        case literal(String)
        /// Matches a line in which this regular expression finds a match (docs/FORMATS.md: marker regexes).
        case regex(String)
    }

    public var id: String
    public var pattern: Pattern
    public var file: String
    public var line: Int

    public init(id: String, pattern: Pattern, file: String = "", line: Int = 0) {
        self.id = id
        self.pattern = pattern
        self.file = file
        self.line = line
    }

    /// Throws when the pattern is a regex os3ctl's engine refuses: what marker files are checked
    /// for when parsed, for markers built in code (the matcher stops on an unvalidated one).
    public func validate() throws {
        if case .regex(let r) = pattern { _ = try RegexCache.shared.regex(r) }
    }

    public var patternText: String {
        switch pattern {
        case .literal(let s): return s
        case .regex(let s): return "/\(s)/"
        }
    }
}

/// The markers a lane requires: required milestones, forbidden lines, and order constraints
/// (each sequence lists marker ids whose first appearances must come in that order).
public struct MarkerSet: Sendable, Equatable, Codable {
    public var required: [Marker]
    public var forbidden: [Marker]
    public var orders: [[String]]

    public init(required: [Marker] = [], forbidden: [Marker] = [], orders: [[String]] = []) {
        self.required = required
        self.forbidden = forbidden
        self.orders = orders
    }

    static let fileKeys = ["description", "marker", "forbidden", "order"]
    static let markerKeys = ["id", "text", "regex"]
    static let orderKeys = ["sequence"]

    /// Parses one marker file. Errors name the file and line of the offending entry.
    public static func parse(file: String, text: String) throws -> MarkerSet {
        try parse(file: file, bytes: Array(text.utf8))
    }

    /// Parses a marker file as read from disk (bytes that must be UTF-8).
    public static func parse(file: String, bytes: [UInt8]) throws -> MarkerSet {
        let doc = try TOMLDocument(file: file, bytes: bytes, code: .invalidMarkers)
        let root = TOMLReader(document: doc, table: doc.table, section: "", code: .invalidMarkers, allowedKeys: fileKeys)
        try root.checkUnknownKeys()
        var set = MarkerSet()
        var ids: [String: Int] = [:]
        for (kind, key) in [(false, "marker"), (true, "forbidden")] {
            for entry in try root.tableArray(key, allowed: markerKeys) {
                try entry.checkUnknownKeys()
                let id = try entry.string("id")
                guard Lane.isValidName(id) else {
                    throw entry.fail("id", "marker id '\(excerpt(id))' is not allowed", fix: "use letters, digits, '-' and '_'")
                }
                let line = entry.table.line(of: "id") ?? entry.table.line ?? 0
                if let first = ids[id] {
                    throw entry.fail("id", "duplicate marker id '\(excerpt(id))' (first defined at line \(first))", fix: "give every marker its own id")
                }
                ids[id] = line
                let text = try entry.optionalString("text")
                let regex = try entry.optionalString("regex")
                let pattern: Marker.Pattern
                switch (text, regex) {
                case (let t?, nil):
                    guard !t.isEmpty else { throw entry.fail("text", "marker '\(excerpt(id))' has empty text, which would match every line", fix: "write the text the kernel prints") }
                    guard !t.contains("\n") else { throw entry.fail("text", "marker '\(excerpt(id))' spans lines; markers match within one console line", fix: "split it into two markers and order them with [[order]]") }
                    pattern = .literal(t)
                case (nil, let r?):
                    // Regex parsers recurse per group: 40,000 '(' overflowed the stack before any error.
                    if let depth = Self.nestingBeyondLimit(r) {
                        throw entry.fail("regex", "marker '\(excerpt(id))' has a regular expression nested \(depth) groups deep (at most \(TOMLTable.maxDepth))",
                                         fix: "simplify the pattern: a console line needs a few groups at most")
                    }
                    let compiled: MarkerRegex
                    do throws(RegexSyntaxError) {
                        compiled = try RegexCache.shared.regex(r)
                    } catch {
                        throw entry.fail("regex", "marker '\(excerpt(id))' has an invalid regular expression: \(error.reason) at column \(error.column) of the pattern",
                                         fix: "\(error.fix) (marker regex syntax: docs/FORMATS.md; use single quotes in TOML so backslashes stay literal)")
                    }
                    if compiled.matchesEmptyLine {
                        throw entry.fail("regex", "marker '\(excerpt(id))' matches the empty line, so it would match every line", fix: "make the pattern require some text")
                    }
                    pattern = .regex(r)
                case (.some, .some):
                    throw entry.fail("regex", "marker '\(excerpt(id))' has both text and regex", fix: "keep exactly one of `text` (literal) or `regex`")
                case (nil, nil):
                    throw entry.fail(nil, "marker '\(excerpt(id))' has neither text nor regex", fix: "add `text = \"...\"` or `regex = '...'`")
                }
                let marker = Marker(id: id, pattern: pattern, file: file, line: line)
                if kind { set.forbidden.append(marker) } else { set.required.append(marker) }
            }
        }
        let requiredIDs = Set(set.required.map(\.id))  // a set: a sequence may name thousands of ids
        for entry in try root.tableArray("order", allowed: orderKeys) {
            try entry.checkUnknownKeys()
            let sequence = try entry.strings("sequence")
            guard sequence.count >= 2 else { throw entry.fail("sequence", "an order sequence needs at least two marker ids", fix: "list the ids in the order they must first appear") }
            for id in sequence where !requiredIDs.contains(id) {
                throw entry.fail("sequence", "order refers to '\(excerpt(id))', which is not a required marker in this file",
                                 fix: "use ids of [[marker]] entries defined in this file")
            }
            guard Set(sequence).count == sequence.count else { throw entry.fail("sequence", "an order sequence lists the same id twice", fix: "list each id once") }
            set.orders.append(sequence)
        }
        guard !set.required.isEmpty || !set.forbidden.isEmpty else {
            throw OS3Error(.invalidMarkers, "marker file defines no markers", file: file, line: 1, fix: "add [[marker]] entries with an id and text or regex")
        }
        return set
    }

    /// How deep `pattern` nests groups and classes, if deeper than `TOMLTable.maxDepth`. Counts
    /// unescaped '(' and '[' (a literal one inside a class counts too: harmlessly strict).
    static func nestingBeyondLimit(_ pattern: String) -> Int? {
        var depth = 0, deepest = 0, escaped = false
        for b in pattern.utf8 {
            if escaped { escaped = false; continue }
            switch b {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "("), UInt8(ascii: "["): depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: ")"), UInt8(ascii: "]"): depth = max(0, depth - 1)
            default: break
            }
        }
        return deepest > TOMLTable.maxDepth ? deepest : nil
    }

    /// Combines the marker files of a lane; an id defined twice across files is an error.
    public static func merging(_ sets: [MarkerSet]) throws -> MarkerSet {
        var merged = MarkerSet()
        var seen: [String: Marker] = [:]
        for set in sets {
            for m in set.required + set.forbidden {
                if let prior = seen[m.id] {
                    throw OS3Error(.invalidMarkers, "marker id '\(excerpt(m.id))' is defined twice (also at \(prior.file):\(prior.line))",
                                   file: m.file, line: m.line, fix: "rename one of them: a lane's marker ids must be unique")
                }
                seen[m.id] = m
            }
            merged.required += set.required
            merged.forbidden += set.forbidden
            merged.orders += set.orders
        }
        return merged
    }
}
