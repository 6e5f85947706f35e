/*
** Growable byte buffers with a hard maximum.
**
** Like curl's dynbuf, every buffer is created with the largest size it may
** ever reach; appending past it fails with EM_ETOOBIG and leaves the buffer
** as it was. The data is always NUL-terminated for convenience.
*/
#ifndef EM_BUF_H
#define EM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct em_buf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len */
} em_buf;

void em_buf_init(em_buf *b, size_t max);
void em_buf_free(em_buf *b);
void em_buf_reset(em_buf *b); /* len = 0, keeps the allocation */
int em_buf_append(em_buf *b, const void *p, size_t n);
int em_buf_puts(em_buf *b, const char *s);
int em_buf_putc(em_buf *b, char c);
int em_buf_printf(em_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int em_buf_vprintf(em_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes. */
void em_buf_consume(em_buf *b, size_t n);
/* Hands the data to the caller (who frees it with em_free) and resets b. */
char *em_buf_steal(em_buf *b, size_t *len);
/* Appends s with HTML special characters escaped. */
int em_buf_html(em_buf *b, const char *s);

#endif
