#!/usr/bin/env bash
# Builds tiny bootable images for the boot-method tests (Tests/OS3IntegrationTests/BootMethodTests.swift)
# into OUT, from Debian packages and the Swift toolchain's clang (no binaries committed). Each guest
# prints "os3test: <method> up" on the first serial port and makes QEMU exit with code 33 through
# the lane's exit device. An image whose tools are missing is not made (the test then skips, saying so).
#   OUT/cd.iso              GRUB for BIOS (grub-mkrescue: grub-pc-bin, xorriso, mtools): cdrom
#   OUT/disk.img            a copy of it, booted as a hard disk (the ISO is hybrid)
#   OUT/esp/EFI/BOOT/BOOTX64.EFI  GRUB for UEFI (grub-mkstandalone: grub-efi-amd64-bin): uefi with an ESP directory
#   OUT/a64.elf             bare-metal aarch64 (PL011, semihosting SYS_EXIT_EXTENDED)
#   OUT/rv.elf              bare-metal riscv64 (ns16550, sifive_test)
set -euo pipefail
out=${1:?usage: boot-images.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# GRUB itself is the guest: it writes 0x10 to port 0xf4 (isa-debug-exit: QEMU exits (0x10 << 1) | 1 = 33).
grub_cfg() {
  printf '%s\n' 'insmod iorw' 'serial --unit=0 --speed=115200' 'terminal_output serial' "echo \"os3test: $1 up\"" 'outb 0xf4 0x10'
}
if command -v grub-mkrescue >/dev/null && [ -d /usr/lib/grub/i386-pc ] && command -v xorriso >/dev/null && command -v mformat >/dev/null; then
  mkdir -p "$work/iso/boot/grub"
  grub_cfg bios > "$work/iso/boot/grub/grub.cfg"
  grub-mkrescue -o "$out/cd.iso" "$work/iso" >/dev/null 2>&1
  # The disk test's own copy: QEMU locks a writable disk, and the CD tests may run at the same time.
  cp "$out/cd.iso" "$out/disk.img"
fi
if command -v grub-mkstandalone >/dev/null && [ -d /usr/lib/grub/x86_64-efi ]; then
  grub_cfg uefi > "$work/grub.cfg"
  mkdir -p "$out/esp/EFI/BOOT"
  grub-mkstandalone -O x86_64-efi --locales= --fonts= --themes= --install-modules="iorw serial echo terminal normal configfile" \
    -o "$out/esp/EFI/BOOT/BOOTX64.EFI" "boot/grub/grub.cfg=$work/grub.cfg"
fi
if command -v clang >/dev/null && command -v ld.lld >/dev/null; then
  cat > "$work/a64.S" <<'ASM'
    .global _start
_start:
    ldr x1, =0x09000000        // virt: PL011 data register
    adr x2, msg
1:  ldrb w3, [x2], #1
    cbz w3, 2f
    strb w3, [x1]
    b 1b
2:  mov x0, #0x20              // SYS_EXIT_EXTENDED
    adr x1, block
    hlt #0xf000
3:  b 3b
    .align 3
block: .quad 0x20026, 33       // ADP_Stopped_ApplicationExit, exit code 33
msg: .asciz "os3test: aarch64 up\n"
ASM
  clang --target=aarch64-none-elf -nostdlib -fuse-ld=lld -static -Wl,-N -Wl,-Ttext=0x40080000 -o "$out/a64.elf" "$work/a64.S"
  cat > "$work/rv.S" <<'ASM'
    .global _start
_start:
    li t0, 0x10000000          // virt: ns16550
    la t1, msg
1:  lbu t2, 0(t1)
    beqz t2, 2f
    sb t2, 0(t0)
    addi t1, t1, 1
    j 1b
2:  li t0, 0x100000            // virt: sifive_test
    li t1, 0x00213333          // 0x3333 | 33 << 16: exit with code 33
    sw t1, 0(t0)
3:  j 3b
msg: .asciz "os3test: riscv64 up\n"
ASM
  # -N: one segment; QEMU's riscv loader enters at the lowest loaded address.
  clang --target=riscv64-none-elf -march=rv64gc -mno-relax -nostdlib -fuse-ld=lld -static -Wl,-N -Wl,-Ttext=0x80200000 -o "$out/rv.elf" "$work/rv.S"
fi
