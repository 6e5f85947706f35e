/*
** Ingest (see ingest.h).
**
** Everything here runs on the loop thread except the store function, which
** runs on the writer thread inside a group commit. The rate limiter is a
** fixed-size table of token buckets keyed by client IP; when it fills up it
** starts afresh, which can only ever let a client through, never block one
** wrongly.
*/
#include "track/ingest.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "live/invite.h"
#include "kb/kb.h"
#include "live/presence.h"
#include "store/store.h"
#include "track/geo.h"
#include "track/sessionizer.h"
#include "track/useragent.h"

#define RL_SLOTS 65536u /* power of two */

typedef struct bucket {
	char ip[46];
	double tokens;
	int64_t at_ms;
} bucket;

static bucket *buckets;
static unsigned buckets_used;
static unsigned char secret[32];
static em_ingest_stats stats;

em_ingest_stats *em_ingest_stats_get(void)
{
	return &stats;
}

/* ---- Start-up ------------------------------------------------------- */

typedef struct secret_ctx {
	char hex[65];
	int found;
} secret_ctx;

static int secret_read(em_db *db, void *arg)
{
	secret_ctx *x = arg;
	em_stmt *st = em_db_prepare(db, "SELECT value FROM setting WHERE key = 'track.secret'", "");
	if (!st)
		return EM_EIO;
	if (em_stmt_step(st) == 1) {
		snprintf(x->hex, sizeof x->hex, "%s", em_stmt_text(st, 0));
		x->found = 1;
	}
	em_stmt_done(st);
	return 0;
}

static int secret_write(em_db *db, void *arg)
{
	secret_ctx *x = arg;
	return em_db_exec(
		db,
		"INSERT INTO setting (key, value) VALUES ('track.secret', ?) ON CONFLICT (key) DO NOTHING",
		"t", x->hex);
}

static int load_secret(em_store *s)
{
	secret_ctx x = {{0}, 0};
	int rc = em_store_read_sync(s, secret_read, &x);
	if (rc)
		return rc;
	if (!x.found) {
		randombytes_buf(secret, sizeof secret);
		em_hex(secret, sizeof secret, x.hex);
		if ((rc = em_store_write_sync(s, secret_write, &x)))
			return rc;
		/* Another process may have won the race: read what is stored. */
		if ((rc = em_store_read_sync(s, secret_read, &x)))
			return rc;
	}
	size_t bin_len = 0;
	if (sodium_hex2bin(secret, sizeof secret, x.hex, strlen(x.hex), NULL, &bin_len, NULL) ||
	    bin_len != 32)
		return EM_ECORRUPT;
	return 0;
}

int em_ingest_init_offline(em_store *store, char *err, size_t errlen)
{
	int rc;
	if ((rc = em_sites_load(store))) {
		snprintf(err, errlen, "cannot load sites: %s", em_strerror(rc));
		return rc;
	}
	if ((rc = load_secret(store))) {
		snprintf(err, errlen, "cannot load the tracking secret: %s", em_strerror(rc));
		return rc;
	}
	return em_ua_init(err, errlen);
}

int em_ingest_init(em_app *app, char *err, size_t errlen)
{
	int rc;
	if ((rc = em_geo_open(app->cfg.geoip_db, err, errlen)) ||
	    (rc = em_ingest_init_offline(app->store, err, errlen)))
		return rc;
	buckets = em_calloc(RL_SLOTS, sizeof *buckets);
	em_presence_init(app->cfg.live_timeout_s);
	if ((rc = em_presence_rebuild(app->store))) {
		snprintf(err, errlen, "cannot restore live visitors: %s", em_strerror(rc));
		return rc;
	}
	return em_invite_init(app, err, errlen);
}

void em_ingest_shutdown(void)
{
	em_invite_shutdown();
	em_presence_shutdown();
	em_geo_close();
	em_ua_shutdown();
	em_sites_free();
	em_free(buckets);
	buckets = NULL;
	buckets_used = 0;
}

/* ---- Rate limit ----------------------------------------------------- */

int em_ingest_rate_check(em_app *app, const char *ip, int64_t now_ms)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = ip; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	unsigned i = (unsigned)h & (RL_SLOTS - 1);
	bucket *b = NULL;
	for (unsigned probe = 0; probe < 16; probe++) {
		bucket *c = &buckets[(i + probe) & (RL_SLOTS - 1)];
		if (!c->ip[0] || !strcmp(c->ip, ip)) {
			b = c;
			break;
		}
	}
	if (!b || buckets_used > RL_SLOTS / 2) {
		memset(buckets, 0, sizeof *buckets * RL_SLOTS);
		buckets_used = 0;
		b = &buckets[i];
	}
	double rate = app->cfg.track_rate_per_s, burst = app->cfg.track_rate_burst;
	if (!b->ip[0]) {
		snprintf(b->ip, sizeof b->ip, "%s", ip);
		b->tokens = burst;
		b->at_ms = now_ms;
		buckets_used++;
	}
	b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at_ms = now_ms;
	if (b->tokens < 1) {
		stats.rate_limited++;
		int wait = (int)((1 - b->tokens) / rate) + 1;
		return wait;
	}
	b->tokens -= 1;
	return 0;
}

/* ---- Identity ------------------------------------------------------- */

