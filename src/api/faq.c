/*
** REST for the knowledge base (docs/help.md): articles, products, synonyms,
** search, votes and the content-gap report. Thin: validate, run a store
** function from src/kb, answer.
**
** Public (no sign-in, any origin may read the answer): GET /api/v1/faq/search,
** GET /api/v1/public/faq/{id}, POST /api/v1/faq/{id}/vote and
** POST /api/v1/public/kb/events. Everything
** else needs an operator; writes need an admin.
*/
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/operators.h"
#include "kb/help.h"
#include "kb/kb.h"
#include "track/sites.h"

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define IMPORT_MAX 5000
#define TAGS_MAX 20
#define TAG_MAX 40

/* One request's store call: the function's argument lives here too. */
typedef struct kb_ctx {
	/* First: the store functions of src/kb receive the context as their
	** own argument (&c->u == c). */
	union {
		em_kb_article a;
		em_kb_read q;
		em_kb_product p;
		em_kb_search s;
		em_kb_event e;
	} u;
	em_req *r;
	em_app *app;
	int status_ok;
	int64_t operator_id;
	char ip[64];
	const char *audit;
	char target[40];
	const char *wrap; /* answer {wrap: out} */
	json_t *out;	  /* the answer's payload when not taken from u */
	json_t *owned;	  /* request data kept alive until done */
	char *strs[8];	  /* copies of request strings */
	int nstrs;
	json_t *items; /* imports: the list and the per-item results */
	size_t at;
	int created, updated;
	int nolog;    /* search: do not record (a half-typed question) */
	int optimize; /* after the write: merge the index of articles (1) or products (2) */
	json_t *errors;
} kb_ctx;

static kb_ctx *ctx_new(em_req *r, int status_ok)
{
	kb_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->status_ok = status_ok;
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	return c;
}

static const char *keep(kb_ctx *c, const char *s)
{
	if (!s || c->nstrs >= 8)
		return s;
	return c->strs[c->nstrs++] = em_strdup(s);
}

static void ctx_free(kb_ctx *c)
{
	for (int i = 0; i < c->nstrs; i++)
		em_free(c->strs[i]);
	json_decref(c->owned);
	json_decref(c->out);
	json_decref(c->items);
	json_decref(c->errors);
	em_free(c);
}

static void public_cors(em_req *r)
{
	em_resp_header(r, "Access-Control-Allow-Origin", "*");
	em_resp_header(r, "Vary", "Origin");
}

/* A large feed or import leaves the search index in many pieces: merged
** in a write of its own (a failure there loses nothing), searches read one. */
static int optimize_products; /* its address: the arg that says "products" */

static int optimize_fn(em_db *db, void *arg)
{
	return em_kb_index_optimize_db(db, arg != NULL);
}

static void optimize_done(int status, void *arg)
{
	if (status)
		em_warn("kb: merging the search index failed", "products=%d status=%d", arg != NULL, status);
}

static void answered(int status, void *arg)
{
	kb_ctx *c = arg;
	if (!status && c->optimize)
		em_store_write(c->app->store, optimize_fn, optimize_done,
			       c->optimize == 2 ? &optimize_products : NULL);
	if (status) {
		em_api_fail(c->r, status, status == EM_EEXIST ? "slug" : NULL,
			    status == EM_EEXIST ? "an article with this slug exists already" : NULL);
	} else {
		if (c->audit) {
			em_help_invalidate(); /* a write: the help centre renders its pages again */
			em_audit(c->app, c->operator_id, c->audit, c->target, c->ip, NULL);
		}
		if (c->status_ok == 204)
			em_resp_empty(c->r, 204);
		else if (c->wrap)
			em_resp_json(c->r, c->status_ok,
				     json_pack("{s:O}", c->wrap, c->out ? c->out : json_null()));
		else
			em_resp_json(c->r, c->status_ok, json_incref(c->out ? c->out : json_object()));
	}
	ctx_free(c);
}

static void run(kb_ctx *c, em_db_fn fn, int write)
{
	if (em_api_store(c->r, write, fn, answered, c))
		ctx_free(c);
}

/* ?site=KEY (default "default"); 404 answered when unknown. */
static const em_site *site_of(em_req *r, const char *key)
{
	const em_site *s = em_sites_find(key && *key ? key : "default");
	if (!s)
		em_resp_error(r, key && em_req_query_param(r, "site") ? 404 : 422, "not_found",
			      "no such site", "site");
	return s;
}

