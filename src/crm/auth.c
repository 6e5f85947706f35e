/*
** Authentication (see auth.h): sessions, API tokens, CSRF, the login rate
** limit and password hashing.
**
** The loop thread owns three in-memory maps, filled at start-up from the
** database and changed only after the matching write committed:
**   operators  id          -> the operator (role, name, disabled, ...)
**   sessions   token hash  -> operator id, CSRF token, expiry
**   tokens     token hash  -> operator id, scope
** so that checking a request costs one keyed hash and two lookups. The maps
** hash their keys with SipHash under a random key: rate-limit keys come from
** clients and must not be able to pile up in one bucket.
*/
#include "crm/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "crm/audit.h"
#include "live/hub.h"
#include "net/loop.h"
#include "store/store.h"

#define AUTH_MAGIC 0x41555448u
/* Keys the login rate limiter tracks at most (IP and e-mail keys together). */
#define RATELIMIT_KEYS 10000
/* Argon2id jobs queued or running at once. Each running one holds 64 MiB;
** the thread pool's size bounds how many run, this bounds the queue. */
#define PW_INFLIGHT_MAX 8
#define PURGE_INTERVAL_MS 60000
/* last_used_at of a token is written at most this often. */
#define TOKEN_TOUCH_MS 60000
#define SECRET_MAX 128 /* longest cookie or bearer secret we hash */

/* A hash of a password nobody knows, verified against when the e-mail is
** unknown so that the answer takes as long as for a known one. Its
** parameters are libsodium's interactive limits, the ones we hash with. */
static const char dummy_hash[] =
	"$argon2id$v=19$m=65536,t=2,p=1$om9fCJI2xDPW/ktRgv8YdA$KUI9HE6E5QmWrsVDKR3G9qGW2VeUROmq4yWLg7vCXsw";

/* ---- A small intrusive hash map with string keys ---------------------- */

struct hnode {
	struct hnode *next;
	uint64_t h;
	const char *key; /* points into the containing object */
};

struct hmap {
	struct hnode **b;
	size_t nb; /* power of two */
	size_t n;
	unsigned char k[crypto_shorthash_KEYBYTES];
};

static void hm_init(struct hmap *m)
{
	m->nb = 64;
	m->n = 0;
	m->b = em_calloc(m->nb, sizeof *m->b);
	randombytes_buf(m->k, sizeof m->k);
}

static uint64_t hm_hash(const struct hmap *m, const char *key)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;
	crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->k);
	memcpy(&h, out, sizeof h);
	return h;
}

static struct hnode *hm_get(const struct hmap *m, const char *key)
{
	uint64_t h = hm_hash(m, key);
	for (struct hnode *n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->h == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

static void hm_grow(struct hmap *m)
{
	size_t nb = m->nb * 2;
	struct hnode **b = em_calloc(nb, sizeof *b);
	for (size_t i = 0; i < m->nb; i++) {
		struct hnode *n = m->b[i];
		while (n) {
			struct hnode *next = n->next;
			n->next = b[n->h & (nb - 1)];
			b[n->h & (nb - 1)] = n;
			n = next;
		}
	}
	em_free(m->b);
	m->b = b;
	m->nb = nb;
}

/* Adds n (its key set, not yet present). */
static void hm_add(struct hmap *m, struct hnode *n)
{
	if (m->n >= m->nb)
		hm_grow(m);
	n->h = hm_hash(m, n->key);
	n->next = m->b[n->h & (m->nb - 1)];
	m->b[n->h & (m->nb - 1)] = n;
	m->n++;
}

static void hm_unlink(struct hmap *m, struct hnode *n)
{
	for (struct hnode **pp = &m->b[n->h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			m->n--;
			return;
		}
	}
}

/* Calls fn on every node; fn returns 1 after freeing a node it wants gone. */
static void hm_sweep(struct hmap *m, int (*fn)(struct hnode *n, void *ctx), void *ctx)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hnode **pp = &m->b[i];
		while (*pp) {
			struct hnode *n = *pp;
			struct hnode *next = n->next;
			if (fn(n, ctx)) {
				*pp = next;
				m->n--;
			} else {
				pp = &n->next;
			}
		}
	}
}

static int free_node(struct hnode *n, void *ctx)
{
	(void)ctx;
	em_free(n);
	return 1;
}

static void hm_free(struct hmap *m)
{
	if (!m->b)
		return;
	hm_sweep(m, free_node, NULL);
	em_free(m->b);
	m->b = NULL;
}

/* ---- Rate limiter ----------------------------------------------------- */

/* Entries are kept in a list ordered by window start, so the head is the
** key whose window began longest ago: the one to forget when full. */
struct rl_ent {
	struct hnode hn; /* first: nodes are freed as a whole */
	struct rl_ent *prev, *next;
	int64_t start;
	int count;
	char key[];
};

struct em_ratelimit {
	struct hmap m;
	struct rl_ent *head, *tail;
	size_t cap;
	int max;
	int64_t window_ms;
};

em_ratelimit *em_ratelimit_new(size_t cap, int max, int64_t window_ms)
{
	em_ratelimit *rl = em_calloc(1, sizeof *rl);
	hm_init(&rl->m);
	rl->cap = cap ? cap : 1;
	rl->max = max > 0 ? max : 1;
	rl->window_ms = window_ms > 0 ? window_ms : 1;
	return rl;
}

void em_ratelimit_free(em_ratelimit *rl)
{
	if (!rl)
		return;
	hm_free(&rl->m);
	em_free(rl);
}

static void rl_unlink(em_ratelimit *rl, struct rl_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		rl->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		rl->tail = e->prev;
	e->prev = e->next = NULL;
}

static void rl_append(em_ratelimit *rl, struct rl_ent *e)
{
	e->prev = rl->tail;
	e->next = NULL;
	if (rl->tail)
		rl->tail->next = e;
	else
		rl->head = e;
	rl->tail = e;
}

