/*
** Bump allocator for objects that die together (a batch of tracked events,
** a parsed request). Freed all at once with em_arena_free().
*/
#ifndef EM_ARENA_H
#define EM_ARENA_H

#include <stddef.h>

typedef struct em_arena_block em_arena_block;
typedef struct em_arena {
	em_arena_block *head;
	size_t total; /* bytes allocated so far, for limits and metrics */
} em_arena;

void em_arena_init(em_arena *a);
void em_arena_free(em_arena *a);
/* Forgets everything allocated; keeps the first block for reuse. */
void em_arena_reset(em_arena *a);
void *em_arena_alloc(em_arena *a, size_t n);
/* Copies n bytes and adds a NUL; NULL in gives NULL out. */
char *em_arena_strndup(em_arena *a, const char *s, size_t n);
char *em_arena_strdup(em_arena *a, const char *s);

#endif
