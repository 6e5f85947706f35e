/*
** Unit tests for src/crm/auth.c and the pure helpers of src/crm/operators.c:
** password hashing, keyed token hashes, the CSRF comparison, bearer parsing,
** the login rate limiter (its bound and eviction above all) and the shape
** checks on operator input.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/err.h"
#include "crm/auth.h"
#include "crm/operators.h"

static int setup(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

/* ---- Passwords --------------------------------------------------------- */

static void test_password_hash_verify(void **state)
{
	char h1[EM_AUTH_PWHASH_MAX], h2[EM_AUTH_PWHASH_MAX];
	assert_int_equal(em_auth_password_hash("correct horse battery", h1, sizeof h1), 0);
	assert_true(strncmp(h1, "$argon2id$", 10) == 0);
	assert_int_equal(em_auth_password_verify(h1, "correct horse battery"), 0);
	assert_int_equal(em_auth_password_verify(h1, "correct horse batterY"), EM_EAUTH);
	assert_int_equal(em_auth_password_verify(h1, ""), EM_EAUTH);
	/* A fresh salt each time: equal passwords do not give equal hashes. */
	assert_int_equal(em_auth_password_hash("correct horse battery", h2, sizeof h2), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(em_auth_password_verify(h2, "correct horse battery"), 0);
}

static void test_password_hash_small_buffer(void **state)
{
	char small[16];
	assert_int_equal(em_auth_password_hash("whatever-long", small, sizeof small), EM_EINVAL);
}

static void test_password_verify_garbage_hash(void **state)
{
	assert_int_equal(em_auth_password_verify("", "x"), EM_EAUTH);
	assert_int_equal(em_auth_password_verify("$argon2id$nonsense", "x"), EM_EAUTH);
}

static void test_random_password(void **state)
{
	char a[32], b[32];
	em_auth_random_password(a, sizeof a, 16);
	em_auth_random_password(b, sizeof b, 16);
	assert_int_equal(strlen(a), 16);
	assert_string_not_equal(a, b);
	for (const char *p = a; *p; p++)
		assert_null(strchr("0O1lI", *p));
	/* len is cut to fit the buffer. */
	char tiny[5];
	em_auth_random_password(tiny, sizeof tiny, 16);
	assert_int_equal(strlen(tiny), 4);
}

/* ---- Token hashes -------------------------------------------------------- */

static void test_token_hash_keyed(void **state)
{
	unsigned char k1[EM_AUTH_KEYBYTES], k2[EM_AUTH_KEYBYTES];
	memset(k1, 1, sizeof k1);
	memset(k2, 2, sizeof k2);
	char a[EM_AUTH_HASHHEX], b[EM_AUTH_HASHHEX], c[EM_AUTH_HASHHEX], d[EM_AUTH_HASHHEX];
	em_auth_token_hash(k1, "emt_secret", a);
	em_auth_token_hash(k1, "emt_secret", b);
	em_auth_token_hash(k2, "emt_secret", c);
	em_auth_token_hash(k1, "emt_secreT", d);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_equal(a, b);     /* deterministic, so it can be looked up */
	assert_string_not_equal(a, c); /* depends on the server key */
	assert_string_not_equal(a, d);
	/* Never the secret itself. */
	assert_null(strstr(a, "secret"));
}

/* ---- CSRF ---------------------------------------------------------------- */

static void test_csrf_equal(void **state)
{
	assert_true(em_auth_csrf_equal("abcdef", "abcdef"));
	assert_false(em_auth_csrf_equal("abcdef", "abcdeg"));
	assert_false(em_auth_csrf_equal("abcdef", "abcde"));
	assert_false(em_auth_csrf_equal("abcdef", "abcdefg"));
	assert_false(em_auth_csrf_equal("abcdef", ""));
	assert_false(em_auth_csrf_equal("abcdef", NULL));
	/* A session without a token must never match an empty header. */
	assert_false(em_auth_csrf_equal("", ""));
	assert_false(em_auth_csrf_equal(NULL, NULL));
}

/* ---- Bearer -------------------------------------------------------------- */

static void test_bearer(void **state)
{
	assert_string_equal(em_auth_bearer("Bearer emt_abc"), "emt_abc");
	assert_string_equal(em_auth_bearer("bearer   emt_abc"), "emt_abc");
	assert_string_equal(em_auth_bearer("  BEARER\temt_abc"), "emt_abc");
	assert_null(em_auth_bearer(NULL));
	assert_null(em_auth_bearer("Basic dXNlcjpwdw=="));
	assert_null(em_auth_bearer("Bearer"));
	assert_null(em_auth_bearer("Bearer "));
	assert_null(em_auth_bearer("Beareremt_abc"));
	assert_null(em_auth_bearer("Bearer emt_abc extra"));
	char longtok[300];
	memset(longtok, 'a', sizeof longtok);
	memcpy(longtok, "Bearer ", 7);
	longtok[sizeof longtok - 1] = '\0';
	assert_null(em_auth_bearer(longtok));
}

/* ---- Rate limiter -------------------------------------------------------- */

static void test_ratelimit_blocks_after_max(void **state)
{
	em_ratelimit *rl = em_ratelimit_new(100, 3, 60000);
	int64_t t = 1000000;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(em_ratelimit_blocked(rl, "i:1.2.3.4", t), 0);
		em_ratelimit_hit(rl, "i:1.2.3.4", t);
	}
	/* Window began at t: 60 s to wait. */
	assert_int_equal(em_ratelimit_blocked(rl, "i:1.2.3.4", t), 60);
	assert_int_equal(em_ratelimit_blocked(rl, "i:1.2.3.4", t + 59500), 1);
	/* Other keys are not affected. */
	assert_int_equal(em_ratelimit_blocked(rl, "i:5.6.7.8", t), 0);
	/* A new window after a minute. */
	assert_int_equal(em_ratelimit_blocked(rl, "i:1.2.3.4", t + 60000), 0);
	em_ratelimit_hit(rl, "i:1.2.3.4", t + 60000);
	assert_int_equal(em_ratelimit_blocked(rl, "i:1.2.3.4", t + 60000), 0);
	em_ratelimit_free(rl);
}

