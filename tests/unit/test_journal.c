/*
** Unit tests for src/track/journal.c (the ingest journal) and the batch
** records of src/track/event.c: what was written is replayed after the
** applied mark, exactly and in order; a cut-short end is dropped, not
** replayed; numbers go on after a restart; applied files leave the disk;
** one server per directory; a batch survives encoding, bad bytes do not
** decode.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testdir.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/le.h"
#include "track/event.h"
#include "track/journal.h"

struct fixture {
	char dir[64];
	char jdir[96];
};

static int setup(void **state)
{
	struct fixture *f = em_calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/emma-test-journal-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->jdir, sizeof f->jdir, "%s/ingest-journal", f->dir);
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

/* What a replay saw. */
struct seen {
	int n;
	uint64_t seq[64];
	char text[64][32];
	int fail_at; /* return an error for this record number */
};

static int collect(uint64_t seq, const void *data, size_t len, void *arg)
{
	struct seen *s = arg;
	if (s->fail_at && seq == (uint64_t)s->fail_at)
		return EM_EIO;
	assert_true(s->n < 64);
	assert_true(len < sizeof s->text[0]);
	s->seq[s->n] = seq;
	memcpy(s->text[s->n], data, len);
	s->text[s->n][len] = '\0';
	s->n++;
	return 0;
}

static em_journal *open_j(const struct fixture *f, uint64_t applied, struct seen *s)
{
	char err[256] = "";
	em_journal *j = NULL;
	int rc = em_journal_open(&j, f->jdir, applied, collect, s, err, sizeof err);
	if (rc)
		fail_msg("em_journal_open: %s (%s)", err, em_strerror(rc));
	return j;
}

static uint64_t add_text(em_journal *j, const char *t)
{
	uint64_t seq = em_journal_add(j, t, strlen(t));
	assert_true(seq > 0);
	return seq;
}

/* The journal's files and their total size. */
static int files(const struct fixture *f, off_t *bytes)
{
	DIR *d = opendir(f->jdir);
	assert_non_null(d);
	int n = 0;
	*bytes = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 4, ".log"))
			continue;
		char p[400];
		snprintf(p, sizeof p, "%s/%s", f->jdir, e->d_name);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		*bytes += st.st_size;
		n++;
	}
	closedir(d);
	return n;
}

