/// A LAVA job definition rendered from the same boot values that render QEMU's argv and libvirt's
/// domain XML (docs/LAVA.md), so a lane means the same on a LAVA lab: the QEMU arguments are the
/// argv `QemuInvocation` gives, minus what LAVA's qemu device-type template adds itself (the
/// binary, `-m`, the console on stdio) and minus what only os3ctl's own QEMU has (the QMP socket).
/// The job's monitor reads the console from the device's QEMU wrapper's first line
/// (`os3ctl-qemu-start`) to its last (`os3ctl-qemu-exit=N`), which LAVA cannot give itself.
public struct LAVAJob: Sendable, Equatable {
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

    public init(invocation: QemuInvocation, kernelURL: String, initrdURL: String? = nil, jobName: String) {
        self.invocation = invocation
        self.kernelURL = kernelURL
        self.initrdURL = initrdURL
        self.jobName = jobName
    }

    /// Why a lane cannot become a LAVA job (nil: it can).
    public static func unsupported(_ lane: Lane) -> String? {
        guard case .kernel = lane.boot else {
            return "boots with [boot] method \"\(lane.boot.name.rawValue)\"; os3ctl's LAVA jobs deploy a kernel (and initrd) only"
        }
        if lane.consoleInput != nil {
            return "types into the console ([console-input]); os3ctl's LAVA jobs only read the console (LAVA types whole lines and echoes them)"
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
