/*
** Notes and the contact timeline (docs/contacts.md "Notes", "Timeline"):
**   GET|POST /api/v1/contacts/{id}/notes, GET|POST /api/v1/visitors/{vid}/notes,
**   PATCH|DELETE /api/v1/notes/{id}, GET /api/v1/notes/{id}/revisions,
**   GET /api/v1/contacts/{id}/timeline.
** Every operator reads and writes notes; a note is changed or deleted by its
** author or an admin. Thin: validate, run the crm function in the store,
** answer, and after COMMIT tell the consoles and the webhook sender.
*/
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/err.h"
#include "crm/auth.h"
#include "crm/notes.h"
#include "crm/timeline.h"
#include "crm/webhooks.h"
#include "live/hub.h"
#include "track/sites.h"

/* The store function gets this as its em_note_op: op comes first. */
typedef struct nctx {
	em_note_op op;
	em_req *r;
	em_app *app;
	int status_ok; /* 200, 201 or 204 */
} nctx;

static void nctx_free(nctx *c)
{
	json_decref(c->op.out);
	json_decref(c->op.event);
	em_free(c->op.body);
	em_free(c);
}

static void done(int status, void *arg)
{
	nctx *c = arg;
	if (status == EM_ENOTFOUND) {
		em_resp_error(c->r, 404, "not_found",
			      c->op.note[0]	 ? "no such note"
			      : c->op.contact[0] ? "no such contact"
						 : "no such visitor",
			      NULL);
	} else if (status == EM_EPERM) {
		em_resp_error(c->r, 403, "forbidden", "only the note's author or an admin may change it",
			      NULL);
	} else if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		if (c->op.event)
			em_hub_publish(c->op.event, 0);
		if (c->op.queued)
			em_webhooks_kick();
		if (c->status_ok == 204)
			em_resp_empty(c->r, 204);
		else
			em_resp_json(c->r, c->status_ok, json_incref(c->op.out));
	}
	nctx_free(c);
}

static nctx *ctx_new(em_req *r, const em_principal *p, int status_ok)
{
	nctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->status_ok = status_ok;
	c->op.operator_id = p->operator_id;
	c->op.is_admin = p->role == EM_ROLE_ADMIN;
	return c;
}

static void run(nctx *c, em_db_fn fn, int write)
{
	if (em_api_store(c->r, write, fn, done, c))
		nctx_free(c);
}

/* Fills the target of a notes request from the path: a contact or a
** visitor (with ?site=). 0, or -1 after answering. */
static int target(em_req *r, nctx *c, int on_contact)
{
	if (on_contact)
		return em_api_path_id(r, "id", c->op.contact, sizeof c->op.contact, "no such contact");
	if (em_api_path_id(r, "vid", c->op.vid, sizeof c->op.vid, "no such visitor"))
		return -1;
	const char *key = em_req_query_param(r, "site");
	if (key && *key) {
		const em_site *site = em_sites_find(key);
		if (!site) {
			em_resp_error(r, 404, "not_found", "no such site", "site");
			return -1;
		}
		c->op.site_id = site->id;
	}
	return 0;
}

static void list(em_req *r, int on_contact)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	long long limit = em_api_query_range(r, "limit", EM_NOTE_LIST_DEFAULT, 1, EM_NOTE_LIST_MAX);
	if (limit < 0)
		return;
	nctx *c = ctx_new(r, p, 200);
	c->op.limit = limit;
	const char *cur = em_req_query_param(r, "cursor");
	if (cur && *cur && em_notes_cursor_parse(cur, &c->op.cursor_at, &c->op.cursor_id)) {
		nctx_free(c);
		em_resp_error(r, 422, "invalid_field", "cursor is not one this server gave out", "cursor");
		return;
	}
	if (target(r, c, on_contact)) {
		nctx_free(c);
		return;
	}
	run(c, em_notes_list_db, 0);
}