int em_ratelimit_blocked(em_ratelimit *rl, const char *key, int64_t now_ms)
{
	struct rl_ent *e = (struct rl_ent *)hm_get(&rl->m, key);
	if (!e || e->count < rl->max || now_ms - e->start >= rl->window_ms)
		return 0;
	int64_t wait = (e->start + rl->window_ms - now_ms + 999) / 1000;
	return wait < 1 ? 1 : (int)wait;
}

void em_ratelimit_hit(em_ratelimit *rl, const char *key, int64_t now_ms)
{
	struct rl_ent *e = (struct rl_ent *)hm_get(&rl->m, key);
	if (e && now_ms - e->start < rl->window_ms) {
		e->count++;
		return;
	}
	if (e) {
		/* A new window: it now started last of all. */
		rl_unlink(rl, e);
	} else {
		if (rl->m.n >= rl->cap) {
			struct rl_ent *old = rl->head;
			rl_unlink(rl, old);
			hm_unlink(&rl->m, &old->hn);
			em_free(old);
		}
		size_t klen = strlen(key);
		e = em_calloc(1, sizeof *e + klen + 1);
		memcpy(e->key, key, klen + 1);
		e->hn.key = e->key;
		hm_add(&rl->m, &e->hn);
	}
	e->start = now_ms;
	e->count = 1;
	rl_append(rl, e);
}

void em_ratelimit_forgive(em_ratelimit *rl, const char *key)
{
	struct rl_ent *e = (struct rl_ent *)hm_get(&rl->m, key);
	if (e && e->count > 0)
		e->count--;
}

size_t em_ratelimit_size(const em_ratelimit *rl)
{
	return rl->m.n;
}

/* ---- Pure helpers ----------------------------------------------------- */

int em_auth_password_hash(const char *password, char *out, size_t outlen)
{
	if (outlen < crypto_pwhash_STRBYTES)
		return EM_EINVAL;
	if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return EM_ENOMEM;
	return 0;
}

int em_auth_password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? 0 : EM_EAUTH;
}

void em_auth_token_hash(const unsigned char key[EM_AUTH_KEYBYTES], const char *secret,
			char out[EM_AUTH_HASHHEX])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), key, EM_AUTH_KEYBYTES);
	em_hex(h, sizeof h, out);
}

int em_auth_csrf_equal(const char *expected, const char *given)
{
	if (!expected || !given)
		return 0;
	size_t n = strlen(expected);
	/* The length is no secret (every CSRF token has the same one); only the
	** bytes are compared in constant time. */
	if (n == 0 || strlen(given) != n)
		return 0;
	return sodium_memcmp(expected, given, n) == 0;
}

const char *em_auth_bearer(const char *authorization)
{
	if (!authorization)
		return NULL;
	const char *p = authorization;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, " \t\r\n");
	if (n == 0 || n > SECRET_MAX || p[n] != '\0')
		return NULL;
	return p;
}

void em_auth_random_password(char *out, size_t outlen, size_t len)
{
	/* No 0/O, 1/l/I: the password is read off a terminal and typed in. */
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	if (outlen == 0)
		return;
	if (len >= outlen)
		len = outlen - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	out[len] = '\0';
}

/* 1 when s is a plausible session or API secret: short, base32/alnum, '_'. */
static int secret_shape_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= SECRET_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return n > 0;
}

/* ---- The loop-owned state --------------------------------------------- */

struct opent {
	struct hnode hn;
	int nsessions;
	em_operator op;
	char key[24]; /* decimal id */
};

struct sess {
	struct hnode hn;
	int64_t sid; /* serial in this process: the credential of its sockets */
	int64_t op_id;
	int64_t created_at, expires_at;
	char csrf[64];
	char hash[EM_AUTH_HASHHEX];
};

struct tok {
	struct hnode hn;
	int64_t id;
	int64_t op_id;
	int can_write;
	uint64_t touched_ms; /* loop time of the last last_used_at write */
	char public_id[32];
	char hash[EM_AUTH_HASHHEX];
};

struct em_auth {
	unsigned magic;
	em_app *app;
	unsigned char key[EM_AUTH_KEYBYTES];
	struct hmap ops, sessions, tokens;
	em_ratelimit *rl;
	em_timer *purge;
	int pw_inflight;
};

static struct em_auth *auth_of(em_app *app)
{
	struct em_auth *a = app->auth;
	EM_MAGIC_CHECK(a, AUTH_MAGIC);
	return a;
}

static struct opent *op_find(struct em_auth *a, int64_t id)
{
	char key[24];
	snprintf(key, sizeof key, "%lld", (long long)id);
	return (struct opent *)hm_get(&a->ops, key);
}

static struct opent *op_upsert(struct em_auth *a, const em_operator *op)
{
	struct opent *e = op_find(a, op->id);
	if (!e) {
		e = em_calloc(1, sizeof *e);
		snprintf(e->key, sizeof e->key, "%lld", (long long)op->id);
		e->hn.key = e->key;
		hm_add(&a->ops, &e->hn);
	}
	e->op = *op;
	return e;
}

static struct sess *sess_add(struct em_auth *a, const char *hash, int64_t op_id, const char *csrf,
			     int64_t created_at, int64_t expires_at)
{
	static int64_t serial;
	struct sess *s = em_calloc(1, sizeof *s);
	s->sid = ++serial;
	snprintf(s->hash, sizeof s->hash, "%s", hash);
	snprintf(s->csrf, sizeof s->csrf, "%s", csrf);
	s->op_id = op_id;
	s->created_at = created_at;
	s->expires_at = expires_at;
	s->hn.key = s->hash;
	hm_add(&a->sessions, &s->hn);
	struct opent *o = op_find(a, op_id);
	if (o)
		o->nsessions++;
	return s;
}

/* Forgets a session (already unlinked from the map) and frees it. */
static void sess_forget(struct em_auth *a, struct sess *s)
{
	/* Consoles signed in with it stop receiving at once. */
	em_hub_end(s->sid, 0);
	struct opent *o = op_find(a, s->op_id);
	if (o && o->nsessions > 0)
		o->nsessions--;
	em_free(s);
}

static void sess_remove(struct em_auth *a, struct sess *s)
{
	hm_unlink(&a->sessions, &s->hn);
	sess_forget(a, s);
}

