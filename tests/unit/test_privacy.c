/*
** Unit tests for src/crm/privacy.c: the retention cut-offs (days and
** calendar months), URL anonymisation, purpose names, and a retention pass
** over a real store in chunks: what goes, what stays, and how many writes
** it took.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testdir.h"
#include "teststore.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "crm/privacy.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/ingest.h"

#define DAY (24LL * 3600 * 1000)

/* ms of an RFC 3339 instant, through the project's own formatter as check. */
static void assert_time(int64_t ms, const char *want)
{
	char t[32];
	em_rfc3339(ms, t);
	assert_string_equal(t, want);
}

/* 2024-03-31T12:34:56.789Z */
#define T_2024_03_31 1711888496789LL

static void test_cutoff_days(void **state)
{
	(void)state;
	assert_int_equal(em_privacy_cutoff_days(T_2024_03_31, 0), 0);
	assert_int_equal(em_privacy_cutoff_days(T_2024_03_31, -3), 0);
	assert_true(em_privacy_cutoff_days(T_2024_03_31, 395) == T_2024_03_31 - 395 * DAY);
	assert_time(em_privacy_cutoff_days(T_2024_03_31, 1), "2024-03-30T12:34:56.789Z");
	/* Far back is clamped to the epoch's first millisecond, never 0 (= keep). */
	assert_int_equal(em_privacy_cutoff_days(1000, 5), 1);
}

static void test_cutoff_months(void **state)
{
	(void)state;
	assert_int_equal(em_privacy_cutoff_months(T_2024_03_31, 0), 0);
	/* The day is clamped to the shorter month, leap years included. */
	assert_time(em_privacy_cutoff_months(T_2024_03_31, 1), "2024-02-29T12:34:56.789Z");
	assert_time(em_privacy_cutoff_months(T_2024_03_31, 13), "2023-02-28T12:34:56.789Z");
	assert_time(em_privacy_cutoff_months(T_2024_03_31, 24), "2022-03-31T12:34:56.789Z");
	assert_time(em_privacy_cutoff_months(T_2024_03_31, 3), "2023-12-31T12:34:56.789Z");
	/* Before the epoch: clamped to its first millisecond (0 would mean keep). */
	assert_int_equal(em_privacy_cutoff_months(T_2024_03_31, 1200), 1);
	/* 2025-01-15T00:00:00.000Z - 13 months = 2023-12-15 (over a year boundary). */
	assert_time(em_privacy_cutoff_months(1736899200000LL, 13), "2023-12-15T00:00:00.000Z");
	/* 2026-02-28 - 24 months = 2024-02-28 (no day to clamp). */
	assert_time(em_privacy_cutoff_months(1772236800000LL, 24), "2024-02-28T00:00:00.000Z");
}

