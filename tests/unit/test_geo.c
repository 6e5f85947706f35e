/*
** Unit tests for src/track/geo.c: country lookups through libmaxminddb.
**
** tests/unit/data/geo/test.mmdb is written by tests/e2e/lib/mmdb.mjs (run it
** as a script to regenerate): 203.0.113.0/24 -> DE, 198.51.100.0/24 has
** only a registered country AT with 198.51.100.128/25 -> CH inside it,
** 2001:db8::/32 -> FR, and 192.0.2.0/24 carries a malformed code.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "track/geo.h"

#define FIXTURE "tests/unit/data/geo/test.mmdb"

static int open_fixture(void **state)
{
	char err[256] = "";
	if (em_geo_open(FIXTURE, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int close_db(void **state)
{
	em_geo_close();
	return 0;
}

static void test_off_finds_nothing(void **state)
{
	char cc[3] = "zz", err[64] = "";
	em_geo_close();
	assert_int_equal(em_geo_open("", err, sizeof err), 0);
	assert_int_equal(em_geo_open(NULL, err, sizeof err), 0);
	assert_false(em_geo_enabled());
	assert_int_equal(em_geo_country("203.0.113.7", cc), 0);
	assert_string_equal(cc, "");
}

static void test_open_errors_name_the_file(void **state)
{
	char err[256] = "";
	assert_int_equal(em_geo_open("/nonexistent/geo.mmdb", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "track.geoip_db: /nonexistent/geo.mmdb: "));
	assert_false(em_geo_enabled());
	/* A file that is not a MaxMind DB. */
	err[0] = '\0';
	assert_int_equal(em_geo_open("tests/unit/test_geo.c", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "tests/unit/test_geo.c"));
	assert_false(em_geo_enabled());
}

static void test_ipv4_country(void **state)
{
	char cc[3];
	assert_true(em_geo_enabled());
	assert_int_equal(em_geo_country("203.0.113.7", cc), 1);
	assert_string_equal(cc, "DE");
	assert_int_equal(em_geo_country("203.0.113.255", cc), 1);
	assert_string_equal(cc, "DE");
	/* Just outside the /24. */
	assert_int_equal(em_geo_country("203.0.114.1", cc), 0);
	assert_string_equal(cc, "");
	assert_int_equal(em_geo_country("203.0.112.255", cc), 0);
}

static void test_more_specific_and_registered(void **state)
{
	char cc[3];
	/* The /25 inside the /24 has its own country... */
	assert_int_equal(em_geo_country("198.51.100.200", cc), 1);
	assert_string_equal(cc, "CH");
	/* ...the rest of the /24 only a registered country, used as fallback. */
	assert_int_equal(em_geo_country("198.51.100.3", cc), 1);
	assert_string_equal(cc, "AT");
}

static void test_ipv6_and_mapped(void **state)
{
	char cc[3];
	assert_int_equal(em_geo_country("2001:db8::1", cc), 1);
	assert_string_equal(cc, "FR");
	assert_int_equal(em_geo_country("2001:db9::1", cc), 0);
	/* An IPv4 address written as IPv6 (::a.b.c.d) finds the IPv4 network. */
	assert_int_equal(em_geo_country("::203.0.113.9", cc), 1);
	assert_string_equal(cc, "DE");
}

static void test_bad_input_and_bad_codes(void **state)
{
	char cc[3] = "zz";
	assert_int_equal(em_geo_country("", cc), 0);
	assert_int_equal(em_geo_country(NULL, cc), 0);
	assert_int_equal(em_geo_country("not an ip", cc), 0);
	assert_int_equal(em_geo_country("203.0.113.0/24", cc), 0);
	assert_int_equal(em_geo_country("203.0.113", cc), 0);
	/* A three-letter "code" in the data is not a country. */
	assert_int_equal(em_geo_country("192.0.2.1", cc), 0);
	assert_string_equal(cc, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_finds_nothing),
		cmocka_unit_test(test_open_errors_name_the_file),
		cmocka_unit_test_setup_teardown(test_ipv4_country, open_fixture, close_db),
		cmocka_unit_test_setup_teardown(test_more_specific_and_registered, open_fixture, close_db),
		cmocka_unit_test_setup_teardown(test_ipv6_and_mapped, open_fixture, close_db),
		cmocka_unit_test_setup_teardown(test_bad_input_and_bad_codes, open_fixture, close_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
