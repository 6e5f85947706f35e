/*
** A contact's timeline: a k-way merge of one query per source (timeline.h).
*/
#include "crm/timeline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/err.h"
#include "crm/notes.h"

/* The order of equal times (higher first) and the names in the cursor. */
enum { R_VISIT, R_CHAT, R_ORDER, R_INVITATION, R_CALLBACK, R_NOTE, R_EVENT, R_COUNT };
static const char *const type_names[R_COUNT] = {"visit",    "chat", "order",	    "invitation",
						"callback", "note", "contact_event"};

typedef struct item {
	int64_t at;
	int rank;
	int64_t id;
	json_t *j;
} item;

typedef struct items {
	item *v;
	size_t n, cap;
} items;

static void push(items *l, int64_t at, int rank, int64_t id, json_t *j)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = em_realloc(l->v, l->cap * sizeof *l->v);
	}
	json_object_set_new(j, "type", json_string(type_names[rank]));
	char t[32];
	em_rfc3339(at, t);
	json_object_set_new(j, "at", json_string(t));
	l->v[l->n++] = (item){at, rank, id, j};
}

static int cmp_desc(const void *a, const void *b)
{
	const item *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? 1 : -1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? 1 : -1;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

int em_timeline_cursor_parse(const char *s, em_timeline_q *q)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return EM_EINVAL;
	long long at = strtoll(s, &end, 10);
	if (*end != '_' || at <= 0)
		return EM_EINVAL;
	const char *type = end + 1, *us = strrchr(type, '_');
	if (!us || us == type)
		return EM_EINVAL;
	int rank = -1;
	for (int i = 0; i < R_COUNT; i++)
		if (strlen(type_names[i]) == (size_t)(us - type) &&
		    !strncmp(type, type_names[i], (size_t)(us - type)))
			rank = i;
	if (rank < 0 || !isdigit((unsigned char)us[1]))
		return EM_EINVAL;
	long long id = strtoll(us + 1, &end, 10);
	if (*end || id <= 0)
		return EM_EINVAL;
	q->cursor_at = at;
	q->cursor_rank = rank;
	q->cursor_id = id;
	return 0;
}

static json_t *op_json(em_stmt *st, int col)
{
	if (em_stmt_is_null(st, col))
		return json_null();
	return json_pack("{s:s, s:s}", "id", em_stmt_text(st, col), "name", em_stmt_text(st, col + 1));
}

/* The query's parameters for one source: rows strictly after the cursor in
** (time DESC, rank DESC, id DESC) order are those with an earlier time, or
** the same time and an id below `idb` (all ids for a lower rank, none for a
** higher one). */
typedef struct bounds {
	int64_t cid, at, limit;
	int64_t idb[R_COUNT];
} bounds;

