/*
** Allocation that never returns NULL.
**
** As in Redis, running out of memory is not a condition callers handle: the
** allocator logs what it tried to get and aborts. Callers never check.
*/
#ifndef EM_ALLOC_H
#define EM_ALLOC_H

#include <stddef.h>

void *em_malloc(size_t n);
void *em_calloc(size_t count, size_t size);
void *em_realloc(void *p, size_t n);
char *em_strdup(const char *s);
char *em_strndup(const char *s, size_t n);
void em_free(void *p);

/* Debug builds check these on long-lived objects to catch use-after-free. */
#ifdef EM_DEBUG
#define EM_MAGIC_CHECK(obj, m) \
	do { \
		if ((obj)->magic != (m)) \
			em__magic_fail(__FILE__, __LINE__, #obj); \
	} while (0)
#else
#define EM_MAGIC_CHECK(obj, m) ((void)0)
#endif
void em__magic_fail(const char *file, int line, const char *what);

#endif
