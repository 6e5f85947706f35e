/*
** Unit tests for src/live/rules.c: compiling invitation conditions (with the
** field paths a 422 answer names), evaluating them against a live visitor's
** facts, the per-visitor state fed by tracking batches, message
** placeholders, and every brake of docs/chat.md.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "live/rules.h"
#include "track/event.h"

#define NOW 1800000000000LL /* 2027-01-15 */

static em_rule_cond *compile(const char *json, char *field, char *msg)
{
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	assert_non_null(j);
	field[0] = msg[0] = '\0';
	em_rule_cond *c = em_rule_compile(j, field, 64, msg, 256);
	json_decref(j);
	return c;
}

static em_rule_cond *ok(const char *json)
{
	char field[64], msg[256];
	em_rule_cond *c = compile(json, field, msg);
	if (!c)
		fail_msg("%s: %s %s", json, field, msg);
	return c;
}

static void expect_error(const char *json, const char *field, const char *msg_part)
{
	char f[64], m[256];
	em_rule_cond *c = compile(json, f, m);
	if (c)
		fail_msg("%s compiled", json);
	assert_string_equal(f, field);
	if (!strstr(m, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", m, msg_part);
}

/* A visitor 40 s into a visit, 20 s on the current page, 3 pages. */
static em_rule_facts facts(em_rule_state *st)
{
	return (em_rule_facts){.now = NOW,
			       .visit_started = NOW - 40000,
			       .page_since = NOW - 20000,
			       .last_seen = NOW - 5000,
			       .pages = 3,
			       .visits = 1,
			       .cart_total = 59.5,
			       .url = "https://shop.example/checkout/step-2?x=1",
			       .referrer = "https://www.google.com/search?q=tea",
			       .st = st};
}

static int matches(const char *json, const em_rule_facts *f)
{
	em_rule_cond *c = ok(json);
	int m = em_rule_match(c, f);
	em_rule_cond_free(c);
	return m;
}

static void test_compile_errors_name_the_field(void **state)
{
	expect_error("{\"url\":{\"regex\":\"^/p/(\"}}", "conditions.url.regex", "offset 5");
	expect_error("{\"url\":{\"regex\":\"^/p/(\"}}", "conditions.url.regex",
		     "missing closing parenthesis");
	expect_error("{\"url\":{\"glob\":\"/a\",\"regex\":\"b\"}}", "conditions.url", "exactly one");
	expect_error("{\"referrer\":{\"like\":\"x\"}}", "conditions.referrer.like", "glob or regex");
	expect_error("{\"time_on_page_s\":30}", "conditions.time_on_page_s", "gte and/or lte");
	expect_error("{\"pages\":{\"gte\":2.5}}", "conditions.pages.gte", "whole number");
	expect_error("{\"pages\":{\"gte\":5,\"lte\":2}}", "conditions.pages.lte", "less than gte");
	expect_error("{\"pages\":{\"gt\":5}}", "conditions.pages.gt", "gte or lte");
	expect_error("{\"cart_total\":{\"gte\":-1}}", "conditions.cart_total.gte", "from 0");
	expect_error("{\"utm_source\":[]}", "conditions.utm_source", "array of 1 to 16");
	expect_error("{\"utm_source\":[\"a\",7]}", "conditions.utm_source[1]", "string");
	expect_error("{\"language\":\"german\"}", "conditions.language", "language tag");
	expect_error("{\"returning\":\"yes\"}", "conditions.returning", "true or false");
	expect_error("{\"event\":{\"count\":2}}", "conditions.event.name", "required");
	expect_error("{\"event\":{\"name\":\"x\",\"count\":17}}", "conditions.event.count", "1 to 16");
	expect_error("{\"event\":{\"name\":\"x\",\"within_s\":0}}", "conditions.event.within_s",
		     "1 to 86400");
	expect_error("{\"teleport\":true}", "conditions.teleport", "unknown condition");
	expect_error("[]", "conditions", "object");
}

static void test_numbers_and_times(void **state)
{
	em_rule_state st = {0};
	em_rule_facts f = facts(&st);
	assert_true(matches("{}", &f));
	assert_true(matches("{\"time_on_page_s\":{\"gte\":20}}", &f));
	assert_false(matches("{\"time_on_page_s\":{\"gte\":21}}", &f));
	assert_true(matches("{\"time_on_site_s\":{\"gte\":40,\"lte\":40}}", &f));
	assert_true(matches("{\"pages\":{\"gte\":3}, \"visits\":{\"lte\":1}}", &f));
	assert_false(matches("{\"pages\":{\"gte\":4}}", &f));
	assert_true(matches("{\"cart_total\":{\"gte\":59.5}}", &f));
	assert_false(matches("{\"cart_total\":{\"lte\":59.49}}", &f));
	/* Idle: from the last activity, else from the last event seen. */
	assert_true(matches("{\"idle_s\":{\"gte\":5}}", &f));
	st.last_active = NOW - 1000;
	assert_false(matches("{\"idle_s\":{\"gte\":5}}", &f));
	/* page_since unknown: the visit's start counts. */
	f.page_since = 0;
	assert_true(matches("{\"time_on_page_s\":{\"gte\":40}}", &f));
}

static void test_urls(void **state)
{
	em_rule_state st = {0};
	em_rule_facts f = facts(&st);
	/* A pattern starting with '/' matches the path only. */
	assert_true(matches("{\"url\":{\"glob\":\"/checkout/*\"}}", &f));
	assert_false(matches("{\"url\":{\"glob\":\"/cart/*\"}}", &f));
	assert_true(matches("{\"url\":{\"regex\":\"^/checkout/step-[0-9]+$\"}}", &f));
	/* Others match the whole URL. */
	assert_true(matches("{\"url\":{\"glob\":\"https://shop.example/*\"}}", &f));
	assert_true(matches("{\"url\":{\"regex\":\"x=1\"}}", &f));
	assert_true(matches("{\"referrer\":{\"glob\":\"*google.*\"}}", &f));
	assert_false(matches("{\"referrer\":{\"regex\":\"bing\\\\.com\"}}", &f));
	f.url = "/p/42";
	assert_true(matches("{\"url\":{\"regex\":\"^/p/[0-9]+$\"}}", &f));
	f.url = "https://shop.example";
	assert_true(matches("{\"url\":{\"glob\":\"/\"}}", &f));
	f.url = NULL;
	assert_false(matches("{\"url\":{\"glob\":\"/checkout/*\"}}", &f));
	/* A pattern that backtracks without end does not match (and returns). */
	f.url = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
	assert_false(matches("{\"url\":{\"regex\":\"(a|aa)+$\"}}", &f));
}

static em_track_batch *batch(int64_t visit_id, int new_visit)
{
	em_track_batch *b = em_track_batch_new();
	b->res.visit_id = visit_id;
	b->res.new_visit = new_visit;
	return b;
}

static void add(em_track_batch *b, int type, const char *url_or_name, int64_t ts, int active_s)
{
	em_track_event *e = em_track_batch_add(b);
	e->type = type;
	e->ts_ms = ts;
	e->active_s = active_s;
	if (type == EM_EV_PAGEVIEW)
		e->url = url_or_name;
	else
		e->name = url_or_name;
}

static void test_state_from_batches(void **state)
{
	em_rule_state st = {0};
	em_track_batch *b = batch(7, 1);
	add(b, EM_EV_PAGEVIEW, "https://shop.example/?utm_source=News%20Letter&utm_campaign=spring+sale",
	    NOW - 9000, 0);
	add(b, EM_EV_EVENT, "size_guide", NOW - 8000, 0);
	add(b, EM_EV_EVENT, "exit_intent", NOW - 7000, 0);
	add(b, EM_EV_PING, NULL, NOW - 1000, 0); /* idle ping: no activity */
	b->lang = "de-at";
	em_rule_state_observe(&st, b);
	em_track_batch_free(b);
	assert_int_equal(st.visit_id, 7);
	assert_int_equal(st.last_active, NOW - 7000);
	assert_true(st.exit_intent);
	assert_string_equal(st.lang, "de-at");
	em_rule_facts f = facts(&st);
	assert_true(matches("{\"utm_source\":\"news letter\",\"utm_campaign\":[\"x\",\"Spring Sale\"]}", &f));
	assert_false(matches("{\"utm_source\":\"newsletter\"}", &f));
	assert_true(matches("{\"language\":\"de\"}", &f));
	assert_true(matches("{\"language\":[\"en\",\"DE-AT\"]}", &f));
	assert_false(matches("{\"language\":\"de-de\"}", &f));
	assert_true(matches("{\"exit_intent\":true}", &f));
	assert_true(matches("{\"event\":{\"name\":\"size_guide\"}}", &f));
	assert_false(matches("{\"event\":{\"name\":\"size_guide\",\"count\":2}}", &f));
	assert_false(matches("{\"event\":{\"name\":\"size_guide\",\"within_s\":5}}", &f));

	/* The same visit: a second size_guide, a new page clears exit intent and keeps the campaign. */
	st.invited = 1;
	b = batch(7, 0);
	add(b, EM_EV_EVENT, "size_guide", NOW - 3000, 0);
	add(b, EM_EV_PAGEVIEW, "https://shop.example/shoes", NOW - 2000, 0);
	add(b, EM_EV_PING, NULL, NOW - 500, 12); /* active ping */
	em_rule_state_observe(&st, b);
	em_track_batch_free(b);
	assert_true(st.invited);
	assert_false(st.exit_intent);
	assert_int_equal(st.last_active, NOW - 500);
	assert_true(matches("{\"event\":{\"name\":\"size_guide\",\"count\":2,\"within_s\":60}}", &f));
	assert_true(matches("{\"exit_intent\":false, \"utm_source\":\"News Letter\"}", &f));

	/* A new visit: invited and the campaign start afresh. */
	b = batch(8, 1);
	add(b, EM_EV_PAGEVIEW, "https://shop.example/", NOW - 100, 0);
	em_rule_state_observe(&st, b);
	em_track_batch_free(b);
	assert_false(st.invited);
	assert_int_equal(st.utm_source, 0);
	assert_false(matches("{\"utm_source\":\"news letter\"}", &f));

	/* The ring keeps the last 16 custom events. */
	b = batch(8, 0);
	for (int i = 0; i < 40; i++)
		add(b, EM_EV_EVENT, i < 30 ? "old" : "new", NOW - 100 + i, 0);
	em_rule_state_observe(&st, b);
	em_track_batch_free(b);
	assert_int_equal(st.ev_n, EM_RULE_RING);
	assert_true(matches("{\"event\":{\"name\":\"new\",\"count\":10}}", &f));
	assert_true(matches("{\"event\":{\"name\":\"old\",\"count\":6}}", &f));
	assert_false(matches("{\"event\":{\"name\":\"old\",\"count\":7}}", &f));

	/* Access-log hits and cookieless ids have no widget to invite in. */
	b = batch(8, 0);
	b->source = EM_SRC_LOG;
	add(b, EM_EV_PAGEVIEW, "/", NOW, 0);
	em_rule_state_observe(&st, b);
	em_track_batch_free(b);
	assert_true(st.no_widget);
}

static void test_returning(void **state)
{
	em_rule_state st = {0};
	em_rule_facts f = facts(&st);
	assert_true(matches("{\"returning\":false}", &f));
	f.visits = 3;
	assert_true(matches("{\"returning\":true, \"visits\":{\"gte\":3}}", &f));
	assert_false(matches("{\"returning\":false}", &f));
}

static void test_time_based(void **state)
{
	const char *yes[] = {"{\"time_on_page_s\":{\"gte\":30}}", "{\"time_on_site_s\":{\"gte\":1}}",
			     "{\"idle_s\":{\"gte\":10}, \"pages\":{\"gte\":2}}"};
	const char *no[] = {"{\"pages\":{\"gte\":3}}", "{\"time_on_page_s\":{\"lte\":30}}", "{}"};
	for (int i = 0; i < 3; i++) {
		em_rule_cond *c = ok(yes[i]);
		assert_true(em_rule_time_based(c));
		em_rule_cond_free(c);
		c = ok(no[i]);
		assert_false(em_rule_time_based(c));
		em_rule_cond_free(c);
	}
}

static void test_halves(void **state)
{
	em_rule_state st = {0};
	em_rule_facts f = facts(&st);
	em_rule_cond *c = ok("{\"time_on_page_s\":{\"gte\":60}, \"url\":{\"glob\":\"/checkout/*\"}}");
	assert_true(em_rule_match_static(c, &f)); /* the URL holds */
	assert_false(em_rule_match_time(c, &f));  /* 20 s on the page, not 60 */
	assert_false(em_rule_match(c, &f));
	f.now += 40000;
	assert_true(em_rule_match_time(c, &f));
	assert_true(em_rule_match(c, &f));
	f.url = "/cart";
	assert_false(em_rule_match_static(c, &f));
	assert_false(em_rule_match(c, &f));
	em_rule_cond_free(c);
}

static void test_fill_message(void **state)
{
	char *m = em_rule_fill_message("Questions about {page_title}? Your cart: {cart_total} EUR {name}",
				       "Green tea", 12.5);
	assert_string_equal(m, "Questions about Green tea? Your cart: 12.50 EUR {name}");
	em_free(m);
	m = em_rule_fill_message("{page_title}{", NULL, 0);
	assert_string_equal(m, "{");
	em_free(m);
}

static void test_accept_language(void **state)
{
	char l[8];
	em_rule_accept_language("de-DE,de;q=0.9,en;q=0.8", l);
	assert_string_equal(l, "de-de");
	em_rule_accept_language("  en;q=1", l);
	assert_string_equal(l, "en");
	em_rule_accept_language("*", l);
	assert_string_equal(l, "");
	em_rule_accept_language("x-very-long-tag", l);
	assert_string_equal(l, "");
	em_rule_accept_language(NULL, l);
	assert_string_equal(l, "");
}

static em_brake_in clear(void)
{
	return (em_brake_in){.daily_cap = 2, .dismiss_days = 7, .available = 1, .now = NOW};
}

static void test_brakes(void **state)
{
	em_brake_in in = clear();
	assert_int_equal(em_brake_check(&in), EM_BRAKE_NONE);

	in = clear(), in.in_chat = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_IN_CHAT);
	in = clear(), in.pending = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_PENDING);
	in = clear(), in.invited_this_visit = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_VISIT);
	in = clear(), in.today_count = 2;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_DAILY_CAP);
	in.today_count = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_NONE);
	in = clear(), in.daily_cap = 0;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_DAILY_CAP);
	/* A dismissal holds for dismiss_days, to the millisecond. */
	in = clear(), in.last_dismissed = NOW - 7 * 86400000LL + 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_DISMISSED);
	in.last_dismissed = NOW - 7 * 86400000LL;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_NONE);
	in.dismiss_days = 0, in.last_dismissed = NOW;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_NONE);
	in = clear(), in.chatted_today = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_CHATTED_TODAY);
	in = clear(), in.available = 0;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_UNAVAILABLE);

	/* An operator inviting by hand: "one per visit", "chatted today" and
	** availability do not apply; the others do. */
	in = clear(), in.manual = 1, in.invited_this_visit = 1, in.chatted_today = 1, in.available = 0;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_NONE);
	in.today_count = 2;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_DAILY_CAP);
	in = clear(), in.manual = 1, in.last_dismissed = NOW - 1000;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_DISMISSED);
	in = clear(), in.manual = 1, in.in_chat = 1;
	assert_int_equal(em_brake_check(&in), EM_BRAKE_IN_CHAT);

	assert_string_equal(em_brake_name(EM_BRAKE_DAILY_CAP), "daily_cap");
	assert_non_null(strstr(em_brake_message(EM_BRAKE_DISMISSED), "dismissed"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_errors_name_the_field),
		cmocka_unit_test(test_numbers_and_times),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_state_from_batches),
		cmocka_unit_test(test_returning),
		cmocka_unit_test(test_time_based),
		cmocka_unit_test(test_halves),
		cmocka_unit_test(test_fill_message),
		cmocka_unit_test(test_accept_language),
		cmocka_unit_test(test_brakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
