/*
** The sessionizer: turns event batches into visitors, visits and events in
** the store (see sessionizer.h).
**
** It runs on the store writer thread, the only writer, so the visitor cache
** below needs no lock and always agrees with what is committed, with one
** exception: if a group transaction fails after em_sessionize() returned, the
** cache may name rows that were rolled back. Such rows are then missing, the
** next insert that refers to them fails its foreign key, and that failure
** empties the cache; the data heals itself instead of being wrong.
*/
#include "track/sessionizer.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "crm/privacy.h"
#include "crm/contacts.h"

#define VISIT_GAP_MS (30LL * 60 * 1000)
#define CACHE_SLOTS (1u << 17) /* power of two */
#define CACHE_MAX_FILL (CACHE_SLOTS / 10 * 7)

typedef struct entry {
	uint64_t hash; /* 0 = empty slot */
	int64_t site_id;
	char vid[64];
	int64_t visitor_id;
	int64_t first_seen;
	int visits;
	double cart_total;
	int consent;
	int64_t visit_id; /* 0 = none yet */
	int64_t visit_started;
	int64_t last_ts;
	int visit_pages;
	int visit_active_s;
	uint64_t campaign; /* hash of utm_source + utm_campaign of the visit */
	int dirty;	   /* visit/visitor rows not yet updated (deferred mode) */
	int anon;	   /* the row has neither e-mail nor name: no identity to look up */
	int pending_pageviews;
} entry;

static entry *cache; /* owned by the writer thread */
static unsigned cache_fill;
/* Entries with deferred row updates, flushed by em_sessionize_flush(). */
static unsigned *dirty;
static unsigned ndirty, dirty_cap;

