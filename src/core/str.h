/*
** Bounded string copy for fixed-size fields on hot paths.
**
** snprintf(dst, cap, "%s", src) does the same but parses its format and runs
** the stdio machinery each time; per beacon that was several calls on the
** loop and the writer. em_strlcpy copies at most cap - 1 bytes, always ends
** dst with a NUL (cap > 0), and returns strlen(src) like BSD strlcpy, so
** a result >= cap says the copy was cut short.
*/
#ifndef EM_STR_H
#define EM_STR_H

#include <string.h>

static inline size_t em_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);
	if (cap) {
		size_t k = n < cap ? n : cap - 1;
		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return n;
}

#endif
