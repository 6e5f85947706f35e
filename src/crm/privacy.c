/*
** Privacy: export, erase, retention and consent records (see privacy.h and
** docs/privacy.md).
**
** What an erase does, and why:
**   - the contact row (and contacts merged into it) is deleted with its tags,
**     timeline facts, notes and their revisions, and consent records;
**   - the visitors linked to it keep their rows so that the site statistics
**     still count their visits, but lose every identifier (e-mail, name,
**     external id, contact link) and get a new random vid that no browser
**     holds: the remaining history is anonymous, not merely pseudonymous;
**   - their visits lose the IP address and keep only the origin of the
**     referrer and the path of the entry page; their events keep type, time
**     and site, their URLs lose query and fragment (a URL that still names
**     the person is cleared), titles and event data go;
**   - their conversations keep status, times, outcome and rating (the chat
**     statistics) but every message body becomes '' and is marked erased,
**     and the name, e-mail, page and rating comment are cleared;
**   - call-me-back requests lose name, phone and topic;
**   - webhook deliveries whose payload mentions the person are blanked (and
**     pending ones failed), audit entries about them lose their detail;
**   - the audit log gets "contact.erased" with the public id and counts only.
** The writer runs with secure_delete, so freed space is zeroed; afterwards
** the WAL is checkpointed and truncated so no old page image survives.
*/
#include "crm/privacy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/webhooks.h"
#include "live/hub.h"
#include "live/presence.h"
#include "net/loop.h"
#include "track/ingest.h"
#include "track/sessionizer.h"

#define DAY_MS (24LL * 3600 * 1000)
#define ERASE_MAX_ROWS 100000	       /* visitors / conversations one erase collects at most */
#define SEARCH_OPTIMIZE_MAX_PAGES 4000 /* optimise the contact search index at once below this */
#define SETTING_SEARCH_DUE "privacy.search_optimize_due"
#define FIRST_PASS_MS (10 * 60 * 1000)

/* ---- Pure helpers ---------------------------------------------------------- */

int64_t em_privacy_cutoff_days(int64_t now_ms, int days)
{
	if (days <= 0)
		return 0;
	int64_t c = now_ms - (int64_t)days * DAY_MS;
	return c > 0 ? c : 1;
}

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int month_days(int64_t y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return len[m - 1];
}

int64_t em_privacy_cutoff_months(int64_t now_ms, int months)
{
	if (months <= 0)
		return 0;
	int64_t days = now_ms >= 0 ? now_ms / DAY_MS : -((-now_ms + DAY_MS - 1) / DAY_MS);
	int64_t in_day = now_ms - days * DAY_MS;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t total = y * 12 + (m - 1) - months;
	y = total >= 0 ? total / 12 : -((-total + 11) / 12);
	m = (int)(total - y * 12) + 1;
	int ml = month_days(y, m);
	if (d > ml)
		d = ml;
	int64_t c = days_from_civil(y, m, d) * DAY_MS + in_day;
	return c > 0 ? c : 1;
}

void em_privacy_strip_url(const char *url, int keep_path, char *out, size_t outlen)
{
	if (!outlen)
		return;
	out[0] = '\0';
	if (!url)
		return;
	size_t n = strcspn(url, "?#");
	if (!keep_path) {
		const char *sep = strstr(url, "://");
		if (sep && (size_t)(sep - url) < n) {
			const char *host = sep + 3;
			size_t h = strcspn(host, "/?#");
			n = (size_t)(host - url) + h;
			snprintf(out, outlen, "%.*s/", (int)n, url);
			return;
		}
		/* Not an absolute URL: nothing to keep of it. */
		return;
	}
	snprintf(out, outlen, "%.*s", (int)n, url);
}

int em_privacy_purpose_ok(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n < 1 || n > EM_PRIVACY_PURPOSE_MAX)
		return 0;
	for (; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '.' ||
		      *p == '-'))
			return 0;
	return 1;
}

/* ---- Small collections used inside one store function ------------------- */

typedef struct idset {
	int64_t *v;
	size_t n, cap;
} idset;

static int idset_has(const idset *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == id)
			return 1;
	return 0;
}

/* Adds id unless present; returns 1 when added. */
static int idset_add(idset *s, int64_t id)
{
	if (idset_has(s, id) || s->n >= ERASE_MAX_ROWS)
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = em_realloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = id;
	return 1;
}

static void idset_free(idset *s)
{
	em_free(s->v);
	memset(s, 0, sizeof *s);
}

/* Strings that identify the person (e-mail addresses, names, phone numbers,
** external ids), lowercased; used to clear URLs, webhook payloads and
** audit details that mention them. */
typedef struct strset {
	char **v;
	size_t n, cap;
} strset;

static void strset_add(strset *s, const char *text, size_t minlen)
{
	if (!text || strlen(text) < minlen || s->n >= 256)
		return;
	char *low = em_strdup(text);
	for (char *p = low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], low)) {
			em_free(low);
			return;
		}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = em_realloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = low;
	/* An e-mail address also appears percent-encoded in URLs. */
	const char *at = strchr(low, '@');
	if (at && s->n < 256) {
		char enc[600];
		snprintf(enc, sizeof enc, "%.*s%%40%s", (int)(at - low), low, at + 1);
		strset_add(s, enc, minlen);
	}
}

static int strset_hit(const strset *s, const char *text)
{
	if (!text || !*text)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (strcasestr(text, s->v[i]))
			return 1;
	return 0;
}

static void strset_free(strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		em_free(s->v[i]);
	em_free(s->v);
	memset(s, 0, sizeof *s);
}

/* An erased person's visitor. */
typedef struct evis {
	int64_t id, site_id;
	char vid[64];
	char newvid[40];
} evis;

typedef struct evisset {
	evis *v;
	size_t n, cap;
} evisset;

static evis *evis_add(evisset *s, int64_t id, int64_t site_id, const char *vid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].id == id)
			return NULL;
	if (s->n >= ERASE_MAX_ROWS)
		return NULL;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = em_realloc(s->v, s->cap * sizeof *s->v);
	}
	evis *e = &s->v[s->n++];
	memset(e, 0, sizeof *e);
	e->id = id;
	e->site_id = site_id;
	snprintf(e->vid, sizeof e->vid, "%s", vid ? vid : "");
	char rnd[32];
	em_id_random(rnd, sizeof rnd, 12);
	/* ':' is not a character a browser's vid may hold: nobody can claim it. */
	snprintf(e->newvid, sizeof e->newvid, "erased:%s", rnd);
	return e;
}

static const evis *evis_by_vid(const evisset *s, int64_t site_id, const char *vid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].site_id == site_id && vid && !strcmp(s->v[i].vid, vid))
			return &s->v[i];
	return NULL;
}

/* ---- Collecting what belongs to a person --------------------------------- */

typedef struct person {
	int64_t site_id;
	idset contacts;	  /* contact ids: the contact and those merged into it */
	evisset visitors; /* visitor rows */
	idset convs;	  /* conversation ids */
	strset ids;	  /* identifying strings */
	char contact_pid[32];
	/* Public ids of contacts and conversations (audit and webhook scrub). */
	strset pids;
} person;

static void person_free(person *p)
{
	idset_free(&p->contacts);
	em_free(p->visitors.v);
	idset_free(&p->convs);
	strset_free(&p->ids);
	strset_free(&p->pids);
}

static void add_visitor_row(person *p, em_stmt *st)
{
	/* Columns: id, site_id, vid, email, name, external_id. */
	if (!evis_add(&p->visitors, em_stmt_int(st, 0), em_stmt_int(st, 1), em_stmt_text(st, 2)))
		return;
	strset_add(&p->ids, em_stmt_text(st, 3), 3);
	strset_add(&p->ids, em_stmt_text(st, 4), 4);
	strset_add(&p->ids, em_stmt_text(st, 5), 4);
}

