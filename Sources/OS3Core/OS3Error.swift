/// The one error type of os3ctl. Messages name the input (file and line where there is one)
/// and say what to do next.
public struct OS3Error: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Codable {
        case invalidLane = "invalid-lane"
        case invalidMarkers = "invalid-markers"
        case notFound = "not-found"
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