/* The stored address: the last `bytes` bytes of IPv4 cleared, IPv6 cut to
** its /64 (and two more bytes per further setting), 0 keeps it whole, and
** what is no address is stored as nothing. */
static void test_anonymize_ip(void **state)
{
	char out[64];
	struct {
		const char *ip;
		int bytes;
		const char *want;
	} cases[] = {
		{"203.0.113.195", 1, "203.0.113.0"},
		{"203.0.113.195", 2, "203.0.0.0"},
		{"203.0.113.195", 3, "203.0.0.0"},
		{"203.0.113.195", 4, "0.0.0.0"},
		{"10.200.9.255", 1, "10.200.9.0"},
		{"255.255.255.255", 1, "255.255.255.0"},
		{"1.2.3.4", 0, "1.2.3.4"},
		{"2001:db8:85a3:8d3:1319:8a2e:370:7348", 1, "2001:db8:85a3:8d3::"},
		{"2001:db8:85a3:8d3:1319:8a2e:370:7348", 2, "2001:db8:85a3::"},
		{"not an address", 1, ""},
		{"203.0.113.195 ", 1, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		em_ingest_anonymize_ip(cases[i].ip, cases[i].bytes, out, sizeof out);
		assert_string_equal(out, cases[i].want);
	}
	/* A short buffer gets what fits, terminated. */
	em_ingest_anonymize_ip("203.0.113.195", 1, out, 6);
	assert_string_equal(out, "203.0");
}

static void test_strip_url(void **state)
{
	(void)state;
	char out[256];
	em_privacy_strip_url("https://shop.example/account?email=a%40b.c#top", 1, out, sizeof out);
	assert_string_equal(out, "https://shop.example/account");
	em_privacy_strip_url("https://shop.example/account?email=a%40b.c#top", 0, out, sizeof out);
	assert_string_equal(out, "https://shop.example/");
	em_privacy_strip_url("https://mail.example:8443/inbox/123?x#y", 0, out, sizeof out);
	assert_string_equal(out, "https://mail.example:8443/");
	em_privacy_strip_url("https://shop.example#frag?x", 1, out, sizeof out);
	assert_string_equal(out, "https://shop.example");
	em_privacy_strip_url("/cart?coupon=Q", 1, out, sizeof out);
	assert_string_equal(out, "/cart");
	/* Not an absolute URL: without a host there is nothing to keep. */
	em_privacy_strip_url("/cart?coupon=Q", 0, out, sizeof out);
	assert_string_equal(out, "");
	em_privacy_strip_url(NULL, 1, out, sizeof out);
	assert_string_equal(out, "");
	/* Cut to the buffer, still terminated. */
	char small[8];
	em_privacy_strip_url("https://shop.example/x", 1, small, sizeof small);
	assert_string_equal(small, "https:/");
}

static void test_purpose(void **state)
{
	(void)state;
	assert_true(em_privacy_purpose_ok("marketing"));
	assert_true(em_privacy_purpose_ok("chat.transcript-v2_1"));
	assert_false(em_privacy_purpose_ok(""));
	assert_false(em_privacy_purpose_ok(NULL));
	assert_false(em_privacy_purpose_ok("Marketing"));
	assert_false(em_privacy_purpose_ok("news letter"));
	assert_false(em_privacy_purpose_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 41 */
}

/* ---- A retention pass over a real store --------------------------------- */

static int setup(void **state)
{
	return teststore_setup(state, "privacy");
}

static int teardown(void **state)
{
	return teststore_teardown(state);
}

static int64_t visitor(em_db *db, const char *vid, int64_t last_seen, int64_t contact_id)
{
	em_db_exec(db,
		   "INSERT INTO visitor (site_id, vid, first_seen, last_seen, contact_id) "
		   "VALUES (1, ?, ?, ?, nullif(?, 0))",
		   "tiii", vid, last_seen, last_seen, contact_id);
	return em_db_last_id(db);
}

static int64_t visit(em_db *db, int64_t visitor_id, int64_t at)
{
	em_db_exec(db,
		   "INSERT INTO visit (visitor_id, site_id, started_at, last_at, ip) VALUES (?, 1, ?, ?, "
		   "'1.2.0.0')",
		   "iii", visitor_id, at, at);
	return em_db_last_id(db);
}

static void events(em_db *db, int64_t visit_id, int64_t visitor_id, int64_t at, int n)
{
	for (int i = 0; i < n; i++)
		em_db_exec(db,
			   "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, url) "
			   "VALUES (?, ?, 1, ?, 'pageview', '/p')",
			   "iii", visit_id, visitor_id, at + i);
}

static int64_t conversation(em_db *db, const char *pid, const char *status, int64_t closed_at, int msgs)
{
	em_db_exec(db,
		   "INSERT INTO conversation (public_id, site_id, vid, status, name, email, created_at, "
		   "closed_at, "
		   "updated_at) VALUES (?, 1, 'vA', ?, 'Some Body', 'some@body.example', ?, nullif(?, 0), ?)",
		   "ttiii", pid, status, closed_at - DAY, closed_at, closed_at);
	int64_t id = em_db_last_id(db);
	for (int i = 1; i <= msgs; i++)
		em_db_exec(db,
			   "INSERT INTO message (conversation_id, seq, author, body, created_at) "
			   "VALUES (?, ?, 'visitor', 'hello', ?)",
			   "iii", id, (int64_t)i, closed_at - DAY);
	return id;
}

static int seed(em_db *db, void *arg)
{
	struct fixture *f = arg;
	int64_t now = f->now, old = now - 400 * DAY, recent = now - DAY;
	if (em_db_exec(db,
		       "INSERT INTO site (id, key, name, created_at) VALUES (1, 'default', 'Default', 0) "
		       "ON CONFLICT (id) DO NOTHING",
		       NULL))
		return EM_EIO;
	/* A: anonymous, gone for 400 days: 23 events in two visits. */
	int64_t a = visitor(db, "vA", old, 0);
	events(db, visit(db, a, old), a, old, 20);
	events(db, visit(db, a, old + 10000), a, old + 10000, 3);
	/* B: anonymous, here yesterday: 3 recent events, 4 old ones. */
	int64_t b = visitor(db, "vB", recent, 0);
	events(db, visit(db, b, old), b, old, 4);
	events(db, visit(db, b, recent), b, recent, 3);
	/* C: gone for 400 days but a known contact's: stays (its old events go). */
	int64_t c = visitor(db, "vC", old, 99);
	events(db, visit(db, c, old), c, old, 2);
	/* Conversations: closed three years ago (goes), a month ago (stays),
	** and one still open from long ago (stays). */
	conversation(db, "cv_old", "closed", now - 3 * 365 * DAY, 5);
	conversation(db, "cv_new", "closed", now - 30 * DAY, 2);
	conversation(db, "cv_open", "open", now - 3 * 365 * DAY, 1);
	return 0;
}

struct count_q {
	const char *sql;
	int64_t v;
};

static int count_fn(em_db *db, void *arg)
{
	struct count_q *q = arg;
	em_stmt *st = em_db_prepare(db, q->sql, NULL);
	if (!st)
		return EM_EIO;
	if (em_stmt_step(st) == 1)
		q->v = em_stmt_int(st, 0);
	em_stmt_done(st);
	return 0;
}

static int64_t count(em_store *s, const char *sql)
{
	struct count_q q = {sql, -1};
	assert_int_equal(em_store_read_sync(s, count_fn, &q), 0);
	return q.v;
}

static void test_retention_in_chunks(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, f), 0);

	em_retention r;
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	assert_true(r.events_before == f->now - 395 * DAY);
	assert_true(r.visitors_before == f->now - 395 * DAY);
	assert_true(r.chats_before == em_privacy_cutoff_months(f->now, 24));

	/* The dry run counts and deletes nothing. */
	r.dry_run = 1;
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.events, 29); /* 23 of A, 4 old of B, 2 old of C */
	assert_int_equal(r.conversations, 1);
	assert_int_equal(r.messages, 5);
	assert_int_equal(r.visitors, 1);
	assert_int_equal(r.visits, 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM event"), 32);

	/* Events cut off between A's two visits: A's 3 later events are not
	** old but go with A; each event is counted once either way. */
	int64_t between = f->now - 400 * DAY + 10000;
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	r.events_before = between;
	r.dry_run = 1;
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.events, 29); /* 26 old, and A's 3 later ones */
	assert_int_equal(r.visitors, 1);
	assert_int_equal(r.visits, 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM event"), 32);

	/* The pass with that cut-off, five rows per chunk: it deletes what the
	** dry run counted. */
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	r.events_before = between;
	r.chunk = 5;
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.events, 29);
	assert_int_equal(r.conversations, 1);
	assert_int_equal(r.messages, 5);
	assert_int_equal(r.visitors, 1);
	assert_int_equal(r.visits, 2);
	/* 26 old events: five full chunks and one of 1 (A's 3 later ones go
	** with A); chats: one conversation per chunk and an empty one;
	** visitors: likewise; and one for the search index check. */
	assert_int_equal(r.chunks, 6 + 2 + 2 + 1);
	assert_int_equal(r.phase, EM_RETENTION_DONE);

	assert_int_equal(count(f->s, "SELECT count(*) FROM event"), 3);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor WHERE vid = 'vA'"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor WHERE vid IN ('vB', 'vC')"), 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visit"), 3);
	assert_int_equal(count(f->s, "SELECT count(*) FROM message"), 3);
	assert_int_equal(count(f->s, "SELECT count(*) FROM conversation WHERE erased_at IS NOT NULL AND "
				     "name = '' AND email = '' AND public_id = 'cv_old'"),
			 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM conversation WHERE name = 'Some Body'"), 2);

	/* A second pass finds nothing more. */
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.events + r.messages + r.conversations + r.visitors, 0);
}

