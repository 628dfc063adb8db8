import COS3Sys
import Glibc
import OS3Core

/// SIGINT/SIGTERM/SIGHUP handling: running boots see the interrupt through a descriptor they
/// poll, stop their guests with the kill ladder, keep their logs, and report `interrupted`.
public enum Interrupts {
    /// Installs the handlers (idempotent) and returns the descriptor that becomes readable on a signal.
    @discardableResult
    public static func install() -> Int32 { os3_install_interrupt_pipe() }

    /// The signal that interrupted os3ctl, or nil.
    public static var signal: Int32? {
        let s = os3_interrupt_signal()
        return s == 0 ? nil : s
    }

    /// The conventional exit status after a signal (128 + n).
    public static var exitStatus: Int32? { signal.map { 128 + $0 } }

    /// Last resort on the way out: SIGKILL every child process group still alive.
    public static func killAllChildren() { LiveProcesses.shared.killAll() }
}

/// The one cancellation mechanism. Every wait that can block or run long goes through it (or
/// polls `Interrupts.install()`'s descriptor itself, as the boot loops do): it polls the
/// interrupt self-pipe — which SIGINT/SIGTERM/SIGHUP make readable for good — together with the
/// descriptors it waits on, and never past its deadline. So no read, write or wait outlives an
/// interrupt or a deadline, whatever the other end does (a FIFO nobody writes, a QEMU that never
/// reads its stdin).
public struct Cancellation: Sendable {
    /// Why a wait ended early.
    public enum Reason: Error, Equatable, Sendable {
        case interrupted(Int32)
        case deadline
    }

    /// Monotonic seconds (`Clock.now`) after which waits give up; nil: only an interrupt stops them.
    public var deadline: Double?

    public init(deadline: Double? = nil) { self.deadline = deadline }

    /// Gives up `seconds` from now (and on an interrupt).
    public static func after(_ seconds: Double) -> Cancellation { Cancellation(deadline: Clock.now + seconds) }

    /// Why waiting must stop now, or nil.
    public var reason: Reason? {
        if let s = Interrupts.signal { return .interrupted(s) }
        if let deadline, Clock.now >= deadline { return .deadline }
        return nil
    }

    /// Polls `fds` (their `revents` are set) together with the interrupt pipe, for at most
    /// `timeout` seconds (nil: until an event) and never past the deadline. Returns the reason
    /// if cancelled, else nil (an event, or the timeout passed).
    public func wait(_ fds: inout [pollfd], timeout: Double? = nil) -> Reason? {
        if let reason { return reason }
        let interrupt = Interrupts.install()
        var all = fds
        all.append(pollfd(fd: interrupt, events: Int16(POLLIN), revents: 0))
        var limit = timeout
        if let deadline { limit = min(limit ?? .infinity, deadline - Clock.now) }
        let ms: Int32 = limit.map { Int32(max(0, min($0, 3600) * 1000).rounded(.up)) } ?? -1
        var r: Int32
        repeat { r = Glibc.poll(&all, nfds_t(all.count), ms) } while r < 0 && errno == EINTR && reason == nil
        for i in fds.indices { fds[i].revents = all[i].revents }
        return reason
    }

    /// Reads once from `fd` into `buffer` when something is there (or at EOF): the byte count,
    /// 0 at EOF. Throws `Reason` when cancelled first, `OS3Error(.io)` on a read error.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if let reason = wait(&fds) { throw reason }
            guard fds[0].revents != 0 else { continue }
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            throw OS3Error(.io, "read failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes every byte to `fd` (made non-blocking here), waiting for room with `wait`: a
    /// reader that never reads cannot hold os3ctl past the deadline or an interrupt. Throws
    /// `Reason` when cancelled (some bytes may be written), `OS3Error(.io)` on a write error.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        setNonBlocking(fd)
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            guard n < 0 && errno == EAGAIN else { throw OS3Error(.io, "write failed: \(String(cString: strerror(errno)))") }
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
            if let reason = wait(&fds) { throw reason }
        }
    }
}

/// Sets O_NONBLOCK on a descriptor (reads and writes return EAGAIN instead of waiting).
public func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
}