static void test_replays_after_the_applied_mark(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(add_text(j, "one"), 1);
	assert_int_equal(add_text(j, "two"), 2);
	assert_int_equal(em_journal_write(j), 0);
	assert_int_equal(add_text(j, "three"), 3);
	assert_int_equal(em_journal_write(j), 0);
	/* Added but never written: not acknowledged, not replayed. */
	add_text(j, "four");
	assert_int_equal(em_journal_backlog(j), 3);
	em_journal_applied(j, 1);
	assert_int_equal(em_journal_backlog(j), 2);
	em_journal_close(j); /* as after kill -9: not everything applied */

	j = open_j(f, 1, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.seq[0], 2);
	assert_string_equal(s.text[0], "two");
	assert_int_equal(s.seq[1], 3);
	assert_string_equal(s.text[1], "three");
	/* Numbers go on after the last record seen. */
	assert_int_equal(add_text(j, "five"), 4);
	assert_int_equal(em_journal_write(j), 0);
	em_journal_applied(j, 4);
	em_journal_close(j);
	off_t bytes;
	assert_int_equal(files(f, &bytes), 0);

	/* Everything was applied: nothing is replayed, numbering goes on. */
	memset(&s, 0, sizeof s);
	j = open_j(f, 4, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(add_text(j, "six"), 5);
	em_journal_close(j);
}

static void test_failed_replay_keeps_the_files(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	add_text(j, "a");
	add_text(j, "b");
	assert_int_equal(em_journal_write(j), 0);
	em_journal_close(j);

	s.fail_at = 2;
	char err[256] = "";
	em_journal *j2 = NULL;
	assert_int_equal(em_journal_open(&j2, f->jdir, 0, collect, &s, err, sizeof err), EM_EIO);
	assert_null(j2);
	assert_non_null(strstr(err, "record 2"));
	/* The next start replays both again. */
	memset(&s, 0, sizeof s);
	j = open_j(f, 0, &s);
	assert_int_equal(s.n, 2);
	em_journal_close(j);
}

static void test_cut_short_end_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	add_text(j, "whole");
	add_text(j, "also whole");
	assert_int_equal(em_journal_write(j), 0);
	add_text(j, "torn");
	assert_int_equal(em_journal_write(j), 0);
	em_journal_close(j);

	/* Cut the last record in half, as a crash mid-write would. */
	off_t bytes;
	assert_int_equal(files(f, &bytes), 1);
	char p[400];
	snprintf(p, sizeof p, "%s/%016x.log", f->jdir, 1);
	assert_int_equal(truncate(p, bytes - 3), 0);
	j = open_j(f, 0, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[1], "also whole");
	assert_int_equal(add_text(j, "next"), 3);
	em_journal_close(j);

	/* A flipped byte inside a record: its checksum fails, it ends the file. */
	memset(&s, 0, sizeof s);
	j = open_j(f, 0, &s);
	add_text(j, "first");
	add_text(j, "second");
	assert_int_equal(em_journal_write(j), 0);
	em_journal_close(j);
	assert_int_equal(files(f, &bytes), 1);
	DIR *d = opendir(f->jdir);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".log"))
			snprintf(p, sizeof p, "%s/%s", f->jdir, e->d_name);
	closedir(d);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, bytes - 2), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, bytes - 2), 1);
	close(fd);
	memset(&s, 0, sizeof s);
	j = open_j(f, 0, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.text[0], "first");
	em_journal_close(j);
}

/* One record in the journal's format; crc32c: the CRC-32C with the length
** word's flag (what Emma writes), else a CRC-32 without it (what earlier
** versions wrote). */
static size_t put_record(unsigned char *out, uint64_t seq, const char *text, int crc32c)
{
	size_t len = strlen(text);
	unsigned char seq8[8];
	em_le_put64(seq8, seq);
	uint32_t crc;
	if (crc32c) {
		crc = em_crc32c(em_crc32c(0, seq8, 8), text, len);
	} else {
		uLong c = crc32(crc32(0L, Z_NULL, 0), seq8, 8);
		crc = (uint32_t)crc32(c, (const Bytef *)text, (uInt)len);
	}
	em_le_put32(out, (uint32_t)len | (crc32c ? 0x80000000u : 0));
	em_le_put32(out + 4, crc);
	memcpy(out + 8, seq8, 8);
	memcpy(out + 16, text, len);
	return 16 + len;
}

/* Puts these bytes in the file at path, opens the journal (replaying into
** s) and closes it; returns how many records were replayed. */
static int replay_bytes(const struct fixture *f, const char *path, const unsigned char *data, size_t n,
			struct seen *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	memset(s, 0, sizeof *s);
	em_journal_close(open_j(f, 0, s));
	return s->n;
}

