/*
** Unit tests for src/track/accesslog.c: the access-log line parser.
**
** Exact field values for hand-picked lines (every field of a combined line,
** time zones to the millisecond, escapes, priorities between variables),
** then the sample files in tests/unit/data/accesslog/: the *.log files hold
** real-world lines that must all parse with the format named in their first
** line, and broken.tsv pairs broken lines with the skip reason they must get.
** Every prefix of a good line is parsed too, as a tailer sees half-written
** lines, and must fail cleanly.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "track/accesslog.h"

#define DATA_DIR "tests/unit/data/accesslog/"

static em_logfmt *compile_ok(const char *spec)
{
	em_logfmt *f = NULL;
	char err[256];
	int rc = em_logfmt_compile(spec, &f, err, sizeof err);
	if (rc != 0)
		fail_msg("compile '%s': %s", spec, err);
	assert_non_null(f);
	return f;
}

/* Parses a NUL-terminated line, failing the test with the message if it does not parse. */
static void parse_ok(const em_logfmt *f, const char *line, em_logline *l)
{
	char err[256];
	int rc = em_logfmt_parse(f, line, strlen(line), l, err, sizeof err);
	if (rc != 0)
		fail_msg("parse '%s': %s (%s)", line, err, em_logfmt_skip_key(l->skip));
	assert_int_equal(l->skip, EM_LOGSKIP_NONE);
}

static int parse_fail(const em_logfmt *f, const char *line, em_logline *l, char *err, size_t errlen)
{
	int rc = em_logfmt_parse(f, line, strlen(line), l, err, errlen);
	if (rc == 0)
		fail_msg("parse '%s' succeeded, expected a failure", line);
	assert_int_equal(rc, EM_EINVAL);
	assert_int_not_equal(l->skip, EM_LOGSKIP_NONE);
	return l->skip;
}

#define assert_slice(s, str) \
	do { \
		em_slice s_ = (s); \
		const char *str_ = (str); \
		if (s_.n != strlen(str_) || (s_.n && memcmp(s_.p, str_, s_.n) != 0)) \
			fail_msg("slice '%.*s' != '%s'", (int)s_.n, s_.p ? s_.p : "", str_); \
	} while (0)

static const char *combined_line =
	"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif?x=1 HTTP/1.0\" 200 2326 "
	"\"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"";

static void test_combined_fields(void **state)
{
	em_logfmt *f = compile_ok("combined");
	em_logline l;
	parse_ok(f, combined_line, &l);
	assert_slice(l.ip, "127.0.0.1");
	assert_slice(l.user, "frank");
	assert_slice(l.method, "GET");
	assert_slice(l.target, "/apache_pb.gif?x=1");
	assert_slice(l.proto, "HTTP/1.0");
	assert_int_equal(l.status, 200);
	assert_int_equal(l.bytes, 2326);
	assert_slice(l.referrer, "http://www.example.com/start.html");
	assert_slice(l.user_agent, "Mozilla/4.08 [en] (Win98; I ;Nav)");
	assert_slice(l.host, "");
	assert_slice(l.query, "");
	assert_true(l.ts_ms == 971211336000LL);
	assert_true(l.request_time == -1);
	/* Slices point into the line itself. */
	assert_ptr_equal(l.ip.p, combined_line);
	assert_int_equal(em_logfmt_fields(f), EM_LOGF_IP | EM_LOGF_TIME | EM_LOGF_METHOD | EM_LOGF_TARGET |
						      EM_LOGF_STATUS | EM_LOGF_BYTES | EM_LOGF_REFERRER |
						      EM_LOGF_USER_AGENT);
	em_logfmt_free(f);
}

static void test_common_and_dashes(void **state)
{
	em_logfmt *f = compile_ok("COMMON");
	em_logline l;
	parse_ok(f, "192.168.1.20 - - [10/Oct/2000:13:55:37 -0700] \"GET /index.html HTTP/1.1\" 304 -", &l);
	assert_slice(l.user, "");
	assert_int_equal(l.status, 304);
	assert_true(l.bytes == -1);
	assert_slice(l.referrer, "");
	assert_slice(l.user_agent, "");
	assert_int_equal(em_logfmt_fields(f) & (EM_LOGF_REFERRER | EM_LOGF_USER_AGENT), 0);
	em_logfmt_free(f);

	/* A "-" referrer and agent are empty slices, not the text "-". */
	f = compile_ok("combined");
	parse_ok(f, "10.0.0.1 - - [10/Oct/2000:13:55:37 -0700] \"GET / HTTP/1.1\" 200 0 \"-\" \"-\"", &l);
	assert_slice(l.referrer, "");
	assert_slice(l.user_agent, "");
	assert_int_equal(l.bytes, 0);
	em_logfmt_free(f);
}

