/*
** Unit tests for the pure parts of src/track/sites.c: site keys, allowed
** domain validation, and which page origins an allowed-domains list admits.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "track/sites.h"

static void test_keys(void **state)
{
	assert_true(em_sites_key_valid("default"));
	assert_true(em_sites_key_valid("shop_2-de"));
	assert_true(em_sites_key_valid("a"));
	char k[70];
	memset(k, 'k', sizeof k);
	k[64] = '\0';
	assert_true(em_sites_key_valid(k));
	k[64] = 'k';
	k[65] = '\0';
	assert_false(em_sites_key_valid(k));
	assert_false(em_sites_key_valid(""));
	assert_false(em_sites_key_valid("Shop"));
	assert_false(em_sites_key_valid("shop 2"));
	assert_false(em_sites_key_valid("shop.de"));
	assert_false(em_sites_key_valid("sh\xc3\xb6p"));
}

static void ok(const char *in, const char *want)
{
	char out[EM_SITE_DOMAIN_MAX + 1];
	const char *why = NULL;
	assert_int_equal(em_sites_domain_check(in, out, sizeof out, &why), 0);
	assert_string_equal(out, want);
}

static void bad(const char *in)
{
	char out[EM_SITE_DOMAIN_MAX + 1];
	const char *why = NULL;
	assert_int_equal(em_sites_domain_check(in, out, sizeof out, &why), EM_EINVAL);
	assert_non_null(why);
}

static void test_domains(void **state)
{
	ok("shop.example", "shop.example");
	ok("Shop.Example.COM", "shop.example.com");
	ok("*.shop.example", "*.shop.example");
	ok("localhost", "localhost");
	ok("127.0.0.1", "127.0.0.1");
	ok("xn--bcher-kva.example", "xn--bcher-kva.example");
	bad("");
	bad("*.");
	bad("*");
	bad("https://shop.example");
	bad("shop.example:8080");
	bad("shop.example/");
	bad("user@shop.example");
	bad("a.*.example");
	bad("**.example");
	bad(".shop.example");
	bad("shop.example.");
	bad("shop..example");
	bad("-shop.example");
	bad("shop-.example");
	bad("shop_1.example");
	bad("sh\xc3\xb6p.example");
	bad("shop example");
	char label[80];
	memset(label, 'a', 64);
	snprintf(label + 64, sizeof label - 64, ".example");
	bad(label);
	char longname[300];
	for (int i = 0; i < 260; i += 2)
		memcpy(longname + i, "a.", 2);
	longname[259] = 'a';
	longname[260] = '\0';
	bad(longname);
}

static void test_origins(void **state)
{
	em_site s;
	memset(&s, 0, sizeof s);
	/* No list: any page, even without an Origin. */
	assert_true(em_sites_origin_allowed(&s, NULL));
	assert_true(em_sites_origin_allowed(&s, "https://anything.example"));

	snprintf(s.allowed_domains, sizeof s.allowed_domains, "shop.example,*.cdn.example");
	assert_true(em_sites_origin_allowed(&s, "https://shop.example"));
	assert_true(em_sites_origin_allowed(&s, "https://SHOP.example:8443"));
	assert_true(em_sites_origin_allowed(&s, "https://shop.example/page?x=1")); /* a Referer */
	assert_true(em_sites_origin_allowed(&s, "shop.example"));
	assert_false(em_sites_origin_allowed(&s, "https://www.shop.example"));
	assert_false(em_sites_origin_allowed(&s, "https://evilshop.example"));
	assert_false(em_sites_origin_allowed(&s, "https://shop.example.evil.example"));
	assert_true(em_sites_origin_allowed(&s, "https://a.cdn.example"));
	assert_true(em_sites_origin_allowed(&s, "https://a.b.cdn.example"));
	/* The wildcard is for subdomains only. */
	assert_false(em_sites_origin_allowed(&s, "https://cdn.example"));
	assert_false(em_sites_origin_allowed(&s, "https://xcdn.example"));
	assert_false(em_sites_origin_allowed(&s, NULL));
	assert_false(em_sites_origin_allowed(&s, "null"));

	/* The older form with a leading dot: the host and its subdomains. */
	snprintf(s.allowed_domains, sizeof s.allowed_domains, ".old.example");
	assert_true(em_sites_origin_allowed(&s, "https://old.example"));
	assert_true(em_sites_origin_allowed(&s, "https://www.old.example"));
	assert_false(em_sites_origin_allowed(&s, "https://gold.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_origins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
