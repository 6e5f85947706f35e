/*
** REST for the live chat (docs/chat.md): conversations and their messages,
** accept / transfer / close, operator status, departments, canned responses
** and the widget's chat settings. Thin: validate, call src/chat, answer.
**
** Who may see what: admins everything; agents the queue (pending) and the
** conversations assigned to them. Writes need a session with CSRF or a write
** token (em_auth_require); departments and settings are admin-only.
*/
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "chat/chat.h"
#include "chat/convstore.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/operators.h"
#include "track/sites.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200
#define MESSAGES_MAX 1000
#define SHORTCUT_MAX 32
#define TITLE_MAX 127
#define CANNED_BODY_MAX 4000
#define DEPT_NAME_MAX 127

static const char *outcomes[] = {"sale", "support", "lead", "spam", "other", NULL};

static void chat_answer(int status, json_t *result, void *arg)
{
	em_req *r = arg;
	if (status || !result) {
		json_decref(result);
		em_api_fail(r, status ? status : EM_EIO, NULL, NULL);
		return;
	}
	em_resp_json(r, 200, json_pack("{s:o}", "conversation", result));
}

/* Answers an immediate failure of a chat operation. */
static void chat_fail(em_req *r, int rc)
{
	if (rc == EM_EEXIST)
		em_resp_error(r, 409, "conflict", "another operator took this conversation", NULL);
	else if (rc == EM_ENOTFOUND)
		em_resp_error(r, 404, "not_found", "no open conversation with this id", NULL);
	else if (rc == EM_EPERM)
		em_resp_error(r, 403, "forbidden", "this conversation is not yours", NULL);
	else
		em_api_fail(r, rc, NULL, NULL);
}

/* ---- Reading ------------------------------------------------------------ */

typedef struct read_ctx {
	em_req *r;
	em_conv_query q;
	int64_t operator_id;
	int is_admin;
	char operator_public[32];
	int with_messages;
} read_ctx;

static void list_done(int status, void *arg)
{
	read_ctx *rc = arg;
	if (status) {
		em_api_fail(rc->r, status, NULL, NULL);
	} else {
		json_t *o = json_pack("{s:O}", "conversations", rc->q.out);
		if (rc->q.next_cursor) {
			char cur[32];
			snprintf(cur, sizeof cur, "%lld", (long long)rc->q.next_cursor);
			json_object_set_new(o, "next_cursor", json_string(cur));
		} else {
			json_object_set_new(o, "next_cursor", json_null());
		}
		em_resp_json(rc->r, 200, o);
	}
	json_decref(rc->q.out);
	em_free(rc);
}

static int list_fn(em_db *db, void *arg)
{
	return em_convstore_list(db, &((read_ctx *)arg)->q);
}

static void h_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *st = em_req_query_param(r, "status");
	int status = -1;
	if (st && *st) {
		if (!strcmp(st, "pending"))
			status = EM_CONV_PENDING;
		else if (!strcmp(st, "open"))
			status = EM_CONV_OPEN;
		else if (!strcmp(st, "closed"))
			status = EM_CONV_CLOSED;
		else {
			em_resp_error(r, 422, "invalid", "status must be pending, open or closed", "status");
			return;
		}
	}
	long long limit = em_api_query_int(r, "limit", LIST_DEFAULT, LIST_MAX);
	if (limit < 0)
		return;
	long long cursor = em_api_query_int(r, "cursor", 0, (long long)1 << 62);
	if (cursor < 0)
		return;
	read_ctx *rc = em_calloc(1, sizeof *rc);
	rc->r = r;
	rc->q.status = status;
	rc->q.limit = limit ? (int)limit : LIST_DEFAULT;
	rc->q.cursor = cursor;
	rc->q.operator_id = p->role == EM_ROLE_ADMIN ? 0 : p->operator_id;
	if (em_api_store(r, 0, list_fn, list_done, rc))
		em_free(rc);
}