static void test_time_zones(void **state)
{
	static const struct {
		const char *when;
		int64_t ms;
	} cases[] = {
		{"10/Oct/2000:13:55:36 -0700", 971211336000LL},
		{"31/Dec/1999:23:59:59 -0100", 946688399000LL}, /* crosses into 2000 in UTC */
		{"29/Feb/2024:12:00:00 +0530", 1709188200000LL},
		{"01/Jan/1970:00:00:00 +0000", 0},
		{"01/Jan/2024:00:30:00 +1400", 1704018600000LL}, /* back into 2023 */
		{"31/Dec/2023:23:30:00 -1200", 1704108600000LL}, /* forward into 2024 */
		{"10/Oct/2023:13:55:37 +0200", 1696938937000LL},
		{"28/Feb/2100:23:59:59 +0000", 4107542399000LL}, /* 2100 is no leap year */
		{"01/Mar/2100:00:00:00 +0000", 4107542400000LL},
		{"15/Jun/2038:08:00:00 +0000", 2160201600000LL}, /* past 32-bit time_t */
		{"15/jun/2038:08:00:00 +0000", 2160201600000LL}, /* month case does not matter */
	};
	em_logfmt *f = compile_ok("common");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char line[256];
		em_logline l;
		snprintf(line, sizeof line, "1.2.3.4 - - [%s] \"GET / HTTP/1.1\" 200 1", cases[i].when);
		parse_ok(f, line, &l);
		if (l.ts_ms != cases[i].ms)
			fail_msg("%s: got %lld, want %lld", cases[i].when, (long long)l.ts_ms,
				 (long long)cases[i].ms);
	}
	em_logfmt_free(f);
}

static void test_iso8601_and_msec(void **state)
{
	em_logfmt *f = compile_ok("$remote_addr [$time_iso8601] \"$request\"");
	em_logline l;
	parse_ok(f, "1.2.3.4 [2023-10-10T13:55:36-07:00] \"GET / HTTP/1.1\"", &l);
	assert_true(l.ts_ms == 1696971336000LL);
	parse_ok(f, "1.2.3.4 [2023-10-10T20:55:36Z] \"GET / HTTP/1.1\"", &l);
	assert_true(l.ts_ms == 1696971336000LL);
	parse_ok(f, "1.2.3.4 [2024-03-01T00:00:00.250+01:00] \"GET / HTTP/1.1\"", &l);
	assert_true(l.ts_ms == 1709247600250LL);
	parse_ok(f, "1.2.3.4 [2024-03-01T00:00:00.25+0100] \"GET / HTTP/1.1\"", &l);
	assert_true(l.ts_ms == 1709247600250LL);
	char err[256];
	assert_int_equal(
		parse_fail(f, "1.2.3.4 [2023-10-10T13:55:36] \"GET / HTTP/1.1\"", &l, err, sizeof err),
		EM_LOGSKIP_BAD_TIME);
	assert_int_equal(
		parse_fail(f, "1.2.3.4 [2023-02-30T13:55:36Z] \"GET / HTTP/1.1\"", &l, err, sizeof err),
		EM_LOGSKIP_BAD_TIME);
	em_logfmt_free(f);

	f = compile_ok("$msec $remote_addr");
	parse_ok(f, "1696946136.123 1.2.3.4", &l);
	assert_true(l.ts_ms == 1696946136123LL);
	parse_ok(f, "1696946136 1.2.3.4", &l);
	assert_true(l.ts_ms == 1696946136000LL);
	assert_int_equal(parse_fail(f, "1696946136. 1.2.3.4", &l, err, sizeof err), EM_LOGSKIP_BAD_TIME);
	em_logfmt_free(f);
}

static void test_custom_host_request_time(void **state)
{
	em_logfmt *f =
		compile_ok("$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
			   "\"$http_referer\" \"$http_user_agent\" \"$host\" $request_time");
	em_logline l;
	parse_ok(f,
		 "93.184.216.34 - - [10/Oct/2023:13:55:36 +0000] \"GET /checkout HTTP/2.0\" 200 9120 "
		 "\"https://shop.example.com/cart\" \"Mozilla/5.0\" \"shop.example.com\" 1.250",
		 &l);
	assert_slice(l.host, "shop.example.com");
	assert_true(l.request_time > 1.2499 && l.request_time < 1.2501);
	assert_slice(l.proto, "HTTP/2.0");
	assert_int_equal(em_logfmt_fields(f) & (EM_LOGF_HOST | EM_LOGF_REQUEST_TIME),
			 EM_LOGF_HOST | EM_LOGF_REQUEST_TIME);
	parse_ok(f,
		 "93.184.216.34 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/2.0\" 200 1 \"-\" \"-\" \"-\" "
		 "0.000",
		 &l);
	assert_true(l.request_time == 0);
	assert_slice(l.host, "");
	char err[256];
	assert_int_equal(
		parse_fail(f,
			   "93.184.216.34 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/2.0\" 200 1 \"-\" "
			   "\"-\" \"-\" 0,5",
			   &l, err, sizeof err),
		EM_LOGSKIP_BAD_NUMBER);
	em_logfmt_free(f);
}

