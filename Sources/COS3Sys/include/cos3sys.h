#ifndef COS3SYS_H
#define COS3SYS_H
#include <sys/types.h>

/// Forks and execs `path` with `argv`/`envp`, wiring fds 0/1/2 to the given descriptors.
/// The child gets its own process group (so the whole tree can be signalled at once) and
/// PR_SET_PDEATHSIG=SIGKILL (so it dies with os3ctl even if os3ctl is SIGKILLed).
/// `cwd` may be NULL. Returns the pid, or -1 with the child's exec errno in *child_errno.
pid_t os3_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                int stdin_fd, int stdout_fd, int stderr_fd, int *child_errno);
/// The same, with `fd3` (if >= 0) becoming the child's fd 3 and surviving the exec (QEMU's QMP
/// socket: `-chardev socket,fd=3`); -1 gives exactly os3_spawn.
pid_t os3_spawn_with_fd3(const char *path, char *const argv[], char *const envp[], const char *cwd,
                         int stdin_fd, int stdout_fd, int stderr_fd, int fd3, int *child_errno);

/// A child started under its own supervisor (os3_spawn_supervised).
struct os3_supervised {
    pid_t pid;          // the child (QEMU, a hog, a tool): leads its own process group
    pid_t supervisor;   // os3ctl's direct child, to reap once the child's status is in
    int report_fd;      // readable when the child has ended: its wait status (4 bytes), EOF if the supervisor died
    int life_fd;        // os3ctl's end: closing it (or os3ctl dying) makes the supervisor kill everything
    int child_errno;    // when the start failed: the exec errno
};

/// Starts `path` (as os3_spawn_with_fd3 does) under a small supervisor process forked from os3ctl: a
/// child subreaper, so everything the child starts — setsid'd, double-forked — stays its
/// descendant. When the child exits the supervisor reports its status, then kills and reaps the
/// rest of the tree and exits; when os3ctl's end of the life pipe closes (os3ctl exits or is
/// SIGKILLed: the kernel closes it) it kills the child and the whole tree first. The supervisor
/// ignores SIGINT/SIGTERM/SIGHUP. Returns 0, or -1 (errno, or the exec error in child_errno).
int os3_spawn_supervised(const char *path, char *const argv[], char *const envp[], const char *cwd,
                         int stdin_fd, int stdout_fd, int stderr_fd, int fd3, struct os3_supervised *out);

/// Reads the supervised child's wait status from `report_fd`: 1 with *status set, 0 if not yet
/// (only when `block` is 0), -1 if the supervisor ended without one.
int os3_supervised_status(int report_fd, int block, int *status);

/// Forks a watchdog (its own process group; ignores SIGINT/SIGTERM/SIGHUP) that SIGKILLs
/// `target` — a process os3ctl did not start itself, like the embedded libvirt driver's QEMU —
/// when os3ctl's end of the life pipe closes (os3ctl exited or was SIGKILLed). One byte written
/// to `*life_fd` releases it instead; it also exits once the target has. os3ctl reaps it.
/// Returns 0, or -1 with errno.
int os3_watch(pid_t target, pid_t *watchdog, int *life_fd);

/// pidfd_open(2): a descriptor that polls readable when the process exits. -1 if unsupported.
int os3_pidfd_open(pid_t pid);
/// 1 on the process's main thread (its thread id is the process id).
int os3_is_main_thread(void);
/// Names the calling thread (prctl PR_SET_NAME: the first 15 bytes).
void os3_name_thread(const char *name);

/// Makes this process a child subreaper (orphaned descendants are reparented to us).
int os3_set_child_subreaper(void);

/// Opens /dev/kvm and asks for the API version: returns the version (12) or -errno.
int os3_kvm_api_version(const char *path);

/// Monotonic clock in nanoseconds.
unsigned long long os3_monotonic_ns(void);

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that record the signal and write one byte to
/// a pipe whose read end is returned. Nobody reads it, so it stays readable and every poll() that
/// includes it wakes up at once. Idempotent. Returns -1 on failure.
int os3_install_interrupt_pipe(void);
/// The first termination signal received, or 0.
int os3_interrupt_signal(void);

/// Makes `parent`/YYYYMMDD-HHMMSS-`label`-XXXXXX (UTC now; mkdtemp, so unique and mode 0700) and
/// writes its path to `out`. `parent` is created (0700) if missing, but not its own parents.
/// Returns 0, or -errno (-ENOENT: a parent of `parent` is missing).
int os3_make_stamped_directory(const char *parent, const char *label, char *out, unsigned long size);

/// `secs` since 1970 as the UTC "YYYYMMDD-HHMMSS" of run-directory names (no time-zone lookup).
void os3_utc_stamp(long long secs, char out[32]);

/// malloc_trim(0): returns the heap's free pages to the kernel (Swift cannot see malloc.h).
int os3_malloc_trim(void);

/// What a boot's QEMU is started with, in the run directory `dir`: `dir`/serial.log created (mode
/// 0600) and opened twice — fds[0] to write (QEMU's stdout), fds[1] to read (os3ctl's) — and two
/// close-on-exec pipes: QEMU's stdin (fds[2] its end, fds[3] os3ctl's) and its stderr (fds[4]
/// os3ctl's end, fds[5] QEMU's). Returns 0, or -1 with errno set and nothing left open.
int os3_open_boot_files(const char *dir, int fds[6]);

#endif