static int lang_ok(em_req *r, const char *lang, const char *field)
{
	if (lang && (!strcmp(lang, "de") || !strcmp(lang, "en")))
		return 1;
	em_resp_error(r, 422, "invalid", "lang must be de or en", field);
	return 0;
}

/* ---- Articles ------------------------------------------------------------ */

static int article_get_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_article_get_db(db, &c->u.q);
	c->out = c->u.q.out;
	c->u.q.out = NULL;
	return rc;
}

static int article_list_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_article_list_db(db, &c->u.q);
	c->out = json_pack("{s:o, s:o}", "articles", c->u.q.out ? c->u.q.out : json_array(), "next_cursor",
			   c->u.q.next_cursor ? json_sprintf("%lld", (long long)c->u.q.next_cursor)
					      : json_null());
	c->u.q.out = NULL;
	return rc;
}

static void h_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const char *lang = em_req_query_param(r, "lang");
	if (lang && *lang && !lang_ok(r, lang, "lang"))
		return;
	const char *cat = em_req_query_param(r, "category");
	long long limit = em_api_query_int(r, "limit", LIST_DEFAULT, LIST_MAX);
	long long cursor = limit < 0 ? -1 : em_api_query_int(r, "cursor", 0, (long long)1 << 62);
	if (limit < 0 || cursor < 0)
		return;
	const char *key = em_req_query_param(r, "site");
	const em_site *s = key && *key ? site_of(r, key) : NULL;
	if (key && *key && !s)
		return;
	kb_ctx *c = ctx_new(r, 200);
	c->u.q.site_id = s ? s->id : 0;
	snprintf(c->u.q.lang, sizeof c->u.q.lang, "%s", lang ? lang : "");
	snprintf(c->u.q.category, sizeof c->u.q.category, "%s", cat ? cat : "");
	c->u.q.published_only =
		em_req_query_param(r, "status") && !strcmp(em_req_query_param(r, "status"), "published");
	c->u.q.limit = limit ? (int)limit : LIST_DEFAULT;
	c->u.q.cursor = cursor;
	run(c, article_list_fn, 0);
}

static void h_get(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	kb_ctx *c = ctx_new(r, 200);
	snprintf(c->u.q.public_id, sizeof c->u.q.public_id, "%.31s", em_req_param(r, "id"));
	c->wrap = "article";
	run(c, article_get_fn, 0);
}

/* Joins a tags array into "a,b,c"; -1 after answering 422. */
static int tags_of(em_req *r, const json_t *body, char *out, size_t outlen, int *present)
{
	json_t *tags = json_object_get(body, "tags");
	*present = tags != NULL;
	out[0] = 0;
	if (!tags || json_is_null(tags))
		return 0;
	if (!json_is_array(tags) || json_array_size(tags) > TAGS_MAX) {
		em_resp_error(r, 422, "invalid", "tags must be an array of at most 20 words", "tags");
		return -1;
	}
	size_t i, k = 0;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		const char *v = json_is_string(t) ? json_string_value(t) : NULL;
		if (!v || !*v || strlen(v) > TAG_MAX || strchr(v, ',')) {
			char f[40];
			snprintf(f, sizeof f, "tags[%zu]", i);
			em_resp_error(r, 422, "invalid", "a tag is 1-40 characters without commas", f);
			return -1;
		}
		k += (size_t)snprintf(out + k, outlen - k, "%s%s", k ? "," : "", v);
		if (k >= outlen)
			k = outlen - 1;
	}
	return 0;
}

static int article_put_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_article_put_db(db, &c->u.a);
	c->out = c->u.a.out;
	c->u.a.out = NULL;
	snprintf(c->target, sizeof c->target, "%s", c->u.a.public_id);
	return rc;
}

