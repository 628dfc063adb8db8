import FoundationEssentials
import Glibc
import OS3Core

/// A way of booting a QEMU invocation and judging it: QEMU directly (`QemuBackend`) or through
/// libvirt. Every backend feeds the same marker engine and verdict logic.
public protocol BootBackend: Sendable {
    /// Short name for reports ("qemu", "libvirt qemu:///embed").
    var name: String { get }
    /// nil when this backend can boot the lane here, else why not (the lane is then skipped).
    func skipReason(for lane: Lane) -> String?
    func boot(_ invocation: QemuInvocation, markers: MarkerSet, state: StateDirectory,
              onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord
    /// Boots with markers that may still need loading; a backend that can start its guest before
    /// they are ready overrides this (the default loads them first).
    func boot(_ invocation: QemuInvocation, markers: MarkerSource, state: StateDirectory,
              onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord
}

extension BootBackend {
    public func boot(_ invocation: QemuInvocation, markers: MarkerSource, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        try boot(invocation, markers: try markers.load(), state: state, onEvent: onEvent)
    }
}

/// Runs QEMU as a child process of os3ctl.
public struct QemuBackend: BootBackend {
    public init() {}
    public var name: String { "qemu" }
    public func skipReason(for lane: Lane) -> String? { HostProbe.skipReason(for: lane) }
    public func boot(_ invocation: QemuInvocation, markers: MarkerSet, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        try boot(invocation, markers: .loaded(markers), state: state, onEvent: onEvent)
    }
    public func boot(_ invocation: QemuInvocation, markers: MarkerSource, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        try BootRunner(invocation: invocation, markers: markers, state: state).run(onEvent: onEvent)
    }
}

/// Boots a lane once, or records why it cannot run on this machine (a loud `skipped`).
public struct LaneRunner: Sendable {
    public var project: Project
    public var state: StateDirectory
    /// The kernel a lane boots when its `[boot]` names none (method kernel).
    public var kernel: String
    /// `kernel` was given by the user (`--kernel`): it wins over the lane's own `[boot] kernel`.
    public var kernelOverridesLanes: Bool
    /// `--qemu`; nil: each lane's own (`qemu-binary`, else its architecture's).
    public var qemu: String?
    public var extraAppend: String
    public var backend: any BootBackend

    public init(project: Project, state: StateDirectory, kernel: String, kernelOverridesLanes: Bool = false, qemu: String? = nil,
                extraAppend: String = "", backend: any BootBackend = QemuBackend()) {
        self.project = project
        self.state = state
        self.kernel = kernel
        self.kernelOverridesLanes = kernelOverridesLanes
        self.qemu = qemu
        self.extraAppend = extraAppend
        self.backend = backend
    }

    /// The QEMU command for `lane`: its binary, and what it boots with every image resolved.
    public func invocation(for lane: Lane, extraAppend more: String = "") throws -> QemuInvocation {
        let append = [extraAppend, more].filter { !$0.isEmpty }.joined(separator: " ")
        let boot = try lane.boot.resolvingImages(defaultKernel: kernel, overrideKernel: kernelOverridesLanes,
                                                 { try project.resolveLaneImage($0, lane: lane) }, isDirectory: Path.isDirectory)
        return QemuInvocation(binary: qemu ?? lane.binary, lane: lane, kernel: boot.bootedImage ?? kernel, extraAppend: append, boot: boot)
    }

    /// Boots `lane`; `extraAppend` adds to the runner's own additions (e.g. a per-run seed).
    public func run(_ lane: Lane, markers: MarkerSet, extraAppend more: String = "",
                    onEvent: @Sendable (BootEvent) -> Void = { _ in }) throws -> RunRecord {
        try run(lane, markers: .loaded(markers), extraAppend: more, onEvent: onEvent)
    }

    /// Boots `lane` with markers that may be loaded while QEMU starts (see `BootRunner`).
    public func run(_ lane: Lane, markers source: MarkerSource, extraAppend more: String = "",
                    onEvent: @Sendable (BootEvent) -> Void = { _ in }) throws -> RunRecord {
        let invocation = try invocation(for: lane, extraAppend: more)
        if let why = backend.skipReason(for: lane) {
            let markers = try source.load()
            return RunRecord(lane: lane.name, laneFile: lane.file, kernel: invocation.kernel, argv: invocation.argv,
                             kernelCommandLine: invocation.kernelCommandLine, runDirectory: "", serialLog: "",
                             startedAt: iso8601.string(from: Date()), duration: 0, verdict: .skipped(why), end: nil,
                             markers: [], requiredCount: markers.required.count, consoleBytes: 0, backend: backend.name)
        }
        return try backend.boot(invocation, markers: source, state: state, onEvent: onEvent)
    }
}
