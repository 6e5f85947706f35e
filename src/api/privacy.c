/*
** REST for privacy (docs/privacy.md): export and erase of a contact or a
** visitor, the widget's own forget request, consent records, and the
** retention report. Thin: validate, call src/crm/privacy, answer.
**
**   GET    /api/v1/contacts/{id}/export        admin
**   DELETE /api/v1/contacts/{id}               admin (erase)
**   GET    /api/v1/contacts/{id}/consents      any operator
**   POST   /api/v1/contacts/{id}/consents      admin, or the owner (or anyone when unowned)
**   GET    /api/v1/visitors/{vid}/export?site= admin
**   DELETE /api/v1/visitors/{vid}?site=        admin (erase)
**   POST   /api/v1/public/forget               the visitor's own request (CORS)
**   GET    /api/v1/privacy/retention           admin (what would go now)
**   POST   /api/v1/privacy/retention           admin (run a pass now)
*/
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/operators.h"
#include "crm/privacy.h"
#include "track/beacon.h"
#include "track/ingest.h"
#include "track/sites.h"

#define CONTACT_ID_MAX 31

static em_app *app_of(em_req *r)
{
	return em_req_app(r);
}

/* The contact id of the path, or NULL after a 404. */
static const char *contact_param(em_req *r)
{
	const char *id = em_req_param(r, "id");
	if (!id || !*id || strlen(id) > CONTACT_ID_MAX) {
		em_resp_error(r, 404, "not_found", "no such contact", NULL);
		return NULL;
	}
	return id;
}

/* The site of ?site= (default "default"), or NULL after a 404. */
static const em_site *site_param(em_req *r)
{
	const char *key = em_req_query_param(r, "site");
	const em_site *site = em_sites_find(key && *key ? key : "default");
	if (!site)
		em_resp_error(r, 404, "not_found", "no such site", "site");
	return site;
}

/* The visitor of the path (a vid shorter than cap) and its site, or NULL
** after a 404. */
static const em_site *visitor_param(em_req *r, size_t cap, const char **vid)
{
	*vid = em_req_param(r, "vid");
	if (!*vid || !**vid || strlen(*vid) >= cap) {
		em_resp_error(r, 404, "not_found", "no such visitor", NULL);
		return NULL;
	}
	return site_param(r);
}

/* ---- Export ---------------------------------------------------------------- */

typedef struct export_ctx {
	em_req *r;
	em_export x;
	char *body;
	size_t len;
	int64_t operator_id;
	char ip[64];
} export_ctx;

/* Builds and serialises on the pool thread: the loop only sends. */
static int export_fn(em_db *db, void *arg)
{
	export_ctx *c = arg;
	int rc = em_privacy_export_db(db, &c->x);
	if (rc)
		return rc;
	c->body = em_json_dump(c->x.out, &c->len);
	json_decref(c->x.out);
	c->x.out = NULL;
	return 0;
}

static void export_done(int status, void *arg)
{
	export_ctx *c = arg;
	if (status == EM_ENOTFOUND) {
		em_resp_error(c->r, 404, "not_found", c->x.contact[0] ? "no such contact" : "no such visitor",
			      NULL);
	} else if (status || !c->body) {
		em_api_fail(c->r, status ? status : EM_EIO, NULL, "the export could not be read");
	} else {
		char disp[160];
		snprintf(disp, sizeof disp, "attachment; filename=\"emma-export-%s.json\"",
			 c->x.contact[0] ? c->x.contact : "visitor");
		em_resp_header(c->r, "Content-Disposition", disp);
		em_resp_header(c->r, "Cache-Control", "no-store");
		em_resp_send(c->r, 200, "application/json", c->body, c->len);
		em_audit(app_of(c->r), c->operator_id,
			 c->x.contact[0] ? "contact.exported" : "visitor.exported", c->x.contact, c->ip,
			 NULL);
	}
	em_free(c->body);
	json_decref(c->x.out);
	em_free(c);
}

static void start_export(em_req *r, export_ctx *c, const em_principal *p)
{
	c->r = r;
	c->operator_id = p->operator_id;
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	if (em_api_store(r, 0, export_fn, export_done, c))
		em_free(c);
}

