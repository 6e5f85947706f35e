/*
** libFuzzer target: JSON documents through em_json_parse and em_json_dump.
**
** Beacon and API bodies arrive as untrusted JSON. Whatever parses must dump
** again, and the dump must parse back to an equal value; whatever does not
** parse must come with an error message naming a line and a column.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256];
	json_t *v = em_json_parse((const char *)data, size, msg, sizeof msg);
	if (!v) {
		/* The 400 answer relies on this shape of message. */
		if (!strstr(msg, " at line ") || !strstr(msg, " column "))
			abort();
		return 0;
	}

	size_t len = 0;
	char *s = em_json_dump(v, &len);
	if (!s || strlen(s) != len)
		abort();

	/* Round trip: the compact dump is valid JSON and means the same. */
	json_t *back = em_json_parse(s, len, msg, sizeof msg);
	if (!back || !json_equal(v, back))
		abort();

	json_decref(back);
	em_free(s);
	json_decref(v);
	return 0;
}