static int collect_visitors_by(em_db *db, person *p, em_stmt *st)
{
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		add_visitor_row(p, st);
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

static int collect_convs_by(person *p, em_stmt *st)
{
	if (!st)
		return EM_EIO;
	int rc;
	/* Columns: id, name, email, public_id. */
	while ((rc = em_stmt_step(st)) == 1) {
		if (idset_add(&p->convs, em_stmt_int(st, 0))) {
			strset_add(&p->ids, em_stmt_text(st, 1), 4);
			strset_add(&p->ids, em_stmt_text(st, 2), 3);
			strset_add(&p->pids, em_stmt_text(st, 3), 1);
		}
	}
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

/* Fills p for a contact (public id) or a visitor (site_id + vid). */
static int collect(em_db *db, const char *contact_pid, int64_t site_id, const char *vid, person *p)
{
	int rc;
	em_stmt *st;
	if (contact_pid && *contact_pid) {
		st = em_db_prepare(db,
				   "SELECT id, site_id, email, name, phone FROM contact WHERE public_id = ?",
				   "t", contact_pid);
		if (!st)
			return EM_EIO;
		rc = em_stmt_step(st);
		if (rc == 1) {
			idset_add(&p->contacts, em_stmt_int(st, 0));
			p->site_id = em_stmt_int(st, 1);
			strset_add(&p->ids, em_stmt_text(st, 2), 3);
			strset_add(&p->ids, em_stmt_text(st, 3), 4);
			strset_add(&p->ids, em_stmt_text(st, 4), 6);
		}
		em_stmt_done(st);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return EM_ENOTFOUND;
		snprintf(p->contact_pid, sizeof p->contact_pid, "%s", contact_pid);
		strset_add(&p->pids, contact_pid, 1);
		/* Contacts merged into this one, at any depth. */
		for (size_t i = 0; i < p->contacts.n; i++) {
			st = em_db_prepare(
				db,
				"SELECT id, email, name, phone, public_id FROM contact WHERE merged_into = ?",
				"i", p->contacts.v[i]);
			if (!st)
				return EM_EIO;
			while ((rc = em_stmt_step(st)) == 1) {
				if (idset_add(&p->contacts, em_stmt_int(st, 0))) {
					strset_add(&p->ids, em_stmt_text(st, 1), 3);
					strset_add(&p->ids, em_stmt_text(st, 2), 4);
					strset_add(&p->ids, em_stmt_text(st, 3), 6);
					strset_add(&p->pids, em_stmt_text(st, 4), 1);
				}
			}
			em_stmt_done(st);
			if (rc < 0)
				return rc;
		}
		/* Visitors linked to any of them. */
		for (size_t i = 0; i < p->contacts.n; i++) {
			rc = collect_visitors_by(
				db, p,
				em_db_prepare(db,
					      "SELECT id, site_id, vid, email, name, external_id "
					      "FROM visitor WHERE contact_id = ?",
					      "i", p->contacts.v[i]));
			if (rc)
				return rc;
		}
	} else {
		p->site_id = site_id;
		rc = collect_visitors_by(
			db, p,
			em_db_prepare(db,
				      "SELECT id, site_id, vid, email, name, external_id FROM visitor "
				      "WHERE site_id = ? AND vid = ?",
				      "it", site_id, vid));
		if (rc)
			return rc;
		if (!p->visitors.n)
			return EM_ENOTFOUND;
	}
	/* Visitors with one of the person's e-mail addresses (identify), and
	** rows merged into any visitor found, at any depth. A visitor erase
	** follows e-mails only to rows already merged into it. */
	if (contact_pid && *contact_pid) {
		size_t nids = p->ids.n;
		for (size_t i = 0; i < nids; i++) {
			if (!strchr(p->ids.v[i], '@') || strstr(p->ids.v[i], "%40"))
				continue;
			rc = collect_visitors_by(
				db, p,
				em_db_prepare(db,
					      "SELECT id, site_id, vid, email, name, external_id "
					      "FROM visitor WHERE site_id = ? AND email = ?",
					      "it", p->site_id, p->ids.v[i]));
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < p->visitors.n; i++) {
		rc = collect_visitors_by(
			db, p,
			em_db_prepare(db,
				      "SELECT id, site_id, vid, email, name, external_id FROM visitor "
				      "WHERE merged_into = ?",
				      "i", p->visitors.v[i].id));
		if (rc)
			return rc;
	}
	/* Conversations: by contact, by visitor, and by the contact's e-mail. */
	for (size_t i = 0; i < p->contacts.n; i++)
		if ((rc = collect_convs_by(
			     p, em_db_prepare(db,
					      "SELECT id, name, email, public_id FROM conversation "
					      "WHERE contact_id = ?",
					      "i", p->contacts.v[i]))))
			return rc;
	for (size_t i = 0; i < p->visitors.n; i++)
		if ((rc = collect_convs_by(
			     p, em_db_prepare(db,
					      "SELECT id, name, email, public_id FROM conversation "
					      "WHERE site_id = ? AND vid = ?",
					      "it", p->visitors.v[i].site_id, p->visitors.v[i].vid))))
			return rc;
	if (contact_pid && *contact_pid) {
		size_t nids = p->ids.n;
		for (size_t i = 0; i < nids; i++) {
			if (!strchr(p->ids.v[i], '@') || strstr(p->ids.v[i], "%40"))
				continue;
			if ((rc = collect_convs_by(
				     p, em_db_prepare(db,
						      "SELECT id, name, email, public_id FROM "
						      "conversation WHERE site_id = ? AND email = ?",
						      "it", p->site_id, p->ids.v[i]))))
				return rc;
		}
	}
	return 0;
}

/* ---- Consent records ------------------------------------------------------ */

int em_privacy_consent_db(em_db *db, int64_t site_id, int64_t contact_id, const char *vid,
			  const char *purpose, int granted, const char *wording, const char *source,
			  int64_t now)
{
	return em_db_exec(
		db,
		"INSERT INTO consent_record (site_id, contact_id, vid, purpose, granted, wording, source, "
		"created_at) VALUES (?, nullif(?, 0), ?, ?, ?, ?, ?, ?)",
		"iittItti", site_id, contact_id, vid, purpose, granted ? 1 : 0, wording ? wording : "",
		source ? source : "", now);
}

/* ---- Export --------------------------------------------------------------- */

static json_t *tjson(int64_t ms)
{
	if (!ms)
		return json_null();
	char t[32];
	em_rfc3339(ms, t);
	return json_string(t);
}

static json_t *col_time(em_stmt *st, int col)
{
	return em_stmt_is_null(st, col) ? json_null() : tjson(em_stmt_int(st, col));
}

static json_t *col_str(em_stmt *st, int col)
{
	const char *t = em_stmt_text(st, col);
	return t ? json_string(t) : json_null();
}

/* A JSON text column as JSON (or as a string when it does not parse). */
static json_t *col_json(em_stmt *st, int col)
{
	const char *t = em_stmt_text(st, col);
	if (!t)
		return json_null();
	json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(t);
}

static json_t *operator_ref(em_db *db, int64_t id)
{
	if (!id)
		return json_null();
	json_t *o = json_null();
	em_stmt *st = em_db_prepare(db, "SELECT public_id, name FROM operator WHERE id = ?", "i", id);
	if (st && em_stmt_step(st) == 1) {
		json_decref(o);
		o = json_pack("{s:o, s:o}", "id", col_str(st, 0), "name", col_str(st, 1));
	}
	em_stmt_done(st);
	return o;
}

static json_t *site_key(em_db *db, int64_t id)
{
	json_t *o = json_null();
	em_stmt *st = em_db_prepare(db, "SELECT key FROM site WHERE id = ?", "i", id);
	if (st && em_stmt_step(st) == 1) {
		json_decref(o);
		o = col_str(st, 0);
	}
	em_stmt_done(st);
	return o;
}

static int export_contact(em_db *db, int64_t id, json_t **out)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT public_id, site_id, name, email, phone, company, stage, owner_id, source, "
		"custom, lifetime_value, orders, consent_marketing, consent_at, created_at, "
		"updated_at FROM contact WHERE id = ?",
		"i", id);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc != 1) {
		em_stmt_done(st);
		return rc < 0 ? rc : EM_ENOTFOUND;
	}
	int64_t owner = em_stmt_int(st, 7);
	int64_t site = em_stmt_int(st, 1);
	json_t *c = json_object();
	json_object_set_new(c, "id", col_str(st, 0));
	json_object_set_new(c, "name", col_str(st, 2));
	json_object_set_new(c, "email", col_str(st, 3));
	json_object_set_new(c, "phone", col_str(st, 4));
	json_object_set_new(c, "company", col_str(st, 5));
	json_object_set_new(c, "stage", col_str(st, 6));
	json_object_set_new(c, "source", col_str(st, 8));
	json_object_set_new(c, "custom", col_json(st, 9));
	json_object_set_new(c, "lifetime_value", json_real(em_stmt_double(st, 10)));
	json_object_set_new(c, "orders", json_integer(em_stmt_int(st, 11)));
	json_object_set_new(c, "consent_marketing", json_boolean(em_stmt_int(st, 12)));
	json_object_set_new(c, "consent_at", col_time(st, 13));
	json_object_set_new(c, "created", col_time(st, 14));
	json_object_set_new(c, "updated", col_time(st, 15));
	em_stmt_done(st);
	json_object_set_new(c, "site", site_key(db, site));
	json_object_set_new(c, "owner", operator_ref(db, owner));
	json_t *tags = json_array();
	st = em_db_prepare(db, "SELECT tag FROM contact_tag WHERE contact_id = ? ORDER BY tag", "i", id);
	while (st && (rc = em_stmt_step(st)) == 1)
		json_array_append_new(tags, col_str(st, 0));
	em_stmt_done(st);
	json_object_set_new(c, "tags", tags);
	json_t *facts = json_array();
	st = em_db_prepare(
		db,
		"SELECT type, detail, operator_id, created_at FROM contact_event WHERE contact_id = ? "
		"ORDER BY created_at, id",
		"i", id);
	while (st && em_stmt_step(st) == 1) {
		int64_t op = em_stmt_int(st, 2);
		json_t *f = json_pack("{s:o, s:o, s:o}", "type", col_str(st, 0), "detail", col_json(st, 1),
				      "at", col_time(st, 3));
		json_object_set_new(f, "operator", operator_ref(db, op));
		json_array_append_new(facts, f);
	}
	em_stmt_done(st);
	json_object_set_new(c, "history", facts);
	*out = c;
	return 0;
}

