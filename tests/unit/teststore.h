/*
** A store of the unit tests on a fresh temporary directory (testdir.h removes
** it): the default configuration with two readers.
*/
#ifndef EM_TEST_TESTSTORE_H
#define EM_TEST_TESTSTORE_H

#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "store/store.h"

typedef struct teststore {
	char dir[64];
	em_config cfg;
	em_store *s;
} teststore;

/* Opens t->s in a new directory named after name: 0, or -1 (why on stderr). */
static inline int teststore_open(teststore *t, const char *name)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/emma-test-%s-XXXXXX", name);
	if (!mkdtemp(t->dir))
		return -1;
	em_config_defaults(&t->cfg);
	snprintf(t->cfg.data_dir, sizeof t->cfg.data_dir, "%s", t->dir);
	t->cfg.readers = 2;
	char err[256];
	if (em_store_open(&t->s, &t->cfg, err, sizeof err)) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	return 0;
}

#endif
