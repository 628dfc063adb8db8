import FoundationEssentials
import Glibc
import OS3Core

/// A project os3ctl gates: a directory with `os3ctl.toml` (how it is built and tested, which images
/// it produces), its lanes and its markers. Found from `--project`, `$OS3_PROJECT`, or by walking up
/// from the current directory to the first directory with an `os3ctl.toml`.
public struct Project: Sendable {
    public let root: String
    /// The parsed `os3ctl.toml` (the defaults when made with `init(root:)` alone).
    public let file: ProjectFile

    public init(root: String, file: ProjectFile = ProjectFile()) {
        self.root = root
        self.file = file
    }

    /// The project at `root`, from its `os3ctl.toml`.
    public static func load(root: String) throws -> Project {
        let path = "\(root)/\(ProjectFile.fileName)"
        guard Path.exists(root) else {
            throw OS3Error(.notFound, "\(root) does not exist", fix: "point --project (or OS3_PROJECT) at the project's root, the directory with \(ProjectFile.fileName)")
        }
        let shown = Path.shown(path)
        guard let bytes = try InputFile.read(path, shown: shown, code: .invalidProject) else {
            throw missingProjectFile(root)
        }
        return Project(root: root, file: try ProjectFile.parse(file: shown, bytes: bytes))
    }

    public static func locate(explicit: String?, environment: [String: String]? = nil) throws -> Project {
        if let dir = explicit ?? (environment.map { $0["OS3_PROJECT"] } ?? environmentValue("OS3_PROJECT")) {
            return try load(root: absolutePath(dir))
        }
        // The first directory upwards that is a project; one with lanes/ and markers/ but no
        // os3ctl.toml stops the walk too (an enclosing project is not what the user meant).
        var dir = Path.currentDirectory
        while true {
            if Path.exists("\(dir)/\(ProjectFile.fileName)") || (Path.exists("\(dir)/lanes") && Path.exists("\(dir)/markers")) {
                return try load(root: dir)
            }
            let parent = Path.directory(dir)
            if parent == dir || parent.isEmpty { break }
            dir = parent
        }
        throw OS3Error(.notFound, "not inside an os3ctl project (no \(ProjectFile.fileName) found upwards from \(Path.currentDirectory))",
                       fix: "cd into the project, pass --project DIR (or set OS3_PROJECT), or start one here with `os3ctl init`")
    }

    /// What to say when `root` has no project file: what to write, and how to start one.
    static func missingProjectFile(_ root: String) -> OS3Error {
        let hasLanes = Path.exists("\(root)/lanes") && Path.exists("\(root)/markers")
        let what = hasLanes ? "\(root) has lanes/ and markers/ but no \(ProjectFile.fileName)" : "\(root) has no \(ProjectFile.fileName)"
        return OS3Error(.notFound, "\(what): the project file says how the project is built and which images its lanes boot",
                        fix: """
                        run `os3ctl init --project \(root)` (it writes a commented \(ProjectFile.fileName) and keeps existing lanes/ and markers/), \
                        or write \(root)/\(ProjectFile.fileName) yourself, e.g.
                            [build]
                            command = ["make"]
                            [images]
                            kernel = "build/kernel.elf"
                          (docs/FORMATS.md, "The project file")
                        """)
    }

    public var projectFilePath: String { "\(root)/\(ProjectFile.fileName)" }
    public var lanesDirectory: String { absolute(file.lanes) }
    public var markersDirectory: String { absolute(file.markers) }
    /// The embedded-swift builder's config (`[build] config`, default kernel/build.toml).
    public var kernelBuildConfig: String {
        if case .embeddedSwift(let config, _) = file.build { return absolute(config) }
        return "\(root)/kernel/build.toml"
    }
    /// The Embedded-Swift kernel's sources: the directory of its build config.
    public var kernelDirectory: String { Path.directory(kernelBuildConfig) }
    /// Build outputs stay under .build (ignored by git).
    public var buildDirectory: String { "\(root)/.build/os3" }
    /// The image a lane boots when it names none (see `defaultImage()`); where the embedded-swift
    /// builder writes it when the project file names none.
    public var kernelImage: String { (try? defaultImage()) ?? "\(buildDirectory)/kernel/os3.elf" }

    /// A value naming an `[images]` entry is that image's absolute path; otherwise it is a path
    /// relative to the project root (or absolute).
    public func resolveImage(_ nameOrPath: String) throws -> String {
        guard !nameOrPath.isEmpty else {
            throw OS3Error(.usage, "an empty image name", fix: "name an image from [images] in \(file.file), or give a path")
        }
        if let image = file.image(named: nameOrPath) { return absolute(image.path) }
        return absolute(nameOrPath)
    }

    /// The image a lane boots when it names none: `[images] kernel`, else the only image.
    public func defaultImage() throws -> String {
        if let image = file.defaultImage { return absolute(image.path) }
        let names = file.images.map(\.name)
        throw OS3Error(.invalidProject, names.isEmpty ? "\(file.file) names no image to boot" : "\(file.file) names several images and none is called 'kernel'",
                       file: file.file,
                       fix: names.isEmpty ? "add an [images] section: kernel = \"path/where/the/build/writes/it\" (or pass --kernel PATH)"
                                          : "call the one lanes boot by default `kernel` (images: \(names.joined(separator: ", ")))")
    }

