/*
** Access-log hits to visitor events (see logimport.h).
*/
#include "track/logimport.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "track/ingest.h"
#include "track/sessionizer.h"
#include "track/useragent.h"

#define FIELD_MAX 2048

em_track_batch *em_logimport_line(em_logsource *src, const char *line, size_t len)
{
	em_logline l;
	char err[160];
	src->st.lines++;
	if (em_logfmt_parse(src->fmt, line, len, &l, src->first_error[0] ? NULL : err, sizeof err)) {
		if (l.skip == EM_LOGSKIP_EMPTY) {
			src->st.lines--; /* blank lines are not hits */
			return NULL;
		}
		src->st.skipped[l.skip]++;
		src->st.skipped_total++;
		if (!src->first_error[0])
			snprintf(src->first_error, sizeof src->first_error, "line %llu: %s",
				 (unsigned long long)src->st.lines, err);
		return NULL;
	}
	if (!em_logfmt_is_pageview(&l)) {
		src->st.not_pageview++;
		return NULL;
	}
	char ua[1024], ip[64], url[FIELD_MAX], ref[FIELD_MAX];
	em_logfmt_unescape(l.user_agent, ua, sizeof ua);
	em_ua info;
	em_ua_classify(ua, strlen(ua), &info);
	if (info.is_bot) {
		src->st.bots++;
		return NULL;
	}
	em_logfmt_unescape(l.ip, ip, sizeof ip);
	size_t un = em_logfmt_unescape(l.target, url, sizeof url);
	if (l.query.n && un + 1 < sizeof url && !memchr(url, '?', un)) {
		url[un] = '?';
		em_logfmt_unescape(l.query, url + un + 1, sizeof url - un - 1);
	}
	em_logfmt_unescape(l.referrer, ref, sizeof ref);

	em_track_batch *b = em_track_batch_new_n(1);
	b->source = EM_SRC_LOG;
	b->site_id = src->site->id;
	snprintf(b->site_key, sizeof b->site_key, "%s", src->site->key);
	em_ingest_log_vid(src->site->key, ip, ua, b->vid, sizeof b->vid);
	char anon[64];
	em_ingest_anonymize_ip(ip, src->anonymize_bytes, anon, sizeof anon);
	b->ip = em_arena_strdup(&b->mem, anon);
	b->device = em_arena_strdup(&b->mem, info.device);
	b->browser = em_arena_strdup(&b->mem, info.browser);
	b->os = em_arena_strdup(&b->mem, info.os);
	em_track_event *e = em_track_batch_add(b);
	e->type = EM_EV_PAGEVIEW;
	e->ts_ms = l.ts_ms;
	e->url = em_arena_strdup(&b->mem, url[0] ? url : "/");
	e->ref = ref[0] ? em_arena_strdup(&b->mem, ref) : NULL;
	src->st.imported++;
	return b;
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
		em_track_batch_free(c->b[i]);
	c->n = 0;
}

void em_logchunk_free(em_logchunk *c)
{
	if (!c)
		return;
	em_logchunk_clear(c);
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
