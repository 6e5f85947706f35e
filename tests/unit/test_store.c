/*
** Unit tests for src/store/store_sqlite.c: the SQLite store.
**
** Each case uses a fresh temporary data directory. The cases follow the
** store's promises: migrations run once; writes are group-committed and
** acknowledged (done on the loop) only after COMMIT; a failing write rolls
** back alone; a full queue says EM_EAGAIN and never calls back; reads see
** committed data; what was acknowledged survives kill -9; a backup taken
** while writes go on is a valid database; constraint errors map to EM_E*.
**
** The crash case re-executes this binary as a child ("--crash-child DIR N")
** rather than forking a process that already runs libuv's thread pool.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdir.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "net/embedded.h"
#include "net/loop.h"
#include "store/store.h"
#include "store/store_int.h"

#define PUMP_LIMIT_MS 30000

/* ---- Fixture: a fresh data directory per test ------------------------- */

struct fixture {
	char dir[64];
	em_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = em_calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/emma-test-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	em_config_defaults(&f->cfg);
	/* A subdirectory that does not exist yet: open must mkdir -p it. */
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s/data/db", f->dir);
	f->cfg.readers = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	testdir_remove(f->dir);
	em_free(f);
	return 0;
}

static em_store *open_store(const em_config *cfg)
{
	char err[256] = "";
	em_store *s = NULL;
	int rc = em_store_open(&s, cfg, err, sizeof err);
	if (rc)
		fail_msg("em_store_open: %s (%s)", err, em_strerror(rc));
	return s;
}

/* Runs the loop without blocking until *counter reaches target (bounded). */
static void pump_until(const int *counter, int target)
{
	uint64_t deadline = em_mono_ms() + PUMP_LIMIT_MS;
	while (*counter < target && em_mono_ms() < deadline) {
		em_loop_run_once();
		if (*counter < target)
			usleep(200);
	}
	assert_int_equal(*counter, target);
}

/* ---- Database functions used by the tests ---------------------------- */

struct kv {
	char key[48];
	const char *value;
	int fail;	   /* returned after a successful insert */
	int status;	   /* set by the done callback */
	int *done_count;   /* incremented by the done callback */
	em_store *reenter; /* if set, the write function tries em_store_write on it */
	int reenter_rc;
};

static int put_kv(em_db *db, void *arg)
{
	struct kv *a = arg;
	int rc = em_db_exec(db, "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)", "tti", a->key,
			    a->value ? a->value : "v", (int64_t)em_now_ms());
	if (rc)
		return rc;
	return a->fail;
}

static void kv_done(int status, void *arg)
{
	struct kv *a = arg;
	a->status = status;
	(*a->done_count)++;
}

static int noop_write(em_db *db, void *arg)
{
	(void)db;
	(void)arg;
	return 0;
}

struct count {
	const char *like;
	int64_t n;
};

static int count_kv(em_db *db, void *arg)
{
	struct count *c = arg;
	em_stmt *st = em_db_prepare(db, "SELECT count(*) FROM kv WHERE key LIKE ?", "t", c->like);
	int rc = em_stmt_step(st);
	if (rc == 1)
		c->n = em_stmt_int(st, 0);
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

static int64_t count_rows(em_store *s, const char *like)
{
	struct count c = {like, -1};
	assert_int_equal(em_store_read_sync(s, count_kv, &c), 0);
	return c.n;
}

static int has_key(em_store *s, const char *key)
{
	return count_rows(s, key) == 1;
}

/* A write that parks the writer thread until released, so a test can fill
** the queue or line up writes for one batch deterministically. */
struct blocker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;
	int release;
};

static struct blocker *blocker_new(void)
{
	struct blocker *b = em_calloc(1, sizeof *b);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	return b;
}

static void blocker_free(struct blocker *b)
{
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	em_free(b);
}

static int block_write(em_db *db, void *arg)
{
	struct blocker *b = arg;
	(void)db;
	pthread_mutex_lock(&b->mu);
	b->running = 1;
	pthread_cond_broadcast(&b->cv);
	while (!b->release)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static void blocker_wait_running(struct blocker *b)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&b->mu);
	while (!b->running)
		if (pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT)
			break;
	int running = b->running;
	pthread_mutex_unlock(&b->mu);
	assert_true(running);
}

