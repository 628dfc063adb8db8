#ifndef OS3_CLIBVIRT_SHIM_H
#define OS3_CLIBVIRT_SHIM_H
// libvirt's C API (apt: libvirt-dev) for OS3Libvirt. Only headers: nothing here is compiled.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif
