import ArgumentParser
import OS3Core
import OS3Runner

/// Shell completion of lane names: the completion scripts call os3ctl itself when TAB is pressed
/// (ArgumentParser's `---completion`), and this lists the lanes of the project the command line
/// would use (its --project, else $OS3_PROJECT, else the one found upwards).
enum LaneNames {
    static let completion = CompletionKind.custom { words, _, prefix in names(words: words, prefix: prefix) }

    /// The lanes starting with `prefix`; none (and no error) outside a project.
    static func names(words: [String], prefix: String) -> [String] {
        let project = projectArgument(words)
        guard let names = try? Project.locate(explicit: project).laneNames() else { return [] }
        return names.filter { $0.hasPrefix(prefix) }
    }

    /// The value of `--project DIR` or `--project=DIR` among the shell words, if any.
    static func projectArgument(_ words: [String]) -> String? {
        for (i, word) in words.enumerated() {
            if word.hasPrefix("--project=") { return String(word.dropFirst("--project=".count)) }
            if word == "--project", i + 1 < words.count { return words[i + 1] }
        }
        return nil
    }
}

/// What a command whose lane is an option (`--lane`) makes of a word without one (`boot kvm`):
/// an error that says how to write it, instead of ArgumentParser's bare "Unexpected argument".
struct LaneAsArgument: ParsableArguments {
    @Argument(help: .hidden)
    var words: [String] = []

    func validate() throws {
        guard let word = words.first else { return }
        // After `--` an option's name is a word too; it is no lane.
        if word.hasPrefix("-") { throw ValidationError("unexpected argument '\(word)'") }
        if word.contains("/") {
            throw ValidationError("unexpected argument '\(word)': to boot a kernel image, write --kernel \(word) (and the lane as --lane NAME)")
        }
        throw ValidationError("unexpected argument '\(word)': the lane is an option: write --lane \(word)")
    }
}
