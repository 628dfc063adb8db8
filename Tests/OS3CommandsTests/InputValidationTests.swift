import ArgumentParser
import Foundation
import OS3Core
import Testing
@testable import OS3Commands

/// Bad numbers on the command line and bad input files are refused before anything runs:
/// never silently accepted (`--timeout nan` once disabled the timeout), never turned into a verdict.
@Suite("Command-line numbers and input files")
struct InputValidationTests {
    /// The error ArgumentParser (with the commands' `validate()`) reports for `arguments`, or nil if it accepts them.
    private static func refusal(_ arguments: [String]) -> String? {
        do {
            _ = try OS3Command.parseAsRoot(arguments)
            return nil
        } catch {
            return OS3Command.message(for: error)
        }
    }

    @Test("--backend lava takes exactly one http(s) --connect; a web address or --token-file alone is refused, saying what to add",
          arguments: ["boot", "gate", "stress"])
    func lavaOptions(_ command: String) {
        #expect(Self.refusal([command, "--backend", "lava"])?.contains("--backend lava needs one --connect") == true)
        #expect(Self.refusal([command, "--backend", "lava", "--connect", "qemu:///system"])?.contains("LAVA server's URL") == true)
        #expect(Self.refusal([command, "--backend", "lava", "--connect", "http://a/", "--connect", "http://b/"]) != nil)
        #expect(Self.refusal([command, "--connect", "http://lab:8787/"])?.contains("add --backend lava") == true)
        #expect(Self.refusal([command, "--token-file", "t"])?.contains("--backend lava") == true)
        #expect(Self.refusal([command, "--backend", "lava", "--connect", "http://lab:8787/", "--token-file", "t"]) == nil)
    }

    static let badSeconds = ["nan", "-nan", "inf", "-inf", "1e400", "0", "-0", "-1", "1e9", "86401"]

    @Test("every timeout option refuses nan, infinities, zero, negatives and more than a day", arguments: [
        ["boot", "--timeout"], ["boot", "--idle-timeout"], ["stress", "--timeout"],
    ])
    func timeouts(_ option: [String]) {
        for value in Self.badSeconds {
            let message = Self.refusal(option + [value])
            #expect(message != nil, "\(option) \(value) was accepted")
            #expect(message?.contains(option[1]) == true, "\(String(describing: message))")
        }
        for value in ["0.5", "30", "86400", "1e2"] {
            #expect(Self.refusal(option + [value]) == nil, "\(option) \(value) was refused")
        }
    }

    @Test("boot's plain reading leaves every doubtful timeout to ArgumentParser, which refuses it")
    func plainBootTimeouts() {
        for value in Self.badSeconds {
            #expect(BootRequest.plain(["boot", "--timeout", value]) == nil, "\(value)")
            #expect(BootRequest.plain(["boot", "--idle-timeout=\(value)"]) == nil, "\(value)")
        }
        #expect(BootRequest.plain(["boot", "--timeout", "86400"])?.timeout == 86_400)
    }