static void blocker_release(struct blocker *b)
{
	pthread_mutex_lock(&b->mu);
	b->release = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void count_done(int status, void *arg)
{
	(void)status;
	(*(int *)arg)++;
}

/* ---- Migrations ------------------------------------------------------- */

static int migration_count(int *max_version)
{
	int n = 0, max = 0;
	for (const struct em_embedded *m = migrations; m->path; m++, n++) {
		char *end;
		long v = strtol(m->path, &end, 10);
		if (v > max)
			max = (int)v;
	}
	*max_version = max;
	return n;
}

static int count_migrations(em_db *db, void *arg)
{
	em_stmt *st = em_db_prepare(db, "SELECT count(*), max(version) FROM schema_migrations", NULL);
	int rc = em_stmt_step(st);
	if (rc == 1) {
		((int64_t *)arg)[0] = em_stmt_int(st, 0);
		((int64_t *)arg)[1] = em_stmt_int(st, 1);
	}
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

static void test_migrations_applied_once(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	int applied = -1, max_version;
	int n = migration_count(&max_version);
	assert_true(n >= 1);

	assert_int_equal(em_store_migrate(&f->cfg, &applied, err, sizeof err), 0);
	assert_int_equal(applied, n);
	assert_int_equal(em_store_migrate(&f->cfg, &applied, err, sizeof err), 0);
	assert_int_equal(applied, 0);

	for (int round = 0; round < 2; round++) {
		em_store *s = open_store(&f->cfg);
		assert_int_equal(em_store_schema_version(s), max_version);
		int64_t got[2] = {0, 0};
		assert_int_equal(em_store_read_sync(s, count_migrations, got), 0);
		assert_int_equal(got[0], n); /* reopening did not apply anything again */
		assert_int_equal(got[1], max_version);
		em_store_close(s);
	}
}

static void test_migration_error_is_reported(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	em_store *s = NULL;
	static const char good[] = "CREATE TABLE t_good (id INTEGER PRIMARY KEY);";
	static const char bad[] = "CREATE TABLE t_half (id INTEGER);\nFOO BAR;";
	/* Listed out of order: they must still run by number. */
	const struct em_embedded table[] = {
		{"002_bad.sql", (const unsigned char *)bad, sizeof bad - 1, NULL, 0, NULL, NULL},
		{"001_good.sql", (const unsigned char *)good, sizeof good - 1, NULL, 0, NULL, NULL},
		{NULL, NULL, 0, NULL, 0, NULL, NULL},
	};
	em__store_set_migrations(table);
	int rc = em_store_open(&s, &f->cfg, err, sizeof err);
	em__store_set_migrations(NULL);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	assert_non_null(strstr(err, "migration 002_bad.sql"));
	assert_non_null(strstr(err, "near \"FOO\": syntax error"));

	/* 001 committed on its own; 002 left nothing behind (its own transaction). */
	const struct em_embedded only_good[] = {
		{"001_good.sql", (const unsigned char *)good, sizeof good - 1, NULL, 0, NULL, NULL},
		{NULL, NULL, 0, NULL, 0, NULL, NULL},
	};
	int applied = -1;
	em__store_set_migrations(only_good);
	rc = em_store_migrate(&f->cfg, &applied, err, sizeof err);
	em__store_set_migrations(NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(applied, 0);

	/* A name without a number is refused with its name. */
	const struct em_embedded unnamed[] = {
		{"foundation.sql", (const unsigned char *)good, sizeof good - 1, NULL, 0, NULL, NULL},
		{NULL, NULL, 0, NULL, 0, NULL, NULL},
	};
	em__store_set_migrations(unnamed);
	rc = em_store_migrate(&f->cfg, &applied, err, sizeof err);
	em__store_set_migrations(NULL);
	assert_int_equal(rc, EM_EINVAL);
	assert_non_null(strstr(err, "foundation.sql"));
}

/* ---- Writes ----------------------------------------------------------- */

static void test_async_writes_group_commit(void **state)
{
	struct fixture *f = *state;
	enum { N = 1000 };
	f->cfg.batch_ms = 5;
	em_store *s = open_store(&f->cfg);
	struct kv *w = em_calloc(N, sizeof *w);
	int done = 0;
	for (int i = 0; i < N; i++) {
		snprintf(w[i].key, sizeof w[i].key, "async-%04d", i);
		w[i].status = 1;
		w[i].done_count = &done;
		assert_int_equal(em_store_write(s, put_kv, kv_done, &w[i]), 0);
	}
	pump_until(&done, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(w[i].status, 0);

	em_store_stats st;
	em_store_get_stats(s, &st);
	assert_int_equal(st.writes, N);
	assert_int_equal(st.write_errors, 0);
	assert_true(st.commits >= 1);
	assert_true(st.commits < N); /* group commit happened */
	print_message("group commit: %d writes in %llu transactions\n", N, (unsigned long long)st.commits);
	assert_int_equal(st.queue_depth, 0);
	uint64_t hist = 0;
	for (int i = 0; i < 8; i++)
		hist += st.commit_hist[i];
	assert_int_equal(hist, st.commits);
	assert_true(st.commit_us_max <= st.commit_us_sum);

	assert_int_equal(count_rows(s, "async-%"), N);
	em_store_close(s);
	em_free(w);
}

static void test_failing_write_rolls_back_alone(void **state)
{
	struct fixture *f = *state;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct blocker *b = blocker_new();
	int done = 0;
	struct kv w[4] = {0};
	const char *keys[4] = {"a", "b-fails", "c", "a"};
	for (int i = 0; i < 4; i++) {
		snprintf(w[i].key, sizeof w[i].key, "%s", keys[i]);
		w[i].done_count = &done;
		w[i].status = 1;
	}
	w[1].fail = EM_EINVAL; /* inserts, then fails: its insert must vanish */
	/* w[3] repeats "a": its unique violation is its own failure too. */

	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b);
	for (int i = 0; i < 4; i++)
		assert_int_equal(em_store_write(s, put_kv, kv_done, &w[i]), 0);
	blocker_release(b);
	pump_until(&done, 4);

	assert_int_equal(w[0].status, 0);
	assert_int_equal(w[1].status, EM_EINVAL);
	assert_int_equal(w[2].status, 0);
	assert_int_equal(w[3].status, EM_EEXIST);
	assert_true(has_key(s, "a"));
	assert_false(has_key(s, "b-fails"));
	assert_true(has_key(s, "c"));

	em_store_stats st;
	em_store_get_stats(s, &st);
	assert_int_equal(st.commits, 2); /* the blocker's batch, then all four together */
	assert_int_equal(st.writes, 3);
	assert_int_equal(st.write_errors, 2);
	em_store_close(s);
	blocker_free(b);
}

/* A write alone in its batch runs without a savepoint: its failure must
** still leave nothing behind, and the next write must find the store as
** before. */
static void test_lone_failing_write_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	struct kv ok = {.key = "lone-ok"}, bad = {.key = "lone-bad", .fail = EM_EINVAL},
		  dup = {.key = "lone-ok"};
	assert_int_equal(em_store_write_sync(s, put_kv, &ok), 0);
	assert_int_equal(em_store_write_sync(s, put_kv, &bad), EM_EINVAL);
	assert_int_equal(em_store_write_sync(s, put_kv, &dup), EM_EEXIST);
	assert_true(has_key(s, "lone-ok"));
	assert_false(has_key(s, "lone-bad"));
	struct kv after = {.key = "lone-after"};
	assert_int_equal(em_store_write_sync(s, put_kv, &after), 0);
	assert_true(has_key(s, "lone-after"));
	em_store_stats st;
	em_store_get_stats(s, &st);
	assert_int_equal(st.write_errors, 2);
	em_store_close(s);
}

static int replay_resets;

static void count_reset(void)
{
	replay_resets++;
}

/* Replayable writes share a savepoint; one failing among them must leave
** every write with the outcome it has when each runs in its own. */
static void test_failing_replayable_write_reruns(void **state)
{
	struct fixture *f = *state;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct blocker *b = blocker_new();
	int done = 0;
	enum { N = 8 };
	struct kv w[N] = {0};
	/* r = replayable, p = plain. "c-fails" inserts and then fails; the
	** second "a" fails by its unique key; "f" and "g" form a clean run. */
	const char *keys[N] = {"a", "b", "c-fails", "d", "e", "a", "f", "g"};
	const int repl[N] = {1, 1, 1, 1, 0, 1, 1, 1};
	for (int i = 0; i < N; i++) {
		snprintf(w[i].key, sizeof w[i].key, "%s", keys[i]);
		w[i].done_count = &done;
		w[i].status = 1;
	}
	w[2].fail = EM_EINVAL;
	replay_resets = 0;

	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b);
	for (int i = 0; i < N; i++)
		assert_int_equal(repl[i] ? em_store_write_replayable(s, put_kv, count_reset, kv_done, &w[i])
					 : em_store_write(s, put_kv, kv_done, &w[i]),
				 0);
	blocker_release(b);
	pump_until(&done, N);

	const int want[N] = {0, 0, EM_EINVAL, 0, 0, EM_EEXIST, 0, 0};
	for (int i = 0; i < N; i++)
		assert_int_equal(w[i].status, want[i]);
	assert_false(has_key(s, "c-fails"));
	for (int i = 0; i < N; i++)
		if (!want[i])
			assert_true(has_key(s, keys[i]));
	assert_int_equal(count_rows(s, "a"), 1);
	/* The run a, b, c-fails rolls back at c-fails: the three are reset
	** and rerun alone. d runs alone (a plain write follows it). The run of
	** the second "a", f and g fails at once: "a" is reset and rerun alone,
	** then f and g share a savepoint and commit without a reset. */
	assert_int_equal(replay_resets, 4);

	em_store_stats st;
	em_store_get_stats(s, &st);
	assert_int_equal(st.commits, 2); /* the blocker's batch, then all eight together */
	assert_int_equal(st.writes, 7);	 /* the blocker and six of the eight */
	assert_int_equal(st.write_errors, 2);
	em_store_close(s);
	blocker_free(b);
}

static void test_queue_full_is_eagain(void **state)
{
	struct fixture *f = *state;
	enum { QMAX = 8 };
	f->cfg.queue_max = QMAX;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct blocker *b = blocker_new();
	int done = 0, rejected_done = 0;

	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b); /* the writer holds it: the queue is empty again */
	for (int i = 0; i < QMAX; i++)
		assert_int_equal(em_store_write(s, noop_write, count_done, &done), 0);
	assert_int_equal(em_store_write(s, noop_write, count_done, &rejected_done), EM_EAGAIN);
	em_store_stats st;
	em_store_get_stats(s, &st);
	assert_int_equal(st.queue_depth, QMAX);

	blocker_release(b);
	pump_until(&done, QMAX);
	/* Let any stray callback arrive before checking none did. */
	for (int i = 0; i < 20; i++) {
		em_loop_run_once();
		usleep(1000);
	}
	assert_int_equal(rejected_done, 0);
	em_store_close(s);
	blocker_free(b);
}

