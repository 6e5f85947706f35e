/*
** REST: invitation rules and invitations (docs/chat.md, "Invitations").
**   GET|POST /api/v1/rules, GET|PATCH|DELETE /api/v1/rules/{id},
**   GET /api/v1/rules/stats, POST /api/v1/visitors/{vid}/invite,
**   GET /api/v1/invitations.
** Thin: shapes and types are checked here, the conditions and the brakes in
** live/invite.c. Agents read; only admins change rules; any signed-in
** operator may invite a visitor by hand.
*/
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/err.h"
#include "crm/auth.h"
#include "live/invite.h"
#include "track/ingest.h"
#include "track/sites.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

static void answer(em_req *r, int ok_status, const char *key, const em_invite_result *res)
{
	if (res->status) {
		em_api_fail(r, res->status, res->field, res->message);
		return;
	}
	if (!key) {
		em_resp_empty(r, 204);
		return;
	}
	em_resp_json(r, ok_status, json_pack("{s:O}", key, res->obj ? res->obj : json_null()));
}

static void rule_created(const em_invite_result *res, void *arg)
{
	answer(arg, 201, "rule", res);
}

static void rule_updated(const em_invite_result *res, void *arg)
{
	answer(arg, 200, "rule", res);
}

static void rule_deleted(const em_invite_result *res, void *arg)
{
	answer(arg, 204, NULL, res);
}

/* The site of ?site= (or the body's "site"); 0 = none given, -1 answered 404/422. */
static int64_t site_param(em_req *r, const char *key, int status)
{
	if (!key || !*key)
		return 0;
	const em_site *site = em_sites_find(key);
	if (!site) {
		em_resp_error(r, status, status == 404 ? "not_found" : "invalid_field", "no such site",
			      "site");
		return -1;
	}
	return site->id;
}

/* Reads a create/update body into in; -1 after answering 422. */
static int read_rule(em_req *r, const json_t *body, em_rule_input *in, int create)
{
	static const char *const known[] = {"name",    "site",	     "enabled",	  "priority",
					    "message", "department", "conditions"};
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)body, k, v)
	{
		size_t i;
		for (i = 0; i < sizeof known / sizeof known[0]; i++)
			if (!strcmp(k, known[i]))
				break;
		if (i == sizeof known / sizeof known[0]) {
			char msg[160];
			snprintf(msg, sizeof msg, "unknown field %.100s", k);
			em_resp_error(r, 422, "invalid_field", msg, k);
			return -1;
		}
	}
	const char *site = NULL;
	if (em_api_str_field(r, body, "name", create, EM_RULE_NAME_MAX, &in->name) ||
	    em_api_str_field(r, body, "message", create, EM_RULE_MESSAGE_MAX, &in->message) ||
	    em_api_str_field(r, body, "site", 0, 64, &site) ||
	    em_api_str_field(r, body, "department", 0, 31, &in->department) ||
	    em_api_bool_field(r, body, "enabled", &in->enabled, &in->has_enabled) ||
	    em_api_int_field(r, body, "priority", -1000, 1000, &in->priority, &in->has_priority))
		return -1;
	if (!create && in->name && !*in->name) {
		em_resp_error(r, 422, "missing_field", "name must not be empty", "name");
		return -1;
	}
	if (!create && in->message && !*in->message) {
		em_resp_error(r, 422, "missing_field", "message must not be empty", "message");
		return -1;
	}
	if (json_is_null(json_object_get(body, "department")))
		in->department = ""; /* null clears it */
	if (site) {
		if ((in->site_id = site_param(r, site, 422)) < 0)
			return -1;
	} else if (create) {
		const em_site *def = em_sites_find("default");
		in->site_id = def ? def->id : 0;
		if (!in->site_id) {
			em_resp_error(r, 422, "missing_field", "site is required", "site");
			return -1;
		}
	}
	json_t *cond = json_object_get(body, "conditions");
	if (create && !cond) {
		em_resp_error(r, 422, "missing_field",
			      "conditions is required (an object; {} fires for everyone)", "conditions");
		return -1;
	}
	if (cond) {
		em_invite_result res = {0};
		if (em_invite_rule_validate(cond, &res)) {
			em_resp_error(r, 422, "invalid_field", res.message, res.field);
			return -1;
		}
		in->conditions = cond;
	}
	return 0;
}

static void h_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	int64_t site = site_param(r, em_req_query_param(r, "site"), 404);
	if (site < 0)
		return;
	em_resp_json(r, 200, json_pack("{s:o}", "rules", em_invite_rules_json(site)));
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	em_rule_input in = {0};
	if (read_rule(r, body, &in, 1) == 0)
		em_invite_rule_create(em_req_app(r), p->operator_id, em_req_client_ip(r), &in, rule_created,
				      r);
	json_decref(body);
}

static void h_get(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	json_t *rule = em_invite_rule_json(em_req_param(r, "id"));
	if (!rule) {
		em_resp_error(r, 404, "not_found", "no such rule", NULL);
		return;
	}
	em_resp_json(r, 200, json_pack("{s:o}", "rule", rule));
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	em_rule_input in = {0};
	if (read_rule(r, body, &in, 0) == 0)
		em_invite_rule_update(em_req_app(r), p->operator_id, em_req_client_ip(r),
				      em_req_param(r, "id"), &in, rule_updated, r);
	json_decref(body);
}

static void h_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	em_invite_rule_delete(em_req_app(r), p->operator_id, em_req_client_ip(r), em_req_param(r, "id"),
			      rule_deleted, r);
}

