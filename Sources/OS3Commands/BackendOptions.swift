import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Libvirt
import OS3Runner

/// How a command boots: QEMU directly (the default), through libvirt on one hypervisor or a pool,
/// or as jobs on a LAVA lab.
///
///     --backend libvirt                                   the in-process driver, no daemon
///     --backend libvirt --connect qemu:///system          a local libvirtd
///     --connect qemu+tcp://a/system --connect qemu+ssh://b/system   one pool over two hosts
///     --backend lava --connect http://lab:8787/ [--token-file F]    LAVA jobs (token: $LAVA_TOKEN or F)
///
/// Commands call `makeBackend(state:)` and hand the result to `LaneRunner(backend:)`; with several
/// `--connect` it is a `BackendPool` that sends each boot to the least busy hypervisor.
struct BackendOptions: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case qemu, libvirt, lava
    }

    @Option(help: ArgumentHelp("How to boot: qemu (run QEMU directly) or libvirt (through libvirt's C API; see --connect). Default: qemu, or libvirt when --connect is given.", valueName: "qemu|libvirt"))
    var backend: Kind?

    @Option(name: .customLong("connect"), help: ArgumentHelp("libvirt URI to boot on (repeatable: several hypervisors form one pool). Default: the in-process driver qemu:///embed?root=STATE/libvirt (no daemon); also qemu:///system, qemu+tcp://HOST/system, qemu+ssh://HOST/system.", valueName: "uri"))
    var connect: [String] = []

    @Option(name: .customLong("token-file"), help: ArgumentHelp("With --backend lava: a file holding the LAVA token (USER:TOKEN, or a token for $LAVA_USER). Default: $LAVA_TOKEN.", valueName: "file"), completion: .file())
    var tokenFile: String?

    func validate() throws {
        if backend == .lava {
            guard connect.count == 1, let url = connect.first, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ValidationError("--backend lava needs one --connect with the LAVA server's URL (e.g. --connect http://127.0.0.1:8787/; scripts/lava-lab env prints the local lab's)")
            }
            return
        }
        if tokenFile != nil {
            throw ValidationError("--token-file is a LAVA token; it goes with --backend lava")
        }
        for uri in connect where uri.hasPrefix("http://") || uri.hasPrefix("https://") {
            throw ValidationError("--connect '\(uri)' is a web address: for a LAVA lab add --backend lava")
        }
        if backend == .qemu && !connect.isEmpty {
            throw ValidationError("--connect selects a libvirt hypervisor; it cannot be used with --backend qemu")
        }
        for uri in connect where !uri.contains("://") {
            throw ValidationError("--connect '\(uri)' is not a libvirt URI (e.g. qemu:///system or qemu+ssh://host/system)")
        }
        if Set(connect).count != connect.count {
            throw ValidationError("--connect names the same URI twice")
        }
    }

    /// What a command passes to `LaneRunner(backend:)`: the one backend, or a pool over several.
    func makeBackend(state: StateDirectory) throws -> any BootBackend {
        try Self.makeBackend(backend: backend, connect: connect, tokenFile: tokenFile, state: state)
    }

    /// `[QemuBackend()]` (unless --backend libvirt or a --connect), else a `LibvirtBackend` per
    /// `--connect` (the embedded driver under `state` when none is given); several form a pool.
    static func makeBackend(backend: Kind?, connect: [String], tokenFile: String? = nil, state: StateDirectory) throws -> any BootBackend {
        let all: [any BootBackend]
        switch backend ?? (connect.isEmpty ? .qemu : .libvirt) {
        case .lava: return LAVABackend(url: connect[0], token: try LAVABackend.token(file: tokenFile))
        case .qemu: all = [QemuBackend()]
        case .libvirt: all = connect.isEmpty ? [LibvirtBackend(state: state)] : connect.map { LibvirtBackend(uri: $0, state: state) }
        }
        return all.count == 1 ? all[0] : BackendPool(all)
    }
}
