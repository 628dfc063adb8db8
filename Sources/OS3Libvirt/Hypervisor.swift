import CLibvirt
import COS3Sys
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// One hypervisor os3ctl boots on, shared by every boot of the process that names the same URI: the
/// connection (opened on first use), the leftover sweep (once, at that first use), KVM answers and
/// uploaded kernel images.
final class Hypervisor: @unchecked Sendable {
    let uri: String
    let place: HypervisorPlace
    /// os3ctl's state directory: libvirt's own log goes there.
    let stateDirectory: StateDirectory
    /// Set for os3ctl's own embedded root: where private roots go when another os3ctl holds it.
    let state: StateDirectory?
    let log: @Sendable (String) -> Void

    private let lock = Lock()
    private var connection: LibvirtConnection?
    private var openFailure: String?
    /// The embedded root actually in use (the shared one, or a private one when that is busy).
    private(set) var embeddedRoot: String?
    private var privateRoot: String?
    private var capability: [String: String?] = [:]
    let uploads = KernelUploads()

    /// Set once this process opened (or tried) an embedded root: libvirt allows one per process,
    /// and probing another's lock file would drop the lock libvirt holds on it.
    nonisolated(unsafe) private static var embeddedOpened = false
    private static let registryLock = Lock()
    nonisolated(unsafe) private static var registry: [String: Hypervisor] = [:]

    private init(uri: String, state: StateDirectory, ownsRoot: Bool, log: @escaping @Sendable (String) -> Void) {
        self.uri = uri
        self.place = HypervisorPlace.of(uri)
        self.stateDirectory = state
        self.state = ownsRoot ? state : nil
        self.log = log
    }

    /// The process-wide hypervisor for `uri`.
    static func shared(uri: String, state: StateDirectory, ownsRoot: Bool, log: @escaping @Sendable (String) -> Void) -> Hypervisor {
        registryLock.lock()
        defer { registryLock.unlock() }
        if let h = registry[uri] { return h }
        let h = Hypervisor(uri: uri, state: state, ownsRoot: ownsRoot, log: log)
        registry[uri] = h
        if registry.count == 1 { atexit { Hypervisor.closeAll() } }
        return h
    }

    /// At exit: connections to daemons are closed; private embedded roots are removed. The
    /// embedded driver itself is left to the process's end: shutting it down properly costs ~0.2 s
    /// (its worker threads are joined) and saves nothing — its domains are gone by then, and the
    /// root's lock goes with the process.
    static func closeAll() {
        registryLock.lock()
        let all = registry.values
        registryLock.unlock()
        for h in all { h.close(atExit: true) }
    }

    func close(atExit: Bool = false) {
        lock.lock()
        let conn = connection
        connection = nil
        let root = privateRoot
        privateRoot = nil
        lock.unlock()
        if case .embedded = place, atExit, let conn {
            // Domains that ended on their own are still being cleaned up by libvirt's threads
            // (its kill-and-wait polls every 0.2 s): let it finish so no stale state is left.
            let deadline = Clock.now + 2
            while virConnectNumOfDomains(conn.ptr) > 0 && Clock.now < deadline { usleep(5000) }
        } else {
            conn?.close()
        }
        if let root { try? FileManager.default.removeItem(atPath: root) }
    }

    /// The open connection, opening it (and sweeping leftovers) on first use, and again when a
    /// libvirtd went away (a restarted daemon, a broken link to a remote host).
    func connect() throws -> LibvirtConnection {
        lock.lock()
        defer { lock.unlock() }
        if let connection {
            if virConnectIsAlive(connection.ptr) == 1 { return connection }
            self.connection = nil
            connection.close()
        }
        // A failed embedded open disables libvirt's embedded driver for the whole process.
        if let openFailure { throw LibvirtError(openFailure) }
        do {
            let conn = try openConnection()
            connection = conn
            sweepLeftovers(conn)
            return conn
        } catch {
            if case .embedded = place { openFailure = "\(error)" }
            throw error
        }
    }