static void test_checksums_old_and_new(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	/* What Emma writes: the flag, and a CRC-32C of number and payload. */
	em_journal *j = open_j(f, 0, &s);
	add_text(j, "written now");
	assert_int_equal(em_journal_write(j), 0);
	char p[400];
	snprintf(p, sizeof p, "%s/0000000000000001.log", f->jdir);
	unsigned char got[64], want[64];
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	size_t n = put_record(want, 1, "written now", 1);
	assert_int_equal(read(fd, got, sizeof got), (ssize_t)n);
	close(fd);
	assert_memory_equal(got, want, n);
	/* Not applied: the journal keeps the file on close. */
	em_journal_close(j);

	/* A journal left by an earlier version (CRC-32, no flag) replays,
	** records of both kinds in one file too. */
	unsigned char data[256];
	n = put_record(data, 1, "old one", 0);
	n += put_record(data + n, 2, "old two", 0);
	n += put_record(data + n, 3, "new three", 1);
	assert_int_equal(replay_bytes(f, p, data, n, &s), 3);
	assert_string_equal(s.text[0], "old one");
	assert_string_equal(s.text[1], "old two");
	assert_string_equal(s.text[2], "new three");

	/* The flag chooses the check: a CRC-32 under the flag (or a CRC-32C
	** without it) is damage, and ends the journal there. */
	n = put_record(data, 1, "good", 1);
	size_t bad = put_record(data + n, 2, "flag, old sum", 0);
	data[n + 3] |= 0x80;
	n += bad;
	n += put_record(data + n, 3, "after", 1);
	assert_int_equal(replay_bytes(f, p, data, n, &s), 1);
	assert_string_equal(s.text[0], "good");

	n = put_record(data, 1, "no flag, new sum", 1);
	data[3] &= 0x7f;
	assert_int_equal(replay_bytes(f, p, data, n, &s), 0);
}

static void test_applied_records_leave_the_disk(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	add_text(j, "small");
	assert_int_equal(em_journal_write(j), 0);
	off_t bytes;
	assert_int_equal(files(f, &bytes), 1);
	assert_true(bytes > 0);
	/* Applied, but small and young: kept until the next emptying... */
	em_journal_applied(j, 1);
	assert_int_equal(files(f, &bytes), 1);
	/* ...unless asked to leave nothing (an erase). */
	em_journal_cut(j);
	assert_int_equal(files(f, &bytes), 1);
	assert_int_equal(bytes, 0);

	/* A megabyte applied is emptied at once. */
	size_t big = 256 << 10;
	char *blob = em_malloc(big);
	memset(blob, 'x', big);
	for (int i = 0; i < 4; i++)
		assert_true(em_journal_add(j, blob, big) > 0);
	assert_int_equal(em_journal_write(j), 0);
	assert_int_equal(files(f, &bytes), 1);
	assert_true(bytes >= (off_t)(4 * big));
	em_journal_applied(j, 5);
	assert_int_equal(files(f, &bytes), 1);
	assert_int_equal(bytes, 0);

	/* A full file is closed and a new one started; the old one goes when
	** its last record is applied, while the new one keeps what is not. */
	uint64_t last = 0;
	size_t rec = EM_JOURNAL_RECORD_MAX;
	blob = em_realloc(blob, rec);
	memset(blob, 'y', rec);
	for (unsigned i = 0; i < EM_JOURNAL_SEGMENT_MAX / rec; i++) {
		last = em_journal_add(j, blob, rec);
		assert_true(last > 0);
		assert_int_equal(em_journal_write(j), 0);
	}
	assert_int_equal(files(f, &bytes), 2);
	add_text(j, "in the new file");
	assert_int_equal(em_journal_write(j), 0);
	em_journal_applied(j, last);
	assert_int_equal(files(f, &bytes), 1);
	assert_true(bytes > 0 && bytes < 100);
	em_free(blob);
	em_journal_close(j);

	memset(&s, 0, sizeof s);
	j = open_j(f, last, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.text[0], "in the new file");
	em_journal_close(j);
}

static void test_one_server_per_directory(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	char err[256] = "";
	em_journal *j2 = NULL;
	assert_int_equal(em_journal_open(&j2, f->jdir, 0, collect, &s, err, sizeof err), EM_EAGAIN);
	assert_null(j2);
	assert_non_null(strstr(err, "in use"));
	em_journal_close(j);
	j = open_j(f, 0, &s);
	em_journal_close(j);
}

static void test_oversized_record_is_refused(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	em_journal *j = open_j(f, 0, &s);
	char *blob = em_calloc(1, EM_JOURNAL_RECORD_MAX + 1);
	assert_int_equal(em_journal_add(j, blob, EM_JOURNAL_RECORD_MAX + 1), 0);
	assert_int_equal(add_text(j, "fits"), 1);
	em_free(blob);
	em_journal_close(j);
}

