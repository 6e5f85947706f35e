/*
** REST: the audit log (GET /api/v1/audit?limit=&cursor=, admins only),
** newest first. The cursor is opaque to clients: the hex of the last row id
** shown, which the next page starts below.
*/
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crm/audit.h"
#include "crm/auth.h"

#define AUDIT_PAGE_DEFAULT 50

static void cursor_encode(int64_t id, char out[17])
{
	unsigned char b[8];
	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(id & 0xff);
		id >>= 8;
	}
	sodium_bin2hex(out, 17, b, sizeof b);
}

/* Returns the id, or -1 for anything that is not a cursor we made. */
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

static void listed(int status, const em_audit_entry *e, size_t n, int more, void *arg)
{
	em_req *r = arg;
	if (status) {
		em_api_fail(r, status, NULL, NULL);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char id[24];
		snprintf(id, sizeof id, "%lld", (long long)e[i].id);
		json_t *op = e[i].operator_id[0] ? json_pack("{s:s, s:s}", "id", e[i].operator_id, "email",
							     e[i].operator_email)
						 : json_null();
		json_array_append_new(a,
				      json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s}", "id", id, "at",
						em_api_time(e[i].at), "operator", op, "action", e[i].action,
						"target", e[i].target, "ip", e[i].ip, "detail", e[i].detail));
	}
	json_t *next = json_null();
	if (more && n > 0) {
		char c[17];
		cursor_encode(e[n - 1].id, c);
		next = json_string(c);
	}
	em_resp_json(r, 200, json_pack("{s:o, s:o}", "entries", a, "next_cursor", next));
}

static void h_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ADMIN))
		return;
	long limit = AUDIT_PAGE_DEFAULT;
	const char *ls = em_req_query_param(r, "limit");
	if (ls) {
		char *end = NULL;
		limit = strtol(ls, &end, 10);
		if (!*ls || *end || limit < 1 || limit > EM_AUDIT_PAGE_MAX) {
			em_resp_error(r, 422, "invalid_field", "limit must be an integer from 1 to 200",
				      "limit");
			return;
		}
	}
	int64_t before = 0;
	const char *cs = em_req_query_param(r, "cursor");
	if (cs && *cs && (before = cursor_decode(cs)) < 0) {
		em_resp_error(r, 422, "invalid_field", "cursor is not one this server handed out", "cursor");
		return;
	}
	em_audit_list(em_req_app(r), before, (int)limit, listed, r);
}

void em_api_audit_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/audit", h_list);
}