static void test_nginx_conf_form(void **state)
{
	/* Pasted from nginx.conf, several strings, escape= parameter and all. */
	em_logfmt *f = compile_ok("log_format main escape=json\n"
				  "    '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
				  "    '$status $body_bytes_sent \"$http_referer\" '\n"
				  "    '\"$http_user_agent\" \"$http_x_forwarded_for\"';");
	em_logline l;
	parse_ok(f,
		 "10.0.0.2 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8\" "
		 "\"203.0.113.1, 10.0.0.1\"",
		 &l);
	assert_slice(l.forwarded_for, "203.0.113.1, 10.0.0.1");
	assert_slice(l.user_agent, "curl/8");
	em_logfmt_free(f);

	/* Only the quoted strings, as the brief of a custom format gives them. */
	f = compile_ok("'$remote_addr [$time_local] ' '\"$request\" $status \\'x\\''");
	parse_ok(f, "1.2.3.4 [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 'x'", &l);
	assert_int_equal(l.status, 200);
	em_logfmt_free(f);
}

static void test_unquoted_lists(void **state)
{
	em_logfmt *f = compile_ok("$http_x_forwarded_for $remote_addr $upstream_response_time $status");
	em_logline l;
	parse_ok(f, "203.0.113.1, 10.0.0.1 10.0.0.2 0.004, 0.010 : 0.002 200", &l);
	assert_slice(l.forwarded_for, "203.0.113.1, 10.0.0.1");
	assert_slice(l.ip, "10.0.0.2");
	assert_int_equal(l.status, 200);
	parse_ok(f, "- 10.0.0.2 - 502", &l);
	assert_slice(l.forwarded_for, "");
	assert_int_equal(l.status, 502);
	em_logfmt_free(f);
}

static void test_priorities(void **state)
{
	/* $request_uri beats $request for the target; $request still gives the
	   method. $body_bytes_sent beats $bytes_sent wherever it stands; $host
	   beats $server_name; $msec beats $time_local. */
	em_logfmt *f =
		compile_ok("$server_name $bytes_sent $remote_addr [$time_local] \"$request\" $request_uri "
			   "$body_bytes_sent $host $msec");
	em_logline l;
	parse_ok(f,
		 "default 900 1.2.3.4 [10/Oct/2023:13:55:36 +0000] \"GET /a?b HTTP/1.1\" /a?b=full 612 "
		 "shop.example "
		 "1696946136.500",
		 &l);
	assert_slice(l.target, "/a?b=full");
	assert_slice(l.method, "GET");
	assert_int_equal(l.bytes, 612);
	assert_slice(l.host, "shop.example");
	assert_true(l.ts_ms == 1696946136500LL);
	em_logfmt_free(f);

	f = compile_ok("$remote_addr $request_method $uri $args $server_protocol");
	parse_ok(f, "1.2.3.4 GET /search q=shoes&page=2 HTTP/1.1", &l);
	assert_slice(l.method, "GET");
	assert_slice(l.target, "/search");
	assert_slice(l.query, "q=shoes&page=2");
	assert_slice(l.proto, "HTTP/1.1");
	parse_ok(f, "1.2.3.4 GET / - HTTP/1.1", &l);
	assert_slice(l.query, "");
	em_logfmt_free(f);
}

