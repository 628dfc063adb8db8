import Foundation
import OS3Core

/// Boots a lane once, or records why it cannot run on this machine (a loud `skipped`).
public struct LaneRunner: Sendable {
    public var project: Project
    public var state: StateDirectory
    public var kernel: String
    public var qemu: String
    public var extraAppend: String

    public init(project: Project, state: StateDirectory, kernel: String, qemu: String = HostProbe.defaultQemu, extraAppend: String = "") {
        self.project = project
        self.state = state
        self.kernel = kernel
        self.qemu = qemu
        self.extraAppend = extraAppend
    }

    public func invocation(for lane: Lane) -> QemuInvocation {
        QemuInvocation(binary: qemu, lane: lane, kernel: kernel, extraAppend: extraAppend)
    }

    public func run(_ lane: Lane, markers: MarkerSet, onEvent: @Sendable (BootEvent) -> Void = { _ in }) throws -> RunRecord {
        let invocation = invocation(for: lane)
        if let why = HostProbe.skipReason(for: lane) {
            return RunRecord(lane: lane.name, laneFile: lane.file, kernel: kernel, argv: invocation.argv,
                             kernelCommandLine: invocation.kernelCommandLine, runDirectory: "", serialLog: "",
                             startedAt: iso8601.string(from: Date()), duration: 0, verdict: .skipped(why), end: nil,
                             markers: [], requiredCount: markers.required.count, consoleBytes: 0)
        }
        return try BootRunner(invocation: invocation, markers: markers, state: state).run(onEvent: onEvent)
    }
}
