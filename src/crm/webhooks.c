/*
** Webhooks (see webhooks.h and docs/webhooks.md): the outbox, the sender and
** the store functions behind /api/v1/webhooks.
**
** The rows of webhook_delivery are the truth: an event's rows are written in
** the transaction that caused it, and the sender only ever reads due rows
** (status pending, next_at <= now) and writes each attempt's result back. So
** a crash or restart loses nothing; a delivery interrupted by one is sent
** again (receivers drop repeats by X-Emma-Delivery).
**
** The sender lives on the loop. It fetches at most `concurrency` due rows on
** a store read, POSTs each with libcurl on the thread pool, and writes the
** result in a store write. It wakes on em_webhooks_kick(), on a poll timer,
** and on a one-shot timer set to the next retry's due time. Ids of rows in
** flight (until their result is committed) are skipped by the fetch, so a row
** is never sent twice at once.
*/
#include "crm/webhooks.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "net/loop.h"

#define INFLIGHT_MAX 64
#define ERR_MAX 200
#define PURGE_EVERY_MS (3600 * 1000)
#define PURGE_BATCH 5000
#define RESPONSE_KEEP 160 /* bytes of a failed answer's body kept in last_error */

static const char *const event_names[] = {
	"contact.created", "contact.updated",	 "contact.deleted",  "lead.created", "chat.started",
	"chat.closed",	   "callback.requested", "callback.updated", "note.created", NULL,
};

/* ---- Pure helpers ------------------------------------------------------- */

int em_webhooks_event_known(const char *name)
{
	for (int i = 0; event_names[i]; i++)
		if (!strcmp(name, event_names[i]))
			return 1;
	return 0;
}

int em_webhooks_url_check(const char *url, const char **why)
{
	*why = NULL;
	size_t n = strlen(url);
	if (n == 0 || n > EM_WEBHOOK_URL_MAX) {
		*why = "url must be 1 to 2048 characters";
		return EM_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c == 0x7f) {
			*why = "url must not contain spaces or control characters";
			return EM_EINVAL;
		}
	}
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		*why = "url must start with http:// or https://";
		return EM_EINVAL;
	}
	CURLU *h = curl_url();
	int rc = 0;
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
		*why = "url is not a valid URL";
		rc = EM_EINVAL;
	} else {
		char *host = NULL, *user = NULL;
		if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
			*why = "url has no host";
			rc = EM_EINVAL;
		} else if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
			/* Credentials in the URL would show in every listing. */
			*why = "url must not contain a user name or password";
			rc = EM_EINVAL;
		}
		curl_free(host);
		curl_free(user);
	}
	curl_url_cleanup(h);
	return rc;
}

void em_webhooks_sign(const char *secret, const char *timestamp, const char *body, size_t len, char out[72])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp, strlen(timestamp));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	em_hex(mac, sizeof mac, out + 7);
}

