// SerialInput.swift — COM1 receive by interrupt.
//
// The UART raises "received data available" (IER bit 0); the IOAPIC routes
// IRQ 4 to vector 36 on CPU 0. The handler drains the receive FIFO, counts
// the bytes, keeps them, and echoes them on one console line as
// `os3: echo [e][l][l][o]` (Quartz's echo). With `os3.rx=<n>` the boot
// waits for n bytes (the lane types them: [console-input]) and prints
// `os3: rx ok n=<n> echo=[..][..] irqs=<n>`.

enum SerialInput {
    static let capacity = 64
    nonisolated(unsafe) static var received: UInt64 = 0
    nonisolated(unsafe) static var interrupts: UInt64 = 0
    nonisolated(unsafe) static var bytes: UnsafeMutablePointer<UInt8>? = nil

    static func enable() {
        bytes = BootArena.take(UInt8.self, count: capacity)
        Interrupts.route(pin: 4, vector: Interrupts.serialVector)
        arch_outb(Serial.base + 1, 0x01)  // IER: received data available
    }

    /// Vector 36, interrupts off.
    static func interrupt() {
        interrupts &+= 1
        let flags = Locks.console.acquire()
        var echoed = false
        while arch_inb(Serial.base + 5) & 1 != 0 {
            let byte = arch_inb(Serial.base)
            if received < UInt64(capacity) { bytes![Int(received)] = byte }
            received &+= 1
            if !echoed {
                Console.write("os3: echo ")
                echoed = true
            }
            writeBracketed(byte)
        }
        if echoed { Console.write("\n") }
        Locks.console.release(flags)
        Interrupts.endOfInterrupt()
    }

    static func writeBracketed(_ byte: UInt8) {
        Serial.write(UInt8(ascii: "["))
        Serial.write(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
        Serial.write(UInt8(ascii: "]"))
    }
}
