import FoundationEssentials
import Glibc
import OS3Core

/// The toolchain used for the kernel: swiftc, and the clang and ld.lld shipped beside it.
public struct Toolchain: Sendable {
    public let swiftc: String
    public let clang: String
    public let lld: String

    /// `$OS3_SWIFTC`, else swiftc on PATH (symlinks resolved, so clang/ld.lld are its siblings).
    public static func locate() throws -> Toolchain {
        let env = ProcessInfo.processInfo.environment
        guard let found = env["OS3_SWIFTC"].flatMap(resolveExecutable) ?? resolveExecutable("swiftc") else {
            throw OS3Error(.toolMissing, "swiftc not found on PATH", fix: "install Swift 6.3 (with the embedded stdlib) and put its usr/bin on PATH")
        }
        // The toolchain's own directory, but still invoked as `swiftc`: the driver decides what it
        // is by the name it was run as (swiftc is a symlink to swift-driver).
        let bin = Path.directory(Path.resolvingSymlinks(found))
        let real = access("\(bin)/swiftc", X_OK) == 0 ? "\(bin)/swiftc" : found
        let t = Toolchain(swiftc: real, clang: "\(bin)/clang", lld: "\(bin)/ld.lld")
        for tool in [t.clang, t.lld] where access(tool, X_OK) != 0 {
            throw OS3Error(.toolMissing, "\(tool) is missing: the kernel is built with the toolchain's own clang and ld.lld",
                           fix: "use a Swift toolchain from swift.org, which ships both in usr/bin")
        }
        return t
    }

    /// The embedded stdlib for bare-metal x86-64, needed by `-enable-experimental-feature Embedded`.
    public var embeddedStdlib: String {
        Path.directory(Path.directory(swiftc)) + "/lib/swift/embedded/x86_64-unknown-none-elf"
    }
}

/// Builds the kernel image from `kernel/` as `kernel/build.toml` describes, only when a source,
/// a flag or the toolchain changed. Compiler output goes to the user's stderr verbatim.
public struct KernelBuilder: Sendable {
    public let project: Project
    public let toolchain: Toolchain

    public init(project: Project, toolchain: Toolchain) {
        self.project = project
        self.toolchain = toolchain
    }

    public struct Result: Sendable {
        public var image: String
        public var rebuilt: Bool
        public var seconds: Double
    }

    public func build(force: Bool = false, log: (String) -> Void = { _ in }) throws -> Result {
        let start = Clock.now
        let kdir = project.kernelDirectory
        let configFile = "\(kdir)/build.toml"
        guard let configText = try? String(contentsOfFile: configFile, encoding: .utf8) else {
            throw OS3Error(.notFound, "\(project.relative(configFile)) is missing", fix: "restore kernel/build.toml (see docs/KERNEL.md)")
        }
        let config = try KernelBuildConfig.parse(file: project.relative(configFile), text: configText)
        let swiftFiles = try sources(under: config.swiftSources, ext: "swift")
        let asmFiles = try sources(under: config.asmSources, ext: "S")
        guard !swiftFiles.isEmpty else { throw OS3Error(.buildFailed, "no .swift files under kernel/\(config.swiftSources.joined(separator: ", kernel/"))") }

        let out = "\(project.buildDirectory)/kernel"
        try FileManager.default.createDirectory(atPath: "\(out)/obj", withIntermediateDirectories: true)
        let lock = try FileLock(path: "\(out)/.lock")
        defer { lock.release() }

        var fp = Fingerprint()
        fp.add(configText)
        for tool in [toolchain.swiftc, toolchain.clang, toolchain.lld] {
            var st = stat()
            stat(tool, &st)
            fp.add("\(tool) \(st.st_size) \(st.st_mtim.tv_sec)")
        }
        for file in swiftFiles + asmFiles + ["\(kdir)/\(config.linkerScript)"] {
            fp.add(file)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw OS3Error(.notFound, "cannot read \(project.relative(file))")
            }
            data.withUnsafeBytes { fp.add($0) }
        }
        let image = "\(out)/\(config.output)"
        let stampFile = "\(image).fingerprint"
        if !force, FileManager.default.fileExists(atPath: image),
           (try? String(contentsOfFile: stampFile, encoding: .utf8)) == fp.hex {
            return Result(image: image, rebuilt: false, seconds: Clock.now - start)
        }
        try? FileManager.default.removeItem(atPath: stampFile)

        let kernelObject = "\(out)/obj/kernel.o"
        log("compiling \(swiftFiles.count) Swift files")
        try runTool([toolchain.swiftc] + config.swiftFlags + ["-module-name", "os3kernel", "-c"] + swiftFiles + ["-o", kernelObject],
                    what: "swiftc")
        var objects = [kernelObject]
        for asm in asmFiles {
            let obj = "\(out)/obj/\(String(project.relative(asm).map { $0 == "/" ? "_" : $0 })).o"
            log("assembling \(project.relative(asm))")
            try runTool([toolchain.clang] + config.asmFlags + ["-c", asm, "-o", obj], what: "clang")
            objects.append(obj)
        }
        log("linking \(project.relative(image))")
        let tmp = "\(image).tmp"
        try runTool([toolchain.lld] + config.linkFlags + ["-T", "\(kdir)/\(config.linkerScript)", "-o", tmp] + objects, what: "ld.lld")
        guard rename(tmp, image) == 0 else { throw OS3Error(.io, "cannot move \(tmp) into place") }
        try writeFile(stampFile, fp.hex)
        return Result(image: image, rebuilt: true, seconds: Clock.now - start)
    }

    private func sources(under dirs: [String], ext: String) throws -> [String] {
        var files: [String] = []
        for dir in dirs {
            let base = "\(project.kernelDirectory)/\(dir)"
            guard let walker = try? FileManager.default.subpathsOfDirectory(atPath: base) else {
                throw OS3Error(.notFound, "kernel/\(dir) does not exist", file: "kernel/build.toml", fix: "fix the source directories in kernel/build.toml")
            }
            for rel in walker where rel.hasSuffix(".\(ext)") && !rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
                files.append("\(base)/\(rel)")
            }
        }
        return files.sorted()
    }

    private func runTool(_ argv: [String], what: String) throws {
        // The compiler talks to the user directly (stderr), so errors arrive verbatim.
        let child = try ChildProcess.spawn(argv, stdin: -1, stdout: 2, stderr: 2, directory: project.root)
        let end = try child.waitUnlessInterrupted(what: what)
        guard end == .exited(0) else {
            throw OS3Error(.buildFailed, "\(what) failed (\(end)); its messages are above", fix: "fix the reported error and run `os3ctl build` again")
        }
    }
}

/// An exclusive lock on a file, so two os3ctl processes never build into the same directory at once.
final class FileLock {
    private let fd: Int32
    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OS3Error(.io, "cannot open lock \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
    }
    func release() { flock(fd, LOCK_UN); close(fd) }
}
