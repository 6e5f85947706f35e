/*
** The help centre's pages (see help.h): HTML built in C from the published
** articles, on a pool thread. Every text that comes from a user (site name,
** questions, categories, the search query) goes through em_buf_html or
** url_segment; answers are Markdown rendered by cmark in safe mode, and
** search highlights come escaped from the search (only <mark> added).
*/
#include "kb/help.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"

#define LIST_TOP 5 /* most read / most helpful on the home page */
#define RELATED_MAX 5
#define CATEGORY_LIST_MAX 500
#define SEARCH_ARTICLES 20
#define SEARCH_PRODUCTS 5
#define EXCERPT_BYTES 160
#define DESC_BYTES 155
#define SITEMAP_MAX 45000 /* below the protocol's 50,000 URLs per file */
#define DEFAULT_COLOR "#1f5fbf"

/* The category of articles that have none, in URLs. */
#define NO_CATEGORY "-"

static uint64_t generation = 1;

void em_help_invalidate(void)
{
	generation++;
}

uint64_t em_help_generation(void)
{
	return generation;
}

/* ---- UI text (German and English) --------------------------------------- */

enum {
	T_HELP,
	T_HOME_TITLE,
	T_HOW,
	T_SEARCH_LABEL,
	T_SEARCH_PLACEHOLDER,
	T_SEARCH_BUTTON,
	T_TOPICS,
	T_MOST_READ,
	T_MOST_HELPFUL,
	T_ARTICLE_ONE,
	T_GENERAL,
	T_WAS_HELPFUL,
	T_YES,
	T_NO,
	T_THANKS,
	T_THANKS_NO,
	T_RELATED,
	T_RESULTS_FOR,
	T_NO_RESULTS,
	T_CONTACT,
	T_PRODUCTS,
	T_NOT_FOUND,
	T_NOT_FOUND_TEXT,
	T_BACK,
	T_OTHER_LANG,
	T_EMPTY,
	T_HOME_DESC,
	T_BREADCRUMB,
	T_SEARCH_TITLE,
	T_CATEGORY_DESC,
	T_IN_STOCK,
	T_COUNT
};

static const char *const texts[T_COUNT][2] = {
	/* {de, en} */
	[T_HELP] = {"Hilfe", "Help"},
	[T_HOME_TITLE] = {"Hilfe-Center", "Help centre"},
	[T_HOW] = {"Wie können wir helfen?", "How can we help?"},
	[T_SEARCH_LABEL] = {"Hilfe durchsuchen", "Search the help centre"},
	[T_SEARCH_PLACEHOLDER] = {"Frage oder Stichwort, z. B. Rücksendung",
				  "Question or keyword, e.g. returns"},
	[T_SEARCH_BUTTON] = {"Suchen", "Search"},
	[T_TOPICS] = {"Themen", "Topics"},
	[T_MOST_READ] = {"Meistgelesen", "Most read"},
	[T_MOST_HELPFUL] = {"Am hilfreichsten", "Most helpful"},
	[T_ARTICLE_ONE] = {"1 Artikel", "1 article"},
	[T_GENERAL] = {"Allgemein", "General"},
	[T_WAS_HELPFUL] = {"War dieser Artikel hilfreich?", "Was this article helpful?"},
	[T_YES] = {"Ja", "Yes"},
	[T_NO] = {"Nein", "No"},
	[T_THANKS] = {"Danke für Ihre Rückmeldung!", "Thank you for your feedback!"},
	[T_THANKS_NO] =
		{"Danke für Ihre Rückmeldung. Schade, dass der Artikel nicht geholfen hat – schreiben Sie "
		 "uns im Chat auf unserer Website, wir helfen gern persönlich.",
		 "Thank you for your feedback. Sorry this did not help – write to us in the chat on our "
		 "website and we will gladly help in person."},
	[T_RELATED] = {"Ähnliche Artikel", "Related articles"},
	[T_RESULTS_FOR] = {"Suchergebnisse für", "Search results for"},
	[T_NO_RESULTS] = {"Leider haben wir dazu keinen Artikel gefunden.",
			  "Sorry, we found no article about that."},
	[T_CONTACT] = {"Keine passende Antwort dabei? Schreiben Sie uns im Chat auf unserer Website oder "
		       "fragen Sie unseren Kundenservice – wir helfen gern persönlich.",
		       "No answer that fits? Write to us in the chat on our website or ask our customer "
		       "service – we are happy to help in person."},
	[T_PRODUCTS] = {"Produkte", "Products"},
	[T_NOT_FOUND] = {"Seite nicht gefunden", "Page not found"},
	[T_NOT_FOUND_TEXT] = {"Diese Seite gibt es nicht (mehr). Vielleicht hilft die Suche weiter?",
			      "This page does not exist (any more). Perhaps the search helps?"},
	[T_BACK] = {"Zur Übersicht", "Back to the help centre"},
	[T_OTHER_LANG] = {"English", "Deutsch"},
	[T_EMPTY] = {"Hier gibt es noch keine Artikel.", "There are no articles here yet."},
	[T_HOME_DESC] = {"Antworten auf häufige Fragen: ", "Answers to common questions: "},
	[T_BREADCRUMB] = {"Brotkrümelnavigation", "Breadcrumb"},
	[T_SEARCH_TITLE] = {"Suche", "Search"},
	[T_CATEGORY_DESC] = {"Artikel zum Thema ", "Articles about "},
	[T_IN_STOCK] = {"auf Lager", "in stock"},
};

static const char *tr(const em_help_page *p, int key)
{
	return texts[key][strcmp(p->lang, "de") ? 1 : 0];
}

static const char *other_lang(const char *lang)
{
	return strcmp(lang, "de") ? "de" : "en";
}

/* ---- Small helpers ------------------------------------------------------- */

void em_help_color(const char *in, char *out, size_t outlen)
{
	size_t n = in ? strlen(in) : 0;
	int ok = n && in[0] == '#' && (n == 4 || n == 5 || n == 7 || n == 9) && n < outlen;
	for (size_t i = 1; ok && i < n; i++)
		ok = (in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'f') ||
		     (in[i] >= 'A' && in[i] <= 'F');
	if (ok)
		memcpy(out, in, n + 1);
	else if (outlen)
		out[0] = 0;
}

void em_help_url_segment(em_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    *c == '-' || *c == '.' || *c == '_' || *c == '~') {
			em_buf_putc(b, (char)*c);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			em_buf_append(b, e, 3);
		}
	}
}

const char *em_help_pick_lang(const char *al)
{
	/* Each range ("de-CH;q=0.8") in turn; the best q of de and en wins, the
	** earlier one on a tie. */
	double q_de = -1, q_en = -1;
	int first = 0; /* 1 = de came first, 2 = en */
	for (const char *p = al; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		char tag[3] = {0};
		size_t tl = strcspn(p, "-;, ");
		if (tl == 2 && n >= 2) {
			tag[0] = (char)(p[0] | 0x20);
			tag[1] = (char)(p[1] | 0x20);
		}
		double q = 1;
		const char *semi = memchr(p, ';', n);
		if (semi) {
			const char *qs = strstr(semi, "q=");
			if (qs && qs < p + n)
				q = strtod(qs + 2, NULL);
		}
		if (!strcmp(tag, "de") && q > q_de) {
			q_de = q;
			first = first ? first : 1;
		} else if (!strcmp(tag, "en") && q > q_en) {
			q_en = q;
			first = first ? first : 2;
		}
		p += n;
	}
	if (q_de <= 0 && q_en <= 0)
		return "en";
	if (q_de > q_en || (q_de == q_en && first == 1))
		return "de";
	return "en";
}

/* Appends at most max bytes of s (cut at a character, then "…"). */
static void put_trunc(em_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max) {
		em_buf_html(b, s);
		return;
	}
	while (max && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	while (max && s[max - 1] == ' ')
		max--;
	char *cut = em_malloc(max + 1);
	memcpy(cut, s, max);
	cut[max] = 0;
	em_buf_html(b, cut);
	em_buf_puts(b, "…");
	em_free(cut);
}

/* Plain text of Markdown, cut to max bytes, HTML-escaped. */
static void put_excerpt(em_buf *b, const char *md, size_t max)
{
	char *text = em_kb_markdown_text(md, strlen(md));
	put_trunc(b, text, max);
	em_free(text);
}

static const char *site_title(const em_help_page *p)
{
	return p->site_name[0] ? p->site_name : p->site_key;
}

/* "/help/<site>/<lang>" for lang. */
static void put_base(em_buf *b, const em_help_page *p, const char *lang)
{
	em_buf_puts(b, "/help/");
	em_help_url_segment(b, p->site_key);
	em_buf_putc(b, '/');
	em_buf_puts(b, lang);
}

