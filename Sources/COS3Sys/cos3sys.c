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
#include <sys/signalfd.h>
#include <poll.h>
#include <dirent.h>
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
        // Ignored ones too, where os3ctl's supervisor ignores them: QEMU must take the kill ladder.
        static const int reset[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP };
        for (unsigned i = 0; i < sizeof reset / sizeof reset[0]; i++)
            if (sigaction(reset[i], &dfl, NULL) != 0) CHILD_FAIL(errno);
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
    // (reads /etc/localtime, ~50 µs) on every boot's critical path.
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

// MARK: The per-child supervisor (see cos3sys.h)

#ifndef SYS_getdents64
#define SYS_getdents64 217
#endif

static int write_full(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        c += w; n -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, void *p, size_t n) {
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        if (r == 0) return -1;
        c += r; n -= (size_t)r;
    }
    return 0;
}

/// SIGKILLs every child of this process (and the group each leads), found in /proc/*/stat: the
/// kernel here has no /proc/PID/task/TID/children. Raw system calls only (we are a fork of a
/// multi-threaded process). Returns how many it signalled.
static int kill_children(pid_t self) {
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return 0;
    char buf[8192], path[64], stat[512];
    int count = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct { unsigned long long ino; long long off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
            off += d->reclen;
            pid_t pid = 0;
            const char *c = d->name;
            if (*c < '1' || *c > '9') continue;
            for (; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
            if (*c) continue;
            // "/proc/<pid>/stat", without stdio.
            char digits[16];
            int nd = 0;
            for (pid_t v = pid; v > 0; v /= 10) digits[nd++] = (char)('0' + v % 10);
            char *p = path;
            memcpy(p, "/proc/", 6); p += 6;
            while (nd > 0) *p++ = digits[--nd];
            memcpy(p, "/stat", 6);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            ssize_t r = read(fd, stat, sizeof stat - 1);
            close(fd);
            if (r <= 0) continue;
            stat[r] = 0;
            // "pid (comm) S ppid ...": comm may hold anything, so look after its last ')'.
            char *close_paren = strrchr(stat, ')');
            if (!close_paren || close_paren[1] != ' ' || !close_paren[2] || close_paren[3] != ' ') continue;
            pid_t ppid = (pid_t)atoi(close_paren + 4);
            if (ppid != self) continue;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            count++;
        }
    }
    close(dir);
    return count;
}

