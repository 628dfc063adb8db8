// Trampolines: each libvirt function OS3Libvirt calls is defined here as one indirect jump
// through a pointer that os3_libvirt_load() fills from libvirt.so.0. A jump (not a call) leaves
// every argument register and the stack as the caller set them, so one stub fits every signature.
//
// Using a libvirt function that is not listed below fails the link with "undefined reference to
// virXxx": add its name to OS3_LIBVIRT_FUNCTIONS.
#define _GNU_SOURCE
#include "clibvirt.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define OS3_LIBVIRT_FUNCTIONS(X) \
    X(virConnectClose) \
    X(virConnectDomainEventDeregisterAny) \
    X(virConnectDomainEventRegisterAny) \
    X(virConnectGetDomainCapabilities) \
    X(virConnectGetHostname) \
    X(virConnectGetVersion) \
    X(virConnectIsAlive) \
    X(virConnectListAllDomains) \
    X(virConnectNumOfDomains) \
    X(virConnectOpen) \
    X(virConnectSetKeepAlive) \
    X(virDomainCreateXML) \
    X(virDomainDestroy) \
    X(virDomainFree) \
    X(virDomainGetMetadata) \
    X(virDomainGetName) \
    X(virDomainGetState) \
    X(virDomainGetXMLDesc) \
    X(virDomainResume) \
    X(virEventRegisterDefaultImpl) \
    X(virEventRunDefaultImpl) \
    X(virGetLastError) \
    X(virGetVersion) \
    X(virInitialize) \
    X(virResetLastError) \
    X(virSetErrorFunc) \
    X(virStoragePoolCreate) \
    X(virStoragePoolCreateXML) \
    X(virStoragePoolFree) \
    X(virStoragePoolIsActive) \
    X(virStoragePoolListAllVolumes) \
    X(virStoragePoolLookupByName) \
    X(virStoragePoolRefresh) \
    X(virStorageVolCreateXML) \
    X(virStorageVolDelete) \
    X(virStorageVolDownload) \
    X(virStorageVolFree) \
    X(virStorageVolGetInfo) \
    X(virStorageVolGetName) \
    X(virStorageVolGetPath) \
    X(virStorageVolLookupByName) \
    X(virStorageVolUpload) \
    X(virStreamAbort) \
    X(virStreamFinish) \
    X(virStreamFree) \
    X(virStreamNew) \
    X(virStreamRecv) \
    X(virStreamSend) \

#define POINTER(name) __attribute__((visibility("hidden"))) void *os3_p_##name;
OS3_LIBVIRT_FUNCTIONS(POINTER)

#if defined(__x86_64__)
#define STUB(name) __asm__(".text\n.globl " #name "\n.type " #name ",@function\n" #name ":\n" \
                           "    jmp *os3_p_" #name "(%rip)\n.size " #name ", .-" #name "\n");
#elif defined(__aarch64__)
#define STUB(name) __asm__(".text\n.globl " #name "\n.type " #name ",%function\n" #name ":\n" \
                           "    adrp x16, os3_p_" #name "\n    ldr x16, [x16, :lo12:os3_p_" #name "]\n    br x16\n" \
                           ".size " #name ", .-" #name "\n");
#else
#error "CLibvirt trampolines: add this architecture's indirect jump"
#endif
OS3_LIBVIRT_FUNCTIONS(STUB)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *failure = NULL;
static char message[512];

static void load(void) {
    void *lib = dlopen("libvirt.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        snprintf(message, sizeof message, "cannot load libvirt (%s): apt-get install libvirt0 libvirt-daemon-driver-qemu", dlerror());
        failure = message;
        return;
    }
#define RESOLVE(name) \
    if (!(os3_p_##name = dlsym(lib, #name))) { \
        snprintf(message, sizeof message, "libvirt.so.0 lacks %s: libvirt is too old (need 9.0 or later)", #name); \
        failure = message; \
        return; \
    }
    OS3_LIBVIRT_FUNCTIONS(RESOLVE)
}

const char *os3_libvirt_load(void) {
    pthread_once(&once, load);
    return failure;
}