static void test_batch_survives_encoding(void **state)
{
	(void)state;
	em_track_batch *b = em_track_batch_new();
	b->site_id = 7;
	snprintf(b->site_key, sizeof b->site_key, "shop");
	snprintf(b->vid, sizeof b->vid, "vAbc123");
	b->cookieless = 1;
	b->source = EM_SRC_BEACON;
	b->ip = "192.0.2.0";
	b->ua = "Mozilla/5.0 \"quoted\" ü";
	b->device = "desktop";
	b->browser = "Firefox";
	b->lang = NULL;
	em_track_event *e = em_track_batch_add(b);
	e->type = EM_EV_PAGEVIEW;
	e->ts_ms = 1700000000123;
	e->url = "https://shop.example/tea?x=1";
	e->title = "Tea";
	e = em_track_batch_add(b);
	e->type = EM_EV_CART;
	e->ts_ms = -5;
	e->data = "{\"sku\":\"T-1\"}";
	e->total = 12.25;
	e->amount = -4.5;
	e->cart_action = 2;
	e = em_track_batch_add(b);
	e->type = EM_EV_IDENTIFY;
	e->email = "kim@example.org";
	e->person_name = "";

	em_buf buf;
	em_buf_init(&buf, EM_JOURNAL_RECORD_MAX);
	assert_int_equal(em_track_batch_encode(b, &buf), 0);
	em_track_batch *d = em_track_batch_decode(buf.data, buf.len);
	assert_non_null(d);
	assert_int_equal(d->site_id, 7);
	assert_string_equal(d->site_key, "shop");
	assert_string_equal(d->vid, "vAbc123");
	assert_int_equal(d->cookieless, 1);
	assert_string_equal(d->ip, "192.0.2.0");
	assert_string_equal(d->ua, b->ua);
	assert_string_equal(d->browser, "Firefox");
	assert_string_equal(d->os, ""); /* never NULL */
	assert_null(d->lang);
	assert_int_equal(d->nevents, 3);
	assert_int_equal(d->events[0].ts_ms, 1700000000123);
	assert_string_equal(d->events[0].url, b->events[0].url);
	assert_null(d->events[0].ref);
	assert_int_equal(d->events[1].type, EM_EV_CART);
	assert_int_equal(d->events[1].ts_ms, -5);
	assert_true(d->events[1].total == 12.25 && d->events[1].amount == -4.5);
	assert_int_equal(d->events[1].cart_action, 2);
	assert_string_equal(d->events[2].email, "kim@example.org");
	assert_string_equal(d->events[2].person_name, "");

	/* Every shorter prefix, and a byte more, is refused. */
	for (size_t n = 0; n < buf.len; n++)
		assert_null(em_track_batch_decode(buf.data, n));
	em_buf_putc(&buf, 0);
	assert_null(em_track_batch_decode(buf.data, buf.len));
	/* An unknown event type is refused. */
	em_track_batch *one = em_track_batch_new();
	snprintf(one->site_key, sizeof one->site_key, "s");
	em_track_batch_add(one)->type = 99;
	assert_int_equal(em_track_batch_encode(one, &buf), 0);
	assert_null(em_track_batch_decode(buf.data, buf.len));
	/* A buffer too small for the record says so. */
	em_buf small;
	em_buf_init(&small, 16);
	assert_int_equal(em_track_batch_encode(b, &small), EM_ETOOBIG);
	em_buf_free(&small);

	em_buf_free(&buf);
	em_track_batch_free(one);
	em_track_batch_free(d);
	em_track_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replays_after_the_applied_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_replay_keeps_the_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_short_end_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksums_old_and_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_applied_records_leave_the_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_server_per_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_record_is_refused, setup, teardown),
		cmocka_unit_test(test_batch_survives_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
