/*
** Unit tests for the pure parts of call-me-back and notes: RFC 3339 times,
** the preferred window and the due time it gives, the retry schedule after
** unanswered calls, status filters, note bodies and list cursors.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "crm/callbacks.h"
#include "crm/notes.h"
#include "crm/timeline.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* 2026-11-23T12:00:00Z */
static const int64_t T0 = 1795435200000LL;

static int64_t parse(const char *s)
{
	int64_t ms = -1;
	assert_int_equal(em_callback_time_parse(s, &ms), 0);
	return ms;
}

static void bad_time(const char *s)
{
	int64_t ms = 42;
	assert_int_equal(em_callback_time_parse(s, &ms), EM_EINVAL);
	assert_int_equal(ms, 42); /* untouched on error */
}

static void test_time_parse(void **state)
{
	assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse("2026-11-23T12:00:00Z"), T0);
	assert_int_equal(parse("2026-11-23t12:00:00z"), T0);
	assert_int_equal(parse("2026-11-23 12:00:00Z"), T0);
	assert_int_equal(parse("2026-11-23T13:00:00+01:00"), T0);
	assert_int_equal(parse("2026-11-23T07:30:00-04:30"), T0);
	assert_int_equal(parse("2026-11-23T12:00:00.5Z"), T0 + 500);
	assert_int_equal(parse("2026-11-23T12:00:00.25Z"), T0 + 250);
	assert_int_equal(parse("2026-11-23T12:00:00.123456789Z"), T0 + 123);
	/* Leap days and the leap second. */
	assert_int_equal(parse("2028-02-29T00:00:00Z"), parse("2028-02-28T00:00:00Z") + DAY);
	assert_int_equal(parse("2026-12-31T23:59:60Z"), parse("2026-12-31T23:59:59Z"));
	/* The server's own format reads back. */
	assert_int_equal(parse("2026-11-23T12:00:00.000Z"), T0);

	bad_time("");
	bad_time("2026-11-23");
	bad_time("2026-11-23T12:00:00"); /* no zone */
	bad_time("2026-11-23T12:00Z");	 /* no seconds */
	bad_time("2026-13-01T00:00:00Z");
	bad_time("2026-02-29T00:00:00Z"); /* not a leap year */
	bad_time("2100-02-29T00:00:00Z");
	bad_time("2026-04-31T00:00:00Z");
	bad_time("2026-11-23T24:00:00Z");
	bad_time("2026-11-23T12:60:00Z");
	bad_time("2026-11-23T12:00:00.Z");
	bad_time("2026-11-23T12:00:00.1234567890Z");
	bad_time("2026-11-23T12:00:00+1:00");
	bad_time("2026-11-23T12:00:00+24:00");
	bad_time("2026-11-23T12:00:00Z ");
	bad_time("1969-12-31T23:59:59Z");
	bad_time("tomorrow");
	bad_time(NULL);
}

static void test_schedule(void **state)
{
	int64_t due = 0;
	const char *field = NULL, *why = NULL;
	/* No window: due now. */
	assert_int_equal(em_callback_schedule(T0, 0, 0, &due, &field, &why), 0);
	assert_int_equal(due, T0);
	/* A window ahead: due at its start. */
	assert_int_equal(em_callback_schedule(T0, T0 + 2 * HOUR, T0 + 3 * HOUR, &due, &field, &why), 0);
	assert_int_equal(due, T0 + 2 * HOUR);
	/* A window that has begun: due now. */
	assert_int_equal(em_callback_schedule(T0, T0 - HOUR, T0 + HOUR, &due, &field, &why), 0);
	assert_int_equal(due, T0);
	/* Only an end: now, as long as the end lies ahead. */
	assert_int_equal(em_callback_schedule(T0, 0, T0 + MIN, &due, &field, &why), 0);
	assert_int_equal(due, T0);
	/* Only a start. */
	assert_int_equal(em_callback_schedule(T0, T0 + DAY, 0, &due, &field, &why), 0);
	assert_int_equal(due, T0 + DAY);

	due = 7;
	assert_int_equal(em_callback_schedule(T0, T0 + 2 * HOUR, T0 + HOUR, &due, &field, &why), EM_EINVAL);
	assert_string_equal(field, "window_end");
	assert_non_null(strstr(why, "after window_start"));
	assert_int_equal(due, 7);
	assert_int_equal(em_callback_schedule(T0, T0 + HOUR, T0 + HOUR, &due, &field, &why), EM_EINVAL);
	assert_string_equal(field, "window_end");
	assert_int_equal(em_callback_schedule(T0, T0 - 2 * HOUR, T0 - HOUR, &due, &field, &why), EM_EINVAL);
	assert_string_equal(field, "window_end");
	assert_non_null(strstr(why, "over"));
	assert_int_equal(em_callback_schedule(T0, 0, T0, &due, &field, &why), EM_EINVAL);
	assert_string_equal(field, "window_end");
	assert_int_equal(em_callback_schedule(T0, T0 + 91 * DAY, 0, &due, &field, &why), EM_EINVAL);
	assert_string_equal(field, "window_start");
	assert_int_equal(em_callback_schedule(T0, T0 + 90 * DAY, T0 + 91 * DAY, &due, &field, &why), 0);
	assert_int_equal(due, T0 + 90 * DAY);
}

