import ArgumentParser
import OS3Core
import OS3Runner

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the project as its os3ctl.toml says ([build]), and check the images its lanes boot.",
        discussion: """
        A [build] command always runs (make, cargo and the like have their own no-op); the \
        embedded-swift builder (this repository's kernel) builds only when a source or flag changed. \
        The path of the default image is printed on stdout. A failed build shows its output, and the \
        command to run it again by hand, and exits 3.

        EXAMPLES:
          os3ctl build
          os3ctl build --force --project examples/aarch64-virt
        """)

    @OptionGroup var options: ProjectLocation
    @OptionGroup var view: ViewOptions

    @Flag(help: "Rebuild even if nothing changed (the embedded-swift builder; a build command always runs).")
    var force = false

    func run() throws {
        view.apply()
        let project = try options.locate()
        guard project.file.build != nil else {
            throw OS3Error(.invalidProject, "\(project.file.file) has no [build] section: nothing to build", file: project.file.file,
                           fix: "add [build] with command = [\"make\"] (the program that builds the project and its arguments)")
        }
        let result = try project.build(force: force, log: { printProgress("build: \($0)") })
        var ran = false
        if case .command = project.file.build { ran = true }
        printProgress(result.rebuilt || ran ? "build: done in \(Reports.seconds(result.seconds))" : "build: up to date (\(Reports.seconds(result.seconds)))")
        // Lanes whose files do not parse are reported by the commands that boot them, not here.
        let lanes = ((try? project.laneNames()) ?? []).compactMap { try? project.loadLane($0) }
        try project.checkImages(for: lanes)
        if project.file.defaultImage != nil {
            let image = try project.defaultImage()
            guard Path.exists(image) else {
                throw OS3Error(.buildFailed, "the build did not write \(project.relative(image))", file: project.file.file,
                               fix: "make the [build] command write it there, or fix the path in [images]")
            }
            printOut(image)
        }
    }
}
