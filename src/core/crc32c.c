/*
** CRC-32C (see crc32c.h).
*/
#include "core/crc32c.h"

#include <string.h>

#define POLY 0x82f63b78u /* 0x1edc6f41 reflected */

static uint32_t table[256];

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[i] = c;
	}
}

uint32_t em_crc32c_sw(uint32_t crc, const void *data, size_t n)
{
	/* Idempotent and racing threads write the same values. */
	if (!table[1])
		make_table();
	const unsigned char *p = data;
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t hw(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* x86 reads unaligned words */
		c = __builtin_ia32_crc32di(c, w);
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}

uint32_t em_crc32c(uint32_t crc, const void *data, size_t n)
{
	/* A load of what libgcc found out at start-up. */
	return __builtin_cpu_supports("sse4.2") ? hw(crc, data, n) : em_crc32c_sw(crc, data, n);
}
#else
uint32_t em_crc32c(uint32_t crc, const void *data, size_t n)
{
	return em_crc32c_sw(crc, data, n);
}
#endif
