import Foundation
import PackagePlugin

/// `os3ctl --version` names the commit it was built from: before every build, `git describe` of
/// the package's checkout is written to `buildCommit` in a Swift file compiled into the
/// executable. The file is replaced only when the commit (or its -dirty mark) changed, so an
/// unchanged checkout recompiles nothing. Without git, or outside a checkout (a source tarball),
/// the commit is "unknown" — never a guess.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let work = context.pluginWorkDirectoryURL
        let output = work.appendingPathComponent("commit")
        let script = #"""
        out="$2/commit"; mkdir -p "$out"
        commit=$(git -C "$1" describe --always --dirty --abbrev=12 2>/dev/null) || commit=unknown
        printf '// Generated before each build by Plugins/BuildCommit: the commit os3ctl is built from.\nlet buildCommit = "%s"\n' "$commit" > "$2/commit.swift.new"
        if cmp -s "$2/commit.swift.new" "$out/BuildCommit.swift"; then rm -f "$2/commit.swift.new"; else mv "$2/commit.swift.new" "$out/BuildCommit.swift"; fi
        """#
        return [.prebuildCommand(displayName: "os3ctl: the commit being built",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "sh", context.package.directoryURL.path, work.path],
                                 outputFilesDirectory: output)]
    }
}
