// RuntimeStubs.swift — C symbols the Embedded Swift runtime references.
// posix_memalign/free are backed by the kernel heap (Pure/KernelHeap.swift),
// under the interrupt-safe heap lock (Locks.swift): any CPU, any thread.

let EINVAL: Int32 = 22
let ENOMEM: Int32 = 12

@c(posix_memalign)
func posix_memalign(
    _ memptr: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ alignment: Int, _ size: Int
) -> Int32 {
    guard let memptr else { return EINVAL }
    guard alignment >= 8, alignment & (alignment - 1) == 0 else { return EINVAL }
    guard KernelMemory.heap != nil else { panic("posix_memalign called before the heap exists") }
    let flags = Locks.heap.acquire()
    let result = KernelMemory.heap!.allocate(size: max(size, 1), alignment: alignment)
    Locks.heap.release(flags)
    guard let address = result else {
        memptr.pointee = nil
        return ENOMEM
    }
    memptr.pointee = UnsafeMutableRawPointer(bitPattern: UInt(address))
    return 0
}

/// `free` itself is a trampoline in arch/x86_64/libc.S (Swift will not
/// export that name). A double free or a foreign pointer is a kernel bug.
@c(os3_free)
func os3_free(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    guard KernelMemory.heap != nil else { panic("free called before the heap exists") }
    let flags = Locks.heap.acquire()
    let result = KernelMemory.heap!.free(UInt64(UInt(bitPattern: pointer)))
    Locks.heap.release(flags)
    switch result {
    case .freed: return
    case .doubleFree: panic("free: double free")
    case .invalid: panic("free: pointer the heap never handed out")
    }
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
