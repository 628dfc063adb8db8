import Foundation
import Testing
import OS3Core
import OS3Runner

extension Tag {
    /// Boots a real kernel in real QEMU (filter with `--filter OS3IntegrationTests` or skip with `--skip`).
    @Tag static var integration: Self
    /// Needs a usable /dev/kvm.
    @Tag static var kvm: Self
}

/// Shared set-up for tests that boot: the repository, the kernel built once, a private state dir.
enum Fixture {
    static let root: String = {
        // Tests/OS3IntegrationTests/Support.swift -> repository root
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The repository as os3ctl sees it, through its os3ctl.toml (a broken one stops the tests loudly).
    static let project: Project = {
        do { return try Project.load(root: root) } catch { fatalError("the repository's os3ctl.toml: \(error)") }
    }()

    static let state: StateDirectory = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-tests-\(getpid())").path
        return StateDirectory(path: dir)
    }()

    /// nil when KVM works; otherwise the reason KVM tests are skipped (printed by Swift Testing).
    static let kvmProblem = HostProbe.kvmProblem()
    static var kvmUsable: Bool { kvmProblem == nil }

    static let kernel: Result<String, Error> = Result {
        try KernelBuilder(project: project, toolchain: try Toolchain.locate()).build().image
    }

    static func kernelImage() throws -> String { try kernel.get() }

    /// The os3ctl executable built next to the test bundle.
    static let binary: String = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir.appendingPathComponent("os3ctl").path, "\(root)/.build/debug/os3ctl"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "\(root)/.build/debug/os3ctl"
    }()

    static func lane(_ name: String, _ edit: (inout Lane) -> Void = { _ in }) throws -> (Lane, MarkerSet) {
        var lane = try project.loadLane(name)
        edit(&lane)
        return (lane, try project.markers(for: lane))
    }

    static func boot(_ name: String, append: String = "", qemu: String = HostProbe.defaultQemu,
                     edit: (inout Lane) -> Void = { _ in }) throws -> RunRecord {
        let (lane, markers) = try lane(name, edit)
        let runner = LaneRunner(project: project, state: state, kernel: try kernelImage(), qemu: qemu, extraAppend: append)
        return try runner.run(lane, markers: markers)
    }

    /// A scratch project with one extra lane, `fake`, that requires only markers/boot.toml:
    /// what a fake QEMU script can print without imitating the whole kernel.
    static let fakeProject: Result<Project, Error> = Result {
        let dir = try scratchProject()
        try """
        description = "for fake QEMU scripts"
        accelerator = "tcg"
        machine = "microvm"
        memory = "32M"
        cpus = 1
        cpu = "qemu64"
        markers = ["boot"]
        [timeouts]
        total = 30
        idle = 10
        """.write(toFile: "\(dir)/lanes/fake.toml", atomically: true, encoding: .utf8)
        return try Project.load(root: dir)
    }

    /// The console of a passing boot, as the fake lane requires it.
    static let fakePassingConsole = #"os3: boot ok entry=pvh mode=long64\nos3: cmdline ""\nos3: memmap entries=1 ram=1 usable=1 above4g=0\nos3: ALL OK"#

    /// Boots the `fake` lane with a fake QEMU script.
    static func bootFake(qemu: String, edit: (inout Lane) -> Void = { _ in }) throws -> RunRecord {
        let project = try fakeProject.get()
        var lane = try project.loadLane("fake")
        edit(&lane)
        let runner = LaneRunner(project: project, state: state, kernel: try kernelImage(), qemu: qemu)
        return try runner.run(lane, markers: try project.markers(for: lane))
    }

    /// A private copy of os3ctl.toml, lanes/ and markers/ (to add a lane or marker without touching
    /// the repo). Its kernel/ is empty: boot it with --kernel, or use `projectWithOwnKernel`.
    static func scratchProject() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-project-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/kernel", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(root)/\(ProjectFile.fileName)", toPath: "\(dir)/\(ProjectFile.fileName)")
        try FileManager.default.copyItem(atPath: "\(root)/lanes", toPath: "\(dir)/lanes")
        try FileManager.default.copyItem(atPath: "\(root)/markers", toPath: "\(dir)/markers")
        return dir
    }

    /// A scratch project with its own copy of the kernel's sources, so a rebuild touches nothing shared.
    static func projectWithOwnKernel() throws -> String {
        let project = try scratchProject()
        for item in ["Kernel", "Pure", "arch", "build.toml", "Package.swift"] {
            try FileManager.default.copyItem(atPath: "\(root)/kernel/\(item)", toPath: "\(project)/kernel/\(item)")
        }
        return project
    }

    /// The start of an ELF file and nothing more: what os3ctl checks before it lets QEMU load a
    /// `--kernel` (KernelImage), for fake QEMUs that never read it. `text` follows the header.
    static func fakeKernel(_ text: String = "not a kernel") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fake-kernel-\(UUID().uuidString).elf").path
        try writeFakeKernel(path, text)
        return path
    }

    static func writeFakeKernel(_ path: String, _ text: String = "not a kernel") throws {
        try Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + Array(text.utf8)).write(to: URL(fileURLWithPath: path))
    }

    /// Writes an executable fake QEMU script and returns its path.
    static func fakeQemu(_ body: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fake-qemu-\(UUID().uuidString).sh").path
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// True if a process with this pid is running (zombies count as gone).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Runs os3ctl as a real process (in `directory`, the repository by default); returns exit
    /// status, stdout, stderr.
    static func os3ctl(_ args: [String], environment: [String: String] = [:], directory: String = root) throws -> (status: Int32, stdout: String, stderr: String) {
        try run(binary, args, environment: ["OS3_STATE_DIR": state.path].merging(environment) { $1 }, directory: directory)
    }

    /// Runs a program (stdin empty) with `environment` added to this process's; returns exit
    /// status, stdout, stderr.
    static func run(_ executable: String, _ args: [String], environment: [String: String], directory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both pipes concurrently so neither fills up.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
