#!/usr/bin/env bash
# Builds what this example boots, from Debian packages only (nothing is installed into the system):
#   build/bzImage    Debian's kernel (linux-image-amd64's current package, unpacked with dpkg-deb -x)
#   build/initramfs  busybox (busybox-static, unpacked likewise) and the /init script beside this file
# The downloads are cached in build/debs; a rebuild with nothing changed does nothing.
set -euo pipefail
cd "$(dirname "$0")"
out=build
mkdir -p "$out/debs"

fetch() {  # fetch PACKAGE: download the .deb once (apt-get download needs no root)
  local pkg=$1
  if ! ls "$out/debs/${pkg}"_*.deb >/dev/null 2>&1; then
    (cd "$out/debs" && apt-get download "$pkg" >"../apt.log" 2>&1) || return 1
  fi
  ls "$out/debs/${pkg}"_*.deb | head -n 1
}

# linux-image-amd64 is a metapackage: the kernel is in the package it depends on. Package lists
# older than the mirror name versions it no longer has (a 404): as root, refresh them once and retry.
for attempt in 1 2; do
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -n "$kpkg" ] && kdeb=$(fetch "$kpkg") && bdeb=$(fetch busybox-static); then break; fi
  if [ "$attempt" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then
    echo "build.sh: refreshing the package lists (apt-get update) and trying again" >&2
    apt-get update -qq >&2 && continue
  fi
  [ -f "$out/apt.log" ] && cat "$out/apt.log" >&2
  echo "build.sh: could not download ${kpkg:-linux-image-amd64} and busybox-static; run 'apt-get update' (as root) and try again" >&2
  exit 1
done

if [ ! -f "$out/bzImage" ] || [ "$kdeb" -nt "$out/bzImage" ]; then
  rm -rf "$out/kernel" && mkdir -p "$out/kernel"
  dpkg-deb -x "$kdeb" "$out/kernel"
  cp "$out"/kernel/boot/vmlinuz-* "$out/bzImage"
  rm -rf "$out/kernel"
fi

if [ ! -f "$out/initramfs" ] || [ init -nt "$out/initramfs" ] || [ "$bdeb" -nt "$out/initramfs" ]; then
  root="$out/root"
  rm -rf "$root" && mkdir -p "$root"/{bin,dev,proc,sys}
  dpkg-deb -x "$bdeb" "$out/busybox"
  cp "$out/busybox/bin/busybox" "$root/bin/busybox"
  rm -rf "$out/busybox"
  for tool in sh mount cat echo grep poweroff sleep; do ln -s busybox "$root/bin/$tool"; done
  cp init "$root/init" && chmod +x "$root/init"
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 > "$out/initramfs.tmp"
  mv "$out/initramfs.tmp" "$out/initramfs"
  rm -rf "$root"
fi
