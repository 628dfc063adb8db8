import FoundationEssentials
import Glibc
import OS3Core

/// Boots on a LAVA lab (`--backend lava --connect http://HOST:PORT/`, docs/LAVA.md): each boot
/// is a LAVA job rendered from the lane (`LAVAJob`), submitted, followed to its end, and its raw
/// console judged by os3ctl's own marker engine and verdict (`LAVAJudge`), never by LAVA's job
/// status. LAVA is spoken to through `lavacli` (Debian's, as a child process): one dependency a
/// lab's users have anyway, and no XML-RPC client in os3ctl.
public final class LAVABackend: BootBackend, @unchecked Sendable {
    /// The server, e.g. http://127.0.0.1:8787/ (its XML-RPC endpoint is URL/RPC2).
    public let url: String
    let username: String
    let token: String
    /// How long a job may wait in the lab's queue for a device, beyond its own timeout.
    public var queueAllowance: Double = 600
    private let lock = Lock()
    private var inventory: Result<[Device], OS3Error>?
    private var workers: [String: String] = [:]

    struct Device: Equatable {
        var hostname: String
        var type: String
        var health: String
        var tags: [String]
    }

    /// `token`: "USER:TOKEN", or a bare token for the user `LAVA_USER` (default "os3ctl", the local lab's).
    public init(url: String, token: String, defaultUser: String? = nil) {
        self.url = url.hasSuffix("/") ? url : url + "/"
        let t = token.lavaTrimmed
        if let colon = t.firstIndex(of: ":") {
            username = String(t[..<colon])
            self.token = String(t[t.index(after: colon)...])
        } else {
            username = defaultUser ?? environmentValue("LAVA_USER") ?? "os3ctl"
            self.token = t
        }
    }