/// Kills and reaps every descendant. As a subreaper, the orphans of a killed child become ours,
/// so repeating until no child is left takes down the whole tree, setsid'd and double-forked too.
static void kill_tree(pid_t self) {
    for (;;) {
        int status;
        pid_t r = waitpid(-1, &status, WNOHANG | __WALL);
        if (r > 0) continue;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return;  // ECHILD: nothing left
        kill_children(self);
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGPIPE ignored: a supervisor or watchdog ends only when os3ctl
/// goes away (or its child does), never by a signal meant for os3ctl's process group.
static void ignore_stop_signals(void) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &ign, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
}

/// The supervisor's life: start the child, report it, and end everything when either the child
/// exits or os3ctl goes away (its end of `life` closes, whatever killed it).
static void supervise(const char *path, char *const argv[], char *const envp[], const char *cwd, int life, int report,
                      int in, int out, int err, int fd3) {
    // os3ctl decides when to stop: a terminal's ^C or a group-wide SIGTERM reaches os3ctl, which
    // stops the child by the kill ladder; the supervisor ends by `life` alone.
    ignore_stop_signals();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    prctl(PR_SET_NAME, "os3ctl-sup");
    // Its own process group: a SIGKILL to os3ctl's group (a job control kill, a test harness)
    // must not take the supervisor along before it has cleaned up.
    setpgid(0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    pid_t self = getpid();
    int child_errno = 0;
    pid_t pid = os3_spawn_with_fd3(path, argv, envp, cwd, in, out, err, fd3, &child_errno);
    int hello[2] = { pid, child_errno };
    write_full(report, hello, sizeof hello);
    if (fd3 >= 0) close(fd3);
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    if (pid < 0) _exit(0);
    // SIGCHLD through a signalfd (blocked, so it is only ever read there): every child that ends
    // is reaped at once — the child itself, and the orphans re-parented to us. A program that waits
    // for its daemonised helpers to vanish (libvirt does) would wait on an unreaped zombie for ever.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    for (;;) {
        int status;
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
            if (w != pid) continue;
            // Its status first (os3ctl's verdict waits on it), then whatever it left behind.
            write_full(report, &status, sizeof status);
            kill_tree(self);
            _exit(0);
        }
        struct pollfd fds[2] = { { life, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        int r = poll(fds, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 10);
        if (r < 0 && errno != EINTR) break;
        if (sfd >= 0 && fds[1].revents) {
            struct signalfd_siginfo info;
            while (read(sfd, &info, sizeof info) > 0) {}
        }
        if (fds[0].revents) break;  // os3ctl is gone, or wants everything stopped now
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    write_full(report, &status, sizeof status);
    kill_tree(self);
    _exit(0);
}

int os3_spawn_supervised(const char *path, char *const argv[], char *const envp[], const char *cwd,
                         int stdin_fd, int stdout_fd, int stderr_fd, int fd3, struct os3_supervised *out) {
    int life[2], report[2];
    out->pid = -1; out->supervisor = -1; out->report_fd = -1; out->life_fd = -1; out->child_errno = 0;
    if (pipe2(life, O_CLOEXEC) != 0) return -1;
    if (pipe2(report, O_CLOEXEC) != 0) { close(life[0]); close(life[1]); return -1; }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t sup = fork();
    if (sup == 0) {
        // Keep only what the supervisor needs, at known numbers: 3 life, 4 report, 5..7 the
        // child's stdin/stdout/stderr, 8 its fd 3 (-1 stays -1). Moved above 100 first so none
        // clobbers another.
        int keep[6] = { life[0], report[1], stdin_fd, stdout_fd, stderr_fd, fd3 };
        for (int i = 0; i < 6; i++) if (keep[i] >= 0 && (keep[i] = fcntl(keep[i], F_DUPFD, 100)) < 0) _exit(127);
        for (int i = 0; i < 6; i++) {
            if (keep[i] >= 0) { if (dup2(keep[i], 3 + i) < 0) _exit(127); }
            else close(3 + i);  // whatever was there (another life pipe's end, say) must not stay
        }
        syscall(SYS_close_range, 9, ~0U, 0);
        supervise(path, argv, envp, cwd, 3, 4, keep[2] >= 0 ? 5 : -1, keep[3] >= 0 ? 6 : -1, keep[4] >= 0 ? 7 : -1,
                  keep[5] >= 0 ? 8 : -1);
        _exit(0);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(life[0]); close(report[1]);
    if (sup < 0) { close(life[1]); close(report[0]); errno = fork_errno; return -1; }
    int hello[2];
    if (read_full(report[0], hello, sizeof hello) != 0) { hello[0] = -1; hello[1] = EIO; }
    if (hello[0] <= 0) {
        close(life[1]); close(report[0]);
        int status;
        while (waitpid(sup, &status, 0) < 0 && errno == EINTR) {}
        out->child_errno = hello[1];
        return -1;
    }
    out->pid = hello[0]; out->supervisor = sup; out->report_fd = report[0]; out->life_fd = life[1];
    return 0;
}

int os3_supervised_status(int report_fd, int block, int *status) {
    struct pollfd p = { report_fd, POLLIN, 0 };
    if (!block) {
        int r = poll(&p, 1, 0);
        if (r == 0) return 0;
    }
    return read_full(report_fd, status, sizeof *status) == 0 ? 1 : -1;
}

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int os3_watch(pid_t target, pid_t *watchdog, int *life_fd) {
    int pidfd = os3_pidfd_open(target);
    if (pidfd < 0) return -1;
    int life[2];
    if (pipe2(life, O_CLOEXEC) != 0) { close(pidfd); return -1; }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        ignore_stop_signals();
        prctl(PR_SET_NAME, "os3ctl-watch");
        setpgid(0, 0);
        int keep[2] = { fcntl(life[0], F_DUPFD, 100), fcntl(pidfd, F_DUPFD, 100) };
        if (keep[0] < 0 || keep[1] < 0 || dup2(keep[0], 3) < 0 || dup2(keep[1], 4) < 0) _exit(127);
        syscall(SYS_close_range, 5, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (;;) {
            struct pollfd fds[2] = { { 3, POLLIN, 0 }, { 4, POLLIN, 0 } };
            if (poll(fds, 2, -1) < 0 && errno == EINTR) continue;
            if (fds[1].revents) _exit(0);  // the target is gone
            if (fds[0].revents) {
                char b;
                ssize_t n = read(3, &b, 1);
                if (n < 0 && errno == EINTR) continue;
                // A byte: os3ctl releases the target. EOF: os3ctl is gone; so goes the target.
                if (n <= 0) syscall(SYS_pidfd_send_signal, 4, SIGKILL, NULL, 0);
                _exit(0);
            }
        }
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(life[0]);
    close(pidfd);
    if (pid < 0) { close(life[1]); errno = fork_errno; return -1; }
    *watchdog = pid;
    *life_fd = life[1];
    return 0;
}
