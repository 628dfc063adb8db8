import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// The files a command writes besides its run directories (`--junit`, `--report`, the stress
/// experiment's files) and the records it could not write. Output paths are checked before any
/// boot, so a typo costs nothing measured; every file is written atomically (`writeAtomically`);
/// a write that fails anyway is reported loudly and exits 5 — it never changes a verdict, and
/// whatever was measured is still printed and every other file still written.
enum Outputs {
    /// A clear exit-2 error, before any boot, when `path` (given with `option`) cannot be written:
    /// its directory is missing, not a directory or not writable, or the path is a directory.
    static func check(_ path: String?, option: String) throws {
        guard let path else { return }
        let full = absolutePath(path)
        let directory = Path.directory(full)
        var st = stat()
        if stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw OS3Error(.usage, "\(option) \(path): \(full) is a directory, not a file",
                           fix: "give a file name, e.g. \(option) \(Path.standardize(full + "/report.xml"))")
        }
        guard stat(directory, &st) == 0 else {
            throw OS3Error(.usage, "\(option) \(path): the directory \(directory) does not exist",
                           fix: "create it first (mkdir -p \(directory)) or give a path in an existing directory")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw OS3Error(.usage, "\(option) \(path): \(directory) is not a directory", fix: "give a path in an existing directory")
        }
        guard access(directory, W_OK) == 0 else {
            throw OS3Error(.usage, "\(option) \(path): the directory \(directory) is not writable (\(String(cString: strerror(errno))))",
                           fix: "give a path in a writable directory, or make \(directory) writable")
        }
    }

    /// Writes `contents` to `path` atomically; a failure is added to `failures` instead of thrown,
    /// so the files after it are still written and the results still printed.
    static func write(_ path: String, _ contents: String, failures: inout [String]) {
        do { try writeAtomically(path, contents) } catch { failures.append(describe(error)) }
    }

    /// Prints every failed write (records whose result.json could not be written, and `failures`)
    /// on stderr; true if there was any — the command then exits 5 after printing its verdicts.
    static func reportFailures(_ command: String, records: [RunRecord], failures: [String]) -> Bool {
        var all = failures
        for r in records { if let e = r.recordError { all.append("the record of \(r.lane) (its result.json): \(e)") } }
        for message in all {
            printErr("\(command): ERROR: could not write \(message)")
        }
        if !all.isEmpty {
            printErr("\(command): \(all.count) file(s) could not be written; the verdict(s) above stand, but are not all on disk (exit 5)")
        }
        return !all.isEmpty
    }

    /// An error as one line with its fix.
    static func describe(_ error: any Error) -> String {
        guard let e = error as? OS3Error else { return "\(error)" }
        return e.message + (e.fix.map { " (fix: \($0))" } ?? "")
    }
}

/// os3ctl's exit status for files it could not write (OS3Error `.io`).
let ioErrorExit: Int32 = 5