    /// The token from `--token-file` or `$LAVA_TOKEN`; a clear error when there is none.
    public static func token(file: String?) throws -> String {
        if let file {
            guard let bytes = try InputFile.read(file, shown: file, code: .usage), !bytes.isEmpty else {
                throw OS3Error(.usage, "the LAVA token file \(file) is missing or empty", fix: "write USER:TOKEN (or the token) into it; the local lab's is in /var/tmp/os3ctl-lava-lab/token")
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        if let t = environmentValue("LAVA_TOKEN"), !t.isEmpty { return t }
        throw OS3Error(.usage, "--backend lava needs a token: none in $LAVA_TOKEN and no --token-file",
                       fix: "export LAVA_TOKEN=USER:TOKEN, or pass --token-file FILE (scripts/lava-lab env prints the local lab's)")
    }

    public var name: String { "lava \(url)" }

    public func skipReason(for lane: Lane) -> String? {
        if let why = LAVAJob.unsupported(lane) { return why }
        // A lab that cannot be asked is not a reason to skip: the boot reports it (infra-error).
        guard case .success(let devices) = devices() else { return nil }
        let usable = devices.filter { $0.type == lane.lava.deviceType && $0.health != "Retired" }
        if usable.isEmpty {
            let types = Set(devices.map(\.type)).sorted()
            return "the LAVA lab \(url) has no device of type \(lane.lava.deviceType) (lava-device-type; it has: \(types.isEmpty ? "none" : types.joined(separator: ", ")))"
        }
        if !usable.contains(where: { d in lane.lava.tags.allSatisfy(d.tags.contains) }) {
            return "no \(lane.lava.deviceType) device of the LAVA lab \(url) has the tags \(lane.lava.tags.joined(separator: ", ")) (lava-tags; theirs: \(usable.map { "\($0.hostname): [\($0.tags.joined(separator: ", "))]" }.joined(separator: "; ")))"
        }
        return nil
    }

    /// The lab's devices, asked once per process.
    func devices() -> Result<[Device], OS3Error> {
        lock.lock(); defer { lock.unlock() }
        if let inventory { return inventory }
        let result: Result<[Device], OS3Error>
        do {
            let identity = try Identity(self)
            defer { identity.remove() }
            var all: [Device] = []
            let list = try identity.lavacli(["devices", "list", "--yaml"], what: "listing the lab's devices")
            for host in Self.values(of: "hostname", in: list) {
                let show = try identity.lavacli(["devices", "show", host, "--yaml"], what: "asking for device \(host)")
                all.append(Device(hostname: host, type: Self.value(of: "device_type", in: show) ?? "?",
                                  health: Self.value(of: "health", in: show) ?? "?", tags: Self.list(of: "tags", in: show)))
                if let worker = Self.value(of: "worker", in: show) { workers[host] = worker }
            }
            result = .success(all)
        } catch let error as OS3Error {
            result = .failure(error)
        } catch {
            result = .failure(OS3Error(.io, "\(error)"))
        }
        inventory = result
        return result
    }

    /// Why the lab cannot be used (it does not answer, or has no device), or nil.
    public func labProblem() -> String? {
        switch devices() {
        case .failure(let e): return e.message
        case .success(let d) where d.isEmpty: return "it has no devices"
        case .success: return nil
        }
    }

    /// What LAVA says of job `id`: its state and health (`lavacli jobs show`), or nil when it
    /// cannot be asked.
    public func jobStatus(_ id: String) -> (state: String, health: String)? {
        guard let identity = try? Identity(self) else { return nil }
        defer { identity.remove() }
        guard let show = try? identity.lavacli(["jobs", "show", id, "--yaml"], what: "asking for job \(id)", cancellation: .after(30)) else { return nil }
        return (Self.value(of: "state", in: show) ?? "?", Self.value(of: "health", in: show) ?? "?")
    }

    func worker(of device: String) -> String? {
        _ = devices()
        lock.lock(); defer { lock.unlock() }
        return workers[device]
    }

    public func boot(_ invocation: QemuInvocation, markers: MarkerSet, state: StateDirectory,
                     onEvent: @Sendable (BootEvent) -> Void) throws -> RunRecord {
        let lane = invocation.lane
        let dir = try state.makeRunDirectory(label: lane.name)
        let serialPath = "\(dir)/serial.log"
        let startedAt = iso8601.string(from: Date())
        let start = Clock.now
        _ = Interrupts.install()
        let events = LAVAEvents(path: "\(dir)/events.log", start: start)

        func record(_ outcome: LAVAJudge.Outcome, jobURL: String?, device: String?) -> RunRecord {
            let console = Path.exists(serialPath) ? nil : ""
            if let console { try? writeFile(serialPath, console) }
            let o = outcome.observation
            var host = name
            if let device { host = "lava \(device)" + (worker(of: device).map { "@\($0)" } ?? "") }
            let r = RunRecord(lane: lane.name, laneFile: lane.file, kernel: invocation.kernel, argv: [],
                              kernelCommandLine: invocation.kernelCommandLine, runDirectory: dir, serialLog: serialPath,
                              startedAt: startedAt, duration: Clock.now - start, verdict: outcome.verdict, end: o.end,
                              markers: o.hits.values.sorted { ($0.line, $0.time) < ($1.line, $1.time) },
                              requiredCount: markers.required.count, consoleBytes: o.consoleBytes,
                              backend: host, domain: jobURL)
            return BootEnd.save(r, evidenceLost: false)
        }
        func failed(_ why: String, jobURL: String? = nil) -> RunRecord {
            events.note("failed: \(why)")
            let empty = LAVALog.Console(startTime: nil, lines: [], end: nil, endTime: nil, lavaTimeout: nil, lavaErrors: [])
            return record(LAVAJudge.judge(empty, lane: lane, markers: markers, jobError: why), jobURL: jobURL, device: nil)
        }

        // 1. The job, rendered from the lane, kept in the run directory.
        if let why = LAVAJob.unsupported(lane, markers: markers) {
            let r = RunRecord(lane: lane.name, laneFile: lane.file, kernel: invocation.kernel, argv: [], kernelCommandLine: invocation.kernelCommandLine,
                              runDirectory: dir, serialLog: "", startedAt: startedAt, duration: 0, verdict: .skipped(why), end: nil,
                              markers: [], requiredCount: markers.required.count, consoleBytes: 0, backend: name)
            return BootEnd.save(r, evidenceLost: false)
        }
        let yaml: String
        do {
            yaml = try LAVAJob(invocation: invocation, kernelURL: "file://" + absolutePath(invocation.kernel),
                               initrdURL: Self.initrd(invocation).map { "file://" + absolutePath($0) },
                               jobName: "os3ctl \(lane.name)", markers: markers).render()
        } catch let error as OS3Error {
            return failed(error.message)
        }
        try writeFile("\(dir)/job.yaml", yaml)

        // 2. Submitted.
        let identity: Identity
        do { identity = try Identity(self) } catch let error as OS3Error { return failed(error.message) }
        defer { identity.remove() }
        let id: String
        do {
            id = try identity.lavacli(["jobs", "submit", "\(dir)/job.yaml"], what: "submitting the job").lavaTrimmed
        } catch let error as OS3Error {
            return failed(error.message)
        }
        guard !id.isEmpty, id.allSatisfy({ $0.isNumber || $0 == "." }) else { return failed("lavacli jobs submit gave no job id: \(id)") }
        // If os3ctl dies from here on (SIGKILL included), the job is cancelled all the same.
        let watchdog = LAVAJobWatchdog(jobID: id, identityDirectory: identity.directory)
        defer { watchdog?.release() }
        if watchdog == nil { events.note("no watcher for job \(id): it runs to LAVA's own timeout if os3ctl is killed") }
        let jobURL = "\(url)scheduler/job/\(id)"
        try writeFile("\(dir)/lava-job.txt", "id: \(id)\nurl: \(jobURL)\n")
        events.note("submitted job \(id): \(jobURL)")
        onEvent(.started(pid: 0, runDirectory: dir, markers: markers))

        // 3. Followed to its end (the raw log, as it grows, into the run directory), within the
        //    queue allowance plus the job's own timeout; an interrupt or the deadline cancels it.
        let rawPath = "\(dir)/lava-log.yaml"
        let deadline = queueAllowance + lane.totalTimeout + Double(LAVAJob.overheadSeconds)
        var stopReason: StopReason?
        do {
            _ = try identity.lavacli(["jobs", "logs", "--raw", "--polling", "1", id], what: "following job \(id)",
                                     into: rawPath, cancellation: .after(deadline))
        } catch let error as OS3Error {
            stopReason = error.code == .interrupted ? .interrupted : .totalTimeout
            events.note("cancelling job \(id): \(error.message)")
            _ = try? identity.lavacli(["jobs", "cancel", id], what: "cancelling job \(id)", cancellation: .after(30), ignoringInterrupts: true)
            // What LAVA logged until it stopped the job.
            _ = try? identity.lavacli(["jobs", "wait", "--polling", "1", id], what: "waiting for job \(id) to end", cancellation: .after(30), ignoringInterrupts: true)
            _ = try? identity.lavacli(["jobs", "logs", "--raw", "--no-follow", id], what: "fetching job \(id)'s log", into: rawPath,
                                      cancellation: .after(30), ignoringInterrupts: true)
        }
        let show = (try? identity.lavacli(["jobs", "show", id, "--yaml"], what: "asking for job \(id)", cancellation: .after(30), ignoringInterrupts: true)) ?? ""
        let device = Self.value(of: "device", in: show).flatMap { $0 == "null" ? nil : $0 }
        let failure = Self.value(of: "failure_comment", in: show).flatMap { $0 == "null" ? nil : $0 }
        events.note("job \(id) ended: health \(Self.value(of: "health", in: show) ?? "?") on \(device ?? "no device")\(failure.map { ": \($0)" } ?? "")")

        // 4. The console, unescaped, and os3ctl's verdict on it.
        let raw = (try? InputFile.read(rawPath, shown: rawPath, code: .io)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let console = LAVALog(raw: raw).console
        try writeFile(serialPath, console.text)
        var outcome = LAVAJudge.judge(console, lane: lane, markers: markers, jobError: failure)
        if let stopReason {
            // os3ctl stopped the job itself: its reason decides, with what the console showed.
            outcome.observation = BootObservation(end: nil, stopReason: stopReason, matcher: outcome.matcher)
            outcome.verdict = Verdict.judge(outcome.observation, markers: markers, success: lane.success,
                                            idleTimeout: lane.idleTimeout, totalTimeout: deadline)
            if stopReason == .totalTimeout {
                outcome.verdict = Verdict(kind: .infraError, detail: "LAVA job \(id) did not end within \(Int(deadline)) s (queue and job); os3ctl cancelled it",
                                          missing: outcome.verdict.missing, evidence: .lavaJob)
            }
        }
        if !console.text.isEmpty { onEvent(.console(Data(console.text.utf8))) }
        for hit in outcome.observation.hits.values.sorted(by: { $0.line < $1.line }) { onEvent(.marker(hit)) }
        if let hit = outcome.observation.forbidden { onEvent(.forbidden(hit)) }
        return record(outcome, jobURL: jobURL, device: device)
    }

    static func initrd(_ invocation: QemuInvocation) -> String? {
        if case .kernel(_, let initrd) = invocation.boot { return initrd }
        return nil
    }

    // Reading lavacli's YAML (flat `key: value` lines and `- {…, key: value, …}` items): enough
    // for the few fields os3ctl reads, without a YAML library.
    static func value(of key: String, in yaml: String) -> String? {
        for line in yaml.split(separator: "\n") where line.hasPrefix("\(key): ") {
            return String(line.dropFirst(key.count + 2)).lavaTrimmed
        }
        return nil
    }

    static func list(of key: String, in yaml: String) -> [String] {
        guard let v = value(of: key, in: yaml), v.hasPrefix("["), v.hasSuffix("]") else { return [] }
        return v.dropFirst().dropLast().split(separator: ",").map { $0.lavaTrimmed }.filter { !$0.isEmpty }
    }

    static func values(of key: String, in yaml: String) -> [String] {
        // `- {current_job: null, health: Good, hostname: qemu-01, …}` (one item may wrap onto the next line).
        let flat = yaml.split(separator: "\n").joined(separator: " ")
        var out: [String] = []
        for field in flat.split(whereSeparator: { $0 == "," || $0 == "{" || $0 == "}" }) {
            let f = field.lavaTrimmed
            if f.hasPrefix("\(key): ") { out.append(String(f.dropFirst(key.count + 2)).lavaTrimmed) }
        }
        return out
    }
}

/// lavacli with a private identity: the token goes into a configuration file only os3ctl can read
/// (never on a command line other users can see), removed after use.
struct Identity {
    let directory: String

    init(_ backend: LAVABackend) throws {
        var template = Array("\(Path.temporaryDirectory)os3ctl-lavacli-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw OS3Error(.io, "cannot create a private directory for lavacli's identity: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        let config = """
        default:
          uri: \(JSONText.string(backend.url + "RPC2").pretty)
          username: \(JSONText.string(backend.username).pretty)
          token: \(JSONText.string(backend.token).pretty)

        """
        try writeAtomically("\(directory)/lavacli.yaml", config, mode: 0o600)
    }

    func remove() {
        unlink("\(directory)/lavacli.yaml")
        rmdir(directory)
    }

    /// Runs `lavacli ARGS` and returns its output (or writes it to `into`); throws with lavacli's
    /// own words when it fails, and stops it on an interrupt or at the deadline.
    @discardableResult
    func lavacli(_ args: [String], what: String, into path: String? = nil, cancellation: Cancellation = .after(60),
                 ignoringInterrupts: Bool = false) throws -> String {
        guard resolveExecutable("lavacli") != nil else {
            throw OS3Error(.toolMissing, "lavacli is not installed (os3ctl talks to LAVA through it)", fix: "apt-get install lavacli (scripts/lava-lab start installs it)")
        }
        let outPath = path ?? "\(directory)/out"
        let errPath = "\(directory)/err"
        let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if out >= 0 { close(out) }; if err >= 0 { close(err) } }
        guard out >= 0, err >= 0 else { throw OS3Error(.io, "cannot create \(outPath): \(String(cString: strerror(errno)))") }
        var env = ProcessInfo.processInfo.environment
        env["XDG_CONFIG_HOME"] = directory
        let child = try ChildProcess.spawn(["lavacli"] + args, stdout: out, stderr: err, environment: env)
        let end: ProcessEnd
        if ignoringInterrupts {
            // Clean-up after an interrupt (cancelling the job) must still run: bounded by its deadline only.
            guard let e = child.wait(upTo: max(0, (cancellation.deadline ?? Clock.now + 30) - Clock.now)) else {
                child.terminate()
                throw OS3Error(.io, "\(what): lavacli did not finish in time")
            }
            end = e
        } else {
            end = try child.wait(what: "lavacli (\(what))", cancellation: cancellation)
        }
        let errText = (try? InputFile.read(errPath, shown: errPath, code: .io)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let outText = path == nil ? ((try? InputFile.read(outPath, shown: outPath, code: .io)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? "") : ""
        guard end == .exited(0) else {
            let said = errText.split(separator: "\n").suffix(2).joined(separator: " / ")
            throw OS3Error(.io, "\(what): lavacli failed (\(end)): \(said.isEmpty ? outText : said)",
                           fix: "check the LAVA server (scripts/lava-lab status for the local lab), the URL and the token")
        }
        return outText
    }
}

/// The run's `events.log`: what os3ctl asked of LAVA and when.
struct LAVAEvents {
    let path: String
    let start: Double
    func note(_ text: String) {
        let ms = Int(((Clock.now - start) * 1000).rounded())
        let line = "\(ms / 1000).\(String(ms % 1000).leftPaddedZeros(3)) lava \(text)\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        try? writeAll(fd, Array(line.utf8))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines.
    var lavaTrimmed: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension String {
    func leftPaddedZeros(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