/* Reads and checks {"body"}; the body is copied into the op. */
static int body_field(em_req *r, json_t *body, nctx *c)
{
	const char *text, *why;
	if (em_api_str_field(r, body, "body", 1, EM_NOTE_BODY_MAX_BYTES, &text))
		return -1;
	if (em_note_body_check(text, strlen(text), &why)) {
		em_resp_error(r, 422, "invalid_field", why, "body");
		return -1;
	}
	c->op.body = em_strdup(text);
	return 0;
}

static void create(em_req *r, int on_contact)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	nctx *c = ctx_new(r, p, 201);
	if (target(r, c, on_contact) || body_field(r, body, c)) {
		json_decref(body);
		nctx_free(c);
		return;
	}
	json_decref(body);
	run(c, em_notes_create_db, 1);
}

static void h_contact_notes(em_req *r)
{
	list(r, 1);
}

static void h_contact_note_create(em_req *r)
{
	create(r, 1);
}

static void h_visitor_notes(em_req *r)
{
	list(r, 0);
}

static void h_visitor_note_create(em_req *r)
{
	create(r, 0);
}

/* The note id of /api/v1/notes/{id}...; 0, or -1 after a 404. */
static int note_id(em_req *r, nctx *c)
{
	return em_api_path_id(r, "id", c->op.note, sizeof c->op.note, "no such note");
}

static void h_update(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	nctx *c = ctx_new(r, p, 200);
	if (note_id(r, c) || body_field(r, body, c)) {
		json_decref(body);
		nctx_free(c);
		return;
	}
	json_decref(body);
	run(c, em_notes_update_db, 1);
}

/* A request on /api/v1/notes/{id} without a body. */
static void on_note(em_req *r, int status_ok, em_db_fn fn, int write)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	nctx *c = ctx_new(r, p, status_ok);
	if (note_id(r, c)) {
		nctx_free(c);
		return;
	}
	run(c, fn, write);
}

static void h_delete(em_req *r)
{
	on_note(r, 204, em_notes_delete_db, 1);
}

static void h_revisions(em_req *r)
{
	on_note(r, 200, em_notes_revisions_db, 0);
}

/* ---- Timeline ------------------------------------------------------------ */

typedef struct tctx {
	em_timeline_q q; /* first: the store function's argument */
	em_req *r;
} tctx;

static void timeline_done(int status, void *arg)
{
	tctx *t = arg;
	if (status == EM_ENOTFOUND)
		em_resp_error(t->r, 404, "not_found", "no such contact", NULL);
	else if (status)
		em_api_fail(t->r, status, NULL, NULL);
	else
		em_resp_json(t->r, 200, json_incref(t->q.out));
	json_decref(t->q.out);
	em_free(t);
}

static void h_timeline(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	long long limit = em_api_query_range(r, "limit", EM_TIMELINE_DEFAULT, 1, EM_TIMELINE_MAX);
	if (limit < 0)
		return;
	tctx *t = em_calloc(1, sizeof *t);
	if (em_api_path_id(r, "id", t->q.contact, sizeof t->q.contact, "no such contact")) {
		em_free(t);
		return;
	}
	t->r = r;
	t->q.limit = limit;
	const char *cur = em_req_query_param(r, "cursor");
	if (cur && *cur && em_timeline_cursor_parse(cur, &t->q)) {
		em_free(t);
		em_resp_error(r, 422, "invalid_field", "cursor is not one this server gave out", "cursor");
		return;
	}
	if (em_api_store(r, 0, em_timeline_db, timeline_done, t))
		em_free(t);
}

void em_api_notes_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}/notes", h_contact_notes);
	em_server_route(s, EM_POST, "/api/v1/contacts/{id}/notes", h_contact_note_create);
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}/timeline", h_timeline);
	em_server_route(s, EM_GET, "/api/v1/visitors/{vid}/notes", h_visitor_notes);
	em_server_route(s, EM_POST, "/api/v1/visitors/{vid}/notes", h_visitor_note_create);
	em_server_route(s, EM_PATCH, "/api/v1/notes/{id}", h_update);
	em_server_route(s, EM_DELETE, "/api/v1/notes/{id}", h_delete);
	em_server_route(s, EM_GET, "/api/v1/notes/{id}/revisions", h_revisions);
}