void em_sessionize_reset(void)
{
	em_free(cache);
	cache = NULL;
	cache_fill = 0;
	ndirty = 0;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static uint64_t key_hash(int64_t site_id, const char *vid)
{
	uint64_t h = fnv(14695981039346656037ull ^ (uint64_t)site_id, vid);
	return h ? h : 1;
}

/* Finds the slot of a key: its entry, or the empty slot where it belongs. */
static entry *slot(int64_t site_id, const char *vid, uint64_t h)
{
	if (!cache)
		cache = em_calloc(CACHE_SLOTS, sizeof *cache);
	unsigned i = (unsigned)h & (CACHE_SLOTS - 1);
	for (;;) {
		entry *e = &cache[i];
		if (!e->hash || (e->hash == h && e->site_id == site_id && !strcmp(e->vid, vid)))
			return e;
		i = (i + 1) & (CACHE_SLOTS - 1);
	}
}

/* Copies up to cap-1 bytes of the value of query parameter `name` in url. */
static void query_value(const char *url, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	const char *q = url ? strchr(url, '?') : NULL;
	size_t nl = strlen(name);
	while (q && *q) {
		q++;
		if (!strncmp(q, name, nl) && q[nl] == '=') {
			const char *v = q + nl + 1;
			size_t n = strcspn(v, "&#");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		q = strchr(q, '&');
	}
}

static uint64_t campaign_of(const char *url, char *source, char *medium, char *camp)
{
	query_value(url, "utm_source", source, 101);
	query_value(url, "utm_medium", medium, 101);
	query_value(url, "utm_campaign", camp, 101);
	if (!source[0] && !camp[0])
		return 0;
	return fnv(fnv(14695981039346656037ull, source), camp) | 1;
}

/* Loads a visitor and their latest visit from the store. 0, or EM_ENOTFOUND. */
static int load_visitor(em_db *db, int64_t site_id, const char *vid, entry *e)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT id, first_seen, visits, cart_total, consent, email IS NULL AND name IS NULL"
		" FROM visitor WHERE site_id = ? AND vid = ?",
		"it", site_id, vid);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc <= 0) {
		em_stmt_done(st);
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	}
	e->visitor_id = em_stmt_int(st, 0);
	e->first_seen = em_stmt_int(st, 1);
	e->visits = (int)em_stmt_int(st, 2);
	e->cart_total = em_stmt_double(st, 3);
	e->consent = (int)em_stmt_int(st, 4);
	e->anon = (int)em_stmt_int(st, 5);
	em_stmt_done(st);
	st = em_db_prepare(
		db,
		"SELECT id, started_at, last_at, pageviews, active_s, utm_source, utm_campaign FROM visit "
		"WHERE visitor_id = ? ORDER BY started_at DESC, id DESC LIMIT 1",
		"i", e->visitor_id);
	if (!st)
		return EM_EIO;
	rc = em_stmt_step(st);
	if (rc == 1) {
		e->visit_id = em_stmt_int(st, 0);
		e->visit_started = em_stmt_int(st, 1);
		e->last_ts = em_stmt_int(st, 2);
		e->visit_pages = (int)em_stmt_int(st, 3);
		e->visit_active_s = (int)em_stmt_int(st, 4);
		const char *src = em_stmt_text(st, 5), *camp = em_stmt_text(st, 6);
		e->campaign = (src && *src) || (camp && *camp)
				      ? fnv(fnv(14695981039346656037ull, src), camp) | 1
				      : 0;
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int start_visit(em_db *db, em_track_batch *b, entry *e, const em_track_event *ev, const char *src,
		       const char *med, const char *camp, uint64_t campaign)
{
	const char *entry_url = ev->type == EM_EV_PAGEVIEW && ev->url ? ev->url : "";
	const char *ref = ev->type == EM_EV_PAGEVIEW && ev->ref ? ev->ref : "";
	int rc = em_db_exec(
		db,
		"INSERT INTO visit (visitor_id, site_id, started_at, last_at, entry_url, referrer, "
		"utm_source, utm_medium, utm_campaign, ip, device, browser, os, country, source) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"iiiittttttttttt", e->visitor_id, b->site_id, ev->ts_ms, ev->ts_ms, entry_url, ref, src, med,
		camp, b->ip ? b->ip : "", b->device, b->browser, b->os, b->country,
		b->source == EM_SRC_LOG ? "log" : "beacon");
	if (rc)
		return rc;
	e->visit_id = em_db_last_id(db);
	e->visit_started = ev->ts_ms;
	e->visit_pages = 0;
	e->visit_active_s = 0;
	e->campaign = campaign;
	e->visits++;
	b->res.new_visit = 1;
	b->res.entry_referrer = ref;
	return 0;
}

/* Moves the history of every other visitor row with the same identity into
** this one ("identify merges the history"). */
static int merge_identity(em_db *db, em_track_batch *b, entry *e, const em_track_event *ev)
{
	/* Two lookups, one per index (visitor_email, visitor_external); an OR
	** of both would read all of the site's visitors. UNION returns a
	** visitor that matches both once. A NULL e-mail or external id
	** matches nothing ("= NULL" is never true). */
	em_stmt *st = em_db_prepare(
		db,
		"SELECT id, visits, first_seen FROM visitor WHERE site_id = ? AND email = ? "
		"AND id != ? AND merged_into IS NULL "
		"UNION SELECT id, visits, first_seen FROM visitor WHERE site_id = ? AND "
		"external_id = ? AND id != ? AND merged_into IS NULL",
		"itiiti", b->site_id, ev->email, e->visitor_id, b->site_id, ev->external_id, e->visitor_id);
	if (!st)
		return EM_EIO;
	int64_t others[32];
	int n = 0, rc;
	while ((rc = em_stmt_step(st)) == 1 && n < 32) {
		others[n++] = em_stmt_int(st, 0);
		e->visits += (int)em_stmt_int(st, 1);
		int64_t fs = em_stmt_int(st, 2);
		if (fs < e->first_seen)
			e->first_seen = fs;
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	/* An event's visitor_id is always its visit's: record() inserts events
	** with the entry's visitor and its visit (from start_visit or
	** load_visitor), and only this loop moves visits and events. So the
	** events to move are found through the other visitor's visits
	** (event_visit), before those move. */
	for (int i = 0; i < n; i++) {
		if ((rc = em_db_exec(db,
				     "UPDATE event SET visitor_id = ? WHERE visit_id IN "
				     "(SELECT id FROM visit WHERE visitor_id = ?)",
				     "ii", e->visitor_id, others[i])) ||
		    (rc = em_db_exec(db, "UPDATE visit SET visitor_id = ? WHERE visitor_id = ?", "ii",
				     e->visitor_id, others[i])) ||
		    (rc = em_db_exec(db, "UPDATE visitor SET merged_into = ? WHERE id = ?", "ii",
				     e->visitor_id, others[i])))
			return rc;
	}
	if (n > 0)
		b->res.merged = 1;
	return 0;
}

static int write_rows(em_db *db, entry *e, const char *email, const char *external_id, const char *person,
		      int consent);

static int record(em_db *db, em_track_batch *b, entry *e, int defer)
{
	int rc;
	int pageviews = 0;
	const char *email = NULL, *external_id = NULL, *person = NULL;
	int consent = -1;
	for (int i = 0; i < b->nevents; i++) {
		em_track_event *ev = &b->events[i];
		char src[101], med[101], camp[101];
		uint64_t campaign = ev->type == EM_EV_PAGEVIEW ? campaign_of(ev->url, src, med, camp) : 0;
		if (!campaign)
			src[0] = med[0] = camp[0] = '\0';
		int64_t ts = ev->ts_ms > e->last_ts ? ev->ts_ms : e->last_ts;
		if (!e->visit_id || ts - e->last_ts > VISIT_GAP_MS || (campaign && campaign != e->campaign)) {
			if ((rc = start_visit(db, b, e, ev, src, med, camp, campaign)))
				return rc;
		}
		e->last_ts = ts;
		switch (ev->type) {
		case EM_EV_PAGEVIEW:
			pageviews++;
			e->visit_pages++;
			b->res.url = ev->url;
			b->res.title = ev->title;
			b->res.page_since = ev->ts_ms;
			break;
		case EM_EV_PING: e->visit_active_s += ev->active_s; break;
		case EM_EV_CART:
			if (ev->total >= 0)
				e->cart_total = ev->total;
			else if (ev->cart_action == 1)
				e->cart_total += ev->amount;
			else if (ev->cart_action == 2)
				e->cart_total = e->cart_total > ev->amount ? e->cart_total - ev->amount : 0;
			break;
		case EM_EV_ORDER: e->cart_total = 0; break;
		case EM_EV_IDENTIFY:
			if (ev->email || ev->person_name)
				e->anon = 0;
			email = ev->email ? ev->email : email;
			external_id = ev->external_id ? ev->external_id : external_id;
			person = ev->person_name ? ev->person_name : person;
			break;
		case EM_EV_CONSENT: consent = ev->granted; break;
		}
		const char *name = ev->type == EM_EV_IDENTIFY ? NULL : ev->name;
		if ((rc = em_db_exec(db,
				     "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, url, "
				     "title, name, data) "
				     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				     "iiiittttt", e->visit_id, e->visitor_id, b->site_id, ev->ts_ms,
				     em_ev_type_name(ev->type), ev->url, ev->title, name, ev->data)))
			return rc;
		/* Orders count towards the contact's lifetime value; an e-mail
		** identifies the contact. Both in this write (crm/contacts.h). */
		if (ev->type == EM_EV_ORDER &&
		    (rc = em_contacts_order_db(db, e->visitor_id, em_db_last_id(db))))
			return rc;
		if (ev->type == EM_EV_IDENTIFY && (ev->email || ev->external_id) &&
		    (rc = merge_identity(db, b, e, ev)))
			return rc;
		if (ev->type == EM_EV_IDENTIFY && ev->email &&
		    (rc = em_contacts_identify_db(db, b->site_id, b->vid, ev->email, ev->person_name)))
			return rc;
	}
	/* A change of tracking consent is kept as a consent record with its
	** time, in the same transaction (docs/privacy.md). */
	if (consent >= 0 && consent != e->consent &&
	    (rc = em_privacy_consent_db(db, b->site_id, 0, b->vid, "tracking", consent, "", "tracker",
					e->last_ts)))
		return rc;
	if (consent >= 0)
		e->consent = consent;
	e->pending_pageviews += pageviews;
	/* Only plain page traffic may wait; identity and consent are written now. */
	if (defer && !email && !external_id && !person && consent < 0) {
		e->dirty = 1;
		return 0;
	}
	return write_rows(db, e, email, external_id, person, consent);
}

/* Writes the visit's and the visitor's running totals. */
static int write_rows(em_db *db, entry *e, const char *email, const char *external_id, const char *person,
		      int consent)
{
	int rc;
	int64_t pageviews = e->pending_pageviews;
	if ((rc = em_db_exec(db, "UPDATE visit SET last_at = ?, pageviews = ?, active_s = ? WHERE id = ?",
			     "iiii", e->last_ts, (int64_t)e->visit_pages, (int64_t)e->visit_active_s,
			     e->visit_id)))
		return rc;
	if (!email && !external_id && !person && consent < 0) {
		/* Plain traffic: only the running totals change. Leaving email,
		** external_id, consent and first_seen out of the SET list (they are
		** what the row already holds) spares SQLite rewriting the entries of
		** the email and external-id indexes on every update. */
		if ((rc = em_db_exec(db,
				     "UPDATE visitor SET last_seen = MAX(last_seen, ?), visits = ?, "
				     "pageviews = pageviews + ?, cart_total = ? WHERE id = ?",
				     "iiidi", e->last_ts, (int64_t)e->visits, pageviews, e->cart_total,
				     e->visitor_id)))
			return rc;
		e->pending_pageviews = 0;
		e->dirty = 0;
		return 0;
	}
	if ((rc = em_db_exec(
		     db,
		     "UPDATE visitor SET last_seen = MAX(last_seen, ?), first_seen = MIN(first_seen, ?), "
		     "visits = ?, pageviews = pageviews + ?, cart_total = ?, "
		     "email = COALESCE(?, email), external_id = COALESCE(?, external_id), name = COALESCE(?, "
		     "name), "
		     "consent = ?, consent_at = CASE WHEN ? >= 0 THEN ? ELSE consent_at END WHERE id = ?",
		     "iiiidtttiiii", e->last_ts, e->first_seen, (int64_t)e->visits, pageviews, e->cart_total,
		     email, external_id, person, (int64_t)e->consent, (int64_t)consent, e->last_ts,
		     e->visitor_id)))
		return rc;
	e->pending_pageviews = 0;
	e->dirty = 0;
	return 0;
}

/* Identity for the live view: what the visitor row says now. */
static void load_identity(em_db *db, em_track_batch *b, int64_t visitor_id)
{
	em_stmt *st = em_db_prepare(db, "SELECT email, name FROM visitor WHERE id = ?", "i", visitor_id);
	if (st && em_stmt_step(st) == 1) {
		const char *email = em_stmt_text(st, 0), *name = em_stmt_text(st, 1);
		b->res.email = email ? em_arena_strdup(&b->mem, email) : NULL;
		b->res.person_name = name ? em_arena_strdup(&b->mem, name) : NULL;
	}
	if (st)
		em_stmt_done(st);
}

int em_sessionize_flush(em_db *db)
{
	for (unsigned i = 0; i < ndirty; i++) {
		entry *e = &cache[dirty[i]];
		if (e->hash && e->dirty) {
			int rc = write_rows(db, e, NULL, NULL, NULL, -1);
			if (rc) {
				em_sessionize_reset();
				return rc;
			}
		}
	}
	ndirty = 0;
	return 0;
}

static void mark_dirty(entry *slotp)
{
	if (ndirty == dirty_cap) {
		dirty_cap = dirty_cap ? dirty_cap * 2 : 1024;
		dirty = em_realloc(dirty, sizeof *dirty * dirty_cap);
	}
	dirty[ndirty++] = (unsigned)(slotp - cache);
}

static int sessionize(em_db *db, em_track_batch *b, int defer)
{
	if (b->nevents == 0)
		return EM_EINVAL;
	uint64_t h = key_hash(b->site_id, b->vid);
	entry *slotp = slot(b->site_id, b->vid, h);
	entry e;
	int cached = slotp->hash != 0;
	int rc;
	if (cached) {
		e = *slotp;
	} else {
		memset(&e, 0, sizeof e);
		rc = load_visitor(db, b->site_id, b->vid, &e);
		if (rc == EM_ENOTFOUND) {
			int64_t ts = b->events[0].ts_ms;
			rc = em_db_exec(db,
					"INSERT INTO visitor (site_id, vid, first_seen, last_seen, consent) "
					"VALUES (?, ?, ?, ?, ?)",
					"itiii", b->site_id, b->vid, ts, ts, (int64_t)0);
			if (rc) {
				em_sessionize_reset();
				return rc;
			}
			e.visitor_id = em_db_last_id(db);
			e.first_seen = ts;
			e.anon = 1;
		} else if (rc) {
			return rc;
		}
	}
	memset(&b->res, 0, sizeof b->res);
	b->res.new_visitor = !cached && e.visits == 0;
	int was_dirty = e.dirty;
	rc = record(db, b, &e, defer);
	if (rc) {
		em_warn("sessionizer failed", "site=%lld rc=%s err=\"%s\"", (long long)b->site_id,
			em_strerror(rc), em_db_errmsg(db));
		em_sessionize_reset();
		return rc;
	}
	if (b->res.merged) {
		/* Other visitors' rows changed under the cache: write what waits, start afresh. */
		*slotp = e;
		if ((rc = em_sessionize_flush(db)))
			return rc;
		em_sessionize_reset();
	} else {
		if (!cached) {
			if (cache_fill >= CACHE_MAX_FILL) {
				if (e.dirty && (rc = write_rows(db, &e, NULL, NULL, NULL, -1)))
					return rc;
				if ((rc = em_sessionize_flush(db)))
					return rc;
				em_sessionize_reset();
				slotp = slot(b->site_id, b->vid, h);
			}
			cache_fill++;
		}
		e.hash = h;
		e.site_id = b->site_id;
		em_strlcpy(e.vid, b->vid, sizeof e.vid);
		*slotp = e;
		if (e.dirty && !was_dirty)
			mark_dirty(slotp);
	}
	b->res.visitor_id = e.visitor_id;
	b->res.visit_id = e.visit_id;
	b->res.first_seen = e.first_seen;
	b->res.visit_started = e.visit_started;
	b->res.last_ts = e.last_ts;
	b->res.visits = e.visits;
	b->res.visit_pages = e.visit_pages;
	b->res.visit_active_s = e.visit_active_s;
	b->res.cart_total = e.cart_total;
	b->res.consent = e.consent;
	/* The live view shows who a visitor is; an import has no live view.
	** Identities change only here (identify events) or with the cache reset
	** (merges, privacy requests), so an anonymous entry needs no lookup. */
	if (b->source != EM_SRC_LOG && !e.anon)
		load_identity(db, b, e.visitor_id);
	return 0;
}

int em_sessionize(em_db *db, em_track_batch *b)
{
	int rc = sessionize(db, b, 0);
	/* A batch of its own: rows of visitors deferred earlier are written too. */
	if (rc == 0 && ndirty)
		rc = em_sessionize_flush(db);
	return rc;
}

int em_sessionize_deferred(em_db *db, em_track_batch *b)
{
	return sessionize(db, b, 1);
}