static json_t *export_events(em_db *db, int64_t visit_id, int64_t *budget, int *truncated)
{
	json_t *evs = json_array();
	em_stmt *st = em_db_prepare(db,
				    "SELECT ts, type, url, title, name, data FROM event WHERE visit_id = ? "
				    "ORDER BY ts, id",
				    "i", visit_id);
	while (st && em_stmt_step(st) == 1) {
		if (*budget <= 0) {
			*truncated = 1;
			break;
		}
		(*budget)--;
		json_t *e = json_pack("{s:o, s:o}", "at", col_time(st, 0), "type", col_str(st, 1));
		if (!em_stmt_is_null(st, 2))
			json_object_set_new(e, "url", col_str(st, 2));
		if (!em_stmt_is_null(st, 3))
			json_object_set_new(e, "title", col_str(st, 3));
		if (!em_stmt_is_null(st, 4))
			json_object_set_new(e, "name", col_str(st, 4));
		if (!em_stmt_is_null(st, 5))
			json_object_set_new(e, "data", col_json(st, 5));
		json_array_append_new(evs, e);
	}
	em_stmt_done(st);
	return evs;
}

static json_t *export_visitor(em_db *db, const evis *v, int64_t *budget, int *truncated)
{
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT first_seen, last_seen, visits, pageviews, email, name, external_id, "
			      "consent, consent_at, cart_total FROM visitor WHERE id = ?",
			      "i", v->id);
	if (!st || em_stmt_step(st) != 1) {
		em_stmt_done(st);
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:b, s:o, s:f}", "vid", v->vid,
			      "site", site_key(db, v->site_id), "first_seen", col_time(st, 0), "last_seen",
			      col_time(st, 1), "visits", (json_int_t)em_stmt_int(st, 2), "pageviews",
			      (json_int_t)em_stmt_int(st, 3), "email", col_str(st, 4), "name", col_str(st, 5),
			      "external_id", col_str(st, 6), "consent", (int)em_stmt_int(st, 7), "consent_at",
			      col_time(st, 8), "cart_total", em_stmt_double(st, 9));
	em_stmt_done(st);
	json_t *visits = json_array();
	st = em_db_prepare(db,
			   "SELECT id, started_at, last_at, entry_url, referrer, utm_source, utm_medium, "
			   "utm_campaign, pageviews, active_s, ip, device, browser, os, country, source "
			   "FROM visit WHERE visitor_id = ? ORDER BY started_at, id",
			   "i", v->id);
	/* Events are read per visit after this statement is done (nested
	** statements on one connection are fine, but keep it simple). */
	idset ids = {0};
	while (st && em_stmt_step(st) == 1) {
		idset_add(&ids, em_stmt_int(st, 0));
		json_array_append_new(
			visits,
			json_pack(
				"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
				"started", col_time(st, 1), "last", col_time(st, 2), "entry_url",
				col_str(st, 3), "referrer", col_str(st, 4), "utm_source", col_str(st, 5),
				"utm_medium", col_str(st, 6), "utm_campaign", col_str(st, 7), "pageviews",
				(json_int_t)em_stmt_int(st, 8), "active_s", (json_int_t)em_stmt_int(st, 9),
				"ip", col_str(st, 10), "device", col_str(st, 11), "browser", col_str(st, 12),
				"os", col_str(st, 13), "country", col_str(st, 14), "source",
				col_str(st, 15)));
	}
	em_stmt_done(st);
	for (size_t i = 0; i < ids.n; i++)
		json_object_set_new(json_array_get(visits, i), "events",
				    export_events(db, ids.v[i], budget, truncated));
	idset_free(&ids);
	json_object_set_new(o, "visits", visits);
	json_t *inv = json_array();
	st = em_db_prepare(db,
			   "SELECT public_id, message, status, operator_id, created_at, responded_at FROM "
			   "invitation WHERE site_id = ? AND vid = ? ORDER BY created_at, id",
			   "it", v->site_id, v->vid);
	while (st && em_stmt_step(st) == 1) {
		int64_t op = em_stmt_int(st, 3);
		json_t *i = json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0), "message",
				      col_str(st, 1), "status", col_str(st, 2), "at", col_time(st, 4),
				      "responded", col_time(st, 5));
		json_object_set_new(i, "operator", operator_ref(db, op));
		json_array_append_new(inv, i);
	}
	em_stmt_done(st);
	json_object_set_new(o, "invitations", inv);
	return o;
}

static json_t *export_conversation(em_db *db, int64_t id)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT public_id, site_id, vid, status, channel, name, email, consent, lang, "
		"page_url, outcome, rating, rating_comment, created_at, accepted_at, closed_at, "
		"operator_id FROM conversation WHERE id = ?",
		"i", id);
	if (!st || em_stmt_step(st) != 1) {
		em_stmt_done(st);
		return NULL;
	}
	int64_t site = em_stmt_int(st, 1), op = em_stmt_int(st, 16);
	json_t *c = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "id", col_str(st, 0), "vid", col_str(st, 2), "status", col_str(st, 3),
			      "channel", col_str(st, 4), "name", col_str(st, 5), "email", col_str(st, 6),
			      "consent", (int)em_stmt_int(st, 7), "lang", col_str(st, 8), "page_url",
			      col_str(st, 9), "outcome", col_str(st, 10), "rating",
			      em_stmt_is_null(st, 11) ? json_null() : json_integer(em_stmt_int(st, 11)),
			      "rating_comment", col_str(st, 12), "created", col_time(st, 13), "accepted",
			      col_time(st, 14), "closed", col_time(st, 15));
	em_stmt_done(st);
	json_object_set_new(c, "site", site_key(db, site));
	json_object_set_new(c, "operator", operator_ref(db, op));
	json_t *msgs = json_array();
	st = em_db_prepare(db,
			   "SELECT seq, author, operator_id, body, internal, created_at FROM message "
			   "WHERE conversation_id = ? ORDER BY seq",
			   "i", id);
	while (st && em_stmt_step(st) == 1)
		json_array_append_new(
			msgs, json_pack("{s:I, s:o, s:I, s:o, s:b, s:o}", "seq",
					(json_int_t)em_stmt_int(st, 0), "author", col_str(st, 1),
					"operator_id", (json_int_t)em_stmt_int(st, 2), "body", col_str(st, 3),
					"internal", (int)em_stmt_int(st, 4), "at", col_time(st, 5)));
	em_stmt_done(st);
	/* Operators by public id and name, not by row id. */
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		json_int_t oid = json_integer_value(json_object_get(m, "operator_id"));
		json_object_del(m, "operator_id");
		if (oid)
			json_object_set_new(m, "operator", operator_ref(db, oid));
	}
	json_object_set_new(c, "messages", msgs);
	return c;
}

