/*
** Validation of tracker batches (DESIGN.md §5, Tracking):
**   {"site":KEY,"vid":ID?,"events":[EVENT,...]}
** A batch is accepted whole or rejected whole; the error names the field
** ("events[2].url") and what was wrong.
*/
#ifndef EM_BEACON_H
#define EM_BEACON_H

#include <stddef.h>
#include <stdint.h>

#include "track/event.h"

#define EM_BEACON_MAX_BYTES (64 * 1024)
#define EM_BEACON_URL_MAX 2048 /* url and ref */
#define EM_BEACON_TITLE_MAX 512
#define EM_BEACON_TS_MAX 9e15 /* largest ts taken, in ms */

typedef struct em_beacon_error {
	int status;    /* 400, 413 or 422 */
	char code[32]; /* invalid_json, invalid_field, too_large */
	char message[256];
	char field[64];
} em_beacon_error;

/* Parses and validates body into b (site_key, vid and events). now_ms clamps
** event times. Returns 0, or EM_EINVAL with err filled. */
int em_beacon_parse(const char *body, size_t len, int64_t now_ms, em_track_batch *b, em_beacon_error *err);

/* The two ways em_beacon_parse reads a body. The fast reader takes only
** batches of page views and pings in the shape emma.js sends, straight into
** b, and returns 1; for anything else it returns 0 having changed b, and
** em_beacon_parse starts over with the general reader (jansson), which gives
** every answer and error. Public for the fuzz target that compares them. */
int em_beacon_parse_fast(const char *body, size_t len, int64_t now_ms, em_track_batch *b);
int em_beacon_parse_json(const char *body, size_t len, int64_t now_ms, em_track_batch *b,
			 em_beacon_error *err);

/* Rules both readers share: a URL is absolute http(s) or a path; an event's
** time (ms, or < 0 when the batch gave none) is the server's clock at most
** and a day before it at least. */
int em_beacon_url_ok(const char *u);
int64_t em_beacon_event_time(double ts, int64_t now_ms);

/* Checks a visitor id: 1..63 characters of [A-Za-z0-9_-]. */
int em_beacon_vid_ok(const char *vid);

#endif