static void test_escaped_quotes(void **state)
{
	em_logfmt *f = compile_ok("combined");
	em_logline l;
	char buf[128];

	/* Apache: \" and \\. */
	parse_ok(f,
		 "1.2.3.4 - - [10/Oct/2000:13:55:37 -0700] \"GET /q?s=\\\"x\\\" HTTP/1.1\" 200 99 "
		 "\"http://ref.example/\\\"y\\\"\" \"Mozilla/5.0 \\\"evil\\\" agent \\\\\"",
		 &l);
	assert_slice(l.target, "/q?s=\\\"x\\\"");
	assert_slice(l.referrer, "http://ref.example/\\\"y\\\"");
	assert_slice(l.user_agent, "Mozilla/5.0 \\\"evil\\\" agent \\\\");
	assert_int_equal(em_logfmt_unescape(l.user_agent, buf, sizeof buf),
			 strlen("Mozilla/5.0 \"evil\" agent \\"));
	assert_string_equal(buf, "Mozilla/5.0 \"evil\" agent \\");

	/* nginx: \x22 and \xHH for bytes outside printable ASCII. */
	parse_ok(f,
		 "1.2.3.4 - - [10/Oct/2000:13:55:37 -0700] \"GET /caf\\xC3\\xA9 HTTP/1.1\" 200 99 \"-\" "
		 "\"Mozilla/5.0 \\x22quoted\\x22\"",
		 &l);
	em_logfmt_unescape(l.user_agent, buf, sizeof buf);
	assert_string_equal(buf, "Mozilla/5.0 \"quoted\"");
	em_logfmt_unescape(l.target, buf, sizeof buf);
	assert_string_equal(buf, "/caf\xc3\xa9");

	/* nginx escape=none writes quotes raw: a quote that is not followed
	   by the rest of the format belongs to the value. */
	parse_ok(f, "1.2.3.4 - - [10/Oct/2000:13:55:37 -0700] \"GET / HTTP/1.1\" 200 99 \"-\" \"say \"hi\"\"",
		 &l);
	assert_slice(l.user_agent, "say \"hi\"");

	/* A too small buffer is cut but terminated, and the full length returned. */
	em_slice s = {"abc\\x22def", 10};
	char small[4];
	assert_int_equal(em_logfmt_unescape(s, small, sizeof small), 7);
	assert_string_equal(small, "abc");
	/* escape=json and Apache's C-style letters. */
	em_slice json = {"a\\tb\\u0041\\n\\u12", 16};
	assert_int_equal(em_logfmt_unescape(json, buf, sizeof buf), 9);
	assert_string_equal(buf, "a\tbA\n\\u12");
	/* Half escapes stay as written. */
	em_slice half = {"a\\x2", 4};
	assert_int_equal(em_logfmt_unescape(half, buf, sizeof buf), 4);
	assert_string_equal(buf, "a\\x2");
	em_logfmt_free(f);
}

static void test_requests(void **state)
{
	em_logfmt *f = compile_ok("$remote_addr \"$request\"");
	em_logline l;
	char err[256];

	parse_ok(f, "1.2.3.4 \"PROPFIND /dav/ HTTP/1.1\"", &l);
	assert_slice(l.method, "PROPFIND");
	parse_ok(f, "1.2.3.4 \"GET / HTTP/2.0\"", &l);
	assert_slice(l.proto, "HTTP/2.0");
	parse_ok(f, "1.2.3.4 \"GET / HTTP/3\"", &l);
	assert_slice(l.proto, "HTTP/3");
	parse_ok(f, "1.2.3.4 \"GET /\"", &l); /* HTTP/0.9 */
	assert_slice(l.target, "/");
	assert_slice(l.proto, "");
	parse_ok(f, "1.2.3.4 \"OPTIONS * HTTP/1.1\"", &l);
	assert_slice(l.target, "*");
	parse_ok(f, "1.2.3.4 \"CONNECT example.com:443 HTTP/1.1\"", &l);
	assert_slice(l.target, "example.com:443");
	parse_ok(f, "1.2.3.4 \"GET http://example.com/x HTTP/1.1\"", &l);
	assert_slice(l.target, "http://example.com/x");
	/* A space inside the target (nginx logs such requests as they came). */
	parse_ok(f, "1.2.3.4 \"GET /a b HTTP/1.1\"", &l);
	assert_slice(l.target, "/a b");

	assert_int_equal(parse_fail(f, "1.2.3.4 \"-\"", &l, err, sizeof err), EM_LOGSKIP_BAD_REQUEST);
	assert_non_null(strstr(err, "empty request line"));
	assert_int_equal(parse_fail(f, "1.2.3.4 \"\"", &l, err, sizeof err), EM_LOGSKIP_BAD_REQUEST);
	assert_int_equal(parse_fail(f, "1.2.3.4 \"\\x16\\x03\\x01\\x00\"", &l, err, sizeof err),
			 EM_LOGSKIP_BAD_REQUEST);
	assert_int_equal(parse_fail(f, "1.2.3.4 \"GET / HTTP/1.1x\"", &l, err, sizeof err),
			 EM_LOGSKIP_BAD_REQUEST);
	assert_int_equal(parse_fail(f, "1.2.3.4 \"G(T / HTTP/1.1\"", &l, err, sizeof err),
			 EM_LOGSKIP_BAD_REQUEST);
	em_logfmt_free(f);
}