void em_ingest_anonymize_ip(const char *ip, int bytes, char *out, size_t outlen)
{
	unsigned char a[16];
	if (bytes > 0 && inet_pton(AF_INET, ip, a) == 1) {
		for (int i = 4 - bytes; i < 4; i++)
			a[i] = 0;
		inet_ntop(AF_INET, a, out, (socklen_t)outlen);
	} else if (bytes > 0 && inet_pton(AF_INET6, ip, a) == 1) {
		/* Keep at most the /64 network; each further byte setting clears two more. */
		int clear = 8 + (bytes - 1) * 2;
		for (int i = 16 - clear; i < 16; i++)
			a[i] = 0;
		inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	} else {
		snprintf(out, outlen, "%s", bytes > 0 ? "" : ip);
	}
}

/* The cookieless id: a keyed hash of site, IP and user agent with a key that
** changes every UTC day, so the same browser is one visitor for a day and
** cannot be followed across days (DESIGN.md §5). */
static void cookieless_vid(const char *site_key, const char *ip, const char *ua, char *out, size_t outlen)
{
	char day[16];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	unsigned char daykey[32], h[16];
	crypto_generichash(daykey, sizeof daykey, (const unsigned char *)day, strlen(day), secret,
			   sizeof secret);
	crypto_generichash_state st;
	crypto_generichash_init(&st, daykey, sizeof daykey, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)site_key, strlen(site_key) + 1);
	crypto_generichash_update(&st, (const unsigned char *)ip, strlen(ip) + 1);
	crypto_generichash_update(&st, (const unsigned char *)ua, strlen(ua));
	crypto_generichash_final(&st, h, sizeof h);
	char hex[33];
	em_hex(h, sizeof h, hex);
	snprintf(out, outlen, "c%s", hex);
}

void em_ingest_log_vid(const char *site_key, const char *ip, const char *ua, char *out, size_t outlen)
{
	unsigned char h[12];
	crypto_generichash_state st;
	crypto_generichash_init(&st, secret, sizeof secret, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)"log", 4);
	crypto_generichash_update(&st, (const unsigned char *)site_key, strlen(site_key) + 1);
	crypto_generichash_update(&st, (const unsigned char *)ip, strlen(ip) + 1);
	crypto_generichash_update(&st, (const unsigned char *)ua, strlen(ua));
	crypto_generichash_final(&st, h, sizeof h);
	char hex[25];
	em_hex(h, sizeof h, hex);
	snprintf(out, outlen, "l%s", hex);
}

static int batch_grants_consent(const em_track_batch *b)
{
	int granted = 0;
	for (int i = 0; i < b->nevents; i++)
		if (b->events[i].type == EM_EV_CONSENT)
			granted = b->events[i].granted;
	return granted;
}

int em_ingest_prepare(em_app *app, em_track_batch *b, const em_site *site, const char *ip, const char *ua)
{
	b->site_id = site->id;
	snprintf(b->site_key, sizeof b->site_key, "%s", site->key);
	ua = ua ? ua : "";
	em_ua info;
	em_ua_classify(ua, strlen(ua), &info);
	if (info.is_bot) {
		stats.bots++;
		return 1;
	}
	b->device = em_arena_strdup(&b->mem, info.device);
	b->browser = em_arena_strdup(&b->mem, info.browser);
	b->os = em_arena_strdup(&b->mem, info.os);
	b->ua = em_arena_strdup(&b->mem, ua);
	char anon[64];
	em_ingest_anonymize_ip(ip, app->cfg.anonymize_ip_bytes, anon, sizeof anon);
	b->ip = em_arena_strdup(&b->mem, anon);
	char cc[3];
	if (em_geo_country(ip, cc)) /* the full address, before anonymisation */
		b->country = em_arena_strdup(&b->mem, cc);
	if (!b->vid[0]) {
		if (app->cfg.consent_required && !batch_grants_consent(b)) {
			/* The raw IP goes into the hash only; it is never stored. */
			cookieless_vid(site->key, ip, ua, b->vid, sizeof b->vid);
			b->cookieless = 1;
		} else {
			char id[40];
			em_id_random(id, sizeof id, 15);
			snprintf(b->vid, sizeof b->vid, "v%s", id);
		}
	}
	return 0;
}

/* ---- Store ---------------------------------------------------------- */

typedef struct submit_ctx {
	em_track_batch *b;
	void (*done)(em_track_batch *b);
} submit_ctx;

static int write_fn(em_db *db, void *arg)
{
	submit_ctx *x = arg;
	int rc = em_sessionize(db, x->b);
	/* SKUs in carts and orders become catalog products (src/kb/kb.h). */
	if (!rc)
		rc = em_kb_learn_db(db, x->b);
	return rc;
}

static void done_fn(int status, void *arg)
{
	submit_ctx *x = arg;
	em_track_batch *b = x->b;
	b->status = status;
	if (status == 0) {
		stats.batches++;
		stats.events += (uint64_t)b->nevents;
		em_presence_apply(b);
	}
	void (*done)(em_track_batch *) = x->done;
	em_free(x);
	done(b);
}

/* Page views, pings, custom events and searches touch only the visitor,
** visit and event rows and the sessionizer's cache, which
** em_sessionize_reset() forgets: such a batch may run twice (store.h). */
static int replayable(const em_track_batch *b)
{
	for (int i = 0; i < b->nevents; i++)
		if (b->events[i].type > EM_EV_SEARCH)
			return 0;
	return 1;
}

int em_ingest_submit(em_app *app, em_track_batch *b, void (*done)(em_track_batch *b))
{
	submit_ctx *x = em_malloc(sizeof *x);
	x->b = b;
	x->done = done;
	int rc = replayable(b)
			 ? em_store_write_replayable(app->store, write_fn, em_sessionize_reset, done_fn, x)
			 : em_store_write(app->store, write_fn, done_fn, x);
	if (rc)
		em_free(x);
	return rc;
}
