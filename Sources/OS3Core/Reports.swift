/// Renders records for people (a table) and for CI (JUnit XML). Pure functions of the records.
public enum Reports {
    public static func table(_ records: [RunRecord]) -> String {
        let header = ["LANE", "VERDICT", "TIME", "MARKERS", "DETAIL"]
        let rows = records.map { r in
            [r.lane, r.verdict.kind.rawValue, r.verdict.kind == .skipped ? "-" : seconds(r.duration),
             r.verdict.kind == .skipped ? "-" : "\(r.seenCount)/\(r.requiredCount)", r.verdict.detail]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < 4 { widths[i] = max(widths[i], cell.count) } }
        func render(_ row: [String]) -> String {
            row.enumerated().map { i, cell in i < 4 ? cell.padding(to: widths[i]) : cell }.joined(separator: "  ")
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n")
    }

    public static func seconds(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return "\(ms / 1000).\(String(ms % 1000).leftPadded(to: 3, with: "0"))s"
    }

    public static func junit(_ records: [RunRecord], suite: String = "os3ctl") -> String {
        let failures = records.filter { ![.pass, .skipped, .infraError, .interrupted].contains($0.verdict.kind) }.count
        let errors = records.filter { [.infraError, .interrupted].contains($0.verdict.kind) }.count
        let skipped = records.filter { $0.verdict.kind == .skipped }.count
        let total = records.reduce(0.0) { $0 + $1.duration }
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"\(xml(suite))\" tests=\"\(records.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(decimal(total))\">\n"
        x += "  <testsuite name=\"\(xml(suite)).lanes\" tests=\"\(records.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(decimal(total))\">\n"
        for r in records {
            x += "    <testcase classname=\"\(xml(suite)).lane\" name=\"\(xml(r.lane))\" time=\"\(decimal(r.duration))\">\n"
            let message = xml("\(r.verdict.kind.rawValue): \(r.verdict.detail)")
            let body = xml("\(r.verdict.detail)\nrun directory: \(r.runDirectory)\nserial log: \(r.serialLog)")
            switch r.verdict.kind {
            case .pass: break
            case .skipped: x += "      <skipped message=\"\(message)\"/>\n"
            case .infraError, .interrupted: x += "      <error type=\"\(r.verdict.kind.rawValue)\" message=\"\(message)\">\(body)</error>\n"
            default: x += "      <failure type=\"\(r.verdict.kind.rawValue)\" message=\"\(message)\">\(body)</failure>\n"
            }
            x += "      <system-out>\(xml("run directory: \(r.runDirectory)"))</system-out>\n"
            x += "    </testcase>\n"
        }
        x += "  </testsuite>\n</testsuites>\n"
        return x
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