static void put_category_path(em_buf *b, const em_help_page *p, const char *lang, const char *category)
{
	put_base(b, p, lang);
	em_buf_puts(b, "/c/");
	em_help_url_segment(b, *category ? category : NO_CATEGORY);
}

static void put_article_path(em_buf *b, const em_help_page *p, const char *lang, const char *slug)
{
	put_base(b, p, lang);
	em_buf_putc(b, '/');
	em_help_url_segment(b, slug);
}

static const char *category_label(const em_help_page *p, const char *category)
{
	return *category ? category : tr(p, T_GENERAL);
}

/* ---- Page frame ---------------------------------------------------------- */

typedef struct frame {
	const char *title;	/* text; the site and "Help" are appended */
	const char *desc;	/* text, NULL = none */
	const char *self_path;	/* URL path of this page (encoded) */
	const char *other_path; /* the same page in the other language, NULL = none */
	int noindex;
	const char *query; /* search box value */
} frame;

static void css_policy(em_help_page *p, const char *style)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	crypto_hash_sha256(h, (const unsigned char *)style, strlen(style));
	sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
	snprintf(p->csp, sizeof p->csp,
		 "default-src 'none'; style-src 'self' 'sha256-%s'; img-src * data:; form-action 'self'; "
		 "base-uri 'none'; frame-ancestors 'self'",
		 b64);
}

static void page_start(em_help_page *p, const frame *f)
{
	em_buf *b = &p->html;
	const char *lang = p->lang, *other = other_lang(lang);
	char style[64];
	snprintf(style, sizeof style, ":root{--brand:%s}", p->color[0] ? p->color : DEFAULT_COLOR);
	css_policy(p, style);
	em_buf_printf(b,
		      "<!doctype html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
		      lang);
	em_buf_html(b, f->title);
	em_buf_puts(b, " – ");
	em_buf_html(b, site_title(p));
	em_buf_printf(b, " %s</title>\n", tr(p, T_HELP));
	if (f->desc) {
		em_buf_puts(b, "<meta name=\"description\" content=\"");
		put_trunc(b, f->desc, DESC_BYTES);
		em_buf_puts(b, "\">\n");
	}
	em_buf_printf(b, "<meta name=\"robots\" content=\"%s\">\n",
		      f->noindex ? "noindex, follow" : "index, follow");
	if (f->self_path && !f->noindex) {
		em_buf_puts(b, "<link rel=\"canonical\" href=\"");
		em_buf_html(b, p->origin);
		em_buf_html(b, f->self_path);
		em_buf_puts(b, "\">\n");
		if (f->other_path) {
			em_buf_printf(b, "<link rel=\"alternate\" hreflang=\"%s\" href=\"", lang);
			em_buf_html(b, p->origin);
			em_buf_html(b, f->self_path);
			em_buf_printf(b, "\">\n<link rel=\"alternate\" hreflang=\"%s\" href=\"", other);
			em_buf_html(b, p->origin);
			em_buf_html(b, f->other_path);
			em_buf_puts(b, "\">\n");
		}
	}
	/* An empty icon: browsers would otherwise ask for /favicon.ico. */
	em_buf_printf(
		b,
		"<link rel=\"icon\" href=\"data:,\">\n"
		"<link rel=\"stylesheet\" href=\"/help/assets/help.css\">\n<style>%s</style>\n"
		"</head>\n<body>\n<header class=\"top\"><div class=\"wrap bar\"><a class=\"brand\" href=\"",
		style);
	put_base(b, p, lang);
	em_buf_puts(b, "\">");
	em_buf_html(b, site_title(p));
	em_buf_printf(b, " <span>%s</span></a>", tr(p, T_HELP));
	em_buf_printf(b, "<a class=\"lang\" hreflang=\"%s\" lang=\"%s\" href=\"", other, other);
	if (f->other_path)
		em_buf_html(b, f->other_path);
	else
		put_base(b, p, other);
	em_buf_printf(b, "\">%s</a></div>\n", tr(p, T_OTHER_LANG));
	em_buf_puts(b, "<form class=\"wrap search\" role=\"search\" method=\"get\" action=\"");
	put_base(b, p, lang);
	em_buf_printf(
		b,
		"/search\"><label class=\"sr\" for=\"q\">%s</label>"
		"<input id=\"q\" name=\"q\" type=\"search\" maxlength=\"%d\" placeholder=\"%s\" value=\"",
		tr(p, T_SEARCH_LABEL), EM_KB_QUERY_MAX, tr(p, T_SEARCH_PLACEHOLDER));
	if (f->query)
		em_buf_html(b, f->query);
	em_buf_printf(b, "\"><button type=\"submit\">%s</button></form>\n</header>\n<main class=\"wrap\">\n",
		      tr(p, T_SEARCH_BUTTON));
}