static void h_contact_export(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *id = contact_param(r);
	if (!id)
		return;
	export_ctx *c = em_calloc(1, sizeof *c);
	snprintf(c->x.contact, sizeof c->x.contact, "%s", id);
	start_export(r, c, p);
}

static void h_visitor_export(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *vid;
	const em_site *site = visitor_param(r, sizeof((em_export *)0)->vid, &vid);
	if (!site)
		return;
	export_ctx *c = em_calloc(1, sizeof *c);
	c->x.site_id = site->id;
	snprintf(c->x.vid, sizeof c->x.vid, "%s", vid);
	start_export(r, c, p);
}

/* ---- Erase ----------------------------------------------------------------- */

typedef struct erase_ctx {
	em_req *r;
	int quiet_404; /* the public forget answers 204 for an unknown vid */
} erase_ctx;

static void erased(int status, em_erase *e, void *arg)
{
	erase_ctx *c = arg;
	if (!status || (status == EM_ENOTFOUND && c->quiet_404))
		em_resp_empty(c->r, 204);
	else if (status == EM_ENOTFOUND)
		em_resp_error(c->r, 404, "not_found", e->contact[0] ? "no such contact" : "no such visitor",
			      NULL);
	else
		em_api_fail(c->r, status, NULL, "the erase could not be stored; nothing was changed");
	em_privacy_erase_free(e);
	em_free(c);
}

static void start_erase(em_req *r, em_erase *e, int64_t operator_id, int quiet_404)
{
	erase_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->quiet_404 = quiet_404;
	em_privacy_erase(app_of(r), e, operator_id, em_req_client_ip(r), erased, c);
}

static void h_contact_erase(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *id = contact_param(r);
	if (!id)
		return;
	em_erase *e = em_calloc(1, sizeof *e);
	snprintf(e->contact, sizeof e->contact, "%s", id);
	start_erase(r, e, p->operator_id, 0);
}

static void h_visitor_erase(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *vid;
	const em_site *site = visitor_param(r, sizeof((em_erase *)0)->vid, &vid);
	if (!site)
		return;
	em_erase *e = em_calloc(1, sizeof *e);
	e->site_id = site->id;
	snprintf(e->vid, sizeof e->vid, "%s", vid);
	start_erase(r, e, p->operator_id, 0);
}

/* ---- The widget's forget request ----------------------------------------- */

static void h_forget(em_req *r)
{
	em_api_public_cors(r);
	em_app *app = app_of(r);
	const char *ip = em_req_client_ip(r);
	int64_t now = em_now_ms();
	int wait = em_ingest_rate_check(app, ip, now);
	if (!wait)
		wait = em_privacy_forget_allowed(ip, now);
	if (wait) {
		em_api_rate_limited(r, wait, "too many requests from this address");
		return;
	}
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *key = NULL, *vid = NULL;
	if (em_api_str_field(r, body, "site", 1, EM_SITE_KEY_MAX, &key) ||
	    em_api_str_field(r, body, "vid", 1, 63, &vid)) {
		json_decref(body);
		return;
	}
	if (!em_beacon_vid_ok(vid)) {
		json_decref(body);
		em_resp_error(r, 422, "invalid_field",
			      "vid must be 1-63 characters of A-Z, a-z, 0-9, _ and -", "vid");
		return;
	}
	const em_site *site = em_sites_find(key);
	if (!site) {
		json_decref(body);
		em_resp_error(r, 422, "invalid_field", "unknown site", "site");
		return;
	}
	if (!em_sites_origin_allowed(site, em_api_page_origin(r))) {
		json_decref(body);
		em_resp_error(r, 403, "forbidden", "this page's origin may not send data for the site",
			      "site");
		return;
	}
	em_erase *e = em_calloc(1, sizeof *e);
	e->site_id = site->id;
	snprintf(e->vid, sizeof e->vid, "%s", vid);
	json_decref(body);
	start_erase(r, e, 0, 1);
}

/* ---- Consent records ------------------------------------------------------ */

typedef struct consent_ctx {
	em_req *r;
	char contact[32];
	int64_t operator_id;
	int is_admin;
	char purpose[EM_PRIVACY_PURPOSE_MAX + 1];
	int granted;
	char *wording;
	char source[EM_PRIVACY_SOURCE_MAX + 1];
	int64_t now;
	json_t *out;
	char ip[64];
	int add; /* POST (201) rather than GET */
} consent_ctx;

static json_t *consent_json(em_stmt *st)
{
	/* Columns: purpose, granted, wording, source, vid, created_at. */
	char t[32];
	em_rfc3339(em_stmt_int(st, 5), t);
	return json_pack("{s:s, s:b, s:s, s:s, s:s?, s:s}", "purpose", em_stmt_text(st, 0), "granted",
			 (int)em_stmt_int(st, 1), "wording", em_stmt_text(st, 2), "source",
			 em_stmt_text(st, 3), "vid", em_stmt_text(st, 4), "at", t);
}

static int consents_list_fn(em_db *db, void *arg)
{
	consent_ctx *c = arg;
	em_stmt *st =
		em_db_prepare(db, "SELECT id, site_id FROM contact WHERE public_id = ?", "t", c->contact);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0, site = rc == 1 ? em_stmt_int(st, 1) : 0;
	em_stmt_done(st);
	if (rc < 0)
		return rc;
	if (!id)
		return EM_ENOTFOUND;
	json_t *list = json_array();
	st = em_db_prepare(db,
			   "SELECT purpose, granted, wording, source, vid, created_at FROM consent_record "
			   "WHERE contact_id = ? OR (site_id = ? AND vid IN (SELECT vid FROM visitor "
			   "WHERE contact_id = ?)) ORDER BY created_at, id",
			   "iii", id, site, id);
	while (st && (rc = em_stmt_step(st)) == 1)
		json_array_append_new(list, consent_json(st));
	em_stmt_done(st);
	c->out = list;
	return st ? (rc < 0 ? rc : 0) : EM_EIO;
}

static int consent_add_fn(em_db *db, void *arg)
{
	consent_ctx *c = arg;
	em_stmt *st = em_db_prepare(db, "SELECT id, site_id, owner_id FROM contact WHERE public_id = ?", "t",
				    c->contact);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	int64_t id = 0, site = 0, owner = 0;
	if (rc == 1) {
		id = em_stmt_int(st, 0);
		site = em_stmt_int(st, 1);
		owner = em_stmt_int(st, 2);
	}
	em_stmt_done(st);
	if (rc < 0)
		return rc;
	if (!id)
		return EM_ENOTFOUND;
	if (!c->is_admin && owner && owner != c->operator_id)
		return EM_EPERM;
	rc = em_privacy_consent_db(db, site, id, NULL, c->purpose, c->granted, c->wording, c->source, c->now);
	/* The contact's marketing flag follows the latest marketing record. */
	if (!rc && !strcmp(c->purpose, "marketing"))
		rc = em_db_exec(db,
				"UPDATE contact SET consent_marketing = ?, consent_at = ?, updated_at = ? "
				"WHERE id = ?",
				"Iiii", c->granted, c->now, c->now, id);
	if (rc)
		return rc;
	char t[32];
	em_rfc3339(c->now, t);
	c->out = json_pack("{s:s, s:b, s:s, s:s, s:n, s:s}", "purpose", c->purpose, "granted", c->granted,
			   "wording", c->wording, "source", c->source, "vid", "at", t);
	return 0;
}

static void consent_done(int status, void *arg)
{
	consent_ctx *c = arg;
	if (status == EM_ENOTFOUND)
		em_resp_error(c->r, 404, "not_found", "no such contact", NULL);
	else if (status == EM_EPERM)
		em_resp_error(c->r, 403, "forbidden", "this contact belongs to another operator", NULL);
	else if (status || !c->out)
		em_api_fail(c->r, status ? status : EM_EIO, NULL, NULL);
	else if (c->add) {
		em_audit(app_of(c->r), c->operator_id, "contact.consent", c->contact, c->ip, c->purpose);
		em_resp_json(c->r, 201, json_pack("{s:O}", "consent", c->out));
	} else
		em_resp_json(c->r, 200, json_pack("{s:O}", "consents", c->out));
	json_decref(c->out);
	em_free(c->wording);
	em_free(c);
}

