#ifndef COS3EARLY_H
#define COS3EARLY_H
#include <sys/types.h>

/// What the early start did, before any Swift code ran (see early.c). `pid` is -1 when it started
/// nothing; then every other field is unset.
struct os3_early_start {
    pid_t pid;
    int console_fd;   // read end of the run directory's serial.log (QEMU's stdout)
    int err_fd;       // read end of QEMU's stderr pipe
    int in_fd;        // write end of QEMU's stdin pipe
    int qmp_fd;       // os3ctl's end of QEMU's QMP socket (QEMU's fd 3), handshake written; -1 if none
    const char *state_path;   // the state directory whose runs/ holds `directory`
    const char *directory;
    const char *exec_path;
    int argc;
    char **argv;
    unsigned long long start_ns;   // CLOCK_MONOTONIC just before the spawn
    long long wall_sec;            // CLOCK_REALTIME at the same moment
    long wall_nsec;
};

/// The early start's result (pid -1: none).
const struct os3_early_start *os3_early_result(void);

/// Where this command line's cache entry lives (`<state>/early/<key>`), or NULL when this is not
/// a `boot` command line or no state directory can be named from the environment.
const char *os3_early_cache_path(void);

/// `dev ino size mtime-sec mtime-nsec` of a file, as the cache entry records it; 0 on success.
int os3_early_file_stamp(const char *path, char *buffer, unsigned long size);

#endif