static void test_long_url(void **state)
{
	em_logfmt *f = compile_ok("combined");
	size_t n = 64 * 1024;
	char *line = em_malloc(n + 256);
	int k = snprintf(line, 256, "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET /");
	memset(line + k, 'a', n);
	snprintf(line + k + n, 256 - (size_t)k, " HTTP/1.1\" 414 0 \"-\" \"x\"");
	em_logline l;
	parse_ok(f, line, &l);
	assert_int_equal(l.target.n, n + 1);
	assert_int_equal(l.status, 414);
	em_free(line);
	em_logfmt_free(f);
}

static void test_ends_and_extras(void **state)
{
	em_logfmt *f = compile_ok("combined");
	em_logline l;
	char err[256];
	const char *good = "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"";
	char buf[256];

	/* CR LF line ends and a stray newline are not part of the line. */
	snprintf(buf, sizeof buf, "%s\r", good);
	parse_ok(f, buf, &l);
	assert_slice(l.user_agent, "x");
	snprintf(buf, sizeof buf, "%s\r\n", good);
	parse_ok(f, buf, &l);

	/* Extra fields after a space: formats grow at the end. */
	snprintf(buf, sizeof buf, "%s \"10.0.0.1\" 0.004", good);
	parse_ok(f, buf, &l);
	assert_slice(l.user_agent, "x");

	/* Bytes glued to the last field are garbage. */
	snprintf(buf, sizeof buf, "%sxyz", good);
	assert_int_equal(parse_fail(f, buf, &l, err, sizeof err), EM_LOGSKIP_TRAILING);
	assert_string_equal(err, "column 72: unexpected 'xyz' after the last field");

	assert_int_equal(parse_fail(f, "", &l, err, sizeof err), EM_LOGSKIP_EMPTY);
	assert_int_equal(parse_fail(f, " \t", &l, err, sizeof err), EM_LOGSKIP_EMPTY);
	assert_int_equal(em_logfmt_parse(f, "\r\n", 2, &l, NULL, 0), EM_EINVAL);
	assert_int_equal(l.skip, EM_LOGSKIP_EMPTY);
	/* No error buffer is fine. */
	assert_int_equal(em_logfmt_parse(f, "junk", 4, &l, NULL, 0), EM_EINVAL);
	em_logfmt_free(f);
}

static void test_error_messages(void **state)
{
	em_logfmt *f = compile_ok("combined");
	em_logline l;
	char err[256];

	assert_int_equal(parse_fail(f,
				    "93.184.216.34 - - 10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1",
				    &l, err, sizeof err),
			 EM_LOGSKIP_MISMATCH);
	assert_string_equal(err, "column 18: expected ' [' before $time_local");

	assert_int_equal(parse_fail(f,
				    "93.184.216.34 - - [10/Okt/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1",
				    &l, err, sizeof err),
			 EM_LOGSKIP_BAD_TIME);
	assert_string_equal(err, "column 20: bad time in $time_local '10/Okt/2023:13:55:36 +00...'");

	assert_int_equal(
		parse_fail(f, "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 2x0 1 \"-\" \"-\"",
			   &l, err, sizeof err),
		EM_LOGSKIP_BAD_STATUS);
	assert_string_equal(err, "column 59: bad status in $status '2x0'");

	assert_int_equal(
		parse_fail(f, "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"Moz",
			   &l, err, sizeof err),
		EM_LOGSKIP_TRUNCATED);
	assert_string_equal(err, "column 70: no closing quote for $http_user_agent");

	/* Binary junk is named by its first control byte, whatever broke first. */
	static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	assert_int_equal(em_logfmt_parse(f, junk, sizeof junk - 1, &l, err, sizeof err), EM_EINVAL);
	assert_int_equal(l.skip, EM_LOGSKIP_BINARY);
	assert_string_equal(err, "column 1: control byte 0x16 in the line");

	/* A small error buffer is cut, not overrun. */
	char tiny[8];
	assert_int_equal(em_logfmt_parse(f, "x", 1, &l, tiny, sizeof tiny), EM_EINVAL);
	assert_int_equal(strlen(tiny), 7);
	em_logfmt_free(f);

	assert_string_equal(em_logfmt_skip_key(EM_LOGSKIP_BAD_TIME), "bad_time");
	assert_string_equal(em_logfmt_skip_key(EM_LOGSKIP_NONE), "ok");
	assert_string_equal(em_logfmt_skip_key(-1), "unknown");
	assert_string_equal(em_logfmt_skip_key(EM_LOGSKIP__COUNT), "unknown");
	for (int i = 0; i < EM_LOGSKIP__COUNT; i++)
		assert_non_null(em_logfmt_skip_key(i));
}