static void export_notes(em_db *db, em_stmt *st, idset *seen, json_t *out)
{
	idset ids = {0};
	while (st && em_stmt_step(st) == 1)
		if (idset_add(seen, em_stmt_int(st, 0)))
			idset_add(&ids, em_stmt_int(st, 0));
	em_stmt_done(st);
	for (size_t i = 0; i < ids.n; i++) {
		st = em_db_prepare(
			db,
			"SELECT public_id, vid, author_id, body, created_at, updated_at, deleted_at FROM "
			"note WHERE id = ?",
			"i", ids.v[i]);
		if (!st || em_stmt_step(st) != 1) {
			em_stmt_done(st);
			continue;
		}
		int64_t author = em_stmt_int(st, 2);
		json_t *n = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0), "vid",
				      col_str(st, 1), "body", col_str(st, 3), "created", col_time(st, 4),
				      "updated", col_time(st, 5), "deleted", col_time(st, 6));
		em_stmt_done(st);
		json_object_set_new(n, "author", operator_ref(db, author));
		json_t *revs = json_array();
		st = em_db_prepare(db,
				   "SELECT body, editor_id, created_at FROM note_revision WHERE note_id = ? "
				   "ORDER BY created_at, id",
				   "i", ids.v[i]);
		idset eds = {0};
		while (st && em_stmt_step(st) == 1) {
			json_array_append_new(
				revs, json_pack("{s:o, s:o}", "body", col_str(st, 0), "at", col_time(st, 2)));
			/* One entry per revision, in order (duplicates allowed). */
			if (eds.n == eds.cap) {
				eds.cap = eds.cap ? eds.cap * 2 : 8;
				eds.v = em_realloc(eds.v, eds.cap * sizeof *eds.v);
			}
			eds.v[eds.n++] = em_stmt_int(st, 1);
		}
		em_stmt_done(st);
		for (size_t k = 0; k < eds.n; k++)
			json_object_set_new(json_array_get(revs, k), "editor", operator_ref(db, eds.v[k]));
		idset_free(&eds);
		json_object_set_new(n, "revisions", revs);
		json_array_append_new(out, n);
	}
	idset_free(&ids);
}

static void export_callbacks(em_db *db, em_stmt *st, idset *seen, json_t *out)
{
	while (st && em_stmt_step(st) == 1) {
		if (!idset_add(seen, em_stmt_int(st, 0)))
			continue;
		json_array_append_new(
			out, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
				       col_str(st, 1), "vid", col_str(st, 2), "name", col_str(st, 3), "phone",
				       col_str(st, 4), "topic", col_str(st, 5), "window_start",
				       col_time(st, 6), "window_end", col_time(st, 7), "due", col_time(st, 8),
				       "status", col_str(st, 9), "attempts", (json_int_t)em_stmt_int(st, 10),
				       "created", col_time(st, 11), "updated", col_time(st, 12)));
	}
	em_stmt_done(st);
}

static void export_consents(em_stmt *st, idset *seen, json_t *out)
{
	while (st && em_stmt_step(st) == 1) {
		if (!idset_add(seen, em_stmt_int(st, 0)))
			continue;
		json_array_append_new(out, json_pack("{s:o, s:b, s:o, s:o, s:o, s:o}", "purpose",
						     col_str(st, 1), "granted", (int)em_stmt_int(st, 2),
						     "wording", col_str(st, 3), "source", col_str(st, 4),
						     "vid", col_str(st, 5), "at", col_time(st, 6)));
	}
	em_stmt_done(st);
}

#define SQL_CALLBACK_COLS \
	"SELECT id, public_id, vid, name, phone, topic, window_start, window_end, due_at, status, " \
	"attempts, " \
	"created_at, updated_at FROM callback_request "
#define SQL_CONSENT_COLS "SELECT id, purpose, granted, wording, source, vid, created_at FROM consent_record "

int em_privacy_export_db(em_db *db, void *arg)
{
	em_export *x = arg;
	person p;
	memset(&p, 0, sizeof p);
	int rc = collect(db, x->contact, x->site_id, x->vid, &p);
	if (rc) {
		person_free(&p);
		return rc;
	}
	json_t *doc = json_object();
	json_object_set_new(doc, "format", json_string("emma.export/1"));
	json_object_set_new(doc, "exported_at", tjson(em_now_ms()));
	json_object_set_new(doc, "subject",
			    x->contact[0] ? json_pack("{s:s, s:s}", "type", "contact", "id", x->contact)
					  : json_pack("{s:s, s:s}", "type", "visitor", "vid", x->vid));
	if (x->contact[0]) {
		json_t *c = NULL;
		if ((rc = export_contact(db, p.contacts.v[0], &c))) {
			json_decref(doc);
			person_free(&p);
			return rc;
		}
		json_object_set_new(doc, "contact", c);
		json_t *merged = json_array();
		for (size_t i = 1; i < p.contacts.n; i++)
			if (!export_contact(db, p.contacts.v[i], &c))
				json_array_append_new(merged, c);
		json_object_set_new(doc, "merged_contacts", merged);
		json_t *labels = json_object();
		em_stmt *st = em_db_prepare(db, "SELECT key, label, type FROM custom_field WHERE site_id = ?",
					    "i", p.site_id);
		while (st && em_stmt_step(st) == 1)
			json_object_set_new(
				labels, em_stmt_text(st, 0),
				json_pack("{s:o, s:o}", "label", col_str(st, 1), "type", col_str(st, 2)));
		em_stmt_done(st);
		json_object_set_new(doc, "custom_fields", labels);
	}
	int64_t budget = EM_PRIVACY_EXPORT_EVENTS_MAX;
	int truncated = 0;
	json_t *vis = json_array();
	for (size_t i = 0; i < p.visitors.n; i++) {
		json_t *v = export_visitor(db, &p.visitors.v[i], &budget, &truncated);
		if (v)
			json_array_append_new(vis, v);
	}
	json_object_set_new(doc, "visitors", vis);
	json_t *convs = json_array();
	for (size_t i = 0; i < p.convs.n; i++) {
		json_t *c = export_conversation(db, p.convs.v[i]);
		if (c)
			json_array_append_new(convs, c);
	}
	json_object_set_new(doc, "conversations", convs);

	json_t *notes = json_array(), *cbs = json_array(), *cons = json_array();
	idset seen_notes = {0}, seen_cbs = {0}, seen_cons = {0};
	for (size_t i = 0; i < p.contacts.n; i++) {
		int64_t cid = p.contacts.v[i];
		export_notes(db,
			     em_db_prepare(db,
					   "SELECT id FROM note WHERE contact_id = ? ORDER BY created_at, id",
					   "i", cid),
			     &seen_notes, notes);
		export_callbacks(db,
				 em_db_prepare(db,
					       SQL_CALLBACK_COLS "WHERE contact_id = ? ORDER BY created_at",
					       "i", cid),
				 &seen_cbs, cbs);
		export_consents(em_db_prepare(db,
					      SQL_CONSENT_COLS "WHERE contact_id = ? ORDER BY created_at, id",
					      "i", cid),
				&seen_cons, cons);
	}
	for (size_t i = 0; i < p.visitors.n; i++) {
		const evis *v = &p.visitors.v[i];
		export_notes(
			db,
			em_db_prepare(
				db,
				"SELECT id FROM note WHERE site_id = ? AND vid = ? ORDER BY created_at, id",
				"it", v->site_id, v->vid),
			&seen_notes, notes);
		export_callbacks(db,
				 em_db_prepare(db,
					       SQL_CALLBACK_COLS
					       "WHERE site_id = ? AND vid = ? ORDER BY created_at",
					       "it", v->site_id, v->vid),
				 &seen_cbs, cbs);
		export_consents(em_db_prepare(db,
					      SQL_CONSENT_COLS
					      "WHERE site_id = ? AND vid = ? ORDER BY created_at, id",
					      "it", v->site_id, v->vid),
				&seen_cons, cons);
	}
	idset_free(&seen_notes);
	idset_free(&seen_cbs);
	idset_free(&seen_cons);
	json_object_set_new(doc, "notes", notes);
	json_object_set_new(doc, "callbacks", cbs);
	json_object_set_new(doc, "consents", cons);

	/* Recipients (GDPR Art. 15(1)(c)): webhook deliveries that carried data
	** about the person. */
	json_t *rcpt = json_array();
	for (size_t i = 0; i < p.pids.n && x->contact[0]; i++) {
		em_stmt *st =
			em_db_prepare(db,
				      "SELECT d.event, w.url, d.status, d.created_at FROM webhook_delivery d "
				      "JOIN webhook w ON w.id = d.webhook_id WHERE instr(d.payload, ?) > 0 "
				      "ORDER BY d.id",
				      "t", p.pids.v[i]);
		while (st && em_stmt_step(st) == 1)
			json_array_append_new(rcpt, json_pack("{s:o, s:o, s:o, s:o}", "event", col_str(st, 0),
							      "url", col_str(st, 1), "status", col_str(st, 2),
							      "at", col_time(st, 3)));
		em_stmt_done(st);
	}
	json_object_set_new(doc, "webhook_deliveries", rcpt);
	json_object_set_new(doc, "truncated", json_boolean(truncated));
	person_free(&p);
	x->out = doc;
	return 0;
}

/* ---- Erase ---------------------------------------------------------------- */

int em_privacy_erase_scan_db(em_db *db, void *arg)
{
	em_erase *e = arg;
	person p;
	memset(&p, 0, sizeof p);
	int rc = collect(db, e->contact, e->site_id, e->vid, &p);
	if (!rc) {
		for (size_t i = 0; i < p.convs.n; i++) {
			em_stmt *st =
				em_db_prepare(db,
					      "SELECT public_id FROM conversation WHERE id = ? AND status != "
					      "'closed'",
					      "i", p.convs.v[i]);
			if (st && em_stmt_step(st) == 1) {
				e->open = em_realloc(e->open, (e->nopen + 1) * sizeof *e->open);
				snprintf(e->open[e->nopen++], 32, "%s", em_stmt_text(st, 0));
			}
			em_stmt_done(st);
		}
	}
	person_free(&p);
	return rc;
}

void em_privacy_erase_free(em_erase *e)
{
	if (!e)
		return;
	em_free(e->gone);
	em_free(e->open);
	em_free(e);
}

/* Anonymises a visitor's visits and events. */
static int erase_visits(em_db *db, const evis *v, const strset *ids, int64_t *events)
{
	typedef struct {
		int64_t id;
		char *url, *ref;
	} row;
	row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;
	em_stmt *st = em_db_prepare(db, "SELECT id, entry_url, referrer FROM visit WHERE visitor_id = ?", "i",
				    v->id);
	if (!st)
		return EM_EIO;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = em_realloc(rows, cap * sizeof *rows);
		}
		rows[n].id = em_stmt_int(st, 0);
		rows[n].url = em_strdup(em_stmt_text(st, 1) ? em_stmt_text(st, 1) : "");
		rows[n].ref = em_strdup(em_stmt_text(st, 2) ? em_stmt_text(st, 2) : "");
		n++;
	}
	em_stmt_done(st);
	char url[2048], ref[600];
	for (size_t i = 0; !rc && i < n; i++) {
		em_privacy_strip_url(rows[i].url, 1, url, sizeof url);
		em_privacy_strip_url(rows[i].ref, 0, ref, sizeof ref);
		if (strset_hit(ids, url))
			url[0] = '\0';
		if (strset_hit(ids, ref))
			ref[0] = '\0';
		rc = em_db_exec(db, "UPDATE visit SET ip = '', entry_url = ?, referrer = ? WHERE id = ?",
				"tti", url, ref, rows[i].id);
		/* Events of the visit, by the visit index. */
		typedef struct {
			int64_t id;
			char *url;
		} erow;
		erow *ev = NULL;
		size_t en = 0, ecap = 0;
		if (!rc) {
			st = em_db_prepare(db, "SELECT id, url FROM event WHERE visit_id = ?", "i",
					   rows[i].id);
			if (!st)
				rc = EM_EIO;
			int step = 0;
			while (!rc && (step = em_stmt_step(st)) == 1) {
				if (en == ecap) {
					ecap = ecap ? ecap * 2 : 64;
					ev = em_realloc(ev, ecap * sizeof *ev);
				}
				ev[en].id = em_stmt_int(st, 0);
				ev[en].url = em_stmt_is_null(st, 1) ? NULL : em_strdup(em_stmt_text(st, 1));
				en++;
			}
			if (!rc && step < 0)
				rc = step;
			em_stmt_done(st);
		}
		for (size_t k = 0; k < en; k++) {
			if (!rc) {
				char eu[2048];
				em_privacy_strip_url(ev[k].url, 1, eu, sizeof eu);
				if (strset_hit(ids, eu))
					eu[0] = '\0';
				rc = em_db_exec(
					db,
					"UPDATE event SET url = ?, title = NULL, data = NULL WHERE id = ?",
					"ti", ev[k].url ? eu : NULL, ev[k].id);
				(*events)++;
			}
			em_free(ev[k].url);
		}
		em_free(ev);
	}
	for (size_t i = 0; i < n; i++) {
		em_free(rows[i].url);
		em_free(rows[i].ref);
	}
	em_free(rows);
	return rc < 0 ? rc : 0;
}

/* Optimises the contact search index now when it is small, else leaves a
** note for the next retention pass (optimising a large index takes a while
** and holds the writer). Until then the index may still hold three-letter
** fragments of the erased name and e-mail in superseded segments. */
static void search_forget(em_db *db, em_erase *e)
{
	int64_t pages = 0;
	em_stmt *st = em_db_prepare(db, "SELECT count(*) FROM contact_search_data", NULL);
	if (st && em_stmt_step(st) == 1)
		pages = em_stmt_int(st, 0);
	em_stmt_done(st);
	if (!st)
		return; /* no search index in this schema */
	if (pages <= SEARCH_OPTIMIZE_MAX_PAGES &&
	    !em_db_exec(db, "INSERT INTO contact_search (contact_search) VALUES ('optimize')", NULL))
		return;
	e->search_dirty = 1;
	em_db_exec(db,
		   "INSERT INTO setting (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = "
		   "'1'",
		   "t", SETTING_SEARCH_DUE);
}

int em_privacy_erase_db(em_db *db, void *arg)
{
	em_erase *e = arg;
	person p;
	memset(&p, 0, sizeof p);
	int rc = collect(db, e->contact, e->site_id, e->vid, &p);
	if (rc)
		goto out;
	int64_t now = e->now ? e->now : em_now_ms();
	/* Rows of the sessionizer's cache may be rewritten below. */
	if ((rc = em_sessionize_flush(db)))
		goto out;

	/* Notes (revisions follow by ON DELETE CASCADE) and consent records. */
	for (size_t i = 0; !rc && i < p.contacts.n; i++) {
		int64_t cid = p.contacts.v[i];
		if (!(rc = em_db_exec(db, "DELETE FROM note WHERE contact_id = ?", "i", cid)))
			e->notes += em_db_changes(db);
		if (!rc &&
		    !(rc = em_db_exec(db, "DELETE FROM consent_record WHERE contact_id = ?", "i", cid)))
			e->consents += em_db_changes(db);
		if (!rc)
			rc = em_db_exec(db, "DELETE FROM contact_event WHERE contact_id = ?", "i", cid);
		if (!rc && !(rc = em_db_exec(db,
					     "UPDATE callback_request SET name = '', phone = '', topic = '', "
					     "contact_id = NULL, "
					     "vid = NULL, updated_at = ? WHERE contact_id = ?",
					     "ii", now, cid)))
			e->callbacks += em_db_changes(db);
	}
	for (size_t i = 0; !rc && i < p.visitors.n; i++) {
		const evis *v = &p.visitors.v[i];
		if (!(rc = em_db_exec(db, "DELETE FROM note WHERE site_id = ? AND vid = ?", "it", v->site_id,
				      v->vid)))
			e->notes += em_db_changes(db);
		if (!rc && !(rc = em_db_exec(db, "DELETE FROM consent_record WHERE site_id = ? AND vid = ?",
					     "it", v->site_id, v->vid)))
			e->consents += em_db_changes(db);
		if (!rc && !(rc = em_db_exec(db,
					     "UPDATE callback_request SET name = '', phone = '', topic = '', "
					     "contact_id = NULL, "
					     "vid = NULL, updated_at = ? WHERE site_id = ? AND vid = ?",
					     "iit", now, v->site_id, v->vid)))
			e->callbacks += em_db_changes(db);
		if (!rc)
			rc = em_db_exec(
				db,
				"UPDATE invitation SET message = '', vid = ? WHERE site_id = ? AND vid = ?",
				"tit", v->newvid, v->site_id, v->vid);
	}
	/* Call-me-back requests left with the person's phone number. */
	for (size_t i = 0; !rc && i < p.ids.n; i++) {
		if (p.ids.v[i][0] != '+')
			continue;
		if (!(rc = em_db_exec(db,
				      "UPDATE callback_request SET name = '', phone = '', topic = '', "
				      "contact_id = NULL, "
				      "vid = NULL, updated_at = ? WHERE site_id = ? AND phone = ?",
				      "iit", now, p.site_id, p.ids.v[i])))
			e->callbacks += em_db_changes(db);
	}

	/* Conversations: the text goes, the statistics stay. */
	for (size_t i = 0; !rc && i < p.convs.n; i++) {
		int64_t cid = p.convs.v[i];
		int64_t site = 0;
		char vid[64] = "";
		em_stmt *st =
			em_db_prepare(db, "SELECT site_id, vid FROM conversation WHERE id = ?", "i", cid);
		if (st && em_stmt_step(st) == 1) {
			site = em_stmt_int(st, 0);
			snprintf(vid, sizeof vid, "%s", em_stmt_text(st, 1) ? em_stmt_text(st, 1) : "");
		}
		em_stmt_done(st);
		const evis *v = evis_by_vid(&p.visitors, site, vid);
		char fresh[40];
		if (v) {
			snprintf(fresh, sizeof fresh, "%s", v->newvid);
		} else {
			char rnd[32];
			em_id_random(rnd, sizeof rnd, 12);
			snprintf(fresh, sizeof fresh, "erased:%s", rnd);
		}
		if (!(rc = em_db_exec(db,
				      "UPDATE message SET body = '', erased_at = ? WHERE conversation_id = ?",
				      "ii", now, cid)))
			e->messages += em_db_changes(db);
		if (!rc)
			rc = em_db_exec(db,
					"UPDATE conversation SET name = '', email = '', page_url = '', "
					"rating_comment = '', contact_id = NULL, vid = ?, erased_at = ?, "
					"updated_at = ? "
					"WHERE id = ?",
					"tiii", fresh, now, now, cid);
		e->conversations++;
	}

	/* Visitors: anonymous from now on. */
	for (size_t i = 0; !rc && i < p.visitors.n; i++) {
		const evis *v = &p.visitors.v[i];
		rc = erase_visits(db, v, &p.ids, &e->events);
		if (!rc)
			rc = em_db_exec(
				db,
				"UPDATE visitor SET vid = ?, email = NULL, name = NULL, external_id = NULL, "
				"contact_id = NULL WHERE id = ?",
				"ti", v->newvid, v->id);
		if (!rc) {
			e->visitors++;
			e->gone = em_realloc(e->gone, (e->ngone + 1) * sizeof *e->gone);
			e->gone[e->ngone].site_id = v->site_id;
			snprintf(e->gone[e->ngone].vid, sizeof e->gone[e->ngone].vid, "%s", v->vid);
			e->ngone++;
		}
	}

	/* Copies elsewhere: webhook payloads and audit details. */
	strset scrub = {0};
	for (size_t i = 0; i < p.ids.n; i++)
		strset_add(&scrub, p.ids.v[i], 1);
	for (size_t i = 0; i < p.pids.n; i++)
		strset_add(&scrub, p.pids.v[i], 1);
	for (size_t i = 0; i < p.visitors.n; i++)
		strset_add(&scrub, p.visitors.v[i].vid, 1);
	for (size_t i = 0; !rc && i < scrub.n; i++) {
		rc = em_db_exec(
			db,
			"UPDATE webhook_delivery SET payload = '{\"erased\":true}', "
			"last_error = CASE WHEN status = 'pending' THEN 'erased' ELSE last_error END, "
			"status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END "
			"WHERE instr(lower(payload), ?) > 0",
			"t", scrub.v[i]);
		if (!rc)
			rc = em_db_exec(db,
					"UPDATE audit_log SET detail = '' WHERE detail != '' AND "
					"(lower(target) = ? OR instr(lower(detail), ?) > 0)",
					"tt", scrub.v[i], scrub.v[i]);
	}
	strset_free(&scrub);
	/* Targets keep public ids (the trail of what was done), never an
	** e-mail address or a name. */
	for (size_t i = 0; !rc && i < p.ids.n; i++)
		rc = em_db_exec(db, "UPDATE audit_log SET target = '' WHERE instr(lower(target), ?) > 0", "t",
				p.ids.v[i]);

	/* Finally the contacts themselves (tags follow by ON DELETE CASCADE;
	** the search index by its trigger). */
	if (!rc && p.contacts.n) {
		for (size_t i = 0; !rc && i < p.contacts.n; i++) {
			rc = em_db_exec(db, "UPDATE contact SET merged_into = NULL WHERE merged_into = ?",
					"i", p.contacts.v[i]);
			if (!rc)
				rc = em_db_exec(db,
						"UPDATE visitor SET contact_id = NULL WHERE contact_id = ?",
						"i", p.contacts.v[i]);
			if (!rc)
				rc = em_db_exec(
					db, "UPDATE conversation SET contact_id = NULL WHERE contact_id = ?",
					"i", p.contacts.v[i]);
		}
		for (size_t i = 0; !rc && i < p.contacts.n; i++) {
			if (!(rc = em_db_exec(db, "DELETE FROM contact WHERE id = ?", "i", p.contacts.v[i])))
				e->contacts += em_db_changes(db);
		}
		if (!rc) {
			json_t *payload =
				json_pack("{s:{s:s, s:b}}", "contact", "id", p.contact_pid, "erased", 1);
			rc = em_webhooks_enqueue_db(db, "contact.deleted", payload);
			json_decref(payload);
		}
		if (!rc)
			search_forget(db, e);
	}
	/* Visitor rows got new vids: the writer-side cache must not keep the old. */
	em_sessionize_reset();
out:
	if (rc && rc != EM_ENOTFOUND)
		em_warn("privacy: erase failed", "rc=%s err=\"%s\"", em_strerror(rc), em_db_errmsg(db));
	person_free(&p);
	return rc;
}

/* ---- Erase on the loop ---------------------------------------------------- */

typedef struct erase_job {
	em_app *app;
	em_erase *e;
	int64_t operator_id;
	char ip[64];
	int pending;
	void (*done)(int status, em_erase *e, void *arg);
	void *arg;
} erase_job;

static void erase_finish(erase_job *j, int status)
{
	j->done(status, j->e, j->arg);
	em_free(j);
}

static void checkpoint_work(void *arg)
{
	erase_job *j = arg;
	char err[256];
	int rc = em_store_checkpoint(j->app->store, err, sizeof err);
	if (rc)
		em_warn("privacy: checkpoint after erase failed; the WAL is truncated at the next one",
			"reason=\"%s\"", err);
}

static void checkpoint_done(void *arg)
{
	erase_finish(arg, 0);
}

static void erase_written(int status, void *arg)
{
	erase_job *j = arg;
	em_erase *e = j->e;
	if (status) {
		erase_finish(j, status);
		return;
	}
	em_webhooks_kick();
	em_ingest_journal_cut();
	for (size_t i = 0; i < e->ngone; i++)
		em_presence_forget(e->gone[i].site_id, e->gone[i].vid);
	char detail[256];
	snprintf(detail, sizeof detail,
		 "contacts=%lld visitors=%lld conversations=%lld messages=%lld notes=%lld callbacks=%lld "
		 "consents=%lld events=%lld",
		 (long long)e->contacts, (long long)e->visitors, (long long)e->conversations,
		 (long long)e->messages, (long long)e->notes, (long long)e->callbacks, (long long)e->consents,
		 (long long)e->events);
	json_t *ev;
	if (e->contact[0]) {
		em_audit(j->app, j->operator_id, "contact.erased", e->contact, j->ip, detail);
		ev = json_pack("{s:s, s:s}", "type", "contact_erased", "contact", e->contact);
	} else {
		/* The old vid is the browser's key to nothing now; the audit keeps
		** only the fact, the site and the counts. */
		em_audit(j->app, j->operator_id,
			 j->operator_id ? "visitor.erased" : "visitor.forget_requested", "", j->ip, detail);
		ev = json_pack("{s:s}", "type", "visitor_erased");
	}
	em_hub_publish(ev, 0);
	json_decref(ev);
	em_info("privacy: erased", "%s", detail);
	if (em_loop_work(checkpoint_work, checkpoint_done, j))
		erase_finish(j, 0);
}

/* The store functions of the job work on its em_erase. */
static int job_scan_fn(em_db *db, void *arg)
{
	return em_privacy_erase_scan_db(db, ((erase_job *)arg)->e);
}

