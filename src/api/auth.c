/*
** REST: sign-in, sign-out and "who am I" (POST /api/v1/login, POST
** /api/v1/logout, GET /api/v1/me), plus the small request helpers every
** resource file of src/api/ shares (declared in api.h).
*/
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/auth.h"
#include "crm/operators.h"

/* ---- Shared helpers --------------------------------------------------- */

/* Answers 422 with "<key> <what>" and the field named; returns -1. */
static int field_error(em_req *r, const char *code, const char *key, const char *what)
{
	char msg[192];
	snprintf(msg, sizeof msg, "%s %s", key, what);
	em_resp_error(r, 422, code, msg, key);
	return -1;
}

int em_api_str_field(em_req *r, const json_t *obj, const char *key, int required, size_t maxlen,
		     const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return field_error(r, "missing_field", key, "is required");
		return 0;
	}
	if (!json_is_string(v))
		return field_error(r, "invalid_field", key, "must be a string");
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n > maxlen) {
		char what[64];
		snprintf(what, sizeof what, "is too long (at most %zu bytes)", maxlen);
		return field_error(r, "invalid_field", key, what);
	}
	/* A NUL inside the string would silently cut it everywhere in C. */
	if (strlen(s) != n)
		return field_error(r, "invalid_field", key, "must not contain NUL characters");
	if (required && n == 0)
		return field_error(r, "missing_field", key, "must not be empty");
	*out = s;
	return 0;
}

int em_api_int_field(em_req *r, const json_t *obj, const char *key, long long min, long long max,
		     long long *out, int *present)
{
	json_t *v = json_object_get(obj, key);
	*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		char what[96];
		snprintf(what, sizeof what, "must be an integer from %lld to %lld", min, max);
		return field_error(r, "invalid_field", key, what);
	}
	*out = (long long)json_integer_value(v);
	*present = 1;
	return 0;
}

int em_api_bool_field(em_req *r, const json_t *obj, const char *key, int *out, int *present)
{
	json_t *v = json_object_get(obj, key);
	*present = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return field_error(r, "invalid_field", key, "must be true or false");
	*out = json_is_true(v);
	*present = 1;
	return 0;
}

void em_api_fail(em_req *r, int status, const char *field, const char *message)
{
	const char *m = message && *message ? message : NULL;
	switch (status) {
	case EM_EINVAL:
	case EM_ERANGE:
		em_resp_error(r, 422, "invalid_field", m ? m : "invalid input",
			      field && *field ? field : NULL);
		return;
	case EM_EPERM: em_resp_error(r, 403, "forbidden", m ? m : "not allowed", NULL); return;
	case EM_EAUTH: em_resp_error(r, 401, "unauthorized", m ? m : "sign in first", NULL); return;
	case EM_ENOTFOUND: em_resp_error(r, 404, "not_found", m ? m : "no such object", NULL); return;
	case EM_EEXIST:
		em_resp_error(r, 409, "conflict", m ? m : "conflicts with existing data",
			      field && *field ? field : NULL);
		return;
	case EM_ETOOBIG: em_resp_error(r, 413, "too_large", m ? m : "too large", NULL); return;
	case EM_EAGAIN:
	case EM_ECLOSED:
		em_resp_header(r, "Retry-After", "1");
		em_resp_error(r, 503, "unavailable", "the server is busy; try again shortly", NULL);
		return;
	default: em_resp_error(r, 500, "internal", "internal error; see the server log", NULL); return;
	}
}

json_t *em_api_time(int64_t ms)
{
	return em_json_time(ms);
}

/* ---- Sign-in ---------------------------------------------------------- */

static void login_answered(const em_login_result *res, void *arg)
{
	em_req *r = arg;
	switch (res->status) {
	case 0:
		em_auth_set_cookie(r, res->token);
		em_resp_header(r, "Cache-Control", "no-store");
		em_resp_json(r, 200,
			     json_pack("{s:o, s:s}", "operator", em_api_operator_json(&res->op), "csrf",
				       res->csrf));
		return;
	case EM_EAUTH:
		em_resp_error(r, 401, "invalid_credentials", "wrong e-mail address or password", NULL);
		return;
	case EM_ERANGE:
		em_api_rate_limited(r, res->retry_after_s, "too many failed sign-ins; wait and try again");
		return;
	default: em_api_fail(r, res->status, NULL, NULL); return;
	}
}

static void h_login(em_req *r)
{
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *email, *password;
	if (em_api_str_field(r, body, "email", 1, EM_EMAIL_MAX, &email) == 0 &&
	    em_api_str_field(r, body, "password", 1, EM_PASSWORD_MAX, &password) == 0)
		em_auth_login(em_req_app(r), email, password, em_req_client_ip(r),
			      em_req_header(r, "User-Agent"), login_answered, r);
	/* em_auth_login copied what it keeps. */
	json_decref(body);
}

