/*
** Random opaque identifiers and tokens (libsodium's randombytes).
*/
#ifndef EM_IDS_H
#define EM_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Writes a random token of `bytes` random bytes as lowercase base32 into out
** (out needs bytes*8/5 + 2 characters). */
void em_id_random(char *out, size_t outlen, size_t bytes);
/* Writes a time-ordered token of 16 characters from the same alphabet: 8
** characters for the time `ms` (milliseconds since the epoch) counted in
** hundredths of a second, until the year 2318, with the characters ordered
** so that they sort like the numbers; then 8 characters from the 5 bytes in
** rnd (40 random bits). Tokens made in a later hundredth of a second sort
** after earlier ones, so an index over them grows at its end. out needs 17 characters. */
void em_id_timed(char out[17], int64_t ms, const unsigned char rnd[5]);
/* n random bytes (for em_id_timed; one call for many tokens). */
void em_id_random_bytes(unsigned char *out, size_t n);
/* Hex helpers. */
void em_hex(const unsigned char *in, size_t n, char *out);

#endif
