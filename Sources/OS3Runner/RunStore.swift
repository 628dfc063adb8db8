import FoundationEssentials
import Glibc
import OS3Core

/// The run directories under a state directory's `runs/`: listed from their records, the
/// `latest` link, and removal by the retention rule (docs/RUNS.md).
///
/// A run that is still going has no `result.json` yet; its directory holds `os3ctl.pid` ("PID
/// START", START being the process's start time in clock ticks, /proc/PID/stat field 22, so a
/// recycled pid is not taken for the owner). Nothing without a readable record is ever removed.
public struct RunStore: Sendable {
    public let state: StateDirectory
    public init(state: StateDirectory) { self.state = state }

    public var runsPath: String { "\(state.path)/runs" }
    public static let latestName = "latest"
    public static let ownerFile = "os3ctl.pid"

    /// Every run directory, newest first (none when `runs/` does not exist yet).
    public func entries() throws -> [RunEntry] {
        try names().map(entry(name:)).sorted(by: RunEntry.newestFirst)
    }

    /// The newest `limit` runs that pass `include`, newest first. Records are read newest first
    /// and only as far as needed: a state directory that has piled up thousands of runs is
    /// listed without reading them all.
    public func entries(limit: Int, where include: (RunEntry) -> Bool) throws -> [RunEntry] {
        var found: [RunEntry] = []
        for name in try names() {
            let e = entry(name: name)
            // Directories made in the same second are ordered by their records' start times, so
            // the one second at the limit is read whole.
            if found.count >= limit, e.stamp != found.last?.stamp { break }
            if include(e) { found.append(e) }
        }
        return Array(found.sorted(by: RunEntry.newestFirst).prefix(limit))
    }

