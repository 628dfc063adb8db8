#define _GNU_SOURCE
#include "cos3bytes.h"
#include <string.h>

long os3_find(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    const char *hit = memmem(haystack, haystack_len, needle, needle_len);
    return hit ? (long)(hit - (const char *)haystack) : -1;
}

int os3_ac_scan(const int32_t *delta, const uint8_t *classes, int shift, const uint8_t *has_output,
                const uint8_t *starts, int single_first, int32_t *state, const uint8_t *bytes, size_t *pos, size_t end) {
    int32_t s = *state;
    size_t i = *pos;
    while (i < end) {
        if (s == 0) {
            if (single_first >= 0) {
                const uint8_t *hit = memchr(bytes + i, single_first, end - i);
                if (!hit) { i = end; break; }
                i = (size_t)(hit - bytes);
            } else {
                while (i < end && !starts[bytes[i]]) i++;
                if (i == end) break;
            }
        }
        s = delta[((size_t)s << shift) | classes[bytes[i]]];
        i++;
        if (has_output[s]) {
            *state = s;
            *pos = i;
            return 1;
        }
    }
    *state = s;
    *pos = i;
    return 0;
}

size_t os3_count_byte(const uint8_t *bytes, size_t n, uint8_t byte) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += bytes[i] == byte;
    return count;
}

const void *os3_memrchr(const void *bytes, int byte, size_t n) { return memrchr(bytes, byte, n); }