int64_t em_webhooks_backoff_ms(int attempts, int64_t base_ms, int64_t max_ms, double jitter)
{
	int64_t d = base_ms;
	for (int i = 0; i < attempts && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	if (jitter < 0.8)
		jitter = 0.8;
	if (jitter > 1.2)
		jitter = 1.2;
	int64_t j = (int64_t)((double)d * jitter);
	return j < 1 ? 1 : j;
}

/* Does a webhook's events column ("*" or "a,b,c") include event? */
static int events_match(const char *list, const char *event)
{
	if (!strcmp(list, "*"))
		return 1;
	size_t el = strlen(event);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == el && !strncmp(p, event, n))
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* ---- The outbox --------------------------------------------------------- */

static int insert_delivery(em_db *db, int64_t webhook_id, const char *event, const char *payload, int64_t now,
			   char pid_out[32])
{
	char pid[32] = "whd";
	em_id_random(pid + 3, sizeof pid - 3, 10);
	if (em_db_exec(
		    db,
		    "INSERT INTO webhook_delivery (public_id, webhook_id, event, payload, status, attempts,"
		    " next_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
		    "tittii", pid, webhook_id, event, payload, now, now))
		return EM_EIO;
	if (pid_out)
		memcpy(pid_out, pid, sizeof pid);
	return 0;
}

int em_webhooks_enqueue_db(em_db *db, const char *event, const json_t *payload)
{
	em_stmt *st = em_db_prepare(db, "SELECT id, events FROM webhook WHERE enabled = 1", "");
	int64_t ids[EM_WEBHOOKS_MAX];
	int n = 0, rc;
	while ((rc = em_stmt_step(st)) == 1)
		if (n < EM_WEBHOOKS_MAX && events_match(em_stmt_text(st, 1), event))
			ids[n++] = em_stmt_int(st, 0);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (!n)
		return 0;
	json_t *empty = payload ? NULL : json_object();
	char *text = em_json_dump(payload ? payload : empty, NULL);
	json_decref(empty);
	int64_t now = em_now_ms();
	int e = 0;
	for (int i = 0; i < n && !e; i++)
		e = insert_delivery(db, ids[i], event, text, now, NULL);
	em_free(text);
	return e;
}

int em_webhooks_wanted_db(em_db *db, const char *event)
{
	em_stmt *st = em_db_prepare(db, "SELECT events FROM webhook WHERE enabled = 1", "");
	int rc, want = 0;
	while (!want && (rc = em_stmt_step(st)) == 1)
		want = events_match(em_stmt_text(st, 0), event);
	em_stmt_done(st);
	return want;
}

int em_webhooks_conversation_db(em_db *db, const char *event, const char *conversation_id)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT c.public_id, s.key, c.vid, c.status, c.channel, c.name, c.email, c.lang, c.page_url,"
		" c.outcome, o.public_id, ct.public_id, c.created_at, coalesce(c.accepted_at, 0),"
		" coalesce(c.closed_at, 0) FROM conversation c JOIN site s ON s.id = c.site_id"
		" LEFT JOIN operator o ON o.id = c.operator_id LEFT JOIN contact ct ON ct.id = c.contact_id"
		" WHERE c.public_id = ?",
		"t", conversation_id);
	int rc = em_stmt_step(st);
	if (rc != 1) {
		em_stmt_done(st);
		return rc < 0 ? EM_EIO : 0;
	}
	json_t *conv =
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", em_stmt_text(st, 0), "site",
			  em_stmt_text(st, 1), "vid", em_stmt_text(st, 2), "status", em_stmt_text(st, 3),
			  "channel", em_stmt_text(st, 4), "name", em_stmt_text(st, 5), "email",
			  em_stmt_text(st, 6), "lang", em_stmt_text(st, 7), "page_url", em_stmt_text(st, 8));
	const char *outcome = em_stmt_text(st, 9);
	json_object_set_new(conv, "outcome", outcome && *outcome ? json_string(outcome) : json_null());
	const char *op = em_stmt_text(st, 10), *ct = em_stmt_text(st, 11);
	json_object_set_new(conv, "operator", op ? json_string(op) : json_null());
	json_object_set_new(conv, "contact", ct ? json_string(ct) : json_null());
	int64_t times[3] = {em_stmt_int(st, 12), em_stmt_int(st, 13), em_stmt_int(st, 14)};
	em_stmt_done(st);
	static const char *const tnames[] = {"created", "accepted", "closed"};
	for (int i = 0; i < 3; i++) {
		if (times[i] > 0) {
			char t[32];
			em_rfc3339(times[i], t);
			json_object_set_new(conv, tnames[i], json_string(t));
		} else {
			json_object_set_new(conv, tnames[i], json_null());
		}
	}
	json_t *payload = json_pack("{s:o}", "conversation", conv);
	int e = em_webhooks_enqueue_db(db, event, payload);
	json_decref(payload);
	return e;
}

/* ---- The sender --------------------------------------------------------- */

typedef struct job {
	int64_t id;
	char pid[32];
	char event[64];
	char *url, *secret, *payload; /* owned */
	int64_t created_at;
	int attempts;
	/* Results of the attempt. */
	long code;
	char err[ERR_MAX + 1];
	int64_t finished_at;
} job;

static struct {
	em_app *app;
	int ready, stopping;
	int concurrency, timeout_s;
	int64_t max_age_ms, base_ms, max_ms, keep_ms;
	int poll_ms;
	int inflight;		      /* jobs between fetch and committed result */
	int64_t flying[INFLIGHT_MAX]; /* their row ids */
	int fetching, again;
	em_timer *poll, *wake;
	int64_t wake_at; /* wall ms the wake timer fires at; 0 = none */
	int64_t last_purge;
	uint64_t sent, failed;
} W;

/* Pool threads see this to abandon a transfer at shutdown. */
static atomic_int abort_transfers;

static void pump(void);

