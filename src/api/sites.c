/*
** REST: sites (GET/POST /api/v1/sites, GET/PATCH/DELETE /api/v1/sites/{key}).
** Any operator may read; only admins change. Shapes are checked here; the
** store write and the cache update live in track/sites.c. Every change is
** written to the audit log.
*/
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/err.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "track/sites.h"

static json_t *site_json(const em_site *s)
{
	json_t *domains = json_array();
	for (const char *p = s->allowed_domains; *p;) {
		size_t n = strcspn(p, ",");
		if (n)
			json_array_append_new(domains, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "key", s->key, "name", s->name, "allowed_domains", domains,
			 "created_at", em_api_time(s->created_at));
}

/* Reads allowed_domains (an array of host names) into a comma-joined,
** lowercased list. Returns 0 with *present set, or -1 after answering 422
** with the field path of the bad entry. */
static int read_domains(em_req *r, const json_t *body, char *out, size_t outlen, int *present)
{
	json_t *a = json_object_get(body, "allowed_domains");
	*present = 0;
	out[0] = '\0';
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a)) {
		em_resp_error(r, 422, "invalid_field",
			      "allowed_domains must be an array of host names (empty: pages on any domain "
			      "may send)",
			      "allowed_domains");
		return -1;
	}
	if (json_array_size(a) > EM_SITE_DOMAINS_COUNT) {
		em_resp_error(r, 422, "invalid_field", "allowed_domains holds at most 64 entries",
			      "allowed_domains");
		return -1;
	}
	*present = 1;
	size_t len = 0, i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char field[48], msg[192], d[EM_SITE_DOMAIN_MAX + 1];
		const char *why = NULL;
		snprintf(field, sizeof field, "allowed_domains[%zu]", i);
		if (!json_is_string(v)) {
			em_resp_error(r, 422, "invalid_field", "expected a host name as a string", field);
			return -1;
		}
		if (json_string_length(v) > EM_SITE_DOMAIN_MAX ||
		    em_sites_domain_check(json_string_value(v), d, sizeof d, &why)) {
			snprintf(msg, sizeof msg, "%s", why ? why : "host names have at most 253 characters");
			em_resp_error(r, 422, "invalid_field", msg, field);
			return -1;
		}
		/* A repeated entry is most likely a typo for another one: say so. */
		for (const char *p = out; *p;) {
			size_t n = strcspn(p, ",");
			if (n == strlen(d) && !strncmp(p, d, n)) {
				em_resp_error(r, 422, "invalid_field", "this domain is listed twice", field);
				return -1;
			}
			p += n + (p[n] == ',');
		}
		size_t dl = strlen(d);
		if (len + (len ? 1 : 0) + dl >= outlen) {
			em_resp_error(r, 422, "invalid_field",
				      "allowed_domains is too long altogether (2047 characters)",
				      "allowed_domains");
			return -1;
		}
		if (len)
			out[len++] = ',';
		memcpy(out + len, d, dl + 1);
		len += dl;
	}
	return 0;
}

/* ---- Answers ---------------------------------------------------------- */

typedef struct site_call {
	em_req *req;
	em_app *app;
	int64_t actor;
	char ip[64];
	char key[EM_SITE_KEY_MAX + 1];
	char detail[EM_SITE_DOMAINS_MAX + 192];
	int ok_status;
	const char *action;
} site_call;

static site_call *call_new(em_req *r, const em_principal *p, const char *key, int ok_status,
			   const char *action)
{
	site_call *c = em_calloc(1, sizeof *c);
	c->req = r;
	c->app = em_req_app(r);
	c->actor = p->operator_id;
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	snprintf(c->key, sizeof c->key, "%s", key);
	c->ok_status = ok_status;
	c->action = action;
	return c;
}

static void changed(int status, const em_site *s, const char *message, void *arg)
{
	site_call *c = arg;
	em_req *r = c->req;
	if (status) {
		em_api_fail(r, status, status == EM_EEXIST && c->ok_status == 201 ? "key" : NULL,
			    status == EM_ENOTFOUND ? "no site with this key" : message);
	} else {
		em_audit(c->app, c->actor, c->action, c->key, c->ip, c->detail[0] ? c->detail : NULL);
		if (c->ok_status == 204)
			em_resp_empty(r, 204);
		else if (s)
			em_resp_json(r, c->ok_status, json_pack("{s:o}", "site", site_json(s)));
		else
			em_resp_error(r, 500, "internal", "the site cache is full", NULL);
	}
	em_free(c);
}

