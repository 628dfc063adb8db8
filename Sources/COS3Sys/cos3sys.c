#define _GNU_SOURCE
#include "cos3sys.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// The child of vfork() shares os3ctl's memory until it execs: it may only make system calls,
// and reports a failure through `*shared_errno` before _exit.
#define CHILD_FAIL(err) do { *shared_errno = (err); _exit(127); } while (0)

pid_t os3_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                int stdin_fd, int stdout_fd, int stderr_fd, int *child_errno) {
    return os3_spawn_with_fd3(path, argv, envp, cwd, stdin_fd, stdout_fd, stderr_fd, -1, child_errno);
}

pid_t os3_spawn_with_fd3(const char *path, char *const argv[], char *const envp[], const char *cwd,
                         int stdin_fd, int stdout_fd, int stderr_fd, int fd3, int *child_errno) {
    // vfork, not fork: no copy of os3ctl's page tables, and the child runs at once on this CPU
    // while the calling thread waits for its exec — about 1 ms less on every boot's critical path.
    // Every signal stays blocked across it so that no os3ctl handler runs in the shared memory.
    volatile int failure = 0;
    volatile int *shared_errno = &failure;
    *child_errno = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = vfork();
    if (pid == 0) {
        // Handlers os3ctl installed must not run here or after exec; then unblock everything.
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction cur;
            if (sig == SIGKILL || sig == SIGSTOP) continue;
            if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN)
                sigaction(sig, &dfl, NULL);
        }
        if (sigaction(SIGPIPE, &dfl, NULL) != 0) CHILD_FAIL(errno);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) CHILD_FAIL(errno);
        // The parent may have died before prctl took effect.
        if (getppid() != parent) _exit(127);
        if (setpgid(0, 0) != 0) CHILD_FAIL(errno);
        // fd3 (QEMU's QMP socket) must not be one dup2 below overwrites: move it above 3 first.
        if (fd3 >= 0 && fd3 <= 3) {
            fd3 = fcntl(fd3, F_DUPFD, 4);
            if (fd3 < 0) CHILD_FAIL(errno);
        }
        int fds[3] = { stdin_fd, stdout_fd, stderr_fd };
        // Move sources out of the 0..2 range first so dup2 cannot clobber one with another.
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && fds[i] < 3) {
                int moved = fcntl(fds[i], F_DUPFD, 3);
                if (moved < 0) CHILD_FAIL(errno);
                fds[i] = moved;
            }
        }
        for (int i = 0; i < 3; i++) {
            int src = fds[i];
            if (src < 0) {
                src = open("/dev/null", O_RDWR);
                if (src < 0) CHILD_FAIL(errno);
            }
            if (dup2(src, i) < 0) CHILD_FAIL(errno);
        }
        // dup2 clears close-on-exec on the copy: fd 3 survives the exec, everything above goes.
        if (fd3 >= 0 && dup2(fd3, 3) < 0) CHILD_FAIL(errno);
        syscall(SYS_close_range, fd3 >= 0 ? 4 : 3, ~0U, 0);
        if (cwd && chdir(cwd) != 0) CHILD_FAIL(errno);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        CHILD_FAIL(errno);
    }
    int err = pid < 0 ? errno : failure;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) { *child_errno = err; return -1; }
    if (err != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *child_errno = err;
        return -1;
    }
    return pid;
}

int os3_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int os3_is_main_thread(void) { return syscall(SYS_gettid) == getpid(); }

void os3_name_thread(const char *name) { prctl(PR_SET_NAME, name); }

int os3_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1); }

int os3_kvm_api_version(const char *path) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    int v = ioctl(fd, 0xAE00 /* KVM_GET_API_VERSION */, 0);
    int e = errno;
    close(fd);
    return v < 0 ? -e : v;
}

unsigned long long os3_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int interrupt_pipe[2] = { -1, -1 };
static volatile sig_atomic_t interrupt_signal = 0;

static void on_interrupt(int sig) {
    int saved = errno;
    if (!interrupt_signal) interrupt_signal = sig;
    char b = 1;
    ssize_t r = write(interrupt_pipe[1], &b, 1);
    (void)r;
    errno = saved;
}

int os3_install_interrupt_pipe(void) {
    if (interrupt_pipe[0] >= 0) return interrupt_pipe[0];
    if (pipe2(interrupt_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    // A parent may have started us with these blocked (the mask survives exec): unblock them,
    // before any thread exists, so every thread can take them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return interrupt_pipe[0];
}

int os3_interrupt_signal(void) { return interrupt_signal; }

int os3_open_boot_files(const char *dir, int fds[6]) {
    char serial[4200];
    if (snprintf(serial, sizeof serial, "%s/serial.log", dir) >= (int)sizeof serial) { errno = ENAMETOOLONG; return -1; }
    int in[2] = { -1, -1 }, err[2] = { -1, -1 };
    int w = open(serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = w >= 0 ? open(serial, O_RDONLY | O_CLOEXEC) : -1;
    if (r < 0 || pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        int saved = errno;
        int all[6] = { w, r, in[0], in[1], err[0], err[1] };
        for (int i = 0; i < 6; i++) if (all[i] >= 0) close(all[i]);
        errno = saved;
        return -1;
    }
    fds[0] = w; fds[1] = r; fds[2] = in[0]; fds[3] = in[1]; fds[4] = err[0]; fds[5] = err[1];
    return 0;
}

int os3_malloc_trim(void) { return malloc_trim(0); }

void os3_utc_stamp(long long secs, char out[32]) {
    // Days to civil date (H. Hinnant's algorithm), not gmtime_r: that initialises the time zone
    // (reads /etc/localtime, ~50 µs), and the early start runs before libc's initializer, when
    // `TZ` cannot be seen yet.
    long long days = secs / 86400, rem = secs % 86400;
    if (rem < 0) { rem += 86400; days -= 1; }
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1), month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    snprintf(out, 32, "%04d%02d%02d-%02d%02d%02d", year, month, day, (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60));
}

int os3_make_stamped_directory(const char *parent, const char *label, char *out, unsigned long size) {
    if (mkdir(parent, 0700) != 0 && errno != EEXIST) return -errno;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char stamp[32];
    os3_utc_stamp(now.tv_sec, stamp);
    int n = snprintf(out, size, "%s/%s-%s-XXXXXX", parent, stamp, label);
    if (n < 0 || (unsigned long)n >= size) return -ENAMETOOLONG;
    return mkdtemp(out) ? 0 : -errno;
}
