/* A Multiboot2 kernel small enough to read in one sitting: GRUB loads it in 32-bit protected
 * mode; it prints its milestones on COM1, then ends QEMU through isa-debug-exit (0x10 -> exit 33).
 * Given "fault" on its Multiboot2 command line it triple-faults instead (the broken variant). */
        .set MB2_MAGIC, 0xe85250d6
        .set MB2_ARCH_I386, 0
        .set COM1, 0x3f8
        .set DEBUG_EXIT, 0xf4

        .section .multiboot2, "a"
        .balign 8
header:
        .long MB2_MAGIC, MB2_ARCH_I386, header_end - header
        .long -(MB2_MAGIC + MB2_ARCH_I386 + (header_end - header))
        .word 0, 0                      /* end tag */
        .long 8
header_end:

        .text
        .code32
        .globl _start
_start:
        cli
        mov     $stack_top, %esp
        mov     %ebx, %esi              /* Multiboot2 information */
        lea     msg_boot, %edx
        call    puts
        cmp     $0x36d76289, %eax       /* the loader's magic, still in eax */
        jne     fail
        lea     msg_magic, %edx
        call    puts
        /* Walk the information tags for the command line (type 1). */
        lea     8(%esi), %edi
next_tag:
        mov     (%edi), %eax
        test    %eax, %eax
        jz      no_cmdline
        cmp     $1, %eax
        je      cmdline
        mov     4(%edi), %ecx
        add     $7, %ecx
        and     $~7, %ecx
        add     %ecx, %edi
        jmp     next_tag
cmdline:
        lea     msg_cmdline, %edx
        call    puts
        lea     8(%edi), %edx
        call    puts
        lea     msg_newline, %edx
        call    puts
        cmpl    $0x6c756166, 8(%edi)    /* "faul" */
        je      triple_fault
no_cmdline:
        lea     msg_done, %edx
        call    puts
        mov     $0x10, %al              /* QEMU exits with (0x10 << 1) | 1 = 33 */
        out     %al, $DEBUG_EXIT
        hlt
fail:
        lea     msg_fail, %edx
        call    puts
        mov     $0x11, %al
        out     %al, $DEBUG_EXIT
        hlt
triple_fault:
        lea     msg_fault, %edx
        call    puts
        lidt    null_idt                /* no IDT: the breakpoint below cannot be delivered */
        int3
        hlt

/* Writes the NUL-terminated string at %edx to COM1 (polling the transmit-empty bit). */
puts:
        push    %eax
        push    %edx
        mov     %edx, %ecx
1:      movb    (%ecx), %al
        test    %al, %al
        jz      3f
        mov     $COM1 + 5, %dx
2:      inb     %dx, %al
        test    $0x20, %al
        jz      2b
        movb    (%ecx), %al
        mov     $COM1, %dx
        outb    %al, %dx
        inc     %ecx
        jmp     1b
3:      pop     %edx
        pop     %eax
        ret

        .section .rodata
null_idt:       .word 0
                .long 0
msg_boot:       .asciz "mb2: boot\n"
msg_magic:      .asciz "mb2: loader magic ok\n"
msg_cmdline:    .asciz "mb2: cmdline "
msg_newline:    .asciz "\n"
msg_done:       .asciz "mb2: done\n"
msg_fail:       .asciz "mb2: FAIL: not loaded by a Multiboot2 loader\n"
msg_fault:      .asciz "mb2: triple fault requested\n"

        .bss
        .balign 16
        .skip 4096
stack_top:
