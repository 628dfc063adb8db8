/* io.S — x86 port I/O (Swift has no inline assembly).
 * C ABI: port in %edi (low 16 bits), value in %esi. */
        .text
        .code64

        .globl  arch_outb
        .type   arch_outb, @function
arch_outb:
        movl    %edi, %edx
        movl    %esi, %eax
        outb    %al, %dx
        ret
        .size   arch_outb, . - arch_outb

        .globl  arch_outw
        .type   arch_outw, @function
arch_outw:
        movl    %edi, %edx
        movl    %esi, %eax
        outw    %ax, %dx
        ret
        .size   arch_outw, . - arch_outw

        .globl  arch_outl
        .type   arch_outl, @function
arch_outl:
        movl    %edi, %edx
        movl    %esi, %eax
        outl    %eax, %dx
        ret
        .size   arch_outl, . - arch_outl

        .globl  arch_inb
        .type   arch_inb, @function
arch_inb:
        movl    %edi, %edx
        xorl    %eax, %eax
        inb     %dx, %al
        ret
        .size   arch_inb, . - arch_inb

        .globl  arch_inw
        .type   arch_inw, @function
arch_inw:
        movl    %edi, %edx
        xorl    %eax, %eax
        inw     %dx, %ax
        ret
        .size   arch_inw, . - arch_inw

        .globl  arch_inl
        .type   arch_inl, @function
arch_inl:
        movl    %edi, %edx
        inl     %dx, %eax
        ret
        .size   arch_inl, . - arch_inl

/* void arch_outsb(uint16_t port, const uint8_t *bytes, uint64_t count):
 * `rep outsb` — under KVM one exit moves the whole string (the serial line
 * costs one exit per FIFO load instead of one per character). */
        .globl  arch_outsb
        .type   arch_outsb, @function
arch_outsb:
        movq    %rdx, %rcx
        movl    %edi, %edx
        rep outsb
        ret
        .size   arch_outsb, . - arch_outsb