static int job_erase_fn(em_db *db, void *arg)
{
	return em_privacy_erase_db(db, ((erase_job *)arg)->e);
}

static void erase_write(erase_job *j)
{
	int rc = em_store_write(j->app->store, job_erase_fn, erase_written, j);
	if (rc)
		erase_finish(j, rc);
}

static void chat_closed(int status, json_t *result, void *arg)
{
	erase_job *j = arg;
	(void)status;
	json_decref(result);
	if (--j->pending == 0)
		erase_write(j);
}

static void erase_scanned(int status, void *arg)
{
	erase_job *j = arg;
	if (status) {
		erase_finish(j, status);
		return;
	}
	/* Close the live conversations first, so the chat holds nothing of the
	** person in memory and writes nothing of theirs after the erase. */
	j->pending = 1;
	for (size_t i = 0; i < j->e->nopen; i++)
		if (!em_chat_close(j->e->open[i], j->operator_id, 1, "other", chat_closed, j))
			j->pending++;
	if (--j->pending == 0)
		erase_write(j);
}

void em_privacy_erase(em_app *app, em_erase *e, int64_t operator_id, const char *ip,
		      void (*done)(int status, em_erase *e, void *arg), void *arg)
{
	erase_job *j = em_calloc(1, sizeof *j);
	j->app = app;
	j->e = e;
	j->operator_id = operator_id;
	snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
	j->done = done;
	j->arg = arg;
	e->now = em_now_ms();
	int rc = em_store_read(app->store, job_scan_fn, erase_scanned, j);
	if (rc)
		erase_finish(j, rc);
}

/* ---- Retention ------------------------------------------------------------ */

void em_privacy_retention_plan(const em_config *cfg, int64_t now_ms, em_retention *r)
{
	memset(r, 0, sizeof *r);
	r->events_before = em_privacy_cutoff_days(now_ms, cfg->retain_events_days);
	r->chats_before = em_privacy_cutoff_months(now_ms, cfg->retain_chats_months);
	r->visitors_before = em_privacy_cutoff_days(now_ms, cfg->retain_visitors_days);
	r->chunk = EM_PRIVACY_CHUNK;
}

static int count1(em_db *db, em_stmt *st, int64_t *a, int64_t *b)
{
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1) {
		*a = em_stmt_int(st, 0);
		if (b)
			*b = em_stmt_int(st, 1);
		rc = 0;
	}
	em_stmt_done(st);
	return rc;
}

int em_privacy_retention_count_db(em_db *db, void *arg)
{
	em_retention *r = arg;
	/* Events older than the cut-off (event_site_ts), plus the newer ones of
	** expiring visitors, found through their visits (visit_visitor,
	** event_visit): each event once, as the pass deletes them. The visitors
	** are read in one scan (last_seen has no index, migration 015). */
	int rc = count1(
		db,
		em_db_prepare(db,
			      "SELECT (SELECT count(*) FROM site s CROSS JOIN event e "
			      "WHERE e.site_id = s.id AND e.ts < ?) + "
			      "(SELECT count(*) FROM visitor v CROSS JOIN site s CROSS JOIN visit vi "
			      "CROSS JOIN event e WHERE s.id = v.site_id AND v.last_seen < ? AND "
			      "+v.contact_id IS NULL AND vi.visitor_id = v.id AND e.visit_id = vi.id AND "
			      "e.ts >= ?)",
			      "iii", r->events_before, r->visitors_before, r->events_before),
		&r->events, NULL);
	if (!rc)
		rc = count1(db,
			    em_db_prepare(
				    db,
				    "SELECT count(DISTINCT c.id), count(m.id) FROM conversation c LEFT JOIN "
				    "message m ON m.conversation_id = c.id WHERE c.status = 'closed' AND "
				    "c.erased_at IS NULL AND c.closed_at < ?",
				    "i", r->chats_before),
			    &r->conversations, &r->messages);
	if (!rc)
		rc = count1(db,
			    em_db_prepare(
				    db,
				    "SELECT count(DISTINCT v.id), count(vi.id) FROM site s JOIN visitor v ON "
				    "v.site_id = s.id AND v.last_seen < ? LEFT JOIN visit vi ON "
				    "vi.visitor_id = v.id "
				    "WHERE v.contact_id IS NULL",
				    "i", r->visitors_before),
			    &r->visitors, &r->visits);
	return rc;
}

static int step_events(em_db *db, em_retention *r, int *more)
{
	int rc = em_db_exec(db,
			    "DELETE FROM event WHERE id IN (SELECT e.id FROM site s CROSS JOIN event e "
			    "WHERE e.site_id = s.id AND e.ts < ? LIMIT ?)",
			    "ii", r->events_before, (int64_t)r->chunk);
	if (rc)
		return rc;
	int n = em_db_changes(db);
	r->events += n;
	*more = n >= r->chunk;
	return 0;
}

static int step_chats(em_db *db, em_retention *r, int *more)
{
	int limit = r->chunk / 50 > 0 ? r->chunk / 50 : 1;
	idset ids = {0};
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT id FROM conversation WHERE status = 'closed' AND erased_at IS NULL AND "
			      "closed_at < ? ORDER BY closed_at LIMIT ?",
			      "ii", r->chats_before, (int64_t)limit);
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		idset_add(&ids, em_stmt_int(st, 0));
	em_stmt_done(st);
	int64_t now = em_now_ms();
	for (size_t i = 0; rc >= 0 && i < ids.n; i++) {
		if ((rc = em_db_exec(db, "DELETE FROM message WHERE conversation_id = ?", "i", ids.v[i])))
			break;
		r->messages += em_db_changes(db);
		if ((rc = em_db_exec(db,
				     "UPDATE conversation SET name = '', email = '', page_url = '', "
				     "rating_comment = '', "
				     "erased_at = ? WHERE id = ?",
				     "ii", now, ids.v[i])))
			break;
		r->conversations++;
	}
	*more = (int)ids.n >= limit;
	idset_free(&ids);
	return rc < 0 ? rc : 0;
}

static int step_visitors(em_db *db, em_retention *r, int *more)
{
	int limit = r->chunk / 10 > 0 ? r->chunk / 10 : 1;
	typedef struct {
		int64_t id, site_id;
		char vid[64];
	} row;
	row *rows = em_calloc((size_t)limit, sizeof *rows);
	size_t n = 0;
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT v.id, v.site_id, v.vid FROM visitor v JOIN site s ON s.id = v.site_id "
			      "WHERE v.id > ? AND v.last_seen < ? AND +v.contact_id IS NULL ORDER BY v.id "
			      "LIMIT ?",
			      "iii", r->visitor_after, r->visitors_before, (int64_t)limit);
	int rc = st ? 0 : EM_EIO;
	while (st && n < (size_t)limit && (rc = em_stmt_step(st)) == 1) {
		rows[n].id = em_stmt_int(st, 0);
		r->visitor_after = rows[n].id;
		rows[n].site_id = em_stmt_int(st, 1);
		snprintf(rows[n].vid, sizeof rows[n].vid, "%s", em_stmt_text(st, 2));
		n++;
	}
	em_stmt_done(st);
	if (rc > 0)
		rc = 0;
	if (!rc && n)
		rc = em_sessionize_flush(db);
	for (size_t i = 0; !rc && i < n; i++) {
		idset visits = {0};
		st = em_db_prepare(db, "SELECT id FROM visit WHERE visitor_id = ?", "i", rows[i].id);
		while (st && (rc = em_stmt_step(st)) == 1)
			idset_add(&visits, em_stmt_int(st, 0));
		em_stmt_done(st);
		rc = st ? (rc < 0 ? rc : 0) : EM_EIO;
		for (size_t k = 0; !rc && k < visits.n; k++) {
			if (!(rc = em_db_exec(db, "DELETE FROM event WHERE visit_id = ?", "i", visits.v[k])))
				r->events += em_db_changes(db);
			if (!rc && !(rc = em_db_exec(db, "DELETE FROM visit WHERE id = ?", "i", visits.v[k])))
				r->visits++;
		}
		idset_free(&visits);
		if (!rc)
			rc = em_db_exec(db, "UPDATE visitor SET merged_into = NULL WHERE merged_into = ?",
					"i", rows[i].id);
		if (!rc)
			rc = em_db_exec(
				db, "DELETE FROM note WHERE site_id = ? AND vid = ? AND contact_id IS NULL",
				"it", rows[i].site_id, rows[i].vid);
		if (!rc)
			rc = em_db_exec(db,
					"DELETE FROM consent_record WHERE site_id = ? AND vid = ? AND "
					"contact_id IS NULL",
					"it", rows[i].site_id, rows[i].vid);
		if (!rc)
			rc = em_db_exec(db, "DELETE FROM invitation WHERE site_id = ? AND vid = ?", "it",
					rows[i].site_id, rows[i].vid);
		if (!rc && !(rc = em_db_exec(db, "DELETE FROM visitor WHERE id = ?", "i", rows[i].id)))
			r->visitors++;
	}
	em_free(rows);
	/* Deleted visitor rows must not live on in the writer's cache. */
	if (n)
		em_sessionize_reset();
	*more = (int)n >= limit;
	return rc;
}

