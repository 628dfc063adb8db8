/* A bare-metal aarch64 kernel for QEMU's `-M virt`: prints its milestones on the PL011 UART,
 * then ends QEMU through semihosting SYS_EXIT with code 33 (`-semihosting`). Built with
 * -DPANIC it prints a panic line and exits 1 instead (the broken variant). */
        .set UART0, 0x09000000
        .set SYS_EXIT, 0x18
        .set ADP_Stopped_ApplicationExit, 0x20026

        .text
        .globl _start
_start:
        ldr     x0, =stack_top
        mov     sp, x0
        adr     x0, msg_boot
        bl      puts
        mrs     x1, CurrentEL
        lsr     x1, x1, #2
        adr     x0, msg_el1
        cmp     x1, #1
        b.ne    1f
        bl      puts
1:
#ifdef PANIC
        adr     x0, msg_panic
        bl      puts
        mov     x2, #1
        b       exit
#endif
        adr     x0, msg_done
        bl      puts
        mov     x2, #33
exit:
        ldr     x1, =exit_block
        ldr     x3, =ADP_Stopped_ApplicationExit
        stp     x3, x2, [x1]
        mov     w0, #SYS_EXIT
        hlt     #0xf000                 /* the A64 semihosting call */
        b       .

/* Writes the NUL-terminated string at x0 to the PL011 data register. */
puts:
        ldr     x1, =UART0
2:      ldrb    w2, [x0], #1
        cbz     w2, 3f
        strb    w2, [x1]
        b       2b
3:      ret

        .section .rodata
msg_boot:  .asciz "a64: boot\n"
msg_el1:   .asciz "a64: running at EL1\n"
msg_done:  .asciz "a64: done\n"
msg_panic: .asciz "a64: PANIC: deliberate panic (built with -DPANIC)\n"

        .bss
        .balign 16
exit_block: .skip 16
        .skip 4096
stack_top:
