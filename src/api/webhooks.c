/*
** REST: webhooks and their delivery log (docs/webhooks.md), admins only.
**
**   GET|POST /api/v1/webhooks                  list, create (the secret is shown once)
**   GET|PATCH|DELETE /api/v1/webhooks/{id}     read, change (rotate_secret), delete
**   POST /api/v1/webhooks/{id}/test            queue a "ping" delivery
**   GET /api/v1/webhooks/{id}/deliveries       the delivery log (?status=&limit=&cursor=)
**   POST /api/v1/webhooks/deliveries/{id}/retry  deliver again now
**
** Shapes are checked here; the SQL lives in crm/webhooks.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/webhooks.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200
#define ID_MAX 40

enum { OP_LIST, OP_GET, OP_CREATE, OP_UPDATE, OP_DELETE, OP_PING, OP_DELIVERIES, OP_RETRY };

typedef struct op {
	em_req *r;
	int kind;
	char id[ID_MAX + 1];
	char *url, *events; /* request arena; NULL = unchanged */
	int enabled;	    /* -1 = unchanged */
	int rotate;
	const char *status;
	int limit;
	int64_t cursor, next;
	json_t *out;
	int64_t operator_id;
} op;

static int op_fn(em_db *db, void *arg)
{
	op *o = arg;
	switch (o->kind) {
	case OP_LIST: return em_webhooks_list_db(db, &o->out);
	case OP_GET: return em_webhooks_get_db(db, o->id, &o->out);
	case OP_CREATE: return em_webhooks_create_db(db, o->url, o->events, o->enabled, &o->out);
	case OP_UPDATE:
		return em_webhooks_update_db(db, o->id, o->url, o->events, o->enabled, o->rotate, &o->out);
	case OP_DELETE: return em_webhooks_delete_db(db, o->id);
	case OP_PING: return em_webhooks_ping_db(db, o->id, &o->out);
	case OP_DELIVERIES:
		return em_webhooks_deliveries_db(db, o->id, o->status, o->limit, o->cursor, &o->out,
						 &o->next);
	case OP_RETRY: return em_webhooks_retry_db(db, o->id, &o->out);
	}
	return EM_EINVAL;
}

static const char *audit_action(int kind)
{
	switch (kind) {
	case OP_CREATE: return "webhook.create";
	case OP_UPDATE: return "webhook.update";
	case OP_DELETE: return "webhook.delete";
	case OP_RETRY: return "webhook.retry";
	default: return NULL;
	}
}

static void op_done(int status, void *arg)
{
	op *o = arg;
	em_req *r = o->r;
	em_app *app = em_req_app(r);
	if (status == EM_ENOTFOUND) {
		em_resp_error(r, 404, "not_found",
			      o->kind == OP_RETRY ? "no delivery with this id" : "no webhook with this id",
			      NULL);
	} else if (status == EM_ERANGE) {
		em_resp_error(r, 422, "invalid_field", "at most 100 webhooks may exist", NULL);
	} else if (status) {
		em_api_fail(r, status, NULL, NULL);
	} else {
		const char *action = audit_action(o->kind);
		if (action) {
			const json_t *w = json_object_get(o->out, "webhook");
			em_audit(app, o->operator_id, action, o->id[0] ? o->id : em_json_str(w, "id", ""),
				 em_req_client_ip(r), o->url);
		}
		switch (o->kind) {
		case OP_CREATE: em_resp_json(r, 201, o->out); break;
		case OP_DELETE: em_resp_empty(r, 204); break;
		case OP_PING:
		case OP_RETRY:
			em_webhooks_kick();
			em_resp_json(r, 202, o->out);
			break;
		case OP_DELIVERIES:
			if (o->next) {
				char cur[32];
				snprintf(cur, sizeof cur, "%lld", (long long)o->next);
				json_object_set_new(o->out, "next_cursor", json_string(cur));
			} else {
				json_object_set_new(o->out, "next_cursor", json_null());
			}
			em_resp_json(r, 200, o->out);
			break;
		default: em_resp_json(r, 200, o->out); break;
		}
		o->out = NULL;
	}
	json_decref(o->out);
	em_free(o);
}

/* Runs the operation as a read or a write. */
static void run(op *o, int write)
{
	if (em_api_store(o->r, write, op_fn, op_done, o))
		em_free(o);
}

static op *op_new(em_req *r, const em_principal *p, int kind, const char *param)
{
	const char *id = param ? em_req_param(r, param) : NULL;
	if (param && (!id || strlen(id) > ID_MAX)) {
		em_resp_error(r, 404, "not_found", "no webhook with this id", NULL);
		return NULL;
	}
	op *o = em_calloc(1, sizeof *o);
	o->r = r;
	o->kind = kind;
	o->enabled = -1;
	o->operator_id = p->operator_id;
	if (id)
		snprintf(o->id, sizeof o->id, "%s", id);
	return o;
}

