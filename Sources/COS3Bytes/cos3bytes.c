#define _GNU_SOURCE
#include "cos3bytes.h"
#include <string.h>

long os3_find(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    const char *hit = memmem(haystack, haystack_len, needle, needle_len);
    return hit ? (long)(hit - (const char *)haystack) : -1;
}
