/*
** JSON helpers (see json.h).
*/
#include "core/json.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

json_t *em_json_parse(const char *data, size_t len, char *msg, size_t msglen)
{
	json_error_t e;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
	if (!v)
		snprintf(msg, msglen, "%s at line %d column %d", e.text, e.line, e.column);
	return v;
}

json_t *em_json_error(const char *code, const char *message, const char *field)
{
	json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (field)
		json_object_set_new(err, "field", json_string(field));
	return json_pack("{s:o}", "error", err);
}

char *em_json_dump(const json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		s = strdup("null");
	if (len)
		*len = strlen(s);
	/* jansson allocates with malloc; em_free is free(), so ownership transfers as is. */
	return s;
}

const char *em_json_str(const json_t *obj, const char *key, const char *def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

long long em_json_int(const json_t *obj, const char *key, long long def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

json_t *em_json_time(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char t[32];
	em_rfc3339(ms, t);
	return json_string(t);
}

void em_json_put_str(em_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	em_buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		em_buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		char e[6] = {'\\', 0, 0, 0, 0, 0};
		size_t n = 2;
		switch (ch) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		default:
			e[1] = 'u';
			e[2] = e[3] = '0';
			e[4] = hex[ch >> 4];
			e[5] = hex[ch & 15];
			n = 6;
		}
		em_buf_append(b, e, n);
	}
	em_buf_append(b, run, (size_t)(s - run));
	em_buf_putc(b, '"');
}
