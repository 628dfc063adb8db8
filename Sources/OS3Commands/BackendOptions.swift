import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Libvirt
import OS3Runner

/// How a command boots: QEMU directly (the default) or through libvirt, on one hypervisor or a pool.
///
///     --backend libvirt                                   the in-process driver, no daemon
///     --backend libvirt --connect qemu:///system          a local libvirtd
///     --connect qemu+tcp://a/system --connect qemu+ssh://b/system   one pool over two hosts
///
/// Commands call `makeBackend(state:)` and hand the result to `LaneRunner(backend:)`; with several
/// `--connect` it is a `BackendPool` that sends each boot to the least busy hypervisor.
struct BackendOptions: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case qemu, libvirt
    }

    @Option(help: ArgumentHelp("How to boot: qemu (run QEMU directly) or libvirt (through libvirt's C API; see --connect). Default: qemu, or libvirt when --connect is given.", valueName: "qemu|libvirt"))
    var backend: Kind?

    @Option(name: .customLong("connect"), help: ArgumentHelp("libvirt URI to boot on (repeatable: several hypervisors form one pool). Default: the in-process driver qemu:///embed?root=STATE/libvirt (no daemon); also qemu:///system, qemu+tcp://HOST/system, qemu+ssh://HOST/system.", valueName: "uri"))
    var connect: [String] = []

    func validate() throws {
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
    func makeBackend(state: StateDirectory) -> any BootBackend {
        Self.makeBackend(backend: backend, connect: connect, state: state)
    }

    /// `[QemuBackend()]` (unless --backend libvirt or a --connect), else a `LibvirtBackend` per
    /// `--connect` (the embedded driver under `state` when none is given); several form a pool.
    static func makeBackend(backend: Kind?, connect: [String], state: StateDirectory) -> any BootBackend {
        let all: [any BootBackend]
        switch backend ?? (connect.isEmpty ? .qemu : .libvirt) {
        case .qemu: all = [QemuBackend()]
        case .libvirt: all = connect.isEmpty ? [LibvirtBackend(state: state)] : connect.map { LibvirtBackend(uri: $0, state: state) }
        }
        return all.count == 1 ? all[0] : BackendPool(all)
    }
}