/* ---- Fire-and-forget writes ------------------------------------------- */

struct small_write {
	int64_t n1, n2;
	char text[EM_AUTH_HASHHEX];
};

static void small_write_done(int status, void *arg)
{
	if (status)
		em_warn("auth write failed", "status=%d", status);
	em_free(arg);
}

static void small_write(struct em_auth *a, em_db_fn fn, int64_t n1, int64_t n2, const char *text)
{
	struct small_write *w = em_calloc(1, sizeof *w);
	w->n1 = n1;
	w->n2 = n2;
	snprintf(w->text, sizeof w->text, "%s", text ? text : "");
	if (em_store_write(a->app->store, fn, small_write_done, w)) {
		em_warn("auth write dropped", "reason=queue_full");
		em_free(w);
	}
}

static int db_session_delete(em_db *db, void *arg)
{
	struct small_write *w = arg;
	return em_db_exec(db, "DELETE FROM op_session WHERE token_hash = ?", "t", w->text);
}

static int db_sessions_purge(em_db *db, void *arg)
{
	struct small_write *w = arg;
	return em_db_exec(db, "DELETE FROM op_session WHERE expires_at <= ?", "i", w->n1);
}

static int db_token_touch(em_db *db, void *arg)
{
	struct small_write *w = arg;
	return em_db_exec(db, "UPDATE api_token SET last_used_at = ? WHERE id = ?", "ii", w->n1, w->n2);
}

/* ---- Start-up --------------------------------------------------------- */

struct secret_load {
	char hex[2 * EM_AUTH_KEYBYTES + 1];
};

/* Reads the server secret, creating it on first start. It runs as a write so
** that two processes starting on a fresh database agree on one secret. */
static int db_secret(em_db *db, void *arg)
{
	struct secret_load *s = arg;
	em_stmt *st = em_db_prepare(db, "SELECT value FROM setting WHERE key = 'auth.secret'", "");
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1) {
		const char *v = em_stmt_text(st, 0);
		snprintf(s->hex, sizeof s->hex, "%s", v ? v : "");
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (rc == 1)
		return 0;
	unsigned char raw[EM_AUTH_KEYBYTES];
	randombytes_buf(raw, sizeof raw);
	em_hex(raw, sizeof raw, s->hex);
	sodium_memzero(raw, sizeof raw);
	return em_db_exec(db, "INSERT INTO setting (key, value) VALUES ('auth.secret', ?)", "t", s->hex);
}

static int db_load(em_db *db, void *arg)
{
	struct em_auth *a = arg;
	em_stmt *st = em_db_prepare(db, "SELECT " EM_OPERATOR_COLUMNS " FROM operator", "");
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		em_operator op;
		em__operator_from_row(st, &op);
		op_upsert(a, &op);
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;

	st = em_db_prepare(db,
			   "SELECT token_hash, operator_id, csrf, created_at, expires_at FROM op_session "
			   "WHERE expires_at > ?",
			   "i", em_now_ms());
	if (!st)
		return EM_EIO;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *hash = em_stmt_text(st, 0), *csrf = em_stmt_text(st, 2);
		if (!hash || !csrf || hm_get(&a->sessions, hash))
			continue;
		sess_add(a, hash, em_stmt_int(st, 1), csrf, em_stmt_int(st, 3), em_stmt_int(st, 4));
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;

	st = em_db_prepare(db,
			   "SELECT id, public_id, operator_id, token_hash, scope FROM api_token "
			   "WHERE revoked_at IS NULL",
			   "");
	if (!st)
		return EM_EIO;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *pub = em_stmt_text(st, 1), *hash = em_stmt_text(st, 3),
			   *scope = em_stmt_text(st, 4);
		if (!pub || !hash || hm_get(&a->tokens, hash))
			continue;
		struct tok *t = em_calloc(1, sizeof *t);
		t->id = em_stmt_int(st, 0);
		snprintf(t->public_id, sizeof t->public_id, "%s", pub);
		t->op_id = em_stmt_int(st, 2);
		snprintf(t->hash, sizeof t->hash, "%s", hash);
		t->can_write = scope && strcmp(scope, "write") == 0;
		t->hn.key = t->hash;
		hm_add(&a->tokens, &t->hn);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* What a sweep over the sessions drops: expired ones, or one operator's. */
struct sess_sweep {
	struct em_auth *a;
	int64_t now;   /* drop sessions expiring at or before this, or */
	int64_t op_id; /* (when > 0) every session of this operator */
};

static int sweep_sessions(struct hnode *n, void *ctx)
{
	struct sess *s = (struct sess *)n;
	struct sess_sweep *w = ctx;
	if (w->op_id > 0 ? s->op_id != w->op_id : s->expires_at > w->now)
		return 0;
	sess_forget(w->a, s);
	return 1;
}

static void on_purge(void *arg)
{
	struct em_auth *a = arg;
	struct sess_sweep w = {a, em_now_ms(), 0};
	hm_sweep(&a->sessions, sweep_sessions, &w);
	small_write(a, db_sessions_purge, w.now, 0, NULL);
}

int em_auth_init(em_app *app, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return EM_EIO;
	}
	struct em_auth *a = em_calloc(1, sizeof *a);
	a->magic = AUTH_MAGIC;
	a->app = app;
	hm_init(&a->ops);
	hm_init(&a->sessions);
	hm_init(&a->tokens);
	a->rl = em_ratelimit_new(RATELIMIT_KEYS, app->cfg.login_attempts_per_min, 60000);

	struct secret_load sl = {{0}};
	int rc = em_store_write_sync(app->store, db_secret, &sl);
	if (rc == 0 && sodium_hex2bin(a->key, sizeof a->key, sl.hex, strlen(sl.hex), NULL, NULL, NULL) != 0)
		rc = EM_ECORRUPT;
	sodium_memzero(&sl, sizeof sl);
	if (rc == 0)
		rc = em_store_read_sync(app->store, db_load, a);
	if (rc) {
		snprintf(err, errlen, "auth: cannot load the server secret, sessions and tokens: %s",
			 em_strerror(rc));
		app->auth = a;
		em_auth_free(app);
		return rc;
	}
	app->auth = a;
	a->purge = em_timer_start(PURGE_INTERVAL_MS, PURGE_INTERVAL_MS, on_purge, a);
	em_info("auth ready", "operators=%zu sessions=%zu tokens=%zu", a->ops.n, a->sessions.n, a->tokens.n);
	return 0;
}