static void job_free(job *j)
{
	if (!j)
		return;
	em_free(j->url);
	if (j->secret) {
		sodium_memzero(j->secret, strlen(j->secret));
		em_free(j->secret);
	}
	em_free(j->payload);
	em_free(j);
}

static void flying_remove(int64_t id)
{
	for (int i = 0; i < W.inflight; i++) {
		if (W.flying[i] == id) {
			W.flying[i] = W.flying[--W.inflight];
			return;
		}
	}
}

/* -- Attempt (thread pool) -- */

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	job *j = arg;
	size_t n = size * nmemb, have = strlen(j->err);
	/* Keep the start of the answer for the delivery log (a failed
	** receiver often says why). */
	if (have < RESPONSE_KEEP) {
		size_t take = n < RESPONSE_KEEP - have ? n : RESPONSE_KEEP - have;
		for (size_t i = 0; i < take; i++) {
			unsigned char c = (unsigned char)ptr[i];
			j->err[have + i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
		j->err[have + take] = '\0';
	}
	return n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)arg, (void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&abort_transfers) ? 1 : 0;
}

static void send_work(void *arg)
{
	job *j = arg;
	char created[32], ts[24], sig[72], hdr[128];
	em_rfc3339(j->created_at, created);
	/* pid, event and created are our own plain ASCII; the payload is JSON
	** as stored by the enqueue, so the body is assembled without parsing. */
	size_t plen = strlen(j->payload);
	size_t cap = plen + 256;
	char *body = em_malloc(cap);
	int n = snprintf(body, cap, "{\"id\":\"%s\",\"event\":\"%s\",\"created\":\"%s\",\"data\":", j->pid,
			 j->event, created);
	memcpy(body + n, j->payload, plen);
	body[n + plen] = '}';
	body[n + plen + 1] = '\0';
	size_t blen = (size_t)n + plen + 1;
	snprintf(ts, sizeof ts, "%lld", (long long)(em_now_ms() / 1000));
	em_webhooks_sign(j->secret, ts, body, blen, sig);

	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(hdr, sizeof hdr, "X-Emma-Event: %s", j->event);
	h = curl_slist_append(h, hdr);
	snprintf(hdr, sizeof hdr, "X-Emma-Delivery: %s", j->pid);
	h = curl_slist_append(h, hdr);
	snprintf(hdr, sizeof hdr, "X-Emma-Timestamp: %s", ts);
	h = curl_slist_append(h, hdr);
	snprintf(hdr, sizeof hdr, "X-Emma-Signature: %s", sig);
	h = curl_slist_append(h, hdr);
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */

	char cerr[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, j->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Emma-Webhooks/1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)W.timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)W.timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	j->err[0] = '\0';
	CURLcode res = curl_easy_perform(c);
	j->code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->code);
	if (res != CURLE_OK) {
		snprintf(j->err, sizeof j->err, "%.200s", cerr[0] ? cerr : curl_easy_strerror(res));
		j->code = 0;
	} else if (j->code >= 200 && j->code < 300) {
		j->err[0] = '\0';
	} else {
		char keep[RESPONSE_KEEP + 1];
		size_t kl = strnlen(j->err, RESPONSE_KEEP);
		memcpy(keep, j->err, kl);
		keep[kl] = '\0';
		snprintf(j->err, sizeof j->err, "HTTP %ld%s%.*s", j->code, kl ? ": " : "", (int)kl, keep);
	}
	j->finished_at = em_now_ms();
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	em_free(body);
}

/* -- Result (writer thread) -- */

static int result_fn(em_db *db, void *arg)
{
	job *j = arg;
	int64_t now = j->finished_at;
	if (j->code >= 200 && j->code < 300)
		return em_db_exec(db,
				  "UPDATE webhook_delivery SET status = 'delivered', attempts = attempts + 1,"
				  " last_status = ?, last_error = '', delivered_at = ?, next_at = ?"
				  " WHERE id = ? AND status = 'pending'",
				  "iiii", (int64_t)j->code, now, now, j->id)
			       ? EM_EIO
			       : 0;
	double jitter = 0.8 + 0.4 * ((double)randombytes_uniform(10001) / 10000.0);
	int64_t next = now + em_webhooks_backoff_ms(j->attempts, W.base_ms, W.max_ms, jitter);
	int64_t deadline = j->created_at + W.max_age_ms;
	const char *status = "pending";
	if (now >= deadline)
		status = "failed";
	else if (next > deadline)
		next = deadline; /* one last attempt when the time is up */
	return em_db_exec(db,
			  "UPDATE webhook_delivery SET status = ?, attempts = attempts + 1, last_status = "
			  "nullif(?, 0),"
			  " last_error = ?, next_at = ? WHERE id = ? AND status = 'pending'",
			  "titii", status, (int64_t)j->code, j->err, next, j->id)
		       ? EM_EIO
		       : 0;
}