/* Reads "events" (array of names, or ["*"]) into a comma-joined list in
** the request arena. Returns 0 (*out NULL when absent and not required), or
** -1 after answering 422 with the field path. */
static int read_events(em_req *r, const json_t *body, int required, char **out)
{
	json_t *a = json_object_get(body, "events");
	*out = NULL;
	if (!a || json_is_null(a)) {
		if (required) {
			em_resp_error(r, 422, "missing_field",
				      "events is required: a list of event names, or [\"*\"] for all",
				      "events");
			return -1;
		}
		return 0;
	}
	if (!json_is_array(a) || json_array_size(a) == 0) {
		em_resp_error(r, 422, "invalid_field",
			      "events must be a non-empty list of event names, or [\"*\"] for all", "events");
		return -1;
	}
	if (json_array_size(a) > EM_WEBHOOK_EVENTS_MAX) {
		em_resp_error(r, 422, "invalid_field", "events holds at most 16 names", "events");
		return -1;
	}
	char csv[EM_WEBHOOK_EVENTS_MAX * 64] = "";
	size_t len = 0, i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char field[32];
		snprintf(field, sizeof field, "events[%zu]", i);
		const char *name = json_is_string(v) ? json_string_value(v) : NULL;
		if (!name) {
			em_resp_error(r, 422, "invalid_field", "expected an event name as a string", field);
			return -1;
		}
		if (!strcmp(name, "*")) {
			if (json_array_size(a) != 1) {
				em_resp_error(r, 422, "invalid_field",
					      "\"*\" (all events) must be the only entry", field);
				return -1;
			}
		} else if (!em_webhooks_event_known(name)) {
			em_resp_error(
				r, 422, "invalid_field",
				"unknown event; known: contact.created, contact.updated, contact.deleted, "
				"lead.created, chat.started, chat.closed, callback.requested, "
				"callback.updated, note.created",
				field);
			return -1;
		}
		for (size_t k = 0; k < i; k++) {
			if (!strcmp(json_string_value(json_array_get(a, k)), name)) {
				em_resp_error(r, 422, "invalid_field", "this event is listed twice", field);
				return -1;
			}
		}
		size_t n = strlen(name);
		if (len + n + 2 > sizeof csv)
			break; /* cannot happen: names are short and at most 16 */
		if (len)
			csv[len++] = ',';
		memcpy(csv + len, name, n + 1);
		len += n;
	}
	*out = em_req_strdup(r, csv);
	return 0;
}

static int read_url(em_req *r, const json_t *body, int required, char **out)
{
	const char *url;
	*out = NULL;
	if (em_api_str_field(r, body, "url", required, EM_WEBHOOK_URL_MAX, &url))
		return -1;
	if (!url)
		return 0;
	const char *why;
	if (em_webhooks_url_check(url, &why)) {
		em_resp_error(r, 422, "invalid_field", why, "url");
		return -1;
	}
	*out = em_req_strdup(r, url);
	return 0;
}

/* A request without a body: the operation, on the webhook or delivery of
** the path when param names it. */
static void plain(em_req *r, int kind, const char *param, int write)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	op *o = op_new(r, p, kind, param);
	if (o)
		run(o, write);
}

static void h_list(em_req *r)
{
	plain(r, OP_LIST, NULL, 0);
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	char *url, *events;
	int enabled = 1, present;
	if (read_url(r, body, 1, &url) || read_events(r, body, 1, &events) ||
	    em_api_bool_field(r, body, "enabled", &enabled, &present)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	op *o = op_new(r, p, OP_CREATE, NULL);
	o->url = url;
	o->events = events;
	o->enabled = enabled;
	run(o, 1);
}

static void h_get(em_req *r)
{
	plain(r, OP_GET, "id", 0);
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	char *url, *events;
	int enabled = -1, rotate = 0, present, rpresent;
	if (read_url(r, body, 0, &url) || read_events(r, body, 0, &events) ||
	    em_api_bool_field(r, body, "enabled", &enabled, &present) ||
	    em_api_bool_field(r, body, "rotate_secret", &rotate, &rpresent)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	op *o = op_new(r, p, OP_UPDATE, "id");
	if (!o)
		return;
	o->url = url;
	o->events = events;
	o->enabled = present ? enabled : -1;
	o->rotate = rotate;
	run(o, 1);
}

static void h_delete(em_req *r)
{
	plain(r, OP_DELETE, "id", 1);
}

static void h_test(em_req *r)
{
	plain(r, OP_PING, "id", 1);
}

static void h_deliveries(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *st = em_req_query_param(r, "status");
	if (st && !*st)
		st = NULL;
	if (st && strcmp(st, "pending") && strcmp(st, "delivered") && strcmp(st, "failed")) {
		em_resp_error(r, 422, "invalid_field", "status must be pending, delivered or failed",
			      "status");
		return;
	}
	long long limit = em_api_query_range(r, "limit", LIST_DEFAULT, 0, LIST_MAX);
	if (limit < 0)
		return;
	long long cursor = em_api_query_range(r, "cursor", 0, 0, (long long)1 << 62);
	if (cursor < 0)
		return;
	op *o = op_new(r, p, OP_DELIVERIES, "id");
	if (!o)
		return;
	o->status = st;
	o->limit = limit ? (int)limit : LIST_DEFAULT;
	o->cursor = cursor;
	run(o, 0);
}

static void h_retry(em_req *r)
{
	plain(r, OP_RETRY, "id", 1);
}

void em_api_webhooks_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/webhooks", h_list);
	em_server_route(s, EM_POST, "/api/v1/webhooks", h_create);
	em_server_route(s, EM_GET, "/api/v1/webhooks/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/webhooks/{id}", h_update);
	em_server_route(s, EM_DELETE, "/api/v1/webhooks/{id}", h_delete);
	em_server_route(s, EM_POST, "/api/v1/webhooks/{id}/test", h_test);
	em_server_route(s, EM_GET, "/api/v1/webhooks/{id}/deliveries", h_deliveries);
	em_server_route(s, EM_POST, "/api/v1/webhooks/deliveries/{id}/retry", h_retry);
}