static void test_ratelimit_forgive(void **state)
{
	em_ratelimit *rl = em_ratelimit_new(100, 2, 60000);
	em_ratelimit_hit(rl, "e:a@b", 0);
	em_ratelimit_hit(rl, "e:a@b", 0);
	assert_true(em_ratelimit_blocked(rl, "e:a@b", 1) > 0);
	em_ratelimit_forgive(rl, "e:a@b");
	assert_int_equal(em_ratelimit_blocked(rl, "e:a@b", 1), 0);
	/* Forgiving below zero or an unknown key is harmless. */
	em_ratelimit_forgive(rl, "e:a@b");
	em_ratelimit_forgive(rl, "e:a@b");
	em_ratelimit_forgive(rl, "e:nobody");
	em_ratelimit_hit(rl, "e:a@b", 2);
	assert_int_equal(em_ratelimit_blocked(rl, "e:a@b", 3), 0);
	em_ratelimit_free(rl);
}

static void test_ratelimit_bounded_evicts_oldest(void **state)
{
	enum { CAP = 64 };
	em_ratelimit *rl = em_ratelimit_new(CAP, 1, 60000);
	char key[32];
	/* Key k0 blocked at t=0, then many more keys, each starting later. */
	for (int i = 0; i < CAP; i++) {
		snprintf(key, sizeof key, "k%d", i);
		em_ratelimit_hit(rl, key, i);
	}
	assert_int_equal(em_ratelimit_size(rl), CAP);
	assert_true(em_ratelimit_blocked(rl, "k0", CAP) > 0);
	/* Refresh k1's window: it becomes the newest, so k2 is now second oldest. */
	em_ratelimit_hit(rl, "k1", 70000);
	for (int i = CAP; i < CAP + 2; i++) {
		snprintf(key, sizeof key, "k%d", i);
		em_ratelimit_hit(rl, key, 70000 + i);
	}
	/* Never more than CAP keys: k0 and k2 (oldest windows) went first. */
	assert_int_equal(em_ratelimit_size(rl), CAP);
	assert_int_equal(em_ratelimit_blocked(rl, "k0", 70100), 0);
	assert_int_equal(em_ratelimit_blocked(rl, "k2", 70100), 0);
	assert_true(em_ratelimit_blocked(rl, "k1", 70100) > 0);
	assert_true(em_ratelimit_blocked(rl, "k65", 70100) > 0);
	/* Many more: the size stays at the cap. */
	for (int i = 0; i < 10 * CAP; i++) {
		snprintf(key, sizeof key, "x%d", i);
		em_ratelimit_hit(rl, key, 80000 + i);
	}
	assert_int_equal(em_ratelimit_size(rl), CAP);
	em_ratelimit_free(rl);
}