/* Agents read their own conversations and the queue. */
static int may_read(const read_ctx *rc, const json_t *conv)
{
	if (rc->is_admin)
		return 1;
	if (!strcmp(em_json_str(conv, "status", ""), "pending"))
		return 1;
	const json_t *op = json_object_get(conv, "operator");
	return op && !strcmp(em_json_str(op, "id", ""), rc->operator_public);
}

static void messages_done(int status, void *arg)
{
	read_ctx *rc = arg;
	json_t *conv = json_object_get(rc->q.out, "conversation");
	if (status)
		em_api_fail(rc->r, status, NULL, NULL);
	else if (rc->with_messages)
		em_resp_json(rc->r, 200, json_incref(rc->q.out));
	else
		em_resp_json(rc->r, 200,
			     json_pack("{s:O}", "messages", json_object_get(rc->q.out, "messages")));
	(void)conv;
	json_decref(rc->q.out);
	em_free(rc);
}

/* Reads the conversation, checks who asks, then its messages. */
static int get_fn(em_db *db, void *arg)
{
	read_ctx *rc = arg;
	int e = em_convstore_get(db, &rc->q);
	if (e)
		return e;
	json_t *conv = rc->q.out;
	if (!may_read(rc, conv)) {
		json_decref(conv);
		rc->q.out = NULL;
		return EM_EPERM;
	}
	rc->q.out = NULL;
	e = em_convstore_messages(db, &rc->q);
	json_t *msgs = rc->q.out;
	rc->q.out = json_pack("{s:o, s:o}", "conversation", conv, "messages", msgs ? msgs : json_array());
	return e;
}

static void get_common(em_req *r, int with_messages)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *id = em_req_param(r, "id");
	if (strlen(id) >= 32) {
		em_resp_error(r, 404, "not_found", "no such conversation", NULL);
		return;
	}
	long long after = em_api_query_int(r, "after", 0, (long long)1 << 62);
	if (after < 0)
		return;
	long long limit = em_api_query_int(r, "limit", MESSAGES_MAX, MESSAGES_MAX);
	if (limit < 0)
		return;
	read_ctx *rc = em_calloc(1, sizeof *rc);
	rc->r = r;
	snprintf(rc->q.conv, sizeof rc->q.conv, "%s", id);
	rc->q.after = after;
	rc->q.limit = limit ? (int)limit : MESSAGES_MAX;
	rc->q.include_internal = 1;
	rc->operator_id = p->operator_id;
	rc->is_admin = p->role == EM_ROLE_ADMIN;
	snprintf(rc->operator_public, sizeof rc->operator_public, "%s", p->public_id);
	rc->with_messages = with_messages;
	if (em_api_store(r, 0, get_fn, messages_done, rc))
		em_free(rc);
}

static void h_get(em_req *r)
{
	get_common(r, 1);
}

static void h_messages(em_req *r)
{
	get_common(r, 0);
}

/* ---- Changing ----------------------------------------------------------- */

static void posted(int status, json_t *result, void *arg)
{
	em_req *r = arg;
	if (status || !result) {
		json_decref(result);
		em_api_fail(r, status ? status : EM_EIO, NULL, NULL);
		return;
	}
	json_object_del(result, "type");
	em_resp_json(r, 201, result);
}

static void h_post_message_json(em_req *r, const em_principal *p, json_t *body)
{
	const char *text, *client_id;
	int internal = 0, present;
	if (em_api_str_field(r, body, "body", 1, EM_CHAT_BODY_MAX_BYTES, &text) ||
	    em_api_str_field(r, body, "client_id", 0, EM_CHAT_CLIENT_ID_MAX, &client_id) ||
	    em_api_bool_field(r, body, "internal", &internal, &present))
		return;
	int rc = em_chat_post_operator(em_req_param(r, "id"), p->operator_id, p->role == EM_ROLE_ADMIN,
				       client_id, text, internal, posted, r);
	if (rc == EM_ERANGE)
		em_resp_error(r, 422, "invalid", "body must be 1-4000 characters of text", "body");
	else if (rc == EM_EINVAL)
		em_resp_error(r, 422, "invalid", "client_id must be 1-64 printable characters", "client_id");
	else if (rc)
		chat_fail(r, rc);
}

