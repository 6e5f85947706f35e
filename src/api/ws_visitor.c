/*
** GET /ws/visitor?site=KEY&vid=ID: the chat widget's channel (docs/chat.md).
**
** The site must exist and, when it lists allowed domains, the page's Origin
** must be one of them (the same rule as /t). A missing vid gets a fresh one,
** told to the widget in "hello". Frames are parsed here and handed to the
** chat core; the connection's state lives there.
*/
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "chat/chat.h"
#include "core/alloc.h"
#include "core/ids.h"
#include "core/json.h"
#include "net/ws.h"
#include "track/sites.h"

#define VID_MAX 63

static void send_error(em_ws *ws, const char *code, const char *message, const char *field)
{
	json_t *e = em_json_error(code, message, field);
	json_object_set_new(e, "type", json_string("error"));
	size_t len;
	char *s = em_json_dump(e, &len);
	json_decref(e);
	em_ws_send_text(ws, s, len);
	em_free(s);
}

static void on_message(em_ws *ws, const char *data, size_t len, int is_text)
{
	char msg[200];
	json_t *v = is_text ? em_json_parse(data, len, msg, sizeof msg) : NULL;
	if (!json_is_object(v)) {
		send_error(ws, "invalid_json", is_text && !v ? msg : "expected a JSON object", NULL);
		json_decref(v);
		return;
	}
	em_chat_visitor_message(em_ws_user(ws), v);
	json_decref(v);
}

static void on_close(em_ws *ws, int code)
{
	(void)code;
	em_chat_visitor_disconnect(em_ws_user(ws));
}

static const em_ws_handlers handlers = {on_message, on_close};

static int vid_ok(const char *v)
{
	size_t n = strlen(v);
	if (!n || n > VID_MAX)
		return 0;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
		      *v == '-' || *v == '_' || *v == '.'))
			return 0;
	return 1;
}

static void ws_visitor(em_req *r)
{
	const char *key = em_req_query_param(r, "site");
	const char *vid = em_req_query_param(r, "vid");
	if (!key || !*key) {
		em_resp_error(r, 400, "invalid", "site is required", "site");
		return;
	}
	const em_site *site = em_sites_find(key);
	if (!site) {
		em_resp_error(r, 404, "not_found", "no such site", "site");
		return;
	}
	const char *origin = em_req_header(r, "Origin");
	if (origin && !em_sites_origin_allowed(site, origin)) {
		em_resp_error(r, 403, "forbidden", "this page's origin may not chat for the site", NULL);
		return;
	}
	char fresh[32];
	if (vid && *vid && !vid_ok(vid)) {
		em_resp_error(r, 400, "invalid", "vid must be 1-63 letters, digits, '-', '_' or '.'", "vid");
		return;
	}
	if (!vid || !*vid) {
		em_id_random(fresh, sizeof fresh, 12);
		vid = fresh;
	}
	/* Two letters of Accept-Language are enough for the widget and the rules. */
	char lang[8] = "";
	const char *al = em_req_header(r, "Accept-Language");
	if (al && ((al[0] >= 'a' && al[0] <= 'z') && (al[1] >= 'a' && al[1] <= 'z'))) {
		lang[0] = al[0];
		lang[1] = al[1];
	}
	/* Copies: the request's memory goes away with the upgrade. */
	char vidc[VID_MAX + 1];
	snprintf(vidc, sizeof vidc, "%s", vid);
	int64_t site_id = site->id;
	em_ws *ws = em_ws_upgrade(r, &handlers, NULL);
	if (!ws)
		return;
	em_ws_set_user(ws, em_chat_visitor_connect(ws, site_id, vidc, lang));
}

void em_api_ws_visitor_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/ws/visitor", ws_visitor);
}
