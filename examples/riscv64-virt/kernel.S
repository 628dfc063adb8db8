/* A bare-metal riscv64 kernel for QEMU's `-M virt -bios none`: prints its milestones on the
 * 16550 UART, then ends QEMU through the sifive_test finisher with code 33 (FAIL | 33 << 16: the
 * finisher's only way to give a code other than 0). Built with -DRESET it asks the finisher for
 * a reset instead (the broken variant: with -no-reboot QEMU reports a guest reset). */
        .set UART0, 0x10000000
        .set FINISHER, 0x100000

        .text
        .globl _start
_start:
        csrr    t0, mhartid
        bnez    t0, park                /* one hart prints */
        la      sp, stack_top
        la      a0, msg_boot
        call    puts
        la      a0, msg_hart
        call    puts
#ifdef RESET
        la      a0, msg_reset
        call    puts
        li      t0, FINISHER
        li      t1, 0x7777              /* FINISHER_RESET */
        sw      t1, 0(t0)
        j       park
#endif
        la      a0, msg_done
        call    puts
        li      t0, FINISHER
        li      t1, (33 << 16) | 0x3333 /* FINISHER_FAIL with code 33: QEMU exits 33 */
        sw      t1, 0(t0)
park:   wfi
        j       park

/* Writes the NUL-terminated string at a0 to the UART's transmit register. */
puts:
        li      t0, UART0
1:      lbu     t1, 0(a0)
        beqz    t1, 2f
        sb      t1, 0(t0)
        addi    a0, a0, 1
        j       1b
2:      ret

        .section .rodata
msg_boot:  .asciz "rv64: boot\n"
msg_hart:  .asciz "rv64: hart 0 in machine mode\n"
msg_done:  .asciz "rv64: done\n"
msg_reset: .asciz "rv64: reset requested\n"

        .bss
        .balign 16
        .skip 4096
stack_top:
