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

/// A clean ACPI poweroff (S5) for lanes that pass by `success = "poweroff"` (os3.poweroff=1):
/// PM1a_CNT at 0x604 is where SeaBIOS and qboot put the PIIX4 (`-M pc`) power-management block;
/// SLP_TYP 0 is QEMU's S5, SLP_EN (bit 13) starts it. Elsewhere (microvm) the write is ignored and
/// the kernel halts: a hang, never a pass.
enum PowerOff {
    static func now() -> Never {
        Serial.flush()
        arch_outw(0x604, 0x2000)
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
