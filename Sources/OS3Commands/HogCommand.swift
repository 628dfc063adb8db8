import ArgumentParser
import OS3Runner

/// One busy process of `stress --hog N`: burns a core at normal priority until killed.
/// Hidden: os3ctl starts it itself.
struct HogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hog", abstract: "Burn one CPU until killed (used by stress).", shouldDisplay: false)

    func run() throws {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        while true {
            // A dependent chain the optimiser cannot drop.
            for _ in 0..<1_000_000 { x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 }
            if x == 0 { print(x) }
            // About every 10 ms: an interrupt ends the hog at once (no wait for the kill ladder's SIGKILL).
            if let status = Interrupts.exitStatus { throw ExitCode(status) }
        }
    }
}
