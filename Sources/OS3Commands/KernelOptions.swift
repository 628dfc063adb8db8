import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// How a command obtains the kernel and QEMU: build the project's (os3ctl.toml), or use what the user names.
struct KernelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Boot this kernel image instead of the project's own (os3ctl.toml [images]); the build is skipped, and it replaces the [boot] kernel of every lane that boots a kernel.", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("The QEMU binary to run (default: the lane's qemu-binary, else qemu-system-<arch> on PATH).", valueName: "path"))
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
        if let kernel { return try givenKernel(kernel) }
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
            throw OS3Error(.notFound, "kernel image \(path) does not exist or is not readable", fix: "pass the path of a kernel image, or omit --kernel to build and boot the project's own (os3ctl.toml)")
        }
        return path
    }

    /// `--qemu`: a path made absolute, or a name looked up in PATH; nil: each lane's own.
    static func qemuBinary(_ qemu: String?) -> String? {
        qemu.map { $0.contains("/") ? absolutePath($0) : $0 }
    }
}