/* Reads an article from body into c (create: required fields); -1 after a 422. */
static int article_input(em_req *r, const json_t *body, kb_ctx *c, int create, const char *prefix)
{
	const char *site, *lang, *question, *answer, *category, *status, *slug;
	if (em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "lang", create, 2, &lang) ||
	    em_api_str_field(r, body, "question", create, EM_KB_QUESTION_MAX, &question) ||
	    em_api_str_field(r, body, "answer", create, EM_KB_ANSWER_MAX, &answer) ||
	    em_api_str_field(r, body, "category", 0, EM_KB_CATEGORY_MAX, &category) ||
	    em_api_str_field(r, body, "status", 0, 16, &status) ||
	    em_api_str_field(r, body, "slug", 0, EM_KB_SLUG_MAX, &slug))
		return -1;
	(void)prefix;
	if (lang && !lang_ok(r, lang, "lang"))
		return -1;
	if (question && !*question) {
		em_resp_error(r, 422, "invalid", "question must not be empty", "question");
		return -1;
	}
	if (answer && !*answer) {
		em_resp_error(r, 422, "invalid", "answer must not be empty", "answer");
		return -1;
	}
	if (status && strcmp(status, "draft") && strcmp(status, "published")) {
		em_resp_error(r, 422, "invalid", "status must be draft or published", "status");
		return -1;
	}
	if (slug) {
		int ok = *slug != 0;
		for (const char *p = slug; *p && ok; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok) {
			em_resp_error(r, 422, "invalid", "slug: lowercase letters, digits and '-'", "slug");
			return -1;
		}
	}
	char tags[TAGS_MAX * (TAG_MAX + 1) + 1];
	int has_tags;
	if (tags_of(r, body, tags, sizeof tags, &has_tags))
		return -1;
	em_kb_article *a = &c->u.a;
	if (create || site) {
		const em_site *s = em_sites_find(site ? site : "default");
		if (!s) {
			em_resp_error(r, 422, "invalid", "no such site", "site");
			return -1;
		}
		a->site_id = s->id;
	}
	a->create = create;
	snprintf(a->lang, sizeof a->lang, "%s", lang ? lang : "");
	if (slug)
		snprintf(a->slug, sizeof a->slug, "%s", slug);
	else if (create)
		em_kb_slug(question, a->slug, sizeof a->slug);
	a->question = keep(c, question);
	a->answer = keep(c, answer);
	a->category = keep(c, category);
	a->status = keep(c, status);
	a->tags = has_tags ? keep(c, tags) : NULL;
	return 0;
}

static void h_create_json(em_req *r, const em_principal *p, json_t *body)
{
	kb_ctx *c = ctx_new(r, 201);
	if (article_input(r, body, c, 1, "")) {
		ctx_free(c);
		return;
	}
	c->operator_id = p->operator_id;
	c->audit = "faq.create";
	c->wrap = "article";
	run(c, article_put_fn, 1);
}

static void h_create(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_create_json);
}

static void h_update_json(em_req *r, const em_principal *p, json_t *body)
{
	kb_ctx *c = ctx_new(r, 200);
	if (article_input(r, body, c, 0, "")) {
		ctx_free(c);
		return;
	}
	snprintf(c->u.a.public_id, sizeof c->u.a.public_id, "%.31s", em_req_param(r, "id"));
	c->operator_id = p->operator_id;
	c->audit = "faq.update";
	c->wrap = "article";
	run(c, article_put_fn, 1);
}

static void h_update(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_update_json);
}

static void h_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	kb_ctx *c = ctx_new(r, 204);
	snprintf(c->u.a.public_id, sizeof c->u.a.public_id, "%.31s", em_req_param(r, "id"));
	snprintf(c->target, sizeof c->target, "%s", c->u.a.public_id);
	c->operator_id = p->operator_id;
	c->audit = "faq.delete";
	run(c, em_kb_article_delete_db, 1);
}

/* POST /api/v1/faq/preview {"answer"}: the HTML visitors would see for this
** Markdown (the same renderer as the help centre), for the console's editor. */
static void h_preview_json(em_req *r, const em_principal *p, json_t *body)
{
	(void)p;
	const char *answer;
	if (em_api_str_field(r, body, "answer", 1, EM_KB_ANSWER_MAX, &answer))
		return;
	char *html = em_kb_markdown_html(answer, strlen(answer));
	em_resp_json(r, 200, json_pack("{s:s}", "html", html));
	em_free(html);
}

static void h_preview(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ANY, h_preview_json);
}

/* POST /api/v1/faq/import {"articles":[...]}: each is created; a report
** of what was created and what was refused (with its index). */
static int import_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	size_t i;
	json_t *item;
	json_array_foreach(c->items, i, item)
	{
		em_kb_article *a = &c->u.a;
		memset(a, 0, sizeof *a);
		a->create = 1;
		a->site_id = json_integer_value(json_object_get(item, "_site"));
		snprintf(a->lang, sizeof a->lang, "%s", em_json_str(item, "lang", "en"));
		const char *q = em_json_str(item, "question", "");
		if (em_json_str(item, "slug", NULL))
			snprintf(a->slug, sizeof a->slug, "%s", em_json_str(item, "slug", ""));
		else
			em_kb_slug(q, a->slug, sizeof a->slug);
		a->question = q;
		a->answer = em_json_str(item, "answer", "");
		a->category = em_json_str(item, "category", "");
		a->tags = em_json_str(item, "_tags", "");
		a->status = em_json_str(item, "status", "published");
		int rc = em_kb_article_put_db(db, a);
		json_decref(a->out);
		a->out = NULL;
		if (rc)
			return rc;
		c->created++;
	}
	c->out = json_pack("{s:i, s:O}", "created", c->created, "errors", c->errors);
	if (c->created >= EM_KB_OPTIMIZE_AFTER)
		c->optimize = 1; /* articles */
	return 0;
}