    private func openConnection() throws -> LibvirtConnection {
        try LibvirtRuntime.start(logFile: "\(EmbeddedRoot.absolute(stateDirectory.path))/libvirt.log")
        guard case .embedded(let root) = place else { return try LibvirtConnection.open(uri) }
        // One embedded root per process (libvirt refuses a second), one process per root (it holds
        // ROOT/run/qemu/driver.pid locked): when another os3ctl has the shared root, take a private
        // one — decided before opening, as a failed open disables the embedded driver for good.
        var chosen = root
        if let state, !Self.embeddedOpened, EmbeddedRoot.isLockedByAnotherProcess(root) {
            chosen = EmbeddedRoot.privateRoot(state: state, pid: getpid())
            try EmbeddedRoot.prepare(chosen, ownConfig: true, seedCacheFrom: root)
            privateRoot = chosen
        } else {
            try EmbeddedRoot.prepare(root, ownConfig: state != nil)
        }
        if let state { EmbeddedRoot.sweepPrivateRoots(state: state, log: log) }
        do {
            Self.embeddedOpened = true
            let conn = try LibvirtConnection.open(chosen == root ? uri : EmbeddedRoot.uri(root: chosen))
            embeddedRoot = chosen
            return conn
        } catch let e as LibvirtError {
            if let p = privateRoot { try? FileManager.default.removeItem(atPath: p); privateRoot = nil }
            if e.message.contains("acquire pid file") {
                throw LibvirtError("\(e.message) (another process uses the embedded root \(chosen))")
            }
            throw e
        }
    }

    /// The QEMU pid file of a domain under the embedded driver.
    func pidFile(domain: String) -> String? {
        embeddedRoot.map { "\($0)/run/qemu/\(domain).pid" }
    }

    /// QEMU's log of a domain under the embedded driver (its command line and stderr).
    func qemuLog(domain: String) -> String? {
        embeddedRoot.map { "\($0)/log/qemu/\(domain).log" }
    }

    /// nil when this hypervisor can run `virtType` on `machine`, else why not (asked once).
    func capabilityProblem(_ conn: LibvirtConnection, arch: String, machine: String, virtType: String) -> String? {
        let key = "\(virtType)/\(arch)/\(machine)"
        lock.lock()
        if let known = capability[key] { lock.unlock(); return known }
        lock.unlock()
        let problem = conn.domainCapabilityProblem(arch: arch, machine: machine, virtType: virtType)
        lock.lock()
        capability[key] = problem
        lock.unlock()
        return problem
    }

    // MARK: leftovers

    /// Destroys os3ctl's domains whose run is over: their owner process (on this host) is gone, or
    /// their deadline passed. A killed os3ctl leaves them; this finds them on the next start.
    private func sweepLeftovers(_ conn: LibvirtConnection) {
        let thisHost = ProcessInfo.processInfo.hostName
        let now = Int(Date().timeIntervalSince1970)
        var running = Set<String>()
        defer {
            if place == .remote { uploads.sweepConsoleCopies(connection: conn, running: running, log: log) }
        }
        for (name, dom) in conn.domains(prefix: DomainSpec.namePrefix) {
            defer { virDomainFree(dom) }
            guard let text = virDomainGetMetadata(dom, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), DomainSpec.metadataNamespace, 0) else {
                virResetLastError()
                running.insert(name)
                continue  // not os3ctl's (no owner metadata): leave it alone
            }
            let xml = String(cString: text)
            free(text)
            guard let owner = DomainOwner.parse(metadata: xml),
                  owner.isLeftover(thisHost: thisHost, now: now, processStart: processStartTime) else {
                running.insert(name)
                continue
            }
            if virDomainDestroy(dom) == 0 {
                log("libvirt: destroyed leftover domain \(name) on \(uri) (its os3ctl, pid \(owner.pid) on \(owner.host), is gone)")
            } else {
                let e = LibvirtError("destroy")
                if e.noDomain {
                    // The embedded driver could not reattach to the orphan's monitor and stopped it itself.
                    log("libvirt: destroyed leftover domain \(name) on \(uri) (its os3ctl, pid \(owner.pid) on \(owner.host), is gone; libvirt stopped it on reconnect)")
                } else {
                    log("libvirt: could not destroy leftover domain \(name) on \(uri): \(e.message)")
                }
            }
        }
    }
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot), nil if no such live process.
func processStartTime(_ pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3); the start time is field 22.
    guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
    return UInt64(fields[19])
}