    /// The run directories' names, newest second first (`latest`, temporary links and anything
    /// that is not a directory left out).
    func names() throws -> [String] {
        guard let entries = Path.entries(runsPath) else {
            if errno == ENOENT { return [] }
            throw OS3Error(.io, "cannot read \(runsPath): \(String(cString: strerror(errno)))",
                           fix: "check its permissions, or point OS3_STATE_DIR / --state-dir at the right state directory")
        }
        let names = entries.filter { name in
            var st = stat()
            return !name.hasPrefix(".") && name != Self.latestName
                && lstat("\(runsPath)/\(name)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }
        let byStamp = names.map { (RunEntry(name: $0, path: "", status: .incomplete("")).stamp, $0) }
        return byStamp.sorted { $0 > $1 }.map(\.1)
    }

    /// One run directory as its record (or the absence of one) says.
    public func entry(name: String) -> RunEntry {
        let path = "\(runsPath)/\(name)"
        let result = "\(path)/result.json"
        guard let bytes = readIfThere(result) else {
            if let pid = Self.liveOwner(path) { return RunEntry(name: name, path: path, status: .running(pid: pid)) }
            return RunEntry(name: name, path: path, status: .incomplete(
                Path.exists(result) ? "result.json cannot be read" : "no result.json, and no os3ctl is running it (it was stopped, or its record could not be written)"))
        }
        do {
            let record = try JSONDecoder().decode(RunRecord.self, from: Data(bytes))
            return RunEntry(name: name, path: path, status: .recorded(record))
        } catch {
            return RunEntry(name: name, path: path, status: .incomplete("result.json is not a record os3ctl can read"))
        }
    }

    /// The name `latest` points to (nil when there is no link).
    public func latest() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("\(runsPath)/\(Self.latestName)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        buffer[n] = 0
        return String(nulTerminated: buffer)
    }

    /// Points `runs/latest` at `runDirectory` atomically: a relative link made under a temporary
    /// name, then renamed over the old one, so a reader never finds `latest` missing or half made,
    /// and concurrent boots leave it pointing at one of theirs.
    public static func pointLatest(at runDirectory: String) throws {
        let parent = Path.directory(runDirectory)
        let name = runDirectory.split(separator: "/").last.map(String.init) ?? runDirectory
        var temporary = ""
        var made = false
        for attempt in 0..<100 {
            temporary = "\(parent)/.\(latestName).\(getpid()).\(attempt)\(UInt32.random(in: 0...UInt32.max))"
            if symlink(name, temporary) == 0 { made = true; break }
            if errno != EEXIST { break }
        }
        let code = errno
        guard made else {
            throw OS3Error(.io, "cannot update \(parent)/\(latestName): \(String(cString: strerror(code)))",
                           fix: "make \(parent) writable, or point OS3_STATE_DIR / --state-dir at a writable directory")
        }
        guard rename(temporary, "\(parent)/\(latestName)") == 0 else {
            let code = errno
            unlink(temporary)
            throw OS3Error(.io, "cannot update \(parent)/\(latestName): \(String(cString: strerror(code)))",
                           fix: "remove \(parent)/\(latestName) if it is a directory, and check that \(parent) is writable")
        }
    }

    /// What `prune` did: the runs removed (or, dry, that would be), and the ones it could not remove.
    public struct Pruning: Sendable {
        public var removed: [RunEntry] = []
        public var failures: [String] = []
        /// Every run seen, for the summary.
        public var entries: [RunEntry] = []
    }

    /// Removes the runs `RunRetention.toRemove` picks (never what `latest` points to). `dryRun`:
    /// only says which.
    public func prune(keepPasses: Int, dryRun: Bool = false) throws -> Pruning {
        var result = Pruning()
        result.entries = try entries()
        let doomed = RunRetention.toRemove(result.entries, keepPasses: keepPasses, protected: Set([latest()].compactMap { $0 }))
        for entry in doomed {
            if dryRun { result.removed.append(entry); continue }
            do {
                try Self.removeTree(entry.path)
                result.removed.append(entry)
            } catch {
                result.failures.append((error as? OS3Error).map { $0.message + ($0.fix.map { " (fix: \($0))" } ?? "") } ?? "\(error)")
            }
        }
        return result
    }

    /// Removes a directory and everything in it, never following a symbolic link out of it.
    static func removeTree(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw removeError(path, errno) }
        try removeContents(fd, path)
        close(fd)
        guard rmdir(path) == 0 else { throw removeError(path, errno) }
    }

    private static func removeContents(_ fd: Int32, _ path: String) throws {
        guard let entries = Path.entries(ofDescriptor: fd) else { throw removeError(path, errno) }
        var names: [(String, Bool)] = []
        for name in entries {
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            names.append((name, (st.st_mode & S_IFMT) == S_IFDIR))
        }
        for (name, isDirectory) in names {
            if isDirectory {
                let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { throw removeError("\(path)/\(name)", errno) }
                defer { close(sub) }
                try removeContents(sub, "\(path)/\(name)")
            }
            guard unlinkat(fd, name, isDirectory ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT else { throw removeError("\(path)/\(name)", errno) }
        }
    }

    private static func removeError(_ path: String, _ code: Int32) -> OS3Error {
        OS3Error(.io, "cannot remove \(path): \(String(cString: strerror(code)))", fix: "check the permissions of the state directory (\(Path.directory(path)))")
    }

    // MARK: The owner of a run

    /// This process's start time in clock ticks since boot (/proc/self/stat field 22).
    static let selfStartTime: String = startTime(of: "self") ?? "0"

    /// Field 22 of /proc/PID/stat, after the parenthesised command (which may hold spaces).
    static func startTime(of pid: String) -> String? {
        guard let bytes = readIfThere("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (the state); a zombie is as good as gone.
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return String(fields[19])
    }

    /// Writes `os3ctl.pid` in a new run directory (cheap: one small write on a boot's way to QEMU).
    static func markOwner(_ runDirectory: String) {
        let fd = open("\(runDirectory)/\(ownerFile)", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }  // then the run shows as incomplete until its record is written
        _ = try? writeAll(fd, Array("\(getpid()) \(selfStartTime)\n".utf8))
        close(fd)
    }

    /// The pid of the live os3ctl that owns a run directory without a record, or nil.
    static func liveOwner(_ runDirectory: String) -> Int32? {
        guard let bytes = readIfThere("\(runDirectory)/\(ownerFile)") else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, startTime(of: String(pid)) == String(parts[1]) else { return nil }
        return pid
    }
}

/// A file's bytes, or nil when it is missing or cannot be read (the caller says what that means).
private func readIfThere(_ path: String) -> [UInt8]? {
    (try? InputFile.read(path, shown: path, code: .io)) ?? nil
}
