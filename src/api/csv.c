/*
** REST: CSV import and export of contacts (docs/contacts.md, "CSV"), admins
** only.
**
**   POST /api/v1/contacts/import?dry_run=1&site=KEY   body text/csv -> report
**   GET  /api/v1/contacts/export.csv?stage=&tag=&site=KEY -> text/csv
**
** The file is parsed and checked on store reads (the thread pool). A dry
** run is planned there too; a real import applies the good rows in writes
** of EM_CSV_CHUNK_ROWS rows each, one after the other, so other writes go
** on in between, while the next rows are parsed, and a few more writes add
** the new contacts to the search index. The logic lives in crm/csvio.c.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/csvio.h"
#include "crm/webhooks.h"
#include "track/sites.h"

#define EXPORT_MAX ((size_t)256 << 20)

/* The site named by ?site=, or the first site. 0 after answering 422. */
static int64_t site_of(em_req *r)
{
	const char *key = em_req_query_param(r, "site");
	if (key && *key) {
		const em_site *s = em_sites_find(key);
		if (!s) {
			em_resp_error(r, 422, "invalid_field", "no such site", "site");
			return 0;
		}
		return s->id;
	}
	const em_site *first = NULL;
	if (em_sites_list(&first, 1) != 1) {
		em_resp_error(r, 422, "invalid_field", "create a site first", "site");
		return 0;
	}
	return first->id;
}

/* ---- Import ---------------------------------------------------------------- */

typedef struct import_ctx {
	em_req *r;
	em_csv_import *imp;
	int64_t operator_id;
	int chunks;
	int reading, writing; /* a parse read, a chunk write in flight */
	int status;	      /* the first failure */
	int write_failed;     /* ... and whether a write failed */
} import_ctx;

static void import_free(import_ctx *c)
{
	em_csv_import_free(c->imp);
	em_free(c);
}

static void pump(import_ctx *c);

static int prepare_fn(em_db *db, void *arg)
{
	return em_csv_import_prepare_db(db, ((import_ctx *)arg)->imp);
}

static int parse_fn(em_db *db, void *arg)
{
	return em_csv_import_parse_db(db, ((import_ctx *)arg)->imp);
}

static int chunk_fn(em_db *db, void *arg)
{
	return em_csv_import_chunk_db(db, ((import_ctx *)arg)->imp);
}

static void finish(import_ctx *c)
{
	em_app *app = em_req_app(c->r);
	json_t *rep = em_csv_import_report(c->imp);
	if (!json_is_true(json_object_get(rep, "dry_run"))) {
		char detail[160];
		snprintf(detail, sizeof detail, "rows=%lld created=%lld updated=%lld skipped=%lld",
			 (long long)json_integer_value(json_object_get(rep, "rows")),
			 (long long)json_integer_value(json_object_get(rep, "created")),
			 (long long)json_integer_value(json_object_get(rep, "updated")),
			 (long long)json_integer_value(json_object_get(rep, "skipped")));
		em_audit(app, c->operator_id, "contacts.import", NULL, em_req_client_ip(c->r), detail);
		em_webhooks_kick();
	}
	em_resp_json(c->r, 200, rep);
	import_free(c);
}

/* Answers a failure once nothing is in flight any more. */
static void fail(import_ctx *c)
{
	int status = c->status;
	if (!c->write_failed) {
		em_api_fail(c->r, status, NULL, NULL);
		import_free(c);
		return;
	}
	/* Earlier chunks are committed; the failed one was rolled back whole. */
	json_t *rep = em_csv_import_report(c->imp);
	char msg[200];
	snprintf(msg, sizeof msg,
		 "the import stopped (%s); %lld rows were applied before, the rest was not: fix the "
		 "cause "
		 "and import the file again (applied rows come out unchanged)",
		 em_strerror(status),
		 (long long)(json_integer_value(json_object_get(rep, "created")) +
			     json_integer_value(json_object_get(rep, "updated"))));
	json_decref(rep);
	em_warn("contact import stopped", "status=%s", em_strerror(status));
	em_resp_error(c->r, status == EM_EAGAIN ? 503 : 500, status == EM_EAGAIN ? "unavailable" : "internal",
		      msg, NULL);
	import_free(c);
}

static void parse_done(int status, void *arg)
{
	import_ctx *c = arg;
	c->reading = 0;
	if (status && !c->status)
		c->status = status;
	pump(c);
}

static void chunk_done(int status, void *arg)
{
	import_ctx *c = arg;
	c->writing = 0;
	if (status && !c->status)
		c->status = status, c->write_failed = 1;
	if (!status)
		c->chunks++;
	pump(c);
}

/* Keeps the parser (a store read) and the writer (a chunk write) busy at
** the same time: the writer never waits for rows the parser could have
** read meanwhile. Answers when both are done. */
static void pump(import_ctx *c)
{
	em_store *s = ((em_app *)em_req_app(c->r))->store;
	if (!c->status && !c->reading && !em_csv_import_parsed(c->imp)) {
		int e = em_store_read(s, parse_fn, parse_done, c);
		if (e)
			c->status = e;
		else
			c->reading = 1;
	}
	if (!c->status && !c->writing && !em_csv_import_finished(c->imp) && em_csv_import_ready(c->imp)) {
		int e = em_store_write(s, chunk_fn, chunk_done, c);
		if (e)
			c->status = e, c->write_failed = 1;
		else
			c->writing = 1;
	}
	if (c->reading || c->writing)
		return;
	if (c->status)
		fail(c);
	else if (em_csv_import_finished(c->imp))
		finish(c);
}