static void check_prefixes(const char *spec, const char *line)
{
	em_logfmt *f = compile_ok(spec);
	size_t n = strlen(line);
	size_t last_space = (size_t)(strrchr(line, ' ') - line);
	int last_quoted = line[n - 1] == '"';
	em_logline l;
	char err[256];
	for (size_t k = 0; k < n; k++) {
		/* A heap copy of exactly k bytes, so ASan sees any read past the end. */
		char *cut = em_malloc(k ? k : 1);
		memcpy(cut, line, k);
		int rc = em_logfmt_parse(f, cut, k, &l, err, sizeof err);
		em_free(cut);
		if (rc == 0)
			continue; /* e.g. a common line that stops after its last field */
		int want = k == 0 ? EM_LOGSKIP_EMPTY : EM_LOGSKIP_TRUNCATED;
		/* A cut inside an unquoted last value ("0.") cannot be told from
		   a bad value; either reason is right there. */
		if (k > last_space && !last_quoted && l.skip != EM_LOGSKIP_NONE)
			want = l.skip;
		if (l.skip != want)
			fail_msg("prefix %zu of '%s': %s (%s), want %s", k, line, em_logfmt_skip_key(l.skip),
				 err, em_logfmt_skip_key(want));
		if (k > 0 && strncmp(err, "column ", 7) != 0)
			fail_msg("prefix %zu: message '%s' names no column", k, err);
	}
	em_logfmt_free(f);
}

static void test_every_prefix_is_truncated(void **state)
{
	check_prefixes("combined", combined_line);
	check_prefixes("combined",
		       "2001:db8::1 - - [10/Oct/2023:13:55:37 +0200] \"GET /p?q=\\x22a\\x22 HTTP/2.0\" "
		       "304 0 \"https://r.example/\" \"Mozilla/5.0 (X11) \\\"q\\\"\"");
	check_prefixes(
		"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
		"\"$http_referer\" \"$http_user_agent\" \"$host\" $request_time",
		"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/2.0\" 200 612 \"-\" \"curl/8.4.0\" "
		"\"shop.example.com\" 0.004");
}

static void test_compile_errors(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		const char *msg;
	} cases[] = {
		{"", EM_EINVAL, "empty log format"},
		{"   ", EM_EINVAL, "empty log format"},
		{"just text", EM_EINVAL, "no variables in the log format"},
		{"$remote_addr $ x", EM_EINVAL, "column 14: '$' without a variable name"},
		{"$remote_addr ${status", EM_EINVAL, "column 14: '${' without a closing '}'"},
		{"$remote_addr$status", EM_EINVAL,
		 "column 1: $remote_addr and the next variable need a separator"},
		{"'$remote_addr", EM_EINVAL, "column 1: unterminated ' string"},
		{"log_format '$a'", EM_EINVAL, "column 12: log_format without a name"},
		{"log_format main '$a'; x", EM_EINVAL, "column 23: text after ';'"},
		{"log_format main;", EM_EINVAL, "log_format without a format string"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		em_logfmt *f = (em_logfmt *)1;
		char err[256];
		int rc = em_logfmt_compile(cases[i].spec, &f, err, sizeof err);
		if (rc != cases[i].rc || strcmp(err, cases[i].msg) != 0)
			fail_msg("'%s': rc %d '%s', want %d '%s'", cases[i].spec, rc, err, cases[i].rc,
				 cases[i].msg);
		assert_null(f);
	}

	/* Too many variables and too long a spec are EM_ETOOBIG. */
	char spec[EM_LOGFMT_MAX_SPEC + 2];
	size_t o = 0;
	for (int i = 0; i <= EM_LOGFMT_MAX_FIELDS; i++)
		o += (size_t)snprintf(spec + o, sizeof spec - o, "$v%d ", i);
	em_logfmt *f;
	assert_int_equal(em_logfmt_compile(spec, &f, NULL, 0), EM_ETOOBIG);
	memset(spec, 'x', sizeof spec - 1);
	spec[sizeof spec - 1] = '\0';
	spec[0] = '$';
	assert_int_equal(em_logfmt_compile(spec, &f, NULL, 0), EM_ETOOBIG);
	assert_int_equal(em_logfmt_compile(NULL, &f, NULL, 0), EM_EINVAL);

	/* Exactly the maximum number of variables compiles. */
	o = 0;
	for (int i = 0; i < EM_LOGFMT_MAX_FIELDS; i++)
		o += (size_t)snprintf(spec + o, sizeof spec - o, "${v%d} ", i);
	f = compile_ok(spec);
	em_logfmt_free(f);
	em_logfmt_free(NULL);
}

