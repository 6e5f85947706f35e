/*
** The search indexes' vocabularies in memory (see vocab.h).
*/
#include "kb/vocab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* One read of an index's vocabulary: terms sorted (byte order, as FTS5
** keeps them), each with its document count. Shared by the searches that
** use it (refs), freed by the last one when replaced. */
typedef struct snap {
	int refs;
	uint64_t id;
	size_t n;
	uint32_t *off; /* term i is text + off[i] */
	uint32_t *doc;
	uint64_t *cum; /* cum[i]: documents of terms 0 .. i-1 (n + 1 entries) */
	char *text;
	size_t bytes;
	unsigned char structure[32]; /* hash of the index's structure record when read */
	int has_structure;
	/* Each document's length in tokens (all columns), by rowid, ascending:
	** the rank function's, instead of a lookup in the index per row. */
	int64_t *rowids;
	uint32_t *lens;
	size_t ndocs;
} snap;

typedef struct vslot {
	snap *cur;	    /* the last snapshot read (may be out of date) */
	uint64_t cur_gen;   /* the index's generation it was read at */
	uint64_t gen;	    /* bumped by every change of the index */
	int64_t changed_at; /* last change (ms) */
	int64_t built_at;   /* last read started (ms); 0: never */
	int64_t build_ms;   /* how long the last read took */
	int building;
} vslot;

static vslot slots[4];
static uint64_t next_id = 1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const scan_sql[4] = {
	"SELECT term, doc FROM kb_vocab_art_de",
	"SELECT term, doc FROM kb_vocab_prod_de",
	"SELECT term, doc FROM kb_vocab_art_en",
	"SELECT term, doc FROM kb_vocab_prod_en",
};
static const char *const names[4] = {"articles de", "products de", "articles en", "products en"};

void em_kb_vocab_changed(int products)
{
	int64_t now = em_now_ms();
	pthread_mutex_lock(&mu);
	for (int i = products ? 1 : 0; i < 4; i += 2) {
		slots[i].gen++;
		slots[i].changed_at = now;
	}
	pthread_mutex_unlock(&mu);
}

static void snap_free(snap *s)
{
	if (!s)
		return;
	em_free(s->off);
	em_free(s->doc);
	em_free(s->cum);
	em_free(s->text);
	em_free(s->rowids);
	em_free(s->lens);
	em_free(s);
}

/* Called with mu held. */
static void snap_unref(snap *s)
{
	if (s && --s->refs == 0)
		snap_free(s);
}

static int snap_cmp_at(const snap *s, size_t i, const char *term)
{
	return strcmp(s->text + s->off[i], term);
}

/* Whether the terms arrived in order (they do from FTS5; checked, since
** the lookups depend on it). */
static int snap_sorted(const snap *s)
{
	for (size_t i = 1; i < s->n; i++)
		if (strcmp(s->text + s->off[i - 1], s->text + s->off[i]) >= 0)
			return 0;
	return 1;
}

/* The index's structure and averages records (FTS5 keeps them at ids 10
** and 1 of its %_data table; the first changes with every segment written,
** the second with every row added or removed), hashed: a snapshot past its
** time is still current when they are the same. 0 when they cannot be read. */
static const char *const structure_sql[4] = {
	"SELECT block FROM kb_art_de_data WHERE id IN (1, 10) ORDER BY id",
	"SELECT block FROM kb_prod_de_data WHERE id IN (1, 10) ORDER BY id",
	"SELECT block FROM kb_art_en_data WHERE id IN (1, 10) ORDER BY id",
	"SELECT block FROM kb_prod_en_data WHERE id IN (1, 10) ORDER BY id",
};
static int structure_hash(em_db *db, int idx, unsigned char out[32])
{
	em_stmt *st = em_db_prepare(db, structure_sql[idx], NULL);
	int rows = 0, rc;
	/* FNV-1a, four lanes, and the lengths: a change of the records is
	** what is looked for, not an adversary. */
	uint64_t h[4] = {14695981039346656037ull, 1099511628211ull, 0x9E3779B97F4A7C15ull, 0};
	while ((rc = em_stmt_step(st)) == 1) {
		size_t len = 0;
		const unsigned char *b = em_stmt_blob(st, 0, &len);
		h[3] = h[3] * 31 + (uint64_t)len;
		for (size_t i = 0; b && i < len; i++)
			h[i & 3] = (h[i & 3] ^ b[i]) * 1099511628211ull;
		rows++;
	}
	em_stmt_done(st);
	memcpy(out, h, 32);
	return rc == 0 && rows == 2;
}

