import Glibc
import OS3Core

/// Reads the files a user writes (lanes, markers, kernel/build.toml): whole, as bytes — the parser
/// checks they are UTF-8 and says where they are not — and every way reading can fail is said as
/// it is. (`try? String(contentsOfFile:)` made an unreadable or non-UTF-8 file look absent.)
public enum InputFile {
    /// No input file is anywhere near this; a bigger one is a mistake, not a lane.
    public static let maxBytes = 16 << 20

    /// The file's bytes, or nil if nothing is at `path` (the caller knows what was expected there).
    /// Anything else that stops the read is an error with `code`, naming the file as `shown`.
    public static func read(_ path: String, shown: String, code: OS3Error.Code) throws -> [UInt8]? {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let error = errno
            var st = stat()
            if error == ENOENT && lstat(path, &st) == 0 {
                throw OS3Error(code, "this is a symbolic link to a file that does not exist", file: shown,
                               fix: "point the link at an existing file, or replace it with the file")
            }
            if error == ENOENT { return nil }
            if error == EACCES {
                throw OS3Error(code, "the file exists but cannot be read: \(String(cString: strerror(error)))", file: shown,
                               fix: "make it readable (chmod u+r \(shown)), or run os3ctl as its owner")
            }
            throw OS3Error(code, "the file cannot be opened: \(String(cString: strerror(error)))", file: shown)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw OS3Error(code, "the file cannot be examined: \(String(cString: strerror(errno)))", file: shown)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR:
            throw OS3Error(code, "this is a directory, not a file", file: shown, fix: "remove or rename the directory; a file is expected here")
        default:
            throw OS3Error(code, "this is not a regular file (a FIFO, device or socket)", file: shown,
                           fix: "replace it with an ordinary file")
        }
        guard st.st_size <= maxBytes else { throw tooBig(shown, code) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                // The file grew since fstat: keep reading, up to the limit.
                guard bytes.count <= maxBytes else { throw tooBig(shown, code) }
                bytes += [UInt8](repeating: 0, count: min(bytes.count, maxBytes + 1 - bytes.count) + 1)
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw OS3Error(code, "the file cannot be read: \(String(cString: strerror(errno)))", file: shown)
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    private static func tooBig(_ shown: String, _ code: OS3Error.Code) -> OS3Error {
        OS3Error(code, "the file is larger than \(maxBytes >> 20) MiB, which no input file needs", file: shown,
                 fix: "check that this is the file you meant")
    }
}
