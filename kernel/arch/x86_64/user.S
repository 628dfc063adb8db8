/*
 * user.S — the ring-3 programs. `user_programs_start .. _end` is copied to
 * the user code page (UserMode.swift) and runs at CPL 3 from there, so it is
 * position independent. System calls: `int $0x80`, %rax = number (0 exit,
 * 1 write, 2 yield), arguments in %rdi, %rsi; result in %rax.
 */
#define SYS_EXIT        0
#define SYS_WRITE       1
#define SYS_YIELD       2
#define KERNEL_ADDRESS  0x100000                /* the kernel image: supervisor-only */

        .section .rodata.user, "a", @progbits
        .p2align 12
        .globl  user_programs_start, user_programs_end
        .globl  user_good, user_privileged, user_kernel_memory, user_bad_pointer
user_programs_start:

/* Behaves: writes a line, yields, computes (natively fast in ring 3), exits 0. */
user_good:
        leaq    hello(%rip), %rdi
        movq    $(hello_end - hello), %rsi
        movq    $SYS_WRITE, %rax
        int     $0x80
        movq    $SYS_YIELD, %rax
        int     $0x80
        movq    $200000, %rcx
        xorl    %edx, %edx
1:      addq    %rcx, %rdx
        decq    %rcx
        jnz     1b
        movabsq $20000100000, %rax      /* sum 1..200000 */
        cmpq    %rax, %rdx
        jne     2f
        xorl    %edi, %edi
        movq    $SYS_EXIT, %rax
        int     $0x80
2:      movq    $1, %rdi
        movq    $SYS_EXIT, %rax
        int     $0x80
        ud2

/* A privileged instruction: must be trapped (#GP) and the thread killed. */
user_privileged:
        cli
        movq    $1, %rdi                /* not reached */
        movq    $SYS_EXIT, %rax
        int     $0x80

/* Reads kernel memory: must be trapped (#PF, user access to a supervisor page). */
user_kernel_memory:
        movq    KERNEL_ADDRESS, %rax
        movq    $1, %rdi                /* not reached */
        movq    $SYS_EXIT, %rax
        int     $0x80

/* Passes a kernel pointer to write(): the kernel must refuse and kill it. */
user_bad_pointer:
        movq    $KERNEL_ADDRESS, %rdi
        movq    $16, %rsi
        movq    $SYS_WRITE, %rax
        int     $0x80
        movq    $1, %rdi                /* not reached */
        movq    $SYS_EXIT, %rax
        int     $0x80

hello:  .ascii  "hello from ring 3"
hello_end:
user_programs_end:

        .text
        .globl  arch_user_programs
arch_user_programs:
        leaq    user_programs_start(%rip), %rax
        ret
        .globl  arch_user_program_offsets       /* void (uint64_t out[5]) */
arch_user_program_offsets:
        movq    $(user_programs_end - user_programs_start), (%rdi)
        movq    $(user_good - user_programs_start), 8(%rdi)
        movq    $(user_privileged - user_programs_start), 16(%rdi)
        movq    $(user_kernel_memory - user_programs_start), 24(%rdi)
        movq    $(user_bad_pointer - user_programs_start), 32(%rdi)
        ret