static void h_post_message(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_post_message_json);
}

static void h_accept(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	int rc = em_chat_accept(em_req_param(r, "id"), p->operator_id, chat_answer, r);
	if (rc)
		chat_fail(r, rc);
}

static void h_transfer_json(em_req *r, const em_principal *p, json_t *body)
{
	const char *to_op, *to_dep;
	if (em_api_str_field(r, body, "operator", 0, 31, &to_op) ||
	    em_api_str_field(r, body, "department", 0, 31, &to_dep))
		return;
	if (!to_op == !to_dep) {
		em_resp_error(r, 422, "invalid", "give either operator or department", "operator");
		return;
	}
	int rc = em_chat_transfer(em_req_param(r, "id"), p->operator_id, p->role == EM_ROLE_ADMIN, to_op,
				  to_dep, chat_answer, r);
	if (rc == EM_EINVAL)
		em_resp_error(r, 422, "invalid", to_op ? "no such operator" : "no such department",
			      to_op ? "operator" : "department");
	else if (rc)
		chat_fail(r, rc);
}

static void h_transfer(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_transfer_json);
}

static void closed(int status, json_t *result, void *arg)
{
	em_req *r = arg;
	if (status || !result) {
		json_decref(result);
		em_api_fail(r, status ? status : EM_EIO, NULL, NULL);
		return;
	}
	em_resp_json(r, 200, json_pack("{s:o}", "conversation", result));
}

static void h_close_json(em_req *r, const em_principal *p, json_t *body)
{
	const char *outcome;
	if (em_api_str_field(r, body, "outcome", 0, 15, &outcome))
		return;
	if (!outcome)
		outcome = "other";
	int ok = 0;
	for (int i = 0; outcomes[i]; i++)
		ok |= !strcmp(outcome, outcomes[i]);
	if (!ok) {
		em_resp_error(r, 422, "invalid", "outcome must be sale, support, lead, spam or other",
			      "outcome");
		return;
	}
	int rc = em_chat_close(em_req_param(r, "id"), p->operator_id, p->role == EM_ROLE_ADMIN, outcome,
			       closed, r);
	if (rc)
		chat_fail(r, rc);
}

static void h_close(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_close_json);
}

static void h_status(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	if (em_req_method(r) == EM_GET) {
		em_resp_json(r, 200, json_pack("{s:s}", "status", em_chat_status_of(p->operator_id)));
		return;
	}
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *st;
	if (em_api_str_field(r, body, "status", 1, 15, &st)) {
		json_decref(body);
		return;
	}
	int rc = em_chat_set_status(p->operator_id, st);
	json_decref(body);
	if (rc == EM_EINVAL)
		em_resp_error(r, 422, "invalid", "status must be online or away", "status");
	else if (rc == EM_ENOTFOUND)
		em_resp_error(r, 409, "conflict",
			      "open the console first: status belongs to a connected operator", NULL);
	else
		em_resp_json(r, 200, json_pack("{s:s}", "status", em_chat_status_of(p->operator_id)));
}

static void h_chat_operators(em_req *r)
{
	if (em_auth_require(r, EM_AUTH_ANY))
		em_resp_json(r, 200, json_pack("{s:o}", "operators", em_chat_operators_json()));
}

/* ---- Departments, canned responses, settings ----------------------------
** Small tables; each handler runs one db function and answers from its
** result. */

typedef struct db_ctx {
	em_req *r;
	em_app *app;
	int64_t operator_id;
	int is_admin;
	char ip[64];
	char id[32];
	char a[256], b[256];
	char *text;
	json_t *in;  /* request data (owned) */
	json_t *out; /* result (owned) */
	int status_ok;
	const char *audit;
	int reload;
	int64_t site_id;
} db_ctx;

