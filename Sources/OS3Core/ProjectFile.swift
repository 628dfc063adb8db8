/// `os3ctl.toml` at a project's root: where its lanes and markers live, how it is built, how its
/// host tests run, and which images the build produces, by name (docs/FORMATS.md, "The project file").
/// Every section is optional; a value is exactly what the file says, checked, with no I/O.
public struct ProjectFile: Sendable, Equatable {
    /// The name os3ctl looks for at a project's root.
    public static let fileName = "os3ctl.toml"

    /// A program and its arguments, run without a shell (a user who wants one writes it:
    /// `["/bin/sh", "-c", "..."]`), in `directory` (relative to the project root), with `environment`
    /// added to the one os3ctl inherited.
    public struct Command: Sendable, Equatable {
        public var argv: [String]
        public var directory: String
        public var environment: [String: String]
        /// Where `command` was written, for errors about this command.
        public var line: Int?

        public init(argv: [String], directory: String = ".", environment: [String: String] = [:], line: Int? = nil) {
            self.argv = argv
            self.directory = directory
            self.environment = environment
            self.line = line
        }
    }

    public enum Build: Sendable, Equatable {
        /// The project's own build command (make, cargo, a script).
        case command(Command)
        /// This repository's Embedded-Swift kernel builder, configured by `config` (a path relative
        /// to the project root, `kernel/build.toml`), with its fingerprinted no-op.
        case embeddedSwift(config: String, line: Int?)
    }

    /// A name for something the build produces, and where it is (relative to the root, or absolute).
    public struct Image: Sendable, Equatable {
        public var name: String
        public var path: String
        public var line: Int?
        public init(name: String, path: String, line: Int? = nil) {
            self.name = name
            self.path = path
            self.line = line
        }
    }

    /// `[runs]`: how many passing runs of each lane to keep (docs/RUNS.md).
    public struct Retention: Sendable, Equatable {
        public var keepPasses: Int
        public var line: Int?
        public init(keepPasses: Int, line: Int? = nil) {
            self.keepPasses = keepPasses
            self.line = line
        }
    }

    /// The file's name for messages ("os3ctl.toml", or wherever it was read from).
    public var file: String
    public var lanes: String
    public var markers: String
    public var build: Build?
    public var test: Command?
    /// In the order the file lists them.
    public var images: [Image]
    /// nil: runs are kept until `os3ctl runs prune` is asked to remove some.
    public var retention: Retention?

    public init(file: String = ProjectFile.fileName, lanes: String = "lanes", markers: String = "markers",
                build: Build? = nil, test: Command? = nil, images: [Image] = [], retention: Retention? = nil) {
        self.file = file
        self.lanes = lanes
        self.markers = markers
        self.build = build
        self.test = test
        self.images = images
        self.retention = retention
    }

    public func image(named name: String) -> Image? { images.first { $0.name == name } }

    /// The image a lane boots when it names none: the one called "kernel", else the only one.
    public var defaultImage: Image? {
        image(named: "kernel") ?? (images.count == 1 ? images[0] : nil)
    }

    static let keys = ["project", "build", "test", "images", "runs"]
    static let runsKeys = ["keep-passes"]
    /// The most passes of one lane `keep-passes` may keep (more is a typo).
    public static let keepPassesRange = 0...1_000_000
    static let projectKeys = ["lanes", "markers"]
    static let buildKeys = ["command", "directory", "env", "builder", "config"]
    static let testKeys = ["command", "directory", "env"]
    /// The builders os3ctl carries itself (only this repository's kernel needs one).
    public static let builders = ["embedded-swift"]

    /// Parses a project file; every error names the file and line and says what to write instead.
    public static func parse(file: String, text: String) throws -> ProjectFile {
        try parse(file: file, bytes: Array(text.utf8))
    }

