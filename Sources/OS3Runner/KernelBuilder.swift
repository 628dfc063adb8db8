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
        guard let found = environmentValue("OS3_SWIFTC").flatMap(resolveExecutable) ?? resolveExecutable("swiftc") else {
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
        let configFile = project.kernelBuildConfig
        guard let configBytes = try InputFile.read(configFile, shown: project.relative(configFile), code: .buildFailed) else {
            throw OS3Error(.notFound, "\(project.relative(configFile)) is missing", fix: "restore kernel/build.toml (see docs/KERNEL.md)")
        }
        let config = try KernelBuildConfig.parse(file: project.relative(configFile), bytes: configBytes)
        let configText = String(decoding: configBytes, as: UTF8.self)  // checked to be UTF-8 by the parse
        let swiftFiles = try sources(under: config.swiftSources, ext: "swift")
        let asmFiles = try sources(under: config.asmSources, ext: "S")
        guard !swiftFiles.isEmpty else { throw OS3Error(.buildFailed, "no .swift files under kernel/\(config.swiftSources.joined(separator: ", kernel/"))") }

        let out = "\(project.buildDirectory)/kernel"
        try FileManager.default.createDirectory(atPath: "\(out)/obj", withIntermediateDirectories: true)
        let lock = try FileLock(path: "\(out)/.lock")
        defer { lock.release() }

        // Up to date means: the same flags, toolchain and source *contents* as the image's stamp
        // (line 1). Reading and hashing every source (~230 KB) costs ~1 ms of CPU, which every
        // `boot` without --kernel pays while its QEMU starts; so the stamp also keeps the sources'
        // metadata (line 2: path, size, mtime, ctime, inode of each) and when that is unchanged
        // the contents are not read. Any write changes mtime and ctime; a source written within
        // the same clock tick as the stamp could keep both, so no metadata line is written while
        // a source is younger than `racyWindow` (as git does for "racily clean" files).
        var fp = Fingerprint()
        fp.add(configText)
        for tool in [toolchain.swiftc, toolchain.clang, toolchain.lld] {
            var st = stat()
            stat(tool, &st)
            fp.add("\(tool) \(st.st_size) \(st.st_mtim.tv_sec)")
        }
        let files = swiftFiles + asmFiles + ["\(kdir)/\(config.linkerScript)"]
        var meta = fp
        var newest = 0.0
        for file in files {
            var st = stat()
            guard stat(file, &st) == 0 else { throw OS3Error(.notFound, "cannot read \(project.relative(file))") }
            meta.add("\(file) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec) \(st.st_ino) \(st.st_dev)")
            newest = max(newest, Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9,
                         Double(st.st_ctim.tv_sec) + Double(st.st_ctim.tv_nsec) / 1e9)
        }
        let image = "\(out)/\(config.output)"
        let stampFile = "\(image).fingerprint"
        let stamp = (try? String(contentsOfFile: stampFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        let imageExists = Path.exists(image)
        if !force, imageExists, stamp.count >= 2, stamp[1] == meta.hex {
            return Result(image: image, rebuilt: false, seconds: Clock.now - start)
        }
        for file in files {
            fp.add(file)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw OS3Error(.notFound, "cannot read \(project.relative(file))")
            }
            data.withUnsafeBytes { fp.add($0) }
        }
        let settled = Date().timeIntervalSince1970 - newest > Self.racyWindow
        let stampText = fp.hex + (settled ? "\n" + meta.hex : "")
        if !force, imageExists, stamp.first == fp.hex {
            if stampText != stamp.joined(separator: "\n") { try? writeFile(stampFile, stampText) }
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
        try writeFile(stampFile, stampText)
        return Result(image: image, rebuilt: true, seconds: Clock.now - start)
    }

    /// Sources changed less than this long ago are always compared by content (see `build`).
    public static let racyWindow = 2.0

    private func sources(under dirs: [String], ext: String) throws -> [String] {
        var files: [String] = []
        for dir in dirs {
            let base = "\(project.kernelDirectory)/\(dir)"
            guard Self.walk(base, suffix: ".\(ext)", into: &files) else {
                throw OS3Error(.notFound, "kernel/\(dir) does not exist", file: "kernel/build.toml", fix: "fix the source directories in kernel/build.toml")
            }
        }
        return files.sorted()
    }

    /// Every file under `directory` whose name ends in `suffix`, skipping hidden files and
    /// directories and not following links to directories (no cycles); read with readdir
    /// directly: FileManager's walk was a third of a no-op build's CPU. False if `directory`
    /// cannot be opened.
    static func walk(_ directory: String, suffix: String, into files: inout [String]) -> Bool {
        guard let entries = Path.entries(directory) else { return false }
        for name in entries {
            if name.hasPrefix(".") { continue }
            let path = "\(directory)/\(name)"
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                _ = walk(path, suffix: suffix, into: &files)
            } else if name.hasSuffix(suffix) {
                files.append(path)
            }
        }
        return true
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
        // Not a blocking flock: another os3ctl may build for minutes, and waiting must answer to
        // an interrupt (`Cancellation`). Tried every 50 ms.
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw OS3Error(.io, "cannot lock \(path): \(message)")
            }
            var none: [pollfd] = []
            if case .interrupted(let sig) = Cancellation().wait(&none, timeout: 0.05) {
                close(fd)
                throw OS3Error(.interrupted, "waiting for another build (\(path)) stopped: os3ctl received \(signalName(sig))")
            }
        }
    }
    func release() { flock(fd, LOCK_UN); close(fd) }
}
