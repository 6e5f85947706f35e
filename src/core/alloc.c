/*
** Aborting allocator wrappers (see alloc.h).
*/
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
	fprintf(stderr, "level=fatal msg=\"out of memory\" bytes=%zu\n", n);
	abort();
}

void *em_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *em_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *em_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *em_strdup(const char *s)
{
	return em_strndup(s, strlen(s));
}

char *em_strndup(const char *s, size_t n)
{
	char *p = em_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void em_free(void *p)
{
	free(p);
}

void em__magic_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "level=fatal msg=\"bad magic\" object=%s at=%s:%d\n", what, file, line);
	abort();
}