/// The embedded driver's root directory: its qemu.conf, and private roots for concurrent processes.
enum EmbeddedRoot {
    /// `qemu:///embed?root=DIR` with DIR made absolute and URI-escaped.
    static func uri(root: String) -> String {
        "qemu:///embed?root=\(percentEncoded(root))"
    }

    /// The default root under the state directory.
    static func defaultRoot(state: StateDirectory) -> String {
        "\(absolute(state.path))/libvirt"
    }

    /// Whether another process holds the root's driver lock (libvirt's pid file, an fcntl lock).
    static func isLockedByAnotherProcess(_ root: String) -> Bool {
        let fd = open("\(root)/run/qemu/driver.pid", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_GETLK, &lock) == 0 else { return false }
        return lock.l_type != Int16(F_UNLCK) && lock.l_pid != getpid()
    }

    static func privateRoot(state: StateDirectory, pid: Int32) -> String {
        "\(absolute(state.path))/libvirt-p\(pid)"
    }

    /// qemu.conf for running QEMU as os3ctl's own user with no labelling, cgroups or virtlogd.
    static var qemuConf: String {
        var conf = "# Written by os3ctl for libvirt's embedded QEMU driver (see docs/LIBVIRT.md).\n"
        if geteuid() == 0 { conf += "user = \"root\"\ngroup = \"root\"\n" }
        conf += "dynamic_ownership = 0\nsecurity_driver = \"none\"\nstdio_handler = \"file\"\ncgroup_controllers = [ ]\n"
        return conf
    }

    /// Creates the root and its etc/qemu.conf (ours always for roots os3ctl owns; else only if missing).
    static func prepare(_ root: String, ownConfig: Bool, seedCacheFrom shared: String? = nil) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: "\(root)/etc", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let conf = "\(root)/etc/qemu.conf"
            let current = try? String(contentsOfFile: conf, encoding: .utf8)
            if current == nil || (ownConfig && current != qemuConf) {
                try writeAtomically(conf, qemuConf, mode: 0o644)
            }
            if let shared {
                let from = "\(shared)/cache/qemu/capabilities", to = "\(root)/cache/qemu/capabilities"
                if let files = try? fm.contentsOfDirectory(atPath: from) {
                    try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
                    for f in files where f.hasSuffix(".xml") { try? fm.copyItem(atPath: "\(from)/\(f)", toPath: "\(to)/\(f)") }
                }
            }
        } catch {
            throw LibvirtError("cannot prepare the embedded libvirt root \(root): \(error)")
        }
    }

    /// Private roots of os3ctl processes that are gone: their leftover domains are destroyed (the
    /// driver reconnects to still-running QEMUs on open) and the root is removed.
    static func sweepPrivateRoots(state: StateDirectory, log: @Sendable (String) -> Void) {
        let parent = absolute(state.path)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names where name.hasPrefix("libvirt-p") {
            guard let pid = Int32(name.dropFirst("libvirt-p".count)), pid != getpid(), processStartTime(pid) == nil else { continue }
            let root = "\(parent)/\(name)"
            if let conn = virConnectOpen(uri(root: root)) {
                var list: UnsafeMutablePointer<OpaquePointer?>?
                let n = virConnectListAllDomains(conn, &list, 0)
                if n > 0, let list {
                    for i in 0..<Int(n) {
                        guard let dom = list[i] else { continue }
                        let domName = virDomainGetName(dom).map { String(cString: $0) } ?? "?"
                        if virDomainDestroy(dom) == 0 { log("libvirt: destroyed leftover domain \(domName) of a killed os3ctl (pid \(pid))") }
                        virDomainFree(dom)
                    }
                    free(list)
                }
                virConnectClose(conn)
            } else {
                virResetLastError()
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// URI escaping (RFC 3986): unreserved characters and "/" stay, every other byte becomes %XX.
func percentEncoded(_ text: String) -> String {
    let hex = Array("0123456789ABCDEF")
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
            out.append(Character(Unicode.Scalar(byte)))
        default:
            out += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 15)])"
        }
    }
    return out
}

/// The inverse of `percentEncoded` (a malformed escape is kept as it is).
func percentDecoded<S: StringProtocol>(_ text: S) -> String {
    let bytes = Array(text.utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let v = UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16) {
            out.append(v)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
