/*
** The help centre's routes (docs/help.md): /help redirects to a site and a
** language, /help/{site}/{lang}/... are HTML pages rendered by src/kb/help.c,
** the vote form posts back here (303 after the vote is stored), and
** /help/assets/ serves the style sheet.
**
** Rendered pages are kept in a cache on the loop thread, keyed by origin,
** site, language and page. An entry is used while it is younger than
** CACHE_TTL_MS and the article generation it was rendered at is current:
** every article write through the API bumps it (em_help_invalidate), and the
** TTL covers what the generation does not see (vote counts, a site's new
** name or colour, emma import-faq run beside a serving emma). Search pages
** are not cached: every search is recorded for the content-gap report.
*/
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "app.h"
#include "chat/chat.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "kb/help.h"
#include "net/embedded.h"
#include "net/loop.h"
#include "track/sites.h"
#include "track/useragent.h"

#define CACHE_BUCKETS 4096
#define CACHE_ENTRIES_MAX 4096
#define CACHE_BYTES_MAX (64u << 20)
#define CACHE_TTL_MS 60000
#define MAX_AGE "public, max-age=60"
#define HTML_TYPE "text/html; charset=utf-8"
#define KEY_MAX 1024

/* ---- Page cache (loop thread only) --------------------------------------- */

typedef struct centry {
	struct centry *hnext;	      /* hash chain */
	struct centry *older, *newer; /* insertion order, for eviction */
	uint64_t hash;
	char *key;
	uint64_t gen, born;
	char *html;
	size_t len;
	unsigned char *gz;
	size_t gzlen;
	char etag[24];
	char csp[256];
	char article[32];
	int kind;
} centry;

static centry *buckets[CACHE_BUCKETS];
static centry *oldest, *newest;
static size_t cache_entries, cache_bytes;

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void cache_remove(centry *e)
{
	centry **pp = &buckets[e->hash % CACHE_BUCKETS];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
	cache_entries--;
	cache_bytes -= e->len + e->gzlen;
	em_free(e->key);
	em_free(e->html);
	em_free(e->gz);
	em_free(e);
}

