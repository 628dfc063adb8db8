import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// How a command obtains the kernel and QEMU: build ours, or use what the user names.
struct KernelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Boot this kernel image instead of building kernel/ (any PVH ELF).", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("The QEMU binary to run (default: qemu-system-x86_64 on PATH).", valueName: "path"))
    var qemu: String?

    @Option(help: ArgumentHelp("Appended to the lane's kernel command line.", valueName: "args"))
    var append: String = ""

    /// The image to boot, building ours first if needed.
    func resolveKernel(project: Project, quiet: Bool) throws -> String {
        try Self.resolveKernel(kernel, project: project, quiet: quiet)
    }

    /// `--kernel` (if given) checked, else ours built if needed.
    static func resolveKernel(_ kernel: String?, project: Project, quiet: Bool) throws -> String {
        if let kernel { return try givenKernel(kernel) }
        let builder = KernelBuilder(project: project, toolchain: try Toolchain.locate())
        let result = try builder.build(log: { if !quiet { printErr("build: \($0)") } })
        if result.rebuilt && !quiet { printErr("build: \(project.relative(result.image)) rebuilt in \(Reports.seconds(result.seconds))") }
        return result.image
    }

    var qemuBinary: String { Self.qemuBinary(qemu) }

    /// `--kernel PATH` made absolute, if it can be read.
    static func givenKernel(_ kernel: String) throws -> String {
        let path = absolutePath(kernel)
        guard Path.isReadable(path) else {
            throw OS3Error(.notFound, "kernel image \(path) does not exist or is not readable", fix: "pass the path of a PVH ELF kernel, or omit --kernel to build kernel/")
        }
        return path
    }

    /// `--qemu`: a path made absolute, or a name looked up in PATH (the default: qemu-system-x86_64).
    static func qemuBinary(_ qemu: String?) -> String {
        qemu.map { $0.contains("/") ? absolutePath($0) : $0 } ?? HostProbe.defaultQemu
    }
}