static db_ctx *ctx_new(em_req *r, const em_principal *p, int status_ok)
{
	db_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->operator_id = p->operator_id;
	c->is_admin = p->role == EM_ROLE_ADMIN;
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	c->status_ok = status_ok;
	return c;
}

static void ctx_done(int status, void *arg)
{
	db_ctx *c = arg;
	if (status) {
		em_api_fail(c->r, status, status == EM_EEXIST ? "shortcut" : NULL,
			    status == EM_EEXIST ? "this shortcut exists already" : NULL);
	} else {
		if (c->audit)
			em_audit(c->app, c->operator_id, c->audit, c->id, c->ip, NULL);
		if (c->reload)
			em_chat_reload_operators();
		if (c->status_ok == 204)
			em_resp_empty(c->r, 204);
		else
			em_resp_json(c->r, c->status_ok, json_incref(c->out));
	}
	json_decref(c->in);
	json_decref(c->out);
	em_free(c->text);
	em_free(c);
}

static void run(db_ctx *c, em_db_fn fn, int write)
{
	if (em_api_store(c->r, write, fn, ctx_done, c)) {
		json_decref(c->in);
		em_free(c->text);
		em_free(c);
	}
}

static int depts_list_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	json_t *list = json_array();
	c->out = json_pack("{s:o}", "departments", list);
	em_stmt *st = em_db_prepare(db,
				    "SELECT d.id, d.public_id, d.name, s.key FROM department d"
				    " LEFT JOIN site s ON s.id = d.site_id ORDER BY d.name",
				    "");
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *ops = json_array();
		json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:o}", "id", em_stmt_text(st, 1),
						      "name", em_stmt_text(st, 2), "site",
						      em_stmt_text(st, 3), "operators", ops));
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	st = em_db_prepare(
		db,
		"SELECT d.public_id, o.public_id FROM operator_department od"
		" JOIN department d ON d.id = od.department_id JOIN operator o ON o.id = od.operator_id",
		"");
	while ((rc = em_stmt_step(st)) == 1) {
		size_t i;
		json_t *d;
		json_array_foreach(list, i, d) if (!strcmp(em_json_str(d, "id", ""), em_stmt_text(st, 0)))
			json_array_append_new(json_object_get(d, "operators"),
					      json_string(em_stmt_text(st, 1)));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void h_depts_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (p)
		run(ctx_new(r, p, 200), depts_list_fn, 0);
}

/* Sets a department's members from c->in["operators"] (public ids). */
static int set_members(em_db *db, int64_t dept_id, const json_t *ops)
{
	if (!ops)
		return 0;
	if (em_db_exec(db, "DELETE FROM operator_department WHERE department_id = ?", "i", dept_id))
		return EM_EIO;
	size_t i;
	json_t *o;
	json_array_foreach(ops, i, o)
	{
		em_stmt *st = em_db_prepare(db, "SELECT id FROM operator WHERE public_id = ?", "t",
					    json_string_value(o));
		int rc = em_stmt_step(st);
		int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
		em_stmt_done(st);
		if (rc != 1)
			return rc < 0 ? EM_EIO : EM_EINVAL;
		if (em_db_exec(db,
			       "INSERT INTO operator_department (operator_id, department_id) VALUES (?, ?)"
			       " ON CONFLICT DO NOTHING",
			       "ii", id, dept_id))
			return EM_EIO;
	}
	return 0;
}

static int dept_create_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	int64_t now = em_now_ms();
	if (em_db_exec(db,
		       "INSERT INTO department (public_id, site_id, name, created_at) VALUES (?, nullif(?, "
		       "0), ?, ?)",
		       "titi", c->id, c->site_id, c->a, now))
		return EM_EIO;
	int rc = set_members(db, em_db_last_id(db), json_object_get(c->in, "operators"));
	if (rc)
		return rc;
	c->out = json_pack("{s:{s:s, s:s, s:O}}", "department", "id", c->id, "name", c->a, "operators",
			   json_object_get(c->in, "operators") ? json_object_get(c->in, "operators")
							       : json_null());
	return 0;
}

