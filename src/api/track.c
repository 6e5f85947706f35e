/*
** Tracking endpoints (DESIGN.md §5): POST /t, GET /t.gif, and the tracker
** script GET /emma.js. Thin: validate, check who may send, hand to ingest,
** answer once the batch is committed.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "live/invite.h"
#include "net/embedded.h"
#include "track/beacon.h"
#include "track/ingest.h"

/* The smallest transparent GIF. */
static const unsigned char pixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
				      0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
				      0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
				      0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* Common checks; answers and returns NULL when the request may not send. */
static const em_site *admit(em_req *r, em_app *app, const char *site_key)
{
	int wait = em_ingest_rate_check(app, em_req_client_ip(r), em_now_ms());
	if (wait) {
		em_api_rate_limited(r, wait, "too many tracking requests from this address");
		return NULL;
	}
	const em_site *site = em_sites_find(site_key);
	if (!site) {
		em_ingest_stats_get()->rejected++;
		em_resp_error(r, 422, "invalid_field", "unknown site", "site");
		return NULL;
	}
	if (!em_sites_origin_allowed(site, em_api_page_origin(r))) {
		em_ingest_stats_get()->rejected++;
		em_resp_error(r, 403, "forbidden", "this page's origin may not send data for the site",
			      "site");
		return NULL;
	}
	return site;
}

static void beacon_done(em_track_batch *b)
{
	em_req *r = b->user;
	if (b->status) {
		em_resp_error(r, b->status == EM_EAGAIN ? 503 : 500, "store_failed",
			      "the events could not be stored; retry", NULL);
	} else {
		em_resp_header(r, "Cache-Control", "no-store");
		/* A pending invitation rides on the answer: the tracker loads the chat widget. */
		json_t *inv = b->cookieless ? NULL : em_invite_pending(b->site_id, b->vid);
		if (!inv && !b->cookieless) {
			/* The common answer, without building a document. */
			em_buf ans;
			em_buf_init(&ans, 256);
			em_buf_puts(&ans, "{\"vid\":");
			em_json_put_str(&ans, b->vid);
			em_buf_putc(&ans, '}');
			em_resp_send(r, 200, "application/json", ans.data, ans.len);
			em_buf_free(&ans);
		} else {
			/* A cookieless id is never handed to the browser to keep. */
			json_t *ans = json_pack("{s:s?}", "vid", b->cookieless ? NULL : b->vid);
			if (inv)
				json_object_set_new(ans, "invite", inv);
			em_resp_json(r, 200, ans);
		}
	}
}

static void submit(em_req *r, em_app *app, em_track_batch *b, void (*done)(em_track_batch *))
{
	b->user = r;
	int rc = em_ingest_submit(app, b, done);
	if (rc) {
		em_track_batch_free(b);
		em_resp_error(r, 503, "unavailable", "the store is busy; retry", NULL);
	}
}

static void post_t(em_req *r)
{
	em_api_public_cors(r);
	em_app *app = em_req_app(r);
	size_t len;
	const char *body = em_req_body(r, &len);
	em_track_batch *b = em_track_batch_new();
	em_beacon_error err;
	if (em_beacon_parse(body, len, em_now_ms(), b, &err)) {
		em_ingest_stats_get()->rejected++;
		em_track_batch_free(b);
		em_resp_error(r, err.status, err.code, err.message, err.field[0] ? err.field : NULL);
		return;
	}
	const em_site *site = admit(r, app, b->site_key);
	if (!site) {
		em_track_batch_free(b);
		return;
	}
	if (em_ingest_prepare(app, b, site, em_req_client_ip(r), em_req_header(r, "User-Agent"))) {
		/* Bots are answered like everyone else and not recorded. */
		em_resp_json(r, 200, json_pack("{s:n}", "vid"));
		em_track_batch_free(b);
		return;
	}
	char lang[8];
	em_rule_accept_language(em_req_header(r, "Accept-Language"), lang);
	if (lang[0])
		b->lang = em_arena_strdup(&b->mem, lang);
	submit(r, app, b, beacon_done);
}

static void gif_done(em_track_batch *b)
{
	em_req *r = b->user;
	if (b->status) {
		em_resp_error(r, 503, "store_failed", "the event could not be stored; retry", NULL);
	} else {
		em_resp_header(r, "Cache-Control", "no-store");
		em_resp_send(r, 200, "image/gif", pixel, sizeof pixel);
	}
}

/* The noscript pixel: one pageview (or another simple event) per request. */
static void get_gif(em_req *r)
{
	em_api_public_cors(r);
	em_app *app = em_req_app(r);
	const char *site_key = em_req_query_param(r, "site");
	if (!site_key || !*site_key) {
		em_resp_error(r, 422, "invalid_field", "site is required", "site");
		return;
	}
	const char *type = em_req_query_param(r, "type");
	const char *url = em_req_query_param(r, "url");
	if (!url || !*url)
		url = em_req_header(r, "Referer");
	/* Build the same JSON a tracker would send, so validation is shared. */
	json_t *ev = json_pack("{s:s}", "type", type && *type ? type : "pageview");
	if (url)
		json_object_set_new(ev, "url", json_string(url));
	const char *title = em_req_query_param(r, "title"), *ref = em_req_query_param(r, "ref");
	if (title)
		json_object_set_new(ev, "title", json_string(title));
	if (ref && *ref)
		json_object_set_new(ev, "ref", json_string(ref));
	json_t *doc = json_pack("{s:s, s:[o]}", "site", site_key, "events", ev);
	const char *vid = em_req_query_param(r, "vid");
	if (vid && *vid)
		json_object_set_new(doc, "vid", json_string(vid));
	size_t len;
	char *text = em_json_dump(doc, &len);
	json_decref(doc);
	em_track_batch *b = em_track_batch_new();
	em_beacon_error err;
	int rc = em_beacon_parse(text, len, em_now_ms(), b, &err);
	em_free(text);
	if (rc) {
		em_track_batch_free(b);
		em_resp_error(r, err.status, err.code, err.message, err.field[0] ? err.field : NULL);
		return;
	}
	const em_site *site = admit(r, app, b->site_key);
	if (!site) {
		em_track_batch_free(b);
		return;
	}
	if (em_ingest_prepare(app, b, site, em_req_client_ip(r), em_req_header(r, "User-Agent"))) {
		em_track_batch_free(b);
		em_resp_send(r, 200, "image/gif", pixel, sizeof pixel);
		return;
	}
	submit(r, app, b, gif_done);
}

static void tracker_js(em_req *r)
{
	const struct em_embedded *e = em_embedded_find(assets, "widget/emma.js");
	if (!e) {
		em_resp_error(r, 404, "not_found", "tracker not built into this binary", NULL);
		return;
	}
	em_resp_header(r, "Access-Control-Allow-Origin", "*");
	em_resp_asset(r, e, "public, max-age=300");
}

void em_api_track_routes(em_server *s)
{
	em_server_route(s, EM_POST, "/t", post_t);
	em_server_route(s, EM_OPTIONS, "/t", em_api_public_preflight);
	em_server_route(s, EM_GET, "/t.gif", get_gif);
	em_server_route(s, EM_GET, "/emma.js", tracker_js);
}
