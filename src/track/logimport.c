/*
** Access-log hits to visitor events (see logimport.h).
*/
#include "track/logimport.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "track/geo.h"
#include "track/ingest.h"
#include "track/sessionizer.h"
#include "track/useragent.h"

#define FIELD_MAX 2048

/* What a page-view line contributes to a batch, in the caller's buffers. */
typedef struct hit {
	int64_t ts_ms;
	em_ua info;
	char vid[64];
	char anon[64];
	char cc[3];
	char url[FIELD_MAX], ref[FIELD_MAX];
} hit;

/* Parses one line and counts it in src->st. Returns 1 when it is a page view
** to store (h filled), 0 otherwise. */
static int line_to_hit(em_logsource *src, const char *line, size_t len, hit *h)
{
	em_logline l;
	char err[160];
	src->st.lines++;
	if (em_logfmt_parse(src->fmt, line, len, &l, src->first_error[0] ? NULL : err, sizeof err)) {
		if (l.skip == EM_LOGSKIP_EMPTY) {
			src->st.lines--; /* blank lines are not hits */
			return 0;
		}
		src->st.skipped[l.skip]++;
		src->st.skipped_total++;
		if (!src->first_error[0])
			snprintf(src->first_error, sizeof src->first_error, "line %llu: %s",
				 (unsigned long long)src->st.lines, err);
		return 0;
	}
	if (!em_logfmt_is_pageview(&l)) {
		src->st.not_pageview++;
		return 0;
	}
	char ua[1024], ip[64];
	em_logfmt_unescape(l.user_agent, ua, sizeof ua);
	em_ua_classify(ua, strlen(ua), &h->info);
	if (h->info.is_bot) {
		src->st.bots++;
		return 0;
	}
	em_logfmt_unescape(l.ip, ip, sizeof ip);
	size_t un = em_logfmt_unescape(l.target, h->url, sizeof h->url);
	if (l.query.n && un + 1 < sizeof h->url && !memchr(h->url, '?', un)) {
		h->url[un] = '?';
		em_logfmt_unescape(l.query, h->url + un + 1, sizeof h->url - un - 1);
	}
	if (!h->url[0])
		snprintf(h->url, sizeof h->url, "/");
	em_logfmt_unescape(l.referrer, h->ref, sizeof h->ref);
	em_ingest_log_vid(src->site->key, ip, ua, h->vid, sizeof h->vid);
	em_ingest_anonymize_ip(ip, src->anonymize_bytes, h->anon, sizeof h->anon);
	/* The country comes from the full address, before anonymisation. */
	if (!em_geo_country(ip, h->cc))
		h->cc[0] = '\0';
	h->ts_ms = l.ts_ms;
	src->st.imported++;
	return 1;
}

/* Fills b (empty, with room for one event) from h; strings are copied with
** dup(ctx, string), into wherever the batch keeps them. */
static void fill_batch(em_track_batch *b, const em_logsource *src, const hit *h,
		       char *(*dup)(void *ctx, const char *s), void *ctx)
{
	b->source = EM_SRC_LOG;
	b->site_id = src->site->id;
	snprintf(b->site_key, sizeof b->site_key, "%s", src->site->key);
	snprintf(b->vid, sizeof b->vid, "%s", h->vid);
	b->ip = dup(ctx, h->anon);
	if (h->cc[0])
		b->country = dup(ctx, h->cc);
	b->device = dup(ctx, h->info.device);
	b->browser = dup(ctx, h->info.browser);
	b->os = dup(ctx, h->info.os);
	em_track_event *e = em_track_batch_add(b);
	e->type = EM_EV_PAGEVIEW;
	e->ts_ms = h->ts_ms;
	e->url = dup(ctx, h->url);
	e->ref = h->ref[0] ? dup(ctx, h->ref) : NULL;
}

static char *arena_dup(void *arena, const char *s)
{
	return em_arena_strdup(arena, s);
}

em_track_batch *em_logimport_line(em_logsource *src, const char *line, size_t len)
{
	hit h;
	if (!line_to_hit(src, line, len, &h))
		return NULL;
	em_track_batch *b = em_track_batch_new_n(1);
	fill_batch(b, src, &h, arena_dup, &b->mem);
	return b;
}

/* ---- Chunks -------------------------------------------------------------
**
** Batches added with em_logchunk_add_line live in the chunk itself: the
** batch structs and their one event in arrays of cap entries, the strings
** in text blocks. em_logchunk_clear keeps all of it for the next lines, so
** a steady import allocates nothing per line. Batches handed in by
** em_logchunk_add are the caller's heap batches and are freed as before. */

#define TEXT_BLOCK (1u << 20)

struct em_logtext {
	struct em_logtext *next;
	size_t used, cap;
	char data[];
};

static char *text_dup(void *chunk, const char *s)
{
	em_logchunk *c = chunk;
	size_t n = strlen(s) + 1;
	em_logtext *t = c->text_cur;
	if (!t || t->used + n > t->cap) {
		/* Next block: one kept from an earlier round, or a new one. */
		t = t ? t->next : c->text;
		if (!t || n > t->cap) {
			size_t cap = n > TEXT_BLOCK ? n : TEXT_BLOCK;
			em_logtext *fresh = em_malloc(sizeof *fresh + cap);
			fresh->cap = cap;
			if (c->text_cur) {
				fresh->next = c->text_cur->next;
				c->text_cur->next = fresh;
			} else {
				fresh->next = c->text;
				c->text = fresh;
			}
			t = fresh;
		}
		t->used = 0;
		c->text_cur = t;
	}
	char *p = t->data + t->used;
	memcpy(p, s, n);
	t->used += n;
	return p;
}

