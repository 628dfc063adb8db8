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
    /// A clear exit-5 error (the output cannot be written), before any boot, when `path` (given with `option`) cannot be written:
    /// its directory is missing, not a directory or not writable, or the path is a directory.
    static func check(_ path: String?, option: String) throws {
        guard let path else { return }
        let full = absolutePath(path)
        let directory = Path.directory(full)
        var st = stat()
        if stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw OS3Error(.io, "\(option) \(path): \(full) is a directory, not a file",
                           fix: "give a file name, e.g. \(option) \(Path.standardize(full + "/report.xml"))")
        }
        guard stat(directory, &st) == 0 else {
            throw OS3Error(.io, "\(option) \(path): the directory \(directory) does not exist",
                           fix: "create it first (mkdir -p \(directory)) or give a path in an existing directory")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw OS3Error(.io, "\(option) \(path): \(directory) is not a directory", fix: "give a path in an existing directory")
        }
        guard access(directory, W_OK) == 0 else {
            throw OS3Error(.io, "\(option) \(path): the directory \(directory) is not writable (\(String(cString: strerror(errno))))",
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

extension Outputs {
    /// This machine's name, for JUnit's `hostname`.
    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(nulTerminated: buffer)
    }

    /// The last `lines` lines of a serial log (at most its last 16 KiB), for a failure's report.
    static func consoleTail(_ path: String, lines: Int = 20) -> String {
        guard !path.isEmpty else { return "" }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return "" }
        let start = max(0, size - 16384)
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        let n = pread(fd, &bytes, bytes.count, start)
        guard n > 0 else { return "" }
        var text = String(decoding: bytes[..<n], as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }.joined(separator: "\n")
    }

    /// JUnit for gate's lanes (one suite per lane, named after it).
    static func gateJUnit(_ records: [RunRecord], allowSkipped: Bool) -> String {
        let boots = records.map { r in
            Reports.JUnitBoot(record: r, suite: "os3ctl-gate.\(r.lane)", seed: kernelSeed(r.kernelCommandLine),
                              consoleTail: r.verdict.kind.passed ? "" : consoleTail(r.serialLog))
        }
        return Reports.junit(boots, name: "os3ctl-gate", hostname: hostname(), skippedFails: !allowSkipped)
    }

    /// The kernel's seed (`os3.seed=N` on its command line), if it was given one.
    static func kernelSeed(_ commandLine: String) -> String? {
        commandLine.split(separator: " ").first { $0.hasPrefix("os3.seed=") }.map { String($0.dropFirst("os3.seed=".count)) }
    }
}
