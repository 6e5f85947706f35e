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
#include "core/str.h"
#include "live/invite.h"
#include "kb/kb.h"
#include "live/presence.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/geo.h"
#include "track/journal.h"
#include "track/sessionizer.h"
#include "track/useragent.h"

#define RL_SLOTS 65536u /* power of two */
/* Batches answered before their COMMIT and not yet committed; past this
** many, answers wait for the COMMIT again (the store is behind). */
#define EARLY_MAX 8192
#define RETRY_MAX 3 /* an answered batch that fails in the store is tried again */
#define APPLIED_KEY "ingest.journal_applied"

typedef struct bucket {
	char ip[46];
	double tokens;
	int64_t at_ms;
} bucket;

static bucket *buckets;
static unsigned buckets_used;
static unsigned char secret[32];
static em_ingest_stats stats;

/* The ingest journal (track/journal.h); NULL for the command line. */
typedef struct submit_ctx submit_ctx;
struct submit_ctx {
	em_track_batch *b;
	void (*done)(em_track_batch *b);
	uint64_t seq; /* journal record, 0 when not journaled */
	int answered; /* done already ran (before COMMIT) */
	int finished; /* committed, or failed for good */
	int tries;
	submit_ctx *next; /* jpending, then jflight */
};

static int write_fn(em_db *db, void *arg);
static int precommit_fn(em_db *db, void *arg);
static em_journal *journal;
static int live_on;	     /* live presence is up (between init and shutdown) */
static int journal_answers;  /* batches go through the journal (not with synchronous=full) */
static em_store *jstore;     /* the server's store */
static em_buf jrec;	     /* one encoded batch */
static submit_ctx *jpending; /* in the journal's buffer, not yet written */
static submit_ctx **jpending_tail = &jpending;
static submit_ctx *jflight; /* written and not yet finished, in journal order */
static submit_ctx **jflight_tail = &jflight;
static uint64_t early_unfinished; /* answered, not yet committed */
static uint64_t last_answered;	  /* journal record of the newest batch answered early */
/* Who waits until what was answered so far is applied (em_ingest_when_applied). */
typedef struct applied_waiter {
	uint64_t seq;
	void (*fn)(void *arg);
	void *arg;
	struct applied_waiter *next;
} applied_waiter;
static applied_waiter *waiters, **waiters_tail = &waiters;
/* Writer thread: the last journal record applied in the open transaction. */
static uint64_t txn_seq;
static int txn_journaled;

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

static int applied_read(em_db *db, void *arg)
{
	em_stmt *st = em_db_prepare(db, "SELECT value FROM setting WHERE key = '" APPLIED_KEY "'", "");
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1)
		*(uint64_t *)arg = (uint64_t)em_stmt_int(st, 0);
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* A record the last run answered and did not commit: applied now, through
** the same write as then. */
static int replay_fn(uint64_t seq, const void *data, size_t len, void *arg)
{
	em_track_batch *b = em_track_batch_decode(data, len);
	if (!b) {
		stats.lost++;
		em_error("ingest journal: a record is not a batch; skipped", "record=%llu bytes=%zu",
			 (unsigned long long)seq, len);
		return 0;
	}
	submit_ctx x = {.b = b, .seq = seq};
	int rc = em_store_write_sync(arg, write_fn, &x);
	if (rc && rc != EM_EIO) {
		stats.lost++;
		em_error("ingest journal: a replayed batch was refused; skipped", "record=%llu reason=%s",
			 (unsigned long long)seq, em_strerror(rc));
		rc = 0;
	}
	em_track_batch_free(b);
	return rc;
}

static int journal_open(em_app *app, char *err, size_t errlen)
{
	char dir[600];
	if (snprintf(dir, sizeof dir, "%s/ingest-journal", app->cfg.data_dir) >= (int)sizeof dir) {
		snprintf(err, errlen, "the data directory's path is too long");
		return EM_ERANGE;
	}
	uint64_t applied = 0;
	int rc = em_store_read_sync(app->store, applied_read, &applied);
	if (rc) {
		snprintf(err, errlen, "cannot read the ingest journal's position: %s", em_strerror(rc));
		return rc;
	}
	em_store_set_precommit(app->store, precommit_fn, NULL);
	em_buf_init(&jrec, EM_JOURNAL_RECORD_MAX);
	return em_journal_open(&journal, dir, applied, replay_fn, app->store, err, errlen);
}

