import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// How a command obtains the kernel and QEMU: build the project's (os3ctl.toml), or use what the user names.
struct KernelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Boot this kernel image instead of the project's own (os3ctl.toml [images]); the build is skipped, and it replaces the [boot] kernel of every lane that boots a kernel.", valueName: "path"), completion: .file())
    var kernel: String?

    @Option(help: ArgumentHelp("The QEMU binary to run (default: the lane's qemu-binary, else qemu-system-<arch> on PATH).", valueName: "path"), completion: .file())
    var qemu: String?

    @Option(help: ArgumentHelp("Appended to the lane's kernel command line.", valueName: "args"))
    var append: String = ""

    /// The image to boot, building the project first if needed.
    func resolveKernel(project: Project, lanes: [Lane], quiet: Bool) throws -> String {
        try Self.resolveKernel(kernel, project: project, lanes: lanes, quiet: quiet)
    }

    /// `--kernel` (if given) checked; else the project built as its os3ctl.toml says, every image
    /// the lanes boot checked, and the default image.
    static func resolveKernel(_ kernel: String?, project: Project, lanes: [Lane], quiet: Bool) throws -> String {
        if let kernel {
            let path = try givenKernel(kernel)
            try checkBootable(path, shown: kernel, lanes: lanes)
            return path
        }
        let result = try project.build(quiet: quiet, log: { if !quiet { printProgress("build: \($0)") } })
        if result.rebuilt && !quiet, let what = result.what { printProgress("build: \(what): rebuilt in \(Reports.seconds(result.seconds))") }
        try project.checkImages(for: lanes)
        // Every image a lane boots exists now (checked above); without a default image (several,
        // none called kernel) only lanes that name their own can boot; any other was refused above.
        return (try? project.defaultImage()) ?? ""
    }

    var qemuBinary: String? { Self.qemuBinary(qemu) }

    /// `--kernel PATH` made absolute, if it can be read.
    static func givenKernel(_ kernel: String) throws -> String {
        let path = absolutePath(kernel)
        guard Path.isReadable(path) else {
            throw OS3Error(.notFound, "kernel image \(Path.shown(path)) does not exist or is not readable", fix: "pass the path of a kernel image, or omit --kernel to build and boot the project's own (os3ctl.toml)")
        }
        return path
    }

    /// A `--kernel` that no lane booting a kernel could boot (KernelImage) is refused before QEMU
    /// starts, saying what the lane expected. Lanes that boot a disk, ISO or firmware do not use it.
    static func checkBootable(_ path: String, shown: String, lanes: [Lane]) throws {
        let kernelLanes = lanes.filter { if case .kernel = $0.boot { true } else { false } }
        guard !kernelLanes.isEmpty else { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw OS3Error(.invalidInput, "kernel image \(shown) cannot be opened: \(String(cString: strerror(errno)))", fix: "give a readable kernel image")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw OS3Error(.invalidInput, "kernel image \(shown) is not a regular file", fix: "give the path of a kernel image file, e.g. --kernel build/kernel.elf")
        }
        var header = [UInt8](repeating: 0, count: KernelImage.headerSize)
        let n = pread(fd, &header, header.count, 0)
        header = Array(header.prefix(max(0, n)))
        for lane in kernelLanes {
            let arch = lane.arch
            guard let problem = KernelImage.problem(header: header, size: Int(st.st_size), arch: arch) else { continue }
            throw OS3Error(.invalidInput, "--kernel \(shown) is not a kernel lane '\(lane.name)' can boot: \(problem)",
                           fix: "lane '\(lane.name)' (\(arch.rawValue), direct kernel boot) expects \(KernelImage.expected(for: arch)); give such an image, or omit --kernel to boot the project's own")
        }
    }

    /// `--qemu`: a path made absolute, or a name looked up in PATH; nil: each lane's own.
    static func qemuBinary(_ qemu: String?) -> String? {
        qemu.map { $0.contains("/") ? absolutePath($0) : $0 }
    }
}
