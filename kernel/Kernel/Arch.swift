// Arch.swift — Swift views of the assembly in arch/x86_64/*.S.
// (`@_extern(c)` needs `-enable-experimental-feature Extern`, see build.toml.)

@_extern(c, "arch_outb") func arch_outb(_ port: UInt16, _ value: UInt8)
@_extern(c, "arch_outw") func arch_outw(_ port: UInt16, _ value: UInt16)
@_extern(c, "arch_outl") func arch_outl(_ port: UInt16, _ value: UInt32)
@_extern(c, "arch_inb") func arch_inb(_ port: UInt16) -> UInt8
@_extern(c, "arch_inw") func arch_inw(_ port: UInt16) -> UInt16
@_extern(c, "arch_inl") func arch_inl(_ port: UInt16) -> UInt32

@_extern(c, "arch_halt_forever") private func arch_halt_forever_c()
@_extern(c, "arch_pause") func arch_pause()
@_extern(c, "arch_read_cr3") func arch_read_cr3() -> UInt64
@_extern(c, "arch_write_cr3") func arch_write_cr3(_ value: UInt64)
@_extern(c, "arch_rdtsc") func arch_rdtsc() -> UInt64
@_extern(c, "arch_invlpg") func arch_invlpg(_ address: UInt64)
@_extern(c, "arch_triple_fault") private func arch_triple_fault_c()

/// Physical (= virtual, identity-mapped) address of the zeroed spare
/// page-table pages reserved in boot.S, and how many there are.
@_extern(c, "arch_boot_spare_tables") func arch_boot_spare_tables() -> UInt64
let bootSpareTableCount = 4

// C cannot spell `Never`; these wrappers tell Swift the stubs never return.

/// Interrupts off, `hlt` forever.
func arch_halt_forever() -> Never {
    arch_halt_forever_c()
    while true {}
}

/// Loads an empty IDT and executes int3: the CPU triple-faults.
func arch_triple_fault() -> Never {
    arch_triple_fault_c()
    while true {}
}
