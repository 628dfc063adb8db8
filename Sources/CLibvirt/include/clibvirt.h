#ifndef OS3_CLIBVIRT_H
#define OS3_CLIBVIRT_H
// libvirt's C API (headers from apt: libvirt-dev) for OS3Libvirt.
//
// os3ctl does not link libvirt: loading its ~50 shared libraries cost every os3ctl start ~13 ms,
// also when QEMU is run directly. loader.c defines each libvirt function OS3Libvirt calls as a
// trampoline into libvirt.so.0, which os3_libvirt_load() opens on first use of the backend.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/// Opens libvirt.so.0 and resolves every function OS3Libvirt uses. Returns NULL on success (also
/// when already loaded), else a message saying what is missing. Thread-safe.
const char *os3_libvirt_load(void);
#endif
