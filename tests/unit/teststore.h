/*
** The fixture of the unit tests that need a real store: a store on a fresh
** temporary directory (the default configuration, two readers), removed with
** everything in it at teardown.
*/
#ifndef EM_TEST_TESTSTORE_H
#define EM_TEST_TESTSTORE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testdir.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	em_config cfg; /* what the store was opened with; a test may change it later */
	em_store *s;
	int64_t now; /* when the fixture was made */
};

/* Makes the fixture in *state, the directory named after name: 0, or -1
** (why on stderr). */
static inline int teststore_setup(void **state, const char *name)
{
	struct fixture *f = em_calloc(1, sizeof *f);
	*state = f;
	snprintf(f->dir, sizeof f->dir, "/tmp/emma-test-%s-XXXXXX", name);
	if (!mkdtemp(f->dir))
		return -1;
	em_config_defaults(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	f->cfg.readers = 2;
	char err[256];
	if (em_store_open(&f->s, &f->cfg, err, sizeof err)) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	f->now = em_now_ms();
	return 0;
}

static inline int teststore_teardown(void **state)
{
	struct fixture *f = *state;
	if (f->s)
		em_store_close(f->s);
	testdir_remove(f->dir);
	em_free(f);
	return 0;
}

#endif