int em_ingest_init(em_app *app, char *err, size_t errlen)
{
	int rc;
	jstore = app->store;
	if ((rc = em_geo_open(app->cfg.geoip_db, err, errlen)) ||
	    (rc = em_ingest_init_offline(app->store, err, errlen)))
		return rc;
	/* Before the live view is rebuilt: it then includes what is replayed.
	** With store.synchronous=full an answer promises survival of a power
	** cut, which only the COMMIT's fsync gives: the journal then only
	** replays what an earlier run left in it. */
	if ((rc = journal_open(app, err, errlen)))
		return rc;
	journal_answers = !app->cfg.synchronous_full;
	buckets = em_calloc(RL_SLOTS, sizeof *buckets);
	em_presence_init(app->cfg.live_timeout_s);
	live_on = 1;
	if ((rc = em_presence_rebuild(app->store))) {
		snprintf(err, errlen, "cannot restore live visitors: %s", em_strerror(rc));
		return rc;
	}
	return em_invite_init(app, err, errlen);
}

void em_ingest_shutdown(void)
{
	live_on = 0;
	/* Batches still in the store's queue are replayed at the next start if
	** their COMMIT does not come first: the journal keeps its files. */
	em_journal_close(journal);
	journal = NULL;
	em_buf_free(&jrec);
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

/* Dotted quad of a: what inet_ntop writes, without its printf on every beacon. */
static void put_ipv4(const unsigned char a[4], char *out, size_t outlen)
{
	char s[16], *p = s;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
	em_strlcpy(out, s, outlen);
}

void em_ingest_anonymize_ip(const char *ip, int bytes, char *out, size_t outlen)
{
	unsigned char a[16];
	if (bytes > 0 && inet_pton(AF_INET, ip, a) == 1) {
		for (int i = 4 - bytes; i < 4; i++)
			a[i] = 0;
		put_ipv4(a, out, outlen);
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
	em_strlcpy(b->site_key, site->key, sizeof b->site_key);
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

static int write_fn(em_db *db, void *arg)
{
	submit_ctx *x = arg;
	int rc = em_sessionize(db, x->b);
	/* SKUs in carts and orders become catalog products (src/kb/kb.h). */
	if (!rc)
		rc = em_kb_learn_db(db, x->b);
	if (!rc && x->seq) {
		txn_journaled = 1;
		if (x->seq > txn_seq)
			txn_seq = x->seq;
	}
	return rc;
}

/* Before each COMMIT: the journal record applied last is committed with
** the data it produced, so a restart replays exactly what follows it. */
static int precommit_fn(em_db *db, void *arg)
{
	if (!txn_journaled)
		return 0;
	txn_journaled = 0;
	return em_db_exec(db,
			  "INSERT INTO setting (key, value) VALUES ('" APPLIED_KEY "', ?) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			  "i", (int64_t)txn_seq);
}

static int submit_store(submit_ctx *x);

/* Pops the finished batches at the head of the journal order; the journal
** learns that everything up to the last of them is applied. */
static void journal_advance(void)
{
	uint64_t upto = 0;
	while (jflight && jflight->finished) {
		submit_ctx *x = jflight;
		jflight = x->next;
		upto = x->seq;
		em_track_batch_free(x->b);
	}
	if (!jflight)
		jflight_tail = &jflight;
	if (upto && journal)
		em_journal_applied(journal, upto);
	/* Waiters are in order of their records: run those now applied. */
	while (waiters && (!jflight || jflight->seq > waiters->seq)) {
		applied_waiter *w = waiters;
		waiters = w->next;
		if (!waiters)
			waiters_tail = &waiters;
		w->fn(w->arg);
		em_free(w);
	}
}

void em_ingest_when_applied(void (*fn)(void *arg), void *arg)
{
	/* Everything up to the newest answered batch is applied once no batch
	** at or before it is still in flight (journal_advance). */
	if (!jflight || jflight->seq > last_answered) {
		fn(arg);
		return;
	}
	applied_waiter *w = em_malloc(sizeof *w);
	w->seq = last_answered;
	w->fn = fn;
	w->arg = arg;
	w->next = NULL;
	*waiters_tail = w;
	waiters_tail = &w->next;
}

static void done_fn(int status, void *arg)
{
	submit_ctx *x = arg;
	em_track_batch *b = x->b;
	if (status == 0) {
		stats.batches++;
		stats.events += (uint64_t)b->nevents;
		/* Commits that come in while the server stops find no live view. */
		if (live_on)
			em_presence_apply(b);
	}
	if (!x->answered) {
		b->status = status;
		x->done(b);
	} else if (status && ++x->tries < RETRY_MAX && submit_store(x) == 0) {
		return; /* it is in the journal and was answered: try again */
	} else {
		early_unfinished--;
		if (status) {
			stats.lost++;
			em_error("ingest: an answered batch could not be stored",
				 "vid=%s events=%d reason=%s", b->vid, b->nevents, em_strerror(status));
		}
	}
	if (!x->seq) {
		em_track_batch_free(b);
		return;
	}
	x->finished = 1;
	journal_advance();
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

/* A batch already answered is a write nobody waits for (em_store_write_lazy). */
static int submit_store(submit_ctx *x)
{
	void (*reset)(void) = replayable(x->b) ? em_sessionize_reset : NULL;
	if (x->answered)
		return em_store_write_lazy(jstore, write_fn, reset, done_fn, x);
	return reset ? em_store_write_replayable(jstore, write_fn, reset, done_fn, x)
		     : em_store_write(jstore, write_fn, done_fn, x);
}

/* End of the loop turn: one write(2) for the turn's batches, then each goes
** to the store and, while the store keeps up, is answered at once. */
static void journal_flush(void *arg)
{
	submit_ctx *list = jpending;
	jpending = NULL;
	jpending_tail = &jpending;
	int wrc = em_journal_write(journal), early = 0;
	for (submit_ctx *x = list, *next; x; x = next) {
		next = x->next;
		x->next = NULL;
		/* A rule may invite on this very batch, and the invitation rides
		** on its answer: then the answer waits for the batch's COMMIT. */
		x->answered = !wrc && early_unfinished < EARLY_MAX &&
			      (x->b->cookieless || !em_invite_site_has_rules(x->b->site_id));
		int rc = wrc ? wrc : submit_store(x);
		if (rc) {
			/* Not stored, not answered yet: the client is told to retry. */
			x->b->status = rc;
			x->done(x->b);
			em_track_batch_free(x->b);
			continue;
		}
		*jflight_tail = x;
		jflight_tail = &x->next;
		if (x->answered) {
			early_unfinished++;
			last_answered = x->seq;
			early = 1;
			x->b->status = 0;
			x->done(x->b);
		}
	}
	/* Whoever was answered reads what they sent. */
	if (early)
		em_store_fence(jstore);
}

void em_ingest_journal_cut(void)
{
	if (journal)
		em_journal_cut(journal);
}

int em_ingest_submit(em_app *app, em_track_batch *b, void (*done)(em_track_batch *b))
{
	/* In the batch's arena: both live until the batch is committed. */
	submit_ctx *x = em_arena_alloc(&b->mem, sizeof *x);
	memset(x, 0, sizeof *x);
	x->b = b;
	x->done = done;
	if (journal && journal_answers && !em_track_batch_encode(b, &jrec) &&
	    (x->seq = em_journal_add(journal, jrec.data, jrec.len))) {
		if (!jpending)
			em_loop_at_turn_end(journal_flush, NULL);
		*jpending_tail = x;
		jpending_tail = &x->next;
		return 0;
	}
	x->seq = 0;
	return submit_store(x);
}
