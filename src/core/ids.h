/*
** Random opaque identifiers and tokens (libsodium's randombytes).
*/
#ifndef EM_IDS_H
#define EM_IDS_H

#include <stddef.h>

/* Writes a random token of `bytes` random bytes as lowercase base32 into out
** (out needs bytes*8/5 + 2 characters). */
void em_id_random(char *out, size_t outlen, size_t bytes);
/* Hex helpers. */
void em_hex(const unsigned char *in, size_t n, char *out);

#endif
