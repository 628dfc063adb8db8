/*
 * boot.S — PVH entry: 32-bit protected mode -> 64-bit long mode -> kmain.
 *
 * Contract (Xen PVH, as implemented by QEMU's -kernel for ELF images):
 *   entered at the address in the XEN_ELFNOTE_PHYS32_ENTRY note, 32-bit
 *   protected mode, paging off, interrupts off, %ebx = physical address of
 *   struct hvm_start_info (magic 0x336ec578).
 *
 * Early page tables identity-map the first 4 GiB with 2 MiB pages (never
 * 1 GiB pages: not offered by KVM on the nested hosts we run on). Anything
 * above 4 GiB is mapped later from Swift (Kernel/EarlyPaging.swift) using
 * the spare table pages reserved here.
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
        /* zero .bss (page tables, stack, saved start-info live there) */
        movl    %ebx, %esi
        movl    $__bss_start, %edi
        movl    $__bss_end, %ecx
        subl    %edi, %ecx
        xorl    %eax, %eax
        rep stosb
        movl    %esi, boot_start_info

        movl    $boot_stack_top, %esp

        /* PML4[0] -> PDPT */
        movl    $boot_pdpt, %eax
        orl     $PTE_P_RW, %eax
        movl    %eax, boot_pml4

        /* PDPT[0..3] -> PD0..PD3 (4 consecutive pages at boot_pd) */
        movl    $boot_pd, %eax
        orl     $PTE_P_RW, %eax
        xorl    %ecx, %ecx
1:      movl    %eax, boot_pdpt(,%ecx,8)
        addl    $0x1000, %eax
        incl    %ecx
        cmpl    $4, %ecx
        jb      1b

        /* PD entries: 2048 x 2 MiB = 4 GiB identity (high dwords stay 0) */
        movl    $PTE_P_RW_PS, %eax
        xorl    %ecx, %ecx
2:      movl    %eax, boot_pd(,%ecx,8)
        addl    $0x200000, %eax
        incl    %ecx
        cmpl    $2048, %ecx
        jb      2b

        /* PAE on, CR3, EFER.LME, then paging (+WP) */
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
        movabsq $boot_stack_top, %rsp
        xorl    %ebp, %ebp
        movl    boot_start_info(%rip), %edi     /* zero-extends into %rdi */
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

/* ---- bss: tables, spare table pages, stack ----------------------------- */
        .section .bss.boot, "aw", @nobits
        .p2align 12
        .globl  boot_pml4, boot_pdpt, boot_pd, boot_spare_tables
boot_pml4:      .skip   0x1000
boot_pdpt:      .skip   0x1000
boot_pd:        .skip   0x4000
/* zeroed 4 KiB pages that Swift may hand out as page tables before a frame
 * allocator exists (EarlyPaging.swift); count in boot_spare_table_count */
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
