/*
** Unit tests for src/core/buf.c: capped growable buffers.
**
** The point of em_buf is its hard maximum, so most cases here are about the
** edge: exactly at the cap, one past it, and that a refused append leaves
** the buffer exactly as it was (length, bytes and terminating NUL).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

static void test_init_is_empty(void **state)
{
	em_buf b;
	em_buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 100);
	em_buf_free(&b);
	/* Freeing twice is harmless: free() resets the fields. */
	em_buf_free(&b);
	assert_null(b.data);
}

static void test_append_terminates(void **state)
{
	em_buf b;
	em_buf_init(&b, 100);
	assert_int_equal(em_buf_append(&b, "abc", 3), 0);
	assert_int_equal(em_buf_puts(&b, "def"), 0);
	assert_int_equal(em_buf_putc(&b, 'g'), 0);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "abcdefg");
	/* Binary data with an embedded NUL keeps its length. */
	assert_int_equal(em_buf_append(&b, "x\0y", 3), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data + 7, "x\0y", 3);
	assert_int_equal(b.data[10], '\0');
	em_buf_free(&b);
}

static void test_append_zero_bytes(void **state)
{
	em_buf b;
	em_buf_init(&b, 4);
	assert_int_equal(em_buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	em_buf_free(&b);
}

static void test_cap_exact_fits(void **state)
{
	em_buf b;
	em_buf_init(&b, 8);
	assert_int_equal(em_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	/* The allocation never grows past max + 1 (the NUL). */
	assert_true(b.cap <= b.max + 1);
	em_buf_free(&b);
}

static void test_toobig_leaves_buffer_intact(void **state)
{
	em_buf b;
	em_buf_init(&b, 8);
	assert_int_equal(em_buf_puts(&b, "hello"), 0);
	size_t cap = b.cap;

	assert_int_equal(em_buf_puts(&b, "world"), EM_ETOOBIG);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	assert_int_equal(b.cap, cap);

	assert_int_equal(em_buf_putc(&b, '!'), 0);
	assert_int_equal(em_buf_append(&b, "ab", 2), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(em_buf_putc(&b, 'x'), EM_ETOOBIG);
	assert_string_equal(b.data, "hello!ab");
	em_buf_free(&b);
}

static void test_toobig_on_empty_buffer(void **state)
{
	em_buf b;
	em_buf_init(&b, 4);
	assert_int_equal(em_buf_append(&b, "12345", 5), EM_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	/* A size that would overflow len + n must be refused, not wrap. */
	assert_int_equal(em_buf_append(&b, "x", SIZE_MAX), EM_ETOOBIG);
	assert_int_equal(b.len, 0);
	em_buf_free(&b);
}

static void test_zero_max_refuses_everything(void **state)
{
	em_buf b;
	em_buf_init(&b, 0);
	assert_int_equal(em_buf_putc(&b, 'a'), EM_ETOOBIG);
	assert_int_equal(em_buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 0);
	em_buf_free(&b);
}

static void test_growth_keeps_content(void **state)
{
	em_buf b;
	em_buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(em_buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(b.data[10000], '\0');
	em_buf_free(&b);
}

static void test_printf(void **state)
{
	em_buf b;
	em_buf_init(&b, 64);
	assert_int_equal(em_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(em_buf_printf(&b, "|%05.1f|%c", 3.14159, 'z'), 0);
	assert_string_equal(b.data, "42-x|003.1|z");
	assert_int_equal(b.len, strlen("42-x|003.1|z"));
	/* An empty format appends nothing and succeeds. */
	assert_int_equal(em_buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 12);
	em_buf_free(&b);
}

static void test_printf_long_and_exact(void **state)
{
	char big[1000];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';

	em_buf b;
	em_buf_init(&b, 1003);
	assert_int_equal(em_buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, 1001);
	assert_int_equal(em_buf_printf(&b, "%s", "ab"), 0);
	assert_int_equal(b.len, 1003);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1000], '>');
	assert_string_equal(b.data + 1001, "ab");
	em_buf_free(&b);
}

static void test_printf_toobig_leaves_buffer_intact(void **state)
{
	em_buf b;
	em_buf_init(&b, 10);
	assert_int_equal(em_buf_puts(&b, "abc"), 0);
	assert_int_equal(em_buf_printf(&b, "%s", "12345678"), EM_ETOOBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(em_buf_printf(&b, "%d", 1234567), 0);
	assert_string_equal(b.data, "abc1234567");
	em_buf_free(&b);
}

static void test_consume(void **state)
{
	em_buf b;
	em_buf_init(&b, 64);
	assert_int_equal(em_buf_puts(&b, "GET / HTTP/1.1\r\n"), 0);
	em_buf_consume(&b, 4);
	assert_string_equal(b.data, "/ HTTP/1.1\r\n");
	assert_int_equal(b.len, 12);
	em_buf_consume(&b, 0);
	assert_int_equal(b.len, 12);
	em_buf_consume(&b, 12);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* Consuming more than is there empties the buffer. */
	assert_int_equal(em_buf_puts(&b, "xy"), 0);
	em_buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	/* Consuming an empty, never-allocated buffer is fine too. */
	em_buf e;
	em_buf_init(&e, 8);
	em_buf_consume(&e, 3);
	assert_int_equal(e.len, 0);
	em_buf_free(&e);
	em_buf_free(&b);
}

static void test_consume_frees_room_under_cap(void **state)
{
	em_buf b;
	em_buf_init(&b, 6);
	assert_int_equal(em_buf_puts(&b, "abcdef"), 0);
	assert_int_equal(em_buf_putc(&b, 'g'), EM_ETOOBIG);
	em_buf_consume(&b, 2);
	assert_int_equal(em_buf_puts(&b, "gh"), 0);
	assert_string_equal(b.data, "cdefgh");
	em_buf_free(&b);
}

static void test_reset_keeps_allocation(void **state)
{
	em_buf b;
	em_buf_init(&b, 64);
	assert_int_equal(em_buf_puts(&b, "something"), 0);
	char *p = b.data;
	size_t cap = b.cap;
	em_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, p);
	assert_int_equal(b.cap, cap);
	assert_string_equal(b.data, "");
	em_buf_free(&b);
}

static void test_steal(void **state)
{
	em_buf b;
	em_buf_init(&b, 64);
	assert_int_equal(em_buf_puts(&b, "mine"), 0);
	size_t len = 0;
	char *s = em_buf_steal(&b, &len);
	assert_string_equal(s, "mine");
	assert_int_equal(len, 4);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	em_free(s);

	/* Stealing a buffer that never allocated still gives a string. */
	s = em_buf_steal(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	em_free(s);

	/* The buffer is reusable after a steal, with the same cap. */
	assert_int_equal(em_buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	em_buf_free(&b);
}

static void test_html_escapes(void **state)
{
	em_buf b;
	em_buf_init(&b, 256);
	assert_int_equal(em_buf_html(&b, "<a href=\"x\" title='t'>Tom & Jerry</a>"), 0);
	assert_string_equal(b.data,
			    "&lt;a href=&quot;x&quot; title=&#39;t&#39;&gt;Tom &amp; Jerry&lt;/a&gt;");
	em_buf_reset(&b);
	assert_int_equal(em_buf_html(&b, "plain text, ümlaut"), 0);
	assert_string_equal(b.data, "plain text, ümlaut");
	em_buf_reset(&b);
	assert_int_equal(em_buf_html(&b, ""), 0);
	assert_int_equal(b.len, 0);
	em_buf_free(&b);
}

static void test_html_script_injection(void **state)
{
	em_buf b;
	em_buf_init(&b, 256);
	assert_int_equal(em_buf_html(&b, "</script><script>alert(1)</script>"), 0);
	assert_null(strchr(b.data, '<'));
	assert_null(strchr(b.data, '>'));
	em_buf_free(&b);
}

static void test_html_toobig(void **state)
{
	em_buf b;
	em_buf_init(&b, 10);
	assert_int_equal(em_buf_puts(&b, "ab"), 0);
	/* "&lt;&lt;" is 8 bytes: 2 + 8 = 10 fits exactly. */
	assert_int_equal(em_buf_html(&b, "<<"), 0);
	assert_int_equal(b.len, 10);
	em_buf_reset(&b);
	assert_int_equal(em_buf_puts(&b, "ab"), 0);
	/* Escaped, this needs 2 + 12 bytes: refused, and like every other
	** append (buf.h) it leaves the buffer as it was. */
	assert_int_equal(em_buf_html(&b, "x<<<"), EM_ETOOBIG);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	em_buf_free(&b);
}

/* em_strlcpy: fits, fills exactly, is cut short, and never writes past cap. */
static void test_strlcpy_bounds(void **state)
{
	(void)state;
	char d[8];
	memset(d, 'x', sizeof d);
	assert_int_equal(em_strlcpy(d, "abc", sizeof d), 3);
	assert_string_equal(d, "abc");
	assert_int_equal(em_strlcpy(d, "abcdefg", sizeof d), 7);
	assert_string_equal(d, "abcdefg");
	char g[12];
	memset(g, 'x', sizeof g);
	assert_int_equal(em_strlcpy(g, "abcdefghijklmnop", 8), 16);
	assert_string_equal(g, "abcdefg");
	assert_int_equal(g[8], 'x');
	assert_int_equal(em_strlcpy(g, "", 8), 0);
	assert_string_equal(g, "");
	assert_int_equal(em_strlcpy(g, "abc", 0), 3);
	assert_string_equal(g, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty),
		cmocka_unit_test(test_strlcpy_bounds),
		cmocka_unit_test(test_append_terminates),
		cmocka_unit_test(test_append_zero_bytes),
		cmocka_unit_test(test_cap_exact_fits),
		cmocka_unit_test(test_toobig_leaves_buffer_intact),
		cmocka_unit_test(test_toobig_on_empty_buffer),
		cmocka_unit_test(test_zero_max_refuses_everything),
		cmocka_unit_test(test_growth_keeps_content),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_long_and_exact),
		cmocka_unit_test(test_printf_toobig_leaves_buffer_intact),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_frees_room_under_cap),
		cmocka_unit_test(test_reset_keeps_allocation),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_html_escapes),
		cmocka_unit_test(test_html_script_injection),
		cmocka_unit_test(test_html_toobig),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