static int dept_update_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	em_stmt *st = em_db_prepare(db, "SELECT id, name FROM department WHERE public_id = ?", "t", c->id);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
	if (rc == 1 && !c->a[0])
		snprintf(c->a, sizeof c->a, "%s", em_stmt_text(st, 1));
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (em_db_exec(db, "UPDATE department SET name = ? WHERE id = ?", "ti", c->a, id))
		return EM_EIO;
	rc = set_members(db, id, json_object_get(c->in, "operators"));
	if (rc)
		return rc;
	c->out = json_pack("{s:{s:s, s:s}}", "department", "id", c->id, "name", c->a);
	return 0;
}

static int dept_delete_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	em_stmt *st = em_db_prepare(db, "SELECT id FROM department WHERE public_id = ?", "t", c->id);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (em_db_exec(db, "UPDATE conversation SET department_id = NULL WHERE department_id = ?", "i", id) ||
	    em_db_exec(db, "UPDATE invitation_rule SET department_id = NULL WHERE department_id = ?", "i",
		       id) ||
	    em_db_exec(db, "DELETE FROM operator_department WHERE department_id = ?", "i", id) ||
	    em_db_exec(db, "DELETE FROM department WHERE id = ?", "i", id))
		return EM_EIO;
	return 0;
}

/* Validates {name, site?, operators?}; -1 after answering. */
static int dept_input(em_req *r, json_t *body, db_ctx *c, int create)
{
	const char *name, *site;
	if (em_api_str_field(r, body, "name", create, DEPT_NAME_MAX, &name) ||
	    em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site))
		return -1;
	if (name && !*name) {
		em_resp_error(r, 422, "invalid", "name must not be empty", "name");
		return -1;
	}
	if (site) {
		const em_site *s = em_sites_find(site);
		if (!s) {
			em_resp_error(r, 422, "invalid", "no such site", "site");
			return -1;
		}
		c->site_id = s->id;
	}
	json_t *ops = json_object_get(body, "operators");
	if (ops && !json_is_array(ops)) {
		em_resp_error(r, 422, "invalid", "operators must be an array of operator ids", "operators");
		return -1;
	}
	size_t i;
	json_t *o;
	json_array_foreach(ops, i, o) if (!json_is_string(o) || strlen(json_string_value(o)) > 31)
	{
		char f[32];
		snprintf(f, sizeof f, "operators[%zu]", i);
		em_resp_error(r, 422, "invalid", "expected an operator id", f);
		return -1;
	}
	snprintf(c->a, sizeof c->a, "%s", name ? name : "");
	c->in = json_pack("{s:O?}", "operators", ops);
	return 0;
}

static void h_dept_create_json(em_req *r, const em_principal *p, json_t *body)
{
	db_ctx *c = ctx_new(r, p, 201);
	if (dept_input(r, body, c, 1)) {
		em_free(c);
		return;
	}
	c->id[0] = 'd';
	em_id_random(c->id + 1, sizeof c->id - 1, 8);
	c->audit = "department.create";
	c->reload = 1;
	run(c, dept_create_fn, 1);
}

static void h_dept_create(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_dept_create_json);
}

static void h_dept_update_json(em_req *r, const em_principal *p, json_t *body)
{
	db_ctx *c = ctx_new(r, p, 200);
	if (dept_input(r, body, c, 0)) {
		em_free(c);
		return;
	}
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	c->audit = "department.update";
	c->reload = 1;
	run(c, dept_update_fn, 1);
}

static void h_dept_update(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_dept_update_json);
}

