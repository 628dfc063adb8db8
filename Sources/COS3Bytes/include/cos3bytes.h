#ifndef COS3BYTES_H
#define COS3BYTES_H
#include <stddef.h>
/// glibc's memmem (two-way search), which Swift cannot see without _GNU_SOURCE.
/// Returns the offset of needle in haystack, or -1.
long os3_find(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);
#endif
