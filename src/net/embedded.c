/*
** Lookup in the embedded file tables (see embedded.h).
*/
#include "net/embedded.h"

#include <string.h>

const struct em_embedded *em_embedded_find(const struct em_embedded *table, const char *path)
{
	for (const struct em_embedded *e = table; e->path; e++)
		if (!strcmp(e->path, path))
			return e;
	return NULL;
}
