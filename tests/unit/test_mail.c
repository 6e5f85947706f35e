/*
** Unit tests for src/crm/mail.c: what goes on the wire.
**
** Addresses and subjects that could inject headers are refused; non-ASCII
** header text becomes RFC 2047 encoded words that never split a character
** and keep lines short; the body is quoted-printable that decodes back to
** the original text; the whole message uses CRLF only.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "crm/mail.h"

static void test_addresses(void **state)
{
	const char *good[] = {"ada@example.org", "a.b+tag@mail.example.co.uk",	    "o'neil@x-y.de",
			      "x@a1.b2",	 "!#$%&'*+-/=?^_`{|}~@example.org", NULL};
	for (int i = 0; good[i]; i++)
		assert_true(em_mail_address_ok(good[i]));
	const char *bad[] = {"",
			     "a@b.c\r\nBcc: x@y.z",
			     "a@b.c\nBcc: x@y.z",
			     "a@b.c\r",
			     "a b@example.org",
			     "<a@example.org>",
			     "\"a\"@example.org",
			     "a@example.org>",
			     "a,b@example.org",
			     "a@localhost",
			     "@example.org",
			     "a@",
			     "a@@example.org",
			     "a@b@example.org",
			     ".a@example.org",
			     "a.@example.org",
			     "a..b@example.org",
			     "a@-x.org",
			     "a@x-.org",
			     "a@x..org",
			     "a@.x.org",
			     "a@x.org.",
			     "m\xc3\xbcller@example.org",
			     "a@ex_ample.org",
			     NULL};
	for (int i = 0; bad[i]; i++) {
		if (em_mail_address_ok(bad[i]))
			fail_msg("accepted bad address #%d '%s'", i, bad[i]);
	}
	assert_false(em_mail_address_ok(NULL));
	/* Local part at most 64, the whole at most 254. */
	char local[80];
	memset(local, 'a', 65);
	snprintf(local + 65, sizeof local - 65, "@x.org");
	assert_false(em_mail_address_ok(local));
	local[64] = '\0';
	memset(local, 'a', 64);
	char ok[96];
	snprintf(ok, sizeof ok, "%s@x.org", local);
	assert_true(em_mail_address_ok(ok));
	char longdom[300];
	size_t n = (size_t)snprintf(longdom, sizeof longdom, "a@");
	while (n < 250)
		n += (size_t)snprintf(longdom + n, sizeof longdom - n, "abcdefghi.");
	snprintf(longdom + n, sizeof longdom - n, "org");
	assert_false(em_mail_address_ok(longdom));
}

