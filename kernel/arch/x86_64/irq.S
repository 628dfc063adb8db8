/*
 * irq.S — the timer interrupt's fast path, context switch, new-thread
 * trampoline, interrupt-safe spinlocks, per-CPU data, entering ring 3.
 *
 * Every ring-0 instruction is emulated in the kvm lanes (~2000 TSC cycles
 * each, docs/KERNEL.md), so the timer tick that does not need the scheduler
 * stays here: count the tick, EOI, and return, ~15 instructions. It enters
 * the common trap path (traps.S, Swift `os3_trap`, vector 32) only when the
 * running thread's slice is used up, core 0 reached the earliest sleeper's
 * wake-up tick, or someone queued work for this core (the kick flag).
 *
 * Per-CPU data (%gs base = its address; ring 3 gets its own %gs base via
 * swapgs in the entry paths). Offsets:
 */
#define PCPU_SELF       0
#define PCPU_CPU        8
#define PCPU_TICKS      16
#define PCPU_SLICE      24
#define PCPU_DEADLINE   32
#define PCPU_CURRENT    40
#define PCPU_KICK       56
#define PCPU_SIZE       128
#define LAPIC_EOI       0xfee000b0

        .text
        .code64

        .p2align 4
        .globl  irq_timer
irq_timer:
        testb   $3, 8(%rsp)             /* CS: from ring 3? */
        jz      1f
        swapgs
1:      pushq   %rax
        incq    %gs:PCPU_TICKS
        movabsq $LAPIC_EOI, %rax
        movl    $0, (%rax)
        decq    %gs:PCPU_SLICE
        jle     2f
        cmpq    $0, %gs:PCPU_KICK
        jne     2f
        movq    %gs:PCPU_TICKS, %rax
        cmpq    %gs:PCPU_DEADLINE, %rax
        jae     2f
        popq    %rax
        testb   $3, 8(%rsp)
        jz      3f
        swapgs
3:      iretq
2:      popq    %rax                    /* the scheduler must run: full frame */
        testb   $3, 8(%rsp)
        jz      4f
        swapgs                          /* trap_common swaps again */
4:      pushq   $0
        pushq   $32
        jmp     trap_common

/* void arch_switch(uint64_t *save_rsp, uint64_t new_rsp): saves the
 * callee-saved registers on the current stack, stores %rsp, loads the next
 * thread's %rsp and returns into it (a new thread returns into
 * thread_trampoline). */
        .globl  arch_switch
        .type   arch_switch, @function
arch_switch:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   arch_switch, . - arch_switch

/* First return of a new thread (its initial stack, Threads.swift): %r12 =
 * thread id. os3_thread_start releases the scheduler lock and never returns. */
        .globl  thread_trampoline
thread_trampoline:
        movq    %r12, %rdi
        call    os3_thread_start
        ud2

/* uint64_t arch_lock_irqsave(uint32_t *lock): interrupts off, then spin
 * until the lock is ours; returns the caller's RFLAGS (for the restore). */
        .globl  arch_lock_irqsave
        .type   arch_lock_irqsave, @function
arch_lock_irqsave:
        pushfq
        popq    %rax
        cli
1:      lock btsl $0, (%rdi)
        jc      2f
        ret
2:      testl   $1, (%rdi)              /* wait reading, not hammering */
        jnz     2b
        jmp     1b
        .size   arch_lock_irqsave, . - arch_lock_irqsave

/* void arch_unlock_irqrestore(uint32_t *lock, uint64_t flags): release, then
 * interrupts on again only if they were on at the acquire. */
        .globl  arch_unlock_irqrestore
        .type   arch_unlock_irqrestore, @function
arch_unlock_irqrestore:
        movl    $0, (%rdi)
        testl   $0x200, %esi
        jz      1f
        sti
1:      ret
        .size   arch_unlock_irqrestore, . - arch_unlock_irqrestore

/* void arch_unlock(uint32_t *lock): release only (interrupts untouched). */
        .globl  arch_unlock
arch_unlock:
        movl    $0, (%rdi)
        ret

        .globl  arch_sti
arch_sti:
        sti
        ret
        .globl  arch_cli
arch_cli:
        cli
        ret
/* uint64_t arch_flags(void) */
        .globl  arch_flags
arch_flags:
        pushfq
        popq    %rax
        ret
/* one idle step: interrupts on, halt until the next interrupt */
        .globl  arch_sti_hlt
arch_sti_hlt:
        sti
        hlt
        ret

/* uint64_t arch_atomic_add(uint64_t *p, uint64_t v): returns the old value */
        .globl  arch_atomic_add
arch_atomic_add:
        movq    %rsi, %rax
        lock xaddq %rax, (%rdi)
        ret

/* uint64_t arch_load_u64(const uint64_t *p): one load, opaque to the compiler */
        .globl  arch_load_u64
arch_load_u64:
        movq    (%rdi), %rax
        ret

/* per-CPU: %gs base, this CPU's index and block */
        .globl  arch_set_gs_base
arch_set_gs_base:
        movl    $0xc0000101, %ecx       /* IA32_GS_BASE */
        movl    %edi, %eax
        movq    %rdi, %rdx
        shrq    $32, %rdx
        wrmsr
        ret
        .globl  arch_cpu
arch_cpu:
        movq    %gs:PCPU_CPU, %rax
        ret
        .globl  arch_percpu
arch_percpu:
        movq    %gs:PCPU_SELF, %rax
        ret
        .globl  arch_percpu_base
arch_percpu_base:
        leaq    os3_percpu(%rip), %rax
        ret

/* noreturn: void arch_enter_user(uint64_t rip, uint64_t rsp, uint64_t arg):
 * iretq to ring 3 (user code 0x23, user data 0x1b, IF on) with %rdi = arg
 * and every other register cleared; swapgs gives ring 3 its own %gs base. */
        .globl  arch_enter_user
arch_enter_user:
        cli                             /* no interrupt between swapgs and iretq */
        pushq   $0x1b
        pushq   %rsi
        pushq   $0x202
        pushq   $0x23
        pushq   %rdi
        movq    %rdx, %rdi
        xorl    %eax, %eax
        xorl    %ebx, %ebx
        xorl    %ecx, %ecx
        xorl    %edx, %edx
        xorl    %esi, %esi
        xorl    %ebp, %ebp
        xorl    %r8d, %r8d
        xorl    %r9d, %r9d
        xorl    %r10d, %r10d
        xorl    %r11d, %r11d
        xorl    %r12d, %r12d
        xorl    %r13d, %r13d
        xorl    %r14d, %r14d
        xorl    %r15d, %r15d
        swapgs
        iretq

        .section .bss.percpu, "aw", @nobits
        .p2align 6
os3_percpu:     .skip   8 * PCPU_SIZE
