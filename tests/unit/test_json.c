/*
** Unit tests for src/core/json.c: parsing with a readable error and the one
** error body every JSON endpoint answers with (DESIGN.md section 5).
**
** The parse message is what a developer sees in a 400 answer, so the tests
** hold it to naming the line and the column.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/json.h"

static json_t *parse(const char *s, char *msg, size_t msglen)
{
	msg[0] = '\0';
	return em_json_parse(s, strlen(s), msg, msglen);
}

static void test_parse_object(void **state)
{
	char msg[256];
	json_t *v =
		parse("{\"site\":\"default\",\"events\":[{\"type\":\"pageview\"}],\"n\":3}", msg, sizeof msg);
	assert_non_null(v);
	assert_true(json_is_object(v));
	assert_string_equal(em_json_str(v, "site", NULL), "default");
	assert_int_equal(json_array_size(json_object_get(v, "events")), 1);
	assert_int_equal(em_json_int(v, "n", -1), 3);
	json_decref(v);
}

static void test_parse_respects_length(void **state)
{
	/* The input is a slice of a larger buffer, not NUL-terminated at len. */
	const char buf[] = "[1,2]garbage that must not be read";
	char msg[256];
	json_t *v = em_json_parse(buf, 5, msg, sizeof msg);
	assert_non_null(v);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
}

static void test_error_names_line_and_column(void **state)
{
	char msg[256];
	/* The missing comma: "b" starts at column 10 of line 1. */
	json_t *v = parse("{\"a\":1 \"b\":2}", msg, sizeof msg);
	assert_null(v);
	assert_non_null(strstr(msg, "at line 1 column 10"));
	assert_non_null(strstr(msg, "expected"));
}

static void test_error_on_later_line(void **state)
{
	char msg[256];
	json_t *v = parse("{\n  \"a\": 1,\n  \"b\": }", msg, sizeof msg);
	assert_null(v);
	assert_non_null(strstr(msg, "line 3"));
	assert_non_null(strstr(msg, "column 8"));
}

static void test_error_trailing_garbage(void **state)
{
	char msg[256];
	json_t *v = parse("[1,2]x", msg, sizeof msg);
	assert_null(v);
	assert_non_null(strstr(msg, "line 1 column"));
}

static void test_error_empty_input(void **state)
{
	char msg[256];
	json_t *v = em_json_parse("", 0, msg, sizeof msg);
	assert_null(v);
	assert_true(strlen(msg) > 0);
	assert_non_null(strstr(msg, "line"));
}

static void test_duplicate_keys_rejected(void **state)
{
	/* A duplicate key is ambiguous (which one wins?), so it is an error. */
	char msg[256];
	json_t *v = parse("{\"a\":1,\"a\":2}", msg, sizeof msg);
	assert_null(v);
	assert_non_null(strstr(msg, "duplicate"));
}

static void test_bad_unicode_rejected(void **state)
{
	char msg[256];
	json_t *v = parse("{\"a\":\"\\ud800\"}", msg, sizeof msg);
	assert_null(v);
	assert_non_null(strstr(msg, "column"));
}

static void test_small_message_buffer_is_safe(void **state)
{
	char msg[8];
	memset(msg, 'X', sizeof msg);
	json_t *v = parse("{", msg, sizeof msg);
	assert_null(v);
	assert_true(memchr(msg, '\0', sizeof msg) != NULL);
}

static void test_error_shape_with_field(void **state)
{
	json_t *e = em_json_error("invalid_json", "expected ',' at line 1 column 17", "events[2].url");
	assert_non_null(e);
	size_t len = 0;
	char *s = em_json_dump(e, &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"invalid_json\","
			       "\"message\":\"expected ',' at line 1 column 17\","
			       "\"field\":\"events[2].url\"}}");
	assert_int_equal(len, strlen(s));
	em_free(s);

	/* The object is built as documented, not only printed so. */
	json_t *inner = json_object_get(e, "error");
	assert_true(json_is_object(inner));
	assert_int_equal(json_object_size(e), 1);
	assert_int_equal(json_object_size(inner), 3);
	assert_string_equal(em_json_str(inner, "field", ""), "events[2].url");
	json_decref(e);
}

static void test_error_shape_without_field(void **state)
{
	json_t *e = em_json_error("not_found", "no such contact", NULL);
	char *s = em_json_dump(e, NULL);
	assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such contact\"}}");
	assert_null(json_object_get(json_object_get(e, "error"), "field"));
	em_free(s);
	json_decref(e);
}

static void test_error_message_is_escaped(void **state)
{
	/* A message quoting user input must stay valid JSON. */
	json_t *e = em_json_error("invalid", "bad value \"</script>\"\n", "x");
	char *s = em_json_dump(e, NULL);
	char msg[256];
	json_t *back = parse(s, msg, sizeof msg);
	assert_non_null(back);
	assert_string_equal(em_json_str(json_object_get(back, "error"), "message", ""),
			    "bad value \"</script>\"\n");
	json_decref(back);
	em_free(s);
	json_decref(e);
}

static void test_dump_compact_and_scalars(void **state)
{
	json_t *v = json_pack("{s:i, s:[s, b]}", "a", 1, "b", "x", 1);
	size_t len;
	char *s = em_json_dump(v, &len);
	assert_string_equal(s, "{\"a\":1,\"b\":[\"x\",true]}");
	assert_int_equal(len, strlen(s));
	em_free(s);
	json_decref(v);

	/* Scalars are dumped too (JSON_ENCODE_ANY). */
	json_t *n = json_integer(7);
	s = em_json_dump(n, &len);
	assert_string_equal(s, "7");
	em_free(s);
	json_decref(n);
}

static void test_getters_defaults(void **state)
{
	char msg[256];
	json_t *v = parse("{\"s\":\"x\",\"i\":5,\"f\":1.5,\"n\":null}", msg, sizeof msg);
	assert_non_null(v);
	assert_string_equal(em_json_str(v, "s", "d"), "x");
	assert_string_equal(em_json_str(v, "i", "d"), "d");
	assert_string_equal(em_json_str(v, "missing", "d"), "d");
	assert_null(em_json_str(v, "n", NULL));
	assert_int_equal(em_json_int(v, "i", -1), 5);
	assert_int_equal(em_json_int(v, "f", -1), -1);
	assert_int_equal(em_json_int(v, "s", -1), -1);
	assert_int_equal(em_json_int(v, "missing", 9), 9);
	/* Not an object at all: the defaults, no crash. */
	assert_string_equal(em_json_str(NULL, "s", "d"), "d");
	assert_int_equal(em_json_int(NULL, "i", 4), 4);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_object),
		cmocka_unit_test(test_parse_respects_length),
		cmocka_unit_test(test_error_names_line_and_column),
		cmocka_unit_test(test_error_on_later_line),
		cmocka_unit_test(test_error_trailing_garbage),
		cmocka_unit_test(test_error_empty_input),
		cmocka_unit_test(test_duplicate_keys_rejected),
		cmocka_unit_test(test_bad_unicode_rejected),
		cmocka_unit_test(test_small_message_buffer_is_safe),
		cmocka_unit_test(test_error_shape_with_field),
		cmocka_unit_test(test_error_shape_without_field),
		cmocka_unit_test(test_error_message_is_escaped),
		cmocka_unit_test(test_dump_compact_and_scalars),
		cmocka_unit_test(test_getters_defaults),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