static int is_inline(const em_logchunk *c, const em_track_batch *b)
{
	return c->slots && b >= c->slots && b < c->slots + c->cap;
}

int em_logchunk_add_line(em_logchunk *c, em_logsource *src, const char *line, size_t len)
{
	hit h;
	if (!line_to_hit(src, line, len, &h))
		return 0;
	if (c->n >= c->cap)
		return 0; /* callers flush at cap; never reached */
	if (!c->slots) {
		c->slots = em_malloc(sizeof *c->slots * (size_t)c->cap);
		c->events = em_malloc(sizeof *c->events * (size_t)c->cap);
	}
	int i = c->n;
	/* As em_track_batch_new_n(1) would make it, with an empty arena. */
	em_track_batch *b = &c->slots[i];
	memset(b, 0, sizeof *b);
	em_arena_init(&b->mem);
	b->cap = 1;
	b->events = &c->events[i];
	b->device = b->browser = b->os = b->country = "";
	fill_batch(b, src, &h, text_dup, c);
	c->b[c->n++] = b;
	return 1;
}

em_logchunk *em_logchunk_new(int cap)
{
	em_logchunk *c = em_calloc(1, sizeof *c);
	c->cap = cap;
	c->b = em_calloc((size_t)cap, sizeof *c->b);
	return c;
}

void em_logchunk_add(em_logchunk *c, em_track_batch *b)
{
	if (c->n < c->cap)
		c->b[c->n++] = b;
	else
		em_track_batch_free(b); /* callers flush at cap; never reached */
}

void em_logchunk_clear(em_logchunk *c)
{
	for (int i = 0; i < c->n; i++)
		if (!is_inline(c, c->b[i]))
			em_track_batch_free(c->b[i]);
	c->n = 0;
	c->text_cur = NULL;
}

void em_logchunk_free(em_logchunk *c)
{
	if (!c)
		return;
	em_logchunk_clear(c);
	while (c->text) {
		em_logtext *next = c->text->next;
		em_free(c->text);
		c->text = next;
	}
	em_free(c->slots);
	em_free(c->events);
	em_free(c->b);
	em_free(c);
}

int em_logchunk_write(em_db *db, void *arg)
{
	em_logchunk *c = arg;
	int rc;
	for (int i = 0; i < c->n; i++) {
		if ((rc = em_sessionize_deferred(db, c->b[i])))
			return rc;
	}
	if ((rc = em_sessionize_flush(db)))
		return rc;
	if (c->tail_path)
		rc = em_db_exec(db,
				"INSERT INTO tail_offset (path, inode, offset, head_hash, updated_at) VALUES (?, ?, ?, ?, "
				"CAST(strftime('%s','now') AS INTEGER) * 1000) ON CONFLICT (path) DO UPDATE SET "
				"inode = excluded.inode, offset = excluded.offset, head_hash = excluded.head_hash, "
				"updated_at = excluded.updated_at",
				"tiit", c->tail_path, c->inode, c->offset, c->head_hash);
	return rc;
}

typedef struct tail_pos {
	const char *path;
	int64_t inode, offset;
	char head_hash[33];
	int found;
} tail_pos;

static int tail_load_fn(em_db *db, void *arg)
{
	tail_pos *t = arg;
	em_stmt *st = em_db_prepare(db, "SELECT inode, offset, head_hash FROM tail_offset WHERE path = ?", "t", t->path);
	if (!st)
		return EM_EIO;
	if (em_stmt_step(st) == 1) {
		t->inode = em_stmt_int(st, 0);
		t->offset = em_stmt_int(st, 1);
		snprintf(t->head_hash, sizeof t->head_hash, "%s", em_stmt_text(st, 2));
		t->found = 1;
	}
	em_stmt_done(st);
	return 0;
}

int em_logtail_load(em_store *s, const char *path, int64_t *inode, int64_t *offset, char head_hash[33])
{
	tail_pos t = {path, 0, 0, "", 0};
	int rc = em_store_read_sync(s, tail_load_fn, &t);
	if (rc)
		return rc;
	if (!t.found)
		return EM_ENOTFOUND;
	*inode = t.inode;
	*offset = t.offset;
	memcpy(head_hash, t.head_hash, 33);
	return 0;
}

void em_import_summary(const em_import_stats *st, double seconds, char *out, size_t outlen)
{
	int n = snprintf(out, outlen,
			 "read %llu lines, imported %llu page views, %llu bots, %llu other hits (assets, errors, "
			 "non-GET), skipped %llu",
			 (unsigned long long)st->lines, (unsigned long long)st->imported, (unsigned long long)st->bots,
			 (unsigned long long)st->not_pageview, (unsigned long long)st->skipped_total);
	if (st->skipped_total && n > 0 && (size_t)n < outlen) {
		const char *sep = " (";
		for (int i = 1; i < EM_LOGSKIP__COUNT && (size_t)n < outlen; i++) {
			if (!st->skipped[i])
				continue;
			n += snprintf(out + n, outlen - (size_t)n, "%s%s: %llu", sep, em_logfmt_skip_key(i),
				      (unsigned long long)st->skipped[i]);
			sep = ", ";
		}
		if ((size_t)n < outlen)
			n += snprintf(out + n, outlen - (size_t)n, ")");
	}
	if (n > 0 && (size_t)n < outlen)
		snprintf(out + n, outlen - (size_t)n, " in %.1f s (%.0f lines/s)", seconds,
			 seconds > 0 ? (double)st->lines / seconds : 0.0);
}
