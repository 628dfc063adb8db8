import ArgumentParser
import OS3Core
import Testing
@testable import OS3Commands

/// `boot` reads plain command lines without ArgumentParser (BootRequest.plain). These check that it
/// never reads one differently from ArgumentParser, and that it does read the common ones.
@Suite("boot's plain command-line reading")
struct BootRequestTests {
    /// What ArgumentParser makes of `arguments` (which start with "boot"), or nil if it refuses them.
    private static func parsed(_ arguments: [String]) -> BootRequest? {
        guard let command = try? OS3Command.parseAsRoot(arguments) as? BootCommand else { return nil }
        return command.request
    }

    @Test("the usual command lines are read without ArgumentParser, exactly as ArgumentParser reads them",
          arguments: [
              ["boot"],
              ["boot", "--lane", "tiny"],
              ["boot", "--lane=tiny", "--json"],
              ["boot", "--lane", "kvm", "--kernel", "/tmp/k.elf", "--qemu", "/opt/qemu", "--append", "os3.panic=1 a=b"],
              ["boot", "--serial", "--timeout", "2.5", "--idle-timeout=1", "--project", "p", "--state-dir", "s"],
              ["boot", "--append=x=1", "--timeout", "1e2"],
              ["boot", "--lane", "tiny", "--color", "never", "--quiet"], ["boot", "--color=always", "--verbose"],
          ])
    func plainLinesAgree(_ arguments: [String]) throws {
        let plain = try #require(BootRequest.plain(arguments))
        #expect(plain == Self.parsed(arguments))
    }

    @Test("anything unusual is left to ArgumentParser",
          arguments: [
              ["boot", "--help"], ["boot", "-h"], ["help", "boot"], ["gate"], [],
              ["boot", "--lane", "a", "--lane", "b"],            // a repeat
              ["boot", "--lane"],                                // a missing value
              ["boot", "--lane", "--json"],                      // a value that is an option
              ["boot", "--append", "-x"],                        // a value that looks like one
              ["boot", "--lane="],                               // an empty value
              ["boot", "--timeout", "0"], ["boot", "--timeout", "-1"], ["boot", "--timeout", "inf"], ["boot", "--timeout", "nan"],
              ["boot", "--timeout", "soon"],
              ["boot", "--json=yes"],                            // a value on a flag
              ["boot", "--color", "sometimes"],                  // not a colour choice
              ["boot", "--quiet", "--verbose"],                  // a contradiction, ArgumentParser's to report
              ["boot", "--backend", "libvirt"], ["boot", "--connect", "qemu:///system"],
              ["boot", "tiny"],                                  // a positional argument
              ["boot", "--", "--lane"], ["boot", "--version"], ["boot", "--generate-completion-script", "bash"],
          ])
    func unusualLinesFallBack(_ arguments: [String]) {
        #expect(BootRequest.plain(arguments) == nil)
    }

    @Test("on thousands of generated command lines, whatever the plain reading accepts ArgumentParser reads the same")
    func generatedLinesAgree() {
        let words = ["--lane", "--kernel", "--qemu", "--append", "--project", "--state-dir", "--timeout", "--idle-timeout",
                     "--serial", "--json", "--backend", "--connect", "--help", "--lane=tiny", "--timeout=3", "--json=1",
                     "--quiet", "--verbose", "--color", "--color=never", "always", "auto", "--quiet=1",
                     "tiny", "kvm", "3", "0", "-2", "0.5", "1e9", "nan", "inf", "", "-", "--", "a=b", "x y", "qemu", "libvirt",
                     "qemu:///embed", "-h", "=", "--append=", "--append=-v"]
        var random = SplitMix64(seed: 0x05_3C_71)
        var accepted = 0
        for _ in 0..<4000 {
            let count = Int(random.next() % 7)
            let arguments = ["boot"] + (0..<count).map { _ in words[Int(random.next() % UInt64(words.count))] }
            guard let plain = BootRequest.plain(arguments) else { continue }
            accepted += 1
            #expect(plain == Self.parsed(arguments), "\(arguments)")
        }
        // The generator must reach the plain reading often, or this checks nothing.
        #expect(accepted > 200, "only \(accepted) generated lines were plain")
    }
}
