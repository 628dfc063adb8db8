import Testing
@testable import OS3Core

@Suite("The project file, os3ctl.toml")
struct ProjectFileTests {
    static let full = """
    [project]
    lanes = "ci/lanes"
    markers = "ci/markers"

    [build]
    command = ["make", "-C", "src", "all"]
    directory = "src"
    env = { CC = "clang", CFLAGS = "-O2 -g" }

    [test]
    command = ["cargo", "test", "--workspace"]

    [images]
    kernel = "build/kernel.elf"
    initrd = "/srv/images/initrd.img"
    esp = "build/esp"
    """

    @Test("a complete file yields every setting, in the order written")
    func parsesEverything() throws {
        let p = try ProjectFile.parse(file: "os3ctl.toml", text: Self.full)
        #expect(p.lanes == "ci/lanes")
        #expect(p.markers == "ci/markers")
        #expect(p.build == .command(ProjectFile.Command(argv: ["make", "-C", "src", "all"], directory: "src",
                                                         environment: ["CC": "clang", "CFLAGS": "-O2 -g"], line: 6)))
        #expect(p.test == ProjectFile.Command(argv: ["cargo", "test", "--workspace"], directory: ".", environment: [:], line: 11))
        #expect(p.images.map(\.name) == ["kernel", "initrd", "esp"])
        #expect(p.images.map(\.path) == ["build/kernel.elf", "/srv/images/initrd.img", "build/esp"])
        #expect(p.images.map(\.line) == [14, 15, 16])
        #expect(p.defaultImage?.name == "kernel")
    }

    @Test("every section is optional: an empty file is the default layout with nothing to build")
    func emptyFile() throws {
        let p = try ProjectFile.parse(file: "os3ctl.toml", text: "# nothing yet\n")
        #expect(p == ProjectFile(file: "os3ctl.toml"))
        #expect(p.lanes == "lanes" && p.markers == "markers")
        #expect(p.build == nil && p.test == nil && p.images.isEmpty && p.defaultImage == nil)
    }

    @Test("the embedded-swift builder, with its config defaulting to kernel/build.toml")
    func embeddedSwift() throws {
        let p = try ProjectFile.parse(file: "os3ctl.toml", text: "[build]\nbuilder = \"embedded-swift\"\n")
        #expect(p.build == .embeddedSwift(config: "kernel/build.toml", line: 2))
        let q = try ProjectFile.parse(file: "os3ctl.toml", text: "[build]\nbuilder = \"embedded-swift\"\nconfig = \"os/build.toml\"\n")
        #expect(q.build == .embeddedSwift(config: "os/build.toml", line: 2))
    }

    @Test("the default image is the one called kernel, else the only one, else none")
    func defaultImage() throws {
        let only = try ProjectFile.parse(file: "f", text: "[images]\nbzimage = \"out/bzImage\"\n")
        #expect(only.defaultImage?.name == "bzimage")
        let several = try ProjectFile.parse(file: "f", text: "[images]\nbzimage = \"out/bzImage\"\ninitrd = \"out/initrd\"\n")
        #expect(several.defaultImage == nil)
        let named = try ProjectFile.parse(file: "f", text: "[images]\ninitrd = \"out/initrd\"\nkernel = \"out/bzImage\"\n")
        #expect(named.defaultImage?.path == "out/bzImage")
        #expect(named.image(named: "initrd")?.path == "out/initrd")
        #expect(named.image(named: "esp") == nil)
    }

    @Test("the repository's own os3ctl.toml parses as the embedded-swift builder with the kernel image")
    func repositoryFile() throws {
        let text = try String(contentsOfFile: Self.repositoryRoot + "/os3ctl.toml", encoding: .utf8)
        let p = try ProjectFile.parse(file: "os3ctl.toml", text: text)
        guard case .embeddedSwift(let config, _) = p.build else { Issue.record("not the embedded-swift builder: \(String(describing: p.build))"); return }
        #expect(config == "kernel/build.toml")
        #expect(p.test?.argv.prefix(4) == ["swift", "test", "--package-path", "kernel"])
        #expect(p.defaultImage?.path == ".build/os3/kernel/os3.elf")
    }

    static var repositoryRoot: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/OS3CoreTests/ProjectFileTests.swift
        return parts.joined(separator: "/")
    }

    /// Parses `text` and returns the error it must cause.
    private func failure(_ text: String) throws -> OS3Error {
        do {
            let p = try ProjectFile.parse(file: "os3ctl.toml", text: text)
            Issue.record("accepted: \(p)")
            return OS3Error(.usage, "accepted")
        } catch let error as OS3Error {
            #expect(error.code == .invalidProject)
            #expect(error.file == "os3ctl.toml")
            #expect(error.fix != nil, "no fix for: \(error.message)")
            return error
        }
    }

    @Test("bad input is refused with the file, the line and a fix", arguments: [
        // (file, line, words the message must contain)
        ("[buld]\ncommand = [\"make\"]\n", 1, "unknown key 'buld'"),
        ("[build]\ncommand = [\"make\"]\ncomand = [\"x\"]\n", 3, "unknown key 'comand' in [build]"),
        ("[build]\ncommand = \"make all\"\n", 2, "must be an array of strings"),
        ("[build]\n\ncommand = []\n", 3, "command is empty"),
        ("[build]\ncommand = [\"\", \"x\"]\n", 2, "command is empty"),
        ("[build]\ncommand = [\"make\", 3]\n", 2, "must contain only strings"),
        ("[build]\ncommand = [\"make\"]\nbuilder = \"embedded-swift\"\n", 3, "both `command` and `builder`"),
        ("[build]\nbuilder = \"cargo\"\n", 2, "unknown builder 'cargo'"),
        ("[build]\nbuilder = \"embedded-swift\"\ndirectory = \"src\"\n", 3, "'directory' applies to a build `command`"),
        ("[build]\ncommand = [\"make\"]\nconfig = \"kernel/build.toml\"\n", 3, "'config' applies to `builder"),
        ("[build]\nbuilder = \"embedded-swift\"\nconfig = \"/abs/build.toml\"\n", 3, "relative to the project root"),
        ("\n[build]\ndirectory = \"src\"\n", 2, "neither how to build"),
        ("[build]\ncommand = [\"make\"]\ndirectory = \"/src\"\n", 3, "directory must be relative to the project root"),
        ("[build]\ncommand = [\"make\"]\nenv = \"CC=clang\"\n", 3, "env must be a table of strings"),
        ("[build]\ncommand = [\"make\"]\n[build.env]\nCC = \"clang\"\nJOBS = 4\n", 5, "env.JOBS must be a string"),
        ("[test]\ndirectory = \"tests\"\n", 1, "[test] has no `command`"),
        ("[test]\ncommand = [\"make\", \"check\"]\nargs = [\"-j\"]\n", 3, "unknown key 'args' in [test]"),
        ("[images]\nkernel = \"a\"\n\"my kernel\" = \"b\"\n", 3, "image name 'my kernel' is not allowed"),
        ("[images]\nkernel = 42\n", 2, "'kernel' must be a string"),
        ("[images]\nkernel = \"\"\n", 2, "image 'kernel' has an empty path"),
        ("images = \"build/kernel.elf\"\n", 1, "'images' must be a table"),
        ("[project]\nlanes = \"\"\n", 2, "'lanes' must name a directory"),
        ("[project]\nlane = \"l\"\n", 2, "did you mean 'lanes'?"),
        ("kernel = \"x.elf\"\n", 1, "unknown key 'kernel'"),
        ("[build]\ncommand = = [\"make\"]\n", 2, "not valid TOML"),
        ("[runs]\nkeep-passes = -1\n", 2, "keep-passes = -1 is out of range"),
        ("[runs]\nkeep-passes = 1000001\n", 2, "keep-passes = 1000001 is out of range"),
        ("[runs]\nkeep-passes = \"20\"\n", 2, "keep-passes must be a whole number"),
        ("[runs]\n\nkeep-passes = 2.5\n", 3, "keep-passes must be a whole number"),
        ("[runs]\nkeep-pass = 3\n", 2, "did you mean 'keep-passes'?"),
        ("[images]\nkernel = \"k\"\n[runs]\n", 3, "[runs] does not say how many passing runs to keep"),
    ])
    func rejects(text: String, line: Int, words: String) throws {
        let error = try failure(text)
        #expect(error.line == line, "\(error)")
        #expect(error.description.contains(words), "\(error)")
        #expect(error.description.hasPrefix("os3ctl.toml:\(line): error: "), "\(error)")
    }

    @Test("a file that is not UTF-8 is refused at the line of the bad bytes")
    func invalidUTF8() throws {
        var bytes = Array("[build]\ncommand = [\"make\"]\n# caf".utf8)
        bytes += [0xE9, 0x0A]  // Latin-1 é
        bytes += Array("[images]\nkernel = \"k\"\n".utf8)
        do {
            _ = try ProjectFile.parse(file: "os3ctl.toml", bytes: bytes)
            Issue.record("invalid UTF-8 accepted")
        } catch let error as OS3Error {
            #expect(error.code == .invalidProject)
            #expect(error.line == 3)
            #expect(error.message.contains("not valid UTF-8"))
        }
        // The same file as UTF-8 parses, from bytes too.
        let good = Array("[build]\ncommand = [\"make\"]\n# café\n[images]\nkernel = \"k\"".utf8)
        #expect(try ProjectFile.parse(file: "os3ctl.toml", bytes: good).defaultImage?.path == "k")
    }
}
