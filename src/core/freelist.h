/*
** A per-thread stack of freed objects of one type, handed out again instead
** of a malloc and a free per use (beacon batches, the store's write
** requests). The link lives in a pointer field of the object, named when
** the list is declared:
**
**     static __thread em_freelist pool = EM_FREELIST_INIT(struct wreq, next);
**
** At most EM_FREELIST_MAX objects are kept: as many as one group commit
** holds in flight under full load, so a commit does not hand the rest back
** to malloc only for the next requests to allocate them again. None under
** AddressSanitizer, where reuse would hide a use after free.
*/
#ifndef EM_CORE_FREELIST_H
#define EM_CORE_FREELIST_H

#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define EM_FREELIST_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EM_FREELIST_MAX 0
#endif
#endif
#ifndef EM_FREELIST_MAX
#define EM_FREELIST_MAX 1024
#endif

typedef struct em_freelist {
	void *head;
	int n;
	size_t link; /* offset of the object's link field */
} em_freelist;

#define EM_FREELIST_INIT(type, member) \
	{ \
		NULL, 0, offsetof(type, member) \
	}

/* A kept object (its fields as they were when pushed), or NULL. */
static inline void *em_freelist_pop(em_freelist *f)
{
	void *o = f->head;
	if (o) {
		memcpy(&f->head, (char *)o + f->link, sizeof f->head);
		f->n--;
	}
	return o;
}

/* Keeps o (overwriting its link field) and returns 1, or returns 0 when
** the list is full: then the caller frees o. */
static inline int em_freelist_push(em_freelist *f, void *o)
{
	if (f->n >= EM_FREELIST_MAX)
		return 0;
	memcpy((char *)o + f->link, &f->head, sizeof f->head);
	f->head = o;
	f->n++;
	return 1;
}

#endif