static void h_dept_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	db_ctx *c = ctx_new(r, p, 204);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	c->audit = "department.delete";
	c->reload = 1;
	run(c, dept_delete_fn, 1);
}

/* Canned responses: shared ones (operator NULL, admins write them) and each
** operator's own. */
static json_t *canned_row(em_stmt *st)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", em_stmt_text(st, 0), "shortcut",
			 em_stmt_text(st, 1), "title", em_stmt_text(st, 2), "body", em_stmt_text(st, 3),
			 "personal", !em_stmt_is_null(st, 4));
}

static int canned_list_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	json_t *list = json_array();
	c->out = json_pack("{s:o}", "canned", list);
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT public_id, shortcut, title, body, operator_id FROM canned_response"
			      " WHERE operator_id IS NULL OR operator_id = ? ORDER BY shortcut",
			      "i", c->operator_id);
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(list, canned_row(st));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void h_canned_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (p)
		run(ctx_new(r, p, 200), canned_list_fn, 0);
}

static int shortcut_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* Validates {shortcut, title?, body, personal?}; -1 after answering. */
static int canned_input(em_req *r, json_t *body, db_ctx *c, int create, int *personal)
{
	const char *shortcut, *title, *text;
	int present = 0;
	*personal = 0;
	if (em_api_str_field(r, body, "shortcut", create, SHORTCUT_MAX, &shortcut) ||
	    em_api_str_field(r, body, "title", 0, TITLE_MAX, &title) ||
	    em_api_str_field(r, body, "body", create, CANNED_BODY_MAX, &text) ||
	    em_api_bool_field(r, body, "personal", personal, &present))
		return -1;
	if (shortcut && !shortcut_ok(shortcut)) {
		em_resp_error(r, 422, "invalid", "shortcut: lowercase letters, digits, '-' and '_'",
			      "shortcut");
		return -1;
	}
	if (text && !*text) {
		em_resp_error(r, 422, "invalid", "body must not be empty", "body");
		return -1;
	}
	c->in = json_pack("{s:s?, s:s?, s:s?}", "shortcut", shortcut, "title", title, "body", text);
	return 0;
}

static int canned_create_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	int64_t now = em_now_ms();
	int personal = c->site_id; /* reused as the personal flag */
	int rc = em_db_exec(
		db,
		"INSERT INTO canned_response (public_id, operator_id, shortcut, title, body, created_at,"
		" updated_at) VALUES (?, nullif(?, 0), ?, ?, ?, ?, ?)",
		"titttii", c->id, personal ? c->operator_id : (int64_t)0, em_json_str(c->in, "shortcut", ""),
		em_json_str(c->in, "title", ""), em_json_str(c->in, "body", ""), now, now);
	if (rc)
		return rc == EM_EEXIST ? EM_EEXIST : EM_EIO;
	c->out = json_pack("{s:{s:s, s:s, s:s, s:s, s:b}}", "canned", "id", c->id, "shortcut",
			   em_json_str(c->in, "shortcut", ""), "title", em_json_str(c->in, "title", ""),
			   "body", em_json_str(c->in, "body", ""), "personal", personal);
	return 0;
}

/* Finds a canned response the actor may change: their own, or a shared one
** for an admin. */
static int canned_find(em_db *db, db_ctx *c, int64_t *id)
{
	em_stmt *st = em_db_prepare(db, "SELECT id, operator_id FROM canned_response WHERE public_id = ?",
				    "t", c->id);
	int rc = em_stmt_step(st);
	*id = rc == 1 ? em_stmt_int(st, 0) : 0;
	int shared = rc == 1 && em_stmt_is_null(st, 1);
	int64_t owner = rc == 1 ? em_stmt_int(st, 1) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (shared ? !c->is_admin : owner != c->operator_id)
		return shared ? EM_EPERM : EM_ENOTFOUND;
	return 0;
}