/* The contact search index after erasures that left it for later. */
static int step_search(em_db *db, em_retention *r, int *more)
{
	(void)r;
	*more = 0;
	int due = 0;
	em_stmt *st = em_db_prepare(db, "SELECT 1 FROM setting WHERE key = ?", "t", SETTING_SEARCH_DUE);
	if (st && em_stmt_step(st) == 1)
		due = 1;
	em_stmt_done(st);
	if (!due)
		return 0;
	if (em_db_exec(db, "INSERT INTO contact_search (contact_search) VALUES ('optimize')", NULL))
		em_warn("privacy: optimising the contact search index failed", "err=\"%s\"",
			em_db_errmsg(db));
	return em_db_exec(db, "DELETE FROM setting WHERE key = ?", "t", SETTING_SEARCH_DUE);
}

int em_privacy_retention_step_db(em_db *db, void *arg)
{
	em_retention *r = arg;
	if (r->chunk <= 0)
		r->chunk = EM_PRIVACY_CHUNK;
	while (r->phase < EM_RETENTION_DONE) {
		int more = 0, rc = 0;
		switch (r->phase) {
		case 0:
			if (r->events_before)
				rc = step_events(db, r, &more);
			break;
		case 1:
			if (r->chats_before)
				rc = step_chats(db, r, &more);
			break;
		case 2:
			if (r->visitors_before)
				rc = step_visitors(db, r, &more);
			break;
		case 3: rc = step_search(db, r, &more); break;
		}
		if (rc)
			return rc;
		int worked = (r->phase == 0 && r->events_before) || (r->phase == 1 && r->chats_before) ||
			     (r->phase == 2 && r->visitors_before);
		if (!more)
			r->phase++;
		/* One chunk of real work per write; skipped phases cost nothing. */
		if (worked)
			break;
	}
	r->chunks++;
	return 0;
}

int em_privacy_retention_run_sync(em_store *s, em_retention *r)
{
	if (r->dry_run)
		return em_store_read_sync(s, em_privacy_retention_count_db, r);
	r->phase = 0;
	r->visitor_after = 0;
	while (r->phase < EM_RETENTION_DONE) {
		/* A failed write rolls back its own savepoint only: the counts of
		** that chunk are not kept. */
		em_retention before = *r;
		int rc = em_store_write_sync(s, em_privacy_retention_step_db, r);
		if (rc) {
			*r = before;
			return rc;
		}
	}
	return 0;
}

json_t *em_privacy_retention_json(const em_retention *r)
{
	return json_pack("{s:b, s:{s:o, s:o, s:o}, s:{s:I, s:I, s:I, s:I, s:I}, s:i}", "dry_run", r->dry_run,
			 "cutoffs", "events_before", tjson(r->events_before), "chats_closed_before",
			 tjson(r->chats_before), "visitors_unseen_since", tjson(r->visitors_before),
			 r->dry_run ? "would_delete" : "deleted", "events", (json_int_t)r->events, "messages",
			 (json_int_t)r->messages, "conversations", (json_int_t)r->conversations, "visitors",
			 (json_int_t)r->visitors, "visits", (json_int_t)r->visits, "chunks", r->chunks);
}

/* The store functions receive the job as their em_retention: r comes first. */
typedef struct ret_job {
	em_retention r;
	em_retention before;
	em_app *app;
	int64_t operator_id;
	void (*done)(int status, const em_retention *r, void *arg);
	void *arg;
} ret_job;

static int retention_running;

static void ret_finish(ret_job *j, int status)
{
	if (!j->r.dry_run)
		retention_running = 0;
	if (j->done)
		j->done(status, &j->r, j->arg);
	em_free(j);
}

static void ret_counted(int status, void *arg)
{
	ret_finish(arg, status);
}

static void ret_checkpoint_work(void *arg)
{
	ret_job *j = arg;
	char err[256];
	if (em_store_checkpoint(j->app->store, err, sizeof err))
		em_warn("privacy: checkpoint after retention failed", "reason=\"%s\"", err);
}

static void ret_checkpoint_done(void *arg)
{
	ret_finish(arg, 0);
}

static void ret_step(ret_job *j);

static void ret_stepped(int status, void *arg)
{
	ret_job *j = arg;
	if (status) {
		j->r = j->before;
		em_warn("privacy: retention chunk failed", "status=%s", em_strerror(status));
		ret_finish(j, status);
		return;
	}
	if (j->r.phase < EM_RETENTION_DONE && !j->app->shutting_down) {
		ret_step(j);
		return;
	}
	char detail[256];
	snprintf(detail, sizeof detail,
		 "events=%lld messages=%lld conversations=%lld visitors=%lld visits=%lld",
		 (long long)j->r.events, (long long)j->r.messages, (long long)j->r.conversations,
		 (long long)j->r.visitors, (long long)j->r.visits);
	em_info("privacy: retention pass done", "%s chunks=%d", detail, j->r.chunks);
	em_audit(j->app, j->operator_id, "privacy.retention", "", "", detail);
	if (em_loop_work(ret_checkpoint_work, ret_checkpoint_done, j))
		ret_finish(j, 0);
}

static void ret_step(ret_job *j)
{
	j->before = j->r;
	int rc = em_store_write(j->app->store, em_privacy_retention_step_db, ret_stepped, j);
	if (rc)
		ret_finish(j, rc);
}

void em_privacy_retention_start(em_app *app, int dry_run, int64_t operator_id,
				void (*done)(int status, const em_retention *r, void *arg), void *arg)
{
	ret_job *j = em_calloc(1, sizeof *j);
	j->app = app;
	j->operator_id = operator_id;
	j->done = done;
	j->arg = arg;
	em_privacy_retention_plan(&app->cfg, em_now_ms(), &j->r);
	j->r.dry_run = dry_run;
	if (dry_run) {
		int rc = em_store_read(app->store, em_privacy_retention_count_db, ret_counted, j);
		if (rc)
			ret_finish(j, rc);
		return;
	}
	if (retention_running) {
		j->r.dry_run = 1; /* do not clear the flag of the pass that runs */
		ret_finish(j, EM_EEXIST);
		return;
	}
	retention_running = 1;
	ret_step(j);
}

/* ---- The public forget limit -------------------------------------------- */

#define FORGET_MAX 10		      /* requests per address */
#define FORGET_WINDOW_MS (600 * 1000) /* per ten minutes */
#define FORGET_KEYS 4096

static em_ratelimit *forget_rl;

int em_privacy_forget_allowed(const char *ip, int64_t now_ms)
{
	if (!forget_rl)
		forget_rl = em_ratelimit_new(FORGET_KEYS, FORGET_MAX, FORGET_WINDOW_MS);
	const char *key = ip && *ip ? ip : "-";
	int wait = em_ratelimit_blocked(forget_rl, key, now_ms);
	if (!wait)
		em_ratelimit_hit(forget_rl, key, now_ms);
	return wait;
}

/* ---- The daily timer ---------------------------------------------------- */

static em_timer *daily;
static em_app *daily_app;

static void daily_tick(void *arg)
{
	(void)arg;
	if (daily_app->shutting_down || retention_running)
		return;
	em_privacy_retention_start(daily_app, 0, 0, NULL, NULL);
}

int em_privacy_init(em_app *app)
{
	daily_app = app;
	daily = em_timer_start(FIRST_PASS_MS, (uint64_t)DAY_MS, daily_tick, NULL);
	return daily ? 0 : EM_ENOMEM;
}

void em_privacy_shutdown(void)
{
	if (daily)
		em_timer_stop(daily);
	daily = NULL;
	em_ratelimit_free(forget_rl);
	forget_rl = NULL;
}