static centry *cache_get(const char *key, size_t klen)
{
	uint64_t h = fnv1a(key, klen);
	for (centry *e = buckets[h % CACHE_BUCKETS]; e; e = e->hnext) {
		if (e->hash != h || strcmp(e->key, key))
			continue;
		if (e->gen != em_help_generation() || em_loop_now() - e->born > CACHE_TTL_MS) {
			cache_remove(e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* Takes the page's buffers into a new entry. */
static centry *cache_put(const char *key, size_t klen, em_help_page *p)
{
	centry *old = cache_get(key, klen);
	if (old)
		cache_remove(old);
	centry *e = em_calloc(1, sizeof *e);
	e->hash = fnv1a(key, klen);
	e->key = em_strdup(key);
	e->gen = em_help_generation();
	e->born = em_loop_now();
	e->html = em_buf_steal(&p->html, &e->len);
	e->gz = p->gz;
	e->gzlen = p->gzlen;
	p->gz = NULL;
	p->gzlen = 0;
	memcpy(e->etag, p->etag, sizeof e->etag);
	memcpy(e->csp, p->csp, sizeof e->csp);
	memcpy(e->article, p->article, sizeof e->article);
	e->kind = p->kind;
	e->hnext = buckets[e->hash % CACHE_BUCKETS];
	buckets[e->hash % CACHE_BUCKETS] = e;
	e->older = newest;
	if (newest)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
	cache_entries++;
	cache_bytes += e->len + e->gzlen;
	while (oldest && oldest != e && (cache_entries > CACHE_ENTRIES_MAX || cache_bytes > CACHE_BYTES_MAX))
		cache_remove(oldest);
	return e;
}

/* ---- Answers ------------------------------------------------------------- */

static const char *ctype_of(int kind)
{
	return kind == EM_HELP_SITEMAP ? "application/xml; charset=utf-8" : HTML_TYPE;
}

/* A rendered page: ETag, 304, gzip as for embedded assets. */
static void send_page(em_req *r, int status, int kind, const char *html, size_t len, const unsigned char *gz,
		      size_t gzlen, const char *etag, const char *csp, const char *cache_control)
{
	if (kind != EM_HELP_SITEMAP && csp[0]) {
		em_resp_header(r, "Content-Security-Policy", csp);
		em_resp_header(r, "Referrer-Policy", "strict-origin-when-cross-origin");
	}
	if (status != 200) {
		em_resp_header(r, "Cache-Control", "no-cache");
		em_resp_header(r, "X-Content-Type-Options", "nosniff");
		em_resp_send(r, status, ctype_of(kind), html, len);
		return;
	}
	struct em_embedded e = {
		.path = "",
		.data = (const unsigned char *)html,
		.len = len,
		.gz = gz,
		.gzlen = gzlen,
		.etag = etag,
		.content_type = ctype_of(kind),
	};
	em_resp_asset(r, &e, cache_control);
}

static void send_rendered(em_req *r, em_help_page *p, const char *cache_control)
{
	send_page(r, p->status, p->kind, p->html.data ? p->html.data : "", p->html.len, p->gz, p->gzlen,
		  p->etag, p->csp, cache_control);
}

/* The 404 page of a site that does not exist (in the visitor's language). */
static void not_found(em_req *r, const char *lang)
{
	em_help_page *p = em_calloc(1, sizeof *p);
	snprintf(p->lang, sizeof p->lang, "%s",
		 lang && (!strcmp(lang, "de") || !strcmp(lang, "en"))
			 ? lang
			 : em_help_pick_lang(em_req_header(r, "Accept-Language")));
	snprintf(p->site_key, sizeof p->site_key, "default");
	snprintf(p->site_name, sizeof p->site_name, "%s", "");
	em_help_render_not_found(p);
	send_rendered(r, p, NULL);
	em_help_page_free(p);
	em_free(p);
}

static void busy(em_req *r, int status)
{
	em_resp_header(r, "Retry-After", "1");
	int code = status == EM_EAGAIN || status == EM_ECLOSED ? 503 : 500;
	static const char msg503[] = "The help centre is busy. Please try again in a moment.\n";
	static const char msg500[] = "The help centre could not show this page.\n";
	em_resp_send(r, code, "text/plain; charset=utf-8", code == 503 ? msg503 : msg500,
		     code == 503 ? sizeof msg503 - 1 : sizeof msg500 - 1);
}

/* ---- Events: views and searches ------------------------------------------ */

static int from_bot(em_req *r)
{
	const char *ua = em_req_header(r, "User-Agent");
	return ua && em_ua_is_bot(ua, strlen(ua));
}

static void event_done(int status, void *arg)
{
	(void)status;
	em_free(arg);
}

/* Records an event without making the visitor wait for it; dropped when
** the store is too busy to take it. */
static void record(em_req *r, int64_t site_id, const char *type, const char *article, const char *query,
		   int results, const char *lang)
{
	if (em_req_method(r) != EM_GET || from_bot(r))
		return;
	em_app *app = em_req_app(r);
	em_kb_event *e = em_calloc(1, sizeof *e);
	e->site_id = site_id;
	snprintf(e->type, sizeof e->type, "%s", type);
	snprintf(e->article, sizeof e->article, "%s", article ? article : "");
	snprintf(e->query, sizeof e->query, "%s", query ? query : "");
	snprintf(e->lang, sizeof e->lang, "%s", lang);
	e->results = results;
	if (em_store_write(app->store, em_kb_event_db, event_done, e))
		em_free(e);
}

/* ---- Pages --------------------------------------------------------------- */

typedef struct hctx {
	em_help_page p; /* first: the store function's argument */
	em_req *r;
	char key[KEY_MAX];
	size_t klen;
} hctx;

/* "https://host" from the request (Host as sent, when it is a plausible
** host name; "localhost" otherwise). */
static void origin_of(em_req *r, char *out, size_t outlen)
{
	const char *host = em_req_header(r, "Host");
	int ok = host && *host && strlen(host) < 256;
	for (const char *c = host; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		     *c == '.' || *c == '-' || *c == ':' || *c == '[' || *c == ']';
	snprintf(out, outlen, "%s://%s", em_req_is_https(r) ? "https" : "http", ok ? host : "localhost");
}

static void rendered(int status, void *arg)
{
	hctx *c = arg;
	em_help_page *p = &c->p;
	if (status) {
		em_warn("help page failed", "site=%s kind=%d status=%s", p->site_key, p->kind,
			em_strerror(status));
		busy(c->r, status);
	} else {
		if (p->kind == EM_HELP_SEARCH && p->q[0])
			record(c->r, p->site_id, "search", NULL, p->q, p->results, p->lang);
		if (p->kind == EM_HELP_ARTICLE && p->status == 200)
			record(c->r, p->site_id, "view", p->article, NULL, 0, p->lang);
		if (p->status == 200 && p->kind != EM_HELP_SEARCH) {
			centry *e = cache_put(c->key, c->klen, p);
			send_page(c->r, 200, e->kind, e->html, e->len, e->gz, e->gzlen, e->etag, e->csp,
				  MAX_AGE);
		} else {
			send_rendered(c->r, p, p->kind == EM_HELP_SEARCH ? "no-cache" : MAX_AGE);
		}
	}
	em_help_page_free(p);
	em_free(c);
}

/* Serves one page from the cache or renders it. arg is the slug, category
** or query; lang NULL for the sitemap. */
static void page(em_req *r, int kind, const char *lang, const char *arg, int thanks)
{
	const em_site *site = em_sites_find(em_req_param(r, "site"));
	if (!site || (lang && strcmp(lang, "de") && strcmp(lang, "en"))) {
		not_found(r, lang);
		return;
	}
	hctx *c = em_calloc(1, sizeof *c);
	em_help_page *p = &c->p;
	c->r = r;
	p->kind = kind;
	p->site_id = site->id;
	p->thanks = thanks;
	snprintf(p->lang, sizeof p->lang, "%s", lang ? lang : "en");
	origin_of(r, p->origin, sizeof p->origin);
	int n = snprintf(c->key, sizeof c->key, "%s\n%lld\n%s\n%d\n%d\n%s", p->origin, (long long)site->id,
			 p->lang, kind, thanks, arg ? arg : "");
	c->klen = n < 0 ? 0 : (size_t)n >= sizeof c->key ? sizeof c->key - 1 : (size_t)n;
	if (kind != EM_HELP_SEARCH) {
		centry *e = cache_get(c->key, c->klen);
		if (e) {
			if (kind == EM_HELP_ARTICLE)
				record(r, site->id, "view", e->article, NULL, 0, p->lang);
			send_page(r, 200, kind, e->html, e->len, e->gz, e->gzlen, e->etag, e->csp, MAX_AGE);
			em_free(c);
			return;
		}
	}
	snprintf(p->site_key, sizeof p->site_key, "%s", site->key);
	snprintf(p->site_name, sizeof p->site_name, "%s", site->name);
	json_t *settings = em_chat_settings_json(site->id);
	em_help_color(em_json_str(settings, "color", ""), p->color, sizeof p->color);
	json_decref(settings);
	if (arg && kind == EM_HELP_ARTICLE)
		snprintf(p->slug, sizeof p->slug, "%s", arg);
	else if (arg && kind == EM_HELP_CATEGORY)
		snprintf(p->category, sizeof p->category, "%s", arg);
	else if (arg && kind == EM_HELP_SEARCH)
		snprintf(p->q, sizeof p->q, "%s", arg);
	em_app *app = em_req_app(r);
	int rc = em_store_read(app->store, em_help_render_db, rendered, c);
	if (rc) {
		busy(r, rc);
		em_free(c);
	}
}

/* 302 to the site's home in the browser's language. */
static void to_home(em_req *r, const em_site *site)
{
	if (!site) {
		not_found(r, NULL);
		return;
	}
	em_buf loc;
	em_buf_init(&loc, 512);
	em_buf_puts(&loc, "/help/");
	em_help_url_segment(&loc, site->key);
	em_buf_printf(&loc, "/%s", em_help_pick_lang(em_req_header(r, "Accept-Language")));
	em_resp_header(r, "Location", loc.data);
	em_resp_header(r, "Vary", "Accept-Language");
	em_resp_header(r, "Cache-Control", "no-cache");
	em_resp_send(r, 302, HTML_TYPE, "", 0);
	em_buf_free(&loc);
}

/* GET /help: the default site (else the first one). */
static void h_root(em_req *r)
{
	const em_site *site = em_sites_find("default");
	if (!site) {
		const em_site *all[1];
		site = em_sites_list(all, 1) ? all[0] : NULL;
	}
	to_home(r, site);
}

/* GET /help/{site} */
static void h_site(em_req *r)
{
	to_home(r, em_sites_find(em_req_param(r, "site")));
}

static void h_home(em_req *r)
{
	page(r, EM_HELP_HOME, em_req_param(r, "lang"), NULL, 0);
}

static int slug_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > EM_KB_SLUG_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

static void h_article(em_req *r)
{
	const char *slug = em_req_param(r, "slug");
	if (!slug_ok(slug)) {
		not_found(r, em_req_param(r, "lang"));
		return;
	}
	const char *voted = em_req_query_param(r, "voted");
	int thanks = voted ? (!strcmp(voted, "yes") ? 1 : !strcmp(voted, "no") ? 2 : 0) : 0;
	page(r, EM_HELP_ARTICLE, em_req_param(r, "lang"), slug, thanks);
}

static void h_category(em_req *r)
{
	const char *cat = em_req_param(r, "category");
	if (!cat || !*cat) {
		/* "/help/s/de/c" is the article with the slug "c". */
		page(r, EM_HELP_ARTICLE, em_req_param(r, "lang"), "c", 0);
		return;
	}
	if (strlen(cat) > EM_KB_CATEGORY_MAX) {
		not_found(r, em_req_param(r, "lang"));
		return;
	}
	page(r, EM_HELP_CATEGORY, em_req_param(r, "lang"), cat, 0);
}

static void h_search(em_req *r)
{
	const char *q = em_req_query_param(r, "q");
	char cut[EM_KB_QUERY_MAX + 1] = "";
	if (q) {
		/* Longer queries are cut at a character boundary. */
		size_t n = strlen(q);
		if (n > EM_KB_QUERY_MAX) {
			n = EM_KB_QUERY_MAX;
			while (n && ((unsigned char)q[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(cut, q, n);
		cut[n] = 0;
		/* Surrounding blanks are not part of what was asked. */
		char *s = cut;
		while (*s == ' ')
			s++;
		memmove(cut, s, strlen(s) + 1);
		n = strlen(cut);
		while (n && cut[n - 1] == ' ')
			cut[--n] = 0;
	}
	page(r, EM_HELP_SEARCH, em_req_param(r, "lang"), cut, 0);
}

static void h_sitemap(em_req *r)
{
	page(r, EM_HELP_SITEMAP, NULL, NULL, 0);
}

/* ---- Votes (a plain form: helpful=yes|no) --------------------------------- */

typedef struct vctx {
	em_help_vote v;
	em_req *r;
	char site_key[EM_SITE_KEY_MAX + 1];
} vctx;

static void back_to_article(em_req *r, const char *site_key, const char *lang, const char *slug,
			    const char *voted)
{
	em_buf loc;
	em_buf_init(&loc, 1024);
	em_buf_puts(&loc, "/help/");
	em_help_url_segment(&loc, site_key);
	em_buf_printf(&loc, "/%s/", lang);
	em_help_url_segment(&loc, slug);
	if (voted)
		em_buf_printf(&loc, "?voted=%s#vote", voted);
	em_resp_header(r, "Location", loc.data);
	em_resp_header(r, "Cache-Control", "no-store");
	em_resp_send(r, 303, HTML_TYPE, "", 0);
	em_buf_free(&loc);
}

static void voted(int status, void *arg)
{
	vctx *c = arg;
	if (status == EM_ENOTFOUND)
		not_found(c->r, c->v.lang);
	else if (status)
		busy(c->r, status);
	else
		back_to_article(c->r, c->site_key, c->v.lang, c->v.slug, c->v.helpful ? "yes" : "no");
	em_free(c);
}

/* The value of name in an application/x-www-form-urlencoded body, when it
** is exactly one of a few plain words (no decoding needed). */
static int form_word(const char *body, size_t len, const char *name, const char *word)
{
	size_t nl = strlen(name), wl = strlen(word);
	for (size_t i = 0; i < len;) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end - i == nl + 1 + wl && !memcmp(body + i, name, nl) && body[i + nl] == '=' &&
		    !memcmp(body + i + nl + 1, word, wl))
			return 1;
		i = end + 1;
	}
	return 0;
}

static void h_vote(em_req *r)
{
	const char *lang = em_req_param(r, "lang");
	const char *slug = em_req_param(r, "slug");
	const em_site *site = em_sites_find(em_req_param(r, "site"));
	if (!site || !lang || (strcmp(lang, "de") && strcmp(lang, "en")) || !slug_ok(slug)) {
		not_found(r, lang);
		return;
	}
	size_t len;
	const char *body = em_req_body(r, &len);
	int yes = body && form_word(body, len, "helpful", "yes");
	int no = body && form_word(body, len, "helpful", "no");
	if (yes == no) {
		back_to_article(r, site->key, lang, slug, NULL); /* nothing chosen: back to the article */
		return;
	}
	vctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->v.site_id = site->id;
	c->v.helpful = yes;
	snprintf(c->v.lang, sizeof c->v.lang, "%s", lang);
	snprintf(c->v.slug, sizeof c->v.slug, "%s", slug);
	snprintf(c->site_key, sizeof c->site_key, "%s", site->key);
	em_app *app = em_req_app(r);
	int rc = em_store_write(app->store, em_help_vote_db, voted, c);
	if (rc) {
		busy(r, rc);
		em_free(c);
	}
}

/* ---- Assets -------------------------------------------------------------- */

static void h_asset(em_req *r)
{
	const char *path = em_req_param(r, "path");
	char name[256];
	snprintf(name, sizeof name, "help/%s", path ? path : "");
	const struct em_embedded *e = strstr(name, "..") ? NULL : em_embedded_find(assets, name);
	if (!e) {
		em_resp_error(r, 404, "not_found", "no such file", NULL);
		return;
	}
	em_resp_asset(r, e, "public, max-age=300");
}

void em_api_help_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/help", h_root);
	em_server_route(s, EM_GET, "/help/assets/{*path}", h_asset);
	em_server_route(s, EM_GET, "/help/{site}", h_site);
	em_server_route(s, EM_GET, "/help/{site}/sitemap.xml", h_sitemap);
	em_server_route(s, EM_GET, "/help/{site}/{lang}", h_home);
	em_server_route(s, EM_GET, "/help/{site}/{lang}/search", h_search);
	em_server_route(s, EM_GET, "/help/{site}/{lang}/c/{*category}", h_category);
	em_server_route(s, EM_GET, "/help/{site}/{lang}/{slug}", h_article);
	em_server_route(s, EM_POST, "/help/{site}/{lang}/{slug}/vote", h_vote);
}
