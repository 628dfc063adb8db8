// RuntimeStubs.swift — C symbols the Embedded Swift runtime may reference.
// There is no heap yet: anything that allocates panics loudly.

@c(posix_memalign)
func posix_memalign(
    _ memptr: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ alignment: Int, _ size: Int
) -> Int32 {
    panic("posix_memalign called but the kernel has no heap yet")
}

/// `free` itself is a trampoline in arch/x86_64/libc.S (Swift will not
/// export that name).
@c(os3_free)
func os3_free(_ pointer: UnsafeMutableRawPointer?) {
    if pointer == nil { return }
    panic("free called but the kernel has no heap yet")
}

@c(arc4random_buf)
func arc4random_buf(_ buffer: UnsafeMutableRawPointer?, _ count: Int) {
    panic("arc4random_buf called but the kernel has no entropy source yet")
}

/// Used by the runtime's own diagnostics (e.g. fatalError messages).
@c(putchar)
func putchar(_ character: Int32) -> Int32 {
    Serial.write(UInt8(truncatingIfNeeded: character))
    return character
}