static void h_import_json(em_req *r, const em_principal *p, json_t *body)
{
	json_t *list = json_object_get(body, "articles");
	if (!json_is_array(list) || json_array_size(list) > IMPORT_MAX) {
		em_resp_error(r, 422, "invalid", "articles must be an array of at most 5000 articles",
			      "articles");
		return;
	}
	kb_ctx *c = ctx_new(r, 200);
	c->items = json_array();
	c->errors = json_array();
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item)
	{
		/* Validate each with the same rules as a single create; a bad
		** one is reported and left out. */
		kb_ctx probe = {0};
		char field[48] = "";
		const char *why = NULL;
		const char *lang = em_json_str(item, "lang", NULL), *q = em_json_str(item, "question", NULL),
			   *ans = em_json_str(item, "answer", NULL),
			   *st = em_json_str(item, "status", "published");
		const em_site *s = em_sites_find(em_json_str(item, "site", "default"));
		if (!json_is_object(item))
			why = "expected an object";
		else if (!s)
			snprintf(field, sizeof field, "site"), why = "no such site";
		else if (!lang || (strcmp(lang, "de") && strcmp(lang, "en")))
			snprintf(field, sizeof field, "lang"), why = "lang must be de or en";
		else if (!q || !*q || strlen(q) > EM_KB_QUESTION_MAX)
			snprintf(field, sizeof field, "question"), why = "question must be 1-300 characters";
		else if (!ans || !*ans || strlen(ans) > EM_KB_ANSWER_MAX)
			snprintf(field, sizeof field, "answer"), why = "answer is required";
		else if (strcmp(st, "draft") && strcmp(st, "published"))
			snprintf(field, sizeof field, "status"), why = "status must be draft or published";
		(void)probe;
		if (why) {
			char path[128];
			snprintf(path, sizeof path, "articles[%zu]%s%s", i, field[0] ? "." : "", field);
			json_array_append_new(c->errors,
					      json_pack("{s:s, s:s}", "field", path, "message", why));
			continue;
		}
		char tags[TAGS_MAX * (TAG_MAX + 1) + 1] = "";
		json_t *tl = json_object_get(item, "tags");
		size_t k = 0, j;
		json_t *t;
		json_array_foreach(tl, j, t) if (json_is_string(t) && !strchr(json_string_value(t), ',')) k +=
			(size_t)snprintf(tags + k, sizeof tags - k, "%s%s", k ? "," : "",
					 json_string_value(t)),
			k = k >= sizeof tags ? sizeof tags - 1 : k;
		json_t *copy = json_deep_copy(item);
		json_object_set_new(copy, "_site", json_integer(s->id));
		json_object_set_new(copy, "_tags", json_string(tags));
		json_array_append_new(c->items, copy);
	}
	c->operator_id = p->operator_id;
	c->audit = "faq.import";
	run(c, import_fn, 1);
}

static void h_import(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_import_json);
}

/* ---- Search, votes, events (public) ------------------------------------- */

static void log_done(int status, void *arg)
{
	(void)status;
	em_free(arg);
}

/* Records a search or an event without making anyone wait for it. */
static void log_event(em_app *app, const em_kb_event *e)
{
	em_kb_event *copy = em_malloc(sizeof *copy);
	*copy = *e;
	if (em_store_write(app->store, em_kb_event_db, log_done, copy))
		em_free(copy);
}

static void searched(int status, void *arg)
{
	kb_ctx *c = arg;
	if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		em_kb_event e = {.site_id = c->u.s.site_id, .results = c->u.s.results};
		snprintf(e.type, sizeof e.type, "search");
		snprintf(e.query, sizeof e.query, "%s", c->u.s.q);
		snprintf(e.lang, sizeof e.lang, "%s", c->u.s.lang);
		snprintf(e.vid, sizeof e.vid, "%s", c->target);
		/* Operators' own searches and half-typed ones are not content gaps. */
		if (!c->operator_id && !c->nolog)
			log_event(c->app, &e);
		json_object_set_new(c->u.s.out, "query", json_string(c->u.s.q));
		em_resp_json(c->r, 200, c->u.s.out);
		c->u.s.out = NULL;
	}
	json_decref(c->u.s.out);
	ctx_free(c);
}