/* ---- Sign-out --------------------------------------------------------- */

static void logout_answered(int status, void *arg)
{
	em_req *r = arg;
	if (status) {
		em_api_fail(r, status, NULL, NULL);
		return;
	}
	em_auth_set_cookie(r, NULL);
	em_resp_empty(r, 204);
}

static void h_logout(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	em_auth_logout(r, logout_answered, r);
}

/* ---- Me --------------------------------------------------------------- */

static void h_me(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	em_operator op;
	if (em_auth_operator(em_req_app(r), p->operator_id, &op)) {
		em_api_fail(r, EM_EAUTH, NULL, NULL);
		return;
	}
	json_t *o = json_pack("{s:o}", "operator", em_api_operator_json(&op));
	/* Only a cookie session has (and needs) a CSRF token. */
	if (!p->via_token)
		json_object_set_new(o, "csrf", json_string(p->csrf));
	em_resp_header(r, "Cache-Control", "no-store");
	em_resp_json(r, 200, o);
}

void em_api_auth_routes(em_server *s)
{
	em_server_route(s, EM_POST, "/api/v1/login", h_login);
	em_server_route(s, EM_POST, "/api/v1/logout", h_logout);
	em_server_route(s, EM_GET, "/api/v1/me", h_me);
}

void em_api_with_body(em_req *r, int flags, void (*fn)(em_req *, const em_principal *, json_t *))
{
	const em_principal *p = em_auth_require(r, flags);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	fn(r, p, body);
	json_decref(body);
}

int em_api_path_id(em_req *r, const char *name, char *out, size_t outlen, const char *message)
{
	const char *v = em_req_param(r, name);
	if (!v || !*v || strlen(v) >= outlen) {
		em_resp_error(r, 404, "not_found", message, NULL);
		return -1;
	}
	snprintf(out, outlen, "%s", v);
	return 0;
}

/* The one parser of integer query parameters; code is the error's code. */
static long long query_int(em_req *r, const char *name, long long def, long long min, long long max,
			   const char *code)
{
	const char *v = em_req_query_param(r, name);
	if (!v || !*v)
		return def;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end || n < min || n > max) {
		char m[96];
		snprintf(m, sizeof m, "%s must be an integer from %lld to %lld", name, min, max);
		em_resp_error(r, 422, code, m, name);
		return -1;
	}
	return n;
}

long long em_api_query_int(em_req *r, const char *name, long long def, long long max)
{
	return query_int(r, name, def, 0, max, "invalid");
}

long long em_api_query_range(em_req *r, const char *name, long long def, long long min, long long max)
{
	return query_int(r, name, def, min, max, "invalid_field");
}

int em_api_store(em_req *r, int write, em_db_fn fn, em_done_fn done, void *arg)
{
	em_store *s = ((em_app *)em_req_app(r))->store;
	int e = write ? em_store_write(s, fn, done, arg) : em_store_read(s, fn, done, arg);
	if (e) {
		em_api_fail(r, e, NULL, NULL);
		return -1;
	}
	return 0;
}

const char *em_api_page_origin(em_req *r)
{
	const char *o = em_req_header(r, "Origin");
	if (o && strcmp(o, "null"))
		return o;
	return em_req_header(r, "Referer");
}

void em_api_public_cors(em_req *r)
{
	const char *o = em_req_header(r, "Origin");
	if (o) {
		em_resp_header(r, "Access-Control-Allow-Origin", o);
		em_resp_header(r, "Access-Control-Expose-Headers", "Retry-After");
		em_resp_header(r, "Vary", "Origin");
	}
}

void em_api_public_preflight(em_req *r)
{
	em_api_public_cors(r);
	em_resp_header(r, "Access-Control-Allow-Methods", "POST");
	em_resp_header(r, "Access-Control-Allow-Headers", "Content-Type");
	em_resp_header(r, "Access-Control-Max-Age", "86400");
	em_resp_empty(r, 204);
}

json_t *em_api_public_json(em_req *r)
{
	size_t len;
	const char *raw = em_req_body(r, &len);
	char msg[128];
	json_t *body = em_json_parse(raw ? raw : "", len, msg, sizeof msg);
	if (!json_is_object(body)) {
		em_resp_error(r, 400, "invalid_json", body ? "expected a JSON object" : msg, NULL);
		json_decref(body);
		return NULL;
	}
	return body;
}

void em_api_rate_limited(em_req *r, int wait_s, const char *message)
{
	char s[16];
	snprintf(s, sizeof s, "%d", wait_s);
	em_resp_header(r, "Retry-After", s);
	em_resp_error(r, 429, "rate_limited", message, NULL);
}