static void page_end(em_help_page *p)
{
	em_buf *b = &p->html;
	em_buf_puts(b, "</main>\n<footer class=\"wrap foot\"><a href=\"");
	put_base(b, p, p->lang);
	em_buf_printf(b, "\">%s</a> · ", tr(p, T_HOME_TITLE));
	em_buf_html(b, site_title(p));
	em_buf_puts(b, "</footer>\n</body>\n</html>\n");
}

/* <nav> Help › category › (current, not a link) */
static void breadcrumbs(em_help_page *p, const char *category, const char *current)
{
	em_buf *b = &p->html;
	em_buf_printf(b, "<nav class=\"crumbs\" aria-label=\"%s\"><ol><li><a href=\"", tr(p, T_BREADCRUMB));
	put_base(b, p, p->lang);
	em_buf_printf(b, "\">%s</a></li>", tr(p, T_HOME_TITLE));
	if (category) {
		em_buf_puts(b, "<li><a href=\"");
		put_category_path(b, p, p->lang, category);
		em_buf_puts(b, "\">");
		em_buf_html(b, category_label(p, category));
		em_buf_puts(b, "</a></li>");
	}
	if (current) {
		em_buf_puts(b, "<li aria-current=\"page\">");
		em_buf_html(b, current);
		em_buf_puts(b, "</li>");
	}
	em_buf_puts(b, "</ol></nav>\n");
}

/* A list of article links from a statement whose columns 0 and 1 are slug
** and question; returns how many. */
static int article_links(em_help_page *p, em_stmt *st, int with_excerpt)
{
	em_buf *b = &p->html;
	int n = 0;
	while (em_stmt_step(st) == 1) {
		if (!n++)
			em_buf_puts(b, "<ul class=\"articles\">\n");
		em_buf_puts(b, "<li><a href=\"");
		put_article_path(b, p, p->lang, em_stmt_text(st, 0));
		em_buf_puts(b, "\">");
		em_buf_html(b, em_stmt_text(st, 1));
		em_buf_puts(b, "</a>");
		if (with_excerpt) {
			em_buf_puts(b, "<p>");
			put_excerpt(b, em_stmt_text(st, 2), EXCERPT_BYTES);
			em_buf_puts(b, "</p>");
		}
		em_buf_puts(b, "</li>\n");
	}
	em_stmt_done(st);
	if (n)
		em_buf_puts(b, "</ul>\n");
	return n;
}

static int lang_has_articles(em_db *db, int64_t site, const char *lang)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT 1 FROM kb_article WHERE site_id = ? AND lang = ? AND status = 'published' LIMIT 1",
		"it", site, lang);
	int has = em_stmt_step(st) == 1;
	em_stmt_done(st);
	return has;
}

/* ---- Pages --------------------------------------------------------------- */