static void test_subjects(void **state)
{
	assert_true(em_mail_subject_ok("Your chat transcript"));
	assert_true(em_mail_subject_ok("Ihr Gespr\xc3\xa4\x63hsverlauf \xe2\x80\x93 Shop"));
	assert_false(em_mail_subject_ok("Hi\r\nBcc: x@y.z"));
	assert_false(em_mail_subject_ok("Hi\nthere"));
	assert_false(em_mail_subject_ok("Hi\rthere"));
	assert_false(em_mail_subject_ok("bell\a"));
	assert_false(em_mail_subject_ok("del\x7f"));
	assert_false(em_mail_subject_ok("bad \xc3"));	      /* cut sequence */
	assert_false(em_mail_subject_ok("over \xc0\xaf"));    /* overlong "/" */
	assert_false(em_mail_subject_ok("sur \xed\xa0\x80")); /* a surrogate */
	char big[EM_MAIL_SUBJECT_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_false(em_mail_subject_ok(big));
	big[EM_MAIL_SUBJECT_MAX] = '\0';
	assert_true(em_mail_subject_ok(big));
}

/* Decodes one "=?UTF-8?B?...?=" word into out; returns its length or -1. */
static int decode_word(const char *w, size_t n, unsigned char *out, size_t outlen)
{
	if (n < 12 || strncmp(w, "=?UTF-8?B?", 10) || strncmp(w + n - 2, "?=", 2))
		return -1;
	size_t len;
	if (sodium_base642bin(out, outlen, w + 10, n - 12, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL))
		return -1;
	return (int)len;
}

static int valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80		? 1
			   : (c & 0xE0) == 0xC0 ? 2
			   : (c & 0xF0) == 0xE0 ? 3
			   : (c & 0xF8) == 0xF0 ? 4
						: 0;
		if (!k || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static void test_encoded_words(void **state)
{
	em_buf b;
	em_buf_init(&b, 4096);
	assert_int_equal(em_mail_encode_header(&b, "Plain ASCII subject"), 0);
	assert_string_equal(b.data, "Plain ASCII subject");
	em_buf_reset(&b);

	/* "Ihr Gesprächsverlauf – Shop": one word, base64 of the UTF-8 bytes. */
	assert_int_equal(em_mail_encode_header(&b, "Ihr Gespr\xc3\xa4\x63hsverlauf \xe2\x80\x93 Shop"), 0);
	assert_string_equal(b.data, "=?UTF-8?B?SWhyIEdlc3Byw6RjaHN2ZXJsYXVmIOKAkyBTaG9w?=");
	em_buf_reset(&b);

	/* ASCII that looks like an encoded word is encoded itself. */
	assert_int_equal(em_mail_encode_header(&b, "=?x?="), 0);
	assert_non_null(strstr(b.data, "=?UTF-8?B?"));
	em_buf_reset(&b);

	/* A long subject of two-byte characters: several words, each at most
	** 75 characters, folded with CRLF SP, none splitting a character, and
	** together the original text. */
	char text[241];
	for (int i = 0; i < 120; i++) {
		text[2 * i] = (char)0xC3;
		text[2 * i + 1] = (char)0xBC; /* ü */
	}
	text[240] = '\0';
	assert_int_equal(em_mail_encode_header(&b, text), 0);
	unsigned char all[400];
	size_t got = 0;
	int words = 0;
	for (const char *p = b.data;;) {
		const char *fold = strstr(p, "\r\n ");
		size_t n = fold ? (size_t)(fold - p) : strlen(p);
		assert_true(n <= 75);
		unsigned char dec[100];
		int l = decode_word(p, n, dec, sizeof dec);
		assert_true(l > 0);
		assert_true(valid_utf8(dec, (size_t)l));
		memcpy(all + got, dec, (size_t)l);
		got += (size_t)l;
		words++;
		if (!fold)
			break;
		p = fold + 3;
	}
	assert_true(words >= 6);
	assert_int_equal(got, 240);
	assert_memory_equal(all, text, 240);
	em_buf_reset(&b);

	/* A three-byte character at a word's edge is never cut. */
	char dashes[3 * 40 + 2];
	dashes[0] = 'x';
	for (int i = 0; i < 40; i++)
		memcpy(dashes + 1 + 3 * i, "\xe2\x80\x93", 3);
	dashes[121] = '\0';
	assert_int_equal(em_mail_encode_header(&b, dashes), 0);
	const char *fold = strstr(b.data, "\r\n ");
	assert_non_null(fold);
	unsigned char dec[100];
	int l = decode_word(b.data, (size_t)(fold - b.data), dec, sizeof dec);
	assert_true(l > 0 && valid_utf8(dec, (size_t)l));
	em_buf_reset(&b);

	/* Injection attempts are refused, not encoded. */
	assert_int_equal(em_mail_encode_header(&b, "x\r\nBcc: a@b.c"), EM_EINVAL);
	assert_int_equal(em_mail_encode_header(&b, "x\nBcc: a@b.c"), EM_EINVAL);
	em_buf_free(&b);
}

static void test_from(void **state)
{
	char name[256], addr[256];
	assert_int_equal(em_mail_parse_from("emma@localhost", name, sizeof name, addr, sizeof addr), 0);
	assert_string_equal(name, "");
	assert_string_equal(addr, "emma@localhost");
	assert_int_equal(
		em_mail_parse_from("Shop Team <team@shop.example>", name, sizeof name, addr, sizeof addr), 0);
	assert_string_equal(name, "Shop Team");
	assert_string_equal(addr, "team@shop.example");
	assert_int_equal(em_mail_parse_from("\"M\xc3\xbcller, Shop\" <m@shop.example>", name, sizeof name,
					    addr, sizeof addr),
			 0);
	assert_string_equal(name, "M\xc3\xbcller, Shop");
	assert_int_equal(em_mail_parse_from("", name, sizeof name, addr, sizeof addr), EM_EINVAL);
	assert_int_equal(em_mail_parse_from("a@b.c\r\nBcc: x@y.z", name, sizeof name, addr, sizeof addr),
			 EM_EINVAL);
	assert_int_equal(em_mail_parse_from("X\r\nBcc: x@y.z <a@b.c>", name, sizeof name, addr, sizeof addr),
			 EM_EINVAL);
	assert_int_equal(em_mail_parse_from("X <a@b.c", name, sizeof name, addr, sizeof addr), EM_EINVAL);
	assert_int_equal(em_mail_parse_from("X <a@b.c> y", name, sizeof name, addr, sizeof addr), EM_EINVAL);
	assert_int_equal(em_mail_parse_from("X <a b@c.d>", name, sizeof name, addr, sizeof addr), EM_EINVAL);
}

/* Decodes quoted-printable into a new string (LF line ends). */
static char *qp_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			char hex[3] = {s[1], s[2], 0};
			out[o++] = (char)strtol(hex, NULL, 16);
			s += 3;
		} else if (s[0] == '\r' && s[1] == '\n') {
			out[o++] = '\n';
			s += 2;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return out;
}

static void assert_lines_short(const char *s, size_t max)
{
	for (const char *p = s; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		if ((size_t)(e - p) > max)
			fail_msg("line of %zu characters: %.*s", (size_t)(e - p), (int)(e - p), p);
		p = e + 2;
	}
}

static void test_quoted_printable(void **state)
{
	em_buf b;
	em_buf_init(&b, 1 << 16);
	assert_int_equal(em_mail_encode_qp(&b, "Gr\xc3\xbc\xc3\x9f\x65 = ok\n.hidden\n.\ntrail \nend"), 0);
	assert_string_equal(b.data, "Gr=C3=BC=C3=9Fe =3D ok\r\n.hidden\r\n.\r\ntrail=20\r\nend\r\n");
	em_buf_reset(&b);

	/* CRLF input is the same as LF input; a tab at the end is encoded. */
	assert_int_equal(em_mail_encode_qp(&b, "a\r\nb\t\r\n"), 0);
	assert_string_equal(b.data, "a\r\nb=09\r\n");
	em_buf_reset(&b);

	/* Long lines get soft breaks at 76 characters and decode back. */
	char text[2000];
	size_t n = 0;
	for (int i = 0; i < 150; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "%s", i % 3 ? "x" : "\xc3\xa4=");
	text[n++] = '\n';
	for (int i = 0; i < 300; i++)
		text[n++] = 'y';
	text[n] = '\0';
	assert_int_equal(em_mail_encode_qp(&b, text), 0);
	assert_lines_short(b.data, 76);
	for (const unsigned char *p = (const unsigned char *)b.data; *p; p++)
		assert_true(*p < 0x80);
	char *dec = qp_decode(b.data);
	text[n++] = '\n'; /* the encoder ends the last line */
	text[n] = '\0';
	assert_string_equal(dec, text);
	free(dec);
	em_buf_free(&b);
}

static void test_date(void **state)
{
	char d[40];
	em_mail_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	em_mail_date(1767355262123LL, d);
	assert_string_equal(d, "Fri, 02 Jan 2026 12:01:02 +0000");
}

static void test_format(void **state)
{
	char id[160];
	em_mail_message_id("team@shop.example", 1767355262123LL, id, sizeof id);
	assert_non_null(strstr(id, "@shop.example"));
	assert_true(strlen(id) < 100);
	char id2[160];
	em_mail_message_id("team@shop.example", 1767355262123LL, id2, sizeof id2);
	assert_string_not_equal(id, id2);

	char *msg = NULL;
	size_t len = 0;
	int rc = em_mail_format("Shop Team <team@shop.example>", "ada@example.org",
				"Ihr Gespr\xc3\xa4\x63hsverlauf \xe2\x80\x93 Shop",
				"Hallo \xc3\xa4\n.dot\nbye\n", 1767355262123LL, id, &msg, &len);
	assert_int_equal(rc, 0);
	assert_int_equal(len, strlen(msg));
	const char *sep = strstr(msg, "\r\n\r\n");
	assert_non_null(sep);
	size_t hlen = (size_t)(sep - msg) + 2;
	char *head = strndup(msg, hlen);
	assert_true(!strncmp(head, "Date: Fri, 02 Jan 2026 12:01:02 +0000\r\n", 39));
	assert_non_null(strstr(head, "\r\nFrom: \"Shop Team\" <team@shop.example>\r\n"));
	assert_non_null(strstr(head, "\r\nTo: ada@example.org\r\n"));
	assert_non_null(
		strstr(head, "\r\nSubject: =?UTF-8?B?SWhyIEdlc3Byw6RjaHN2ZXJsYXVmIOKAkyBTaG9w?=\r\n"));
	char want[200];
	snprintf(want, sizeof want, "\r\nMessage-ID: <%s>\r\n", id);
	assert_non_null(strstr(head, want));
	assert_non_null(strstr(head, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
	assert_lines_short(head, 78);
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		assert_true(*p < 0x80); /* 7-bit on the wire */
		if (*p == '\n')
			assert_true(p > (const unsigned char *)msg && p[-1] == '\r'); /* no bare LF */
	}
	assert_string_equal(sep + 4, "Hallo =C3=A4\r\n.dot\r\nbye\r\n");
	free(head);
	em_free(msg);

	/* A non-ASCII sender name is an encoded word. */
	rc = em_mail_format("M\xc3\xbcller <m@shop.example>", "ada@example.org", "Hi", "x", 0, id, &msg,
			    &len);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(msg, "\r\nFrom: =?UTF-8?B?TcO8bGxlcg==?= <m@shop.example>\r\n"));
	em_free(msg);

	/* Nothing is made from an injection attempt. */
	msg = NULL;
	assert_int_equal(
		em_mail_format("team@shop.example", "a@b.c\r\nBcc: x@y.z", "Hi", "x", 0, id, &msg, &len),
		EM_EINVAL);
	assert_int_equal(em_mail_format("team@shop.example", "ada@example.org", "Hi\r\nBcc: x@y.z", "x", 0,
					id, &msg, &len),
			 EM_EINVAL);
	assert_int_equal(em_mail_format("team@shop.example\r\nBcc: x@y.z", "ada@example.org", "Hi", "x", 0,
					id, &msg, &len),
			 EM_EINVAL);
	assert_int_equal(em_mail_format("team@shop.example", "ada@example.org", "Hi", "x", 0,
					"a>\r\nBcc: x@y.z", &msg, &len),
			 EM_EINVAL);
	assert_null(msg);

	/* The body has a hard maximum. */
	char *big = malloc(EM_MAIL_BODY_MAX + 2);
	memset(big, 'a', EM_MAIL_BODY_MAX + 1);
	big[EM_MAIL_BODY_MAX + 1] = '\0';
	assert_int_equal(em_mail_format("team@shop.example", "ada@example.org", "Hi", big, 0, id, &msg, &len),
			 EM_ETOOBIG);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),	 cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_encoded_words),	 cmocka_unit_test(test_from),
		cmocka_unit_test(test_quoted_printable), cmocka_unit_test(test_date),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
