import CLibvirt
import Foundation
import OS3Core

/// The guest's serial console as a libvirt stream (`virDomainOpenConsole` on the pty serial port),
/// read without blocking from libvirt's event thread into the boot's mailbox. Opened while the domain
/// is still paused, so no byte the guest writes is lost; works the same over a remote connection.
final class ConsoleStream: @unchecked Sendable {
    private let stream: OpaquePointer
    private let mailbox: BootMailbox
    private let lock = NSLock()
    private var ended = false
    private var registered = false

    private init(stream: OpaquePointer, mailbox: BootMailbox) {
        self.stream = stream
        self.mailbox = mailbox
    }

    static func open(connection: LibvirtConnection, domain: OpaquePointer, mailbox: BootMailbox) throws -> ConsoleStream {
        guard let stream = virStreamNew(connection.ptr, UInt32(VIR_STREAM_NONBLOCK.rawValue)) else {
            throw LibvirtError("cannot create a console stream")
        }
        guard virDomainOpenConsole(domain, nil, stream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
            let e = LibvirtError("cannot open the serial console")
            virStreamFree(stream)
            throw e
        }
        let console = ConsoleStream(stream: stream, mailbox: mailbox)
        let callback: @convention(c) (OpaquePointer?, Int32, UnsafeMutableRawPointer?) -> Void = { _, events, opaque in
            guard let opaque else { return }
            Unmanaged<ConsoleStream>.fromOpaque(opaque).takeUnretainedValue().readable(events: events)
        }
        // The registration owns one reference; libvirt drops it (free callback) once unregistered,
        // and only then is the stream freed, so no callback can run on a freed stream.
        let opaque = Unmanaged.passRetained(console).toOpaque()
        let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { opaque in
            guard let opaque else { return }
            let console = Unmanaged<ConsoleStream>.fromOpaque(opaque).takeRetainedValue()
            virStreamFree(console.stream)
        }
        let events = Int32(VIR_STREAM_EVENT_READABLE.rawValue | VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue)
        guard virStreamEventAddCallback(stream, events, callback, opaque, release) == 0 else {
            let e = LibvirtError("cannot watch the serial console")
            Unmanaged<ConsoleStream>.fromOpaque(opaque).release()
            _ = virStreamAbort(stream)
            virStreamFree(stream)
            throw e
        }
        console.registered = true
        return console
    }

    /// Runs on libvirt's event thread.
    private func readable(events: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard !ended else { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { virStreamRecv(stream, $0, b.count) }
            }
            if n > 0 {
                mailbox.post(.console(Array(buffer[0..<Int(n)])))
                continue
            }
            if n == -2 { break }  // nothing more for now
            // 0 = end of stream; -1 = error (a pty whose QEMU exited ends with EIO: that is the end too).
            let why = n == 0 ? nil : LibvirtError("console").message
            ended = true
            _ = virStreamEventUpdateCallback(stream, 0)
            mailbox.post(.consoleEnded(why))
            return
        }
        let hangup = Int32(VIR_STREAM_EVENT_HANGUP.rawValue | VIR_STREAM_EVENT_ERROR.rawValue)
        if events & hangup != 0 {
            ended = true
            _ = virStreamEventUpdateCallback(stream, 0)
            mailbox.post(.consoleEnded("hangup"))
        }
    }

    /// Stops reading and lets go of the stream (from the boot's thread, once the guest is over).
    func close() {
        lock.lock()
        let wasRegistered = registered
        registered = false
        ended = true
        lock.unlock()
        guard wasRegistered else { return }
        _ = virStreamAbort(stream)
        _ = virStreamEventRemoveCallback(stream)
    }
}