static int render_home(em_db *db, em_help_page *p)
{
	em_buf *b = &p->html;
	em_buf self, other;
	em_buf_init(&self, 512);
	em_buf_init(&other, 512);
	put_base(&self, p, p->lang);
	put_base(&other, p, other_lang(p->lang));
	int has_other = lang_has_articles(db, p->site_id, other_lang(p->lang));
	char desc[256];
	snprintf(desc, sizeof desc, "%s%s", tr(p, T_HOME_DESC), site_title(p));
	frame f = {tr(p, T_HOME_TITLE), desc, self.data, has_other ? other.data : NULL, 0, NULL};
	page_start(p, &f);
	em_buf_free(&self);
	em_buf_free(&other);
	em_buf_printf(b, "<h1>%s</h1>\n", tr(p, T_HOW));

	em_kb_read q = {.site_id = p->site_id};
	snprintf(q.lang, sizeof q.lang, "%s", p->lang);
	int rc = em_kb_categories_db(db, &q);
	if (rc) {
		json_decref(q.out);
		return rc;
	}
	if (!json_array_size(q.out)) {
		em_buf_printf(b, "<p class=\"empty\">%s</p>\n", tr(p, T_EMPTY));
	} else {
		em_buf_printf(b, "<section class=\"topics\"><h2>%s</h2>\n<ul class=\"cats\">\n",
			      tr(p, T_TOPICS));
		size_t i;
		json_t *c;
		json_array_foreach(q.out, i, c)
		{
			const char *cat = em_json_str(c, "category", "");
			int count = (int)em_json_int(c, "count", 0);
			em_buf_puts(b, "<li><a href=\"");
			put_category_path(b, p, p->lang, cat);
			em_buf_puts(b, "\">");
			em_buf_html(b, category_label(p, cat));
			em_buf_puts(b, "</a> <span class=\"count\">");
			if (count == 1)
				em_buf_puts(b, tr(p, T_ARTICLE_ONE));
			else
				em_buf_printf(b, strcmp(p->lang, "de") ? "%d articles" : "%d Artikel", count);
			em_buf_puts(b, "</span></li>\n");
		}
		em_buf_puts(b, "</ul></section>\n");
	}
	json_decref(q.out);

	em_buf_puts(b, "<div class=\"lists\">\n");
	size_t mark = b->len;
	em_buf_printf(b, "<section class=\"top-read\"><h2>%s</h2>\n", tr(p, T_MOST_READ));
	em_stmt *st = em_db_prepare(db,
				    "SELECT slug, question FROM kb_article WHERE site_id = ? AND lang = ?"
				    " AND status = 'published' ORDER BY views DESC, id LIMIT ?",
				    "itI", p->site_id, p->lang, LIST_TOP);
	if (article_links(p, st, 0))
		em_buf_puts(b, "</section>\n");
	else
		b->len = mark, b->data[mark] = 0;
	mark = b->len;
	em_buf_printf(b, "<section class=\"top-helpful\"><h2>%s</h2>\n", tr(p, T_MOST_HELPFUL));
	st = em_db_prepare(db,
			   "SELECT slug, question FROM kb_article WHERE site_id = ? AND lang = ?"
			   " AND status = 'published' AND helpful_yes > helpful_no"
			   " ORDER BY helpful_yes - helpful_no DESC, helpful_yes DESC, id LIMIT ?",
			   "itI", p->site_id, p->lang, LIST_TOP);
	if (article_links(p, st, 0))
		em_buf_puts(b, "</section>\n");
	else
		b->len = mark, b->data[mark] = 0;
	em_buf_puts(b, "</div>\n");
	page_end(p);
	p->status = 200;
	return 0;
}

static int render_category(em_db *db, em_help_page *p)
{
	em_buf *b = &p->html;
	const char *cat = strcmp(p->category, NO_CATEGORY) ? p->category : "";
	em_stmt *st = em_db_prepare(
		db,
		"SELECT 1 FROM kb_article WHERE site_id = ? AND lang = ? AND status = 'published'"
		" AND category = ? LIMIT 1",
		"itt", p->site_id, p->lang, cat);
	int rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (rc == 0) {
		p->status = 404;
		return 0;
	}
	st = em_db_prepare(db,
			   "SELECT 1 FROM kb_article WHERE site_id = ? AND lang = ? AND status = 'published'"
			   " AND category = ? LIMIT 1",
			   "itt", p->site_id, other_lang(p->lang), cat);
	int has_other = em_stmt_step(st) == 1;
	em_stmt_done(st);
	em_buf self, other;
	em_buf_init(&self, 1024);
	em_buf_init(&other, 1024);
	put_category_path(&self, p, p->lang, cat);
	put_category_path(&other, p, other_lang(p->lang), cat);
	char desc[256];
	snprintf(desc, sizeof desc, "%s%s", tr(p, T_CATEGORY_DESC), category_label(p, cat));
	frame f = {category_label(p, cat), desc, self.data, has_other ? other.data : NULL, 0, NULL};
	page_start(p, &f);
	em_buf_free(&self);
	em_buf_free(&other);
	breadcrumbs(p, NULL, category_label(p, cat));
	em_buf_puts(b, "<h1>");
	em_buf_html(b, category_label(p, cat));
	em_buf_puts(b, "</h1>\n");
	st = em_db_prepare(db,
			   "SELECT slug, question, answer FROM kb_article WHERE site_id = ? AND lang = ?"
			   " AND status = 'published' AND category = ? ORDER BY views DESC, question LIMIT ?",
			   "ittI", p->site_id, p->lang, cat, CATEGORY_LIST_MAX);
	article_links(p, st, 1);
	page_end(p);
	p->status = 200;
	return 0;
}

