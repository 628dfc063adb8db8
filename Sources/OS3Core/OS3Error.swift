/// The one error type of os3ctl. Messages name the input (file and line where there is one)
/// and say what to do next.
public struct OS3Error: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Codable {
        case invalidLane = "invalid-lane"
        case invalidMarkers = "invalid-markers"
        case invalidProject = "invalid-project"
        case notFound = "not-found"
        /// An input file that exists but cannot be used (a directory, unreadable, not UTF-8 where it must be).
        case invalidInput = "invalid-input"
        case buildFailed = "build-failed"
        case toolMissing = "tool-missing"
        case io
        case usage
        case interrupted
    }

    public var code: Code
    public var message: String
    public var file: String?
    public var line: Int?
    public var fix: String?

    public init(_ code: Code, _ message: String, file: String? = nil, line: Int? = nil, fix: String? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.fix = fix
    }

    public var description: String {
        var where_ = ""
        if let file {
            where_ = file
            if let line { where_ += ":\(line)" }
            where_ += ": "
        }
        var text = "\(where_)error: \(message)"
        if let fix { text += "\n  fix: \(fix)" }
        return text
    }
}

/// User input as a message quotes it: at most `limit` Unicode scalars (the rest cut to "…"), and
/// control characters escaped — a 20 MB key or an escape sequence in a lane file must not flood
/// or drive the terminal. Counts scalars, not Characters: one Character can be megabytes long.
public func excerpt(_ text: some StringProtocol, limit: Int = 80) -> String {
    var out = String.UnicodeScalarView()
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit { out.append("…"); break }
        count += 1
        let v = scalar.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) || v == 0x2028 || v == 0x2029 {
            out.append(contentsOf: "\\u{\(String(v, radix: 16, uppercase: true))}".unicodeScalars)
        } else {
            out.append(scalar)
        }
    }
    return String(out)
}
