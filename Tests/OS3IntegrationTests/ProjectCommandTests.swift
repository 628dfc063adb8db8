import Foundation
import OS3Core
import OS3Runner
import Testing

/// A project os3ctl did not build: its os3ctl.toml says how to build and test it, and which image
/// its lane boots. Real build and test processes (a shell the project names itself), a fake QEMU.
@Suite("Projects described by os3ctl.toml, on the command line", .tags(.integration))
struct ProjectCommandTests {
    /// A scratch project: os3ctl.toml with `sections`, lanes/fake.toml, markers/boot.toml, src/.
    static func project(_ sections: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-own-\(UUID().uuidString)").path
        let fm = FileManager.default
        for sub in ["lanes", "markers", "src"] { try fm.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true) }
        try fm.copyItem(atPath: "\(try Fixture.fakeProject.get().root)/lanes/fake.toml", toPath: "\(dir)/lanes/fake.toml")
        try fm.copyItem(atPath: "\(Fixture.root)/markers/boot.toml", toPath: "\(dir)/markers/boot.toml")
        try sections.write(toFile: "\(dir)/os3ctl.toml", atomically: true, encoding: .utf8)
        return Path.resolvingSymlinks(dir)
    }

    /// Builds out/kernel.img from src/ with an environment variable, and notes where it ran.
    static let buildSection = """
    [build]
    command = ["/bin/sh", "-c", "pwd > ../build-dir.txt; mkdir -p ../out && printf '%s' \\"$IMAGE_TEXT\\" > ../out/kernel.img"]
    directory = "src"
    env = { IMAGE_TEXT = "built by the project's own command" }

    [images]
    kernel = "out/kernel.img"

    """

    /// A fake QEMU that passes the fake lane only if it was given `image` as its kernel.
    static func qemu(expecting image: String) throws -> String {
        try Fixture.fakeQemu("""
        case " $* " in *" -kernel \(image) "*) ;; *) echo "fake qemu: wrong kernel in: $*" >&2; exit 1;; esac
        printf '\(Fixture.fakePassingConsole)\\n'
        exit 33
        """)
    }

    @Test("boot builds the project with its own command (in its directory, with its env) and boots the image it names")
    func buildsAndBoots() throws {
        let dir = try Self.project(Self.buildSection)
        let (status, out, err) = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "fake", "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img"), "--json"])
        #expect(status == 0, "\(err)")
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(out.utf8))
        #expect(record.kernel == "\(dir)/out/kernel.img")
        #expect(record.verdict.kind == .pass)
        #expect(try String(contentsOfFile: "\(dir)/out/kernel.img", encoding: .utf8) == "built by the project's own command")
        #expect(try String(contentsOfFile: "\(dir)/build-dir.txt", encoding: .utf8) == "\(dir)/src\n")
    }

    @Test("gate runs [test] first, then the build, then the lanes")
    func gateRunsTestsThenBuild() throws {
        let dir = try Self.project(Self.buildSection + """
        [test]
        command = ["/bin/sh", "-c", "test ! -e out/kernel.img && echo host tests ran > tests.log"]

        """)
        let (status, out, err) = try Fixture.os3ctl(["gate", "--project", dir, "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img")])
        #expect(status == 0, "\(err)")
        #expect(out.contains("gate: PASS"))
        #expect(err.contains("gate: host tests passed"))
        // The tests ran before the build (the image did not exist yet).
        #expect(try String(contentsOfFile: "\(dir)/tests.log", encoding: .utf8) == "host tests ran\n")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/out/kernel.img"))
    }

    @Test("a failing [test] command fails the gate with exit 3 and its output on stderr; nothing is built or booted")
    func failingTests() throws {
        let dir = try Self.project(Self.buildSection + """
        [test]
        command = ["/bin/sh", "-c", "echo 'FAILED: widget_test (expected 4, got 5)'; exit 1"]

        """)
        let (status, out, err) = try Fixture.os3ctl(["gate", "--project", dir, "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img")])
        #expect(status == 3, "\(err)")
        #expect(err.contains("FAILED: widget_test (expected 4, got 5)"))
        #expect(err.contains("the host tests failed"))
        #expect(err.contains("exited with code 1"))
        #expect(!out.contains("gate: PASS"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/out/kernel.img"), "built after the tests failed")
    }

    @Test("a failed build exits 3 and shows its output on stderr, whether streamed (build) or kept (boot --json)")
    func failingBuild() throws {
        let dir = try Self.project("""
        [build]
        command = ["/bin/sh", "-c", "echo compiling widget.c; echo 'widget.c:3: error: expected ;' >&2; exit 7"]
        [images]
        kernel = "out/kernel.img"
        """)
        let built = try Fixture.os3ctl(["build", "--project", dir])
        #expect(built.status == 3, "\(built.stderr)")
        #expect(built.stderr.contains("compiling widget.c"))
        #expect(built.stderr.contains("widget.c:3: error: expected ;"))
        #expect(built.stderr.contains("exited with code 7"))
        #expect(built.stdout.isEmpty)

        let booted = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "fake", "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img"), "--json"])
        #expect(booted.status == 3, "\(booted.stderr)")
        #expect(booted.stderr.contains("compiling widget.c"))
        #expect(booted.stderr.contains("widget.c:3: error: expected ;"))
        #expect(booted.stdout.isEmpty, "a record was printed for a boot that never happened")
    }

    @Test("a build that leaves no image where [images] says is an error naming the image and its line")
    func missingImage() throws {
        let dir = try Self.project("""
        [build]
        command = ["/bin/sh", "-c", "mkdir -p out"]
        [images]
        kernel = "out/kernel.img"
        """)
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "fake", "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img")])
        #expect(status == 3, "\(err)")
        // The project is not under the current directory: its paths are given whole, to be opened from here.
        #expect(err.contains("\(dir)/os3ctl.toml:4: error: image \(dir)/out/kernel.img ('kernel' in \(dir)/os3ctl.toml) does not exist, and lane 'fake' boots it"), "\(err)")
        let inside = try Fixture.os3ctl(["boot", "--lane", "fake", "--qemu", try Self.qemu(expecting: "\(dir)/out/kernel.img")], directory: dir)
        #expect(inside.stderr.contains("os3ctl.toml:4: error: image out/kernel.img ('kernel' in os3ctl.toml) does not exist, and lane 'fake' boots it"), "\(inside.stderr)")
    }

    @Test("--kernel overrides the project's image and skips its build")
    func kernelOverride() throws {
        let dir = try Self.project("""
        [build]
        command = ["/bin/sh", "-c", "echo the build must not run; exit 1"]
        [images]
        kernel = "out/kernel.img"
        """)
        let given = "\(dir)/given.img"
        try Fixture.writeFakeKernel(given, "a kernel built elsewhere")
        let (status, out, err) = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "fake", "--kernel", given,
                                                     "--qemu", try Self.qemu(expecting: given), "--json"])
        #expect(status == 0, "\(err)")
        #expect(try JSONDecoder().decode(RunRecord.self, from: Data(out.utf8)).kernel == given)
        #expect(!err.contains("the build must not run"))
    }

    @Test("a bad os3ctl.toml is refused with its line and a fix, exit 2, before anything runs")
    func badProjectFile() throws {
        let dir = try Self.project("[build]\ncommand = \"make all\"\n")
        let (status, _, err) = try Fixture.os3ctl(["boot", "--project", dir, "--lane", "fake", "--qemu", try Self.qemu(expecting: "none")])
        #expect(status == 2, "\(err)")
        #expect(err.contains("os3ctl.toml:2: error: [build] command must be an array of strings"))
        #expect(err.contains("fix: write command = ["))
    }

    @Test("a directory with lanes/ and markers/ but no os3ctl.toml gets an error that says what to write")
    func noProjectFile() throws {
        let dir = try Self.project("")
        try FileManager.default.removeItem(atPath: "\(dir)/os3ctl.toml")
        for (args, cwd) in [(["lanes", "--project", dir], Fixture.root), (["lanes"], "\(dir)/lanes")] {
            let (status, _, err) = try Fixture.os3ctl(args, directory: cwd)
            #expect(status == 2, "\(err)")
            #expect(err.contains("error: \(dir) has lanes/ and markers/ but no os3ctl.toml"), "\(err)")
            #expect(err.contains("os3ctl init"))
            #expect(err.contains("[build]") && err.contains("[images]"))
        }
    }

    @Test("lanes and markers live where [project] says")
    func customDirectories() throws {
        let dir = try Self.project("[project]\nlanes = \"ci/lanes\"\nmarkers = \"ci/markers\"\n")
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(dir)/ci", withIntermediateDirectories: true)
        try fm.moveItem(atPath: "\(dir)/lanes", toPath: "\(dir)/ci/lanes")
        try fm.moveItem(atPath: "\(dir)/markers", toPath: "\(dir)/ci/markers")
        try fm.moveItem(atPath: "\(dir)/ci/lanes/fake.toml", toPath: "\(dir)/ci/lanes/elsewhere.toml")
        let (status, out, err) = try Fixture.os3ctl(["lanes", "--project", dir])
        #expect(status == 0, "\(err)")
        #expect(out.contains("\nelsewhere "))
        let project = try Project.load(root: dir)
        #expect(project.lanesDirectory == "\(dir)/ci/lanes" && project.markersDirectory == "\(dir)/ci/markers")
    }

    @Test("os3ctl init starts a project that `os3ctl lanes` accepts, and never overwrites a file")
    func initStartsAProject() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-init-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try Fixture.os3ctl(["init"], directory: dir)
        #expect(made.status == 0, "\(made.stderr)")
        for file in ["os3ctl.toml", "lanes/default.toml", "markers/boot.toml"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), "\(file) not written")
        }
        let lanes = try Fixture.os3ctl(["lanes"], directory: dir)
        #expect(lanes.status == 0, "\(lanes.stderr)")
        #expect(lanes.stdout.contains("default"))
        // The template parses as the documented defaults say.
        let project = try Project.load(root: dir)
        guard case .command(let build) = project.file.build else { Issue.record("the template has no build command"); return }
        #expect(build.argv == ["make"] && build.directory == ".")
        #expect(try project.defaultImage() == "\(dir)/build/kernel.elf")

        let edited = "# mine\n[images]\nkernel = \"k.elf\"\n"
        try edited.write(toFile: "\(dir)/os3ctl.toml", atomically: true, encoding: .utf8)
        let again = try Fixture.os3ctl(["init", "--project", dir])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: "\(dir)/os3ctl.toml", encoding: .utf8) == edited)
    }
}
