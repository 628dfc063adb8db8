/// A LAVA job definition rendered from the same boot values that render QEMU's argv and libvirt's
/// domain XML (docs/LAVA.md), so a lane means the same on a LAVA lab: the QEMU arguments are the
/// argv `QemuInvocation` gives, minus what LAVA's qemu device-type template adds itself (the
/// binary, `-m`, the console on stdio) and minus what only os3ctl's own QEMU has (the QMP socket).
/// The job's monitor reads the console from the device's QEMU wrapper's first line
/// (`os3ctl-qemu-start`) to its last (`os3ctl-qemu-exit=N`), which LAVA cannot give itself.
public struct LAVAJob: Sendable {
    /// What the device type's QEMU wrapper prints before it starts QEMU, and after QEMU ended.
    public static let startLine = "os3ctl-qemu-start"
    public static let exitPrefix = "os3ctl-qemu-exit="
    public static let signalPrefix = "os3ctl-qemu-signal="
    /// Seconds LAVA gets beyond the lane's total timeout for deploying and starting (its job timeout).
    public static let overheadSeconds = 120

    public var invocation: QemuInvocation
    /// Where the worker downloads the kernel and initrd from (file:// for a lab on this host).
    public var kernelURL: String
    public var initrdURL: String?
    public var jobName: String
    /// The lane's `[console-input]`: typed by a LAVA interactive test once `prompt` (a Python regex:
    /// the `after` marker's text, escaped) has appeared; LAVA adds a newline to what it types.
    public var consoleInput: (prompt: String, text: String)?

    public init(invocation: QemuInvocation, kernelURL: String, initrdURL: String? = nil, jobName: String, markers: MarkerSet? = nil) {
        self.invocation = invocation
        self.kernelURL = kernelURL
        self.initrdURL = initrdURL
        self.jobName = jobName
        if let input = invocation.lane.consoleInput {
            let after = input.after.flatMap { id in markers?.required.first { $0.id == id } }
            if case .literal(let text)? = after?.pattern {
                consoleInput = (Self.pythonRegexEscaped(text), input.text)
            } else if input.after == nil {
                consoleInput = (Self.pythonRegexEscaped(Self.startLine), input.text)
            }
        }
    }

    /// A literal as a Python regular expression (what LAVA's prompts are).
    static func pythonRegexEscaped(_ text: String) -> String {
        var out = ""
        for c in text {
            if c.isLetter || c.isNumber || c == " " || c == "_" { out.append(c) } else { out += "\\\(c)" }
        }
        return out
    }

    /// Why this lane cannot become a LAVA job with these markers (nil: it can).
    public static func unsupported(_ lane: Lane, markers: MarkerSet) -> String? {
        if let why = unsupported(lane) { return why }
        if let input = lane.consoleInput, let after = input.after {
            guard let marker = markers.required.first(where: { $0.id == after }), case .literal = marker.pattern else {
                return "types into the console after marker '\(after)', which is not a plain-text marker: a LAVA prompt is a Python regex, os3ctl's are its own"
            }
        }
        return nil
    }

    /// Why a lane cannot become a LAVA job (nil: it can).
    public static func unsupported(_ lane: Lane) -> String? {
        guard case .kernel = lane.boot else {
            return "boots with [boot] method \"\(lane.boot.name.rawValue)\"; os3ctl's LAVA jobs deploy a kernel (and initrd) only"
        }
        if let text = lane.consoleInput?.text, text.contains("\n") || text.contains("\r") {
            return "types a line break into the console ([console-input]); LAVA types one line, ending it itself"
        }
        if lane.success == .poweroff {
            return "passes by a clean guest poweroff, which only QEMU's QMP account tells apart from a reset; a LAVA device gives its exit code only"
        }
        return nil
    }

    /// LAVA's name for the architecture (its template picks the QEMU binary by it).
    static func lavaArch(_ arch: Arch) -> String {
        switch arch {
        case .x86_64: "amd64"
        case .aarch64: "arm64"
        case .riscv64: "riscv64"
        }
    }

