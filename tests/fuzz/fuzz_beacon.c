/*
** libFuzzer target: tracker batches through em_beacon_parse (POST /t).
**
** Whatever the body, the parser either accepts a batch that keeps every
** promise the sessionizer relies on, or rejects it with a status, a code and
** a message a person can read:
**   - accepted: 1 to EM_TRACK_MAX_EVENTS events of a known type, times
**     clamped to [now - 1 day, now], page views with a URL that is absolute
**     http(s) or a path, strings within their limits, a site key and a vid
**     of the allowed characters (or none);
**   - rejected: 400 (not JSON), 413 (too large) or 422 (a field), with a
**     field path of the form "site", "events" or "events[N].key".
** And the fast reader (page views and pings without jansson) agrees with the
** general one on every batch it takes: the same site, vid and events.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "track/beacon.h"
#include "track/event.h"

#define NOW_MS 1800000000000LL
#define DAY_MS (24LL * 3600 * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t max)
{
	if (s && strlen(s) > max)
		abort();
}

static int url_ok(const char *u)
{
	return !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8) || u[0] == '/';
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void compare_readers(const uint8_t *data, size_t size)
{
	em_track_batch *f = em_track_batch_new(), *g = em_track_batch_new();
	em_beacon_error err;
	if (em_beacon_parse_fast((const char *)data, size, NOW_MS, f)) {
		if (em_beacon_parse_json((const char *)data, size, NOW_MS, g, &err))
			abort(); /* the fast reader took what the general one refuses */
		if (strcmp(f->site_key, g->site_key) || strcmp(f->vid, g->vid) || f->nevents != g->nevents)
			abort();
		for (int i = 0; i < f->nevents; i++) {
			const em_track_event *x = &f->events[i], *y = &g->events[i];
			if (x->type != y->type || x->ts_ms != y->ts_ms || x->active_s != y->active_s ||
			    !same(x->url, y->url) || !same(x->title, y->title) || !same(x->ref, y->ref) ||
			    !same(x->name, y->name) || !same(x->data, y->data) || x->total != y->total ||
			    x->amount != y->amount || x->cart_action != y->cart_action ||
			    x->granted != y->granted)
				abort();
		}
	}
	em_track_batch_free(f);
	em_track_batch_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	compare_readers(data, size);
	em_track_batch *b = em_track_batch_new();
	em_beacon_error err;
	int rc = em_beacon_parse((const char *)data, size, NOW_MS, b, &err);
	if (rc) {
		if (rc != EM_EINVAL || (err.status != 400 && err.status != 413 && err.status != 422))
			abort();
		if (!err.code[0] || !err.message[0] || !memchr(err.message, '\0', sizeof err.message))
			abort();
		if (err.status == 422 && err.field[0] && strcmp(err.field, "site") &&
		    strcmp(err.field, "vid") && strcmp(err.field, "events") &&
		    strncmp(err.field, "events[", 7))
			abort();
		em_track_batch_free(b);
		return 0;
	}
	if (b->nevents < 1 || b->nevents > EM_TRACK_MAX_EVENTS || !b->site_key[0])
		abort();
	if (b->vid[0] && !em_beacon_vid_ok(b->vid))
		abort();
	for (int i = 0; i < b->nevents; i++) {
		const em_track_event *e = &b->events[i];
		if (e->type < EM_EV_PAGEVIEW || e->type > EM_EV_CONSENT)
			abort();
		if (e->ts_ms > NOW_MS || e->ts_ms < NOW_MS - DAY_MS)
			abort();
		if (e->type == EM_EV_PAGEVIEW && !e->url)
			abort();
		if (e->url && !url_ok(e->url))
			abort();
		check_str(e->url, 2048);
		check_str(e->title, 512);
		check_str(e->ref, 2048);
		check_str(e->data, 16384);
		if (e->type == EM_EV_CART && (e->cart_action < 1 || e->cart_action > 3))
			abort();
		if (e->type == EM_EV_PING && (e->active_s < 0 || e->active_s > 3600))
			abort();
	}
	em_track_batch_free(b);
	return 0;
}