static void h_search(em_req *r)
{
	public_cors(r);
	const char *q = em_req_query_param(r, "q");
	const char *lang = em_req_query_param(r, "lang");
	if (!q || !*q) {
		em_resp_error(r, 422, "invalid", "q is required", "q");
		return;
	}
	if (strlen(q) > EM_KB_QUERY_MAX) {
		em_resp_error(r, 422, "invalid", "q is at most 200 bytes", "q");
		return;
	}
	if (!lang_ok(r, lang && *lang ? lang : "en", "lang"))
		return;
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	long long limit = em_api_query_int(r, "limit", 5, 50);
	long long plimit = limit < 0 ? -1 : em_api_query_int(r, "products", 3, 50);
	if (limit < 0 || plimit < 0)
		return;
	/* Signed-in operators may include drafts; the public never sees them. */
	const em_principal *p = em_req_cookie(r, "emma_session") || em_req_header(r, "Authorization")
					? em_auth_peek(r)
					: NULL;
	kb_ctx *c = ctx_new(r, 200);
	c->operator_id = p ? p->operator_id : 0;
	c->u.s.site_id = s->id;
	snprintf(c->u.s.lang, sizeof c->u.s.lang, "%s", lang && *lang ? lang : "en");
	snprintf(c->u.s.q, sizeof c->u.s.q, "%s", q);
	c->u.s.articles = (int)limit;
	c->u.s.products = (int)plimit;
	c->u.s.include_drafts = p && em_req_query_param(r, "drafts") != NULL;
	const char *vid = em_req_query_param(r, "vid");
	snprintf(c->target, sizeof c->target, "%.39s", vid ? vid : "");
	const char *log = em_req_query_param(r, "log");
	c->nolog = log && !strcmp(log, "0");
	if (em_api_store(r, 0, em_kb_search_db, searched, c))
		ctx_free(c);
}

/* GET /api/v1/public/faq/{id}?site=KEY&vid=: one published article of the
** site, rendered, for the widget (the help centre has its own pages). The
** read counts as a view. */
static void public_article_done(int status, void *arg)
{
	kb_ctx *c = arg;
	json_t *a = c->out;
	const em_site *s = em_sites_by_id(c->u.q.site_id);
	if (!status && (!s || strcmp(em_json_str(a, "site", ""), s->key)))
		status = EM_ENOTFOUND; /* another site's article is not this site's business */
	if (status == EM_ENOTFOUND) {
		em_resp_error(c->r, 404, "not_found", "no such article", NULL);
	} else if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		em_kb_event e = {.site_id = c->u.q.site_id};
		snprintf(e.type, sizeof e.type, "view");
		snprintf(e.article, sizeof e.article, "%s", em_json_str(a, "id", ""));
		snprintf(e.lang, sizeof e.lang, "%s", em_json_str(a, "lang", ""));
		snprintf(e.vid, sizeof e.vid, "%s", c->target);
		log_event(c->app, &e);
		em_resp_json(c->r, 200,
			     json_pack("{s:{s:O?, s:O?, s:O?, s:O?, s:O?}}", "article", "id",
				       json_object_get(a, "id"), "question", json_object_get(a, "question"),
				       "answer_html", json_object_get(a, "answer_html"), "slug",
				       json_object_get(a, "slug"), "lang", json_object_get(a, "lang")));
	}
	ctx_free(c);
}

static void h_public_article(em_req *r)
{
	public_cors(r);
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	const char *vid = em_req_query_param(r, "vid");
	kb_ctx *c = ctx_new(r, 200);
	c->u.q.site_id = s->id;
	c->u.q.published_only = 1;
	snprintf(c->u.q.public_id, sizeof c->u.q.public_id, "%.31s", em_req_param(r, "id"));
	snprintf(c->target, sizeof c->target, "%.39s", vid ? vid : "");
	if (em_api_store(r, 0, article_get_fn, public_article_done, c))
		ctx_free(c);
}

static const char *event_types[] = {"view", "helpful", "unhelpful", "deflected", "escalated", NULL};

