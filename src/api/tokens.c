/*
** REST: API tokens (GET/POST /api/v1/tokens, DELETE /api/v1/tokens/{id}).
** The secret is returned once, by the POST that creates it; the server keeps
** only its keyed hash (crm/auth.c).
*/
#include "api/api.h"

#include <string.h>

#include "app.h"
#include "core/err.h"
#include "crm/auth.h"

static json_t *token_json(const em_token *t)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "id", t->public_id, "name", t->name, "scope",
			 t->can_write ? "write" : "read", "created_at", em_api_time(t->created_at),
			 "last_used_at", em_api_time(t->last_used_at), "operator", t->operator_id);
}

static void listed(int status, const em_token *list, size_t n, void *arg)
{
	em_req *r = arg;
	if (status) {
		em_api_fail(r, status, NULL, NULL);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, token_json(&list[i]));
	em_resp_json(r, 200, json_pack("{s:o}", "tokens", a));
}

static void h_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (p)
		em_auth_token_list(em_req_app(r), p, listed, r);
}

static void created(int status, const em_token *t, const char *secret, void *arg)
{
	em_req *r = arg;
	if (status) {
		em_api_fail(r, status, NULL,
			    status == EM_EEXIST
				    ? "an operator may hold at most 100 active tokens; revoke one first"
				    : NULL);
		return;
	}
	em_resp_header(r, "Cache-Control", "no-store");
	em_resp_json(r, 201, json_pack("{s:o, s:s}", "token", token_json(t), "secret", secret));
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *name, *scope;
	if (em_api_str_field(r, body, "name", 1, EM_AUTH_TOKEN_NAME_MAX, &name) == 0 &&
	    em_api_str_field(r, body, "scope", 0, 8, &scope) == 0) {
		/* Least privilege unless asked: a token reads unless it says write. */
		if (scope && strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0)
			em_resp_error(r, 422, "invalid_field", "scope must be read or write", "scope");
		else
			em_auth_token_create(em_req_app(r), p, em_req_client_ip(r), name,
					     scope && strcmp(scope, "write") == 0, created, r);
	}
	json_decref(body);
}

static void revoked(int status, void *arg)
{
	em_req *r = arg;
	if (status)
		em_api_fail(r, status, NULL, status == EM_ENOTFOUND ? "no token with this id" : NULL);
	else
		em_resp_empty(r, 204);
}

static void h_revoke(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (p)
		em_auth_token_revoke(em_req_app(r), p, em_req_client_ip(r), em_req_param(r, "id"), revoked,
				     r);
}

void em_api_tokens_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/tokens", h_list);
	em_server_route(s, EM_POST, "/api/v1/tokens", h_create);
	em_server_route(s, EM_DELETE, "/api/v1/tokens/{id}", h_revoke);
}
