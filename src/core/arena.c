/*
** Bump allocator (see arena.h).
*/
#include "core/arena.h"

#include <string.h>

#include "core/alloc.h"

struct em_arena_block {
	em_arena_block *next;
	size_t used, cap;
	char data[];
};

void em_arena_init(em_arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void em_arena_free(em_arena *a)
{
	while (a->head) {
		em_arena_block *n = a->head->next;
		em_free(a->head);
		a->head = n;
	}
	a->total = 0;
}

void em_arena_reset(em_arena *a)
{
	if (!a->head)
		return;
	while (a->head->next) {
		em_arena_block *n = a->head->next;
		em_free(a->head);
		a->head = n;
	}
	a->head->used = 0;
	a->total = 0;
}

void *em_arena_alloc(em_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!a->head || a->head->used + n > a->head->cap) {
		/* Start small (a log hit needs a few hundred bytes), then grow. */
		size_t want = a->head ? 8192 : 1024;
		size_t cap = n > want ? n : want;
		em_arena_block *b = em_malloc(sizeof *b + cap);
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += n;
	a->total += n;
	return p;
}

char *em_arena_strndup(em_arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *p = em_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *em_arena_strdup(em_arena *a, const char *s)
{
	return s ? em_arena_strndup(a, s, strlen(s)) : NULL;
}
