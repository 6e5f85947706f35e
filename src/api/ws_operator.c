/*
** GET /ws/operator: the operator console's live channel.
**
** Only a signed-in operator gets the upgrade, and only from this server's
** own origin (or one listed in auth.allowed_origins): a browser always sends
** Origin on WebSocket requests, so a foreign page cannot ride on the cookie.
** Clients without an Origin header (scripts) still need the session cookie.
**
** Frames are JSON objects with a "type". The server sends "hello" first; a
** client may send {"type":"ping"} (answered with "pong") and
** {"type":"echo",...} (sent back as is), which the console uses to measure
** round trips and the tests to exercise the channel. Modules push their
** events through the hub (src/live/hub.h).
*/
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "chat/chat.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/auth.h"
#include "crm/operators.h"
#include "live/hub.h"
#include "live/presence.h"
#include "net/ws.h"

/* A console is sent at most this many live visitors at connect (the most
** recently active); a person cannot read more, and a snapshot of 100k rows
** would pass any sane output limit. Deltas follow for everyone. */
#define LIVE_SNAPSHOT_MAX 2000

typedef struct op_conn {
	int64_t operator_id;
	void *chat; /* the chat core's handle of this socket */
} op_conn;

static int origin_allowed(em_req *r, const em_config *cfg)
{
	const char *origin = em_req_header(r, "Origin");
	if (!origin)
		return 1;
	const char *host = em_req_header(r, "Host");
	const char *o = strstr(origin, "://");
	if (host && o && !strcmp(o + 3, host))
		return 1;
	/* Exact matches against the configured list. */
	size_t ol = strlen(origin);
	for (const char *p = cfg->allowed_origins; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		if (n == ol && !strncmp(p, origin, n))
			return 1;
		p += n;
	}
	return 0;
}

static void send_json(em_ws *ws, json_t *obj)
{
	size_t len;
	char *s = em_json_dump(obj, &len);
	json_decref(obj);
	em_ws_send_text(ws, s, len);
	em_free(s);
}

static void on_message(em_ws *ws, const char *data, size_t len, int is_text)
{
	char msg[200];
	json_t *v = is_text ? em_json_parse(data, len, msg, sizeof msg) : NULL;
	if (!json_is_object(v)) {
		json_t *err =
			em_json_error("invalid_json", is_text && !v ? msg : "expected a JSON object", NULL);
		json_object_set_new(err, "type", json_string("error"));
		send_json(ws, err);
		json_decref(v);
		return;
	}
	const char *type = em_json_str(v, "type", "");
	if (!strcmp(type, "ping")) {
		send_json(ws, json_pack("{s:s}", "type", "pong"));
	} else if (!strcmp(type, "echo")) {
		em_ws_send_text(ws, data, len);
	} else if (em_chat_operator_message(((op_conn *)em_ws_user(ws))->chat, v) == 0) {
		/* handled by the chat core */
	} else {
		json_t *err = em_json_error("unknown_type", "unknown message type", "type");
		json_object_set_new(err, "type", json_string("error"));
		send_json(ws, err);
	}
	json_decref(v);
}

static void on_close(em_ws *ws, int code)
{
	op_conn *oc = em_ws_user(ws);
	int left = em_hub_remove(ws);
	if (oc->chat)
		em_chat_operator_disconnect(oc->chat);
	em_debug("operator socket closed", "operator=%lld code=%d sockets_left=%d",
		 (long long)oc->operator_id, code, left);
	em_free(oc);
}

static const em_ws_handlers handlers = {on_message, on_close};

static void ws_operator(em_req *r)
{
	em_app *app = em_req_app(r);
	const em_principal *p = em_auth_peek(r);
	if (!p) {
		em_resp_error(r, 401, "unauthorized", "sign in first", NULL);
		return;
	}
	if (!origin_allowed(r, &app->cfg)) {
		em_resp_error(r, 403, "forbidden", "origin not allowed", NULL);
		return;
	}
	/* The principal may live in the request's memory, which the upgrade frees. */
	char id[32], email[256];
	snprintf(id, sizeof id, "%s", p->public_id);
	snprintf(email, sizeof email, "%s", p->email);
	int is_admin = p->role == EM_ROLE_ADMIN;
	op_conn *oc = em_calloc(1, sizeof *oc);
	oc->operator_id = p->operator_id;
	int64_t credential = p->credential;
	em_ws *ws = em_ws_upgrade(r, &handlers, oc);
	if (!ws) {
		em_free(oc);
		return;
	}
	int n = em_hub_add(ws, oc->operator_id, credential);
	send_json(ws, json_pack("{s:s, s:{s:s, s:s}, s:i}", "type", "hello", "operator", "id", id, "email",
				email, "sockets", n));
	/* The live list once; from here on the console only receives changes. */
	size_t total;
	json_t *list = em_presence_list_recent(0, LIVE_SNAPSHOT_MAX, &total);
	send_json(ws, json_pack("{s:s, s:o, s:I, s:b}", "type", "visitors", "visitors", list, "total",
				(json_int_t)total, "truncated", total > LIVE_SNAPSHOT_MAX));
	/* Then the chats this operator may see and who is online. */
	oc->chat = em_chat_operator_connect(ws, oc->operator_id, is_admin);
}

void em_api_ws_operator_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/ws/operator", ws_operator);
}
