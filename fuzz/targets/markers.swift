// Fuzz target: the marker-file parser (TOML reader and regex compiler included), then a matcher
// built from whatever it accepted, fed the same text as a console stream.
// Any input must either parse or throw; a trap, a crash or a hang is a finding.
import OS3Core

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMarkers(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let set: MarkerSet
    do {
        set = try MarkerSet.parse(file: "markers/fuzz.toml", text: text)
    } catch {
        _ = "\(error)"
        return 0
    }
    precondition(!set.required.isEmpty || !set.forbidden.isEmpty, "MarkerSet.parse accepted a file without markers")
    // Every accepted set must be usable by the matcher (it assumes what the parser checked).
    var matcher = MarkerMatcher(set)
    _ = matcher.feed(UnsafeRawBufferPointer(bytes), at: 0)
    _ = matcher.finish(at: 1)
    return 0
}