/* ---- Stats ---------------------------------------------------------------- */

static void stats_done(const em_invite_result *res, void *arg)
{
	em_req *r = arg;
	if (res->status) {
		em_api_fail(r, res->status, NULL, NULL);
		return;
	}
	em_resp_json(r, 200, json_incref(res->obj));
}

/* An integer query parameter within [min, max] (def when absent); -1 after 422. */
static long query_int(em_req *r, const char *key, long min, long max, long def)
{
	const char *s = em_req_query_param(r, key);
	if (!s)
		return def;
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s must be an integer from %ld to %ld", key, min, max);
		em_resp_error(r, 422, "invalid_field", msg, key);
		return -1;
	}
	return v;
}

static void h_stats(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	int64_t site = site_param(r, em_req_query_param(r, "site"), 404);
	long days = query_int(r, "days", 1, 3650, 30);
	if (site < 0 || days < 0)
		return;
	em_invite_rule_stats(em_req_app(r), site, (int)days, stats_done, r);
}

/* ---- Invitations ---------------------------------------------------------- */

static void invited(const em_invite_result *res, void *arg)
{
	answer(arg, 201, "invitation", res);
}

typedef struct invite_ctx {
	em_req *req;
	int64_t operator_id;
	char operator[32];
	char ip[64];
	int64_t site_id;
	char vid[64];
	char *message;
} invite_ctx;

static void invite_now(void *arg)
{
	invite_ctx *x = arg;
	em_invite_manual(em_req_app(x->req), x->operator_id, x->operator, x->ip, x->site_id, x->vid,
			 x->message, invited, x->req);
	em_free(x->message);
	em_free(x);
}

static void h_invite(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *vid = em_req_param(r, "vid");
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *message = NULL, *site = NULL;
	int64_t site_id = 0;
	if (em_api_str_field(r, body, "message", 1, EM_RULE_MESSAGE_MAX, &message) == 0 &&
	    em_api_str_field(r, body, "site", 0, 64, &site) == 0 &&
	    (site_id = site_param(r, site, 422)) >= 0) {
		if (!vid || strlen(vid) >= 64) {
			em_resp_error(r, 404, "not_found", "the visitor is not on the site now", NULL);
		} else {
			invite_ctx *x = em_calloc(1, sizeof *x);
			x->req = r;
			x->operator_id = p->operator_id;
			snprintf(x->operator, sizeof x->operator, "%s", p->public_id);
			snprintf(x->ip, sizeof x->ip, "%s", em_req_client_ip(r));
			x->site_id = site_id;
			snprintf(x->vid, sizeof x->vid, "%s", vid);
			x->message = em_strdup(message);
			/* Live presence (memory) decides: with every tracking batch
			** answered so far applied to it. */
			em_ingest_when_applied(invite_now, x);
		}
	}
	json_decref(body);
}

static void cursor_encode(int64_t id, char out[17])
{
	unsigned char b[8];
	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(id & 0xff);
		id >>= 8;
	}
	sodium_bin2hex(out, 17, b, sizeof b);
}

static int64_t cursor_decode(const char *s)
{
	unsigned char b[8];
	size_t n = 0;
	if (strlen(s) != 16 || sodium_hex2bin(b, sizeof b, s, 16, NULL, &n, NULL) != 0 || n != 8)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

static void listed(const em_invite_result *res, void *arg)
{
	em_req *r = arg;
	if (res->status) {
		em_api_fail(r, res->status, NULL, NULL);
		return;
	}
	json_int_t next = json_integer_value(json_object_get(res->obj, "next"));
	json_t *cur = json_null();
	if (next > 0) {
		char c[17];
		cursor_encode(next, c);
		cur = json_string(c);
	}
	em_resp_json(r, 200,
		     json_pack("{s:O, s:o}", "invitations", json_object_get(res->obj, "invitations"),
			       "next_cursor", cur));
}

static void h_invitations(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const char *status = em_req_query_param(r, "status");
	static const char *const statuses[] = {"offered", "shown", "accepted", "dismissed", "ignored"};
	if (status && *status) {
		size_t i;
		for (i = 0; i < 5; i++)
			if (!strcmp(status, statuses[i]))
				break;
		if (i == 5) {
			em_resp_error(r, 422, "invalid_field",
				      "status must be offered, shown, accepted, dismissed or ignored",
				      "status");
			return;
		}
	}
	int64_t site = site_param(r, em_req_query_param(r, "site"), 404);
	long limit = query_int(r, "limit", 1, LIST_MAX, LIST_DEFAULT);
	if (site < 0 || limit < 0)
		return;
	int64_t before = 0;
	const char *cs = em_req_query_param(r, "cursor");
	if (cs && *cs && (before = cursor_decode(cs)) <= 0) {
		em_resp_error(r, 422, "invalid_field", "cursor is not one this server handed out", "cursor");
		return;
	}
	em_invite_list(em_req_app(r), status, site, before, (int)limit, listed, r);
}

void em_api_rules_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/rules", h_list);
	em_server_route(s, EM_POST, "/api/v1/rules", h_create);
	em_server_route(s, EM_GET, "/api/v1/rules/stats", h_stats);
	em_server_route(s, EM_GET, "/api/v1/rules/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/rules/{id}", h_update);
	em_server_route(s, EM_DELETE, "/api/v1/rules/{id}", h_delete);
	em_server_route(s, EM_POST, "/api/v1/visitors/{vid}/invite", h_invite);
	em_server_route(s, EM_GET, "/api/v1/invitations", h_invitations);
}
