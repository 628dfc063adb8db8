// Serial.swift — 16550 UART on COM1, polled output only.
//
// Output is buffered up to one transmit-FIFO load (16 bytes) and sent with a
// single `rep outsb` once the line status says the FIFO is empty (THRE with
// FIFOs enabled). Under nested KVM every port access is a costly exit; one
// `inb` + one `rep outsb` per 16 bytes instead of two exits per character
// makes each protocol line several times cheaper. A "\n" flushes, so every
// complete line is on the wire before the next step runs (and before exit).

enum Serial {
    static let base: UInt16 = 0x3F8
    private static let lineStatus: UInt16 = base + 5
    private static let transmitEmpty: UInt8 = 0x20
    static let fifoSize = 16

    nonisolated(unsafe) private static var buffer: (UInt64, UInt64) = (0, 0)
    nonisolated(unsafe) private static var buffered = 0

    /// 115200 baud, 8N1, FIFOs on, no interrupts.
    static func initialize() {
        arch_outb(base + 1, 0x00)  // IER: no interrupts
        arch_outb(base + 3, 0x80)  // LCR: DLAB
        arch_outb(base + 0, 0x01)  // divisor low: 115200
        arch_outb(base + 1, 0x00)  // divisor high
        arch_outb(base + 3, 0x03)  // LCR: 8N1
        arch_outb(base + 2, 0xC7)  // FCR: enable + clear FIFOs
        arch_outb(base + 4, 0x03)  // MCR: DTR, RTS
        buffered = 0
    }

    static func write(_ byte: UInt8) {
        withUnsafeMutableBytes(of: &buffer) { $0[buffered] = byte }
        buffered += 1
        if buffered == fifoSize || byte == UInt8(ascii: "\n") { flush() }
    }

    /// Sends what is buffered (waits for an empty transmit FIFO first).
    static func flush() {
        guard buffered > 0 else { return }
        while arch_inb(lineStatus) & transmitEmpty == 0 {
            arch_pause()
        }
        withUnsafeBytes(of: &buffer) { bytes in
            arch_outsb(base, bytes.baseAddress!, UInt64(buffered))
        }
        buffered = 0
    }
}