static int render_article(em_db *db, em_help_page *p)
{
	em_buf *b = &p->html;
	em_kb_read q = {.site_id = p->site_id, .published_only = 1};
	snprintf(q.lang, sizeof q.lang, "%s", p->lang);
	snprintf(q.slug, sizeof q.slug, "%s", p->slug);
	int rc = em_kb_article_get_db(db, &q);
	if (rc == EM_ENOTFOUND) {
		p->status = 404;
		return 0;
	}
	if (rc)
		return rc;
	json_t *a = q.out;
	const char *question = em_json_str(a, "question", "");
	const char *category = em_json_str(a, "category", "");
	snprintf(p->article, sizeof p->article, "%s", em_json_str(a, "id", ""));
	em_stmt *st = em_db_prepare(db,
				    "SELECT 1 FROM kb_article WHERE site_id = ? AND lang = ? AND slug = ?"
				    " AND status = 'published'",
				    "itt", p->site_id, other_lang(p->lang), p->slug);
	int has_other = em_stmt_step(st) == 1;
	em_stmt_done(st);
	em_buf self, other;
	em_buf_init(&self, 1024);
	em_buf_init(&other, 1024);
	put_article_path(&self, p, p->lang, p->slug);
	put_article_path(&other, p, other_lang(p->lang), p->slug);
	const char *md = em_json_str(a, "answer", "");
	char *text = em_kb_markdown_text(md, strlen(md));
	frame f = {question, text, self.data, has_other ? other.data : NULL, 0, NULL};
	page_start(p, &f);
	em_free(text);
	breadcrumbs(p, category, NULL);
	em_buf_puts(b, "<article>\n<h1>");
	em_buf_html(b, question);
	/* answer_html is cmark's output in safe mode: raw HTML and unsafe
	** links were removed when it was rendered. */
	em_buf_printf(b, "</h1>\n<div class=\"answer\">\n%s</div>\n</article>\n",
		      em_json_str(a, "answer_html", ""));
	em_buf_puts(b, "<section class=\"vote\" id=\"vote\">\n");
	if (p->thanks) {
		em_buf_printf(b, "<p class=\"thanks\" role=\"status\">%s</p>\n",
			      tr(p, p->thanks == 1 ? T_THANKS : T_THANKS_NO));
	} else {
		em_buf_printf(b, "<form method=\"post\" action=\"%.*s/vote\"><h2>%s</h2>", (int)self.len,
			      self.data, tr(p, T_WAS_HELPFUL));
		em_buf_printf(b,
			      "<button type=\"submit\" name=\"helpful\" value=\"yes\">%s</button> "
			      "<button type=\"submit\" name=\"helpful\" value=\"no\">%s</button></form>\n",
			      tr(p, T_YES), tr(p, T_NO));
	}
	em_buf_puts(b, "</section>\n");
	em_buf_free(&self);
	em_buf_free(&other);
	size_t mark = b->len;
	em_buf_printf(b, "<section class=\"related\"><h2>%s</h2>\n", tr(p, T_RELATED));
	st = em_db_prepare(
		db,
		"SELECT slug, question FROM kb_article WHERE site_id = ? AND lang = ?"
		" AND status = 'published' AND category = ? AND slug <> ? ORDER BY views DESC, id LIMIT ?",
		"itttI", p->site_id, p->lang, category, p->slug, RELATED_MAX);
	if (article_links(p, st, 0))
		em_buf_puts(b, "</section>\n");
	else
		b->len = mark, b->data[mark] = 0;
	json_decref(a);
	page_end(p);
	p->status = 200;
	return 0;
}

