/// Everything `os3ctl boot` was asked for, as plain values: what `BootCommand` (ArgumentParser)
/// parses, and what `BootRequest.plain(_:)` reads from the common command lines without it.
struct BootRequest: Equatable {
    var project: String?
    var stateDir: String?
    var kernel: String?
    var qemu: String?
    var append = ""
    var lane = "kvm"
    var timeout: Double?
    var idleTimeout: Double?
    var serial = false
    var json = false
    var backend: BackendOptions.Kind?
    var connect: [String] = []
    var tokenFile: String?
    var color: ColorChoice = .auto
    var quiet = false
    var verbose = false
    /// Options the plain reading leaves to ArgumentParser (it returns nil when it meets them).
    var jsonFile: String?
    var hog = 0
    var load = "cpu"

    /// The request for `boot` followed only by the options below, each at most once, as
    /// `--name value` or `--name=value`, no value empty or starting with "-", the timeouts numbers
    /// `NumericOptions` accepts; nil for anything else (help, another option, a repeat, a doubtful value),
    /// which ArgumentParser then parses, with its own words for any error.
    ///
    /// Why: ArgumentParser builds its view of every option by reflection, and that was about half of
    /// os3ctl's CPU time in a boot — on the critical path, and competing with a TCG guest for this
    /// machine's two cores (issue 2: os3ctl may add at most 5% to QEMU by hand; docs/BENCHMARKS.md).
    /// Tests/OS3CommandsTests checks on thousands of generated command lines that whenever this
    /// reads one, ArgumentParser reads it the same way.
    static func plain(_ arguments: [String]) -> BootRequest? {
        guard arguments.first == "boot" else { return nil }
        var request = BootRequest()
        var seen: [String] = []  // a plain array: the first Set would cost more than it saves here
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("--") else { return nil }
            var name = argument
            var value: String?
            if let eq = argument.firstIndex(of: "=") {
                name = String(argument[..<eq])
                value = String(argument[argument.index(after: eq)...])
            }
            guard !seen.contains(name) else { return nil }
            seen.append(name)
            if ["--serial", "--json", "--quiet", "--verbose"].contains(name) {
                guard value == nil else { return nil }
                switch name {
                case "--serial": request.serial = true
                case "--json": request.json = true
                case "--quiet": request.quiet = true
                default: request.verbose = true
                }
                // Both is ArgumentParser's error to report.
                if request.quiet && request.verbose { return nil }
                continue
            }
            guard let given = value ?? rest.popFirst(), !given.isEmpty, !given.hasPrefix("-") else { return nil }
            switch name {
            case "--lane": request.lane = given
            case "--kernel": request.kernel = given
            case "--qemu": request.qemu = given
            case "--append": request.append = given
            case "--project": request.project = given
            case "--state-dir": request.stateDir = given
            case "--color":
                guard let choice = ColorChoice(rawValue: given) else { return nil }
                request.color = choice
            case "--timeout", "--idle-timeout":
                guard let seconds = Double(given), NumericOptions.secondsProblem(seconds) == nil else { return nil }
                if name == "--timeout" { request.timeout = seconds } else { request.idleTimeout = seconds }
            default: return nil
            }
        }
        return request
    }
}