void em_auth_free(em_app *app)
{
	struct em_auth *a = app->auth;
	if (!a)
		return;
	if (a->purge)
		em_timer_stop(a->purge);
	hm_free(&a->sessions);
	hm_free(&a->tokens);
	hm_free(&a->ops);
	em_ratelimit_free(a->rl);
	sodium_memzero(a->key, sizeof a->key);
	a->magic = 0;
	em_free(a);
	app->auth = NULL;
}

/* ---- First start ------------------------------------------------------ */

struct boot {
	em_operator op;
	char pwhash[EM_AUTH_PWHASH_MAX];
	int64_t count;
	int created;
};

static int db_count_operators(em_db *db, void *arg)
{
	struct boot *b = arg;
	em_stmt *st = em_db_prepare(db, "SELECT COUNT(*) FROM operator", "");
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1)
		b->count = em_stmt_int(st, 0);
	em_stmt_done(st);
	return rc == 1 ? 0 : EM_EIO;
}

static int db_bootstrap(em_db *db, void *arg)
{
	struct boot *b = arg;
	/* Counted again inside the transaction: another process (emma user add)
	** may have created an operator since the first look. */
	int rc = db_count_operators(db, b);
	if (rc || b->count > 0)
		return rc;
	rc = em_db_exec(db,
			"INSERT INTO site (key, name, created_at) VALUES ('default', 'Default site', ?) "
			"ON CONFLICT (key) DO NOTHING",
			"i", em_now_ms());
	if (rc)
		return rc;
	rc = em__operator_insert(db, &b->op, b->pwhash);
	if (rc == 0)
		b->created = 1;
	return rc;
}

int em_auth_bootstrap(em_app *app, char *password_out, size_t len)
{
	struct boot b;
	memset(&b, 0, sizeof b);
	if (len)
		password_out[0] = '\0';
	int rc = em_store_read_sync(app->store, db_count_operators, &b);
	if (rc)
		return rc;
	if (b.count > 0)
		return 0;

	char pw[EM_PASSWORD_MAX + 1];
	const char *env = getenv("EMMA_INITIAL_ADMIN_PASSWORD");
	if (env && *env) {
		size_t n = strlen(env);
		if (n < EM_PASSWORD_MIN || n > EM_PASSWORD_MAX) {
			em_error("EMMA_INITIAL_ADMIN_PASSWORD rejected",
				 "reason=\"must be %d to %d characters\"", EM_PASSWORD_MIN, EM_PASSWORD_MAX);
			return EM_EINVAL;
		}
		snprintf(pw, sizeof pw, "%s", env);
	} else {
		em_auth_random_password(pw, sizeof pw, 16);
	}
	snprintf(b.op.email, sizeof b.op.email, "admin@localhost");
	snprintf(b.op.name, sizeof b.op.name, "Administrator");
	snprintf(b.op.lang, sizeof b.op.lang, "en");
	b.op.role = EM_ROLE_ADMIN;
	b.op.max_chats = 4;
	/* Start-up, before the loop runs: hashing here blocks nothing. */
	rc = em_auth_password_hash(pw, b.pwhash, sizeof b.pwhash);
	if (rc == 0)
		rc = em_store_write_sync(app->store, db_bootstrap, &b);
	if (rc == 0 && b.created) {
		if (!(env && *env) && len)
			snprintf(password_out, len, "%s", pw);
		if (app->auth)
			op_upsert(auth_of(app), &b.op);
		em_info("created the first admin", "email=admin@localhost site=default");
	}
	sodium_memzero(pw, sizeof pw);
	sodium_memzero(b.pwhash, sizeof b.pwhash);
	if (rc)
		return rc;
	return b.created;
}

/* ---- Checking requests ------------------------------------------------ */

static int is_read_method(int m)
{
	return m == EM_GET || m == EM_HEAD || m == EM_OPTIONS;
}

/* The live session behind the request's cookie, or NULL. */
static struct sess *session_of(struct em_auth *a, em_req *r)
{
	const char *cookie = em_req_cookie(r, EM_AUTH_COOKIE);
	if (!cookie || !secret_shape_ok(cookie))
		return NULL;
	char hash[EM_AUTH_HASHHEX];
	em_auth_token_hash(a->key, cookie, hash);
	struct sess *s = (struct sess *)hm_get(&a->sessions, hash);
	if (!s || s->expires_at <= em_now_ms())
		return NULL; /* an expired one goes with the next purge */
	return s;
}

/* Builds the principal for an operator into the request arena; NULL when the
** operator is unknown or disabled. */
static em_principal *principal_for(struct em_auth *a, em_req *r, int64_t op_id)
{
	struct opent *o = op_find(a, op_id);
	if (!o || o->op.disabled)
		return NULL;
	em_principal *p = em_req_alloc(r, sizeof *p);
	memset(p, 0, sizeof *p);
	p->operator_id = o->op.id;
	snprintf(p->public_id, sizeof p->public_id, "%s", o->op.public_id);
	snprintf(p->email, sizeof p->email, "%s", o->op.email);
	snprintf(p->name, sizeof p->name, "%s", o->op.name);
	snprintf(p->lang, sizeof p->lang, "%s", o->op.lang);
	p->role = o->op.role;
	p->can_write = 1;
	return p;
}

static const em_principal *from_session(struct em_auth *a, em_req *r)
{
	struct sess *s = session_of(a, r);
	if (!s)
		return NULL;
	em_principal *p = principal_for(a, r, s->op_id);
	if (p) {
		snprintf(p->csrf, sizeof p->csrf, "%s", s->csrf);
		p->credential = s->sid;
	}
	return p;
}