    /// Parses a project file read as bytes: invalid UTF-8 is an error at its line, never replaced.
    public static func parse(file: String, bytes: [UInt8]) throws -> ProjectFile {
        let doc = try TOMLDocument(file: file, bytes: bytes, code: .invalidProject)
        let r = TOMLReader(document: doc, table: doc.table, section: "", code: .invalidProject, allowedKeys: keys)
        try r.checkUnknownKeys()
        var result = ProjectFile(file: file)

        if let p = try r.subtable("project", allowed: projectKeys) {
            try p.checkUnknownKeys()
            result.lanes = try directory(p, "lanes", default: "lanes")
            result.markers = try directory(p, "markers", default: "markers")
        }

        if let b = try r.subtable("build", allowed: buildKeys) {
            try b.checkUnknownKeys()
            let hasCommand = b.table["command"] != nil
            if let builder = try b.optionalString("builder") {
                guard !hasCommand else {
                    throw b.fail("builder", "[build] has both `command` and `builder`",
                                 fix: "keep one: `command = [...]` runs your build, `builder = \"embedded-swift\"` is os3ctl's own kernel builder")
                }
                guard builders.contains(builder) else {
                    throw b.fail("builder", "unknown builder '\(builder)'",
                                 fix: "use `command = [\"make\"]` (any program and its arguments) to build your project; the only builder os3ctl carries is \"embedded-swift\"")
                }
                for key in ["directory", "env"] where b.table[key] != nil {
                    throw b.fail(key, "'\(key)' applies to a build `command`, not to the embedded-swift builder", fix: "remove `\(key)`")
                }
                let config = try b.string("config", required: false, default: "kernel/build.toml")
                guard !config.isEmpty, !config.hasPrefix("/") else {
                    throw b.fail("config", "config must be a path relative to the project root", fix: "e.g. config = \"kernel/build.toml\"")
                }
                result.build = .embeddedSwift(config: config, line: b.table.line(of: "builder"))
            } else {
                guard hasCommand else {
                    throw b.fail(nil, "[build] says neither how to build (`command`) nor which builder to use",
                                 fix: "add `command = [\"make\"]` (the program and its arguments; no shell unless you write one: [\"/bin/sh\", \"-c\", \"...\"]), or remove [build] if the images are built elsewhere")
                }
                if b.table["config"] != nil {
                    throw b.fail("config", "'config' applies to `builder = \"embedded-swift\"`, not to a build `command`", fix: "remove `config`")
                }
                result.build = .command(try command(b))
            }
        }

        if let t = try r.subtable("test", allowed: testKeys) {
            try t.checkUnknownKeys()
            guard t.table["command"] != nil else {
                throw t.fail(nil, "[test] has no `command`",
                             fix: "add `command = [\"make\", \"check\"]` (the program that runs your host tests and its arguments), or remove [test]")
            }
            result.test = try command(t)
        }

        if let runs = try r.subtable("runs", allowed: runsKeys) {
            try runs.checkUnknownKeys()
            guard let node = runs.table["keep-passes"] else {
                throw runs.fail(nil, "[runs] does not say how many passing runs to keep",
                                fix: "add `keep-passes = 20` (the newest passes of each lane kept by gate, stress and `os3ctl runs prune`), or remove [runs]")
            }
            guard let n = node.int else {
                throw runs.fail("keep-passes", "keep-passes must be a whole number of runs", fix: "write it without quotes, e.g. keep-passes = 20")
            }
            guard keepPassesRange.contains(n) else {
                throw runs.fail("keep-passes", "keep-passes = \(n) is out of range",
                                fix: "give \(keepPassesRange.lowerBound) (keep no passing run) to \(keepPassesRange.upperBound), e.g. keep-passes = 20")
            }
            result.retention = Retention(keepPasses: n, line: runs.table.line(of: "keep-passes"))
        }

        if let node = doc.table["images"] {
            guard let images = node.table else { throw r.fail("images", "'images' must be a table", fix: "write it as an [images] section of name = \"path\" lines") }
            let i = TOMLReader(document: doc, table: images, section: "images", code: .invalidProject, allowedKeys: images.keys)
            for name in images.keys {
                guard Lane.isValidName(name) else {
                    throw i.fail(name, "image name '\(name)' is not allowed", fix: "name images with letters, digits, '-' and '_' only (e.g. kernel, initrd, esp)")
                }
                let path = try i.string(name)
                guard !path.isEmpty, !path.contains("\u{0}") else {
                    throw i.fail(name, "image '\(name)' has an empty path", fix: "write where the build puts it, relative to the project root: \(name) = \"build/\(name).elf\"")
                }
                result.images.append(Image(name: name, path: path, line: images.line(of: name)))
            }
        }
        return result
    }

    /// `[project] lanes` / `markers`: a directory, relative to the root or absolute.
    private static func directory(_ r: TOMLReader, _ key: String, default value: String) throws -> String {
        let dir = try r.string(key, required: false, default: value)
        guard !dir.isEmpty, !dir.contains("\u{0}") else { throw r.fail(key, "'\(key)' must name a directory", fix: "e.g. \(key) = \"\(value)\"") }
        return dir
    }

    /// `command`, `directory` and `env` of [build] or [test].
    private static func command(_ r: TOMLReader) throws -> Command {
        let section = r.sectionName
        let example = section == "test" ? "[\"make\", \"check\"]" : "[\"make\", \"-C\", \"src\"]"
        guard r.table["command"]?.array != nil else {
            throw r.fail("command", "[\(section)] command must be an array of strings (the program and its arguments)",
                         fix: "write command = \(example); for a shell, write it yourself: [\"/bin/sh\", \"-c\", \"...\"]")
        }
        let argv = try r.strings("command")
        guard let program = argv.first, !program.isEmpty else {
            throw r.fail("command", "[\(section)] command is empty", fix: "name the program first: command = \(example)")
        }
        let directory = try r.string("directory", required: false, default: ".")
        guard !directory.isEmpty, !directory.hasPrefix("/") else {
            throw r.fail("directory", "[\(section)] directory must be relative to the project root", fix: "e.g. directory = \".\" or directory = \"src\"")
        }
        var environment: [String: String] = [:]
        if let node = r.table["env"] {
            guard let env = node.table else {
                throw r.fail("env", "[\(section)] env must be a table of strings", fix: "write env = { CC = \"clang\" }")
            }
            let e = TOMLReader(document: r.document, table: env, section: "\(section).env", code: r.code, allowedKeys: env.keys)
            for key in env.keys {
                guard !key.isEmpty, !key.contains("="), !key.contains("\u{0}") else {
                    throw e.fail(key, "'\(key)' is not an environment variable name", fix: "use names like CC or RUSTFLAGS")
                }
                guard let value = env[key]?.string, !value.contains("\u{0}") else {
                    throw e.fail(key, "[\(section)] env.\(key) must be a string", fix: "quote the value: \(key) = \"...\"")
                }
                environment[key] = value
            }
        }
        return Command(argv: argv, directory: directory, environment: environment, line: r.table.line(of: "command"))
    }
}
