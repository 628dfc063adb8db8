import Glibc
import OS3Core

/// Reads a finished boot's console log for KTAP, in 64 KiB pieces (a flood of many MiB is never
/// held whole); the judgement is `KTAPParser`'s.
public enum KTAPLog {
    /// The KTAP report of the serial log at `path`; a log that cannot be read gives an empty report
    /// (no header: a shortfall, never a pass).
    public static func read(_ path: String) -> KTAPReport {
        var console = KTAPConsole()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return console.finish() }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.withUnsafeBytes { console.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return console.finish()
    }
}