static void result_done(int status, void *arg)
{
	job *j = arg;
	if (status)
		em_warn("webhook result not stored", "delivery=%s status=%s", j->pid, em_strerror(status));
	flying_remove(j->id);
	job_free(j);
	pump();
}

static void send_done(void *arg)
{
	job *j = arg;
	int ok = j->code >= 200 && j->code < 300;
	if (W.stopping) {
		/* Not written: the row stays pending and is sent again after the
		** restart. */
		flying_remove(j->id);
		job_free(j);
		return;
	}
	if (ok) {
		W.sent++;
		em_debug("webhook delivered", "delivery=%s event=%s status=%ld", j->pid, j->event, j->code);
	} else {
		W.failed++;
		em_info("webhook attempt failed", "delivery=%s event=%s attempt=%d error=\"%s\"", j->pid,
			j->event, j->attempts + 1, j->err);
	}
	if (em_store_write(W.app->store, result_fn, result_done, j)) {
		flying_remove(j->id);
		job_free(j);
	}
}

/* -- Fetch (thread pool, read connection) -- */

typedef struct fetch_ctx {
	int64_t now;
	int want;
	int nskip;
	int64_t skip[INFLIGHT_MAX];
	int n;
	job *jobs[INFLIGHT_MAX];
	int64_t next_due; /* earliest later next_at; 0 = none */
} fetch_ctx;

static int fetch_fn(em_db *db, void *arg)
{
	fetch_ctx *f = arg;
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT d.id, d.public_id, d.event, d.payload, d.attempts, d.created_at, w.url,"
			      " w.secret FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id"
			      " WHERE d.status = 'pending' AND d.next_at <= ? AND w.enabled = 1"
			      " ORDER BY d.next_at LIMIT ?",
			      "iI", f->now, f->want + f->nskip);
	int rc;
	while ((rc = em_stmt_step(st)) == 1 && f->n < f->want) {
		int64_t id = em_stmt_int(st, 0);
		int busy = 0;
		for (int i = 0; i < f->nskip && !busy; i++)
			busy = f->skip[i] == id;
		if (busy)
			continue;
		job *j = em_calloc(1, sizeof *j);
		j->id = id;
		const char *pid = em_stmt_text(st, 1);
		snprintf(j->pid, sizeof j->pid, "%s", pid ? pid : "");
		snprintf(j->event, sizeof j->event, "%s", em_stmt_text(st, 2));
		j->payload = em_strdup(em_stmt_text(st, 3));
		j->attempts = (int)em_stmt_int(st, 4);
		j->created_at = em_stmt_int(st, 5);
		j->url = em_strdup(em_stmt_text(st, 6));
		j->secret = em_strdup(em_stmt_text(st, 7));
		f->jobs[f->n++] = j;
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	st = em_db_prepare(
		db, "SELECT min(next_at) FROM webhook_delivery WHERE status = 'pending' AND next_at > ?", "i",
		f->now);
	if (em_stmt_step(st) == 1 && !em_stmt_is_null(st, 0))
		f->next_due = em_stmt_int(st, 0);
	em_stmt_done(st);
	return 0;
}

static void on_wake(void *arg)
{
	(void)arg;
	em_timer_stop(W.wake);
	W.wake = NULL;
	W.wake_at = 0;
	pump();
}

/* Arms the one-shot timer for the next retry when it comes before the
** next poll anyway. */
static void schedule_wake(int64_t due, int64_t now)
{
	if (due <= 0 || W.stopping)
		return;
	int64_t delay = due - now;
	if (delay < 0)
		delay = 0;
	if (delay >= W.poll_ms)
		return;
	if (W.wake && W.wake_at <= due)
		return;
	if (W.wake)
		em_timer_stop(W.wake);
	W.wake = em_timer_start((uint64_t)delay + 1, 0, on_wake, NULL);
	W.wake_at = due;
}