static int canned_update_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	int64_t id;
	int rc = canned_find(db, c, &id);
	if (rc)
		return rc;
	rc = em_db_exec(
		db,
		"UPDATE canned_response SET shortcut = coalesce(?, shortcut), title = coalesce(?, title),"
		" body = coalesce(?, body), updated_at = ? WHERE id = ?",
		"tttii", em_json_str(c->in, "shortcut", NULL), em_json_str(c->in, "title", NULL),
		em_json_str(c->in, "body", NULL), em_now_ms(), id);
	if (rc)
		return rc == EM_EEXIST ? EM_EEXIST : EM_EIO;
	em_stmt *st = em_db_prepare(
		db, "SELECT public_id, shortcut, title, body, operator_id FROM canned_response WHERE id = ?",
		"i", id);
	if (em_stmt_step(st) == 1)
		c->out = json_pack("{s:o}", "canned", canned_row(st));
	em_stmt_done(st);
	return c->out ? 0 : EM_EIO;
}

static int canned_delete_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	int64_t id;
	int rc = canned_find(db, c, &id);
	if (rc)
		return rc;
	return em_db_exec(db, "DELETE FROM canned_response WHERE id = ?", "i", id) ? EM_EIO : 0;
}

static void h_canned_create_json(em_req *r, const em_principal *p, json_t *body)
{
	db_ctx *c = ctx_new(r, p, 201);
	int personal;
	if (canned_input(r, body, c, 1, &personal)) {
		em_free(c);
		return;
	}
	if (!personal && !c->is_admin) {
		json_decref(c->in);
		em_free(c);
		em_resp_error(r, 403, "forbidden", "only admins write shared canned responses; set personal",
			      "personal");
		return;
	}
	c->site_id = personal;
	c->id[0] = 'k';
	em_id_random(c->id + 1, sizeof c->id - 1, 8);
	c->audit = "canned.create";
	run(c, canned_create_fn, 1);
}

static void h_canned_create(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_canned_create_json);
}

static void h_canned_update_json(em_req *r, const em_principal *p, json_t *body)
{
	db_ctx *c = ctx_new(r, p, 200);
	int personal;
	if (canned_input(r, body, c, 0, &personal)) {
		em_free(c);
		return;
	}
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	c->audit = "canned.update";
	run(c, canned_update_fn, 1);
}

static void h_canned_update(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_canned_update_json);
}

static void h_canned_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	db_ctx *c = ctx_new(r, p, 204);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	c->audit = "canned.delete";
	run(c, canned_delete_fn, 1);
}

/* Widget settings per site. */
static const em_site *site_param(em_req *r)
{
	const char *key = em_req_query_param(r, "site");
	const em_site *s = em_sites_find(key && *key ? key : "default");
	if (!s)
		em_resp_error(r, 404, "not_found", "no such site", "site");
	return s;
}

static void h_settings_get(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site *s = site_param(r);
	if (s)
		em_resp_json(r, 200, json_pack("{s:o}", "settings", em_chat_settings_json(s->id)));
}

static int settings_fn(em_db *db, void *arg)
{
	db_ctx *c = arg;
	json_t *in = c->in;
	return em_db_exec(db,
			  "INSERT INTO chat_settings (site_id, prechat_name, prechat_email, prechat_consent,"
			  " greeting, color, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id) "
			  "DO UPDATE"
			  " SET prechat_name = excluded.prechat_name, prechat_email = excluded.prechat_email,"
			  " prechat_consent = excluded.prechat_consent, greeting = excluded.greeting,"
			  " color = excluded.color, updated_at = excluded.updated_at",
			  "ittttti", c->site_id, em_json_str(in, "name", "optional"),
			  em_json_str(in, "email", "optional"), em_json_str(in, "consent", "off"),
			  em_json_str(in, "greeting", ""), em_json_str(in, "color", ""), em_now_ms())
		       ? EM_EIO
		       : 0;
}

