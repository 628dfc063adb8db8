import FoundationEssentials
import Glibc
import OS3Core

/// QEMU's machine protocol (QMP) on os3ctl's end of a socketpair whose other end is QEMU's fd 3
/// (`QemuInvocation.qmpArgs`): pre-connected, so there is no connect race and no socket file.
/// The handshake (`qmp_capabilities`, then `cont` for a QEMU started with -S) is written into the
/// socket before QEMU is even spawned: QEMU sends events only once it has processed it, and a
/// guest that ends sooner ends without an account — so os3ctl's own scheduling (a loaded host)
/// must not delay it. Measured: answering the greeting instead lost 1 triple fault in 12 on
/// `tiny` at load 14. Then it keeps what QEMU says about how the guest ended. Never blocks: the
/// boot's poll loop calls `service()` whenever `fd` polls readable. A QEMU that never speaks (a
/// fake QEMU) just gives no account.
final class QmpChannel {
    let fd: Int32
    /// What QEMU reported about the guest's end so far.
    private(set) var account: QemuAccount?
    /// Capabilities accepted: events flow from now on.
    private(set) var ready = false
    /// QEMU closed its end (it exited).
    private(set) var closed = false
    private var pending: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 8192)

    /// A connected pair: os3ctl's end (non-blocking, close-on-exec) and QEMU's (close-on-exec
    /// too: the spawn makes it QEMU's fd 3 and nothing else inherits it).
    static func socketPair() throws -> (ours: Int32, qemus: Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw OS3Error(.io, "cannot make QEMU's QMP socket pair: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    init(fd: Int32) { self.fd = fd }

    /// Writes the handshake into os3ctl's end before QEMU runs (a few dozen bytes into an empty
    /// socket buffer). QEMU processes commands in order, so `cont` comes after events are on.
    static func sendHandshake(_ fd: Int32, resume: Bool) throws {
        var text = #"{"execute":"qmp_capabilities","id":"caps"}"# + "\n"
        if resume { text += #"{"execute":"cont","id":"cont"}"# + "\n" }
        do { try writeAll(fd, Array(text.utf8)) } catch {
            throw OS3Error(.io, "cannot write the QMP handshake: \(error)")
        }
    }

    /// Reads everything QEMU has sent and acts on it. Returns true once QEMU has stopped the VM on
    /// its own and confirmed it (query-status): the boot should end now.
    @discardableResult
    func service() -> Bool {
        while !closed {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                pending += buffer[0..<n]
                continue
            }
            if n == 0 { closed = true; break }
            if errno == EINTR { continue }
            break
        }
        while let newline = pending.firstIndex(of: 10) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if let message = try? JSONDecoder().decode(QmpMessage.self, from: Data(line)) { handle(message) }
        }
        return vmStopped
    }

    /// QEMU stopped the VM on its own (a KVM internal error, an I/O error), as query-status confirmed.
    var vmStopped: Bool {
        if case .stopped? = account { true } else { false }
    }

    private func handle(_ m: QmpMessage) {
        // The greeting needs no answer: the handshake is already in the socket.
        if m.QMP != nil { return }
        if let id = m.id {
            switch id {
            case "caps" where m.error == nil:
                ready = true
            case "status":
                // The VM still stopped, and not on its way out: QEMU stopped it and waits.
                if let r = m.return, r.running == false, let status = r.status, account == nil,
                   !["running", "shutdown", "prelaunch", "finish-migrate", "postmigrate"].contains(status) {
                    account = .stopped(status: status)
                }
            default:
                break
            }
            return
        }
        switch m.event {
        case "SHUTDOWN"?:
            // Only the guest's own shutdowns (not os3ctl's signal: reason host-signal, guest false).
            if m.data?.guest == true, account == nil { account = .shutdown(reason: m.data?.reason ?? "unknown") }
        case "GUEST_PANICKED"?:
            account = .panicked
        case "STOP"?:
            // A shutdown or panic stops the VM on the way out; any other stop is asked about.
            if account == nil { send(#"{"execute":"query-status","id":"status"}"#) }
        default:
            break
        }
    }

    private func send(_ command: String) {
        // A few dozen bytes into an empty socket buffer: never blocks; a closed peer is seen by read.
        _ = try? writeAll(fd, Array((command + "\n").utf8))
    }
}

/// The parts of a QMP message os3ctl reads: a greeting, a reply (by our id) or an event.
private struct QmpMessage: Decodable {
    struct Greeting: Decodable {}
    struct EventData: Decodable {
        var guest: Bool?
        var reason: String?
    }
    struct Reply: Decodable {
        var status: String?
        var running: Bool?
    }
    struct Failure: Decodable {
        var desc: String?
    }
    var QMP: Greeting?
    var id: String?
    var `return`: Reply?
    var error: Failure?
    var event: String?
    var data: EventData?
}
