import Foundation
import Testing
import OS3Core
import OS3Runner

/// Issue 17, the terminal: `boot` watched in a real terminal (tmux), at the sizes the issue was
/// filed at. A fake QEMU prints the markers slowly enough for the checklist to be redrawn.
/// Each watch runs on its own tmux server (its own socket, no config), started with no descriptor
/// of this process and killed at the end: a server that inherited the harness's pipes held every
/// test until the session's `sleep 600` ended (CI, where no server ran yet).
@Suite("Terminal view: boot's checklist in a real terminal (tmux)", .tags(.integration), .serialized)
struct TerminalViewTests {
    static let tmux = resolveExecutable("tmux")

    /// A scratch project whose lane `view` requires `count` markers with long regexes (wider than
    /// any terminal here), and a kernel image the fake QEMU never reads.
    static func project(markers count: Int) throws -> (root: String, kernel: String) {
        let dir = try Fixture.scratchProject()
        try """
        description = "for the terminal view tests"
        accelerator = "tcg"
        machine = "microvm"
        memory = "32M"
        cpus = 1
        cpu = "qemu64"
        markers = ["view"]
        [timeouts]
        total = 60
        idle = 30
        """.write(toFile: "\(dir)/lanes/view.toml", atomically: true, encoding: .utf8)
        var markers = "description = \"many markers with long patterns\"\n"
        for i in 0..<count {
            markers += "[[marker]]\nid = \"m\(i)\"\nregex = '^os3: step \(i) ok (alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron)=\\d+ .*$'\n"
        }
        try markers.write(toFile: "\(dir)/markers/view.toml", atomically: true, encoding: .utf8)
        let kernel = "\(dir)/kernel/fake.elf"
        try Fixture.writeFakeKernel(kernel)
        return (dir, kernel)
    }

    /// A fake QEMU printing the markers in reverse file order, with pauses, then `exit` (33 passes).
    /// `split`: each write ends a line and starts the next (as a UART's reads cut them).
    static func fake(markers count: Int, last: Int, exit: Int, split: Bool = false) throws -> String {
        let steps = Array((0..<count).reversed().prefix(last))
        let lines = split
            ? steps.enumerated().map { i, n in
                (i == 0 ? "printf 'os3: step \(n) '" : "printf 'ok alpha=1 tail\\nos3: step \(n) '") + "; sleep 0.05"
            } + ["printf 'ok alpha=1 tail\\n'"]
            : steps.map { "printf 'os3: step \($0) ok alpha=1 tail\\n'; sleep 0.05" }
        return try Fixture.fakeQemu("sleep 0.3\n" + lines.joined(separator: "\n") + "\nsleep 1.3\nexit \(exit)")
    }