static void settings_done(int status, void *arg)
{
	db_ctx *c = arg;
	if (!status) {
		em_chat_settings_apply(c->site_id, c->in);
		c->out = json_pack("{s:o}", "settings", em_chat_settings_json(c->site_id));
	}
	ctx_done(status, c);
}

static void h_settings_put_json(em_req *r, const em_principal *p, json_t *body)
{
	const em_site *s = site_param(r);
	if (!s)
		return;
	json_t *cur = em_chat_settings_json(s->id);
	static const char *modes[] = {"name", "email", "consent"};
	for (int i = 0; i < 3; i++) {
		const char *v;
		if (em_api_str_field(r, body, modes[i], 0, 15, &v)) {
			json_decref(cur);
			return;
		}
		if (v && strcmp(v, "off") && strcmp(v, "optional") && strcmp(v, "required")) {
			json_decref(cur);
			em_resp_error(r, 422, "invalid", "expected off, optional or required", modes[i]);
			return;
		}
		if (v)
			json_object_set_new(cur, modes[i], json_string(v));
	}
	const char *greeting, *color;
	if (em_api_str_field(r, body, "greeting", 0, 500, &greeting) ||
	    em_api_str_field(r, body, "color", 0, 7, &color)) {
		json_decref(cur);
		return;
	}
	if (color && *color) {
		int ok = color[0] == '#' && strlen(color) == 7;
		for (int i = 1; ok && i < 7; i++)
			ok = strchr("0123456789abcdefABCDEF", color[i]) != NULL;
		if (!ok) {
			json_decref(cur);
			em_resp_error(r, 422, "invalid", "color must look like #1a7f5a", "color");
			return;
		}
	}
	if (greeting)
		json_object_set_new(cur, "greeting", json_string(greeting));
	if (color)
		json_object_set_new(cur, "color", json_string(color));
	db_ctx *c = ctx_new(r, p, 200);
	c->in = cur;
	c->site_id = s->id;
	snprintf(c->a, sizeof c->a, "%s", s->key);
	c->audit = "chat.settings";
	if (em_api_store(r, 1, settings_fn, settings_done, c)) {
		json_decref(c->in);
		em_free(c);
	}
}

static void h_settings_put(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_settings_put_json);
}

void em_api_conversations_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/conversations", h_list);
	em_server_route(s, EM_GET, "/api/v1/conversations/{id}", h_get);
	em_server_route(s, EM_GET, "/api/v1/conversations/{id}/messages", h_messages);
	em_server_route(s, EM_POST, "/api/v1/conversations/{id}/messages", h_post_message);
	em_server_route(s, EM_POST, "/api/v1/conversations/{id}/accept", h_accept);
	em_server_route(s, EM_POST, "/api/v1/conversations/{id}/transfer", h_transfer);
	em_server_route(s, EM_POST, "/api/v1/conversations/{id}/close", h_close);
	em_server_route(s, EM_GET, "/api/v1/me/status", h_status);
	em_server_route(s, EM_PUT, "/api/v1/me/status", h_status);
	em_server_route(s, EM_GET, "/api/v1/chat/operators", h_chat_operators);
	em_server_route(s, EM_GET, "/api/v1/chat/settings", h_settings_get);
	em_server_route(s, EM_PUT, "/api/v1/chat/settings", h_settings_put);
	em_server_route(s, EM_GET, "/api/v1/departments", h_depts_list);
	em_server_route(s, EM_POST, "/api/v1/departments", h_dept_create);
	em_server_route(s, EM_PATCH, "/api/v1/departments/{id}", h_dept_update);
	em_server_route(s, EM_DELETE, "/api/v1/departments/{id}", h_dept_delete);
	em_server_route(s, EM_GET, "/api/v1/canned", h_canned_list);
	em_server_route(s, EM_POST, "/api/v1/canned", h_canned_create);
	em_server_route(s, EM_PATCH, "/api/v1/canned/{id}", h_canned_update);
	em_server_route(s, EM_DELETE, "/api/v1/canned/{id}", h_canned_delete);
}
