/*
** Wall-clock and monotonic time in milliseconds.
*/
#ifndef EM_CLOCK_H
#define EM_CLOCK_H

#include <stdint.h>
#include <stddef.h>

int64_t em_now_ms(void);	/* UTC wall clock, ms since the epoch */
uint64_t em_mono_ms(void); /* monotonic, for timeouts and latency */
uint64_t em_mono_us(void);
/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-23T12:00:00.000Z"). */
void em_rfc3339(int64_t ms, char out[32]);

#endif
