/*
** Unit tests for the pure helpers of the help centre (src/kb/help.c): the
** language picked from Accept-Language, the colour check that guards the
** inline style, and URL path segment encoding of category names.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "kb/help.h"

static void test_pick_lang(void **state)
{
	(void)state;
	assert_string_equal(em_help_pick_lang(NULL), "en");
	assert_string_equal(em_help_pick_lang(""), "en");
	assert_string_equal(em_help_pick_lang("de-DE,de;q=0.9,en;q=0.8"), "de");
	assert_string_equal(em_help_pick_lang("en-US,en;q=0.9,de;q=0.8"), "en");
	assert_string_equal(em_help_pick_lang("fr-FR, en;q=0.5, de;q=0.4"), "en");
	assert_string_equal(em_help_pick_lang("en;q=0.3, de"), "de");
	assert_string_equal(em_help_pick_lang("DE-at"), "de");
	assert_string_equal(em_help_pick_lang("fr, it"), "en");
	assert_string_equal(em_help_pick_lang("de;q=0"), "en");
	assert_string_equal(em_help_pick_lang("deu, english"), "en"); /* only two-letter tags */
	assert_string_equal(em_help_pick_lang("de;q=0.5, en;q=0.5"), "de"); /* tie: the first */
}

static void test_color(void **state)
{
	(void)state;
	char out[16];
	const char *good[] = {"#abc", "#AABBCC", "#1f5fbf", "#12345678", "#abcd"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		em_help_color(good[i], out, sizeof out);
		assert_string_equal(out, good[i]);
	}
	const char *bad[] = {NULL, "", "red", "#12", "#12345", "#gggggg", "#123456}body{x:y",
			     "#1f5fbf;}", "1f5fbf", "#1234567890"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memcpy(out, "x", 2);
		em_help_color(bad[i], out, sizeof out);
		assert_string_equal(out, "");
	}
}

static void test_url_segment(void **state)
{
	(void)state;
	em_buf b;
	em_buf_init(&b, 1024);
	em_help_url_segment(&b, "Versand & Rückgabe");
	assert_string_equal(b.data, "Versand%20%26%20R%C3%BCckgabe");
	em_buf_reset(&b);
	em_help_url_segment(&b, "a/b?c#d\"<e>");
	assert_string_equal(b.data, "a%2Fb%3Fc%23d%22%3Ce%3E");
	em_buf_reset(&b);
	em_help_url_segment(&b, "ok-1.2_3~");
	assert_string_equal(b.data, "ok-1.2_3~");
	em_buf_free(&b);
}

static void test_generation(void **state)
{
	(void)state;
	uint64_t g = em_help_generation();
	em_help_invalidate();
	assert_true(em_help_generation() == g + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_lang),
		cmocka_unit_test(test_color),
		cmocka_unit_test(test_url_segment),
		cmocka_unit_test(test_generation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
