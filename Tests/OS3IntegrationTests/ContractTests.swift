import Foundation
import Testing
import OS3Core
import OS3Runner

/// Issue 17, the output contracts: what CI tools read validates against the schemas they check —
/// JUnit against Jenkins xunit's junit-10.xsd (with xmllint), JSON against docs/schema/os3ctl.schema.json
/// (with python3-jsonschema). Each validator is first shown to reject a known-bad document.
@Suite("Contracts: JUnit validates against junit-10.xsd, JSON against the documented schema", .tags(.integration))
struct ContractTests {
    static let xsd = "\(Fixture.root)/Tests/Fixtures/junit-10.xsd"
    static let jsonSchema = "\(Fixture.root)/docs/schema/os3ctl.schema.json"
    static let xmllint = resolveExecutable("xmllint")
    /// Debian's python3 with python3-jsonschema (installed by `.ci/setup --tests`).
    static let python: String? = ["/usr/bin/python3", "python3"].lazy.compactMap { candidate -> String? in
        guard let path = resolveExecutable(candidate),
              (try? RecordTests.run(path, ["-c", "import jsonschema"], environment: [:]).status) == 0 else { return nil }
        return path
    }.first

    static func temporary(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("os3-contract-\(UUID().uuidString)-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// xmllint's verdict on `xml` against junit-10.xsd: nil when valid, its complaint otherwise.
    static func junitProblem(_ xml: String) throws -> String? {
        let file = try temporary("junit.xml", xml)
        let r = try RecordTests.run(xmllint!, ["--noout", "--schema", xsd, file], environment: [:])
        return r.status == 0 ? nil : r.stderr
    }

    /// The JSON Schema validator's verdict on `json`: nil when valid, its complaint otherwise.
    static func jsonProblem(_ json: String) throws -> String? {
        let file = try temporary("doc.json", json)
        let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))), key=str)
        for e in errors:
            print(list(e.absolute_path), e.message[:300])
            for c in e.context: print("  ", list(c.absolute_path), c.message[:300])
        sys.exit(1 if errors else 0)
        """
        let r = try RecordTests.run(python!, ["-c", script, jsonSchema, file], environment: [:])
        return r.status == 0 ? nil : r.stdout + r.stderr
    }

    /// A record for every verdict kind and every way QEMU can end (and not be known to end).
    static var everyRecord: [RunRecord] {
        let ends: [ProcessEnd?] = [.exited(33), .signaled(9), .failedToStart("no such file: qemu <&>"), nil]
        return VerdictKind.allCases.enumerated().map { i, kind in
            var r = RunRecord(lane: "lane-\(kind.rawValue)", laneFile: "lanes/x.toml", kernel: "/k/kernel.elf", argv: ["qemu", "-x"],
                              kernelCommandLine: "console=ttyS0 os3.seed=13679457532755275413", runDirectory: "/runs/\(i)",
                              serialLog: "/runs/\(i)/serial.log", startedAt: "2026-12-06T04:50:06.123Z", duration: Double(i) * 0.25,
                              verdict: Verdict(kind: kind, detail: "detail <\(kind.rawValue)> & \"quotes\" \u{1B}[31m",
                                               missing: kind == .pass ? [] : ["done"], forbiddenLine: i % 2 == 0 ? "os3: PANIC" : nil,
                                               evidence: i % 3 == 0 ? nil : .console),
                              end: ends[i % ends.count], markers: [MarkerHit(id: "boot", time: 0.01, line: 1, text: "os3: boot ok")],
                              requiredCount: 2, consoleBytes: 42, stopLatency: i % 2 == 0 ? 0.003 : nil,
                              backend: i % 2 == 0 ? "qemu" : nil, domain: nil, lifecycle: i % 4 == 1 ? .guestReset : nil)
            if i == 3 { r.recordError = "No space left on device" }
            // KTAP lanes: results of every status, nested, and one without a plan.
            if i == 4 { r.ktap = KTAPReport.parse("KTAP version 1\n1..3\n    KTAP version 1\n    # Subtest: s<&>\n    1..1\n    ok 1 inner\nok 1 s<&>\nnot ok 2 \"bad\"\nok 3 skipped # SKIP no <hw>\n") }
            if i == 5 { r.ktap = KTAPReport.parse("KTAP version 1\nok 1 a # TODO later\n") }
            return r
        }
    }

    @Test("JUnit for every verdict kind validates against junit-10.xsd, gate with and without --allow-skipped, and stress",
          .enabled(if: xmllint != nil, "needs xmllint (libxml2-utils, installed by .ci/setup --tests)"))
    func junitValidates() throws {
        // The validator can fail: os3ctl's JUnit before issue 17 (`skipped` on <testsuites>) is rejected.
        let old = "<?xml version=\"1.0\"?>\n<testsuites name=\"x\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.000\"></testsuites>\n"
        #expect(try Self.junitProblem(old)?.contains("skipped") == true)
        for skippedFails in [false, true] {
            let boots = Self.everyRecord.map {
                Reports.JUnitBoot(record: $0, suite: "os3ctl-gate.\($0.lane)", seed: "13679457532755275413",
                                  consoleTail: $0.verdict.kind == .pass ? "" : "os3: boot ok\nos3: trap <breakpoint> & \u{7}bell")
            }
            let xml = Reports.junit(boots, name: "os3ctl-gate", hostname: "host<1>", skippedFails: skippedFails)
            #expect(try Self.junitProblem(xml) == nil, "\(xml)")
        }
        #expect(try Self.junitProblem(Reports.junit([], name: "os3ctl-gate", hostname: "h", skippedFails: true)) == nil)
    }

    @Test("every record shape validates against docs/schema/os3ctl.schema.json; a record missing a key does not; a 64-bit seed is an exact string",
          .enabled(if: python != nil, "needs python3 with jsonschema (python3-jsonschema, installed by .ci/setup --tests)"))
    func jsonValidates() throws {
        for r in Self.everyRecord {
            #expect(try Self.jsonProblem(r.jsonText.pretty) == nil, "\(r.jsonText.pretty)")
        }
        // The validator can fail: a record without a key, and a stress run whose seed is a number.
        var missingKey = Self.everyRecord[0].jsonText.pretty
        missingKey = missingKey.replacingOccurrences(of: "\"domain\" : null,", with: "")
        #expect(try Self.jsonProblem(missingKey)?.contains("domain") == true)
        let run = StressRun(index: 0, seed: 13679457532755275413, offset: 0, underLoad: true, host: "qemu", record: Self.everyRecord[0], replay: "os3ctl boot")
        let runJSON = encodeJSON(run)
        #expect(runJSON.contains("\"seed\" : \"13679457532755275413\""), "\(runJSON)")
        #expect(try JSONDecoder().decode(StressRun.self, from: Data(runJSON.utf8)) == run)
    }

    @Test("the CLI's own outputs validate: boot --json, result.json, gate --json and --junit (a pass and a failure), stress --json and its JUnit",
          .enabled(if: python != nil && xmllint != nil, "needs xmllint and python3-jsonschema (installed by .ci/setup --tests)"))
    func cliOutputsValidate() throws {
        let pass = try Fixture.fakeQemu("printf '\(RecordTests.passingConsole)'\nexit 33")
        let fail = try Fixture.fakeQemu("printf 'os3: boot ok\\nos3: last words before the end\\n'\nexit 33")
        let boot = try RecordTests.os3ctl(["boot", "--lane", "rec", "--qemu", pass, "--json"])
        #expect(boot.status == 0, "\(boot.stderr)")
        #expect(try Self.jsonProblem(boot.stdout) == nil)
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(boot.stdout.utf8))
        #expect(record.end == .exited(33))
        #expect(boot.stdout.contains("\"end\" : {\n    \"exit\" : 33\n  }"), "\(boot.stdout)")
        #expect(try Self.jsonProblem(String(contentsOfFile: "\(record.runDirectory)/result.json", encoding: .utf8)) == nil)

        for qemu in [pass, fail] {
            let junit = "\(RecordTests.freshState())-junit.xml"
            let gate = try RecordTests.os3ctl(["gate", "--skip-host-tests", "--lane", "rec", "--qemu", qemu, "--json", "--junit", junit])
            #expect(gate.status == (qemu == pass ? 0 : 10), "\(gate.stderr)")
            #expect(try Self.jsonProblem(gate.stdout) == nil, "\(gate.stdout)")
            #expect(gate.stdout.contains("\"passed\" : \(qemu == pass)"), "\(gate.stdout)")
            let xml = try String(contentsOfFile: junit, encoding: .utf8)
            #expect(try Self.junitProblem(xml) == nil, "\(xml)")
            if qemu == fail {
                // The console tail of a failure is in the report, where CI shows it.
                #expect(xml.contains("last console lines:\nos3: boot ok\nos3: last words before the end</failure>"), "\(xml)")
                #expect(xml.contains("<system-out>os3: boot ok\nos3: last words before the end</system-out>"), "\(xml)")
            }
        }

        let junit = "\(RecordTests.freshState())-stress.xml"
        let stress = try RecordTests.os3ctl(["stress", "--lane", "rec", "--qemu", pass, "--runs", "2", "--jobs", "1", "--hog", "0",
                                             "--seed", "13679457532755275413", "--json", "--junit", junit])
        #expect(stress.status == 0, "\(stress.stderr)")
        #expect(try Self.jsonProblem(stress.stdout) == nil, "\(stress.stdout)")
        #expect(stress.stdout.contains("\"baseSeed\" : \"13679457532755275413\""))
        #expect(stress.stdout.contains("\"load\" : null"), "no hogs: load is there, and null")
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(try Self.junitProblem(xml) == nil, "\(xml)")
        // Names CI tracks across runs: the run's place, never its seed.
        #expect(xml.contains("<testsuite name=\"os3ctl-stress.rec.run-000\"") && xml.contains("<testsuite name=\"os3ctl-stress.rec.run-001\""), "\(xml)")
        #expect(!xml.contains("name=\"os3ctl-stress.rec.run-000-") && xml.contains("<property name=\"seed\" value=\""), "\(xml)")
    }

    /// The enumerations the schema lists, read from the schema file.
    struct SchemaEnums: Decodable {
        struct Defs: Decodable {
            struct Values: Decodable { var `enum`: [String?] }
            struct Verdict: Decodable {
                struct Properties: Decodable { var evidence: Values }
                var properties: Properties
            }
            struct Record: Decodable {
                struct Properties: Decodable { var lifecycle: Values }
                var properties: Properties
            }
            var verdictKind: Values
            var verdict: Verdict
            var record: Record
        }
        var defs: Defs
        enum CodingKeys: String, CodingKey { case defs = "$defs" }
    }

    @Test("the schema lists exactly the verdict kinds, evidence and lifecycle values os3ctl has (a new one must be documented)")
    func schemaEnumsMatchTheCode() throws {
        let schema = try JSONDecoder().decode(SchemaEnums.self, from: Data(contentsOf: URL(fileURLWithPath: Self.jsonSchema))).defs
        #expect(Set(schema.verdictKind.enum.compactMap { $0 }) == Set(VerdictKind.allCases.map(\.rawValue)))
        #expect(Set(schema.verdict.properties.evidence.enum.compactMap { $0 }) == Set(VerdictEvidence.allCases.map(\.rawValue)))
        #expect(Set(schema.record.properties.lifecycle.enum.compactMap { $0 }) == Set(GuestLifecycle.allCases.map(\.rawValue)))
    }
}
