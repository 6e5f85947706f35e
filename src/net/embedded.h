/*
** Files embedded into the binary at build time by tools/embed.c: the web
** assets (web/) and the SQL migrations (src/store/migrations/).
*/
#ifndef EM_EMBEDDED_H
#define EM_EMBEDDED_H

#include <stddef.h>

struct em_embedded {
	const char *path; /* relative to web/ or the migrations folder; NULL ends the table */
	const unsigned char *data;
	size_t len;
	const unsigned char *gz; /* gzip copy, NULL when it would not be smaller */
	size_t gzlen;
	const char *etag; /* quoted strong ETag */
	const char *content_type;
};

extern const struct em_embedded assets[];
extern const struct em_embedded migrations[];

/* Finds an entry by path; NULL when missing. */
const struct em_embedded *em_embedded_find(const struct em_embedded *table, const char *path);

#endif
