/// One directory of the state directory's `runs/`, as `os3ctl runs` lists it and `runs prune`
/// decides on it. What it says comes from the run's `result.json` only: a directory without a
/// readable record is "running" or "incomplete", never given a verdict (docs/RUNS.md).
public struct RunEntry: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        /// Its `result.json` was read.
        case recorded(RunRecord)
        /// No record yet, and the os3ctl that made it (its `os3ctl.pid`) is alive on this machine.
        case running(pid: Int32)
        /// No readable record and no live owner (os3ctl was killed, the record could not be written
        /// or read): why.
        case incomplete(String)
    }

    /// The directory's name, e.g. `20261206-070650-kvm-Ab12Cd`.
    public var name: String
    public var path: String
    public var status: Status

    public init(name: String, path: String, status: Status) {
        self.name = name
        self.path = path
        self.status = status
    }

    public var record: RunRecord? {
        if case .recorded(let r) = status { return r }
        return nil
    }

    /// The UTC second the directory was made, from its name ("20261206-070650"), or "".
    public var stamp: String {
        let parts = name.split(separator: "-", maxSplits: 2)
        guard parts.count == 3, parts[0].count == 8, parts[1].count == 6, (parts[0] + parts[1]).allSatisfy(\.isASCIIDigit) else { return "" }
        return "\(parts[0])-\(parts[1])"
    }

    /// The lane: the record's, else the label in the name (`STAMP-LANE-XXXXXX`).
    public var lane: String {
        if let r = record { return r.lane }
        guard !stamp.isEmpty, name.count > stamp.count + 8 else { return "?" }
        return String(name.dropFirst(stamp.count + 1).dropLast(7))
    }

    /// When the run started: the record's ISO 8601 time, else the name's second.
    public var startedAt: String {
        if let r = record, !r.startedAt.isEmpty { return r.startedAt }
        guard !stamp.isEmpty else { return "" }
        let s = Array(stamp)
        return "\(String(s[0..<4]))-\(String(s[4..<6]))-\(String(s[6..<8]))T\(String(s[9..<11])):\(String(s[11..<13])):\(String(s[13..<15]))Z"
    }

    /// "pass", "missing-markers", …, "running" or "incomplete".
    public var state: String {
        switch status {
        case .recorded(let r): r.verdict.kind.rawValue
        case .running: "running"
        case .incomplete: "incomplete"
        }
    }

    public var passed: Bool { record?.verdict.kind == .pass }

    /// A record whose verdict is a failure (neither pass nor skipped).
    public var failed: Bool {
        guard let kind = record?.verdict.kind else { return false }
        return kind != .pass && kind != .skipped
    }

    /// Newest first: by the second in the name, then the record's start time, then the name.
    public static func newestFirst(_ a: RunEntry, _ b: RunEntry) -> Bool {
        (a.stamp, a.record?.startedAt ?? "", a.name) > (b.stamp, b.record?.startedAt ?? "", b.name)
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// The retention rule of `runs prune` and of `[runs] keep-passes` (docs/RUNS.md).
public enum RunRetention {
    /// The runs to remove from `entries` (sorted newest first): of each lane, the passes older
    /// than its newest `keepPasses`, and likewise its skips (a skip proves nothing either way).
    /// Never a failure, a running or incomplete run, or one named in `protected` (what `latest`
    /// points to): only a readable record's pass or skip can be removed.
    public static func toRemove(_ entries: [RunEntry], keepPasses: Int, protected: Set<String> = []) -> [RunEntry] {
        var kept: [String: Int] = [:]
        var remove: [RunEntry] = []
        for entry in entries {
            guard let kind = entry.record?.verdict.kind, kind == .pass || kind == .skipped else { continue }
            let key = "\(kind.rawValue)/\(entry.lane)"
            let n = kept[key, default: 0]
            if n < keepPasses || protected.contains(entry.name) {
                kept[key] = n + 1
            } else {
                remove.append(entry)
            }
        }
        return remove
    }
}

/// `os3ctl runs` as text and JSON.
public enum RunListing {
    /// One row per run: started, lane, verdict, time, directory (the directory last: it is long).
    public static func table(_ entries: [RunEntry]) -> String {
        let header = ["STARTED", "LANE", "VERDICT", "TIME", "DIRECTORY"]
        let rows = entries.map { e -> [String] in
            let started = e.startedAt.isEmpty ? "?" : String(e.startedAt.prefix(19)).replacingT()
            let time = e.record.map { Reports.seconds($0.duration) } ?? "-"
            var verdict = e.state
            if case .running(let pid) = e.status { verdict += " (pid \(pid))" }
            return [started, e.lane, verdict, time, e.path]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i]) }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// `runs --json` (docs/JSON.md, `os3ctl-runs`): every key always present.
    public static func json(_ entries: [RunEntry], stateDirectory: String) -> JSONText {
        let runs: [JSONText] = entries.map { e in
            var pid: JSONText = .null
            var detail = ""
            switch e.status {
            case .recorded(let r): detail = r.verdict.detail
            case .running(let p): pid = .int(Int(p)); detail = "no result.json yet; os3ctl (pid \(p)) is still running it"
            case .incomplete(let why): detail = why
            }
            return .object([
                ("name", .string(e.name)), ("directory", .string(e.path)), ("lane", .string(e.lane)),
                ("state", .string(e.state)), ("startedAt", .string(e.startedAt)),
                ("duration", e.record.map { .double($0.duration) } ?? .null), ("detail", .string(detail)), ("pid", pid),
                ("record", e.record?.jsonText ?? .null),
            ])
        }
        return .object([("format", .string(JSONContract.runsFormat)), ("version", .int(JSONContract.version)), ("stateDirectory", .string(stateDirectory)),
                        ("runs", .array(runs))])
    }
}

private extension String {
    func replacingT() -> String { String(map { $0 == "T" ? " " : $0 }) }
    func padding(toLength n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
