import CLibvirt
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// libvirt's process-wide set-up: initialised once, errors kept quiet (they are reported through
/// `LibvirtError`), and the default event loop running on its own thread — mandatory for lifecycle
/// events, storage streams, keepalives and the embedded driver.
enum LibvirtRuntime {
    nonisolated(unsafe) private static var initialised = false
    nonisolated(unsafe) private static var logSetByUs = false
    private static let lock = Lock()
    /// nil once libvirt.so is loaded (on first use: os3ctl does not link it), else why not.
    static let loadFailure: String? = os3_libvirt_load().map { String(cString: $0) }

    private static let started: Bool = {
        guard loadFailure == nil else { return false }
        let ok = virInitialize() == 0
        // libvirt has read it: child processes (QEMU helpers, daemons in tests) must not inherit it.
        if logSetByUs { unsetenv("LIBVIRT_LOG_OUTPUTS") }
        guard ok else { return false }
        // Without a handler libvirt prints every error to stderr, including expected ones.
        virSetErrorFunc(nil) { _, _ in }
        guard virEventRegisterDefaultImpl() == 0 else { return false }
        startThread(name: "os3ctl-libvirt-events") {
            while true { _ = virEventRunDefaultImpl() }
        }
        return true
    }()

    /// Starts libvirt (once). Its own log (warnings and errors) goes to `logFile` rather than
    /// stderr unless LIBVIRT_LOG_OUTPUTS or LIBVIRT_DEBUG says otherwise.
    static func start(logFile: String? = nil) throws {
        if let logFile { configureLog(logFile) }
        lock.lock()
        initialised = true
        lock.unlock()
        // Not LibvirtError(_:): it asks libvirt for its last error, and libvirt is not there.
        if let loadFailure { throw LibvirtError(message: loadFailure, code: 0) }
        guard started else { throw LibvirtError("libvirt could not be initialised") }
    }

    /// Sends libvirt's log to `logFile` (read by libvirt once, when it initialises: later calls do nothing).
    static func configureLog(_ logFile: String) {
        lock.lock()
        defer { lock.unlock() }
        guard !initialised, getenv("LIBVIRT_LOG_OUTPUTS") == nil, getenv("LIBVIRT_DEBUG") == nil else { return }
        try? FileManager.default.createDirectory(atPath: Path.directory(logFile), withIntermediateDirectories: true)
        setenv("LIBVIRT_LOG_OUTPUTS", "3:file:\(logFile)", 1)
        logSetByUs = true
    }

    /// libvirt's version as "9.0.0".
    static var version: String {
        lock.lock(); initialised = true; lock.unlock()
        guard loadFailure == nil else { return "not loaded" }
        var v: UInt = 0
        guard virGetVersion(&v, nil, nil) == 0 else { return "unknown" }
        return "\(v / 1_000_000).\(v / 1000 % 1000).\(v % 1000)"
    }
}

/// A libvirt failure: the message of the call that failed (libvirt keeps the last error per thread).
struct LibvirtError: Error, CustomStringConvertible {
    var message: String
    var code: Int32

    init(message: String, code: Int32) {
        self.message = message
        self.code = code
    }

    init(_ what: String) {
        if let err = virGetLastError() {
            let text = err.pointee.message.map { String(cString: $0) } ?? "unknown libvirt error"
            message = "\(what): \(text)"
            code = err.pointee.code
        } else {
            message = what
            code = 0
        }
        virResetLastError()
    }

    var description: String { message }
    var noDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }
}

/// Where a hypervisor is, which decides what os3ctl can learn and must do.
public enum HypervisorPlace: Sendable, Equatable {
    /// `qemu:///embed?root=DIR`: the QEMU driver inside os3ctl; QEMU is os3ctl's (reaped) child.
    case embedded(root: String)
    /// A libvirtd on this host (`qemu:///system`, `qemu:///session`, `?socket=`): shares the files.
    case local
    /// Another host (`qemu+tcp://`, `qemu+ssh://`, ...): the kernel image is uploaded first.
    case remote