static int src_visits(em_db *db, const bounds *b, items *l)
{
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT vi.id, vi.started_at, vi.last_at, vi.entry_url, vi.referrer, "
			      "vi.pageviews, vi.active_s,"
			      " vi.device, vi.browser, vi.country, vi.source, vi.utm_source, vi.utm_medium, "
			      "vi.utm_campaign, v.vid"
			      " FROM visitor v JOIN visit vi ON vi.visitor_id = v.id WHERE v.contact_id = ?"
			      " AND (vi.started_at < ? OR (vi.started_at = ? AND vi.id < ?))"
			      " ORDER BY vi.started_at DESC, vi.id DESC LIMIT ?",
			      "iiiii", b->cid, b->at, b->at, b->idb[R_VISIT], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *j = json_pack(
			"{s:I, s:s, s:o, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id",
			(json_int_t)em_stmt_int(st, 0), "vid", em_stmt_text(st, 14), "last_at",
			em_json_time(em_stmt_int(st, 2)), "entry_url", em_stmt_text(st, 3), "referrer",
			em_stmt_text(st, 4), "pageviews", (json_int_t)em_stmt_int(st, 5), "active_s",
			(json_int_t)em_stmt_int(st, 6), "device", em_stmt_text(st, 7), "browser",
			em_stmt_text(st, 8), "country", em_stmt_text(st, 9), "source", em_stmt_text(st, 10),
			"utm", "source", em_stmt_text(st, 11), "medium", em_stmt_text(st, 12), "campaign",
			em_stmt_text(st, 13));
		push(l, em_stmt_int(st, 1), R_VISIT, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* The page path of a visit that made it onto the page. */
static int visit_pages(em_db *db, item *it)
{
	json_t *pages = json_array();
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT ts, url, title FROM event WHERE visit_id = ? AND type = 'pageview'"
			      " ORDER BY ts, id LIMIT ?",
			      "ii", it->id, (int64_t)EM_TIMELINE_PAGES_MAX);
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(pages,
				      json_pack("{s:s?, s:s?, s:o}", "url", em_stmt_text(st, 1), "title",
						em_stmt_text(st, 2), "at", em_json_time(em_stmt_int(st, 0))));
	em_stmt_done(st);
	json_object_set_new(it->j, "pages", pages);
	return rc < 0 ? EM_EIO : 0;
}

static int src_chats(em_db *db, const bounds *b, items *l)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT c.id, c.public_id, c.created_at, c.closed_at, c.status, c.outcome, c.channel, "
		"c.rating,"
		" o.public_id, o.name, (SELECT count(*) FROM message m WHERE m.conversation_id = c.id"
		" AND m.author <> 'system' AND m.internal = 0), c.vid FROM conversation c"
		" LEFT JOIN operator o ON o.id = c.operator_id"
		" WHERE (c.contact_id = ? OR c.id IN (SELECT c2.id FROM visitor v JOIN conversation c2"
		" ON c2.site_id = v.site_id AND c2.vid = v.vid WHERE v.contact_id = ?))"
		" AND (c.created_at < ? OR (c.created_at = ? AND c.id < ?))"
		" ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
		"iiiiii", b->cid, b->cid, b->at, b->at, b->idb[R_CHAT], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *j = json_pack(
			"{s:s, s:s, s:s, s:o, s:s?, s:o, s:I, s:s, s:o}", "id", em_stmt_text(st, 1), "status",
			em_stmt_text(st, 4), "channel", em_stmt_text(st, 6), "closed_at",
			em_json_time(em_stmt_is_null(st, 3) ? 0 : em_stmt_int(st, 3)), "outcome",
			em_stmt_text(st, 5)[0] ? em_stmt_text(st, 5) : NULL, "operator", op_json(st, 8),
			"messages", (json_int_t)em_stmt_int(st, 10), "vid", em_stmt_text(st, 11), "rating",
			em_stmt_is_null(st, 7) ? json_null() : json_integer(em_stmt_int(st, 7)));
		push(l, em_stmt_int(st, 2), R_CHAT, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int src_orders(em_db *db, const bounds *b, items *l)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT e.id, e.ts, e.data, e.url, v.vid FROM visitor v JOIN event e ON e.visitor_id = v.id"
		" WHERE v.contact_id = ? AND e.type = 'order'"
		" AND (e.ts < ? OR (e.ts = ? AND e.id < ?)) ORDER BY e.ts DESC, e.id DESC LIMIT ?",
		"iiiii", b->cid, b->at, b->at, b->idb[R_ORDER], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *data = em_stmt_text(st, 2);
		json_t *d = data ? json_loads(data, 0, NULL) : NULL;
		json_t *items_ = json_object_get(d, "items");
		json_t *j = json_pack(
			"{s:s?, s:o, s:O?, s:s?, s:s}", "order_id",
			json_string_value(json_object_get(d, "id")), "total",
			json_object_get(d, "total") ? json_incref(json_object_get(d, "total")) : json_null(),
			"items", items_, "url", em_stmt_text(st, 3), "vid", em_stmt_text(st, 4));
		json_decref(d);
		push(l, em_stmt_int(st, 1), R_ORDER, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int src_invitations(em_db *db, const bounds *b, items *l)
{
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT i.id, i.public_id, i.created_at, i.status, i.message, i.responded_at, "
			      "o.public_id, o.name, i.vid"
			      " FROM visitor v JOIN invitation i ON i.site_id = v.site_id AND i.vid = v.vid"
			      " LEFT JOIN operator o ON o.id = i.operator_id WHERE v.contact_id = ?"
			      " AND i.status IN ('shown', 'accepted', 'dismissed')"
			      " AND (i.created_at < ? OR (i.created_at = ? AND i.id < ?))"
			      " ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
			      "iiiii", b->cid, b->at, b->at, b->idb[R_INVITATION], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "id", em_stmt_text(st, 1), "status",
				      em_stmt_text(st, 3), "message", em_stmt_text(st, 4), "responded_at",
				      em_json_time(em_stmt_is_null(st, 5) ? 0 : em_stmt_int(st, 5)),
				      "operator", op_json(st, 6), "vid", em_stmt_text(st, 8));
		push(l, em_stmt_int(st, 2), R_INVITATION, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int src_callbacks(em_db *db, const bounds *b, items *l)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT cb.id, cb.public_id, cb.created_at, cb.status, cb.phone, cb.topic, cb.due_at, "
		"cb.attempts,"
		" cb.name, o.public_id, o.name FROM callback_request cb LEFT JOIN operator o ON o.id = "
		"cb.assigned_id"
		" WHERE (cb.contact_id = ? OR cb.id IN (SELECT c2.id FROM visitor v JOIN callback_request c2"
		" ON c2.site_id = v.site_id AND c2.vid = v.vid WHERE v.contact_id = ?))"
		" AND (cb.created_at < ? OR (cb.created_at = ? AND cb.id < ?))"
		" ORDER BY cb.created_at DESC, cb.id DESC LIMIT ?",
		"iiiiii", b->cid, b->cid, b->at, b->at, b->idb[R_CALLBACK], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:o}", "id", em_stmt_text(st, 1),
				      "status", em_stmt_text(st, 3), "name", em_stmt_text(st, 8), "phone",
				      em_stmt_text(st, 4), "topic", em_stmt_text(st, 5), "due_at",
				      em_json_time(em_stmt_int(st, 6)), "attempts",
				      (json_int_t)em_stmt_int(st, 7), "assigned", op_json(st, 9));
		push(l, em_stmt_int(st, 2), R_CALLBACK, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int src_notes(em_db *db, const bounds *b, items *l)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT n.id, n.public_id, n.created_at, n.body, n.updated_at, o.public_id, o.name, n.vid,"
		" (SELECT count(*) FROM note_revision r WHERE r.note_id = n.id) FROM note n"
		" LEFT JOIN operator o ON o.id = n.author_id WHERE n.deleted_at IS NULL AND (n.contact_id = ?"
		" OR n.id IN (SELECT n2.id FROM visitor v JOIN note n2 ON n2.site_id = v.site_id AND n2.vid "
		"= v.vid"
		" WHERE v.contact_id = ?)) AND (n.created_at < ? OR (n.created_at = ? AND n.id < ?))"
		" ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
		"iiiiii", b->cid, b->cid, b->at, b->at, b->idb[R_NOTE], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:s?, s:b}", "id", em_stmt_text(st, 1), "body",
				      em_stmt_text(st, 3), "updated_at", em_json_time(em_stmt_int(st, 4)),
				      "author", op_json(st, 5), "vid", em_stmt_text(st, 7), "edited",
				      em_stmt_int(st, 8) > 0);
		push(l, em_stmt_int(st, 2), R_NOTE, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int src_events(em_db *db, const bounds *b, items *l)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT ce.id, ce.created_at, ce.type, ce.detail, o.public_id, o.name"
		" FROM contact_event ce LEFT JOIN operator o ON o.id = ce.operator_id"
		" WHERE ce.contact_id = ? AND (ce.created_at < ? OR (ce.created_at = ? AND ce.id < ?))"
		" ORDER BY ce.created_at DESC, ce.id DESC LIMIT ?",
		"iiiii", b->cid, b->at, b->at, b->idb[R_EVENT], b->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *detail = em_stmt_text(st, 3);
		json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
		json_t *j = json_pack("{s:s, s:o, s:o}", "event", em_stmt_text(st, 2), "detail",
				      d ? d : json_object(), "operator", op_json(st, 4));
		push(l, em_stmt_int(st, 1), R_EVENT, em_stmt_int(st, 0), j);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_timeline_db(em_db *db, void *arg)
{
	em_timeline_q *q = arg;
	bounds b = {0};
	int rc = em_notes_contact_find_db(db, q->contact, &b.cid, NULL);
	if (rc)
		return rc;
	int limit = q->limit > 0 && q->limit <= EM_TIMELINE_MAX ? q->limit : EM_TIMELINE_DEFAULT;
	b.limit = limit + 1;
	b.at = q->cursor_at ? q->cursor_at : INT64_MAX;
	for (int r = 0; r < R_COUNT; r++) {
		if (!q->cursor_at)
			b.idb[r] = INT64_MAX;
		else
			b.idb[r] = r < q->cursor_rank ? INT64_MAX : r == q->cursor_rank ? q->cursor_id : 0;
	}
	static int (*const sources[R_COUNT])(em_db *, const bounds *, items *) = {
		src_visits, src_chats, src_orders, src_invitations, src_callbacks, src_notes, src_events};
	items l = {0};
	for (int r = 0; r < R_COUNT && !rc; r++)
		rc = sources[r](db, &b, &l);
	if (!rc && l.n)
		qsort(l.v, l.n, sizeof *l.v, cmp_desc);
	size_t shown = l.n < (size_t)limit ? l.n : (size_t)limit;
	for (size_t i = 0; i < shown && !rc; i++)
		if (l.v[i].rank == R_VISIT)
			rc = visit_pages(db, &l.v[i]);
	json_t *list = json_array();
	for (size_t i = 0; i < l.n; i++) {
		if (i < shown && !rc)
			json_array_append(list, l.v[i].j);
		json_decref(l.v[i].j);
	}
	char next[96] = "";
	if (l.n > shown && shown)
		snprintf(next, sizeof next, "%lld_%s_%lld", (long long)l.v[shown - 1].at,
			 type_names[l.v[shown - 1].rank], (long long)l.v[shown - 1].id);
	em_free(l.v);
	if (rc) {
		json_decref(list);
		return rc;
	}
	q->out = json_pack("{s:o, s:s?}", "items", list, "next_cursor", next[0] ? next : NULL);
	return 0;
}
