// Serial.swift — 16550 UART on COM1: line-buffered output, polled.
//
// Output collects in a line buffer (up to `capacity` bytes) and goes out with
// one `rep outsb` per line, after one line-status read (transmitter empty).
// In the kvm lanes every ring-0 instruction is emulated (~2000 TSC cycles)
// and every port access is an exit to QEMU, so a line costs one `inb`, one
// `rep outsb` and a memcpy per string instead of work per character. QEMU's
// UART hands each THR write to the chardev at once (the host file accepts
// it), so more than one FIFO load per `rep outsb` is not lost. A "\n"
// flushes, so every complete line is on the wire before the next step runs.
// Receive side (interrupts): Kernel/SerialInput.swift.

enum Serial {
    static let base: UInt16 = 0x3F8
    private static let lineStatus: UInt16 = base + 5
    private static let transmitEmpty: UInt8 = 0x20
    static let capacity = 120

    nonisolated(unsafe) private static var line = UnsafeMutablePointer<UInt8>(bitPattern: 1)!
    nonisolated(unsafe) private static var buffered = 0

    /// 115200 baud, 8N1, FIFOs on, no interrupts.
    static func initialize() {
        line = UnsafeMutablePointer<UInt8>(bitPattern: UInt(arch_serial_line()))!
        arch_outb(base + 1, 0x00)  // IER: no interrupts
        arch_outb(base + 3, 0x80)  // LCR: DLAB
        arch_outb(base + 0, 0x01)  // divisor low: 115200
        arch_outb(base + 1, 0x00)  // divisor high
        arch_outb(base + 3, 0x03)  // LCR: 8N1
        arch_outb(base + 2, 0xC7)  // FCR: enable + clear FIFOs
        arch_outb(base + 4, 0x0B)  // MCR: DTR, RTS, OUT2 (the IRQ line, for receive)
        buffered = 0
    }

    static func write(_ byte: UInt8) {
        line[buffered] = byte
        buffered &+= 1
        if buffered == capacity || byte == UInt8(ascii: "\n") { flush() }
    }

    /// Appends `count` bytes (flushes when the buffer fills, and at the end
    /// if the last byte is "\n").
    static func write(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        var from = bytes
        var left = count
        while left > 0 {
            let room = capacity &- buffered
            let n = left < room ? left : room
            (line + buffered).update(from: from, count: n)
            buffered &+= n
            from += n
            left &-= n
            if buffered == capacity { flush() }
        }
        if count > 0 && bytes[count &- 1] == UInt8(ascii: "\n") { flush() }
    }

    /// Sends what is buffered (waits for an empty transmitter first).
    static func flush() {
        guard buffered > 0 else { return }
        while arch_inb(lineStatus) & transmitEmpty == 0 {
            arch_pause()
        }
        arch_outsb(base, UnsafeRawPointer(line), UInt64(buffered))
        buffered = 0
    }
}
