// Panic.swift — the one way out on failure, and isa-debug-exit.

enum DebugExit {
    /// isa-debug-exit: `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
    /// QEMU exits with status (value << 1) | 1: 0x10 -> 33, 0x11 -> 35.
    static let port: UInt16 = 0xF4
    static let success: UInt8 = 0x10
    static let failure: UInt8 = 0x11

    /// Asks QEMU to exit; without the device the write is ignored and we halt.
    static func exit(_ value: UInt8) -> Never {
        Serial.flush()
        arch_outb(port, value)
        arch_halt_forever()
    }
}

/// `os3: PANIC: <message>`, then exit status 35 (or `cli; hlt` forever).
func panic(_ message: StaticString) -> Never {
    Console.write("os3: PANIC: ")
    Console.write(message)
    Console.write("\n")
    DebugExit.exit(DebugExit.failure)
}
