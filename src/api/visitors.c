/*
** Visitor endpoints: GET /api/v1/visitors/live (from live presence) and
** GET /api/v1/visitors/{vid} (the profile: every visit with its page path).
*/
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/auth.h"
#include "crm/notes.h"
#include "live/presence.h"
#include "store/store.h"
#include "track/ingest.h"
#include "track/sites.h"

#define PROFILE_VISITS_MAX 50
#define VISIT_EVENTS_MAX 500
#define PROFILE_NOTES_MAX 100

typedef struct live_ctx {
	em_req *req;
	int64_t site_id; /* 0 = all */
} live_ctx;

static void live_send(void *arg)
{
	live_ctx *x = arg;
	em_resp_json(x->req, 200,
		     json_pack("{s:o, s:I}", "visitors", em_presence_list(x->site_id), "count",
			       (json_int_t)em_presence_count()));
	em_free(x);
}

static void live_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const char *key = em_req_query_param(r, "site");
	int64_t site_id = 0;
	if (key && *key) {
		const em_site *site = em_sites_find(key);
		if (!site) {
			em_resp_error(r, 404, "not_found", "no such site", "site");
			return;
		}
		site_id = site->id;
	}
	live_ctx *x = em_malloc(sizeof *x);
	x->req = r;
	x->site_id = site_id;
	/* Every batch answered before this request is in the list. */
	em_ingest_when_applied(live_send, x);
}

typedef struct profile_ctx {
	em_req *req;
	int64_t site_id; /* 0 = any */
	char vid[64];
	json_t *out; /* built on the pool thread */
} profile_ctx;

static json_t *time_json(int64_t ms)
{
	char t[32];
	em_rfc3339(ms, t);
	return json_string(t);
}

