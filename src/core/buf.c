/*
** Capped growable buffers (see buf.h).
*/
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

void em_buf_init(em_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void em_buf_free(em_buf *b)
{
	em_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void em_buf_reset(em_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. */
static int reserve(em_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return EM_ETOOBIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = em_realloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int em_buf_append(em_buf *b, const void *p, size_t n)
{
	int rc = reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int em_buf_puts(em_buf *b, const char *s)
{
	return em_buf_append(b, s, strlen(s));
}

int em_buf_putc(em_buf *b, char c)
{
	return em_buf_append(b, &c, 1);
}

int em_buf_vprintf(em_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return EM_EINVAL;
	int rc = reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int em_buf_printf(em_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = em_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void em_buf_consume(em_buf *b, size_t n)
{
	if (n >= b->len) {
		em_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *em_buf_steal(em_buf *b, size_t *len)
{
	char *p = b->data ? b->data : em_strdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int em_buf_html(em_buf *b, const char *s)
{
	/* All or nothing, like every other append. */
	size_t start = b->len;
	int rc = 0;
	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '<': rc = em_buf_puts(b, "&lt;"); break;
		case '>': rc = em_buf_puts(b, "&gt;"); break;
		case '&': rc = em_buf_puts(b, "&amp;"); break;
		case '"': rc = em_buf_puts(b, "&quot;"); break;
		case '\'': rc = em_buf_puts(b, "&#39;"); break;
		default: rc = em_buf_putc(b, *s);
		}
	}
	if (rc) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
	}
	return rc;
}