/* During close: writes are refused with EM_ECLOSED, queued ones still commit
** and their done callbacks are posted for the caller to deliver. */
struct closer {
	em_store *s;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;
	em_store_close(c->s);
	return NULL;
}

static void test_close_drains_queue(void **state)
{
	struct fixture *f = *state;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct blocker *b = blocker_new();
	int done = 0;
	struct kv w[3] = {0};
	for (int i = 0; i < 3; i++) {
		snprintf(w[i].key, sizeof w[i].key, "drain-%d", i);
		w[i].done_count = &done;
		w[i].status = 1;
	}
	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(em_store_write(s, put_kv, kv_done, &w[i]), 0);

	struct closer c = {s};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, close_thread, &c), 0);
	/* The writer is parked, so close cannot finish: s stays valid until
	** the blocker is released. Wait for close to start refusing writes. */
	int rc = 0, tries = 0;
	while ((rc = em_store_write(s, noop_write, NULL, NULL)) == 0 && tries++ < 10000)
		usleep(100);
	assert_int_equal(rc, EM_ECLOSED);
	blocker_release(b);
	pthread_join(t, NULL);

	pump_until(&done, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].status, 0);
	blocker_free(b);

	s = open_store(&f->cfg);
	assert_int_equal(count_rows(s, "drain-%"), 3);
	em_store_close(s);
}