static void fetch_done(int status, void *arg)
{
	fetch_ctx *f = arg;
	W.fetching = 0;
	for (int i = 0; i < f->n; i++) {
		job *j = f->jobs[i];
		if (status || W.stopping || W.inflight >= W.concurrency || W.inflight >= INFLIGHT_MAX) {
			job_free(j);
			continue;
		}
		W.flying[W.inflight++] = j->id;
		if (em_loop_work(send_work, send_done, j)) {
			W.inflight--;
			job_free(j);
		}
	}
	if (!status)
		schedule_wake(f->next_due, f->now);
	else
		em_warn("webhook outbox not read", "status=%s", em_strerror(status));
	em_free(f);
	if (W.again) {
		W.again = 0;
		pump();
	}
}

static void pump(void)
{
	if (!W.ready || W.stopping || (W.app && W.app->shutting_down))
		return;
	if (W.fetching) {
		W.again = 1; /* something happened meanwhile: look again after */
		return;
	}
	int slots = W.concurrency - W.inflight;
	if (slots <= 0)
		return; /* a finishing delivery pumps again */
	fetch_ctx *f = em_calloc(1, sizeof *f);
	f->now = em_now_ms();
	f->want = slots;
	f->nskip = W.inflight;
	memcpy(f->skip, W.flying, sizeof(int64_t) * (size_t)W.inflight);
	W.fetching = 1;
	if (em_store_read(W.app->store, fetch_fn, fetch_done, f)) {
		W.fetching = 0;
		em_free(f);
	}
}

void em_webhooks_kick(void)
{
	pump();
}

/* -- Housekeeping -- */

static int purge_fn(em_db *db, void *arg)
{
	int64_t before = *(int64_t *)arg;
	return em_db_exec(db,
			  "DELETE FROM webhook_delivery WHERE id IN (SELECT id FROM webhook_delivery"
			  " WHERE status <> 'pending' AND created_at < ? LIMIT ?)",
			  "iI", before, PURGE_BATCH)
		       ? EM_EIO
		       : 0;
}

static void purge_done(int status, void *arg)
{
	(void)status;
	em_free(arg);
}

static void on_poll(void *arg)
{
	(void)arg;
	int64_t now = em_now_ms();
	if (now - W.last_purge >= PURGE_EVERY_MS) {
		W.last_purge = now;
		int64_t *before = em_malloc(sizeof *before);
		*before = now - W.keep_ms;
		if (em_store_write(W.app->store, purge_fn, purge_done, before))
			em_free(before);
	}
	pump();
}

int em_webhooks_init(struct em_app *app)
{
	memset(&W, 0, sizeof W);
	atomic_store(&abort_transfers, 0);
	W.app = app;
	const em_config *c = &app->cfg;
	W.concurrency = c->webhooks_concurrency > INFLIGHT_MAX ? INFLIGHT_MAX : c->webhooks_concurrency;
	if (W.concurrency < 1)
		W.concurrency = 1;
	W.timeout_s = c->webhooks_timeout_s;
	W.max_age_ms = (int64_t)c->webhooks_max_age_s * 1000;
	W.base_ms = c->webhooks_backoff_base_ms;
	W.max_ms = c->webhooks_backoff_max_ms;
	W.poll_ms = c->webhooks_poll_ms;
	W.keep_ms = (int64_t)c->webhooks_keep_days * 86400 * 1000;
	/* On the loop thread, before any pool thread touches libcurl. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EM_EIO;
	W.ready = 1;
	/* The first tick soon after start delivers what was due before a
	** restart; later ticks every poll_ms. */
	W.poll = em_timer_start(50, (uint64_t)W.poll_ms, on_poll, NULL);
	return 0;
}

void em_webhooks_shutdown(void)
{
	if (!W.ready)
		return;
	W.stopping = 1;
	atomic_store(&abort_transfers, 1);
	em_timer_stop(W.poll);
	W.poll = NULL;
	em_timer_stop(W.wake);
	W.wake = NULL;
	W.ready = 0;
}

/* ---- Store functions for the API ---------------------------------------- */

#define WEBHOOK_COLS \
	"w.public_id, w.url, w.events, w.enabled, w.created_at, w.updated_at," \
	" (SELECT count(*) FROM webhook_delivery d WHERE d.webhook_id = w.id AND d.status = 'pending')," \
	" (SELECT count(*) FROM webhook_delivery d WHERE d.webhook_id = w.id AND d.status = 'failed')"

