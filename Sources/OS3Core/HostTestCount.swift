/// How many host tests passed, read from the summary lines of the usual test runners, so `gate`
/// can say "host tests passed: 62 tests" without showing their output (issue 17). Only summary
/// lines are read, never individual test lines; a runner whose summary is not recognised gives nil
/// (the gate then says it passed without a count — it never guesses one).
public enum HostTestCount {
    /// The passed tests of every runner recognised in `output`, summed (`swift test` runs XCTest
    /// and Swift Testing one after the other; cargo prints one summary per crate), or nil.
    public static func passed(in output: String) -> Int? {
        var swiftTesting: Int?
        var xctest: Int?
        var cargo: Int?
        var other: Int?
        for raw in output.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            // Swift Testing: "✔ Test run with 62 tests in 10 suites passed after 0.031 seconds."
            if let n = number(after: "Test run with ", in: line), line.contains(" passed after ") {
                swiftTesting = n
            // XCTest, after each suite and last for all of them: "Executed 12 tests, with 0 failures (0 unexpected) in …"
            } else if let n = number(after: "Executed ", in: line), line.contains(" with 0 failures") {
                xctest = n
            // cargo test, one per crate: "test result: ok. 5 passed; 0 failed; 0 ignored; …"
            } else if let n = number(after: "test result: ok. ", in: line) {
                cargo = (cargo ?? 0) + n
            // CTest: "100% tests passed, 0 tests failed out of 12"
            } else if line.contains("tests passed, 0 tests failed out of "), let n = number(after: "failed out of ", in: line) {
                other = n
            // prove (TAP): "Files=3, Tests=42,  0 wallclock secs …"
            } else if line.hasPrefix("Files="), let n = number(after: "Tests=", in: line) {
                other = n
            // pytest: "======= 12 passed, 1 skipped in 0.31s ======="
            } else if line.hasPrefix("="), line.hasSuffix("="), let n = number(after: "= ", in: line), line.contains(" passed") {
                other = n
            }
        }
        let found = [swiftTesting, xctest, cargo, other].compactMap { $0 }
        return found.isEmpty ? nil : found.reduce(0, +)
    }

    /// The decimal number right after the first `prefix` in `line`.
    private static func number(after prefix: String, in line: Substring) -> Int? {
        guard let range = line.firstRange(of: prefix) else { return nil }
        let digits = line[range.upperBound...].prefix { $0.isASCII && $0.isNumber }
        return Int(digits)
    }
}
