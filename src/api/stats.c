/*
** GET /api/v1/stats?site=KEY&range=24h|7d: the console's site statistics.
** Visits and pageviews come from the visit table (one row per visit with its
** pageview count) so the figures need no scan of every event, except for the
** top pages. "Today" is the current UTC day.
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
#include "live/presence.h"
#include "store/store.h"
#include "track/ingest.h"
#include "track/sites.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
#define TOP_N 10

typedef struct stats_ctx {
	em_req *req;
	int64_t site_id;
	int days; /* 1 = 24 h in hours, 7 = 7 days in days */
	int64_t now;
	json_t *out;
} stats_ctx;

static json_t *rfc(int64_t ms)
{
	char t[32];
	em_rfc3339(ms, t);
	return json_string(t);
}

static int stats_fn(em_db *db, void *arg)
{
	stats_ctx *x = arg;
	int64_t midnight = x->now - x->now % DAY_MS;
	int64_t bucket = x->days == 1 ? HOUR_MS : DAY_MS;
	int nb = x->days == 1 ? 24 : 7;
	/* Buckets end with the current one. */
	int64_t first = (x->now / bucket - (nb - 1)) * bucket;
	json_t *today = NULL;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT COUNT(DISTINCT visitor_id), COUNT(*), COALESCE(SUM(pageviews), 0) FROM visit "
		"WHERE site_id = ? AND started_at >= ?",
		"ii", x->site_id, midnight);
	if (!st)
		return EM_EIO;
	if (em_stmt_step(st) == 1)
		today = json_pack("{s:I, s:I, s:I}", "visitors", (json_int_t)em_stmt_int(st, 0), "visits",
				  (json_int_t)em_stmt_int(st, 1), "pageviews",
				  (json_int_t)em_stmt_int(st, 2));
	em_stmt_done(st);

	json_t *series = json_array();
	int64_t visits = 0, pageviews = 0;
	int64_t *v = em_calloc((size_t)nb, sizeof *v), *p = em_calloc((size_t)nb, sizeof *p);
	st = em_db_prepare(db,
			   "SELECT (started_at - ?) / ?, COUNT(*), COALESCE(SUM(pageviews), 0) FROM visit "
			   "WHERE site_id = ? AND started_at >= ? GROUP BY 1",
			   "iiii", first, bucket, x->site_id, first);
	while (st && em_stmt_step(st) == 1) {
		int64_t i = em_stmt_int(st, 0);
		if (i >= 0 && i < nb) {
			v[i] = em_stmt_int(st, 1);
			p[i] = em_stmt_int(st, 2);
			visits += v[i];
			pageviews += p[i];
		}
	}
	if (st)
		em_stmt_done(st);
	for (int i = 0; i < nb; i++)
		json_array_append_new(series,
				      json_pack("{s:o, s:I, s:I}", "t", rfc(first + i * bucket), "visits",
						(json_int_t)v[i], "pageviews", (json_int_t)p[i]));
	em_free(v);
	em_free(p);

	json_t *pages = json_array();
	st = em_db_prepare(
		db,
		"SELECT url, COUNT(*) FROM event WHERE site_id = ? AND type = 'pageview' AND ts >= ? "
		"GROUP BY url ORDER BY 2 DESC, url LIMIT ?",
		"iii", x->site_id, first, (int64_t)TOP_N);
	while (st && em_stmt_step(st) == 1)
		json_array_append_new(pages, json_pack("{s:s?, s:I}", "url", em_stmt_text(st, 0), "pageviews",
						       (json_int_t)em_stmt_int(st, 1)));
	if (st)
		em_stmt_done(st);

	json_t *refs = json_array();
	st = em_db_prepare(db,
			   "SELECT referrer, COUNT(*) FROM visit WHERE site_id = ? AND started_at >= ? AND "
			   "referrer != '' "
			   "GROUP BY referrer ORDER BY 2 DESC, referrer LIMIT ?",
			   "iii", x->site_id, first, (int64_t)TOP_N);
	while (st && em_stmt_step(st) == 1)
		json_array_append_new(refs, json_pack("{s:s?, s:I}", "referrer", em_stmt_text(st, 0),
						      "visits", (json_int_t)em_stmt_int(st, 1)));
	if (st)
		em_stmt_done(st);

	x->out = json_pack("{s:s, s:o*, s:f, s:o, s:o, s:o}", "range", x->days == 1 ? "24h" : "7d", "today",
			   today, "pages_per_visit", visits ? (double)pageviews / (double)visits : 0.0,
			   "top_pages", pages, "top_referrers", refs, "series", series);
	return x->out ? 0 : EM_EIO;
}

static void stats_done(int status, void *arg)
{
	stats_ctx *x = arg;
	if (status || !x->out) {
		em_resp_error(x->req, 500, "internal", "could not compute statistics", NULL);
	} else {
		json_object_set_new(x->out, "live",
				    json_integer((json_int_t)em_presence_count_site(x->site_id)));
		em_resp_json(x->req, 200, x->out);
		x->out = NULL;
	}
	json_decref(x->out);
	em_free(x);
}

static void stats_start(void *arg)
{
	stats_ctx *x = arg;
	em_app *app = em_req_app(x->req);
	if (em_store_read(app->store, stats_fn, stats_done, x)) {
		em_resp_error(x->req, 503, "unavailable", "try again", NULL);
		em_free(x);
	}
}

static void stats(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const char *key = em_req_query_param(r, "site");
	const em_site *site = em_sites_find(key && *key ? key : "default");
	if (!site) {
		em_resp_error(r, 404, "not_found", "no such site", "site");
		return;
	}
	const char *range = em_req_query_param(r, "range");
	if (range && strcmp(range, "24h") && strcmp(range, "7d")) {
		em_resp_error(r, 422, "invalid_field", "range must be 24h or 7d", "range");
		return;
	}
	stats_ctx *x = em_calloc(1, sizeof *x);
	x->req = r;
	x->site_id = site->id;
	x->days = range && !strcmp(range, "7d") ? 7 : 1;
	x->now = em_now_ms();
	/* The live count (memory) includes every tracking batch answered so far. */
	em_ingest_when_applied(stats_start, x);
}

void em_api_stats_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/stats", stats);
}