/* ---- Handlers --------------------------------------------------------- */

static void h_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site **all = em_malloc(EM_SITES_MAX * sizeof *all);
	size_t n = em_sites_list(all, EM_SITES_MAX);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, site_json(all[i]));
	em_free(all);
	em_resp_json(r, 200, json_pack("{s:o}", "sites", a));
}

static void h_get(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site *s = em_sites_find(em_req_param(r, "key"));
	if (!s) {
		em_resp_error(r, 404, "not_found", "no site with this key", NULL);
		return;
	}
	em_resp_json(r, 200, json_pack("{s:o}", "site", site_json(s)));
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *key, *name;
	int has_domains;
	em_site in;
	memset(&in, 0, sizeof in);
	if (em_api_str_field(r, body, "key", 1, EM_SITE_KEY_MAX, &key) ||
	    em_api_str_field(r, body, "name", 0, EM_SITE_NAME_MAX, &name))
		goto out;
	if (!em_sites_key_valid(key)) {
		em_resp_error(
			r, 422, "invalid_field",
			"key may contain only lowercase letters, digits, '_' and '-' (1 to 64 characters)",
			"key");
		goto out;
	}
	if (name && !*name) {
		em_resp_error(r, 422, "invalid_field", "name must not be empty", "name");
		goto out;
	}
	if (read_domains(r, body, in.allowed_domains, sizeof in.allowed_domains, &has_domains))
		goto out;
	snprintf(in.key, sizeof in.key, "%s", key);
	snprintf(in.name, sizeof in.name, "%s", name ? name : key);
	site_call *c = call_new(r, p, key, 201, "site.created");
	snprintf(c->detail, sizeof c->detail, "name=%s allowed_domains=%s", in.name, in.allowed_domains);
	em_sites_create(c->app, &in, changed, c);
out:
	json_decref(body);
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *key = em_req_param(r, "key"), *newkey, *name;
	char domains[EM_SITE_DOMAINS_MAX + 1];
	int has_domains;
	if (em_api_str_field(r, body, "key", 0, EM_SITE_KEY_MAX, &newkey) ||
	    em_api_str_field(r, body, "name", 0, EM_SITE_NAME_MAX, &name))
		goto out;
	if (newkey && strcmp(newkey, key)) {
		/* Pages carry the key in their tag: renaming it would cut them off. */
		em_resp_error(
			r, 422, "invalid_field",
			"the key of a site cannot be changed (the shop's pages send it); create a new site",
			"key");
		goto out;
	}
	if (name && !*name) {
		em_resp_error(r, 422, "invalid_field", "name must not be empty", "name");
		goto out;
	}
	if (read_domains(r, body, domains, sizeof domains, &has_domains))
		goto out;
	if (!em_sites_find(key)) {
		em_resp_error(r, 404, "not_found", "no site with this key", NULL);
		goto out;
	}
	site_call *c = call_new(r, p, key, 200, "site.updated");
	size_t n = 0;
	if (name)
		n += (size_t)snprintf(c->detail, sizeof c->detail, "name=%s", name);
	if (has_domains && n < sizeof c->detail)
		snprintf(c->detail + n, sizeof c->detail - n, "%sallowed_domains=%s", n ? " " : "", domains);
	em_sites_update(c->app, key, name, has_domains ? domains : NULL, changed, c);
out:
	json_decref(body);
}

static void h_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *key = em_req_param(r, "key");
	if (!em_sites_find(key)) {
		em_resp_error(r, 404, "not_found", "no site with this key", NULL);
		return;
	}
	if (!strcmp(key, "default")) {
		/* `serve --tail`, `import-log` and the statistics fall back to it. */
		em_resp_error(r, 409, "conflict", "the site 'default' cannot be deleted", NULL);
		return;
	}
	em_sites_delete(em_req_app(r), key, changed, call_new(r, p, key, 204, "site.deleted"));
}

void em_api_sites_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/sites", h_list);
	em_server_route(s, EM_POST, "/api/v1/sites", h_create);
	em_server_route(s, EM_GET, "/api/v1/sites/{key}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/sites/{key}", h_update);
	em_server_route(s, EM_DELETE, "/api/v1/sites/{key}", h_delete);
}