    /// The QEMU options for the job's `context.extra_options`, one option with its value per item
    /// (LAVA joins them into one command line and splits it again, honouring quotes).
    public var extraOptions: [[String]] {
        var argv = invocation.replayArgv
        argv.removeFirst()  // the binary: the device type's (its QEMU wrapper)
        /// Removes `option value` wherever it occurs (exactly these words).
        func drop(_ words: [String]) {
            while let i = argv.indices.first(where: { argv.indices.contains($0 + words.count - 1) && Array(argv[$0..<$0 + words.count]) == words }) {
                argv.removeSubrange(i..<i + words.count)
            }
        }
        drop(["-m", invocation.lane.memory])                // context.memory (the template's -m)
        drop(ArchProfile.consoleArguments)                  // the template's -nographic: the console is LAVA's stdio
        drop(["-display", "none"])                          // conflicts with -nographic
        // What is booted: the job's images (image_arg), downloaded by the worker.
        drop(invocation.boot.qemuArguments(profile: invocation.lane.arch.profile, commandLine: invocation.kernelCommandLine, varsCopy: nil))
        var groups: [[String]] = []
        for word in argv {
            if word.hasPrefix("-") || groups.isEmpty || groups[groups.count - 1].count == 2 {
                groups.append([word])
            } else {
                groups[groups.count - 1].append(word)
            }
        }
        // -nodefaults leaves no serial port: the console goes to LAVA's stdio explicitly.
        groups.append(["-serial", "stdio"])
        return groups
    }

    /// A word as LAVA's command-line splitter (pexpect's) reads it back: plain, or single-quoted.
    static func quote(_ word: String) throws -> String {
        if word.contains("'") || word.contains("\\") || word.contains("\n") {
            throw OS3Error(.invalidLane, "the QEMU argument '\(excerpt(word))' cannot be passed to LAVA, which joins QEMU's arguments into one command line and splits it again",
                           fix: "avoid quotes, backslashes and newlines in the lane's qemu-args, append and image paths")
        }
        return shellQuote(word)
    }

    /// The job definition (YAML; every string as a JSON string, which YAML reads as written).
    public func render() throws -> String {
        let lane = invocation.lane
        func s(_ text: String) -> String { JSONText.string(text).pretty }
        let options = try extraOptions.map { try $0.map(Self.quote).joined(separator: " ") }
        let total = Int(lane.totalTimeout.rounded(.up))
        let kernelArg = "-kernel {kernel} -append \(try Self.quote(invocation.kernelCommandLine))"
        var y = """
        # os3ctl: lane \(lane.name) as a LAVA job (docs/LAVA.md). LAVA's own status is not the verdict:
        # os3ctl judges the console with its markers and the device's os3ctl-qemu-exit line.
        device_type: \(s(lane.lava.deviceType))
        job_name: \(s(jobName))
        visibility: public
        priority: medium

        """
        if !lane.lava.tags.isEmpty {
            y += "tags: [\(lane.lava.tags.map(s).joined(separator: ", "))]\n"
        }
        y += """
        timeouts:
          job: {seconds: \(total + Self.overheadSeconds)}
          action: {seconds: \(total + Self.overheadSeconds)}
          connection: {seconds: 10}
        context:
          arch: \(s(Self.lavaArch(lane.arch)))
          no_kvm: true
          memory: \(s(lane.memory))
          extra_options:

        """
        for option in options { y += "  - \(s(option))\n" }
        y += """
        actions:
        - deploy:
            to: tmpfs
            timeout: {seconds: 60}
            images:
              kernel: {url: \(s(kernelURL)), image_arg: \(s(kernelArg))}

        """
        if let initrdURL { y += "      initrd: {url: \(s(initrdURL)), image_arg: \(s("-initrd {initrd}"))}\n" }
        y += """
        - boot:
            method: qemu
            media: tmpfs
            timeout: {seconds: 30}
        - test:
            # The lane's total timeout: LAVA stops a guest that has not ended by then.
            timeout: {seconds: \(total)}

        """
        if let input = consoleInput {
            // LAVA types the lane's input (plus a newline) once the prompt appeared, then waits
            // for the wrapper's exit line as the monitor below would. (A test action's output is
            // not judged by LAVA's results here either: os3ctl reads the console.)
            y += """
                interactive:
                - name: os3ctl-console-input
                  prompts: [\(s(input.prompt))]
                  script:
                  # LAVA sends a command at once: a first step without one waits for the prompt.
                  - name: wait-for-prompt
                    command: null
                  - name: console-input
                    command: \(s(input.text))
                    wait_for_prompt: false
                    successes:
                    - message: \(s("os3ctl-qemu-(exit|signal)=\\d+"))

            """
            return y
        }
        y += """
            monitors:
            - name: os3ctl-qemu
              start: \(s(Self.startLine))
              end: \(s("os3ctl-qemu-(exit|signal)=\\d+"))
              pattern: \(s("os3ctl-qemu-(?P<test_case_id>exit|signal)=(?P<result>\\d+)"))
              fixupdict: {}

        """
        return y
    }
}
