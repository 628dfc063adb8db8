import FoundationEssentials
import Glibc
import OS3Core

/// The os3 checkout: `lanes/`, `markers/`, `kernel/`. Found from `--project`, `$OS3_PROJECT`, or
/// by walking up from the current directory.
public struct Project: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public static func locate(explicit: String?, environment: [String: String]? = nil) throws -> Project {
        if let dir = explicit ?? (environment.map { $0["OS3_PROJECT"] } ?? environmentValue("OS3_PROJECT")) {
            let abs = absolutePath(dir)
            guard Path.exists("\(abs)/lanes") else {
                throw OS3Error(.notFound, "\(abs) has no lanes/ directory", fix: "point --project at the root of an os3 checkout")
            }
            return Project(root: abs)
        }
        var dir = Path.currentDirectory
        while true {
            if Path.exists("\(dir)/lanes"), Path.exists("\(dir)/markers") {
                return Project(root: dir)
            }
            let parent = Path.directory(dir)
            if parent == dir || parent.isEmpty { break }
            dir = parent
        }
        throw OS3Error(.notFound, "not inside an os3 checkout (no lanes/ and markers/ found upwards from \(Path.currentDirectory))",
                       fix: "cd into the repository, or pass --project DIR (or set OS3_PROJECT)")
    }

    public var lanesDirectory: String { "\(root)/lanes" }
    public var markersDirectory: String { "\(root)/markers" }
    public var kernelDirectory: String { "\(root)/kernel" }
    /// Build outputs stay under .build (ignored by git).
    public var buildDirectory: String { "\(root)/.build/os3" }
    /// The kernel image `os3ctl build` produces.
    public var kernelImage: String { "\(buildDirectory)/kernel/os3.elf" }

    /// Lane names, sorted. A lanes/ that cannot be listed is an error, not an empty list.
    public func laneNames() throws -> [String] {
        guard let d = opendir(lanesDirectory) else {
            throw OS3Error(.notFound, "cannot list \(relative(lanesDirectory))/: \(String(cString: strerror(errno)))",
                           fix: "make the directory readable, or point --project at another checkout")
        }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".toml") && !name.hasPrefix(".") { names.append(String(name.dropLast(5))) }
        }
        return names.sorted()
    }

    public func loadLane(_ name: String) throws -> Lane {
        // Checked before the name becomes a path: `--lane ../x` must not read a file outside lanes/.
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), name.utf8.count <= 250 else {
            throw OS3Error(.notFound, "'\(excerpt(name))' is not a lane name", fix: "give the name of a file in lanes/ without .toml, e.g. --lane tiny")
        }
        let file = "\(lanesDirectory)/\(name).toml"
        guard let bytes = try InputFile.read(file, shown: relative(file), code: .invalidLane) else {
            let known = (try? laneNames()) ?? []
            throw OS3Error(.notFound, "no lane named '\(excerpt(name))' (looked for \(relative(file)))",
                           fix: known.isEmpty ? "add a lane file in lanes/ (docs/FORMATS.md)" : "known lanes: \(known.joined(separator: ", "))")
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

    /// A path relative to the project root, for messages.
    public func relative(_ path: String) -> String {
        path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }
}

public func absolutePath(_ path: String) -> String {
    let p = path.hasPrefix("/") ? path : "\(Path.currentDirectory)/\(path)"
    return Path.standardize(p)
}