    /// Classifies a URI without opening it.
    public static func of(_ uri: String) -> HypervisorPlace {
        guard let parts = URIParts(uri) else { return .remote }
        if parts.path == "/embed" && parts.transport == nil && parts.host.isEmpty {
            return .embedded(root: parts.query["root"] ?? "")
        }
        if parts.transport == nil || parts.transport == "unix" {
            if parts.host.isEmpty || parts.host == "localhost" { return .local }
        }
        return .remote
    }

    var canLearnExitCode: Bool { if case .embedded = self { true } else { false } }
}

/// The pieces of a libvirt URI that matter here: `driver[+transport]://[user@]host[:port]/path?query`.
struct URIParts {
    var driver: String
    var transport: String?
    var host: String
    var path: String
    var query: [String: String]

    init?(_ uri: String) {
        guard let schemeEnd = uri.firstRange(of: "://") else { return nil }
        let scheme = uri[..<schemeEnd.lowerBound]
        let plus = scheme.split(separator: "+", maxSplits: 1).map(String.init)
        driver = plus[0]
        transport = plus.count > 1 ? plus[1] : nil
        var rest = uri[schemeEnd.upperBound...]
        var queryText = ""
        if let q = rest.firstIndex(of: "?") {
            queryText = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = String(rest[..<slash])
        path = String(rest[slash...])
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        if authority.hasPrefix("[") , let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
        } else {
            host = String(authority.split(separator: ":", maxSplits: 1).first ?? "")
        }
        query = [:]
        for pair in queryText.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            query[kv[0]] = kv.count > 1 ? percentDecoded(kv[1]) : ""
        }
    }
}

/// One open connection to a hypervisor, shared by every boot of the process (libvirt connections
/// are thread-safe). Lifecycle events of every domain arrive through one callback and are handed to
/// the boot watching that domain's name.
final class LibvirtConnection: @unchecked Sendable {
    let uri: String
    let ptr: OpaquePointer
    private let lock = Lock()
    private var watchers: [String: BootMailbox] = [:]
    private var callbackIDs: [Int32] = []

    private init(uri: String, ptr: OpaquePointer) {
        self.uri = uri
        self.ptr = ptr
    }

    static func open(_ uri: String) throws -> LibvirtConnection {
        try LibvirtRuntime.start()
        guard let ptr = virConnectOpen(openable(uri)) else { throw LibvirtError("cannot connect to \(uri)") }
        let conn = LibvirtConnection(uri: uri, ptr: ptr)
        try conn.registerEvents()
        if case .remote = HypervisorPlace.of(uri) {
            // A dead link then fails the boot in seconds instead of hanging it.
            _ = virConnectSetKeepAlive(ptr, 5, 3)
        }
        return conn
    }