static int dup_insert(em_db *db, void *arg)
{
	char *msg = arg;
	static const char sql[] = "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)";
	int rc = em_db_exec(db, sql, "tti", "dup", "1", (int64_t)1);
	if (rc)
		return 100; /* the first insert must work */
	rc = em_db_exec(db, sql, "tti", "dup", "2", (int64_t)2);
	snprintf(msg, 256, "%s", em_db_errmsg(db));
	return rc;
}

static int null_insert(em_db *db, void *arg)
{
	(void)arg;
	/* value is NOT NULL: a non-unique constraint maps to EM_EINVAL. */
	return em_db_exec(db, "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)", "tni", "nul",
			  (int64_t)1);
}

/* Write functions run on the writer thread, where a cmocka assertion cannot
** unwind; they report a failed check as a distinctive status instead. */
static int bad_bind(em_db *db, void *arg)
{
	(void)arg;
	/* Two letters for three placeholders. */
	em_stmt *st =
		em_db_prepare(db, "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)", "tt", "x", "y");
	if (st || em_stmt_step(st) != EM_EINVAL)
		return 101;
	em_stmt_done(st);
	if (!strstr(em_db_errmsg(db), "placeholders"))
		return 102;
	if (em_db_exec(db, "SELECT 1; SELECT 2", NULL) != EM_EINVAL)
		return 103;
	return em_db_exec(db, "SELEC nonsense", NULL);
}

static void test_constraint_errors(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	char msg[256] = "";
	assert_int_equal(em_store_write_sync(s, dup_insert, msg), EM_EEXIST);
	assert_non_null(strstr(msg, "UNIQUE"));
	/* The failed write rolled back as a whole, first insert included. */
	assert_false(has_key(s, "dup"));
	assert_int_equal(em_store_write_sync(s, null_insert, NULL), EM_EINVAL);
	assert_int_equal(em_store_write_sync(s, bad_bind, NULL), EM_EIO);
	em_store_close(s);
}

/* The statement API: every bind type, column getters, last id, changes and
** the same SQL used while it is still being iterated (a one-off statement). */
static const char SQL_AUDIT_INS[] =
	"INSERT INTO audit_log(at, operator_id, action, target, ip, detail) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_AUDIT_ALL[] = "SELECT id, at, operator_id, action, target FROM audit_log ORDER BY id";