static void event_done(int status, void *arg)
{
	kb_ctx *c = arg;
	if (status == EM_ENOTFOUND)
		em_resp_error(c->r, 404, "not_found", "no such article", "article");
	else if (status)
		em_api_fail(c->r, status, NULL, NULL);
	else
		em_resp_empty(c->r, 204);
	ctx_free(c);
}

/* Validates and records {site, type, article?, query?, vid?}. */
static void record(em_req *r, json_t *body, const char *type, const char *article)
{
	const char *site, *query, *vid, *lang;
	if (em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "query", 0, EM_KB_QUERY_MAX, &query) ||
	    em_api_str_field(r, body, "vid", 0, 63, &vid) || em_api_str_field(r, body, "lang", 0, 2, &lang))
		return;
	const em_site *s = em_sites_find(site ? site : "default");
	if (!s) {
		em_resp_error(r, 422, "invalid", "no such site", "site");
		return;
	}
	kb_ctx *c = ctx_new(r, 204);
	em_kb_event *e = &c->u.e;
	e->site_id = s->id;
	snprintf(e->type, sizeof e->type, "%s", type);
	snprintf(e->article, sizeof e->article, "%s", article ? article : "");
	snprintf(e->query, sizeof e->query, "%s", query ? query : "");
	snprintf(e->vid, sizeof e->vid, "%s", vid ? vid : "");
	snprintf(e->lang, sizeof e->lang, "%s", lang ? lang : "");
	if (em_api_store(r, 1, em_kb_event_db, event_done, c))
		ctx_free(c);
}

static void h_vote(em_req *r)
{
	public_cors(r);
	json_t *body = em_req_json(r);
	if (!body)
		return;
	int helpful = 0, present = 0;
	if (!em_api_bool_field(r, body, "helpful", &helpful, &present)) {
		if (!present)
			em_resp_error(r, 422, "invalid", "helpful (true or false) is required", "helpful");
		else
			record(r, body, helpful ? "helpful" : "unhelpful", em_req_param(r, "id"));
	}
	json_decref(body);
}

static void h_event(em_req *r)
{
	public_cors(r);
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *type, *article;
	if (!em_api_str_field(r, body, "type", 1, 16, &type) &&
	    !em_api_str_field(r, body, "article", 0, 31, &article)) {
		int ok = 0;
		for (int i = 0; event_types[i]; i++)
			ok |= !strcmp(type, event_types[i]);
		if (!ok)
			em_resp_error(r, 422, "invalid",
				      "type must be view, helpful, unhelpful, deflected or escalated",
				      "type");
		else if ((!strcmp(type, "view") || !strcmp(type, "helpful") || !strcmp(type, "unhelpful")) &&
			 !article)
			em_resp_error(r, 422, "invalid", "article is required for this type", "article");
		else
			record(r, body, type, article);
	}
	json_decref(body);
}

static void h_preflight(em_req *r)
{
	public_cors(r);
	em_resp_header(r, "Access-Control-Allow-Methods", "GET, POST");
	em_resp_header(r, "Access-Control-Allow-Headers", "Content-Type");
	em_resp_header(r, "Access-Control-Max-Age", "86400");
	em_resp_empty(r, 204);
}

/* ---- Gaps, synonyms ------------------------------------------------------ */

static int gaps_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_gaps_db(db, &c->u.q);
	c->out = c->u.q.out;
	c->u.q.out = NULL;
	return rc;
}

static void h_gaps(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	long long limit = em_api_query_int(r, "limit", 50, 500);
	if (limit < 0)
		return;
	kb_ctx *c = ctx_new(r, 200);
	c->u.q.site_id = s->id;
	c->u.q.limit = limit ? (int)limit : 50;
	run(c, gaps_fn, 0);
}

static int synonyms_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_synonyms_list_db(db, &c->u.q);
	c->out = c->u.q.out;
	c->u.q.out = NULL;
	return rc;
}

static void h_synonyms(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	kb_ctx *c = ctx_new(r, 200);
	c->u.q.site_id = s->id;
	c->wrap = "synonyms";
	run(c, synonyms_fn, 0);
}

static int synonym_add_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	if (em_db_exec(db,
		       "INSERT INTO kb_synonym (public_id, site_id, lang, terms, created_at) VALUES (?, ?, "
		       "?, ?, ?)",
		       "titti", c->target, c->u.q.site_id, c->u.q.lang, c->strs[0], em_now_ms()))
		return EM_EIO;
	c->out = json_pack("{s:{s:s, s:s, s:O}}", "synonym", "id", c->target, "lang", c->u.q.lang, "terms",
			   c->owned);
	return 0;
}

