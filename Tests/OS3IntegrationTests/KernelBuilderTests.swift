import Foundation
import OS3Core
import OS3Runner
import Testing

/// The kernel is rebuilt exactly when what goes into the image changed; the quick check of the
/// sources' metadata never hides a change of their contents.
@Suite(.tags(.integration)) struct KernelBuilderTests {
    @Test("a touched source is not a change; a same-size edit is, even with the metadata check on")
    func rebuildsOnlyForChangedContents() throws {
        let root = try Fixture.projectWithOwnKernel()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let project = try Project.load(root: root)
        let builder = KernelBuilder(project: project, toolchain: try Toolchain.locate())
        let stamp = "\(project.kernelImage).fingerprint"
        func stampLines() throws -> [String] { try String(contentsOfFile: stamp, encoding: .utf8).split(separator: "\n").map(String.init) }

        #expect(try builder.build().rebuilt)
        // Sources copied a moment ago are "racy": only their contents are trusted, no metadata line.
        #expect(try stampLines().count == 1)
        #expect(try !builder.build().rebuilt)

        // Once they are older than the racy window, the stamp records their metadata too.
        Thread.sleep(forTimeInterval: KernelBuilder.racyWindow + 0.2)
        #expect(try !builder.build().rebuilt)
        let settled = try stampLines()
        #expect(settled.count == 2)
        #expect(try !builder.build().rebuilt)
        #expect(try stampLines() == settled)

        // Touched, contents unchanged: compared by content, not rebuilt.
        let source = "\(root)/kernel/Kernel/Boot.swift"
        #expect(utime(source, nil) == 0)
        #expect(try !builder.build().rebuilt)
        #expect(try stampLines().first == settled.first)

        // The same number of bytes, one letter of a comment changed: rebuilt.
        let text = try String(contentsOfFile: source, encoding: .utf8)
        let edited = text.replacingOccurrences(of: "// Boot.swift — kmain", with: "// Boot.swift — kMain")
        #expect(edited != text && edited.utf8.count == text.utf8.count)
        try edited.write(toFile: source, atomically: false, encoding: .utf8)
        let result = try builder.build()
        #expect(result.rebuilt)
        #expect(try stampLines().first != settled.first)
    }
}