static void prepared(int status, void *arg)
{
	import_ctx *c = arg;
	const char *field;
	const char *fatal = em_csv_import_fatal(c->imp, &field);
	if (status == EM_EINVAL && fatal) {
		em_resp_error(c->r, 422, "invalid_csv", fatal, field);
		import_free(c);
	} else if (status) {
		em_api_fail(c->r, status, NULL, NULL);
		import_free(c);
	} else if (em_csv_import_finished(c->imp)) {
		finish(c);
	} else {
		pump(c);
	}
}

static int csv_type(const char *ct)
{
	if (!ct)
		return 0;
	static const char *ok[] = {"text/csv", "application/csv", "text/plain", NULL};
	for (int i = 0; ok[i]; i++) {
		size_t n = strlen(ok[i]);
		if (!strncasecmp(ct, ok[i], n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return 1;
	}
	return 0;
}

static void h_import(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	if (!csv_type(em_req_header(r, "Content-Type"))) {
		em_resp_error(r, 415, "unsupported_media_type", "send the file as text/csv (UTF-8)", NULL);
		return;
	}
	const char *dr = em_req_query_param(r, "dry_run");
	int dry = 0;
	if (dr && *dr) {
		if (!strcmp(dr, "1") || !strcmp(dr, "true"))
			dry = 1;
		else if (strcmp(dr, "0") && strcmp(dr, "false")) {
			em_resp_error(r, 422, "invalid_field", "dry_run is 1 or 0", "dry_run");
			return;
		}
	}
	int64_t site = site_of(r);
	if (!site)
		return;
	size_t len;
	const char *body = em_req_body(r, &len);
	import_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->operator_id = p->operator_id;
	/* The body lives as long as the request, which lives until answered. */
	c->imp = em_csv_import_new(site, dry, p->operator_id, body ? body : "", body ? len : 0);
	if (em_api_store(r, 0, prepare_fn, prepared, c))
		import_free(c);
}

/* ---- Export ---------------------------------------------------------------- */

typedef struct export_ctx {
	em_req *r;
	int64_t site_id;
	char stage[16];
	char tag[200];
	em_buf out;
} export_ctx;

static int export_fn(em_db *db, void *arg)
{
	export_ctx *x = arg;
	return em_csv_export_db(db, x->site_id, x->stage[0] ? x->stage : NULL, x->tag[0] ? x->tag : NULL,
				&x->out);
}

static void export_done(int status, void *arg)
{
	export_ctx *x = arg;
	if (status == EM_ETOOBIG) {
		em_resp_error(x->r, 413, "too_large",
			      "the export is larger than 256 MiB: filter by stage or tag", NULL);
	} else if (status) {
		em_api_fail(x->r, status, NULL, NULL);
	} else {
		em_resp_header(x->r, "Content-Disposition", "attachment; filename=\"contacts.csv\"");
		em_resp_header(x->r, "Cache-Control", "no-store");
		em_resp_send(x->r, 200, "text/csv; charset=utf-8", x->out.data ? x->out.data : "",
			     x->out.len);
	}
	em_buf_free(&x->out);
	em_free(x);
}

static void h_export(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *stage = em_req_query_param(r, "stage");
	if (stage && *stage && strcmp(stage, "lead") && strcmp(stage, "customer") && strcmp(stage, "lost") &&
	    strcmp(stage, "won_back")) {
		em_resp_error(r, 422, "invalid_field", "stage is one of lead, customer, lost, won_back",
			      "stage");
		return;
	}
	const char *tag = em_req_query_param(r, "tag");
	if (tag && strlen(tag) > 160) {
		em_resp_error(r, 422, "invalid_field", "a tag has at most 40 characters", "tag");
		return;
	}
	int64_t site = site_of(r);
	if (!site)
		return;
	export_ctx *x = em_calloc(1, sizeof *x);
	x->r = r;
	x->site_id = site;
	snprintf(x->stage, sizeof x->stage, "%s", stage ? stage : "");
	/* Tags are stored lowercased. */
	size_t n = 0;
	for (const char *t = tag ? tag : ""; *t && n + 1 < sizeof x->tag; t++)
		x->tag[n++] = (char)(*t >= 'A' && *t <= 'Z' ? *t + 32 : *t);
	x->tag[n] = '\0';
	em_buf_init(&x->out, EXPORT_MAX);
	em_app *app = em_req_app(r);
	if (em_api_store(r, 0, export_fn, export_done, x)) {
		em_free(x);
		return;
	}
	em_audit(app, p->operator_id, "contacts.export", NULL, em_req_client_ip(r), NULL);
}

void em_api_csv_routes(em_server *s)
{
	em_server_route(s, EM_POST, "/api/v1/contacts/import", h_import);
	em_server_route(s, EM_GET, "/api/v1/contacts/export.csv", h_export);
}
