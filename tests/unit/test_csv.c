/*
** Unit tests for the CSV reader and writer of src/crm/csvio.c: RFC 4180
** quoting, line endings, the byte-order mark, broken records reported with
** their line and skipped, and the formula guard of the writer.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "crm/csvio.h"

/* Reads every record of s into "a|b|c" lines (broken ones as "!line:why"). */
static void read_all(const char *s, size_t len, char *out, size_t cap)
{
	em_csv c;
	em_csv_init(&c, s, len);
	size_t o = 0;
	out[0] = '\0';
	const char *why;
	int rc;
	while ((rc = em_csv_next(&c, &why)) != 0) {
		if (rc < 0) {
			o += (size_t)snprintf(out + o, cap - o, "!%d:%s\n", c.rec_line, why);
			continue;
		}
		o += (size_t)snprintf(out + o, cap - o, "%d:", c.rec_line);
		for (int i = 0; i < c.nfields; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "",
					      em_csv_field(&c, i, NULL));
		o += (size_t)snprintf(out + o, cap - o, "\n");
	}
	em_csv_free(&c);
}

#define READ(lit, out) read_all(lit, sizeof(lit) - 1, out, sizeof out)

static void test_plain_crlf_lf(void **state)
{
	char out[512];
	READ("a,b,c\r\n1,2,3\n4,5,6", out);
	assert_string_equal(out, "1:a|b|c\n2:1|2|3\n3:4|5|6\n");
	READ("a,b\r\n\r\n\nx,y\r\n", out);
	assert_string_equal(out, "1:a|b\n4:x|y\n");
	READ("a,,c,\n", out);
	assert_string_equal(out, "1:a||c|\n");
}

static void test_quotes(void **state)
{
	char out[512];
	READ("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", out);
	assert_string_equal(out, "1:a,b|say \"hi\"|\n");
	/* A line break inside quotes belongs to the field; lines still count. */
	READ("\"two\nlines\",x\r\nnext,y\n", out);
	assert_string_equal(out, "1:two\nlines|x\n3:next|y\n");
	READ("\"crlf\r\ninside\",z\n", out);
	assert_string_equal(out, "1:crlf\r\ninside|z\n");
	/* A stray quote inside an unquoted field is kept as text. */
	READ("5\" disk,ok\n", out);
	assert_string_equal(out, "1:5\" disk|ok\n");
}

static void test_bom(void **state)
{
	char out[256];
	READ("\xEF\xBB\xBFname,email\nAda,a@example.org\n", out);
	assert_string_equal(out, "1:name|email\n2:Ada|a@example.org\n");
	READ("\xEF\xBB\xBF", out);
	assert_string_equal(out, "");
}

static void test_broken_records(void **state)
{
	char out[1024];
	/* Text after a closing quote: that record is skipped, the next read. */
	READ("a,b\n\"x\"y,2\nc,d\n", out);
	assert_string_equal(
		out, "1:a|b\n!2:unexpected text after a closing quote (a quote inside a quoted field is "
		     "written \"\")\n3:c|d\n");
	/* An unclosed quote: reported at its line, reading goes on after it. */
	READ("a,b\n\"open,x\nc,d\n", out);
	assert_string_equal(out, "1:a|b\n!2:a quoted field is not closed (a '\"' is missing)\n3:c|d\n");
	READ("h\n\"never closed", out);
	assert_string_equal(out, "1:h\n!2:a quoted field is not closed (a '\"' is missing)\n");
	/* Invalid UTF-8 (a lone continuation byte, an overlong form). */
	READ("ok\n\x80x,y\nz\n\xC0\xAF\n", out);
	assert_string_equal(out, "1:ok\n!2:the text is not valid UTF-8 (save the file as UTF-8)\n3:z\n"
				 "!4:the text is not valid UTF-8 (save the file as UTF-8)\n");
	/* Valid multi-byte text passes. */
	READ("Jürgen,Zoë,日本,😀\n", out);
	assert_string_equal(out, "1:Jürgen|Zoë|日本|😀\n");
}

static void test_nul_and_limits(void **state)
{
	char out[256];
	static const char nul[] = "a\0b,c\nd,e\n";
	read_all(nul, sizeof nul - 1, out, sizeof out);
	assert_string_equal(out, "!1:a field contains a NUL byte\n2:d|e\n");

	/* 257 columns. */
	char many[1024];
	size_t n = 0;
	for (int i = 0; i < 257; i++)
		many[n++] = ',';
	many[n++] = '\n';
	memcpy(many + n, "ok\n", 3);
	n += 3;
	char out2[256];
	read_all(many, n, out2, sizeof out2);
	assert_string_equal(out2, "!1:more than 256 columns\n2:ok\n");
}

static void test_writer(void **state)
{
	em_buf b;
	em_buf_init(&b, 4096);
	assert_int_equal(em_csv_cell(&b, "plain", 1), 0);
	assert_int_equal(em_csv_cell(&b, "a,b", 0), 0);
	assert_int_equal(em_csv_cell(&b, "say \"hi\"", 0), 0);
	assert_int_equal(em_csv_cell(&b, "two\nlines", 0), 0);
	assert_int_equal(em_csv_cell(&b, " padded ", 0), 0);
	assert_int_equal(em_csv_cell(&b, NULL, 0), 0);
	assert_int_equal(em_csv_eol(&b), 0);
	assert_string_equal(b.data, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded \",\r\n");
	em_buf_reset(&b);
	/* Formula guard: = + - @ get a leading quote. */
	em_csv_cell(&b, "=HYPERLINK(\"http://x\")", 1);
	em_csv_cell(&b, "+4930123", 0);
	em_csv_cell(&b, "-1", 0);
	em_csv_cell(&b, "@SUM(A1)", 0);
	em_csv_cell(&b, "a=b", 0);
	assert_string_equal(b.data, "\"'=HYPERLINK(\"\"http://x\"\")\",'+4930123,'-1,'@SUM(A1),a=b");
	em_buf_free(&b);

	/* A cell past the buffer's maximum fails and leaves the buffer as it was. */
	em_buf_init(&b, 8);
	assert_int_equal(em_csv_cell(&b, "abc", 1), 0);
	assert_int_equal(em_csv_cell(&b, "toolongvalue", 0), EM_ETOOBIG);
	assert_string_equal(b.data, "abc");
	em_buf_free(&b);
}

/* What the writer writes, the reader reads back the same. */
static void test_round_trip(void **state)
{
	const char *cells[] = {"Ada \"the\" first", "a,b;c", "line1\r\nline2", "", "ü€", " x ", NULL};
	em_buf b;
	em_buf_init(&b, 4096);
	for (int i = 0; cells[i]; i++)
		em_csv_cell(&b, cells[i], i == 0);
	em_csv_eol(&b);
	em_csv c;
	em_csv_init(&c, b.data, b.len);
	const char *why;
	assert_int_equal(em_csv_next(&c, &why), 1);
	assert_int_equal(c.nfields, 6);
	for (int i = 0; cells[i]; i++)
		assert_string_equal(em_csv_field(&c, i, NULL), cells[i]);
	assert_int_equal(em_csv_next(&c, &why), 0);
	em_csv_free(&c);
	em_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_crlf_lf),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_broken_records),
		cmocka_unit_test(test_nul_and_limits),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
