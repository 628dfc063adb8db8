/// Renders records for people (a table) and for CI (JUnit XML). Pure functions of the records.
public enum Reports {
    /// `width`: the screen's, to cut DETAIL at (an ellipsis marks the cut) instead of wrapping it.
    public static func table(_ records: [RunRecord], width: Int? = nil) -> String {
        let header = ["LANE", "VERDICT", "TIME", "MARKERS", "DETAIL"]
        let rows = records.map { r in
            [r.lane, r.verdict.kind.rawValue, r.verdict.kind == .skipped ? "-" : seconds(r.duration),
             r.verdict.kind == .skipped ? "-" : "\(r.seenCount)/\(r.requiredCount)", r.verdict.detail]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < 4 { widths[i] = max(widths[i], cell.count) } }
        func render(_ row: [String]) -> String {
            let line = row.enumerated().map { i, cell in i < 4 ? cell.padding(to: widths[i]) : cell }.joined(separator: "  ")
            guard let width, line.count >= width, width > 1 else { return line }
            return String(line.prefix(width - 2)) + "…"
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n")
    }

    public static func seconds(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return "\(ms / 1000).\(String(ms % 1000).leftPadded(to: 3, with: "0"))s"
    }

    /// One boot as a JUnit `<testsuite>`: its name is stable across runs (lane, or lane and run
    /// index — never a seed), so CI can track its history; the seed is a property.
    public struct JUnitBoot: Sendable {
        public var record: RunRecord
        /// The `<testsuite>` name, e.g. "os3ctl-gate.kvm" or "os3ctl-stress.kvm.run-007".
        public var suite: String
        public var seed: String?
        /// The last lines of the serial console (shown for a boot that did not pass).
        public var consoleTail: String

        public init(record: RunRecord, suite: String, seed: String? = nil, consoleTail: String = "") {
            self.record = record
            self.suite = suite
            self.seed = seed
            self.consoleTail = consoleTail
        }
    }

    /// JUnit XML that validates against Jenkins xunit's junit-10.xsd (Tests/Fixtures/junit-10.xsd):
    /// one `<testsuite>` per boot, holding its properties (lane, seed, kernel, ...) and a `boot`
    /// test case; the test cases a boot reports itself (KTAP) belong in the same suite, after it.
    /// `skippedFails`: a skipped lane fails the gate (no --allow-skipped), so it is a `<failure>`
    /// of type "skipped" and counted as one; otherwise it is `<skipped>` and counted as skipped.
    public static func junit(_ boots: [JUnitBoot], name: String, hostname: String, skippedFails: Bool) -> String {
        var suites: [String] = []
        var tests = 0, failures = 0, errors = 0
        var total = 0.0
        for boot in boots {
            let r = boot.record
            let outcome = junitOutcome(r.verdict.kind, skippedFails: skippedFails)
            // A KTAP lane's results are test cases of the same suite, after `boot`.
            let ktap = r.ktap?.results ?? []
            let ktapFailures = ktap.filter { $0.status == .notOk }.count
            let ktapSkipped = ktap.filter { $0.status == .skip || $0.status == .todo }.count
            let suiteFailures = (outcome == .failure ? 1 : 0) + ktapFailures
            tests += 1 + ktap.count
            failures += suiteFailures
            if outcome == .error { errors += 1 }
            total += r.duration
            var x = "  <testsuite name=\"\(xml(boot.suite))\" tests=\"\(1 + ktap.count)\" failures=\"\(suiteFailures)\" errors=\"\(outcome == .error ? 1 : 0)\""
            x += " skipped=\"\((outcome == .skipped ? 1 : 0) + ktapSkipped)\" time=\"\(decimal(r.duration))\" timestamp=\"\(xml(r.startedAt))\" hostname=\"\(xml(hostname))\">\n"
            var properties: [(String, String)] = [("lane", r.lane), ("verdict", r.verdict.kind.rawValue), ("kernel", r.kernel)]
            if let seed = boot.seed { properties.append(("seed", seed)) }
            if let backend = r.backend { properties.append(("backend", backend)) }
            if !r.runDirectory.isEmpty { properties += [("run-directory", r.runDirectory), ("serial-log", r.serialLog)] }
            properties.append(("markers", "\(r.seenCount)/\(r.requiredCount)"))
            x += "    <properties>\n"
            for (key, value) in properties { x += "      <property name=\"\(xml(key))\" value=\"\(xml(value))\"/>\n" }
            x += "    </properties>\n"
            x += "    <testcase classname=\"\(xml(boot.suite))\" name=\"boot\" time=\"\(decimal(r.duration))\">\n"
            let message = xml("\(r.verdict.kind.rawValue): \(r.verdict.detail)")
            var body = "\(r.verdict.detail)"
            if !r.verdict.missing.isEmpty { body += "\nmissing markers: \(r.verdict.missing.joined(separator: ", "))" }
            if let line = r.verdict.forbiddenLine { body += "\nforbidden line: \(line)" }
            if !r.runDirectory.isEmpty { body += "\nrun directory: \(r.runDirectory)\nserial log: \(r.serialLog)" }
            let tail = boot.consoleTail.isEmpty ? "" : "\nlast console lines:\n\(boot.consoleTail)"
            switch outcome {
            case .pass: break
            case .skipped: x += "      <skipped message=\"\(message)\"/>\n"
            case .error: x += "      <error type=\"\(r.verdict.kind.rawValue)\" message=\"\(message)\">\(xml(body + tail))</error>\n"
            case .failure:
                let why = r.verdict.kind == .skipped ? "\nthe gate counts a skipped lane as a failure (pass --allow-skipped to accept it)" : ""
                x += "      <failure type=\"\(r.verdict.kind.rawValue)\" message=\"\(message)\">\(xml(body + why + tail))</failure>\n"
            }
            let out = outcome == .pass || boot.consoleTail.isEmpty ? (r.runDirectory.isEmpty ? "" : "run directory: \(r.runDirectory)")
                : boot.consoleTail
            if !out.isEmpty { x += "      <system-out>\(xml(out))</system-out>\n" }
            x += "    </testcase>\n"
            for result in ktap {
                // KTAP gives no time per result: 0, as the schema requires a number.
                x += "    <testcase classname=\"\(xml(boot.suite)).ktap\" name=\"\(xml(result.path))\" time=\"0\""
                switch result.status {
                case .ok: x += "/>\n"
                case .skip, .todo:
                    x += ">\n      <skipped message=\"\(xml("\(result.status.rawValue.uppercased()) \(result.directive)"))\"/>\n    </testcase>\n"
                case .notOk:
                    x += ">\n      <failure type=\"ktap-not-ok\" message=\"\(xml("not ok \(result.number) \(result.path)"))\">"
                    x += "\(xml("KTAP result not ok at console line \(result.line)\(result.directive.isEmpty ? "" : " (\(result.directive))")"))</failure>\n    </testcase>\n"
                }
            }
            x += "  </testsuite>\n"
            suites.append(x)
        }
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        // <testsuites> takes no `skipped` in junit-10.xsd: the per-suite counts carry it.
        x += "<testsuites name=\"\(xml(name))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(decimal(total))\">\n"
        x += suites.joined()
        x += "</testsuites>\n"
        return x
    }

    enum JUnitOutcome { case pass, failure, error, skipped }

    static func junitOutcome(_ kind: VerdictKind, skippedFails: Bool) -> JUnitOutcome {
        switch kind {
        case .pass: .pass
        case .skipped: skippedFails ? .failure : .skipped
        // os3ctl could not judge the kernel (its own trouble, or an interrupt): an error, not a failure.
        case .infraError, .interrupted: .error
        default: .failure
        }
    }

    static func decimal(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return "\(ms / 1000).\(String(ms % 1000).leftPadded(to: 3, with: "0"))"
    }

    /// Escapes text for XML attributes and content; drops characters XML 1.0 forbids.
    public static func xml(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

extension String {
    public func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    public func leftPadded(to width: Int, with pad: Character) -> String { count >= width ? self : String(repeating: pad, count: width - count) + self }
}