    /// The images a lane boots (absolute paths), as the build must have left them.
    /// Firmware (absolute paths the lane names, e.g. OVMF) is not the build's and is not listed:
    /// a missing firmware file skips the lane (HostProbe) rather than failing the build.
    public func images(for lane: Lane) throws -> [String] {
        switch lane.boot {
        case .kernel(let image, let initrd):
            return [try image.map { try resolveLaneImage($0, lane: lane) } ?? defaultImage()]
                + (try initrd.map { [try resolveLaneImage($0, lane: lane)] } ?? [])
        case .uefi(_, _, let esp):
            return try esp.map { [try resolveLaneImage($0.path, lane: lane)] } ?? []
        case .disk(let image), .cdrom(let image):
            return [try resolveLaneImage(image, lane: lane)]
        }
    }

    /// After a build: every image the lanes use exists, or a clear error says which is missing.
    public func checkImages(for lanes: [Lane]) throws {
        var checked: Set<String> = []
        for lane in lanes {
            for image in try images(for: lane) where checked.insert(image).inserted && !Path.exists(image) {
                let entry = file.images.first { absolute($0.path) == image }
                throw OS3Error(.buildFailed, "image \(relative(image))\(entry.map { " ('\($0.name)' in \(file.file))" } ?? "") does not exist, and lane '\(lane.name)' boots it",
                               file: entry.map { _ in file.file }, line: entry?.line,
                               fix: file.build == nil ? "build it (\(file.file) has no [build] section), fix the path, or pass --kernel PATH"
                                                      : "make the [build] command write it there, or fix the path in [images]")
            }
        }
    }

    /// `path` made absolute against the project root.
    public func absolute(_ path: String) -> String {
        Path.standardize(path.hasPrefix("/") ? path : "\(root)/\(path)")
    }

    /// Lane names, sorted. A lanes/ that cannot be listed is an error, not an empty list.
    public func laneNames() throws -> [String] {
        guard let entries = Path.entries(lanesDirectory) else {
            throw OS3Error(.notFound, "cannot list \(relative(lanesDirectory))/: \(String(cString: strerror(errno)))",
                           fix: "make the directory readable, or point --project at another checkout")
        }
        return entries.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func loadLane(_ name: String) throws -> Lane {
        // Checked before the name becomes a path: `--lane ../x` must not read a file outside lanes/.
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), name.utf8.count <= 250 else {
            throw OS3Error(.notFound, "'\(excerpt(name))' is not a lane name", fix: "give the name of a file in lanes/ without .toml, e.g. --lane tiny")
        }
        let file = "\(lanesDirectory)/\(name).toml"
        guard let bytes = try InputFile.read(file, shown: relative(file), code: .invalidLane) else {
            let known = (try? laneNames()) ?? []
            let guess = Suggestions.closest(to: name, among: known).map { "did you mean '\($0)'? " } ?? ""
            throw OS3Error(.notFound, "no lane named '\(excerpt(name))' (looked for \(relative(file)))",
                           fix: known.isEmpty ? "add a lane file in lanes/ (docs/FORMATS.md)" : "\(guess)known lanes: \(known.joined(separator: ", "))")
        }
        return try Lane.parse(name: name, file: relative(file), bytes: bytes)
    }

    public func loadLanes() throws -> [Lane] {
        let names = try laneNames()
        guard !names.isEmpty else { throw OS3Error(.notFound, "no lane files in \(relative(lanesDirectory))", fix: "add lanes/NAME.toml (docs/FORMATS.md)") }
        return try names.map(loadLane)
    }

    /// The merged marker set a lane requires.
    public func markers(for lane: Lane) throws -> MarkerSet {
        var sets: [MarkerSet] = []
        for name in lane.markerFiles {
            let file = "\(markersDirectory)/\(name).toml"
            guard let bytes = try InputFile.read(file, shown: relative(file), code: .invalidMarkers) else {
                throw OS3Error(.invalidLane, "lane '\(lane.name)' requires marker file '\(name)', which does not exist (\(relative(file)))",
                               file: lane.file, line: nil, fix: "create \(relative(file)) or fix the `markers` list")
            }
            sets.append(try MarkerSet.parse(file: relative(file), bytes: bytes))
        }
        let merged = try MarkerSet.merging(sets)
        if let after = lane.consoleInput?.after, !merged.required.contains(where: { $0.id == after }) {
            throw OS3Error(.invalidLane, "console-input waits for marker '\(after)', which none of the lane's marker files defines",
                           file: lane.file, fix: "use the id of a required marker from: \(lane.markerFiles.joined(separator: ", "))")
        }
        return merged
    }

    /// A path of the project for messages, as the user can open it from where they stand: relative
    /// to the current directory when under it (lanes/tiny.toml from the root), else absolute.
    public func relative(_ path: String) -> String { Path.shown(path) }
}

public func absolutePath(_ path: String) -> String {
    let p = path.hasPrefix("/") ? path : "\(Path.currentDirectory)/\(path)"
    return Path.standardize(p)
}
