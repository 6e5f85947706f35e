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

void em_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}