static void h_synonym_add_json(em_req *r, const em_principal *p, json_t *body)
{
	const char *site, *lang;
	if (em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "lang", 1, 2, &lang))
		return;
	if (!lang_ok(r, lang, "lang"))
		return;
	const em_site *s = em_sites_find(site ? site : "default");
	if (!s) {
		em_resp_error(r, 422, "invalid", "no such site", "site");
		return;
	}
	json_t *terms = json_object_get(body, "terms");
	if (!json_is_array(terms) || json_array_size(terms) < 2 || json_array_size(terms) > 12) {
		em_resp_error(r, 422, "invalid", "terms must be an array of 2-12 words", "terms");
		return;
	}
	char joined[12 * 41 + 1] = "";
	size_t k = 0, i;
	json_t *t;
	json_array_foreach(terms, i, t)
	{
		const char *v = json_is_string(t) ? json_string_value(t) : NULL;
		if (!v || !*v || strlen(v) > 40 || strchr(v, ',')) {
			char f[40];
			snprintf(f, sizeof f, "terms[%zu]", i);
			em_resp_error(r, 422, "invalid", "a term is 1-40 characters without commas", f);
			return;
		}
		k += (size_t)snprintf(joined + k, sizeof joined - k, "%s%s", k ? "," : "", v);
	}
	kb_ctx *c = ctx_new(r, 201);
	c->u.q.site_id = s->id;
	snprintf(c->u.q.lang, sizeof c->u.q.lang, "%s", lang);
	keep(c, joined);
	c->owned = json_incref(terms);
	c->target[0] = 'y';
	em_id_random(c->target + 1, sizeof c->target - 1, 8);
	c->operator_id = p->operator_id;
	c->audit = "faq.synonym";
	run(c, synonym_add_fn, 1);
}

static void h_synonym_add(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_synonym_add_json);
}

static int synonym_delete_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	if (em_db_exec(db, "DELETE FROM kb_synonym WHERE public_id = ?", "t", c->target))
		return EM_EIO;
	return em_db_changes(db) ? 0 : EM_ENOTFOUND;
}

static void h_synonym_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	kb_ctx *c = ctx_new(r, 204);
	snprintf(c->target, sizeof c->target, "%.31s", em_req_param(r, "id"));
	c->operator_id = p->operator_id;
	c->audit = "faq.synonym_delete";
	run(c, synonym_delete_fn, 1);
}

/* ---- Products ------------------------------------------------------------ */

static int products_put_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	/* One product (not a feed) answers with it; a feed with a report,
	** also when only one of its rows was valid. */
	int single = !strcmp(c->strs[0], "api");
	size_t i;
	json_t *item;
	json_array_foreach(c->items, i, item)
	{
		em_kb_product *p = &c->u.p;
		memset(p, 0, sizeof *p);
		p->site_id = json_integer_value(json_object_get(item, "_site"));
		p->in = item;
		p->source = c->strs[0];
		int rc = em_kb_product_put_db(db, p);
		if (rc)
			return rc;
		if (p->created)
			c->created++;
		else
			c->updated++;
		if (single) {
			c->out = json_pack("{s:O}", "product", p->out);
		}
		json_decref(p->out);
		p->out = NULL;
	}
	if (!single)
		c->out = json_pack("{s:i, s:i, s:O}", "created", c->created, "updated", c->updated, "errors",
				   c->errors);
	if (c->created + c->updated >= EM_KB_OPTIMIZE_AFTER)
		c->optimize = 2; /* products */
	return 0;
}

/* POST /api/v1/products: one product, or {"products":[...]} (a feed). */
static void h_products_put_json(em_req *r, const em_principal *p, json_t *body)
{
	json_t *list = json_object_get(body, "products");
	int batch = list != NULL;
	if (batch && (!json_is_array(list) || json_array_size(list) > 100000)) {
		em_resp_error(r, 422, "invalid", "products must be an array of at most 100000", "products");
		return;
	}
	const char *site = em_json_str(body, "site", "default");
	const em_site *s = em_sites_find(site);
	if (!s) {
		em_resp_error(r, 422, "invalid", "no such site", "site");
		return;
	}
	kb_ctx *c = ctx_new(r, batch ? 200 : 201);
	c->items = json_array();
	c->errors = json_array();
	keep(c, batch ? "feed" : "api");
	size_t n = batch ? json_array_size(list) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *item = batch ? json_array_get(list, i) : body;
		const char *field, *why;
		if (em_kb_product_check(item, &field, &why)) {
			char path[128];
			if (batch)
				snprintf(path, sizeof path, "products[%zu]%s%s", i, *field ? "." : "", field);
			else
				snprintf(path, sizeof path, "%s", field);
			if (!batch) {
				em_resp_error(r, 422, "invalid", why, path);
				ctx_free(c);
				return;
			}
			json_array_append_new(c->errors,
					      json_pack("{s:s, s:s}", "field", path, "message", why));
			continue;
		}
		json_t *copy = json_deep_copy(item);
		json_object_set_new(copy, "_site", json_integer(s->id));
		json_array_append_new(c->items, copy);
	}
	c->operator_id = p->operator_id;
	c->audit = batch ? "product.import" : "product.put";
	run(c, products_put_fn, 1);
}

