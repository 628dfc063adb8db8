/*
 * traps.S — exception entry stubs, descriptor-table loads and the few CPU
 * instructions the trap code needs (Swift cannot express them).
 *
 * Every vector 0-31 has a stub. Vectors without a CPU error code push a 0
 * first, so all stubs build the same frame, then push the vector number and
 * the 15 general registers and call os3_trap(frame) (Kernel/Traps.swift).
 * Frame, as 64-bit words from the pointer passed in %rdi:
 *   [0] r15 [1] r14 [2] r13 [3] r12 [4] r11 [5] r10 [6] r9 [7] r8
 *   [8] rbp [9] rdi [10] rsi [11] rdx [12] rcx [13] rbx [14] rax
 *   [15] vector [16] error code [17] rip [18] cs [19] rflags [20] rsp [21] ss
 * 22 words = 176 bytes: the CPU aligns %rsp to 16 before pushing, so %rsp is
 * 16-aligned at the call. The handler may change rip (fault recovery); the
 * stub then restores the registers and returns with iretq.
 * No FPU/SSE state is saved: the kernel is built without SSE.
 */
        .text
        .code64

.macro TRAP_NOERR n
        .p2align 4
trap_stub_\n:
        pushq   $0
        pushq   $\n
        jmp     trap_common
.endm

.macro TRAP_ERR n
        .p2align 4
trap_stub_\n:
        pushq   $\n
        jmp     trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR   8
TRAP_NOERR 9
TRAP_ERR   10
TRAP_ERR   11
TRAP_ERR   12
TRAP_ERR   13
TRAP_ERR   14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR   17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR   21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR   29
TRAP_ERR   30
TRAP_NOERR 31
/* interrupts and the system-call gate (same frame; see irq.S for the
 * timer's fast path, which enters here only when the scheduler must run) */
TRAP_NOERR 36           /* COM1 receive (IOAPIC pin 4) */
TRAP_NOERR 128          /* int $0x80: system call (DPL 3 gate) */
TRAP_NOERR 255          /* LAPIC spurious */

        .p2align 4
        .globl  trap_common
trap_common:
        /* from ring 3: the kernel's %gs base (per-CPU data) back in place */
        testb   $3, 24(%rsp)            /* CS, above vector and error code */
        jz      1f
        swapgs
1:      pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        cld
        movq    %rsp, %rdi
        call    os3_trap
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rbp
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rbx
        popq    %rax
        addq    $16, %rsp               /* vector, error code */
        testb   $3, 8(%rsp)             /* back to ring 3: its %gs base */
        jz      2f
        swapgs
2:      iretq

/* uint64_t arch_trap_stub(uint64_t vector): entry address of a stub
 * (vectors 0-31; 32 = the timer, 36, 128, 255 as themselves) */
        .globl  arch_trap_stub
        .type   arch_trap_stub, @function
arch_trap_stub:
        cmpq    $32, %rdi
        jb      1f
        leaq    irq_timer(%rip), %rax
        je      2f
        leaq    trap_stub_36(%rip), %rax
        cmpq    $36, %rdi
        je      2f
        leaq    trap_stub_128(%rip), %rax
        cmpq    $128, %rdi
        je      2f
        leaq    trap_stub_255(%rip), %rax
        ret
1:      leaq    trap_stub_table(%rip), %rax
        movq    (%rax,%rdi,8), %rax
2:      ret
        .size   arch_trap_stub, . - arch_trap_stub

/* void arch_load_gdt(uint64_t base, uint16_t limit, uint16_t code, uint16_t data):
 * lgdt, then reload %cs (far return) and the data segment registers. */
        .globl  arch_load_gdt
        .type   arch_load_gdt, @function
arch_load_gdt:
        subq    $16, %rsp
        movw    %si, 6(%rsp)
        movq    %rdi, 8(%rsp)
        lgdt    6(%rsp)
        addq    $16, %rsp
        movw    %cx, %ds
        movw    %cx, %es
        movw    %cx, %ss
        /* %fs/%gs untouched: loading a selector may clear the %gs base
         * (per-CPU data) on AMD; boot.S already set them to 0 */
        popq    %rax                    /* return address */
        movzwq  %dx, %rdx
        pushq   %rdx
        pushq   %rax
        lretq
        .size   arch_load_gdt, . - arch_load_gdt

/* void arch_load_tr(uint16_t selector) */
        .globl  arch_load_tr
        .type   arch_load_tr, @function
arch_load_tr:
        ltr     %di
        ret
        .size   arch_load_tr, . - arch_load_tr

/* void arch_load_idt(uint64_t base, uint16_t limit) */
        .globl  arch_load_idt
        .type   arch_load_idt, @function
arch_load_idt:
        subq    $16, %rsp
        movw    %si, 6(%rsp)
        movq    %rdi, 8(%rsp)
        lidt    6(%rsp)
        addq    $16, %rsp
        ret
        .size   arch_load_idt, . - arch_load_idt

        .globl  arch_read_cr2
        .type   arch_read_cr2, @function
arch_read_cr2:
        movq    %cr2, %rax
        ret
        .size   arch_read_cr2, . - arch_read_cr2

