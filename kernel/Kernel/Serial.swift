// Serial.swift — 16550 UART on COM1, polled output only.

enum Serial {
    static let base: UInt16 = 0x3F8
    private static let lineStatus: UInt16 = base + 5
    private static let transmitEmpty: UInt8 = 0x20

    /// 115200 baud, 8N1, FIFOs on, no interrupts.
    static func initialize() {
        arch_outb(base + 1, 0x00)  // IER: no interrupts
        arch_outb(base + 3, 0x80)  // LCR: DLAB
        arch_outb(base + 0, 0x01)  // divisor low: 115200
        arch_outb(base + 1, 0x00)  // divisor high
        arch_outb(base + 3, 0x03)  // LCR: 8N1
        arch_outb(base + 2, 0xC7)  // FCR: enable + clear FIFOs
        arch_outb(base + 4, 0x03)  // MCR: DTR, RTS
    }

    static func write(_ byte: UInt8) {
        while arch_inb(lineStatus) & transmitEmpty == 0 {
            arch_pause()
        }
        arch_outb(base, byte)
    }
}
