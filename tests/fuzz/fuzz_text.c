/*
** libFuzzer target: the search analyser (src/kb/text.c) over any bytes, in
** both languages, as a document (with compound parts) and as a query. Every
** token must lie inside the input and be non-empty.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kb/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct check {
	size_t len;
} check;

static int emit(void *arg, const char *term, size_t termlen, int start, int end, int colocated)
{
	check *c = arg;
	(void)term;
	(void)colocated;
	if (!termlen || start < 0 || end < start || (size_t)end > c->len)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static em_text *de, *en;
	if (!de) {
		de = em_text_new("de");
		en = em_text_new("en");
	}
	check c = {size};
	em_text_tokens(de, (const char *)data, size, 1, emit, &c);
	em_text_tokens(de, (const char *)data, size, 0, emit, &c);
	em_text_tokens(en, (const char *)data, size, 1, emit, &c);
	char out[512];
	em_text_term(de, (const char *)data, size < 128 ? size : 128, out, sizeof out);
	return 0;
}
