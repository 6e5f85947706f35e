/*
** System routes: health check, Prometheus metrics and the console's assets.
*/
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "chat/chat.h"
#include "core/buf.h"
#include "core/clock.h"
#include "crm/auth.h"
#include "live/hub.h"
#include "live/presence.h"
#include "track/ingest.h"
#include "net/embedded.h"
#include "store/store.h"

static void healthz(em_req *r)
{
	em_resp_send(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static int is_loopback(const char *ip)
{
	return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1");
}

/* Prometheus text format. */
static void metrics_send(void *arg)
{
	em_req *r = arg;
	em_app *app = em_req_app(r);
	em_buf b;
	em_buf_init(&b, 1 << 20);
	em_server_metrics(app->server, &b);
	em_store_stats st;
	em_store_get_stats(app->store, &st);
	static const char *le[] = {"0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.05", "+Inf"};
	em_buf_printf(&b,
		      "# HELP emma_store_queue_depth Writes waiting for the store writer.\n"
		      "# TYPE emma_store_queue_depth gauge\nemma_store_queue_depth %llu\n"
		      "# HELP emma_store_writes_total Committed store writes.\n"
		      "# TYPE emma_store_writes_total counter\nemma_store_writes_total %llu\n"
		      "# HELP emma_store_write_errors_total Store writes that failed.\n"
		      "# TYPE emma_store_write_errors_total counter\nemma_store_write_errors_total %llu\n"
		      "# HELP emma_store_commit_seconds Duration of group commits.\n"
		      "# TYPE emma_store_commit_seconds histogram\n",
		      (unsigned long long)st.queue_depth, (unsigned long long)st.writes,
		      (unsigned long long)st.write_errors);
	unsigned long long cum = 0;
	for (int i = 0; i < 8; i++) {
		cum += st.commit_hist[i];
		em_buf_printf(&b, "emma_store_commit_seconds_bucket{le=\"%s\"} %llu\n", le[i], cum);
	}
	em_buf_printf(&b,
		      "emma_store_commit_seconds_sum %.6f\nemma_store_commit_seconds_count %llu\n"
		      "# HELP emma_operators_online Operators with an open console.\n"
		      "# TYPE emma_operators_online gauge\nemma_operators_online %d\n"
		      "# HELP emma_uptime_seconds Seconds since start.\n"
		      "# TYPE emma_uptime_seconds gauge\nemma_uptime_seconds %lld\n",
		      (double)st.commit_us_sum / 1e6, (unsigned long long)st.commits,
		      em_hub_operators_online(), (long long)(em_now_ms() - app->started_ms) / 1000);
	em_ingest_stats *is = em_ingest_stats_get();
	em_buf_printf(
		&b,
		"# HELP emma_track_batches_total Tracking batches stored.\n"
		"# TYPE emma_track_batches_total counter\nemma_track_batches_total %llu\n"
		"# HELP emma_track_events_total Tracking events stored.\n"
		"# TYPE emma_track_events_total counter\nemma_track_events_total %llu\n"
		"# HELP emma_track_bots_total Tracking requests from bots, not stored.\n"
		"# TYPE emma_track_bots_total counter\nemma_track_bots_total %llu\n"
		"# HELP emma_track_rejected_total Tracking requests refused (bad input, site, origin).\n"
		"# TYPE emma_track_rejected_total counter\nemma_track_rejected_total %llu\n"
		"# HELP emma_track_rate_limited_total Tracking requests refused with 429.\n"
		"# TYPE emma_track_rate_limited_total counter\nemma_track_rate_limited_total %llu\n"
		"# HELP emma_track_lost_total Tracking batches answered, then refused by the store.\n"
		"# TYPE emma_track_lost_total counter\nemma_track_lost_total %llu\n"
		"# HELP emma_live_visitors Visitors on the sites now.\n"
		"# TYPE emma_live_visitors gauge\nemma_live_visitors %zu\n"
		"# HELP emma_live_memory_bytes Memory held by live presence.\n"
		"# TYPE emma_live_memory_bytes gauge\nemma_live_memory_bytes %zu\n",
		(unsigned long long)is->batches, (unsigned long long)is->events, (unsigned long long)is->bots,
		(unsigned long long)is->rejected, (unsigned long long)is->rate_limited,
		(unsigned long long)is->lost, em_presence_count(), em_presence_memory());
	em_buf_printf(&b,
		      "# HELP emma_chat_visitor_sockets Chat widgets connected.\n"
		      "# TYPE emma_chat_visitor_sockets gauge\nemma_chat_visitor_sockets %d\n"
		      "# HELP emma_chat_conversations Conversations not closed.\n"
		      "# TYPE emma_chat_conversations gauge\nemma_chat_conversations %d\n"
		      "# HELP emma_chat_pending Chats waiting in the queue.\n"
		      "# TYPE emma_chat_pending gauge\nemma_chat_pending %d\n",
		      em_chat_visitor_sockets(), em_chat_open_conversations(),
		      em_chat_pending_conversations());
	em_resp_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	em_buf_free(&b);
}

/* Open to loopback scrapers; anyone else must be a signed-in admin or hold
** an API token of one. The counters include every tracking batch answered
** before this request. */
static void metrics(em_req *r)
{
	if (!is_loopback(em_req_client_ip(r)) && !em_auth_require(r, EM_AUTH_ADMIN))
		return;
	em_ingest_when_applied(metrics_send, r);
}

static void console_index(em_req *r)
{
	const struct em_embedded *e = em_embedded_find(assets, "console/index.html");
	if (!e) {
		em_resp_error(r, 404, "not_found", "console not built into this binary", NULL);
		return;
	}
	em_resp_header(r, "Content-Security-Policy",
		       "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
		       "connect-src 'self'; frame-ancestors 'none'");
	em_resp_header(r, "Referrer-Policy", "same-origin");
	em_resp_asset(r, e, "no-cache");
}

/* /console/<path> and other top-level asset folders of web/. */
static void asset(em_req *r)
{
	const char *path = em_req_path(r);
	while (*path == '/')
		path++;
	const struct em_embedded *e = strstr(path, "..") ? NULL : em_embedded_find(assets, path);
	if (!e) {
		em_resp_error(r, 404, "not_found", "no such file", NULL);
		return;
	}
	em_resp_asset(r, e, "no-cache");
}

/* /widget/<name>.js: the chat UI, which emma.js loads as a module into the
** shop's pages, another origin: module scripts are fetched with CORS. */
static void widget_asset(em_req *r)
{
	em_resp_header(r, "Access-Control-Allow-Origin", "*");
	asset(r);
}

void em_api_system_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/healthz", healthz);
	em_server_route(s, EM_GET, "/metrics", metrics);
	em_server_route(s, EM_GET, "/", console_index);
	em_server_route(s, EM_GET, "/console/{*path}", asset);
	em_server_route(s, EM_GET, "/shared/{*path}", asset);
	em_server_route(s, EM_GET, "/widget/{*path}", widget_asset);
}