/* void arch_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) -> eax ebx ecx edx */
        .globl  arch_cpuid
        .type   arch_cpuid, @function
arch_cpuid:
        pushq   %rbx
        movq    %rdx, %r8
        movl    %edi, %eax
        movl    %esi, %ecx
        cpuid
        movl    %eax, 0(%r8)
        movl    %ebx, 4(%r8)
        movl    %ecx, 8(%r8)
        movl    %edx, 12(%r8)
        popq    %rbx
        ret
        .size   arch_cpuid, . - arch_cpuid

        .globl  arch_breakpoint
        .type   arch_breakpoint, @function
arch_breakpoint:
        int3
        ret
        .size   arch_breakpoint, . - arch_breakpoint

/* Single step: set RFLAGS.TF, so the instruction after popfq raises #DB
 * (a trap: the handler clears TF in the saved RFLAGS and returns). Used
 * where a software int3 cannot be delivered (nested KVM, see Traps.swift). */
        .globl  arch_single_step
        .type   arch_single_step, @function
arch_single_step:
        pushfq
        orq     $0x100, (%rsp)
        popfq
        nop
        ret
        .size   arch_single_step, . - arch_single_step

/* uint64_t arch_probe_read(uint64_t address): one 64-bit load. If it faults
 * and the trap handler recognises the faulting rip (arch_probe_read_rip) it
 * resumes at arch_probe_read_fixup_rip, which returns ~0. */
        .globl  arch_probe_read
        .type   arch_probe_read, @function
arch_probe_read:
probe_load:
        movq    (%rdi), %rax
        ret
probe_fixup:
        movq    $-1, %rax
        ret
        .size   arch_probe_read, . - arch_probe_read

        .globl  arch_probe_read_rip
arch_probe_read_rip:
        leaq    probe_load(%rip), %rax
        ret
        .globl  arch_probe_read_fixup_rip
arch_probe_read_fixup_rip:
        leaq    probe_fixup(%rip), %rax
        ret

/* noreturn: os3.fault=ud — an undefined opcode nobody expects */
        .globl  arch_fault_ud
        .type   arch_fault_ud, @function
arch_fault_ud:
        ud2
        jmp     arch_halt_forever
        .size   arch_fault_ud, . - arch_fault_ud

/* noreturn: os3.fault=df — point %rsp at an unmapped page and push: the
 * #PF cannot be delivered on that stack, so the CPU raises #DF, which runs
 * on the IST1 stack (the only way the handler can run at all). */
        .globl  arch_fault_df
        .type   arch_fault_df, @function
arch_fault_df:
        movq    %rdi, %rsp
        pushq   $0
        jmp     arch_halt_forever
        .size   arch_fault_df, . - arch_fault_df

/* uint64_t arch_kernel_end(void), arch_kernel_start(void) */
        .globl  arch_kernel_end
arch_kernel_end:
        leaq    __kernel_end(%rip), %rax
        ret
        .globl  arch_kernel_start
arch_kernel_start:
        leaq    __kernel_start(%rip), %rax
        ret

        .section .rodata.traps, "a", @progbits
        .p2align 3
trap_stub_table:
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad   trap_stub_\n
        .endr

/* ---- descriptor tables, the IST1 stack, boot-data copies (bss) -------- */
        .section .bss.traps, "aw", @nobits
        .p2align 12
os3_idt:        .skip   256 * 16
        .p2align 4
/* null, kernel code, kernel data, user data, user code, then one TSS
 * descriptor (2 words) per CPU (at most 8) */
os3_gdt:        .skip   (5 + 2 * 8) * 8
        .p2align 4
os3_tss:        .skip   8 * 112         /* one 104-byte TSS per CPU */
/* not zeroed: written before they are read */
        .section .noinit.traps, "aw", @nobits
        .p2align 4
os3_cmdline:    .skip   4096            /* copy of the command line */
os3_memmap:     .skip   128 * 24        /* copy of the PVH memory map */
os3_serial_line: .skip  128             /* Serial.swift's line buffer */
        .p2align 4
os3_boot_arena: .skip   0x2000          /* BootArena: cmdline spans, memory regions, probes */
        .p2align 12
os3_ist1:       .skip   0x4000          /* #DF stack */
os3_ist1_top:

        .text
        .globl  arch_idt_base, arch_gdt_base, arch_tss_base, arch_ist1_top
        .globl  arch_cmdline_buffer, arch_memmap_buffer, arch_serial_line, arch_boot_arena
arch_idt_base:          leaq os3_idt(%rip), %rax
                        ret
arch_gdt_base:          leaq os3_gdt(%rip), %rax
                        ret
arch_tss_base:          leaq os3_tss(%rip), %rax
                        ret
arch_ist1_top:          leaq os3_ist1_top(%rip), %rax
                        ret
arch_cmdline_buffer:    leaq os3_cmdline(%rip), %rax
                        ret
arch_memmap_buffer:     leaq os3_memmap(%rip), %rax
                        ret
arch_serial_line:       leaq os3_serial_line(%rip), %rax
                        ret
arch_boot_arena:        leaq os3_boot_arena(%rip), %rax
                        ret
