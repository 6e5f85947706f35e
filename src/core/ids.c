/*
** Random identifiers (see ids.h).
*/
#include "core/ids.h"

#include <sodium.h>

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

void em_id_random(char *out, size_t outlen, size_t bytes)
{
	unsigned char raw[64];
	if (bytes > sizeof raw)
		bytes = sizeof raw;
	randombytes_buf(raw, bytes);
	size_t j = 0;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < bytes && j + 1 < outlen; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5 && j + 1 < outlen) {
			out[j++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0 && j + 1 < outlen)
		out[j++] = b32[(acc << (5 - bits)) & 31];
	out[j] = '\0';
}

void em_id_timed(char out[17], int64_t ms, const unsigned char rnd[5])
{
	/* The same 32 characters, in ASCII order. */
	static const char sorted[] = "234567abcdefghijklmnopqrstuvwxyz";
	uint64_t t = ms > 0 ? (uint64_t)ms / 10 : 0;
	for (int i = 7; i >= 0; i--, t >>= 5)
		out[i] = sorted[t & 31];
	uint64_t r = 0;
	for (int i = 0; i < 5; i++)
		r = (r << 8) | rnd[i];
	for (int i = 15; i >= 8; i--, r >>= 5)
		out[i] = b32[r & 31];
	out[16] = '\0';
}

void em_id_random_bytes(unsigned char *out, size_t n)
{
	randombytes_buf(out, n);
}

void em_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}