static const em_principal *from_token(struct em_auth *a, em_req *r, const char *secret)
{
	if (!secret_shape_ok(secret))
		return NULL;
	char hash[EM_AUTH_HASHHEX];
	em_auth_token_hash(a->key, secret, hash);
	struct tok *t = (struct tok *)hm_get(&a->tokens, hash);
	if (!t)
		return NULL;
	em_principal *p = principal_for(a, r, t->op_id);
	if (!p)
		return NULL;
	p->via_token = 1;
	p->can_write = t->can_write;
	uint64_t now = em_loop_now();
	if (t->touched_ms == 0 || now - t->touched_ms >= TOKEN_TOUCH_MS) {
		t->touched_ms = now;
		small_write(a, db_token_touch, em_now_ms(), t->id, NULL);
	}
	return p;
}

const em_principal *em_auth_require(em_req *r, int flags)
{
	em_app *app = em_req_app(r);
	struct em_auth *a = auth_of(app);
	int read_only = is_read_method(em_req_method(r));
	const em_principal *p;
	const char *authz = em_req_header(r, "Authorization");
	if (authz) {
		const char *secret = em_auth_bearer(authz);
		p = secret ? from_token(a, r, secret) : NULL;
		if (!p) {
			em_resp_header(r, "WWW-Authenticate", "Bearer");
			em_resp_error(r, 401, "unauthorized",
				      "the API token is unknown, revoked or malformed", NULL);
			return NULL;
		}
		if (!p->can_write && !read_only) {
			em_resp_error(r, 403, "forbidden",
				      "this API token has the read scope and may only read", NULL);
			return NULL;
		}
	} else {
		p = from_session(a, r);
		if (!p) {
			em_resp_error(r, 401, "unauthorized", "sign in first: no valid session", NULL);
			return NULL;
		}
		if (!read_only && !em_auth_csrf_equal(p->csrf, em_req_header(r, "X-CSRF-Token"))) {
			em_resp_error(r, 403, "csrf_failed", "missing or wrong X-CSRF-Token header", NULL);
			return NULL;
		}
	}
	if ((flags & EM_AUTH_ADMIN) && p->role != EM_ROLE_ADMIN) {
		em_resp_error(r, 403, "forbidden", "this needs an admin", NULL);
		return NULL;
	}
	em_req_set_user(r, (void *)p);
	return p;
}

const em_principal *em_auth_peek(em_req *r)
{
	em_app *app = em_req_app(r);
	if (!app->auth)
		return NULL;
	const em_principal *p = from_session(auth_of(app), r);
	if (p)
		em_req_set_user(r, (void *)p);
	return p;
}

void em_auth_set_cookie(em_req *r, const char *token)
{
	em_app *app = em_req_app(r);
	char v[256];
	const char *secure = em_req_is_https(r) ? "; Secure" : "";
	if (token)
		snprintf(v, sizeof v, EM_AUTH_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
			 token, app->cfg.session_ttl_s, secure);
	else
		snprintf(v, sizeof v, EM_AUTH_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
			 secure);
	em_resp_header(r, "Set-Cookie", v);
}

int em_auth_operator(em_app *app, int64_t operator_id, em_operator *out)
{
	struct opent *o = op_find(auth_of(app), operator_id);
	if (!o)
		return EM_ENOTFOUND;
	*out = o->op;
	return 0;
}

/* ---- Passwords on the thread pool ------------------------------------- */

struct pw_job {
	struct em_auth *a;
	int verify;
	int status;
	char pw[EM_PASSWORD_MAX + 1];
	char hash[EM_AUTH_PWHASH_MAX];
	em_auth_pw_done done;
	void *arg;
};

static void pw_work(void *arg)
{
	struct pw_job *j = arg;
	if (j->verify)
		j->status = em_auth_password_verify(j->hash, j->pw);
	else
		j->status = em_auth_password_hash(j->pw, j->hash, sizeof j->hash);
}

static void pw_done(void *arg)
{
	struct pw_job *j = arg;
	j->a->pw_inflight--;
	sodium_memzero(j->pw, sizeof j->pw);
	j->done(j->status, j->verify || j->status ? NULL : j->hash, j->arg);
	sodium_memzero(j->hash, sizeof j->hash);
	em_free(j);
}

static void pw_submit(em_app *app, int verify, const char *hash, const char *password, em_auth_pw_done done,
		      void *arg)
{
	struct em_auth *a = auth_of(app);
	if (a->pw_inflight >= PW_INFLIGHT_MAX || strlen(password) > EM_PASSWORD_MAX) {
		done(a->pw_inflight >= PW_INFLIGHT_MAX ? EM_EAGAIN : EM_EINVAL, NULL, arg);
		return;
	}
	struct pw_job *j = em_calloc(1, sizeof *j);
	j->a = a;
	j->verify = verify;
	snprintf(j->pw, sizeof j->pw, "%s", password);
	if (hash)
		snprintf(j->hash, sizeof j->hash, "%s", hash);
	j->done = done;
	j->arg = arg;
	if (em_loop_work(pw_work, pw_done, j)) {
		sodium_memzero(j->pw, sizeof j->pw);
		em_free(j);
		done(EM_EAGAIN, NULL, arg);
		return;
	}
	a->pw_inflight++;
}

void em_auth_hash_async(em_app *app, const char *password, em_auth_pw_done done, void *arg)
{
	pw_submit(app, 0, NULL, password, done, arg);
}

void em_auth_verify_async(em_app *app, const char *hash, const char *password, em_auth_pw_done done,
			  void *arg)
{
	pw_submit(app, 1, hash, password, done, arg);
}

/* ---- Sign-in ---------------------------------------------------------- */

struct login_job {
	em_app *app;
	em_login_result res;
	char email[EM_EMAIL_MAX + 2];
	char pw[EM_PASSWORD_MAX + 1];
	char ip[64];
	char ua[256];
	char key_ip[80];
	char key_email[EM_EMAIL_MAX + 8];
	int found; /* a row with this e-mail exists */
	char pwhash[EM_AUTH_PWHASH_MAX];
	char token_hash[EM_AUTH_HASHHEX];
	int64_t created_at, expires_at;
	int inserted;
	em_auth_login_done done;
	void *arg;
};

