/*
 * smp.S — the application processors' way into the kernel.
 *
 * `smp_trampoline_start .. smp_trampoline_end` is copied to physical
 * SMP_TRAMPOLINE (0x8000, below 1 MiB, page aligned: SIPI vector 0x08) and
 * runs there: real mode -> 32-bit protected mode -> long mode through the
 * boot page tables (boot_pml4, identity 0-1 GiB, below 4 GiB so a 32-bit
 * `mov %cr3` reaches it), then the kernel's own CR3 (may lie above 4 GiB).
 * Each AP takes the next CPU number with `lock xadd` (all APs start
 * together: the INIT and SIPIs are broadcast), its stack from the table
 * the BSP filled in, and jumps to ap_entry with %edi = CPU number.
 * Addresses inside the copy are SMP_TRAMPOLINE + (label - start).
 */
#define SMP_TRAMPOLINE  0x8000
#define T(label)        (SMP_TRAMPOLINE + ((label) - smp_trampoline_start))

        .section .rodata.smp, "a", @progbits
        .p2align 12
        .globl  smp_trampoline_start, smp_trampoline_end, smp_trampoline_data
        .code16
smp_trampoline_start:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ds
        lgdtl   T(tramp_gdt_ptr)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $T(tramp_pm32)

        .code32
tramp_pm32:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr4, %eax
        orl     $0x20, %eax             /* PAE */
        movl    %eax, %cr4
        movl    $boot_pml4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx       /* EFER.LME */
        rdmsr
        orl     $0x100, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $0x80010000, %eax       /* PG, WP */
        movl    %eax, %cr0
        ljmpl   $0x18, $T(tramp_lm64)

        .code64
tramp_lm64:
        movl    $1, %eax
        lock xaddl %eax, T(tramp_next_cpu)
        movl    %eax, %edi              /* this AP's CPU number (1, 2, ...) */
        movq    T(tramp_cr3), %rax
        movq    %rax, %cr3
        movq    %rdi, %rax
        imulq   T(tramp_stride), %rax
        addq    T(tramp_stacks), %rax
        movq    %rax, %rsp              /* top of block cpu-1 */
        movq    T(tramp_entry), %rax
        jmp     *%rax

        .p2align 3
tramp_gdt:
        .quad   0
        .quad   0x00cf9a000000ffff      /* 0x08: 32-bit code */
        .quad   0x00cf92000000ffff      /* 0x10: data */
        .quad   0x00af9a000000ffff      /* 0x18: 64-bit code */
tramp_gdt_ptr:
        .word   4 * 8 - 1
        .long   T(tramp_gdt)
        .p2align 3
smp_trampoline_data:                    /* filled by SMP.swift in the copy */
tramp_next_cpu: .quad   1
tramp_cr3:      .quad   0
tramp_stacks:   .quad   0
tramp_stride:   .quad   0
tramp_entry:    .quad   0
smp_trampoline_end:

        .text
/* The APs' first kernel code: %edi = CPU number, %rsp = its stack top. */
        .globl  ap_entry
ap_entry:
        xorl    %ebp, %ebp
        call    os3_ap_main
1:      cli
        hlt
        jmp     1b

        .globl  arch_smp_trampoline
arch_smp_trampoline:
        leaq    smp_trampoline_start(%rip), %rax
        ret
        .globl  arch_smp_trampoline_size
arch_smp_trampoline_size:
        movl    $(smp_trampoline_end - smp_trampoline_start), %eax
        ret
        .globl  arch_smp_data_offset
arch_smp_data_offset:
        movl    $(smp_trampoline_data - smp_trampoline_start), %eax
        ret