static void test_unknown_vars_are_ignored(void **state)
{
	em_logfmt *f = compile_ok(
		"$remote_addr $connection $http_x_custom_header \"$sent_http_content_type\" $status");
	em_logline l;
	parse_ok(f, "1.2.3.4 1234 anything \"text/html; charset=utf-8\" 200", &l);
	assert_int_equal(l.status, 200);
	assert_int_equal(em_logfmt_fields(f), EM_LOGF_IP | EM_LOGF_STATUS);
	em_logfmt_free(f);
}

static void test_pageview(void **state)
{
	static const struct {
		const char *method, *target;
		int status, want;
	} cases[] = {
		{"GET", "/", 200, 1},
		{"GET", "/products/blue-shoe?color=blue", 200, 1},
		{"HEAD", "/about", 200, 1},
		{"GET", "/index.php", 200, 1},
		{"GET", "/shop.html", 304, 1},	    /* revisit, served from the browser's cache */
		{"GET", "/v1.2/notes", 200, 1},	    /* a dot in a directory is no extension */
		{"GET", "/search?q=a.css", 200, 1}, /* the query does not count */
		{"GET", "https://shop.example.com/p/1", 200, 1},
		{"GET", "http://shop.example.com", 200, 1},
		{"POST", "/checkout", 200, 0},
		{"PUT", "/x", 200, 0},
		{"GET", "/old", 301, 0},
		{"GET", "/old", 302, 0},
		{"GET", "/missing", 404, 0},
		{"GET", "/boom", 500, 0},
		{"GET", "/beacon", 204, 0},
		{"GET", "/video", 206, 0},
		{"GET", "/static/app.CSS", 200, 0},
		{"GET", "/static/app.js?v=3", 200, 0},
		{"GET", "/img/a.png", 200, 0},
		{"GET", "/img/a.jpeg", 200, 0},
		{"GET", "/fonts/x.woff2", 200, 0},
		{"GET", "/app.js.map", 200, 0},
		{"GET", "/i.webp", 200, 0},
		{"GET", "/manual.pdf", 200, 0},
		{"GET", "/favicon.ico", 200, 0},
		{"GET", "/robots.txt", 200, 0},
		{"GET", "/sitemap.xml", 200, 0},
		{"GET", "/.well-known/security.txt", 200, 0},
		{"GET", "/.well-known/acme-challenge/abc", 200, 0},
		{"GET", "/wp-cron.php?doing_wp_cron", 200, 0},
		{"GET", "/api/cart", 200, 0},
		{"GET", "/health", 200, 0},
		{"GET", "/healthy-food", 200, 1},
		{"GET", "*", 200, 0},
		{"GET", "", 200, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		em_logline l;
		memset(&l, 0, sizeof l);
		l.method.p = cases[i].method;
		l.method.n = strlen(cases[i].method);
		l.target.p = cases[i].target;
		l.target.n = strlen(cases[i].target);
		l.status = cases[i].status;
		if (em_logfmt_is_pageview(&l) != cases[i].want)
			fail_msg("%s %s %d: want %d", cases[i].method, cases[i].target, cases[i].status,
				 cases[i].want);
	}
	/* From a parsed line. */
	em_logfmt *f = compile_ok("combined");
	em_logline l;
	parse_ok(f, combined_line, &l);
	assert_false(em_logfmt_is_pageview(&l)); /* a .gif */
	parse_ok(f, "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET /cart HTTP/1.1\" 200 1 \"-\" \"-\"", &l);
	assert_true(em_logfmt_is_pageview(&l));
	em_logfmt_free(f);
}

/* ---- sample files ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s (run from the repository root)", path);
	char *data = em_malloc(1 << 20);
	*len = fread(data, 1, (1 << 20) - 1, fp);
	fclose(fp);
	data[*len] = '\0';
	return data;
}

/* Calls fn for each line after the "#format: " header; skips '#' comments. */
static void each_line(const char *name,
		      void (*fn)(const em_logfmt *f, const char *name, int lineno, const char *line,
				 size_t len, int *count),
		      int *count)
{
	char path[256];
	size_t len;
	snprintf(path, sizeof path, DATA_DIR "%s", name);
	char *data = read_file(path, &len);
	const char *p = data, *e = data + len;
	const char *nl = memchr(p, '\n', len);
	assert_non_null(nl);
	assert_memory_equal(p, "#format: ", 9);
	char *spec = em_strndup(p + 9, (size_t)(nl - p - 9));
	em_logfmt *f = compile_ok(spec);
	p = nl + 1;
	int lineno = 1;
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e;
		lineno++;
		if (le > p && *p == '#') {
			p = le + 1;
			continue;
		}
		fn(f, name, lineno, p, (size_t)(le - p), count);
		p = le + 1;
	}
	em_logfmt_free(f);
	em_free(spec);
	em_free(data);
}