static void test_retention_keep(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, f), 0);
	f->cfg.retain_events_days = 0;
	f->cfg.retain_chats_months = 0;
	f->cfg.retain_visitors_days = 0;
	em_retention r;
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	assert_int_equal(r.events_before + r.chats_before + r.visitors_before, 0);
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.events + r.messages + r.visitors, 0);
	/* Nothing to do costs one write. */
	assert_int_equal(r.chunks, 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM event"), 32);
}

/* Expired visitors between kept ones (recent, or a contact's), one per
** chunk: the visitor phase walks the table in id order past the kept rows,
** takes every expired one and only those. */
static int seed_mixed(em_db *db, void *arg)
{
	struct fixture *f = arg;
	int64_t old = f->now - 400 * DAY, recent = f->now - DAY;
	if (em_db_exec(db,
		       "INSERT INTO site (id, key, name, created_at) VALUES (1, 'default', 'Default', 0) "
		       "ON CONFLICT (id) DO NOTHING",
		       NULL))
		return EM_EIO;
	for (int i = 0; i < 12; i++) {
		char vid[16];
		snprintf(vid, sizeof vid, "%s%02d", i % 3 == 0 ? "gone" : "kept", i);
		int64_t id = visitor(db, vid,
				     i % 3 == 0	  ? old
				     : i % 3 == 1 ? recent
						  : old,
				     i % 3 == 2 ? 7 : 0);
		events(db, visit(db, id, i % 3 == 1 ? recent : old), id, i % 3 == 1 ? recent : old, 1);
	}
	return 0;
}

