#ifndef COS3BYTES_H
#define COS3BYTES_H
#include <stddef.h>
#include <stdint.h>

/// glibc's memmem (two-way search), which Swift cannot see without _GNU_SOURCE.
/// Returns the offset of needle in haystack, or -1.
long os3_find(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/// The hot loop of the marker matcher's Aho–Corasick automaton, kept in C so it runs at full
/// speed even in debug builds. Runs the DFA `delta` from `*state` over bytes[*pos ..< end]: the
/// next state is delta[state << shift | classes[byte]] (bytes that occur in no pattern share class
/// 0, so a row is 2^shift entries, not 256). Stops just after the first byte that reaches a state
/// with output (`has_output[state] != 0`) or at `end`. Updates *state and *pos; returns 1 if it
/// stopped on an output state, else 0. In the root state it skips bytes that start no pattern:
/// with memchr when only one byte (`single_first` >= 0) can start one, else with the table `starts`.
int os3_ac_scan(const int32_t *delta, const uint8_t *classes, int shift, const uint8_t *has_output,
                const uint8_t *starts, int single_first, int32_t *state, const uint8_t *bytes, size_t *pos, size_t end);

/// Number of `byte` in bytes[0 ..< n] (a loop compilers vectorise).
size_t os3_count_byte(const uint8_t *bytes, size_t n, uint8_t byte);

/// glibc's memrchr: the last `byte` in bytes[0 ..< n], or NULL.
const void *os3_memrchr(const void *bytes, int byte, size_t n);
#endif