static const char *const docsize_sql[4] = {
	"SELECT id, sz FROM kb_art_de_docsize",
	"SELECT id, sz FROM kb_prod_de_docsize",
	"SELECT id, sz FROM kb_art_en_docsize",
	"SELECT id, sz FROM kb_prod_en_docsize",
};

/* The documents' lengths: each row of %_docsize holds the token count of
** each column as SQLite varints. 0 on error. */
static int doclens_read(em_db *db, int idx, snap *s)
{
	size_t cap = 0;
	em_stmt *st = em_db_prepare(db, docsize_sql[idx], NULL);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		size_t len = 0;
		const unsigned char *b = em_stmt_blob(st, 1, &len);
		uint64_t total = 0;
		for (size_t i = 0; b && i < len;) {
			uint64_t v = 0;
			int k = 0;
			while (i < len && k < 8 && (b[i] & 0x80))
				v = (v << 7) | (b[i++] & 0x7F), k++;
			if (i < len)
				v = k == 8 ? (v << 8) | b[i++] : (v << 7) | b[i++];
			total += v;
		}
		int64_t id = em_stmt_int(st, 0);
		if (s->ndocs && id <= s->rowids[s->ndocs - 1]) {
			rc = -1; /* not in order: not kept */
			break;
		}
		if (s->ndocs == cap) {
			cap = cap ? cap * 2 : 4096;
			s->rowids = em_realloc(s->rowids, cap * sizeof *s->rowids);
			s->lens = em_realloc(s->lens, cap * sizeof *s->lens);
		}
		s->rowids[s->ndocs] = id;
		s->lens[s->ndocs++] = total > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)total;
	}
	em_stmt_done(st);
	s->bytes += cap * (sizeof *s->rowids + sizeof *s->lens);
	if (rc < 0) {
		em_free(s->rowids);
		em_free(s->lens);
		s->rowids = NULL;
		s->lens = NULL;
		s->ndocs = 0;
		return 0;
	}
	return 1;
}

/* Reads index idx's vocabulary; NULL on error or when too large. */
static snap *snap_read(em_db *db, int idx)
{
	uint64_t t0 = em_mono_us();
	snap *s = em_calloc(1, sizeof *s);
	s->has_structure = structure_hash(db, idx, s->structure);
	size_t cap = 0, tcap = 0, tlen = 0;
	em_stmt *st = em_db_prepare(db, scan_sql[idx], NULL);
	int rc, big = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *t = em_stmt_text(st, 0);
		if (!t)
			continue;
		size_t l = strlen(t) + 1;
		if (s->n == cap) {
			cap = cap ? cap * 2 : 4096;
			s->off = em_realloc(s->off, cap * sizeof *s->off);
			s->doc = em_realloc(s->doc, cap * sizeof *s->doc);
		}
		if (tlen + l > tcap) {
			while (tlen + l > tcap)
				tcap = tcap ? tcap * 2 : 65536;
			s->text = em_realloc(s->text, tcap);
		}
		if (tcap + cap * 2 * sizeof(uint32_t) > EM_KB_VOCAB_MAX_BYTES) {
			big = 1;
			break;
		}
		memcpy(s->text + tlen, t, l);
		s->off[s->n] = (uint32_t)tlen;
		int64_t d = em_stmt_int(st, 1);
		s->doc[s->n] = d > 0xFFFFFFFFLL ? 0xFFFFFFFFu : (uint32_t)d;
		s->n++;
		tlen += l;
	}
	em_stmt_done(st);
	if (rc < 0 || big || !snap_sorted(s)) {
		em_warn("kb: search vocabulary not kept in memory", "index=\"%s\" terms=%zu reason=%s",
			names[idx], s->n,
			rc < 0 ? "read-failed"
			: big  ? "too-large"
			       : "unsorted");
		snap_free(s);
		return NULL;
	}
	s->cum = em_malloc((s->n + 1) * sizeof *s->cum);
	s->cum[0] = 0;
	for (size_t i = 0; i < s->n; i++)
		s->cum[i + 1] = s->cum[i] + s->doc[i];
	s->bytes = tcap + cap * 2 * sizeof(uint32_t) + (s->n + 1) * sizeof *s->cum + sizeof *s;
	doclens_read(db, idx, s);
	em_debug("kb: search vocabulary read", "index=\"%s\" terms=%zu docs=%zu bytes=%zu ms=%.1f",
		 names[idx], s->n, s->ndocs, s->bytes, (double)(em_mono_us() - t0) / 1000.0);
	return s;
}