static json_t *text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The visitor by vid (on its first site when none is given): one lookup in
** the (site_id, vid) index per site, sites as the outer loop. */
static int profile_fn(em_db *db, void *arg)
{
	profile_ctx *x = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT v.id, v.site_id, v.vid, v.first_seen, v.last_seen, v.visits, v.pageviews, v.email, "
		"v.name, v.external_id, v.consent, v.cart_total, v.merged_into FROM site s CROSS JOIN "
		"visitor v WHERE v.site_id = s.id AND v.vid = ? AND (? = 0 OR s.id = ?) ORDER BY v.id "
		"LIMIT 1",
		"tii", x->vid, x->site_id, x->site_id);
	if (!st)
		return EM_EIO;
	if (em_stmt_step(st) != 1) {
		em_stmt_done(st);
		return EM_ENOTFOUND;
	}
	int64_t id = em_stmt_int(st, 0);
	const em_site *site = em_sites_by_id(em_stmt_int(st, 1));
	json_t *v = json_object();
	json_object_set_new(v, "vid", json_string(em_stmt_text(st, 2)));
	json_object_set_new(v, "site", json_string(site ? site->key : ""));
	json_object_set_new(v, "first_seen", time_json(em_stmt_int(st, 3)));
	json_object_set_new(v, "last_seen", time_json(em_stmt_int(st, 4)));
	json_object_set_new(v, "visits", json_integer(em_stmt_int(st, 5)));
	json_object_set_new(v, "pageviews", json_integer(em_stmt_int(st, 6)));
	json_object_set_new(v, "email", text_or_null(em_stmt_text(st, 7)));
	json_object_set_new(v, "name", text_or_null(em_stmt_text(st, 8)));
	json_object_set_new(v, "external_id", text_or_null(em_stmt_text(st, 9)));
	json_object_set_new(v, "consent", json_boolean(em_stmt_int(st, 10)));
	json_object_set_new(v, "cart_total", json_real(em_stmt_double(st, 11)));
	json_object_set_new(v, "returning", json_boolean(em_stmt_int(st, 5) > 1));
	int64_t merged = em_stmt_is_null(st, 12) ? 0 : em_stmt_int(st, 12);
	em_stmt_done(st);
	if (merged) {
		/* This id was merged into another visitor: show that one's vid. */
		st = em_db_prepare(db, "SELECT vid FROM visitor WHERE id = ?", "i", merged);
		if (st && em_stmt_step(st) == 1)
			json_object_set_new(v, "merged_into", json_string(em_stmt_text(st, 0)));
		if (st)
			em_stmt_done(st);
	}

	json_t *visits = json_array();
	st = em_db_prepare(
		db,
		"SELECT id, started_at, last_at, entry_url, referrer, utm_source, utm_medium, utm_campaign, "
		"pageviews, active_s, device, browser, os, country, source FROM visit "
		"WHERE visitor_id = ? ORDER BY started_at DESC, id DESC LIMIT ?",
		"ii", id, (int64_t)PROFILE_VISITS_MAX);
	if (!st) {
		json_decref(v);
		json_decref(visits);
		return EM_EIO;
	}
	while (em_stmt_step(st) == 1) {
		json_t *vi = json_object();
		json_object_set_new(vi, "id", json_integer(em_stmt_int(st, 0)));
		json_object_set_new(vi, "started", time_json(em_stmt_int(st, 1)));
		json_object_set_new(vi, "last_at", time_json(em_stmt_int(st, 2)));
		json_object_set_new(vi, "entry_url", json_string(em_stmt_text(st, 3)));
		json_object_set_new(vi, "referrer", json_string(em_stmt_text(st, 4)));
		json_object_set_new(vi, "utm",
				    json_pack("{s:s, s:s, s:s}", "source", em_stmt_text(st, 5), "medium",
					      em_stmt_text(st, 6), "campaign", em_stmt_text(st, 7)));
		json_object_set_new(vi, "pageviews", json_integer(em_stmt_int(st, 8)));
		json_object_set_new(vi, "active_s", json_integer(em_stmt_int(st, 9)));
		json_object_set_new(vi, "device", json_string(em_stmt_text(st, 10)));
		json_object_set_new(vi, "browser", json_string(em_stmt_text(st, 11)));
		json_object_set_new(vi, "os", json_string(em_stmt_text(st, 12)));
		json_object_set_new(vi, "country", json_string(em_stmt_text(st, 13)));
		json_object_set_new(vi, "source", json_string(em_stmt_text(st, 14)));
		json_array_append_new(visits, vi);
	}
	em_stmt_done(st);

	/* Pages and other events of each visit, oldest first. */
	size_t i;
	json_t *vi;
	json_array_foreach(visits, i, vi)
	{
		json_t *pages = json_array(), *events = json_array();
		st = em_db_prepare(db,
				   "SELECT ts, type, url, title, name, data FROM event WHERE visit_id = ? "
				   "ORDER BY ts, id LIMIT ?",
				   "ii", (int64_t)json_integer_value(json_object_get(vi, "id")),
				   (int64_t)VISIT_EVENTS_MAX);
		while (st && em_stmt_step(st) == 1) {
			const char *type = em_stmt_text(st, 1);
			if (!strcmp(type, "pageview")) {
				json_array_append_new(pages, json_pack("{s:s?, s:s?, s:o}", "url",
								       em_stmt_text(st, 2), "title",
								       em_stmt_text(st, 3), "at",
								       time_json(em_stmt_int(st, 0))));
			} else if (strcmp(type, "ping")) {
				json_t *e = json_pack("{s:s, s:o, s:s?, s:s?}", "type", type, "at",
						      time_json(em_stmt_int(st, 0)), "url",
						      em_stmt_text(st, 2), "name", em_stmt_text(st, 4));
				const char *data = em_stmt_text(st, 5);
				json_t *d = data ? json_loads(data, 0, NULL) : NULL;
				if (d)
					json_object_set_new(e, "data", d);
				json_array_append_new(events, e);
			}
		}
		if (st)
			em_stmt_done(st);
		json_object_set_new(vi, "pages", pages);
		json_object_set_new(vi, "events", events);
	}
	/* Notes on this visitor and on the contact it is linked to. */
	int64_t site_of = 0, contact_of = 0;
	st = em_db_prepare(db, "SELECT site_id, contact_id FROM visitor WHERE id = ?", "i", id);
	if (st && em_stmt_step(st) == 1) {
		site_of = em_stmt_int(st, 0);
		contact_of = em_stmt_is_null(st, 1) ? 0 : em_stmt_int(st, 1);
	}
	if (st)
		em_stmt_done(st);
	json_t *notes = em_notes_of_visitor_db(db, site_of, x->vid, contact_of, PROFILE_NOTES_MAX);
	x->out = json_pack("{s:o, s:o, s:o, s:n}", "visitor", v, "visits", visits, "notes",
			   notes ? notes : json_array(), "contact");
	return 0;
}

static void profile_done(int status, void *arg)
{
	profile_ctx *x = arg;
	if (status == EM_ENOTFOUND)
		em_resp_error(x->req, 404, "not_found", "no such visitor", NULL);
	else if (status || !x->out)
		em_resp_error(x->req, 500, "internal", "could not read the visitor", NULL);
	else
		em_resp_json(x->req, 200, x->out), x->out = NULL;
	json_decref(x->out);
	em_free(x);
}

static void profile(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	em_app *app = em_req_app(r);
	const char *vid = em_req_param(r, "vid");
	if (!vid || strlen(vid) >= 64) {
		em_resp_error(r, 404, "not_found", "no such visitor", NULL);
		return;
	}
	profile_ctx *x = em_calloc(1, sizeof *x);
	x->req = r;
	snprintf(x->vid, sizeof x->vid, "%s", vid);
	const char *key = em_req_query_param(r, "site");
	if (key && *key) {
		const em_site *site = em_sites_find(key);
		if (!site) {
			em_free(x);
			em_resp_error(r, 404, "not_found", "no such site", "site");
			return;
		}
		x->site_id = site->id;
	}
	if (em_store_read(app->store, profile_fn, profile_done, x)) {
		em_free(x);
		em_resp_error(r, 503, "unavailable", "try again", NULL);
	}
}

void em_api_visitors_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/visitors/live", live_list);
	em_server_route(s, EM_GET, "/api/v1/visitors/{vid}", profile);
}
