import COS3Sys
import Foundation
import OS3Core
import OS3Runner
import Testing

@Suite("Run directories")
struct RunDirectoryNameTests {
    @Test("run directories are named by the UTC second they were made, computed without the time-zone database")
    func utcStamp() {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyyMMdd-HHmmss"
        // Leap days, year ends, the epoch, and a spread of instants up to 2100.
        var instants: [Int64] = [0, 951_782_400, 951_868_799, 1_709_164_800, 4_107_542_399, 4_102_444_800, 1_795_302_000]
        var random = SplitMix64(seed: 0xDA7E)
        for _ in 0..<2000 { instants.append(Int64(random.next() % 4_102_444_800)) }
        for secs in instants {
            var out = [CChar](repeating: 0, count: 32)
            os3_utc_stamp(secs, &out)
            let expected = format.string(from: Date(timeIntervalSince1970: TimeInterval(secs)))
            #expect(String(nulTerminated: out) == expected, "\(secs)")
        }
    }
}
