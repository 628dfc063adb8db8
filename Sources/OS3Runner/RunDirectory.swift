import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core

/// Where os3ctl keeps its state: `$OS3_STATE_DIR`, else `$XDG_STATE_HOME/os3ctl`, else
/// `~/.local/state/os3ctl`. Each run gets a private directory (mode 0700) under `runs/`.
public struct StateDirectory: Sendable {
    public let path: String

    /// From the process environment (or `environment`, for tests).
    public init(environment: [String: String]? = nil) {
        let value = { (name: String) in environment.map { $0[name] } ?? environmentValue(name) }
        if let explicit = value("OS3_STATE_DIR"), !explicit.isEmpty {
            path = explicit
        } else if let xdg = value("XDG_STATE_HOME"), !xdg.isEmpty {
            path = "\(xdg)/os3ctl"
        } else {
            path = "\(value("HOME") ?? Path.temporaryDirectory)/.local/state/os3ctl"
        }
    }

    public init(path: String) { self.path = path }

    /// Creates a fresh run directory, unique even across concurrent os3ctl processes (mkdtemp).
    /// It holds `os3ctl.pid` from the start, so that `os3ctl runs` can tell a run still going from
    /// one whose os3ctl died before writing its record (RunStore).
    public func makeRunDirectory(label: String) throws -> String {
        let dir = try makeDirectory(in: "runs", label: label)
        RunStore.markOwner(dir)
        return dir
    }

    private func makeDirectory(in parent: String, label: String) throws -> String {
        let runs = "\(path)/\(parent)"
        var made = [CChar](repeating: 0, count: 4096)
        var r = os3_make_stamped_directory(runs, label, &made, UInt(made.count))
        if r == -ENOENT {
            // A first run: the state directory itself is missing (the usual case pays one mkdir).
            // mkdir -p, reporting the first component that cannot be made.
            var prefix = runs.hasPrefix("/") ? "" : "."
            for part in runs.split(separator: "/") {
                prefix += "/\(part)"
                guard mkdir(prefix, 0o700) == 0 || errno == EEXIST else {
                    throw OS3Error(.io, "cannot create the state directory \(prefix): \(String(cString: strerror(errno)))",
                                   fix: "check permissions, or set OS3_STATE_DIR (or --state-dir) to a writable directory")
                }
            }
            r = os3_make_stamped_directory(runs, label, &made, UInt(made.count))
        }
        guard r == 0 else {
            throw OS3Error(.io, "cannot create a run directory under \(runs): \(String(cString: strerror(-r)))",
                           fix: "check permissions, or set OS3_STATE_DIR to a writable directory")
        }
        return String(nulTerminated: made)
    }

    /// A private directory for one multi-run experiment (stress), under `experiments/`.
    public func makeExperimentDirectory(label: String) throws -> String {
        try makeDirectory(in: "experiments", label: label)
    }

}

/// Writes a record (result.json, argv.txt, a stamp), owner-only, atomically (see `writeAtomically`).
func writeFile(_ path: String, _ contents: String) throws {
    try writeAtomically(path, contents, mode: 0o600)
}

/// The one way os3ctl writes a record or report: into a temporary file in the same directory,
/// fsync'd, then renamed over `path` — a reader sees the old file or the whole new one, never a
/// truncated one (a full disk used to leave result.json at 0 bytes). Any failure (no space, a
/// directory gone or read-only, a file size limit) removes the temporary file and throws an
/// `.io` error naming the path and the cause; callers report it loudly and keep their verdict.
/// `mode` is filtered by the umask, as open(2) does.
public func writeAtomically(_ path: String, _ contents: String, mode: mode_t = 0o644) throws {
    let directory = Path.directory(path).isEmpty ? "." : Path.directory(path)
    let base = path.split(separator: "/").last.map(String.init) ?? path
    var temporary = ""
    var fd: Int32 = -1
    for attempt in 0..<100 {
        temporary = "\(directory)/.\(base).\(getpid()).\(attempt)\(UInt32.random(in: 0...UInt32.max)).tmp"
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else { throw writeError(path, errno) }
    var failure: Int32 = 0
    let bytes = Array(contents.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { failure = n < 0 ? errno : ENOSPC; break }
        offset += n
    }
    if failure == 0 && fsync(fd) != 0 { failure = errno }
    if close(fd) != 0 && failure == 0 { failure = errno }
    if failure == 0 && rename(temporary, path) != 0 { failure = errno }
    if failure != 0 {
        unlink(temporary)
        throw writeError(path, failure)
    }
}

/// The error for a record that could not be written, with what to do about it.
private func writeError(_ path: String, _ code: Int32) -> OS3Error {
    let directory = Path.directory(path).isEmpty ? "." : Path.directory(path)
    let fix: String = switch code {
    case ENOSPC, EDQUOT: "free space on the file system holding \(directory) (or point OS3_STATE_DIR / --state-dir elsewhere)"
    case ENOENT: "the directory \(directory) does not exist (any more): create it, and do not delete run directories while os3ctl runs"
    case EACCES, EPERM, EROFS: "make \(directory) writable, or point OS3_STATE_DIR / --state-dir at a writable directory"
    case EFBIG: "raise the file size limit (ulimit -f)"
    case EMFILE, ENFILE: "raise the open file limit (ulimit -n) or boot fewer lanes at once (--jobs)"
    default: "check \(directory)"
    }
    return OS3Error(.io, "cannot write \(path): \(String(cString: strerror(code)))", fix: fix)
}

/// Writes every byte (retrying short writes and EINTR).
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw OS3Error(.io, "write failed: \(String(cString: strerror(errno)))")
        }
        offset += n
    }
}

public func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try writeAll(fd, $0) }
}

/// ISO 8601 timestamps for records.
public let iso8601 = UTCTimestamp()

/// UTC timestamps formatted with the C library: Foundation's date formatters load ICU, which
/// costs milliseconds at every os3ctl start.
public struct UTCTimestamp: Sendable {
    /// "2026-11-21T17:46:45.123Z"
    public func string(from date: Date) -> String {
        let (tm, ms) = Self.broken(date)
        return "\(Self.pad(tm.tm_year + 1900, 4))-\(Self.pad(tm.tm_mon + 1))-\(Self.pad(tm.tm_mday))T\(Self.pad(tm.tm_hour)):\(Self.pad(tm.tm_min)):\(Self.pad(tm.tm_sec)).\(Self.pad(ms, 3))Z"
    }

    /// Zero-padded decimal.
    fileprivate static func pad(_ value: Int32, _ width: Int = 2) -> String { String(value).leftPadded(to: width, with: "0") }

    private static func broken(_ date: Date) -> (tm, Int32) {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var result = tm()
        gmtime_r(&seconds, &result)
        return (result, Int32(min(999, max(0, (t - t.rounded(.down)) * 1000))))
    }
}

/// Records are written by `JSONText` (the same bytes, without JSONEncoder's cost on a boot's
/// critical path); everything else through JSONEncoder.
public func encodeJSON(_ record: RunRecord) -> String { record.jsonText.pretty }
public func encodeJSON(_ records: [RunRecord]) -> String { JSONText.array(records.map(\.jsonText)).pretty }

public func encodeJSON<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
}