/* The current snapshot of index idx, with a reference the caller drops
** with release(); NULL when there is none now (the caller asks SQL). May
** read the vocabulary first (see vocab.h for when). */
static snap *acquire(em_db *db, int idx)
{
	vslot *v = &slots[idx];
	int64_t now = em_now_ms();
	pthread_mutex_lock(&mu);
	if (v->cur && v->cur_gen == v->gen && now - v->built_at < EM_KB_VOCAB_TTL_MS) {
		v->cur->refs++;
		snap *s = v->cur;
		pthread_mutex_unlock(&mu);
		return s;
	}
	/* Past its time but unchanged by this process: when the index's
	** structure record is still the same, nobody else changed it either. */
	if (v->cur && v->cur_gen == v->gen && v->cur->has_structure && !v->building) {
		snap *s = v->cur;
		s->refs++;
		uint64_t gen = v->gen;
		pthread_mutex_unlock(&mu);
		unsigned char h[32];
		int same = structure_hash(db, idx, h) && !memcmp(h, s->structure, 32);
		pthread_mutex_lock(&mu);
		if (same && v->gen == gen && v->cur == s) {
			v->built_at = now;
			pthread_mutex_unlock(&mu);
			return s;
		}
		snap_unref(s);
	}
	int64_t every = EM_KB_VOCAB_REBUILD_MS > v->build_ms * EM_KB_VOCAB_REBUILD_X
				? EM_KB_VOCAB_REBUILD_MS
				: v->build_ms * EM_KB_VOCAB_REBUILD_X;
	if (v->building || now - v->changed_at < EM_KB_VOCAB_GRACE_MS ||
	    (v->built_at && now - v->built_at < every)) {
		pthread_mutex_unlock(&mu);
		return NULL;
	}
	v->building = 1;
	v->built_at = now;
	uint64_t gen = v->gen;
	pthread_mutex_unlock(&mu);

	snap *s = snap_read(db, idx);

	pthread_mutex_lock(&mu);
	v->building = 0;
	v->build_ms = em_now_ms() - now;
	snap *got = NULL;
	if (s && v->gen == gen) {
		s->refs = 1; /* the slot's */
		s->id = next_id++;
		snap_unref(v->cur);
		v->cur = s;
		v->cur_gen = gen;
		s->refs++;
		got = s;
	} else {
		snap_free(s); /* changed meanwhile: read again later */
	}
	pthread_mutex_unlock(&mu);
	return got;
}

static void release(snap *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&mu);
	snap_unref(s);
	pthread_mutex_unlock(&mu);
}

/* The first term >= key. */
static size_t lower_bound(const snap *s, const char *key)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (snap_cmp_at(s, m, key) < 0)
			lo = m + 1;
		else
			hi = m;
	}
	return lo;
}