static void h_products_put(em_req *r)
{
	em_api_with_body(r, EM_AUTH_ADMIN, h_products_put_json);
}

static int products_list_fn(em_db *db, void *arg)
{
	kb_ctx *c = arg;
	int rc = em_kb_product_list_db(db, &c->u.q);
	c->out = json_pack("{s:o, s:o}", "products", c->u.q.out ? c->u.q.out : json_array(), "next_cursor",
			   c->u.q.next_cursor ? json_sprintf("%lld", (long long)c->u.q.next_cursor)
					      : json_null());
	c->u.q.out = NULL;
	return rc;
}

static void h_products_list(em_req *r)
{
	if (!em_auth_require(r, EM_AUTH_ANY))
		return;
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	long long limit = em_api_query_int(r, "limit", LIST_DEFAULT, LIST_MAX);
	long long cursor = limit < 0 ? -1 : em_api_query_int(r, "cursor", 0, (long long)1 << 62);
	if (limit < 0 || cursor < 0)
		return;
	const char *cat = em_req_query_param(r, "category");
	kb_ctx *c = ctx_new(r, 200);
	c->u.q.site_id = s->id;
	snprintf(c->u.q.category, sizeof c->u.q.category, "%s", cat ? cat : "");
	c->u.q.limit = limit ? (int)limit : LIST_DEFAULT;
	c->u.q.cursor = cursor;
	run(c, products_list_fn, 0);
}

static void h_product_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const em_site *s = site_of(r, em_req_query_param(r, "site"));
	if (!s)
		return;
	kb_ctx *c = ctx_new(r, 204);
	c->u.q.site_id = s->id;
	snprintf(c->u.q.slug, sizeof c->u.q.slug, "%.64s", em_req_param(r, "sku"));
	snprintf(c->target, sizeof c->target, "%.39s", c->u.q.slug);
	c->operator_id = p->operator_id;
	c->audit = "product.delete";
	run(c, em_kb_product_delete_db, 1);
}

void em_api_faq_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/faq", h_list);
	em_server_route(s, EM_POST, "/api/v1/faq", h_create);
	em_server_route(s, EM_POST, "/api/v1/faq/import", h_import);
	em_server_route(s, EM_POST, "/api/v1/faq/preview", h_preview);
	em_server_route(s, EM_GET, "/api/v1/faq/search", h_search);
	em_server_route(s, EM_OPTIONS, "/api/v1/faq/search", h_preflight);
	em_server_route(s, EM_GET, "/api/v1/faq/gaps", h_gaps);
	em_server_route(s, EM_GET, "/api/v1/faq/synonyms", h_synonyms);
	em_server_route(s, EM_POST, "/api/v1/faq/synonyms", h_synonym_add);
	em_server_route(s, EM_DELETE, "/api/v1/faq/synonyms/{id}", h_synonym_delete);
	em_server_route(s, EM_GET, "/api/v1/faq/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/faq/{id}", h_update);
	em_server_route(s, EM_DELETE, "/api/v1/faq/{id}", h_delete);
	em_server_route(s, EM_POST, "/api/v1/faq/{id}/vote", h_vote);
	em_server_route(s, EM_OPTIONS, "/api/v1/faq/{id}/vote", h_preflight);
	em_server_route(s, EM_GET, "/api/v1/public/faq/{id}", h_public_article);
	em_server_route(s, EM_POST, "/api/v1/public/kb/events", h_event);
	em_server_route(s, EM_OPTIONS, "/api/v1/public/kb/events", h_preflight);
	em_server_route(s, EM_GET, "/api/v1/products", h_products_list);
	em_server_route(s, EM_POST, "/api/v1/products", h_products_put);
	em_server_route(s, EM_DELETE, "/api/v1/products/{sku}", h_product_delete);
}
