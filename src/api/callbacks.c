/*
** Call-me-back (docs/contacts.md "Call-me-back"):
**   POST /api/v1/callbacks, GET /api/v1/callbacks, GET|PATCH /api/v1/callbacks/{id}
**   (operators), and the widget's POST /api/v1/public/callbacks (no sign-in;
**   the page's origin must be allowed for the site; a few per IP).
** Thin: validate, run the crm function in the store, answer after COMMIT.
*/
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/auth.h"
#include "crm/callbacks.h"
#include "crm/contacts.h"
#include "track/sites.h"

/* The store function gets this as its em_callback_op: op comes first. */
typedef struct cctx {
	em_callback_op op;
	em_req *r;
	em_app *app;
	int status_ok;
	int public;	    /* the widget endpoint: answer the public form */
	const char *action; /* "created" / "updated" after a write, else NULL */
} cctx;

static void cctx_free(cctx *c)
{
	json_decref(c->op.out);
	json_decref(c->op.cb);
	em_free(c->op.topic);
	em_free(c->op.consent_text);
	em_free(c);
}

static const char *const error_fields[] = {NULL, "contact", "assigned", "phone"};
static const char *const error_texts[] = {NULL, "no such contact", "no such operator",
					  "phone is required (the contact has no phone number)"};

static void done(int status, void *arg)
{
	cctx *c = arg;
	if (status == EM_EINVAL && c->op.error_field > 0 && c->op.error_field <= 3) {
		em_resp_error(c->r, 422, "invalid_field", error_texts[c->op.error_field],
			      error_fields[c->op.error_field]);
	} else if (status == EM_ENOTFOUND) {
		em_resp_error(c->r, 404, "not_found", "no such callback", NULL);
	} else if (status == EM_EPERM) {
		em_resp_error(c->r, 403, "forbidden",
			      "this callback is assigned to another operator; only an admin may change that",
			      NULL);
	} else if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		if (c->action)
			em_callbacks_committed(&c->op, c->action);
		int code = c->status_ok == 201 && !c->op.created ? 200 : c->status_ok;
		if (c->public)
			em_resp_json(c->r, code,
				     json_pack("{s:o}", "callback", em_callbacks_public_json(c->op.cb)));
		else
			em_resp_json(c->r, code, json_incref(c->op.out));
	}
	cctx_free(c);
}

static cctx *ctx_new(em_req *r, const em_principal *p, int status_ok)
{
	cctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->status_ok = status_ok;
	c->op.now = em_now_ms();
	c->op.retry_min = c->app->cfg.chat_callback_retry_min;
	if (p) {
		c->op.operator_id = p->operator_id;
		c->op.is_admin = p->role == EM_ROLE_ADMIN;
	}
	return c;
}

static void run(cctx *c, em_db_fn fn, int write)
{
	if (em_api_store(c->r, write, fn, done, c))
		cctx_free(c);
}

/* ---- Shared input ------------------------------------------------------- */

/* An optional RFC 3339 member; *ms 0 when absent. 0, or -1 after a 422. */
static int time_field(em_req *r, const json_t *body, const char *key, int64_t *ms)
{
	const char *s;
	*ms = 0;
	if (em_api_str_field(r, body, key, 0, 40, &s))
		return -1;
	if (s && em_callback_time_parse(s, ms)) {
		char m[128];
		snprintf(m, sizeof m, "%s must be an RFC 3339 time such as 2026-11-23T14:00:00Z", key);
		em_resp_error(r, 422, "invalid_field", m, key);
		return -1;
	}
	return 0;
}

/* name?, phone (required unless allowed_missing), topic?, window_start?,
** window_end?: checked, normalised and scheduled into c->op. */
static int request_fields(em_req *r, const json_t *body, cctx *c, int phone_optional)
{
	const char *name, *phone, *topic, *field, *why;
	if (em_api_str_field(r, body, "name", 0, EM_CALLBACK_NAME_MAX, &name) ||
	    em_api_str_field(r, body, "phone", !phone_optional, 64, &phone) ||
	    em_api_str_field(r, body, "topic", 0, EM_CALLBACK_TOPIC_MAX, &topic) ||
	    time_field(r, body, "window_start", &c->op.window_start) ||
	    time_field(r, body, "window_end", &c->op.window_end))
		return -1;
	if (phone && em_contact_phone(phone, c->op.phone, sizeof c->op.phone, &why)) {
		em_resp_error(r, 422, "invalid_field",
			      why ? why : "phone must be in international form like +4930123456", "phone");
		return -1;
	}
	if (em_callback_schedule(c->op.now, c->op.window_start, c->op.window_end, &c->op.due_at, &field,
				 &why)) {
		em_resp_error(r, 422, "invalid_field", why, field);
		return -1;
	}
	snprintf(c->op.name, sizeof c->op.name, "%s", name ? name : "");
	c->op.topic = topic ? em_strdup(topic) : NULL;
	return 0;
}

static int vid_ok(const char *vid)
{
	if (!*vid || strlen(vid) > EM_CALLBACK_VID_MAX)
		return 0;
	for (const char *p = vid; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/* ---- Operators ---------------------------------------------------------- */

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	cctx *c = ctx_new(r, p, 201);
	c->action = "created";
	const char *contact, *vid, *site, *assigned;
	int64_t due = 0;
	if (em_api_str_field(r, body, "contact", 0, 31, &contact) ||
	    em_api_str_field(r, body, "vid", 0, EM_CALLBACK_VID_MAX, &vid) ||
	    em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "assigned", 0, 31, &assigned) ||
	    request_fields(r, body, c, contact != NULL) || time_field(r, body, "due_at", &due))
		goto out;
	if (vid && !vid_ok(vid)) {
		em_resp_error(r, 422, "invalid_field", "vid must be 1-63 printable characters", "vid");
		goto out;
	}
	if (due > c->op.now + EM_CALLBACK_AHEAD_MS) {
		em_resp_error(r, 422, "invalid_field", "due_at may be at most 90 days ahead", "due_at");
		goto out;
	}
	const em_site *s = em_sites_find(site && *site ? site : "default");
	if (!s && !contact) {
		em_resp_error(r, 422, "invalid_field", "no such site", "site");
		goto out;
	}
	c->op.site_id = s ? s->id : 0;
	if (due)
		c->op.due_at = due;
	snprintf(c->op.contact, sizeof c->op.contact, "%s", contact ? contact : "");
	snprintf(c->op.vid, sizeof c->op.vid, "%s", vid ? vid : "");
	snprintf(c->op.assigned, sizeof c->op.assigned, "%s", assigned ? assigned : "");
	json_decref(body);
	run(c, em_callbacks_create_db, 1);
	return;
out:
	json_decref(body);
	cctx_free(c);
}

static void h_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	cctx *c = ctx_new(r, p, 200);
	const char *v = em_req_query_param(r, "status");
	if (v && *v && em_callback_status_mask(v, &c->op.status_mask)) {
		em_resp_error(
			r, 422, "invalid_field",
			"status must be a comma-separated list of open, called, no_answer, done, cancelled",
			"status");
		goto out;
	}
	v = em_req_query_param(r, "assigned");
	if (v && *v) {
		if (!strcmp(v, "me")) {
			c->op.assigned_mode = 1;
			c->op.assigned_id = p->operator_id;
		} else if (!strcmp(v, "none")) {
			c->op.assigned_mode = 2;
		} else if (strlen(v) < sizeof c->op.assigned) {
			c->op.assigned_mode = 1;
			snprintf(c->op.assigned, sizeof c->op.assigned, "%s", v);
		} else {
			em_resp_error(r, 422, "invalid_field", "no such operator", "assigned");
			goto out;
		}
	}
	v = em_req_query_param(r, "overdue");
	if (v && *v) {
		if (strcmp(v, "true") && strcmp(v, "false")) {
			em_resp_error(r, 422, "invalid_field", "overdue must be true or false", "overdue");
			goto out;
		}
		c->op.overdue_only = !strcmp(v, "true");
	}
	v = em_req_query_param(r, "site");
	if (v && *v) {
		const em_site *s = em_sites_find(v);
		if (!s) {
			em_resp_error(r, 422, "invalid_field", "no such site", "site");
			goto out;
		}
		c->op.site_id = s->id;
	}
	v = em_req_query_param(r, "contact");
	if (v && *v) {
		if (strlen(v) >= sizeof c->op.contact) {
			em_resp_error(r, 422, "invalid_field", "no such contact", "contact");
			goto out;
		}
		snprintf(c->op.contact, sizeof c->op.contact, "%s", v);
	}
	/* Absent, the limit stays 0: the store's default. */
	long long limit = em_api_query_range(r, "limit", 0, 1, EM_CALLBACK_LIST_MAX);
	if (limit < 0)
		goto out;
	c->op.limit = (int)limit;
	v = em_req_query_param(r, "cursor");
	if (v && *v) {
		/* The cursor is "<due ms>_<row>" as the list gave it out. */
		char *end;
		long long due = strtoll(v, &end, 10);
		long long id = *end == '_' ? strtoll(end + 1, &end, 10) : 0;
		if (*end || id <= 0) {
			em_resp_error(r, 422, "invalid_field", "cursor is not one this server gave out",
				      "cursor");
			goto out;
		}
		c->op.cursor_due = due;
		c->op.cursor_id = id;
	}
	run(c, em_callbacks_list_db, 0);
	return;
out:
	cctx_free(c);
}

static int id_param(em_req *r, cctx *c)
{
	return em_api_path_id(r, "id", c->op.id, sizeof c->op.id, "no such callback");
}

static void h_get(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	cctx *c = ctx_new(r, p, 200);
	if (id_param(r, c)) {
		cctx_free(c);
		return;
	}
	run(c, em_callbacks_get_db, 0);
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	cctx *c = ctx_new(r, p, 200);
	c->action = "updated";
	const char *status, *assigned, *topic, *name;
	int64_t due;
	if (id_param(r, c) || em_api_str_field(r, body, "status", 0, 15, &status) ||
	    em_api_str_field(r, body, "assigned", 0, 31, &assigned) ||
	    em_api_str_field(r, body, "topic", 0, EM_CALLBACK_TOPIC_MAX, &topic) ||
	    em_api_str_field(r, body, "name", 0, EM_CALLBACK_NAME_MAX, &name) ||
	    time_field(r, body, "due_at", &due))
		goto out;
	if (status && !em_callback_status_bit(status)) {
		em_resp_error(r, 422, "invalid_field",
			      "status must be open, called, no_answer, done or cancelled", "status");
		goto out;
	}
	if (due > c->op.now + EM_CALLBACK_AHEAD_MS) {
		em_resp_error(r, 422, "invalid_field", "due_at may be at most 90 days ahead", "due_at");
		goto out;
	}
	if (status) {
		c->op.has_status = 1;
		snprintf(c->op.status, sizeof c->op.status, "%s", status);
	}
	/* "assigned": null takes the request off everyone's list. */
	if (json_object_get(body, "assigned")) {
		c->op.has_assigned = 1;
		snprintf(c->op.assigned, sizeof c->op.assigned, "%s", assigned ? assigned : "");
	}
	if (topic) {
		c->op.has_topic = 1;
		c->op.topic = em_strdup(topic);
	}
	if (name) {
		c->op.has_name = 1;
		snprintf(c->op.name, sizeof c->op.name, "%s", name);
	}
	if (due) {
		c->op.has_due = 1;
		c->op.due_at = due;
	}
	json_decref(body);
	run(c, em_callbacks_update_db, 1);
	return;
out:
	json_decref(body);
	cctx_free(c);
}

/* ---- The widget's public endpoint --------------------------------------- */

static void h_public_create(em_req *r)
{
	em_api_public_cors(r);
	int wait = em_callbacks_public_admit(em_req_client_ip(r), em_now_ms());
	if (wait) {
		em_api_rate_limited(r, wait, "too many callback requests from this address; try again later");
		return;
	}
	json_t *body = em_api_public_json(r);
	if (!body)
		return;
	cctx *c = ctx_new(r, NULL, 201);
	c->public = 1;
	c->action = "created";
	const char *site, *vid, *consent_text;
	int consent = 0, present;
	if (em_api_str_field(r, body, "site", 1, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "vid", 1, EM_CALLBACK_VID_MAX, &vid))
		goto out;
	const em_site *s = em_sites_find(site);
	if (!s) {
		em_resp_error(r, 422, "invalid_field", "unknown site", "site");
		goto out;
	}
	if (!em_sites_origin_allowed(s, em_api_page_origin(r))) {
		em_resp_error(r, 403, "forbidden", "this page's origin may not send data for the site",
			      "site");
		goto out;
	}
	if (!vid_ok(vid)) {
		em_resp_error(r, 422, "invalid_field", "vid must be 1-63 printable characters", "vid");
		goto out;
	}
	if (request_fields(r, body, c, 0) || em_api_bool_field(r, body, "consent", &consent, &present) ||
	    em_api_str_field(r, body, "consent_text", 0, EM_CALLBACK_CONSENT_TEXT_MAX, &consent_text))
		goto out;
	c->op.site_id = s->id;
	snprintf(c->op.vid, sizeof c->op.vid, "%s", vid);
	c->op.consent = consent;
	c->op.consent_text = consent_text ? em_strdup(consent_text) : NULL;
	json_decref(body);
	run(c, em_callbacks_create_db, 1);
	return;
out:
	json_decref(body);
	cctx_free(c);
}

void em_api_callbacks_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/callbacks", h_list);
	em_server_route(s, EM_POST, "/api/v1/callbacks", h_create);
	em_server_route(s, EM_GET, "/api/v1/callbacks/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/callbacks/{id}", h_update);
	em_server_route(s, EM_POST, "/api/v1/public/callbacks", h_public_create);
	em_server_route(s, EM_OPTIONS, "/api/v1/public/callbacks", em_api_public_preflight);
}