static int render_search(em_db *db, em_help_page *p)
{
	em_buf *b = &p->html;
	em_buf self;
	em_buf_init(&self, 512);
	put_base(&self, p, p->lang);
	em_buf_puts(&self, "/search");
	char title[EM_KB_QUERY_MAX + 64];
	if (p->q[0])
		snprintf(title, sizeof title, "%s „%s“", tr(p, T_RESULTS_FOR), p->q);
	else
		snprintf(title, sizeof title, "%s", tr(p, T_SEARCH_TITLE));
	frame f = {title, NULL, self.data, NULL, 1, p->q};
	page_start(p, &f);
	em_buf_free(&self);
	breadcrumbs(p, NULL, tr(p, T_SEARCH_TITLE));
	em_buf_puts(b, "<h1>");
	em_buf_html(b, title);
	em_buf_puts(b, "</h1>\n");
	p->status = 200;
	if (!p->q[0]) {
		page_end(p);
		return 0;
	}
	em_kb_search s = {.site_id = p->site_id, .articles = SEARCH_ARTICLES, .products = SEARCH_PRODUCTS};
	snprintf(s.lang, sizeof s.lang, "%s", p->lang);
	snprintf(s.q, sizeof s.q, "%s", p->q);
	int rc = em_kb_search_db(db, &s);
	if (rc) {
		json_decref(s.out);
		return rc;
	}
	p->results = s.results;
	json_t *arts = json_object_get(s.out, "articles"), *prods = json_object_get(s.out, "products");
	size_t i;
	json_t *o;
	if (!json_array_size(arts) && !json_array_size(prods)) {
		em_buf_printf(b, "<p class=\"none\">%s</p>\n", tr(p, T_NO_RESULTS));
	} else {
		em_buf_puts(b, "<p class=\"count\">");
		em_buf_printf(b, strcmp(p->lang, "de") ? "%d results" : "%d Treffer", s.results);
		em_buf_puts(b, "</p>\n");
	}
	if (json_array_size(arts)) {
		em_buf_puts(b, "<ul class=\"results\">\n");
		json_array_foreach(arts, i, o)
		{
			/* question_html and snippet_html are escaped by the search,
			** with <mark> around the matched words. */
			em_buf_puts(b, "<li><a href=\"");
			put_article_path(b, p, p->lang, em_json_str(o, "slug", ""));
			em_buf_printf(b, "\">%s</a><p>%s</p></li>\n", em_json_str(o, "question_html", ""),
				      em_json_str(o, "snippet_html", ""));
		}
		em_buf_puts(b, "</ul>\n");
	}
	if (json_array_size(prods)) {
		em_buf_printf(b, "<section class=\"products\"><h2>%s</h2>\n<ul class=\"results\">\n",
			      tr(p, T_PRODUCTS));
		json_array_foreach(prods, i, o)
		{
			const char *url = em_json_str(o, "url", "");
			em_buf_puts(b, "<li>");
			if (*url) {
				em_buf_puts(b, "<a href=\"");
				em_buf_html(b, url);
				em_buf_puts(b, "\">");
			}
			em_buf_puts(b, em_json_str(o, "name_html", ""));
			if (*url)
				em_buf_puts(b, "</a>");
			json_t *price = json_object_get(o, "price");
			if (json_is_number(price)) {
				em_buf_printf(b, " <span class=\"price\">%.2f ", json_number_value(price));
				em_buf_html(b, em_json_str(o, "currency", ""));
				em_buf_puts(b, "</span>");
			}
			em_buf_printf(b, "<p>%s</p></li>\n", em_json_str(o, "snippet_html", ""));
		}
		em_buf_puts(b, "</ul></section>\n");
	}
	json_decref(s.out);
	em_buf_printf(b, "<aside class=\"contact\"><p>%s</p></aside>\n", tr(p, T_CONTACT));
	page_end(p);
	return 0;
}

static void sitemap_url(em_help_page *p, const char *path, int64_t updated)
{
	em_buf *b = &p->html;
	em_buf_puts(b, "<url><loc>");
	em_buf_html(b, p->origin);
	em_buf_html(b, path);
	em_buf_puts(b, "</loc>");
	if (updated) {
		char t[32];
		em_rfc3339(updated, t);
		t[10] = 0; /* the date is enough */
		em_buf_printf(b, "<lastmod>%s</lastmod>", t);
	}
	em_buf_puts(b, "</url>\n");
}

