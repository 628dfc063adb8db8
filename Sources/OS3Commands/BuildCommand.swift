import ArgumentParser
import OS3Core
import OS3Runner

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Compile kernel/ into one ELF image (only when a source or flag changed).",
        discussion: "The image is written to .build/os3/kernel/os3.elf; its path is printed on stdout.")

    @OptionGroup var options: ProjectOptions

    @Flag(help: "Rebuild even if nothing changed.")
    var force = false

    func run() throws {
        let project = try options.locate()
        let builder = KernelBuilder(project: project, toolchain: try Toolchain.locate())
        let result = try builder.build(force: force, log: { printErr("build: \($0)") })
        printErr(result.rebuilt ? "build: done in \(Reports.seconds(result.seconds))" : "build: up to date (\(Reports.seconds(result.seconds)))")
        printOut(result.image)
    }
}
