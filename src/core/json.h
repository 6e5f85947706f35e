/*
** JSON helpers over jansson: parsing with a readable error, and the one error
** body every JSON endpoint answers with (DESIGN.md §5):
**   {"error":{"code":"invalid_json","message":"...","field":"events[2].url"}}
*/
#ifndef EM_JSON_H
#define EM_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Parses a JSON document of at most `len` bytes. On failure returns NULL and
** writes "expected ',' at line 1 column 17" style text into msg. */
json_t *em_json_parse(const char *data, size_t len, char *msg, size_t msglen);
/* Builds the error object; field may be NULL. */
json_t *em_json_error(const char *code, const char *message, const char *field);
/* Serialises compactly into a freshly allocated string (em_free). */
char *em_json_dump(const json_t *v, size_t *len);

/* Appends s as a JSON string in quotes: UTF-8 kept as is, quotes,
** backslashes and control characters escaped (as em_json_dump writes them),
** for frames written without building a document. */
void em_json_put_str(em_buf *b, const char *s);

/* Typed getters that return a default when the key is missing or of another type. */
const char *em_json_str(const json_t *obj, const char *key, const char *def);
long long em_json_int(const json_t *obj, const char *key, long long def);

/* ms since the epoch as an RFC 3339 string; null for 0 or less (never set). */
json_t *em_json_time(int64_t ms);

#endif
