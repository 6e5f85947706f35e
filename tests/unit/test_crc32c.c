/*
** Unit tests for src/core/crc32c.c: the published check values of CRC-32C,
** the processor's result equal to the table's on every length and
** alignment, and a CRC continued over pieces equal to the CRC of the whole.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc32c.h"

static void test_check_values(void **state)
{
	/* The catalogue's check value, and RFC 3720's (iSCSI) examples. */
	assert_int_equal(em_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(em_crc32c_sw(0, "123456789", 9), 0xe3069283);
	unsigned char b[32];
	memset(b, 0, sizeof b);
	assert_int_equal(em_crc32c(0, b, 32), 0x8a9136aa);
	memset(b, 0xff, sizeof b);
	assert_int_equal(em_crc32c(0, b, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(em_crc32c(0, b, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	assert_int_equal(em_crc32c(0, b, 32), 0x113fdb5c);
	assert_int_equal(em_crc32c(0, "", 0), 0);
}

static void test_processor_equals_table(void **state)
{
	unsigned char b[600];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof b; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= sizeof b; n += n < 40 ? 1 : 37)
			assert_int_equal(em_crc32c(0, b + off, n), em_crc32c_sw(0, b + off, n));
}

static void test_continues_over_pieces(void **state)
{
	const char *s = "The quick brown fox jumps over the lazy dog, twice over and then some.";
	size_t n = strlen(s);
	uint32_t whole = em_crc32c(0, s, n);
	for (size_t cut = 0; cut <= n; cut++) {
		assert_int_equal(em_crc32c(em_crc32c(0, s, cut), s + cut, n - cut), whole);
		assert_int_equal(em_crc32c_sw(em_crc32c_sw(0, s, cut), s + cut, n - cut), whole);
	}
	assert_int_not_equal(em_crc32c(0, s, n - 1), whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_values),
		cmocka_unit_test(test_processor_equals_table),
		cmocka_unit_test(test_continues_over_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
