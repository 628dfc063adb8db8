import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Start a project: write a commented os3ctl.toml, and an example lane and marker file if there are none.",
        discussion: """
        Writes os3ctl.toml (how the project is built and tested, which images it produces), and, \
        where lanes/ or markers/ do not exist yet, lanes/default.toml and markers/boot.toml with \
        placeholder markers. Never overwrites a file: an existing os3ctl.toml is an error, existing \
        lanes/ and markers/ are kept. Then edit the files (docs/FORMATS.md) and run `os3ctl lanes`.

        EXAMPLES:
          os3ctl init
          os3ctl init --project ~/src/mykernel
        """)

    @Option(name: .customLong("project"), help: ArgumentHelp("The project's root (default: the current directory).", valueName: "dir"))
    var project: String?

    func run() throws {
        let root = absolutePath(project ?? ".")
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw OS3Error(.io, "cannot create \(root): \(error)")
        }
        let projectFile = "\(root)/\(ProjectFile.fileName)"
        guard !Path.exists(projectFile) else {
            throw OS3Error(.usage, "\(projectFile) already exists; init writes no file that exists",
                           fix: "edit it (docs/FORMATS.md, \"The project file\"), or move it away and run `os3ctl init` again")
        }
        var written: [String] = []
        try Self.create(projectFile, Self.projectTemplate)
        written.append(ProjectFile.fileName)
        for (dir, file, text) in [("lanes", "default.toml", Self.laneTemplate), ("markers", "boot.toml", Self.markersTemplate)] {
            if Path.exists("\(root)/\(dir)") {
                printErr("init: keeping the existing \(dir)/")
                continue
            }
            guard mkdir("\(root)/\(dir)", 0o755) == 0 else { throw OS3Error(.io, "cannot create \(root)/\(dir): \(String(cString: strerror(errno)))") }
            try Self.create("\(root)/\(dir)/\(file)", text)
            written.append("\(dir)/\(file)")
        }
        for file in written { printErr("init: wrote \(file)") }
        printErr("init: next: set [build] and [images] in \(ProjectFile.fileName), the markers your kernel prints in markers/, then `os3ctl lanes` and `os3ctl gate`")
        printOut(root)
    }

    /// Writes a new file in one step: written aside, then linked into place, which fails if the
    /// name exists (so nothing is ever overwritten, nor left half-written).
    static func create(_ path: String, _ text: String) throws {
        let temporary = "\(path).init-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OS3Error(.io, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        do {
            try writeAll(fd, Array(text.utf8))
        } catch {
            close(fd)
            throw error
        }
        guard fsync(fd) == 0, close(fd) == 0 else { throw OS3Error(.io, "cannot write \(path): \(String(cString: strerror(errno)))") }
        guard link(temporary, path) == 0 else {
            throw errno == EEXIST ? OS3Error(.usage, "\(path) already exists; init writes no file that exists", fix: "edit it, or move it away first")
                                  : OS3Error(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static let projectTemplate = """
    # os3ctl.toml: how os3ctl builds, tests and boots this project (docs/FORMATS.md, "The project file").
    # Every section is optional; unknown keys are errors.

    # Where lane and marker files live (these are the defaults).
    [project]
    lanes = "lanes"
    markers = "markers"

    # How the project is built: a program and its arguments, run in `directory` (relative to this
    # file's directory) with `env` added to os3ctl's environment. No shell is involved; to use one,
    # write it: command = ["/bin/sh", "-c", "make && objcopy -O binary build/kernel.elf build/kernel.bin"]
    # `build`, `boot`, `gate` and `stress` run it first (not with --kernel); a failure exits 3.
    [build]
    command = ["make"]
    directory = "."
    # env = { CC = "clang" }

    # The project's host tests: `gate` runs them before it builds (--skip-host-tests skips them).
    # [test]
    # command = ["make", "check"]
    # directory = "."

    # What the build produces, by name -> path (relative to this file's directory, or absolute).
    # A lane boots the image called "kernel" (or the only image); `--kernel PATH` overrides it.
    [images]
    kernel = "build/kernel.elf"

    # Run directories pile up under the state directory; gate and stress can keep only each lane's
    # newest N passing runs (every failure is kept). `os3ctl runs` lists them (docs/RUNS.md).
    # [runs]
    # keep-passes = 20

    """

    static let laneTemplate = """
    # A lane: one way of booting the kernel, the markers it requires, and how long it may take
    # (docs/FORMATS.md). This one runs under TCG, so it needs no KVM.
    description = "TCG, q35: runs wherever QEMU does"
    accelerator = "tcg"
    machine = "q35"
    memory = "256M"
    cpus = 1
    cpu = "qemu64"
    append = ""
    markers = ["boot"]
    # The boot passes when QEMU exits with this code (isa-debug-exit at port 0xf4: writing v makes
    # QEMU exit with (v << 1) | 1, so the kernel writes 16 for 33) AND every marker appeared.
    success-exit = 33

    [timeouts]
    total = 60   # seconds for the whole boot
    idle = 20    # seconds without console output that count as a hang

    """

    static let markersTemplate = """
    # Lines the kernel's serial console must (or must never) print (docs/FORMATS.md).
    # These are placeholders: replace them with what your kernel prints.
    description = "The kernel started and finished"

    [[marker]]
    id = "boot"
    text = "REPLACE: a line your kernel prints early in boot"

    [[marker]]
    id = "done"
    text = "REPLACE: the line your kernel prints when all is well"

    [[forbidden]]
    id = "panic"
    text = "PANIC"

    [[order]]
    sequence = ["boot", "done"]

    """
}