static int render_sitemap(em_db *db, em_help_page *p)
{
	em_buf *b = &p->html;
	em_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
	em_buf path;
	em_buf_init(&path, 4096);
	static const char *langs[] = {"de", "en"};
	for (int l = 0; l < 2; l++) {
		/* The home page of a language, then its categories, then articles. */
		em_stmt *st = em_db_prepare(
			db,
			"SELECT category, max(updated_at) FROM kb_article WHERE site_id = ?"
			" AND lang = ? AND status = 'published' GROUP BY category ORDER BY category",
			"it", p->site_id, langs[l]);
		int n = 0;
		while (em_stmt_step(st) == 1) {
			if (!n++) {
				em_buf_reset(&path);
				put_base(&path, p, langs[l]);
				sitemap_url(p, path.data, 0);
			}
			em_buf_reset(&path);
			put_category_path(&path, p, langs[l], em_stmt_text(st, 0));
			sitemap_url(p, path.data, em_stmt_int(st, 1));
		}
		em_stmt_done(st);
		st = em_db_prepare(db,
				   "SELECT slug, updated_at FROM kb_article WHERE site_id = ? AND lang = ?"
				   " AND status = 'published' ORDER BY slug LIMIT ?",
				   "itI", p->site_id, langs[l], SITEMAP_MAX);
		int rc;
		while ((rc = em_stmt_step(st)) == 1) {
			em_buf_reset(&path);
			put_article_path(&path, p, langs[l], em_stmt_text(st, 0));
			sitemap_url(p, path.data, em_stmt_int(st, 1));
		}
		em_stmt_done(st);
		if (rc < 0) {
			em_buf_free(&path);
			return EM_EIO;
		}
	}
	em_buf_free(&path);
	em_buf_puts(b, "</urlset>\n");
	p->status = 200;
	return 0;
}

static void render_404(em_help_page *p)
{
	em_buf *b = &p->html;
	em_buf_reset(b);
	frame f = {tr(p, T_NOT_FOUND), NULL, NULL, NULL, 1, NULL};
	page_start(p, &f);
	em_buf_printf(b, "<h1>%s</h1>\n<p>%s</p>\n<p><a href=\"", tr(p, T_NOT_FOUND),
		      tr(p, T_NOT_FOUND_TEXT));
	put_base(b, p, p->lang);
	em_buf_printf(b, "\">%s</a></p>\n", tr(p, T_BACK));
	page_end(p);
	p->status = 404;
}

/* The strong ETag and the gzip copy of the finished page. */
static void finish(em_help_page *p)
{
	unsigned char h[8];
	crypto_generichash(h, sizeof h, (const unsigned char *)p->html.data, p->html.len, NULL, 0);
	char hex[17];
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(p->etag, sizeof p->etag, "\"h%s\"", hex);
	if (p->status != 200)
		return; /* error pages are sent as they are */
	z_stream z = {0};
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return;
	uLong bound = deflateBound(&z, p->html.len);
	unsigned char *out = em_malloc(bound);
	z.next_in = (Bytef *)p->html.data;
	z.avail_in = (uInt)p->html.len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < p->html.len) {
		p->gz = out;
		p->gzlen = z.total_out;
	} else {
		em_free(out);
	}
	deflateEnd(&z);
}

int em_help_render_db(em_db *db, void *arg)
{
	em_help_page *p = arg;
	em_buf_init(&p->html, EM_HELP_PAGE_MAX);
	p->status = 404;
	int rc;
	switch (p->kind) {
	case EM_HELP_HOME: rc = render_home(db, p); break;
	case EM_HELP_CATEGORY: rc = render_category(db, p); break;
	case EM_HELP_ARTICLE: rc = render_article(db, p); break;
	case EM_HELP_SEARCH: rc = render_search(db, p); break;
	case EM_HELP_SITEMAP: rc = render_sitemap(db, p); break;
	default: rc = 0;
	}
	if (rc)
		return rc;
	if (p->status == 404)
		render_404(p);
	finish(p);
	return 0;
}

void em_help_render_not_found(em_help_page *p)
{
	em_buf_init(&p->html, EM_HELP_PAGE_MAX);
	if (strcmp(p->lang, "de") && strcmp(p->lang, "en"))
		snprintf(p->lang, sizeof p->lang, "en");
	render_404(p);
	finish(p);
}

void em_help_page_free(em_help_page *p)
{
	em_buf_free(&p->html);
	em_free(p->gz);
	p->gz = NULL;
}

/* ---- Votes --------------------------------------------------------------- */

int em_help_vote_db(em_db *db, void *arg)
{
	em_help_vote *v = arg;
	em_stmt *st = em_db_prepare(db,
				    "SELECT id FROM kb_article WHERE site_id = ? AND lang = ? AND slug = ?"
				    " AND status = 'published'",
				    "itt", v->site_id, v->lang, v->slug);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	em_kb_event e = {.site_id = v->site_id, .article_id = id};
	snprintf(e.type, sizeof e.type, "%s", v->helpful ? "helpful" : "unhelpful");
	snprintf(e.lang, sizeof e.lang, "%s", v->lang);
	return em_kb_event_db(db, &e);
}
