/* libc.S — the C library symbols the compiler and the Embedded Swift runtime
 * call. memset/memcpy/memmove/memcmp are in assembly so the compiler can
 * never lower them into calls to themselves. Direction flag is clear by the
 * SysV ABI (boot.S does cld). */
        .text
        .code64

/* void *memset(void *dst, int c, size_t n) */
        .globl  memset
        .type   memset, @function
memset:
        movq    %rdi, %r8
        movl    %esi, %eax
        movq    %rdx, %rcx
        rep stosb
        movq    %r8, %rax
        ret
        .size   memset, . - memset

/* void *memcpy(void *dst, const void *src, size_t n) */
        .globl  memcpy
        .type   memcpy, @function
memcpy:
        movq    %rdi, %rax
        movq    %rdx, %rcx
        rep movsb
        ret
        .size   memcpy, . - memcpy

/* void *memmove(void *dst, const void *src, size_t n) */
        .globl  memmove
        .type   memmove, @function
memmove:
        movq    %rdi, %rax
        movq    %rdx, %rcx
        cmpq    %rsi, %rdi
        jbe     1f                      /* dst <= src: forward copy is safe */
        leaq    (%rsi,%rdx), %r8
        cmpq    %r8, %rdi
        jae     1f                      /* no overlap */
        leaq    -1(%rdi,%rdx), %rdi     /* overlapping, dst above src: backwards */
        leaq    -1(%rsi,%rdx), %rsi
        std
        rep movsb
        cld
        ret
1:      rep movsb
        ret
        .size   memmove, . - memmove

/* int memcmp(const void *a, const void *b, size_t n) */
        .globl  memcmp
        .type   memcmp, @function
memcmp:
        xorl    %eax, %eax
        testq   %rdx, %rdx
        jz      2f
1:      movzbl  (%rdi), %eax
        movzbl  (%rsi), %ecx
        subl    %ecx, %eax
        jnz     2f
        incq    %rdi
        incq    %rsi
        decq    %rdx
        jnz     1b
2:      ret
        .size   memcmp, . - memcmp

/* void free(void *p) -> os3_free (Kernel/RuntimeStubs.swift). Swift warns
 * that exporting the name "free" from Swift "will become an error", so the
 * symbol itself is this one-instruction trampoline. */
        .globl  free
        .type   free, @function
free:
        jmp     os3_free
        .size   free, . - free