static json_t *events_json(const char *csv)
{
	json_t *a = json_array();
	for (const char *p = csv; *p;) {
		size_t n = strcspn(p, ",");
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

static json_t *webhook_row(em_stmt *st)
{
	return json_pack("{s:s, s:s, s:o, s:b, s:o, s:o, s:I, s:I}", "id", em_stmt_text(st, 0), "url",
			 em_stmt_text(st, 1), "events", events_json(em_stmt_text(st, 2)), "enabled",
			 (int)em_stmt_int(st, 3), "created", em_json_time(em_stmt_int(st, 4)), "updated",
			 em_json_time(em_stmt_int(st, 5)), "pending", (json_int_t)em_stmt_int(st, 6),
			 "failed", (json_int_t)em_stmt_int(st, 7));
}

int em_webhooks_list_db(em_db *db, json_t **out)
{
	em_stmt *st = em_db_prepare(db, "SELECT " WEBHOOK_COLS " FROM webhook w ORDER BY w.id", "");
	json_t *a = json_array();
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(a, webhook_row(st));
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(a);
		return EM_EIO;
	}
	*out = json_pack("{s:o}", "webhooks", a);
	return 0;
}

int em_webhooks_get_db(em_db *db, const char *id, json_t **out)
{
	em_stmt *st =
		em_db_prepare(db, "SELECT " WEBHOOK_COLS " FROM webhook w WHERE w.public_id = ?", "t", id);
	int rc = em_stmt_step(st);
	if (rc == 1)
		*out = json_pack("{s:o}", "webhook", webhook_row(st));
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

static void new_secret(char out[48])
{
	memcpy(out, "whsec_", 6);
	em_id_random(out + 6, 48 - 6, 20);
}

int em_webhooks_create_db(em_db *db, const char *url, const char *events_csv, int enabled, json_t **out)
{
	em_stmt *st = em_db_prepare(db, "SELECT count(*) FROM webhook", "");
	int64_t count = em_stmt_step(st) == 1 ? em_stmt_int(st, 0) : -1;
	em_stmt_done(st);
	if (count < 0)
		return EM_EIO;
	if (count >= EM_WEBHOOKS_MAX)
		return EM_ERANGE;
	char pid[32] = "wh", secret[48];
	em_id_random(pid + 2, sizeof pid - 2, 10);
	new_secret(secret);
	int64_t now = em_now_ms();
	if (em_db_exec(db,
		       "INSERT INTO webhook (public_id, url, events, secret, enabled, created_at, updated_at)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?)",
		       "ttttIii", pid, url, events_csv, secret, enabled, now, now))
		return EM_EIO;
	int rc = em_webhooks_get_db(db, pid, out);
	if (!rc)
		json_object_set_new(json_object_get(*out, "webhook"), "secret", json_string(secret));
	sodium_memzero(secret, sizeof secret);
	return rc;
}

int em_webhooks_update_db(em_db *db, const char *id, const char *url, const char *events_csv, int enabled,
			  int rotate, json_t **out)
{
	char secret[48] = "";
	if (rotate)
		new_secret(secret);
	if (em_db_exec(
		    db,
		    "UPDATE webhook SET url = coalesce(?, url), events = coalesce(?, events),"
		    " enabled = CASE WHEN ? < 0 THEN enabled ELSE ? END,"
		    " secret = CASE WHEN ? = '' THEN secret ELSE ? END, updated_at = ? WHERE public_id = ?",
		    "ttIIttit", url, events_csv, enabled, enabled, secret, secret, em_now_ms(), id))
		return EM_EIO;
	if (em_db_changes(db) != 1)
		return EM_ENOTFOUND;
	int rc = em_webhooks_get_db(db, id, out);
	if (!rc && rotate)
		json_object_set_new(json_object_get(*out, "webhook"), "secret", json_string(secret));
	sodium_memzero(secret, sizeof secret);
	return rc;
}

int em_webhooks_delete_db(em_db *db, const char *id)
{
	/* The log goes with the webhook (explicitly, not relying on the
	** connection's foreign-key setting). */
	if (em_db_exec(db,
		       "DELETE FROM webhook_delivery WHERE webhook_id = (SELECT id FROM webhook WHERE "
		       "public_id = ?)",
		       "t", id))
		return EM_EIO;
	if (em_db_exec(db, "DELETE FROM webhook WHERE public_id = ?", "t", id))
		return EM_EIO;
	return em_db_changes(db) == 1 ? 0 : EM_ENOTFOUND;
}

#define DELIVERY_COLS \
	"d.id, d.public_id, w.public_id, d.event, d.status, d.attempts, d.last_status, d.last_error," \
	" d.created_at, d.next_at, coalesce(d.delivered_at, 0), d.payload"

static json_t *delivery_row(em_stmt *st)
{
	const char *status = em_stmt_text(st, 4);
	json_t *o =
		json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", em_stmt_text(st, 1) ? em_stmt_text(st, 1) : "",
			  "webhook", em_stmt_text(st, 2), "event", em_stmt_text(st, 3), "status", status,
			  "attempts", (json_int_t)em_stmt_int(st, 5));
	json_object_set_new(o, "last_status",
			    em_stmt_is_null(st, 6) ? json_null() : json_integer(em_stmt_int(st, 6)));
	json_object_set_new(o, "last_error", json_string(em_stmt_text(st, 7) ? em_stmt_text(st, 7) : ""));
	json_object_set_new(o, "created", em_json_time(em_stmt_int(st, 8)));
	json_object_set_new(o, "next_at",
			    strcmp(status, "pending") ? json_null() : em_json_time(em_stmt_int(st, 9)));
	json_object_set_new(o, "delivered", em_json_time(em_stmt_int(st, 10)));
	const char *payload = em_stmt_text(st, 11);
	json_t *data = payload ? json_loads(payload, 0, NULL) : NULL;
	json_object_set_new(o, "data", data ? data : json_null());
	return o;
}

static int get_delivery(em_db *db, const char *pid, json_t **out)
{
	em_stmt *st = em_db_prepare(db,
				    "SELECT " DELIVERY_COLS " FROM webhook_delivery d JOIN webhook w"
				    " ON w.id = d.webhook_id WHERE d.public_id = ?",
				    "t", pid);
	int rc = em_stmt_step(st);
	if (rc == 1)
		*out = json_pack("{s:o}", "delivery", delivery_row(st));
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

int em_webhooks_ping_db(em_db *db, const char *id, json_t **out)
{
	em_stmt *st = em_db_prepare(db, "SELECT id FROM webhook WHERE public_id = ?", "t", id);
	int rc = em_stmt_step(st);
	int64_t wid = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc == 0 ? EM_ENOTFOUND : EM_EIO;
	char t[32], pid[32];
	int64_t now = em_now_ms();
	em_rfc3339(now, t);
	json_t *payload = json_pack("{s:s, s:s}", "webhook", id, "message", "Hello from Emma");
	char *text = em_json_dump(payload, NULL);
	json_decref(payload);
	rc = insert_delivery(db, wid, "ping", text, now, pid);
	em_free(text);
	return rc ? rc : get_delivery(db, pid, out);
}

int em_webhooks_deliveries_db(em_db *db, const char *id, const char *status, int limit, int64_t cursor,
			      json_t **out, int64_t *next)
{
	em_stmt *st = em_db_prepare(db, "SELECT id FROM webhook WHERE public_id = ?", "t", id);
	int rc = em_stmt_step(st);
	int64_t wid = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc == 0 ? EM_ENOTFOUND : EM_EIO;
	/* Newest first; the cursor is the last row id of the page before. */
	st = em_db_prepare(db,
			   "SELECT " DELIVERY_COLS
			   " FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id"
			   " WHERE d.webhook_id = ? AND (? = 0 OR d.id < ?) AND (? IS NULL OR d.status = ?)"
			   " ORDER BY d.id DESC LIMIT ?",
			   "iiittI", wid, cursor, cursor, status, status, limit + 1);
	json_t *a = json_array();
	int64_t last = 0;
	*next = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if ((int)json_array_size(a) == limit) {
			*next = last;
			break;
		}
		last = em_stmt_int(st, 0);
		json_array_append_new(a, delivery_row(st));
	}
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(a);
		return EM_EIO;
	}
	*out = json_pack("{s:o}", "deliveries", a);
	return 0;
}

int em_webhooks_retry_db(em_db *db, const char *delivery_id, json_t **out)
{
	if (em_db_exec(db, "UPDATE webhook_delivery SET status = 'pending', next_at = ? WHERE public_id = ?",
		       "it", em_now_ms(), delivery_id))
		return EM_EIO;
	if (em_db_changes(db) != 1)
		return EM_ENOTFOUND;
	return get_delivery(db, delivery_id, out);
}
