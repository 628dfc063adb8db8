// Arch.swift — Swift views of the assembly in arch/x86_64/*.S.
// (`@_extern(c)` needs `-enable-experimental-feature Extern`, see build.toml.)

@_extern(c, "arch_outb") func arch_outb(_ port: UInt16, _ value: UInt8)
@_extern(c, "arch_outw") func arch_outw(_ port: UInt16, _ value: UInt16)
@_extern(c, "arch_outl") func arch_outl(_ port: UInt16, _ value: UInt32)
@_extern(c, "arch_outsb") func arch_outsb(_ port: UInt16, _ bytes: UnsafeRawPointer, _ count: UInt64)
@_extern(c, "arch_inb") func arch_inb(_ port: UInt16) -> UInt8
@_extern(c, "arch_inw") func arch_inw(_ port: UInt16) -> UInt16
@_extern(c, "arch_inl") func arch_inl(_ port: UInt16) -> UInt32

@_extern(c, "arch_halt_forever") private func arch_halt_forever_c()
@_extern(c, "arch_pause") func arch_pause()
@_extern(c, "arch_read_cr3") func arch_read_cr3() -> UInt64
@_extern(c, "arch_write_cr3") func arch_write_cr3(_ value: UInt64)
@_extern(c, "arch_rdmsr") func arch_rdmsr(_ msr: UInt32) -> UInt64
@_extern(c, "arch_wrmsr") func arch_wrmsr(_ msr: UInt32, _ value: UInt64)
@_extern(c, "arch_read_cr0") func arch_read_cr0() -> UInt64
@_extern(c, "arch_rdtsc") func arch_rdtsc() -> UInt64
@_extern(c, "arch_invlpg") func arch_invlpg(_ address: UInt64)
@_extern(c, "arch_triple_fault") private func arch_triple_fault_c()
/// count words at dst: first, first+step, first+2*step, ...
@_extern(c, "arch_fill_entries") func arch_fill_entries(
    _ dst: UnsafeMutablePointer<UInt64>, _ first: UInt64, _ step: UInt64, _ count: UInt64)

/// Physical (= virtual, identity-mapped) address of the zeroed spare
/// page-table pages reserved in boot.S, and how many there are.
@_extern(c, "arch_boot_spare_tables") func arch_boot_spare_tables() -> UInt64
let bootSpareTableCount = 4
/// boot.S identity-maps [0, 1 GiB) until the kernel's own tables are loaded.
let bootIdentityMapEnd: UInt64 = 1 << 30

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

// traps.S
@_extern(c, "arch_trap_stub") func arch_trap_stub(_ vector: UInt64) -> UInt64
@_extern(c, "arch_load_gdt") func arch_load_gdt(_ base: UInt64, _ limit: UInt16, _ code: UInt16, _ data: UInt16)
@_extern(c, "arch_load_tr") func arch_load_tr(_ selector: UInt16)
@_extern(c, "arch_load_idt") func arch_load_idt(_ base: UInt64, _ limit: UInt16)
@_extern(c, "arch_read_cr2") func arch_read_cr2() -> UInt64
@_extern(c, "arch_cpuid") func arch_cpuid(_ leaf: UInt32, _ subleaf: UInt32, _ out: UnsafeMutablePointer<UInt32>)
@_extern(c, "arch_breakpoint") func arch_breakpoint()
@_extern(c, "arch_single_step") func arch_single_step()
@_extern(c, "arch_probe_read") func arch_probe_read(_ address: UInt64) -> UInt64
@_extern(c, "arch_probe_read_rip") func arch_probe_read_rip() -> UInt64
@_extern(c, "arch_probe_read_fixup_rip") func arch_probe_read_fixup_rip() -> UInt64
@_extern(c, "arch_fault_ud") private func arch_fault_ud_c()
@_extern(c, "arch_fault_df") private func arch_fault_df_c(_ stack: UInt64)
@_extern(c, "arch_kernel_start") func arch_kernel_start() -> UInt64
@_extern(c, "arch_kernel_end") func arch_kernel_end() -> UInt64
@_extern(c, "arch_idt_base") func arch_idt_base() -> UInt64
@_extern(c, "arch_gdt_base") func arch_gdt_base() -> UInt64
@_extern(c, "arch_tss_base") func arch_tss_base() -> UInt64
@_extern(c, "arch_ist1_top") func arch_ist1_top() -> UInt64
@_extern(c, "arch_cmdline_buffer") func arch_cmdline_buffer() -> UInt64
@_extern(c, "arch_memmap_buffer") func arch_memmap_buffer() -> UInt64
let memmapBufferEntries = 128
@_extern(c, "arch_strnlen") func arch_strnlen(_ s: UnsafeRawPointer, _ max: UInt64) -> Int
@_extern(c, "arch_serial_line") func arch_serial_line() -> UInt64
/// 8 KiB, not zeroed: see BootArena.
@_extern(c, "arch_boot_arena") func arch_boot_arena() -> UInt64
let bootArenaSize = 0x2000