static void expect_ok(const em_logfmt *f, const char *name, int lineno, const char *line, size_t len,
		      int *count)
{
	em_logline l;
	char err[256];
	/* A heap copy of exactly the line, so ASan sees any read past its end. */
	char *copy = em_malloc(len ? len : 1);
	memcpy(copy, line, len);
	if (em_logfmt_parse(f, copy, len, &l, err, sizeof err) != 0)
		fail_msg("%s:%d: %s (%s)", name, lineno, err, em_logfmt_skip_key(l.skip));
	assert_true(l.ip.n > 0);
	assert_true(l.ts_ms > 0);
	assert_true(l.status >= 100);
	em_free(copy);
	(*count)++;
}

static void test_sample_files_parse(void **state)
{
	static const char *const files[] = {"nginx_combined.log", "apache_common.log",	"apache_combined.log",
					    "vhost_combined.log", "custom_host_rt.log", "custom_iso_xff.log",
					    "custom_msec.log"};
	int count = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		each_line(files[i], expect_ok, &count);
	assert_true(count >= 40);
}

static void expect_reason(const em_logfmt *f, const char *name, int lineno, const char *line, size_t len,
			  int *count)
{
	const char *tab = memchr(line, '\t', len);
	if (!tab)
		fail_msg("%s:%d: no tab", name, lineno);
	size_t rlen = (size_t)(tab - line);
	size_t n = len - rlen - 1;
	char *copy = em_malloc(n ? n : 1);
	memcpy(copy, tab + 1, n);
	em_logline l;
	char err[256];
	int rc = em_logfmt_parse(f, copy, n, &l, err, sizeof err);
	const char *key = em_logfmt_skip_key(l.skip);
	if (rc != EM_EINVAL || strlen(key) != rlen || memcmp(key, line, rlen) != 0)
		fail_msg("%s:%d: got %s (%s), want %.*s", name, lineno, key, rc ? err : "parsed", (int)rlen,
			 line);
	assert_true(strlen(err) > 0);
	em_free(copy);
	(*count)++;
}

static void test_broken_lines(void **state)
{
	int count = 0;
	each_line("broken.tsv", expect_reason, &count);
	assert_true(count >= 40);
}

static void test_sample_fields(void **state)
{
	/* A few exact values from the sample lines of custom_iso_xff.log. */
	em_logfmt *f =
		compile_ok("log_format proxied '$http_x_forwarded_for $remote_addr [$time_iso8601] $host "
			   "\"$request\" ' '$status $bytes_sent $request_time $upstream_response_time "
			   "\"$http_user_agent\"';");
	em_logline l;
	parse_ok(f,
		 "203.0.113.1, 10.0.0.1 10.0.0.2 [2023-10-10T13:55:36-07:00] shop.example.com \"GET "
		 "/products/1 "
		 "HTTP/1.1\" 200 15320 0.012 0.004, 0.010 : 0.002 \"Mozilla/5.0\"",
		 &l);
	assert_slice(l.forwarded_for, "203.0.113.1, 10.0.0.1");
	assert_slice(l.ip, "10.0.0.2");
	assert_slice(l.host, "shop.example.com");
	assert_true(l.ts_ms == 1696971336000LL);
	assert_int_equal(l.bytes, 15320); /* $bytes_sent when there is no $body_bytes_sent */
	assert_true(l.request_time > 0.0119 && l.request_time < 0.0121);
	assert_slice(l.user_agent, "Mozilla/5.0");
	em_logfmt_free(f);

	f = compile_ok("vhost_combined");
	parse_ok(f,
		 "www.example.com:443 203.0.113.5 - - [10/Oct/2023:13:55:36 +0200] \"GET / HTTP/1.1\" 200 "
		 "1234 \"-\" "
		 "\"Firefox\"",
		 &l);
	assert_slice(l.host, "www.example.com");
	assert_slice(l.ip, "203.0.113.5");
	em_logfmt_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combined_fields),
		cmocka_unit_test(test_common_and_dashes),
		cmocka_unit_test(test_time_zones),
		cmocka_unit_test(test_iso8601_and_msec),
		cmocka_unit_test(test_custom_host_request_time),
		cmocka_unit_test(test_nginx_conf_form),
		cmocka_unit_test(test_unquoted_lists),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_escaped_quotes),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_long_url),
		cmocka_unit_test(test_ends_and_extras),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_every_prefix_is_truncated),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_unknown_vars_are_ignored),
		cmocka_unit_test(test_pageview),
		cmocka_unit_test(test_sample_files_parse),
		cmocka_unit_test(test_broken_lines),
		cmocka_unit_test(test_sample_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