/* ---- Operator input ------------------------------------------------------ */

static void test_email_valid(void **state)
{
	assert_true(em_operator_email_valid("admin@localhost"));
	assert_true(em_operator_email_valid("a.b+c@example.co.uk"));
	assert_false(em_operator_email_valid(NULL));
	assert_false(em_operator_email_valid(""));
	assert_false(em_operator_email_valid("plain"));
	assert_false(em_operator_email_valid("@example.com"));
	assert_false(em_operator_email_valid("a@"));
	assert_false(em_operator_email_valid("a@@b"));
	assert_false(em_operator_email_valid("a@b@c"));
	assert_false(em_operator_email_valid("a b@c.de"));
	assert_false(em_operator_email_valid("a@c..de"));
	assert_false(em_operator_email_valid("a@.de"));
	assert_false(em_operator_email_valid("a@de."));
	assert_false(em_operator_email_valid("<a>@de"));
	assert_false(em_operator_email_valid("a@d_e"));
	char longer[300];
	memset(longer, 'a', sizeof longer);
	memcpy(longer + 200, "@example.com", 13);
	assert_false(em_operator_email_valid(longer)); /* local part > 64 */
}

static void test_email_normalize_and_role(void **state)
{
	char out[64];
	em_operator_email_normalize("Anna.Smith@Example.COM", out, sizeof out);
	assert_string_equal(out, "anna.smith@example.com");
	em_operator_email_normalize("ABCDEF", out, 4);
	assert_string_equal(out, "abc");
	assert_int_equal(em_operator_role_parse("admin"), EM_ROLE_ADMIN);
	assert_int_equal(em_operator_role_parse("agent"), EM_ROLE_AGENT);
	assert_int_equal(em_operator_role_parse("Admin"), -1);
	assert_int_equal(em_operator_role_parse(NULL), -1);
	assert_string_equal(em_operator_role_name(EM_ROLE_ADMIN), "admin");
	assert_string_equal(em_operator_role_name(EM_ROLE_AGENT), "agent");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash_verify),
		cmocka_unit_test(test_password_hash_small_buffer),
		cmocka_unit_test(test_password_verify_garbage_hash),
		cmocka_unit_test(test_random_password),
		cmocka_unit_test(test_token_hash_keyed),
		cmocka_unit_test(test_csrf_equal),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_ratelimit_blocks_after_max),
		cmocka_unit_test(test_ratelimit_forgive),
		cmocka_unit_test(test_ratelimit_bounded_evicts_oldest),
		cmocka_unit_test(test_email_valid),
		cmocka_unit_test(test_email_normalize_and_role),
	};
	return cmocka_run_group_tests_name("auth", tests, setup, NULL);
}