int em_kb_vocab_docs(em_db *db, int idx, const char *term, int64_t *docs)
{
	snap *s = acquire(db, idx);
	if (!s)
		return 0;
	size_t i = lower_bound(s, term);
	*docs = i < s->n && !snap_cmp_at(s, i, term) ? (int64_t)s->doc[i] : 0;
	release(s);
	return 1;
}

int em_kb_vocab_prefixed(em_db *db, int idx, const char *prefix, int *found)
{
	snap *s = acquire(db, idx);
	if (!s)
		return 0;
	size_t i = lower_bound(s, prefix);
	*found = i < s->n && !strncmp(s->text + s->off[i], prefix, strlen(prefix));
	release(s);
	return 1;
}

/* The terms that begin with prefix: [*lo, *hi). */
static void prefix_range(const snap *s, const char *prefix, size_t *lo, size_t *hi)
{
	size_t pl = strlen(prefix);
	*lo = lower_bound(s, prefix);
	size_t a = *lo, b = s->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (!strncmp(s->text + s->off[m], prefix, pl))
			a = m + 1;
		else
			b = m;
	}
	*hi = a;
}

int em_kb_vocab_prefix_docs(em_db *db, int idx, const char *prefix, int64_t *docs)
{
	snap *s = acquire(db, idx);
	if (!s)
		return 0;
	size_t lo, hi;
	prefix_range(s, prefix, &lo, &hi);
	*docs = (int64_t)(s->cum[hi] - s->cum[lo]);
	release(s);
	return 1;
}

int em_kb_vocab_prefix_terms(em_db *db, int idx, const char *prefix, int max,
			     void (*each)(void *arg, const char *term), void *arg)
{
	snap *s = acquire(db, idx);
	if (!s)
		return -1;
	size_t lo, hi;
	prefix_range(s, prefix, &lo, &hi);
	int n = hi - lo > (size_t)max ? -1 : (int)(hi - lo);
	for (size_t i = lo; n >= 0 && i < hi; i++)
		each(arg, s->text + s->off[i]);
	release(s);
	return n;
}

uint64_t em_kb_vocab_epoch(em_db *db, int de)
{
	snap *a = acquire(db, EM_KB_VOCAB_INDEX(de, 0));
	snap *p = a ? acquire(db, EM_KB_VOCAB_INDEX(de, 1)) : NULL;
	uint64_t e = a && p ? (a->id << 32) ^ p->id : 0;
	release(a);
	release(p);
	return e;
}

const void *em_kb_vocab_doclens(int idx)
{
	if (idx < 0 || idx > 3)
		return NULL;
	vslot *v = &slots[idx];
	int64_t now = em_now_ms();
	snap *s = NULL;
	pthread_mutex_lock(&mu);
	if (v->cur && v->cur_gen == v->gen && now - v->built_at < EM_KB_VOCAB_TTL_MS && v->cur->ndocs) {
		s = v->cur;
		s->refs++;
	}
	pthread_mutex_unlock(&mu);
	return s;
}

int em_kb_vocab_doclen(const void *h, int64_t rowid, int *len)
{
	const snap *s = h;
	size_t lo = 0, hi = s->ndocs;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (s->rowids[m] < rowid)
			lo = m + 1;
		else
			hi = m;
	}
	if (lo == s->ndocs || s->rowids[lo] != rowid)
		return 0;
	*len = s->lens[lo] > 0x7FFFFFFFu ? 0x7FFFFFFF : (int)s->lens[lo];
	return 1;
}

void em_kb_vocab_doclens_done(const void *h)
{
	release((snap *)h);
}

void em_kb_vocab_usage(size_t *bytes, size_t *terms)
{
	*bytes = 0;
	*terms = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < 4; i++)
		if (slots[i].cur) {
			*bytes += slots[i].cur->bytes;
			*terms += slots[i].cur->n;
		}
	pthread_mutex_unlock(&mu);
}