static void test_retry(void **state)
{
	/* retry_min times the attempts so far. */
	assert_int_equal(em_callback_retry_at(T0, 1, 30, 0), T0 + 30 * MIN);
	assert_int_equal(em_callback_retry_at(T0, 2, 30, 0), T0 + 60 * MIN);
	assert_int_equal(em_callback_retry_at(T0, 5, 30, 0), T0 + 150 * MIN);
	assert_int_equal(em_callback_retry_at(T0, 0, 30, 0), T0 + 30 * MIN); /* at least one step */
	/* Never more than a day. */
	assert_int_equal(em_callback_retry_at(T0, 100, 30, 0), T0 + DAY);
	assert_int_equal(em_callback_retry_at(T0, 3, 10080, 0), T0 + DAY);
	/* Not before a preferred window that is still ahead... */
	assert_int_equal(em_callback_retry_at(T0, 1, 30, T0 + 5 * HOUR), T0 + 5 * HOUR);
	/* ...but a window already begun does not hold the retry back. */
	assert_int_equal(em_callback_retry_at(T0, 1, 30, T0 - HOUR), T0 + 30 * MIN);
	/* Each later try is due later than the one before. */
	int64_t prev = T0;
	for (int a = 1; a <= 48; a++) {
		int64_t at = em_callback_retry_at(T0, a, 30, 0);
		assert_true(at >= prev);
		prev = at;
	}
}

static void test_status(void **state)
{
	assert_int_equal(em_callback_status_bit("open"), EM_CB_OPEN);
	assert_int_equal(em_callback_status_bit("called"), EM_CB_CALLED);
	assert_int_equal(em_callback_status_bit("no_answer"), EM_CB_NO_ANSWER);
	assert_int_equal(em_callback_status_bit("done"), EM_CB_DONE);
	assert_int_equal(em_callback_status_bit("cancelled"), EM_CB_CANCELLED);
	assert_int_equal(em_callback_status_bit("Open"), 0);
	assert_int_equal(em_callback_status_bit(""), 0);
	assert_int_equal(em_callback_status_bit(NULL), 0);
	int m = 0;
	assert_int_equal(em_callback_status_mask("open,no_answer", &m), 0);
	assert_int_equal(m, EM_CB_OPEN | EM_CB_NO_ANSWER);
	assert_int_equal(em_callback_status_mask("done", &m), 0);
	assert_int_equal(m, EM_CB_DONE);
	assert_int_equal(em_callback_status_mask("open,,done", &m), EM_EINVAL);
	assert_int_equal(em_callback_status_mask("open,", &m), EM_EINVAL);
	assert_int_equal(em_callback_status_mask("open,closed", &m), EM_EINVAL);
	assert_int_equal(em_callback_status_mask("", &m), EM_EINVAL);
}

static void test_note_body(void **state)
{
	const char *why = NULL;
	assert_int_equal(em_note_body_check("x", 1, &why), 0);
	assert_int_equal(em_note_body_check("", 0, &why), EM_EINVAL);
	assert_int_equal(em_note_body_check(" \n\t ", 4, &why), EM_EINVAL);
	assert_non_null(strstr(why, "empty"));
	/* 10000 characters, counted as characters, not bytes. */
	size_t n = 10000 * 2;
	char *s = malloc(n + 3);
	for (size_t i = 0; i < n; i += 2)
		s[i] = (char)0xc3, s[i + 1] = (char)0xbc; /* ü */
	s[n] = 0;
	assert_int_equal(em_note_body_check(s, n, &why), 0);
	s[n] = (char)0xc3, s[n + 1] = (char)0xbc, s[n + 2] = 0;
	assert_int_equal(em_note_body_check(s, n + 2, &why), EM_EINVAL);
	assert_non_null(strstr(why, "10000"));
	free(s);
}

static void test_cursors(void **state)
{
	char c[48];
	int64_t at = 0, id = 0;
	em_notes_cursor(T0, 17, c);
	assert_int_equal(em_notes_cursor_parse(c, &at, &id), 0);
	assert_int_equal(at, T0);
	assert_int_equal(id, 17);
	assert_int_equal(em_notes_cursor_parse("12", &at, &id), EM_EINVAL);
	assert_int_equal(em_notes_cursor_parse("12_", &at, &id), EM_EINVAL);
	assert_int_equal(em_notes_cursor_parse("_12", &at, &id), EM_EINVAL);
	assert_int_equal(em_notes_cursor_parse("12_3x", &at, &id), EM_EINVAL);

	em_timeline_q q = {0};
	assert_int_equal(em_timeline_cursor_parse("1795435200000_contact_event_9", &q), 0);
	assert_int_equal(q.cursor_at, T0);
	assert_int_equal(q.cursor_id, 9);
	em_timeline_q q2 = {0};
	assert_int_equal(em_timeline_cursor_parse("1795435200000_visit_3", &q2), 0);
	assert_true(q2.cursor_rank < q.cursor_rank);
	assert_int_equal(em_timeline_cursor_parse("1795435200000_page_3", &q2), EM_EINVAL);
	assert_int_equal(em_timeline_cursor_parse("1795435200000_note_", &q2), EM_EINVAL);
	assert_int_equal(em_timeline_cursor_parse("1795435200000_note", &q2), EM_EINVAL);
	assert_int_equal(em_timeline_cursor_parse("x_note_1", &q2), EM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_parse), cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_retry),	   cmocka_unit_test(test_status),
		cmocka_unit_test(test_note_body),  cmocka_unit_test(test_cursors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