static int stmt_write(em_db *db, void *arg)
{
	(void)arg;
	int rc = em_db_exec(db, SQL_AUDIT_INS, "iItttt", (int64_t)1700000000000, 7, "login", "op:7",
			    "1.2.3.4", "-");
	if (rc)
		return rc;
	int64_t id1 = em_db_last_id(db);
	if (id1 <= 0 || em_db_changes(db) != 1)
		return 101;
	/* 'n' takes no argument: operator_id is NULL here. */
	rc = em_db_exec(db, SQL_AUDIT_INS, "intttt", (int64_t)1700000000001, "logout", "op:8", "", "-");
	if (rc)
		return rc;
	if (em_db_last_id(db) != id1 + 1)
		return 102;
	static const char blob[4] = {1, 0, 2, 3};
	rc = em_db_exec(db, "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)", "tbd", "blob", blob,
			sizeof blob, 2.5);
	if (rc)
		return rc;
	/* Nested use of the same SQL string while the outer one is mid-step. */
	em_stmt *outer = em_db_prepare(db, SQL_AUDIT_ALL, NULL);
	int rows = 0;
	while (em_stmt_step(outer) == 1) {
		em_stmt *inner = em_db_prepare(db, SQL_AUDIT_ALL, NULL);
		int inner_rows = 0;
		while (em_stmt_step(inner) == 1)
			inner_rows++;
		em_stmt_done(inner);
		if (inner_rows != 2)
			return 103;
		rows++;
	}
	em_stmt_done(outer);
	return rows == 2 ? 0 : 104;
}

static int stmt_read(em_db *db, void *arg)
{
	(void)arg;
	em_stmt *st = em_db_prepare(db, SQL_AUDIT_ALL, NULL);
	assert_int_equal(em_stmt_step(st), 1);
	assert_int_equal(em_stmt_int(st, 1), 1700000000000LL);
	assert_int_equal(em_stmt_int(st, 2), 7);
	assert_string_equal(em_stmt_text(st, 3), "login");
	assert_false(em_stmt_is_null(st, 4));
	assert_int_equal(em_stmt_step(st), 1);
	assert_true(em_stmt_is_null(st, 2)); /* bound with 'n' */
	em_stmt_done(st);

	st = em_db_prepare(db, "SELECT value, updated_at, NULL FROM kv WHERE key = ?", "t", "blob");
	assert_int_equal(em_stmt_step(st), 1);
	size_t len = 0;
	const unsigned char *p = em_stmt_blob(st, 0, &len);
	assert_int_equal(len, 4);
	assert_int_equal(p[2], 2);
	assert_true(em_stmt_double(st, 1) > 2.4 && em_stmt_double(st, 1) < 2.6);
	assert_true(em_stmt_is_null(st, 2));
	assert_null(em_stmt_text(st, 2));
	assert_int_equal(em_stmt_step(st), 0);
	em_stmt_done(st);

	/* A statement left open is reset by the store when the function ends. */
	st = em_db_prepare(db, SQL_AUDIT_ALL, NULL);
	assert_int_equal(em_stmt_step(st), 1);
	return 0;
}