static void h_consents_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *id = contact_param(r);
	if (!id)
		return;
	consent_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	snprintf(c->contact, sizeof c->contact, "%s", id);
	if (em_api_store(r, 0, consents_list_fn, consent_done, c))
		em_free(c);
}

static void h_consents_add(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *id = contact_param(r);
	if (!id)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *purpose = NULL, *wording = NULL, *source = NULL;
	int granted = 0, has_granted = 0;
	if (em_api_str_field(r, body, "purpose", 1, EM_PRIVACY_PURPOSE_MAX, &purpose) ||
	    em_api_bool_field(r, body, "granted", &granted, &has_granted) ||
	    em_api_str_field(r, body, "wording", 0, EM_PRIVACY_WORDING_MAX, &wording) ||
	    em_api_str_field(r, body, "source", 0, EM_PRIVACY_SOURCE_MAX, &source)) {
		json_decref(body);
		return;
	}
	if (!em_privacy_purpose_ok(purpose)) {
		json_decref(body);
		em_resp_error(
			r, 422, "invalid_field",
			"purpose must be 1-40 characters of a-z, 0-9, '_', '.' and '-' (e.g. marketing)",
			"purpose");
		return;
	}
	if (!has_granted) {
		json_decref(body);
		em_resp_error(r, 422, "invalid_field", "granted is required (true or false)", "granted");
		return;
	}
	if (source && !em_privacy_purpose_ok(source)) {
		json_decref(body);
		em_resp_error(r, 422, "invalid_field",
			      "source must be 1-40 characters of a-z, 0-9, '_', '.' and '-'", "source");
		return;
	}
	consent_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->add = 1;
	snprintf(c->contact, sizeof c->contact, "%s", id);
	c->operator_id = p->operator_id;
	c->is_admin = p->role == EM_ROLE_ADMIN;
	snprintf(c->purpose, sizeof c->purpose, "%s", purpose);
	c->granted = granted;
	c->wording = em_strdup(wording ? wording : "");
	snprintf(c->source, sizeof c->source, "%s", source ? source : "api");
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	c->now = em_now_ms();
	json_decref(body);
	if (em_api_store(r, 1, consent_add_fn, consent_done, c)) {
		em_free(c->wording);
		em_free(c);
	}
}

/* ---- Retention ------------------------------------------------------------ */

static void retention_done(int status, const em_retention *ret, void *arg)
{
	em_req *r = arg;
	if (status == EM_EEXIST)
		em_resp_error(r, 409, "conflict", "a retention pass is running; try again when it ended",
			      NULL);
	else if (status)
		em_api_fail(r, status, NULL,
			    "the retention pass stopped; what was deleted so far stays deleted");
	else
		em_resp_json(r, 200, json_pack("{s:o}", "retention", em_privacy_retention_json(ret)));
}

static void h_retention_report(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	em_privacy_retention_start(app_of(r), 1, p->operator_id, retention_done, r);
}

static void h_retention_run(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	em_privacy_retention_start(app_of(r), 0, p->operator_id, retention_done, r);
}

void em_api_privacy_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}/export", h_contact_export);
	em_server_route(s, EM_DELETE, "/api/v1/contacts/{id}", h_contact_erase);
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}/consents", h_consents_list);
	em_server_route(s, EM_POST, "/api/v1/contacts/{id}/consents", h_consents_add);
	em_server_route(s, EM_GET, "/api/v1/visitors/{vid}/export", h_visitor_export);
	em_server_route(s, EM_DELETE, "/api/v1/visitors/{vid}", h_visitor_erase);
	em_server_route(s, EM_POST, "/api/v1/public/forget", h_forget);
	em_server_route(s, EM_OPTIONS, "/api/v1/public/forget", em_api_public_preflight);
	em_server_route(s, EM_GET, "/api/v1/privacy/retention", h_retention_report);
	em_server_route(s, EM_POST, "/api/v1/privacy/retention", h_retention_run);
}
