/* libc.S — the C library symbols the compiler and the Embedded Swift runtime
 * call. memset/memcpy/memmove/memcmp are in assembly so the compiler can
 * never lower them into calls to themselves. Direction flag is clear by the
 * SysV ABI (boot.S does cld). */
        .text
        .code64

/* Bulk work goes 8 bytes per iteration (`rep stosq` / `rep movsq`), the
 * tail bytewise: under the kvm lanes' hypervisor every ring-0 string
 * iteration is emulated (~1200 TSC cycles each, docs/KERNEL.md), so 8x fewer
 * iterations are 8x faster. */

/* void *memset(void *dst, int c, size_t n) */
        .globl  memset
        .type   memset, @function
memset:
        movq    %rdi, %r8
        movzbl  %sil, %eax
        movabsq $0x0101010101010101, %rcx
        imulq   %rcx, %rax              /* the byte in all 8 lanes */
        movq    %rdx, %rcx
        shrq    $3, %rcx
        rep stosq
        movq    %rdx, %rcx
        andq    $7, %rcx
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
        shrq    $3, %rcx
        rep movsq
        movq    %rdx, %rcx
        andq    $7, %rcx
        rep movsb
        ret
        .size   memcpy, . - memcpy

/* void *memmove(void *dst, const void *src, size_t n) */
        .globl  memmove
        .type   memmove, @function
memmove:
        movq    %rdi, %rax
        cmpq    %rsi, %rdi
        jbe     memmove_forward         /* dst <= src: forward copy is safe */
        leaq    (%rsi,%rdx), %r8
        cmpq    %r8, %rdi
        jae     memmove_forward         /* no overlap */
        /* overlapping, dst above src: backwards, the n%8 tail bytes first,
         * then whole words down to the start */
        leaq    -1(%rdi,%rdx), %rdi
        leaq    -1(%rsi,%rdx), %rsi
        std
        movq    %rdx, %rcx
        andq    $7, %rcx
        rep movsb
        subq    $7, %rsi
        subq    $7, %rdi
        movq    %rdx, %rcx
        shrq    $3, %rcx
        rep movsq
        cld
        ret
memmove_forward:
        movq    %rdx, %rcx
        shrq    $3, %rcx
        rep movsq
        movq    %rdx, %rcx
        andq    $7, %rcx
        rep movsb
        ret
        .size   memmove, . - memmove

/* size_t arch_strnlen(const char *s, size_t max): `repne scasb` */
        .globl  arch_strnlen
        .type   arch_strnlen, @function
arch_strnlen:
        movq    %rsi, %rcx
        movq    %rsi, %rdx
        xorl    %eax, %eax
        repne scasb
        jne     1f                      /* no NUL within max */
        incq    %rcx
1:      subq    %rcx, %rdx
        movq    %rdx, %rax
        ret
        .size   arch_strnlen, . - arch_strnlen

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
