// BootArena.swift — fixed-size boot-time storage that lives for the whole
// boot (command-line spans, resolved memory regions, timing probes), carved
// from an 8 KiB block in traps.S's .noinit. Bump allocation, never freed.

enum BootArena {
    nonisolated(unsafe) private static var used = 0

    static func take<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let alignment = MemoryLayout<T>.alignment
        let start = (used + alignment - 1) & ~(alignment - 1)
        let end = start + MemoryLayout<T>.stride * count
        guard end <= bootArenaSize else { panic("boot arena exhausted") }
        used = end
        return UnsafeMutablePointer<T>(bitPattern: UInt(arch_boot_arena()) + UInt(start))!
    }
}