static void login_finish(struct login_job *j, int status)
{
	j->res.status = status;
	if (status == EM_EAGAIN && j->res.retry_after_s == 0)
		j->res.retry_after_s = 1;
	if (status) {
		j->res.token[0] = '\0';
		j->res.csrf[0] = '\0';
	}
	sodium_memzero(j->pw, sizeof j->pw);
	sodium_memzero(j->pwhash, sizeof j->pwhash);
	j->done(&j->res, j->arg);
	sodium_memzero(j->res.token, sizeof j->res.token);
	em_free(j);
}

/* Takes back the attempt counted at the start: it was not a failure. */
static void login_forgive(struct login_job *j)
{
	struct em_auth *a = auth_of(j->app);
	em_ratelimit_forgive(a->rl, j->key_ip);
	em_ratelimit_forgive(a->rl, j->key_email);
}

static int db_login_lookup(em_db *db, void *arg)
{
	struct login_job *j = arg;
	em_stmt *st = em_db_prepare(
		db, "SELECT " EM_OPERATOR_COLUMNS ", password_hash FROM operator WHERE email = ?", "t",
		j->email);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1) {
		em__operator_from_row(st, &j->res.op);
		const char *h = em_stmt_text(st, 10);
		snprintf(j->pwhash, sizeof j->pwhash, "%s", h ? h : "");
		j->found = j->pwhash[0] != '\0';
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* The session row goes in only if the operator is still enabled and still has
** the password just verified: a disable or password change that committed
** meanwhile wins. */
static int db_login_insert(em_db *db, void *arg)
{
	struct login_job *j = arg;
	int rc = em_db_exec(
		db,
		"INSERT INTO op_session (token_hash, operator_id, csrf, created_at, expires_at, ip, "
		"user_agent) SELECT ?, id, ?, ?, ?, ?, ? FROM operator "
		"WHERE id = ? AND disabled = 0 AND password_hash = ?",
		"ttiittit", j->token_hash, j->res.csrf, j->created_at, j->expires_at, j->ip, j->ua,
		j->res.op.id, j->pwhash);
	if (rc == 0)
		j->inserted = em_db_changes(db) > 0;
	return rc;
}

struct oldest_ctx {
	int64_t op_id;
	struct sess *oldest;
};

static int find_oldest(struct hnode *n, void *ctx)
{
	struct sess *s = (struct sess *)n;
	struct oldest_ctx *c = ctx;
	if (s->op_id == c->op_id && (!c->oldest || s->created_at < c->oldest->created_at))
		c->oldest = s;
	return 0;
}

static void login_inserted(int status, void *arg)
{
	struct login_job *j = arg;
	struct em_auth *a = auth_of(j->app);
	if (status) {
		login_finish(j, status);
		return;
	}
	if (!j->inserted) {
		em_audit(j->app, j->res.op.id, "login.failed", j->email, j->ip, "changed during sign-in");
		login_finish(j, EM_EAUTH);
		return;
	}
	struct opent *o = op_upsert(a, &j->res.op);
	sess_add(a, j->token_hash, j->res.op.id, j->res.csrf, j->created_at, j->expires_at);
	/* Bounded per operator: a script signing in in a loop ends its own
	** oldest sessions instead of growing the table. */
	while (o->nsessions > EM_AUTH_SESSIONS_PER_OPERATOR) {
		struct oldest_ctx c = {j->res.op.id, NULL};
		hm_sweep(&a->sessions, find_oldest, &c);
		if (!c.oldest)
			break;
		small_write(a, db_session_delete, 0, 0, c.oldest->hash);
		sess_remove(a, c.oldest);
	}
	em_audit(j->app, j->res.op.id, "login.succeeded", j->res.op.public_id, j->ip, NULL);
	login_finish(j, 0);
}

static void login_verified(int status, const char *hash, void *arg)
{
	struct login_job *j = arg;
	(void)hash;
	sodium_memzero(j->pw, sizeof j->pw);
	if (status == EM_EAGAIN) {
		login_forgive(j);
		login_finish(j, EM_EAGAIN);
		return;
	}
	if (status || !j->found || j->res.op.disabled) {
		em_audit(j->app, j->found ? j->res.op.id : 0, "login.failed", j->email, j->ip,
			 !j->found	      ? "unknown e-mail"
			 : j->res.op.disabled ? "operator disabled"
					      : "wrong password");
		login_finish(j, EM_EAUTH);
		return;
	}
	login_forgive(j);
	struct em_auth *a = auth_of(j->app);
	em_id_random(j->res.token, sizeof j->res.token, 32);
	em_id_random(j->res.csrf, sizeof j->res.csrf, 24);
	em_auth_token_hash(a->key, j->res.token, j->token_hash);
	j->created_at = em_now_ms();
	j->expires_at = j->created_at + (int64_t)j->app->cfg.session_ttl_s * 1000;
	int rc = em_store_write(j->app->store, db_login_insert, login_inserted, j);
	if (rc)
		login_finish(j, rc);
}

static void login_looked_up(int status, void *arg)
{
	struct login_job *j = arg;
	if (status) {
		login_forgive(j);
		login_finish(j, status);
		return;
	}
	/* Unknown e-mail or not: the same Argon2id work, so that timing does
	** not tell which addresses have an account. */
	em_auth_verify_async(j->app, j->found ? j->pwhash : dummy_hash, j->pw, login_verified, j);
}

void em_auth_login(em_app *app, const char *email, const char *password, const char *ip,
		   const char *user_agent, em_auth_login_done done, void *arg)
{
	struct em_auth *a = auth_of(app);
	struct login_job *j = em_calloc(1, sizeof *j);
	j->app = app;
	j->done = done;
	j->arg = arg;
	if (!email || !password || strlen(email) > EM_EMAIL_MAX || strlen(password) > EM_PASSWORD_MAX) {
		login_finish(j, EM_EAUTH);
		return;
	}
	em_operator_email_normalize(email, j->email, sizeof j->email);
	snprintf(j->pw, sizeof j->pw, "%s", password);
	snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
	snprintf(j->ua, sizeof j->ua, "%s", user_agent ? user_agent : "");
	snprintf(j->key_ip, sizeof j->key_ip, "i:%s", j->ip);
	snprintf(j->key_email, sizeof j->key_email, "e:%s", j->email);

	int64_t now = (int64_t)em_loop_now();
	int w1 = em_ratelimit_blocked(a->rl, j->key_ip, now);
	int w2 = em_ratelimit_blocked(a->rl, j->key_email, now);
	if (w1 || w2) {
		j->res.retry_after_s = w1 > w2 ? w1 : w2;
		login_finish(j, EM_ERANGE);
		return;
	}
	/* Counted now and taken back on success, so that a burst of parallel
	** guesses is limited too, not only the ones that already failed. */
	em_ratelimit_hit(a->rl, j->key_ip, now);
	em_ratelimit_hit(a->rl, j->key_email, now);
	int rc = em_store_read(app->store, db_login_lookup, login_looked_up, j);
	if (rc) {
		login_forgive(j);
		login_finish(j, rc);
	}
}

/* ---- Sign-out --------------------------------------------------------- */

struct logout_job {
	void (*done)(int, void *);
	void *arg;
	char hash[EM_AUTH_HASHHEX];
};

static int db_logout(em_db *db, void *arg)
{
	struct logout_job *j = arg;
	return em_db_exec(db, "DELETE FROM op_session WHERE token_hash = ?", "t", j->hash);
}

static void logout_done(int status, void *arg)
{
	struct logout_job *j = arg;
	j->done(status, j->arg);
	em_free(j);
}

void em_auth_logout(em_req *r, void (*done)(int status, void *arg), void *arg)
{
	em_app *app = em_req_app(r);
	struct em_auth *a = auth_of(app);
	struct sess *s = session_of(a, r);
	if (!s) {
		done(0, arg);
		return;
	}
	struct logout_job *j = em_calloc(1, sizeof *j);
	j->done = done;
	j->arg = arg;
	snprintf(j->hash, sizeof j->hash, "%s", s->hash);
	em_audit(app, s->op_id, "logout", NULL, em_req_client_ip(r), NULL);
	/* Gone from memory at once: the cookie stops working now, even if the
	** row's deletion is still queued. */
	sess_remove(a, s);
	int rc = em_store_write(app->store, db_logout, logout_done, j);
	if (rc) {
		em_free(j);
		done(rc, arg);
	}
}

/* ---- Operators changed elsewhere -------------------------------------- */

void em__auth_operator_changed(em_app *app, const em_operator *op, int revoke)
{
	if (!app->auth)
		return;
	struct em_auth *a = auth_of(app);
	op_upsert(a, op);
	if (revoke) {
		struct sess_sweep w = {a, 0, op->id};
		hm_sweep(&a->sessions, sweep_sessions, &w);
		/* Every socket of the operator, whatever opened it. */
		em_hub_end(0, op->id);
	}
}

/* ---- API tokens ------------------------------------------------------- */

struct token_job {
	em_app *app;
	int64_t op_id;
	int is_admin;
	char ip[64];
	em_token t;
	char secret[64];
	char hash[EM_AUTH_HASHHEX];
	int64_t token_id;
	int changed;
	em_token *list;
	size_t n;
	void (*create_done)(int, const em_token *, const char *, void *);
	void (*list_done)(int, const em_token *, size_t, void *);
	void (*revoke_done)(int, void *);
	void *arg;
};

static struct token_job *token_job_new(em_app *app, const em_principal *p, const char *ip, void *arg)
{
	struct token_job *j = em_calloc(1, sizeof *j);
	j->app = app;
	j->op_id = p->operator_id;
	j->is_admin = p->role == EM_ROLE_ADMIN;
	snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
	snprintf(j->t.operator_id, sizeof j->t.operator_id, "%s", p->public_id);
	j->arg = arg;
	return j;
}

static void token_job_free(struct token_job *j)
{
	sodium_memzero(j->secret, sizeof j->secret);
	em_free(j->list);
	em_free(j);
}

static int db_token_insert(em_db *db, void *arg)
{
	struct token_job *j = arg;
	int rc = em_db_exec(
		db,
		"INSERT INTO api_token (public_id, operator_id, name, token_hash, scope, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?)",
		"tittti", j->t.public_id, j->op_id, j->t.name, j->hash, j->t.can_write ? "write" : "read",
		j->t.created_at);
	if (rc == 0)
		j->token_id = em_db_last_id(db);
	return rc;
}

static void token_inserted(int status, void *arg)
{
	struct token_job *j = arg;
	if (status == 0) {
		struct em_auth *a = auth_of(j->app);
		struct tok *t = em_calloc(1, sizeof *t);
		t->id = j->token_id;
		t->op_id = j->op_id;
		t->can_write = j->t.can_write;
		snprintf(t->public_id, sizeof t->public_id, "%s", j->t.public_id);
		snprintf(t->hash, sizeof t->hash, "%s", j->hash);
		t->hn.key = t->hash;
		hm_add(&a->tokens, &t->hn);
		em_audit(j->app, j->op_id, "token.created", j->t.public_id, j->ip,
			 j->t.can_write ? "scope=write" : "scope=read");
	}
	j->create_done(status, status ? NULL : &j->t, status ? NULL : j->secret, j->arg);
	token_job_free(j);
}

struct count_ctx {
	int64_t op_id;
	int n;
};

static int count_tokens(struct hnode *n, void *ctx)
{
	struct count_ctx *c = ctx;
	if (((struct tok *)n)->op_id == c->op_id)
		c->n++;
	return 0;
}

void em_auth_token_create(em_app *app, const em_principal *p, const char *ip, const char *name, int can_write,
			  void (*done)(int status, const em_token *t, const char *secret, void *arg),
			  void *arg)
{
	struct em_auth *a = auth_of(app);
	if (!name || !*name || strlen(name) > EM_AUTH_TOKEN_NAME_MAX) {
		done(EM_EINVAL, NULL, NULL, arg);
		return;
	}
	struct count_ctx c = {p->operator_id, 0};
	hm_sweep(&a->tokens, count_tokens, &c);
	if (c.n >= EM_AUTH_TOKENS_PER_OPERATOR) {
		done(EM_EEXIST, NULL, NULL, arg);
		return;
	}
	struct token_job *j = token_job_new(app, p, ip, arg);
	j->create_done = done;
	snprintf(j->t.name, sizeof j->t.name, "%s", name);
	j->t.can_write = can_write != 0;
	j->t.created_at = em_now_ms();
	char pub[27], sec[56]; /* 16 and 32 random bytes as base32: 26 and 52 characters */
	em_id_random(pub, sizeof pub, 16);
	snprintf(j->t.public_id, sizeof j->t.public_id, "tok_%s", pub);
	em_id_random(sec, sizeof sec, 32);
	snprintf(j->secret, sizeof j->secret, "emt_%s", sec);
	sodium_memzero(sec, sizeof sec);
	em_auth_token_hash(a->key, j->secret, j->hash);
	int rc = em_store_write(app->store, db_token_insert, token_inserted, j);
	if (rc) {
		token_job_free(j);
		done(rc, NULL, NULL, arg);
	}
}

/* Admins see every active token; everyone else only their own. The per-
** operator cap bounds the page; the admin listing is capped as well. */
static int db_token_list(em_db *db, void *arg)
{
	struct token_job *j = arg;
	size_t cap = j->is_admin ? 1000 : EM_AUTH_TOKENS_PER_OPERATOR;
	j->list = em_calloc(cap, sizeof *j->list);
	em_stmt *st;
	if (j->is_admin)
		st = em_db_prepare(
			db,
			"SELECT t.public_id, t.name, t.scope, t.created_at, t.last_used_at, o.public_id "
			"FROM api_token t JOIN operator o ON o.id = t.operator_id "
			"WHERE t.revoked_at IS NULL ORDER BY t.id LIMIT 1000",
			"");
	else
		st = em_db_prepare(
			db,
			"SELECT t.public_id, t.name, t.scope, t.created_at, t.last_used_at, o.public_id "
			"FROM api_token t JOIN operator o ON o.id = t.operator_id "
			"WHERE t.revoked_at IS NULL AND t.operator_id = ? ORDER BY t.id LIMIT 100",
			"i", j->op_id);
	if (!st)
		return EM_EIO;
	int rc = 0;
	while (j->n < cap && (rc = em_stmt_step(st)) == 1) {
		em_token *t = &j->list[j->n++];
		const char *s;
		snprintf(t->public_id, sizeof t->public_id, "%s", (s = em_stmt_text(st, 0)) ? s : "");
		snprintf(t->name, sizeof t->name, "%s", (s = em_stmt_text(st, 1)) ? s : "");
		s = em_stmt_text(st, 2);
		t->can_write = s && strcmp(s, "write") == 0;
		t->created_at = em_stmt_int(st, 3);
		t->last_used_at = em_stmt_is_null(st, 4) ? 0 : em_stmt_int(st, 4);
		snprintf(t->operator_id, sizeof t->operator_id, "%s", (s = em_stmt_text(st, 5)) ? s : "");
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void token_listed(int status, void *arg)
{
	struct token_job *j = arg;
	j->list_done(status, j->list, status ? 0 : j->n, j->arg);
	token_job_free(j);
}

void em_auth_token_list(em_app *app, const em_principal *p,
			void (*done)(int status, const em_token *list, size_t n, void *arg), void *arg)
{
	struct token_job *j = token_job_new(app, p, NULL, arg);
	j->list_done = done;
	int rc = em_store_read(app->store, db_token_list, token_listed, j);
	if (rc) {
		token_job_free(j);
		done(rc, NULL, 0, arg);
	}
}

struct find_pub {
	const char *public_id;
	struct tok *found;
};

static int find_token_pub(struct hnode *n, void *ctx)
{
	struct find_pub *f = ctx;
	if (strcmp(((struct tok *)n)->public_id, f->public_id) == 0)
		f->found = (struct tok *)n;
	return 0;
}

static int db_token_revoke(em_db *db, void *arg)
{
	struct token_job *j = arg;
	int rc = em_db_exec(db, "UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
			    "ii", em_now_ms(), j->token_id);
	if (rc == 0)
		j->changed = em_db_changes(db) > 0;
	return rc;
}

static void token_revoked(int status, void *arg)
{
	struct token_job *j = arg;
	if (status == 0) {
		struct em_auth *a = auth_of(j->app);
		struct tok *t = (struct tok *)hm_get(&a->tokens, j->hash);
		if (t) {
			hm_unlink(&a->tokens, &t->hn);
			em_free(t);
		}
		em_audit(j->app, j->op_id, "token.revoked", j->t.public_id, j->ip, NULL);
	}
	j->revoke_done(status, j->arg);
	token_job_free(j);
}

void em_auth_token_revoke(em_app *app, const em_principal *p, const char *ip, const char *public_id,
			  void (*done)(int status, void *arg), void *arg)
{
	struct em_auth *a = auth_of(app);
	struct find_pub f = {public_id ? public_id : "", NULL};
	if (public_id && strlen(public_id) < sizeof f.found->public_id)
		hm_sweep(&a->tokens, find_token_pub, &f);
	/* Someone else's token is "not found", not "forbidden": its existence is
	** nothing an agent needs to learn. */
	if (!f.found || (p->role != EM_ROLE_ADMIN && f.found->op_id != p->operator_id)) {
		done(EM_ENOTFOUND, arg);
		return;
	}
	struct token_job *j = token_job_new(app, p, ip, arg);
	j->revoke_done = done;
	j->token_id = f.found->id;
	snprintf(j->hash, sizeof j->hash, "%s", f.found->hash);
	snprintf(j->t.public_id, sizeof j->t.public_id, "%s", f.found->public_id);
	int rc = em_store_write(app->store, db_token_revoke, token_revoked, j);
	if (rc) {
		token_job_free(j);
		done(rc, arg);
	}
}