    /// Runs `os3ctl boot` in a detached tmux session of `columns`×`rows` and returns the whole
    /// screen and scrollback (rows the terminal wrapped joined again, so a wrap shows as a long line),
    /// with escapes if `escapes`.
    static func watch(columns: Int, rows: Int, markers count: Int, seen: Int, exit: Int = 33, environment: String = "",
                      extra: String = "", escapes: Bool = false, split: Bool = false, gate: Bool = false) throws -> (text: String, status: Int32) {
        let (root, kernel) = try project(markers: count)
        let qemu = try fake(markers: count, last: seen, exit: exit, split: split)
        let session = "os3-view-\(UUID().uuidString.prefix(8))"
        let done = "\(root)/exit-status"
        let state = "\(root)/state"
        // The harness's own NO_COLOR (a test runner may set it) must not decide the "auto" case.
        let command = "env -u NO_COLOR -u CI \(environment) OS3_STATE_DIR=\(state) TERM=xterm-256color \(Fixture.binary) \(gate ? "gate --skip-host-tests" : "boot") --project \(root) --lane view " +
            "--kernel \(kernel) --qemu \(qemu) \(extra); echo $? > \(done).tmp; mv \(done).tmp \(done); sleep 600"
        // A private server (-S: its socket in the scratch project, -f /dev/null: no user config).
        // The first new-session starts it and it lives on: so the shell closes every descriptor
        // above 2 (the harness's pipes, however they were inherited) and gives it /dev/null and a
        // file, never a pipe.
        let tmux = [Self.tmux!, "-S", "\(root)/tmux.socket", "-f", "/dev/null"]
        let errors = "\(root)/tmux-start.err"
        let start = try Fixture.run("/bin/bash", ["-c", #"for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$0" "$@" </dev/null >/dev/null 2>"$ERRORS""#]
                                    + tmux + ["new-session", "-d", "-s", session, "-x", "\(columns)", "-y", "\(rows)", command],
                                    environment: ["ERRORS": errors])
        #expect(start.status == 0, "\((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")
        defer { Self.killServer(tmux) }
        // Waits for the command's end (bounded: a boot that never ends fails the test below).
        for _ in 0..<1200 where !FileManager.default.fileExists(atPath: done) { usleep(50_000) }
        let status = Int32((try? String(contentsOfFile: done, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        let capture = try Fixture.run(tmux[0], Array(tmux.dropFirst()) + ["capture-pane", "-p", "-J", "-t", session, "-S", "-", "-E", "-"] + (escapes ? ["-e"] : []),
                                      environment: [:])
        return (capture.stdout, status)
    }

    /// Ends a watch's tmux server and everything in it. kill-server alone is not enough: it sends
    /// SIGHUP, which the panes' processes inherit blocked from the test harness (they never die,
    /// and the server waits for them), so each pane's process group gets SIGKILL first.
    static func killServer(_ tmux: [String]) {
        let panes = (try? Fixture.run(tmux[0], Array(tmux.dropFirst()) + ["list-panes", "-a", "-F", "#{pane_pid}"], environment: [:]))?.stdout ?? ""
        for pid in panes.split(separator: "\n").compactMap({ Int32($0) }) where pid > 1 { kill(-pid, SIGKILL) }
        _ = try? Fixture.run(tmux[0], Array(tmux.dropFirst()) + ["kill-server"], environment: [:])
        unlink(tmux[2])
    }

    static func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test("60×40: a live checklist that holds — each marker once, in console order, no row wider than the screen, ✗ for the missing, the console's last lines",
          .enabled(if: tmux != nil, "needs tmux (installed by .ci/setup --tests)"))
    func liveChecklist() throws {
        let (text, status) = try Self.watch(columns: 60, rows: 40, markers: 12, seen: 9, exit: 33)
        #expect(status == 10, "\(text)")
        for i in 3..<12 { #expect(Self.occurrences("✓ m\(i) ", in: text) == 1, "m\(i) drawn more than once:\n\(text)") }
        for i in 0..<3 { #expect(Self.occurrences("✗ m\(i) ", in: text) == 1, "m\(i) not shown missing:\n\(text)") }
        #expect(!text.contains("marker m5 seen"), "plain lines on a terminal tall enough:\n\(text)")
        // Console order: the fake prints m11 first, m3 last.
        let first = try #require(text.range(of: "✓ m11 ")), last = try #require(text.range(of: "✓ m3 "))
        #expect(first.lowerBound < last.lowerBound)
        let checklist = text.split(separator: "\n").filter { $0.contains("✓ m") || $0.contains("✗ m") }
        #expect(checklist.count == 12)
        #expect(checklist.allSatisfy { $0.count <= 60 }, "\(checklist)")
        #expect(checklist.contains { $0.hasSuffix("…") }, "long patterns are cut, not wrapped")
        #expect(text.contains("elapsed, 9/12 markers"), "\(text)")
        #expect(text.contains("last console lines") && text.contains("os3: step 3 ok alpha=1 tail"), "\(text)")
    }

    @Test("80×24: too short for 30 markers, so plain lines — each marker once, nothing redrawn into the scrollback",
          .enabled(if: tmux != nil, "needs tmux (installed by .ci/setup --tests)"))
    func tooShortFallsBack() throws {
        let (text, status) = try Self.watch(columns: 80, rows: 24, markers: 30, seen: 30)
        #expect(status == 0, "\(text)")
        for i in 0..<30 { #expect(Self.occurrences("[view] marker m\(i) seen", in: text) == 1, "\(text)") }
        #expect(!text.contains("✓"), "no checklist on a terminal too short for it:\n\(text)")
    }

    @Test("NO_COLOR=1 and --color never print no colour; --color always does, even under NO_COLOR",
          .enabled(if: tmux != nil, "needs tmux (installed by .ci/setup --tests)"))
    func color() throws {
        let sgr = try Regex("\u{1B}\\[[0-9;]*m")
        let auto = try Self.watch(columns: 60, rows: 40, markers: 3, seen: 3, escapes: true)
        #expect(auto.text.contains(sgr), "a terminal gets colour by default:\n\(auto.text)")
        let noColor = try Self.watch(columns: 60, rows: 40, markers: 3, seen: 3, environment: "NO_COLOR=1", escapes: true)
        #expect(noColor.text.contains("✓ m0"), "\(noColor.text)")
        #expect(!noColor.text.contains(sgr), "\(noColor.text)")
        let never = try Self.watch(columns: 60, rows: 40, markers: 3, seen: 3, extra: "--color never", escapes: true)
        #expect(!never.text.contains(sgr), "\(never.text)")
        let always = try Self.watch(columns: 60, rows: 40, markers: 3, seen: 3, environment: "NO_COLOR=1", extra: "--color always", escapes: true)
        #expect(always.text.contains(sgr), "\(always.text)")
    }

    @Test("--serial: console lines are echoed whole, never cut by a progress line",
          .enabled(if: tmux != nil, "needs tmux (installed by .ci/setup --tests)"))
    func serialWholeLines() throws {
        let (text, status) = try Self.watch(columns: 200, rows: 50, markers: 8, seen: 8, extra: "--serial", split: true)
        #expect(status == 0, "\(text)")
        for line in text.split(separator: "\n") where line.contains("os3: step") {
            #expect(line.hasPrefix("os3: step") && line.hasSuffix("tail"), "a console line was cut: \(line)")
        }
        #expect(Self.occurrences("os3: step", in: text) == 8, "\(text)")
    }

    @Test("gate on a terminal: a live lane table (lane, state, markers n/m, time), each lane's result once, the final table cut to the width",
          .enabled(if: tmux != nil, "needs tmux (installed by .ci/setup --tests)"))
    func gateTable() throws {
        let (text, status) = try Self.watch(columns: 60, rows: 40, markers: 5, seen: 5, gate: true)
        #expect(status == 0, "\(text)")
        let rows = text.split(separator: "\n")
        #expect(rows.filter { $0.contains("LANE") && $0.contains("STATE") && $0.contains("MARKERS") }.count == 1, "\(text)")
        #expect(rows.filter { $0.hasPrefix("  view") && $0.contains("pass") && $0.contains("5/5") }.count == 1, "\(text)")
        #expect(!text.contains("gate: PASS view"), "the result is in the table, not printed twice:\n\(text)")
        // (The dynamic loader's own warning about libswiftCore's protected symbols is not os3ctl's line.)
        #expect(rows.filter { !$0.hasPrefix("warning: direct reference to protected function") }.allSatisfy { $0.count <= 60 }, "\(text)")
        #expect(text.contains("gate: PASS (1/1 lanes passed"), "\(text)")
    }
}
