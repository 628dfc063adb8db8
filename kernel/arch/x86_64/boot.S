/*
 * boot.S — PVH entry: 32-bit protected mode -> 64-bit long mode -> kmain.
 *
 * Contract (Xen PVH, as implemented by QEMU's -kernel for ELF images):
 *   entered at the address in the XEN_ELFNOTE_PHYS32_ENTRY note, 32-bit
 *   protected mode, paging off, interrupts off, %ebx = physical address of
 *   struct hvm_start_info (magic 0x336ec578).
 *
 * Early page tables identity-map the first 1 GiB with 2 MiB pages (never
 * 1 GiB pages: not offered by KVM on the nested hosts we run on). They are
 * built by the assembler as initialized .data, so the loader copies them and
 * no emulated instruction fills them (under the kvm lanes' hypervisor every
 * ring-0 instruction costs ~2000 TSC cycles, docs/KERNEL.md). Anything above
 * 1 GiB is mapped later from Swift (Kernel/EarlyPaging.swift) using the spare
 * table pages reserved here, or by the kernel's own tables.
 *
 * Zeroing: only .bss (small: Swift globals, IDT, GDT, TSS) is cleared, with
 * `rep stosq` in long mode. Stacks, spare tables and the boot-data copies
 * live in .noinit (after __bss_end): nothing reads them before writing.
 */

#define PVH_MAGIC       0x336ec578
#define CR0_PG          0x80000000
#define CR0_WP          0x00010000
#define CR4_PAE         0x00000020
#define MSR_EFER        0xc0000080
#define EFER_LME        0x00000100
#define PTE_P_RW        0x003
#define PTE_P_RW_PS     0x083

#define GDT_CODE64      0x08
#define GDT_DATA        0x10

/* ---- PVH ELF note ------------------------------------------------------ */
        .section .note.Xen, "a", @note
        .p2align 2
        .long   4               /* namesz */
        .long   4               /* descsz */
        .long   18              /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .p2align 2
        .long   _start32

/* ---- 32-bit entry ------------------------------------------------------ */
        .section .text.boot, "ax", @progbits
        .code32
        .globl  _start32
        .type   _start32, @function
_start32:
        cli
        cld
        movl    %ebx, %esi              /* hvm_start_info, kept in %esi */

        /* PAE on, CR3 = the prebuilt tables, EFER.LME, then paging (+WP) */
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $boot_pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $(CR0_PG | CR0_WP), %eax
        movl    %eax, %cr0

        lgdt    boot_gdt_ptr
        ljmp    $GDT_CODE64, $_start64

/* ---- 64-bit continuation ----------------------------------------------- */
        .code64
_start64:
        movw    $GDT_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        xorl    %eax, %eax
        movw    %ax, %fs
        movw    %ax, %gs
        /* zero .bss, 8 bytes per iteration (linker.ld aligns it to 16) */
        movl    %esi, %ebx
        movabsq $__bss_start, %rdi
        movabsq $__bss_end, %rcx
        subq    %rdi, %rcx
        shrq    $3, %rcx
        xorl    %eax, %eax
        rep stosq
        movl    %ebx, boot_start_info(%rip)
        movabsq $boot_stack_top, %rsp
        xorl    %ebp, %ebp
        movl    %ebx, %edi                      /* zero-extends into %rdi */
        call    kmain
        jmp     arch_halt_forever
        .size   _start32, . - _start32

/* uint64_t arch_boot_spare_tables(void): address of the spare table pages */
        .text
        .globl  arch_boot_spare_tables
        .type   arch_boot_spare_tables, @function
arch_boot_spare_tables:
        leaq    boot_spare_tables(%rip), %rax
        ret
        .size   arch_boot_spare_tables, . - arch_boot_spare_tables

/* ---- boot GDT (null, 64-bit code, data) -------------------------------- */
        .section .rodata.boot, "a", @progbits
        .p2align 3
        .globl  boot_gdt
boot_gdt:
        .quad   0
        .quad   0x00af9a000000ffff      /* 0x08: code, L=1, DPL0 */
        .quad   0x00cf92000000ffff      /* 0x10: data, DPL0 */
boot_gdt_end:
        .p2align 2
        .word   0
boot_gdt_ptr:
        .word   boot_gdt_end - boot_gdt - 1
        .quad   boot_gdt

/* ---- boot page tables: initialized data, 0-1 GiB identity ------------ */
        .section .data.boot_tables, "aw", @progbits
        .p2align 12
        .globl  boot_pml4, boot_pdpt, boot_pd
boot_pml4:
        .quad   boot_pdpt + PTE_P_RW
        .fill   511, 8, 0
boot_pdpt:
        .quad   boot_pd + PTE_P_RW
        .fill   511, 8, 0
boot_pd:                                /* 512 x 2 MiB */
        .set    boot_pd_address, 0
        .rept   512
        .quad   boot_pd_address + PTE_P_RW_PS
        .set    boot_pd_address, boot_pd_address + 0x200000
        .endr

/* ---- not zeroed: spare table pages, boot stack ------------------------ */
        .section .noinit, "aw", @nobits
        .p2align 12
        .globl  boot_spare_tables
/* 4 KiB pages that Swift may hand out as page tables before a frame
 * allocator exists (EarlyPaging.swift zeroes each one it takes) */
boot_spare_tables:
        .skip   0x1000 * 4
        .p2align 4
boot_stack:
        .skip   0x8000
boot_stack_top:

        .section .bss, "aw", @nobits
        .p2align 3
        .globl  boot_start_info
boot_start_info:
        .quad   0