func arch_fault_ud() -> Never {
    arch_fault_ud_c()
    while true {}
}

/// Sets %rsp to `stack` (unmapped) and pushes: #PF cannot be delivered, #DF via IST1.
func arch_fault_df(stack: UInt64) -> Never {
    arch_fault_df_c(stack)
    while true {}
}

/// CPUID leaf/subleaf: (eax, ebx, ecx, edx).
func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> (UInt32, UInt32, UInt32, UInt32) {
    var regs: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    withUnsafeMutableBytes(of: &regs) { arch_cpuid(leaf, subleaf, $0.baseAddress!.assumingMemoryBound(to: UInt32.self)) }
    return regs
}

// irq.S
@_extern(c, "arch_switch") func arch_switch(_ saveRSP: UnsafeMutablePointer<UInt64>, _ newRSP: UInt64)
@_extern(c, "arch_lock_irqsave") func arch_lock_irqsave(_ lock: UnsafeMutablePointer<UInt32>) -> UInt64
@_extern(c, "arch_unlock_irqrestore") func arch_unlock_irqrestore(_ lock: UnsafeMutablePointer<UInt32>, _ flags: UInt64)
@_extern(c, "arch_unlock") func arch_unlock(_ lock: UnsafeMutablePointer<UInt32>)
@_extern(c, "arch_sti") func arch_sti()
@_extern(c, "arch_cli") func arch_cli()
@_extern(c, "arch_flags") func arch_flags() -> UInt64
@_extern(c, "arch_sti_hlt") func arch_sti_hlt()
@_extern(c, "arch_load_u64") func arch_load_u64(_ p: UnsafeMutablePointer<UInt64>) -> UInt64
@_extern(c, "arch_atomic_add") func arch_atomic_add(_ p: UnsafeMutablePointer<UInt64>, _ v: UInt64) -> UInt64
@_extern(c, "arch_set_gs_base") func arch_set_gs_base(_ base: UInt64)
@_extern(c, "arch_cpu") func arch_cpu() -> Int
@_extern(c, "arch_percpu") func arch_percpu() -> UnsafeMutablePointer<UInt64>
@_extern(c, "arch_percpu_base") func arch_percpu_base() -> UInt64
@_extern(c, "arch_enter_user") private func arch_enter_user_c(_ rip: UInt64, _ rsp: UInt64, _ arg: UInt64)
@_extern(c, "thread_trampoline") func thread_trampoline()

func arch_enter_user(rip: UInt64, rsp: UInt64, arg: UInt64) -> Never {
    arch_enter_user_c(rip, rsp, arg)
    while true {}
}

/// The address of a C function (assembly label) as a number.
func address(of function: @convention(c) () -> Void) -> UInt64 {
    UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
}

// smp.S
@_extern(c, "arch_smp_trampoline") func arch_smp_trampoline() -> UInt64
@_extern(c, "arch_smp_trampoline_size") func arch_smp_trampoline_size() -> UInt64
@_extern(c, "arch_smp_data_offset") func arch_smp_data_offset() -> UInt64
@_extern(c, "ap_entry") func ap_entry()

// user.S
@_extern(c, "arch_user_programs") func arch_user_programs() -> UInt64
@_extern(c, "arch_user_program_offsets") func arch_user_program_offsets(_ out: UnsafeMutablePointer<UInt64>)
