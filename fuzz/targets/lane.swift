// Fuzz target: the lane-file parser (TOML reader included), driven through its public entry point.
// Any input must either parse or throw; a trap, a crash or a hang is a finding.
import OS3Core

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLane(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // Invalid UTF-8 is repaired (U+FFFD), as a String built from a file's bytes would be.
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let lane = try Lane.parse(name: "fuzz", file: "lanes/fuzz.toml", text: text)
        // A parsed lane satisfies what the parser promises.
        precondition(!lane.markerFiles.isEmpty && lane.cpus >= 1 && lane.idleTimeout <= lane.totalTimeout,
                     "Lane.parse accepted a lane that breaks its own rules")
    } catch {
        // Rendering the error is part of the error path users see.
        _ = "\(error)"
    }
    return 0
}
