/*
** REST: operators (GET/POST /api/v1/operators, GET/PATCH
** /api/v1/operators/{id}). Validation of shapes and types here; the rules
** (who may change what, e-mail shape, last admin) live in crm/operators.c.
*/
#include "api/api.h"

#include "app.h"
#include "chat/chat.h"
#include "core/err.h"
#include "crm/auth.h"
#include "crm/operators.h"

json_t *em_api_operator_json(const em_operator *op)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:o}", "id", op->public_id, "email", op->email,
			 "name", op->name, "role", em_operator_role_name(op->role), "lang", op->lang,
			 "max_chats", op->max_chats, "disabled", op->disabled, "created_at",
			 em_api_time(op->created_at));
}

/* The body members of a create or update; -1 after answering 422. */
static int read_input(em_req *r, const json_t *body, em_operator_input *in)
{
	long long max_chats = 0;
	if (em_api_str_field(r, body, "name", 0, EM_NAME_MAX, &in->name) ||
	    em_api_str_field(r, body, "role", 0, 16, &in->role) ||
	    em_api_str_field(r, body, "lang", 0, 8, &in->lang) ||
	    em_api_str_field(r, body, "password", 0, EM_PASSWORD_MAX, &in->password) ||
	    em_api_int_field(r, body, "max_chats", EM_MAX_CHATS_MIN, EM_MAX_CHATS_MAX, &max_chats,
			     &in->has_max_chats) ||
	    em_api_bool_field(r, body, "disabled", &in->disabled, &in->has_disabled))
		return -1;
	in->max_chats = (int)max_chats;
	return 0;
}

static void answer_one(em_req *r, int status_ok, const em_operator_result *res)
{
	if (res->status) {
		em_api_fail(r, res->status, res->field, res->message);
		return;
	}
	em_resp_json(r, status_ok, json_pack("{s:o}", "operator", em_api_operator_json(&res->op)));
}

static void created(const em_operator_result *res, void *arg)
{
	if (!res->status)
		em_chat_reload_operators();
	answer_one(arg, 201, res);
}

static void answered(const em_operator_result *res, void *arg)
{
	answer_one(arg, 200, res);
}

/* A change of name, max_chats or disabled also changes chat routing. */
static void updated(const em_operator_result *res, void *arg)
{
	if (!res->status)
		em_chat_reload_operators();
	answer_one(arg, 200, res);
}

static void listed(int status, const em_operator *ops, size_t n, void *arg)
{
	em_req *r = arg;
	if (status) {
		em_api_fail(r, status, NULL, NULL);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, em_api_operator_json(&ops[i]));
	em_resp_json(r, 200, json_pack("{s:o}", "operators", a));
}

static void h_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	em_operators_list(em_req_app(r), listed, r);
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	em_operator_input in = {0};
	if (em_api_str_field(r, body, "email", 1, EM_EMAIL_MAX, &in.email) == 0 &&
	    em_api_str_field(r, body, "role", 1, 16, &in.role) == 0 &&
	    em_api_str_field(r, body, "password", 1, EM_PASSWORD_MAX, &in.password) == 0 &&
	    read_input(r, body, &in) == 0)
		em_operators_create(em_req_app(r), p, em_req_client_ip(r), &in, created, r);
	json_decref(body);
}

static void h_get(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	em_operators_get(em_req_app(r), em_req_param(r, "id"), answered, r);
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	em_operator_input in = {0};
	if (json_object_get(body, "email"))
		em_resp_error(r, 422, "invalid_field", "the e-mail address of an operator cannot be changed",
			      "email");
	else if (read_input(r, body, &in) == 0 &&
		 em_api_str_field(r, body, "current_password", 0, EM_PASSWORD_MAX, &in.current_password) == 0)
		em_operators_update(em_req_app(r), p, em_req_client_ip(r), em_req_param(r, "id"), &in,
				    updated, r);
	json_decref(body);
}

void em_api_operators_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/operators", h_list);
	em_server_route(s, EM_POST, "/api/v1/operators", h_create);
	em_server_route(s, EM_GET, "/api/v1/operators/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/operators/{id}", h_update);
}