static int expire_kept01(em_db *db, void *arg)
{
	struct count_q *q = arg;
	int rc = em_db_exec(
		db, "UPDATE visitor SET last_seen = last_seen - 400 * 86400000 WHERE vid = 'kept01'", NULL);
	q->v = em_db_changes(db);
	return rc;
}

static void test_retention_walks_visitors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed_mixed, f), 0);
	em_retention r;
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	r.events_before = 0; /* visitors only: their events go with them */
	r.chats_before = 0;
	r.chunk = 10; /* one visitor per chunk */
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.visitors, 4);
	assert_int_equal(r.visits, 4);
	assert_int_equal(r.events, 4);
	/* Four chunks of one, one that finds nothing more, one for the search index. */
	assert_int_equal(r.chunks, 4 + 1 + 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor WHERE vid LIKE 'gone%'"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor WHERE vid LIKE 'kept%'"), 8);
	assert_int_equal(count(f->s, "SELECT count(*) FROM event"), 8);

	/* A new pass starts from the first row again: an early row that has
	** expired since is found although the last pass went past it. */
	struct count_q q = {NULL, 0};
	assert_int_equal(em_store_write_sync(f->s, expire_kept01, &q), 0);
	assert_int_equal(q.v, 1);
	em_privacy_retention_plan(&f->cfg, f->now, &r);
	r.events_before = 0;
	r.chats_before = 0;
	r.chunk = 10;
	assert_int_equal(em_privacy_retention_run_sync(f->s, &r), 0);
	assert_int_equal(r.visitors, 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor WHERE vid = 'kept01'"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM visitor"), 7);
}

int main(void)
{
	em_log_set_level(EM_LOG_ERROR);
	if (em_loop_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cutoff_days),
		cmocka_unit_test(test_cutoff_months),
		cmocka_unit_test(test_anonymize_ip),
		cmocka_unit_test(test_strip_url),
		cmocka_unit_test(test_purpose),
		cmocka_unit_test_setup_teardown(test_retention_in_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_walks_visitors, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	em_loop_close();
	return rc;
}
