// Fuzz target: the marker matcher, fed a console stream in input-chosen chunks.
//
// Input format (readable, so seeds can be written by hand):
//   header lines, up to the first empty line, one marker or setting each:
//     +text    required literal        /regex   required regex
//     -text    forbidden literal       !regex   forbidden regex
//     @bytes   chunk sizes: each byte is the length of the next chunk (0 = 4096), cycled
//   then the console stream (any bytes) to the end of the input.
// Lines with another first byte are ignored. At most 8 markers.
//
// Besides crashes and hangs, it checks the matcher's promise that lines are matched whole
// whatever the read boundaries: the chunked run must report exactly what one single feed does.
import OS3Core

private struct Hit: Equatable {
    let id: String
    let line: Int
    let text: String
    init(_ h: MarkerHit) {
        id = h.id
        line = h.line
        text = h.text
    }
}

private struct Outcome: Equatable {
    let seen: [Hit]
    let forbidden: Hit?
    let missing: [String]
    init(_ m: MarkerMatcher) {
        seen = m.hits.values.map(Hit.init).sorted { $0.id < $1.id }
        forbidden = m.forbiddenHit.map(Hit.init)
        missing = m.missing.map(\.id)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMatcher(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    var set = MarkerSet()
    var chunkSizes: [Int] = [7, 1, 64, 2, 512]
    var position = 0
    while position < input.count {
        let end = input[position...].firstIndex(of: 0x0A) ?? input.count
        let line = input[position..<end]
        position = end + 1
        guard let kind = line.first else { break }  // the empty line: the stream follows
        let body = String(decoding: line.dropFirst(), as: UTF8.self)
        let id = "m\(set.required.count + set.forbidden.count)"
        guard set.required.count + set.forbidden.count < 8 || kind == UInt8(ascii: "@") else { continue }
        switch kind {
        // Empty literals are refused by MarkerSet.parse, so the matcher never sees one.
        case UInt8(ascii: "+") where !body.isEmpty: set.required.append(Marker(id: id, pattern: .literal(body)))
        case UInt8(ascii: "-") where !body.isEmpty: set.forbidden.append(Marker(id: id, pattern: .literal(body)))
        // Marker files refuse invalid regexes when parsed (the markers target fuzzes that), and the
        // matcher stops on one that was not validated: only valid patterns reach it here.
        case UInt8(ascii: "/") where (try? Marker(id: id, pattern: .regex(body)).validate()) != nil: set.required.append(Marker(id: id, pattern: .regex(body)))
        case UInt8(ascii: "!") where (try? Marker(id: id, pattern: .regex(body)).validate()) != nil: set.forbidden.append(Marker(id: id, pattern: .regex(body)))
        case UInt8(ascii: "@") where line.count > 1: chunkSizes = line.dropFirst().map { $0 == 0 ? 4096 : Int($0) }
        default: break
        }
    }
    guard !set.required.isEmpty || !set.forbidden.isEmpty else { return 0 }
    let stream = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[min(position, input.count)...])

    var chunked = MarkerMatcher(set)
    var offset = 0, index = 0
    while offset < stream.count {
        let n = min(chunkSizes[index % chunkSizes.count], stream.count - offset)
        _ = chunked.feed(UnsafeRawBufferPointer(rebasing: stream[offset..<offset + n]), at: Double(index))
        offset += n
        index += 1
    }
    _ = chunked.finish(at: Double(index))

    // Longer lines are matched in overlapping windows, where boundaries may legitimately matter.
    guard stream.count <= MarkerMatcher.maxLine else { return 0 }
    var whole = MarkerMatcher(set)
    _ = whole.feed(stream, at: 0)
    _ = whole.finish(at: 0)
    let a = Outcome(chunked), b = Outcome(whole)
    if a != b {
        fatalError("chunking changed the outcome (chunk sizes \(chunkSizes)):\n  chunked: \(a)\n  whole:   \(b)")
    }
    return 0
}