    @Test("counts must be whole numbers within their range", arguments: [
        (["stress", "--jobs"], ["0", "-1", "257", "9223372036854775807", "99999999999999999999", "nan", "1.5"], ["1", "256"]),
        (["stress", "--runs"], ["0", "-3", "100001", "9223372036854775807", "inf"], ["1", "100000"]),
        (["stress", "--max-runs"], ["0", "-3", "100001"], ["1", "500"]),
        (["stress", "--block"], ["0", "-1", "100001", "nan"], ["1", "8"]),
        (["stress", "--hog"], ["-1", "257", "1e3"], ["0", "256"]),
        (["gate", "--jobs"], ["0", "-1", "257", "9223372036854775807", "nan"], ["1", "256"]),
        (["stress", "--seed"], ["-1", "18446744073709551616", "nan"], ["0", "18446744073709551615"]),
    ])
    func counts(_ option: [String], _ bad: [String], _ good: [String]) {
        for value in bad { #expect(Self.refusal(option + [value]) != nil, "\(option) \(value) was accepted") }
        for value in good { #expect(Self.refusal(option + [value]) == nil, "\(option) \(value) was refused") }
    }

    @Test("rates must lie strictly between 0 and 1; nan and inf are not rates", arguments: ["--baseline", "--alpha", "--beta", "--p0", "--p1", "--target-rate"])
    func rates(_ option: String) {
        for value in ["nan", "inf", "-inf", "0", "1", "-0.1", "1e400"] {
            #expect(Self.refusal(["stress", option, value]) != nil, "\(option) \(value) was accepted")
        }
        let good = option == "--p1" ? "0.5" : "0.01"
        #expect(Self.refusal(["stress", option, good]) == nil)
    }

    // MARK: scan

    private static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("os3-scan-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[[marker]]\nid = \"done\"\ntext = \"ALL OK\"\n".write(toFile: "\(dir)/m.toml", atomically: true, encoding: .utf8)
        return dir
    }

    /// What `scan` threw: an OS3Error (bad input) or an ExitCode (a verdict).
    private static func scan(_ arguments: [String]) throws -> Error? {
        var command = try OS3Command.parseAsRoot(["scan"] + arguments)
        do { try command.run(); return nil } catch { return error }
    }

    @Test("scan of a directory is bad input (exit 2) naming it, not a log judged missing-markers")
    func scanDirectory() throws {
        let dir = try Self.scratch()
        let run = "\(dir)/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "ALL OK\n".write(toFile: "\(run)/serial.log", atomically: true, encoding: .utf8)
        let error = try #require(try Self.scan(["--markers", "\(dir)/m.toml", run]) as? OS3Error, "scan judged a directory")
        #expect(error.exitCode == 2)
        #expect(error.file == run)
        #expect(error.message.contains("directory"))
        #expect(error.fix?.contains("\(run)/serial.log") == true, "the run directory's log is offered: \(error)")
        // The log itself passes: the markers are fine.
        #expect((try Self.scan(["--markers", "\(dir)/m.toml", "\(run)/serial.log"]) as? ExitCode) == ExitCode(0))
    }

    @Test("scan with a marker file that is not UTF-8, a directory, or absent reports that file, exit 2")
    func scanBadMarkers() throws {
        let dir = try Self.scratch()
        try "ALL OK\n".write(toFile: "\(dir)/log", atomically: true, encoding: .utf8)
        try Data([0x5B, 0x5B, 0x6D, 0x61, 0x72, 0x6B, 0x65, 0x72, 0x5D, 0x5D, 0x0A, 0x69, 0x64, 0x20, 0x3D, 0x20, 0x22, 0xFF, 0x22, 0x0A])
            .write(to: URL(fileURLWithPath: "\(dir)/latin1.toml"))
        try FileManager.default.createDirectory(atPath: "\(dir)/dir.toml", withIntermediateDirectories: true)
        let cases: [(String, String)] = [("\(dir)/latin1.toml", "not valid UTF-8 (byte 0xFF at column 7)"),
                                         ("\(dir)/dir.toml", "is a directory"),
                                         ("\(dir)/absent.toml", "does not exist")]
        for (file, words) in cases {
            let error = try #require(try Self.scan(["--markers", file, "\(dir)/log"]) as? OS3Error, "\(file) was not an input error")
            #expect(error.exitCode == 2)
            #expect(error.description.contains(file), "\(error)")
            #expect(error.message.contains(words), "\(error)")
        }
        let utf8 = try #require(try Self.scan(["--markers", "\(dir)/latin1.toml", "\(dir)/log"]) as? OS3Error)
        #expect(utf8.line == 2)
    }

    @Test("scan of a missing log is bad input, exit 2")
    func scanMissingLog() throws {
        let dir = try Self.scratch()
        let error = try #require(try Self.scan(["--markers", "\(dir)/m.toml", "\(dir)/no-such.log"]) as? OS3Error)
        #expect(error.exitCode == 2)
        #expect(error.file == "\(dir)/no-such.log")
    }
}