static void test_statement_api(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	assert_int_equal(em_store_write_sync(s, stmt_write, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(em_store_read_sync(s, stmt_read, NULL), 0);
	em_store_close(s);
}

/* ---- Reads ------------------------------------------------------------ */

struct async_read {
	struct count c;
	int status;
	int done;
};

static void read_done_cb(int status, void *arg)
{
	struct async_read *r = arg;
	r->status = status;
	r->done++;
}

static void test_reads_see_committed_data(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	struct kv w[10] = {0};
	for (int i = 0; i < 10; i++) {
		snprintf(w[i].key, sizeof w[i].key, "read-%d", i);
		assert_int_equal(em_store_write_sync(s, put_kv, &w[i]), 0);
	}
	enum { R = 8 }; /* more reads than reader connections: they queue for the pool */
	struct async_read r[R];
	int done = 0;
	memset(r, 0, sizeof r);
	for (int i = 0; i < R; i++) {
		r[i].c.like = "read-%";
		r[i].c.n = -1;
		r[i].status = 1;
		assert_int_equal(em_store_read(s, count_kv, read_done_cb, &r[i]), 0);
	}
	uint64_t deadline = em_mono_ms() + PUMP_LIMIT_MS;
	for (;;) {
		done = 0;
		for (int i = 0; i < R; i++)
			done += r[i].done;
		if (done == R || em_mono_ms() > deadline)
			break;
		em_loop_run_once();
		usleep(200);
	}
	assert_int_equal(done, R);
	for (int i = 0; i < R; i++) {
		assert_int_equal(r[i].status, 0);
		assert_int_equal(r[i].c.n, 10);
	}
	em_store_close(s);
}

/* ---- WAL write coalescing (walbuf.c) ----------------------------------- */

/* One transaction of n rows of 1 KiB: megabytes of WAL frames, more than
** the coalescing buffer holds and more than one write call may carry. */
struct bulk {
	int from, n;
};

static int put_bulk(em_db *db, void *arg)
{
	struct bulk *b = arg;
	char value[1024];
	for (int i = b->from; i < b->from + b->n; i++) {
		char key[48];
		snprintf(key, sizeof key, "bulk-%06d", i);
		for (size_t k = 0; k < sizeof value - 1; k++)
			value[k] = (char)('a' + (i + (int)k) % 26);
		value[sizeof value - 1] = '\0';
		int rc = em_db_exec(db, "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)", "tti", key,
				    value, (int64_t)i);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_bulk(em_db *db, void *arg)
{
	int *bad = arg;
	em_stmt *st = em_db_prepare(db, "SELECT key, value, updated_at FROM kv WHERE key LIKE 'bulk-%'", "");
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		int i = (int)em_stmt_int(st, 2);
		const char *v = em_stmt_text(st, 1);
		char key[48];
		snprintf(key, sizeof key, "bulk-%06d", i);
		if (strcmp(em_stmt_text(st, 0), key) || strlen(v) != 1023 || (v[0] | 0x20) != 'a' + i % 26 ||
		    (v[1022] | 0x20) != 'a' + (i + 1022) % 26)
			(*bad)++;
	}
	em_stmt_done(st);
	if (rc < 0)
		return rc;
	st = em_db_prepare(db, "PRAGMA integrity_check", "");
	if (em_stmt_step(st) != 1 || strcmp(em_stmt_text(st, 0), "ok"))
		(*bad)++;
	em_stmt_done(st);
	return 0;
}

/* Rewrites every bulk row: megabytes of pages that existed before the
** write, whose originals the write's savepoint journals (and moves to a
** temporary file once they are more than fit in memory). */
static int touch_bulk(em_db *db, void *arg)
{
	(void)arg;
	return em_db_exec(db, "UPDATE kv SET value = upper(value) WHERE key LIKE 'bulk-%'", "");
}

static int count_upper(em_db *db, void *arg)
{
	int64_t *n = arg;
	em_stmt *st = em_db_prepare(
		db, "SELECT count(*) FROM kv WHERE key LIKE 'bulk-%' AND value = upper(value)", "");
	int rc = em_stmt_step(st);
	if (rc == 1)
		*n = em_stmt_int(st, 0);
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

static void test_large_transactions_through_wal(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	/* 3,000 rows in one transaction, then small ones that follow it in the
	** same WAL, then another big one: every commit is read back by a reader
	** connection, which sees only what the writer handed to the kernel. */
	struct bulk big1 = {0, 3000}, small[20], big2 = {3100, 2500};
	assert_int_equal(em_store_write_sync(s, put_bulk, &big1), 0);
	assert_int_equal(count_rows(s, "bulk-%"), 3000);
	for (int i = 0; i < 20; i++) {
		small[i] = (struct bulk){3000 + i * 5, 5};
		assert_int_equal(em_store_write_sync(s, put_bulk, &small[i]), 0);
		assert_int_equal(count_rows(s, "bulk-%"), 3000 + (i + 1) * 5);
	}
	assert_int_equal(em_store_write_sync(s, put_bulk, &big2), 0);
	assert_int_equal(count_rows(s, "bulk-%"), 5600);
	int bad = 0;
	assert_int_equal(em_store_read_sync(s, check_bulk, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(em_store_write_sync(s, touch_bulk, NULL), 0);
	int64_t upper = 0;
	assert_int_equal(em_store_read_sync(s, count_upper, &upper), 0);
	assert_int_equal(upper, 5600);
	em_store_close(s);
	/* Reopened: the same rows from the files alone. */
	s = open_store(&f->cfg);
	assert_int_equal(count_rows(s, "bulk-%"), 5600);
	bad = 0;
	assert_int_equal(em_store_read_sync(s, check_bulk, &bad), 0);
	assert_int_equal(bad, 0);
	em_store_close(s);
}

/* The checkpointer copies the log into the database file while the store is
** open (not only at close): a checkpoint on a connection that never read
** the database does nothing, and the log would grow without bound. */
static void test_log_checkpointed_while_open(void **state)
{
	struct fixture *f = *state;
	em_store *s = open_store(&f->cfg);
	char db[sizeof f->cfg.data_dir + 16];
	snprintf(db, sizeof db, "%s/emma.db", f->cfg.data_dir);
	struct stat st0;
	assert_int_equal(stat(db, &st0), 0);
	/* About 6 MiB of rows in 60 commits: well past the 1,000 frames
	** after which the checkpointer is woken. */
	for (int i = 0; i < 60; i++) {
		struct bulk b = {i * 100, 100};
		assert_int_equal(em_store_write_sync(s, put_bulk, &b), 0);
	}
	struct stat st;
	int waited = 0;
	while (stat(db, &st) == 0 && st.st_size < 4 * 1024 * 1024 && waited++ < 200)
		usleep(50 * 1000);
	print_message("database file %lld -> %lld bytes with the store open\n", (long long)st0.st_size,
		      (long long)st.st_size);
	assert_true(st.st_size >= 4 * 1024 * 1024);
	em_store_close(s);
}

/* ---- Crash safety ----------------------------------------------------- */

static const char *self_exe;

/* Child: writes n rows synchronously, acknowledging each on stdout once
** em_store_write_sync returned (= committed), then dies without closing. */
static int crash_child(const char *dir, int n)
{
	em_config cfg;
	char err[256];
	em_store *s = NULL;
	em_config_defaults(&cfg);
	em_log_set_level(EM_LOG_ERROR);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	if (em_store_open(&s, &cfg, err, sizeof err)) {
		fprintf(stderr, "crash child: %s\n", err);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct kv w = {0};
		snprintf(w.key, sizeof w.key, "crash-%05d", i);
		if (em_store_write_sync(s, put_kv, &w))
			return 1;
		printf("ack %d\n", i);
		fflush(stdout);
	}
	raise(SIGKILL);
	return 1;
}

static void test_crash_safety(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	char nbuf[16];
	int fds[2];
	snprintf(nbuf, sizeof nbuf, "%d", N);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(self_exe, self_exe, "--crash-child", f->cfg.data_dir, nbuf, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *in = fdopen(fds[0], "r");
	char line[64];
	int acked = 0;
	while (fgets(line, sizeof line, in))
		if (!strncmp(line, "ack ", 4))
			acked++;
	fclose(in);
	int wst = 0;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFSIGNALED(wst));
	assert_int_equal(WTERMSIG(wst), SIGKILL);
	assert_int_equal(acked, N);

	/* The rows live in the WAL the dead process left behind. */
	char wal[600];
	struct stat sb;
	snprintf(wal, sizeof wal, "%s/emma.db-wal", f->cfg.data_dir);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 0);

	em_store *s = open_store(&f->cfg);
	assert_int_equal(count_rows(s, "crash-%"), N);
	em_store_close(s);
}

/* ---- Backup ----------------------------------------------------------- */

struct producer {
	em_store *s;
	atomic_int stop;
	int written;
	int failed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	while (!atomic_load(&p->stop)) {
		struct kv w = {0};
		snprintf(w.key, sizeof w.key, "bg-%06d", p->written);
		if (em_store_write_sync(p->s, put_kv, &w))
			p->failed++;
		else
			p->written++;
	}
	return NULL;
}

static int integrity(em_db *db, void *arg)
{
	char *out = arg;
	em_stmt *st = em_db_prepare(db, "PRAGMA integrity_check", NULL);
	int rc = em_stmt_step(st);
	if (rc == 1)
		snprintf(out, 64, "%s", em_stmt_text(st, 0));
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

static void test_backup_while_writing(void **state)
{
	struct fixture *f = *state;
	enum { BASE = 1000 };
	em_store *s = open_store(&f->cfg);
	/* About 1.5 MB, so the copy takes several 256-page steps. */
	char *big = em_malloc(1501);
	memset(big, 'x', 1500);
	big[1500] = '\0';
	for (int i = 0; i < BASE; i += 100) {
		int done = 0;
		struct kv w[100] = {0};
		for (int j = 0; j < 100; j++) {
			snprintf(w[j].key, sizeof w[j].key, "base-%05d", i + j);
			w[j].value = big;
			w[j].done_count = &done;
			assert_int_equal(em_store_write(s, put_kv, kv_done, &w[j]), 0);
		}
		pump_until(&done, 100);
	}

	struct producer p = {.s = s};
	atomic_init(&p.stop, 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	usleep(20000);
	char target[600], err[256] = "";
	snprintf(target, sizeof target, "%s/backup/emma.db", f->dir);
	char bdir[256];
	snprintf(bdir, sizeof bdir, "%s/backup", f->dir);
	assert_int_equal(mkdir(bdir, 0700), 0);
	int rc = em_store_backup(s, target, err, sizeof err);
	usleep(20000);
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	if (rc)
		fail_msg("backup: %s", err);
	assert_int_equal(p.failed, 0);
	assert_true(p.written > 0);

	char tmp[640];
	struct stat sb;
	snprintf(tmp, sizeof tmp, "%s.tmp", target);
	assert_int_not_equal(stat(tmp, &sb), 0);
	/* Backing up onto the live database is refused. */
	char live[600];
	snprintf(live, sizeof live, "%s/emma.db", f->cfg.data_dir);
	assert_int_equal(em_store_backup(s, live, err, sizeof err), EM_EINVAL);
	em_store_close(s);

	/* The copy opens as a store of its own and is whole. */
	em_config bcfg = f->cfg;
	snprintf(bcfg.data_dir, sizeof bcfg.data_dir, "%s", bdir);
	em_store *b = open_store(&bcfg);
	char ok[64] = "";
	assert_int_equal(em_store_read_sync(b, integrity, ok), 0);
	assert_string_equal(ok, "ok");
	assert_int_equal(count_rows(b, "base-%"), BASE);
	int64_t bg = count_rows(b, "bg-%");
	assert_true(bg >= 0 && bg <= p.written);
	print_message("backup: %lld of %d concurrent writes made it into the copy\n", (long long)bg,
		      p.written);
	em_store_close(b);
	em_free(big);
}

/* A read queued after em_store_fence starts only once the writes queued
** before it are committed: here the writer is parked, so the read must
** still be waiting, and once released it sees the write. */
static void test_fenced_read_sees_earlier_writes(void **state)
{
	struct fixture *f = *state;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct blocker *b = blocker_new();
	int done = 0;
	struct kv w = {.key = "fenced", .done_count = &done, .status = 1};
	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b);
	assert_int_equal(em_store_write(s, put_kv, kv_done, &w), 0);
	em_store_fence(s);
	struct async_read r = {.c = {"fenced", -1}, .status = 1};
	assert_int_equal(em_store_read(s, count_kv, read_done_cb, &r), 0);
	uint64_t until = em_mono_ms() + 150;
	while (em_mono_ms() < until) {
		em_loop_run_once();
		usleep(1000);
	}
	assert_int_equal(r.done, 0);
	blocker_release(b);
	pump_until(&r.done, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.c.n, 1);
	assert_int_equal(done, 1);
	/* Once the writes are done, a fence holds nothing up. */
	em_store_fence(s);
	struct async_read r2 = {.c = {"fenced", -1}, .status = 1};
	assert_int_equal(em_store_read(s, count_kv, read_done_cb, &r2), 0);
	pump_until(&r2.done, 1);
	assert_int_equal(r2.c.n, 1);
	em_store_close(s);
	blocker_free(b);
}

struct precommit {
	int calls;
	int fail; /* return this instead of writing */
};

static int mark_commit(em_db *db, void *arg)
{
	struct precommit *p = arg;
	p->calls++;
	if (p->fail)
		return p->fail;
	return em_db_exec(db,
			  "INSERT INTO kv(key, value, updated_at) VALUES ('mark', ?, 0) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			  "I", p->calls);
}

/* The pre-commit step runs inside each transaction, after its writes: what
** it writes commits with them; when it fails, none of them commits. */
static void test_precommit_runs_in_each_transaction(void **state)
{
	struct fixture *f = *state;
	f->cfg.batch_ms = 0;
	em_store *s = open_store(&f->cfg);
	struct precommit p = {0};
	em_store_set_precommit(s, mark_commit, &p);
	struct blocker *b = blocker_new();
	int done = 0;
	struct kv w[3] = {{.key = "pc-1"}, {.key = "pc-2"}, {.key = "pc-3"}};
	for (int i = 0; i < 3; i++) {
		w[i].done_count = &done;
		w[i].status = 1;
	}
	assert_int_equal(em_store_write(s, block_write, NULL, b), 0);
	blocker_wait_running(b);
	assert_int_equal(em_store_write(s, put_kv, kv_done, &w[0]), 0);
	assert_int_equal(em_store_write(s, put_kv, kv_done, &w[1]), 0);
	blocker_release(b);
	pump_until(&done, 2);
	assert_int_equal(p.calls, 2); /* the blocker's transaction, then the two writes' */
	assert_int_equal(count_rows(s, "pc-%"), 2);
	assert_int_equal(count_rows(s, "mark"), 1);

	p.fail = EM_EIO;
	assert_int_equal(em_store_write(s, put_kv, kv_done, &w[2]), 0);
	pump_until(&done, 3);
	assert_int_equal(w[2].status, EM_EIO);
	assert_int_equal(count_rows(s, "pc-%"), 2);
	p.fail = 0;
	assert_int_equal(em_store_write_sync(s, put_kv, &w[2]), 0);
	assert_int_equal(count_rows(s, "pc-%"), 3);
	em_store_close(s);
	blocker_free(b);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--crash-child")) {
		char *end;
		long n = strtol(argv[3], &end, 10);
		return crash_child(argv[2], (int)n);
	}
	self_exe = "/proc/self/exe";
	/* Warnings are expected (the statement test leaves one open on purpose). */
	em_log_set_level(EM_LOG_ERROR);
	if (em_loop_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations_applied_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_error_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_writes_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_write_rolls_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lone_failing_write_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fenced_read_sees_earlier_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precommit_runs_in_each_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_replayable_write_reruns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_checkpointed_while_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full_is_eagain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraint_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_see_committed_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_transactions_through_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_safety, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_while_writing, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	em_loop_close();
	return rc;
}
