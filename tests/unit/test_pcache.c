/*
** Unit tests for src/store/pcache.c, the layer over SQLite's page cache
** that skips truncations which can drop nothing. What it must never do is
** skip one that should drop pages: after a rolled-back growth, a shrinking
** VACUUM or a B-tree that split pages (through SQLite's temporary page
** number) the database reads back exactly what was committed, and SQLite's
** own integrity check passes. Each case runs on a file in WAL mode, as the
** store does, with a cache large enough to keep every page.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h> /* check-src: allow: this tests a layer under SQLite, through its own API */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdir.h"
#include "store/store_int.h"

struct fixture {
	char dir[64];
	sqlite3 *db;
};

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void assert_intact(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* Rows whose keys are scattered: inserts land all over the index and split
** its pages, which is what moves pages through the temporary number. */
static void insert_rows(sqlite3 *db, int from, int n, const char *tag)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?, ?)", -1, &st, NULL),
			 SQLITE_OK);
	char v[200];
	for (int i = from; i < from + n; i++) {
		snprintf(v, sizeof v, "%s-%d-%0120d", tag, i, i);
		sqlite3_bind_int64(st, 1, ((int64_t)i * 2654435761u) % 1000003);
		sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

static int setup(void **state)
{
	static int installed;
	if (!installed) {
		/* Before SQLite's first use in this process, as the store does. */
		assert_int_equal(em__pcache_install(), SQLITE_OK);
		installed = 1;
	}
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/emma-test-pcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof path, "%s/t.db", f->dir);
	assert_int_equal(sqlite3_open(path, &f->db), SQLITE_OK);
	exec(f->db, "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;"
		    "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL);"
		    "CREATE INDEX t_k ON t(k, v)");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sqlite3_close(f->db);
	testdir_remove(f->dir);
	free(f);
	return 0;
}

/* A transaction that grew the file and rolled back leaves its new pages in
** the cache; the truncation at its end must drop them, or the next
** transaction would find them as if they were on disk. */
static void test_rolled_back_growth_is_dropped(void **state)
{
	struct fixture *f = *state;
	exec(f->db, "BEGIN");
	insert_rows(f->db, 0, 500, "kept");
	exec(f->db, "COMMIT");
	int64_t pages = one_int(f->db, "PRAGMA page_count");

	exec(f->db, "BEGIN");
	insert_rows(f->db, 500, 5000, "undone");
	assert_true(one_int(f->db, "PRAGMA page_count") > pages + 100);
	exec(f->db, "ROLLBACK");
	assert_int_equal(one_int(f->db, "PRAGMA page_count"), pages);

	exec(f->db, "BEGIN");
	insert_rows(f->db, 10000, 3000, "after");
	exec(f->db, "COMMIT");
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 3500);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t WHERE v LIKE 'undone-%'"), 0);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t INDEXED BY t_k WHERE k >= 0"), 3500);
	assert_intact(f->db);
}

/* Many commits that split index pages, then a VACUUM that shrinks the file
** and more writes on top: every committed row is there, once. */
static void test_splits_and_shrink_keep_the_data(void **state)
{
	struct fixture *f = *state;
	for (int round = 0; round < 40; round++) {
		exec(f->db, "BEGIN");
		insert_rows(f->db, round * 250, 250, "r");
		exec(f->db, "COMMIT");
	}
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 10000);
	int64_t before = one_int(f->db, "PRAGMA page_count");
	exec(f->db, "DELETE FROM t WHERE id % 4 != 0");
	exec(f->db, "VACUUM");
	assert_true(one_int(f->db, "PRAGMA page_count") < before);
	for (int round = 0; round < 10; round++) {
		exec(f->db, "BEGIN");
		insert_rows(f->db, 100000 + round * 250, 250, "s");
		exec(f->db, "COMMIT");
	}
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 2500 + 2500);
	assert_int_equal(one_int(f->db, "SELECT count(*) FROM t INDEXED BY t_k WHERE k >= 0"), 5000);
	assert_int_equal(one_int(f->db, "SELECT count(DISTINCT v) FROM t"), 5000);
	assert_intact(f->db);
}

/* A second connection sees every commit of the first (its cache is
** layered too and is truncated when the file changes under it). */
static void test_second_connection_reads_commits(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof path, "%s/t.db", f->dir);
	sqlite3 *r;
	assert_int_equal(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (int round = 0; round < 8; round++) {
		exec(f->db, "BEGIN");
		insert_rows(f->db, round * 400, 400, "c");
		exec(f->db, "COMMIT");
		assert_int_equal(one_int(r, "SELECT count(*) FROM t INDEXED BY t_k WHERE k >= 0"),
				 (round + 1) * 400);
	}
	exec(f->db, "DELETE FROM t WHERE id % 2 = 0");
	exec(f->db, "VACUUM");
	assert_int_equal(one_int(r, "SELECT count(*) FROM t"), 1600);
	assert_intact(r);
	sqlite3_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rolled_back_growth_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_splits_and_shrink_keep_the_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_connection_reads_commits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