    private func registerEvents() throws {
        // Each registration holds the connection strongly until libvirt drops the callback (its
        // free callback releases it): an event arriving on libvirt's thread can then never meet a
        // connection that has been deallocated meanwhile.
        let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { opaque in
            if let opaque { Unmanaged<LibvirtConnection>.fromOpaque(opaque).release() }
        }
        let lifecycle: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, dom, event, detail, opaque in
            guard let dom, let opaque, let name = virDomainGetName(dom) else { return 0 }
            let conn = Unmanaged<LibvirtConnection>.fromOpaque(opaque).takeUnretainedValue()
            conn.post(to: String(cString: name), .lifecycle(event: event, detail: detail))
            return 0
        }
        let reboot: @convention(c) (OpaquePointer?, OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, dom, opaque in
            guard let dom, let opaque, let name = virDomainGetName(dom) else { return }
            let conn = Unmanaged<LibvirtConnection>.fromOpaque(opaque).takeUnretainedValue()
            conn.post(to: String(cString: name), .reboot)
        }
        let first = Unmanaged.passRetained(self).toOpaque()
        let a = virConnectDomainEventRegisterAny(ptr, nil, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue),
                                                 unsafeBitCast(lifecycle, to: virConnectDomainEventGenericCallback.self), first, release)
        guard a >= 0 else {
            Unmanaged<LibvirtConnection>.fromOpaque(first).release()
            throw LibvirtError("cannot subscribe to lifecycle events on \(uri)")
        }
        let second = Unmanaged.passRetained(self).toOpaque()
        let b = virConnectDomainEventRegisterAny(ptr, nil, Int32(VIR_DOMAIN_EVENT_ID_REBOOT.rawValue),
                                                 reboot, second, release)
        if b < 0 { Unmanaged<LibvirtConnection>.fromOpaque(second).release() }
        callbackIDs = [a] + (b >= 0 ? [b] : [])
    }

    /// The URI to hand to virConnectOpen. A local daemon's `qemu:///...` gets an explicit `+unix`
    /// transport: once the embedded driver is loaded in this process, libvirt would otherwise hand
    /// `qemu:///system` to the in-process QEMU driver ("Missing URI parameter 'root'") instead of
    /// the daemon.
    static func openable(_ uri: String) -> String {
        guard HypervisorPlace.of(uri) == .local, let parts = URIParts(uri), parts.transport == nil,
              let scheme = uri.firstRange(of: "://") else { return uri }
        return "\(parts.driver)+unix\(uri[scheme.lowerBound...])"
    }

    func watch(_ name: String, _ mailbox: BootMailbox) {
        lock.lock(); watchers[name] = mailbox; lock.unlock()
    }

    func unwatch(_ name: String) {
        lock.lock(); watchers[name] = nil; lock.unlock()
    }

    private func post(to name: String, _ item: BootMailbox.Item) {
        lock.lock()
        let mailbox = watchers[name]
        lock.unlock()
        mailbox?.post(item)
    }

    func close() {
        for id in callbackIDs { _ = virConnectDomainEventDeregisterAny(ptr, id) }
        callbackIDs = []
        _ = virConnectClose(ptr)
    }

    // MARK: small wrappers

    func hostname() -> String? {
        guard let p = virConnectGetHostname(ptr) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// nil when the hypervisor can run `virtType` ("kvm" or "qemu") for this machine, else why not.
    func domainCapabilityProblem(arch: String, machine: String, virtType: String) -> String? {
        guard let p = virConnectGetDomainCapabilities(ptr, nil, arch, machine, virtType, 0) else {
            return LibvirtError("\(virtType) on \(arch) \(machine)").message
        }
        free(p)
        return nil
    }

    /// Every domain whose name starts with `prefix` (running ones only: transient domains stop existing when stopped).
    func domains(prefix: String) -> [(name: String, ptr: OpaquePointer)] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let n = virConnectListAllDomains(ptr, &list, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        guard n > 0, let list else { return [] }
        defer { free(list) }
        var out: [(String, OpaquePointer)] = []
        for i in 0..<Int(n) {
            guard let dom = list[i] else { continue }
            if let cname = virDomainGetName(dom), String(cString: cname).hasPrefix(prefix) {
                out.append((String(cString: cname), dom))
            } else {
                virDomainFree(dom)
            }
        }
        return out
    }
}

/// What a boot waits for, posted from libvirt's event thread and os3ctl's QEMU reaper.
final class BootMailbox: @unchecked Sendable {
    enum Item {
        case lifecycle(event: Int32, detail: Int32)
        case reboot
        case exited(ProcessEnd)
        /// The reaper could not learn QEMU's exit (not os3ctl's child).
        case exitUnknown(String)
    }

    private let lock = Lock()
    private var items: [Item] = []
    let wakeFD: Int32
    private let writeFD: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LibvirtError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(wakeFD)
        close(writeFD)
    }

    func post(_ item: Item) {
        lock.lock()
        items.append(item)
        lock.unlock()
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
    }

    func take() -> [Item] {
        var sink = [UInt8](repeating: 0, count: 256)
        while read(wakeFD, &sink, sink.count) > 0 {}
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }
}
