/*
** Unit tests for src/live/presence.c: the live list rebuilt from a real
** store after a restart. Who counts as live is whoever has an event within
** the timeout, on any site; a visitor merged into another, or seen only
** before the timeout, is not restored.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdir.h"
#include "teststore.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "live/presence.h"
#include "net/loop.h"
#include "store/store.h"

#define MIN (60LL * 1000)

static int setup(void **state)
{
	if (teststore_setup(state, "presence"))
		return -1;
	em_presence_init(5 * 60);
	return 0;
}

static int teardown(void **state)
{
	em_presence_shutdown();
	return teststore_teardown(state);
}

/* A visitor with one visit and its page views at the given times (ms ago). */
static int64_t visitor(em_db *db, int64_t site_id, const char *vid, int64_t now, const int64_t *ago, int n)
{
	int64_t last = now - ago[n - 1];
	em_db_exec(db,
		   "INSERT INTO visitor (site_id, vid, first_seen, last_seen, visits, pageviews) "
		   "VALUES (?, ?, ?, ?, 1, ?)",
		   "itiii", site_id, vid, now - ago[0], last, (int64_t)n);
	int64_t id = em_db_last_id(db);
	em_db_exec(db,
		   "INSERT INTO visit (visitor_id, site_id, started_at, last_at, pageviews, referrer) "
		   "VALUES (?, ?, ?, ?, ?, 'https://search.example/')",
		   "iiiii", id, site_id, now - ago[0], last, (int64_t)n);
	int64_t visit_id = em_db_last_id(db);
	for (int i = 0; i < n; i++) {
		char url[64];
		snprintf(url, sizeof url, "/%s/page-%d", vid, i + 1);
		em_db_exec(db,
			   "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, url, title) "
			   "VALUES (?, ?, ?, ?, 'pageview', ?, ?)",
			   "iiiitt", visit_id, id, site_id, now - ago[i], url, url + 1);
	}
	return id;
}

static int seed(em_db *db, void *arg)
{
	struct fixture *f = arg;
	int64_t now = f->now;
	if (em_db_exec(db,
		       "INSERT INTO site (id, key, name, created_at) VALUES (1, 'default', 'Default', 0) "
		       "ON CONFLICT (id) DO NOTHING",
		       NULL) ||
	    em_db_exec(db, "INSERT INTO site (id, key, name, created_at) VALUES (2, 'second', 'Second', 0)",
		       NULL))
		return EM_EIO;
	/* Live: an hour-long visit whose last page was a minute ago. */
	visitor(db, 1, "here", now, (const int64_t[]){60 * MIN, 30 * MIN, 1 * MIN}, 3);
	/* Live, on the second site. */
	visitor(db, 2, "there", now, (const int64_t[]){2 * MIN}, 1);
	/* Gone: the last page ten minutes ago (the timeout is five). */
	visitor(db, 1, "gone", now, (const int64_t[]){20 * MIN, 10 * MIN}, 2);
	/* Merged into "here": its recent events moved there, its row stays. */
	int64_t merged = visitor(db, 1, "merged", now, (const int64_t[]){3 * MIN}, 1);
	return em_db_exec(db, "UPDATE visitor SET merged_into = 1 WHERE id = ?", "i", merged);
}

static void test_rebuild(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, f), 0);
	assert_int_equal(em_presence_rebuild(f->s), 0);
	assert_int_equal(em_presence_count(), 2);
	assert_int_equal(em_presence_count_site(1), 1);
	assert_int_equal(em_presence_count_site(2), 1);

	em_presence_view v;
	assert_int_equal(em_presence_get(1, "here", &v), 0);
	assert_string_equal(v.url, "/here/page-3");
	assert_string_equal(v.title, "here/page-3");
	assert_string_equal(v.referrer, "https://search.example/");
	assert_int_equal(v.pages, 3);
	assert_true(v.since == f->now - 60 * MIN);
	assert_true(v.page_since == f->now - 1 * MIN);
	assert_true(v.last_seen == f->now - 1 * MIN);

	assert_int_equal(em_presence_get(2, "there", &v), 0);
	assert_string_equal(v.url, "/there/page-1");
	assert_int_equal(em_presence_get(1, "gone", &v), EM_ENOTFOUND);
	assert_int_equal(em_presence_get(1, "merged", &v), EM_ENOTFOUND);

	/* A second rebuild adds nobody twice. */
	assert_int_equal(em_presence_rebuild(f->s), 0);
	assert_int_equal(em_presence_count(), 2);
}

int main(void)
{
	em_log_set_level(EM_LOG_ERROR);
	if (em_loop_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	em_loop_close();
	return rc;
}
