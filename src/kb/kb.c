/*
** Knowledge base and product catalog (see kb.h).
*/
#include "kb/kb.h"

#include <cmark.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "kb/text.h"
#include "kb/vocab.h"
#include "track/event.h"

#define TERMS_MAX 16
#define ALTS_MAX 12
#define TERM_MAX 96
#define SNIPPET_TOKENS 24

/* Where a search's time goes (logged at debug level, one line a search). */
typedef struct kb_stats {
	uint64_t cpu0; /* the thread's CPU time at the start (us) */
	uint64_t t0, us_terms, us_correct, us_pass[4], us_hl;
	unsigned vsql, ncorrect, npass, rows[4];
} kb_stats;
static _Thread_local kb_stats kst;

static uint64_t thread_cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Markdown and slugs -------------------------------------------------- */

char *em_kb_markdown_html(const char *md, size_t len)
{
	/* cmark is safe by default: raw HTML and javascript:/data: links go. */
	char *html = cmark_markdown_to_html(md, len, CMARK_OPT_DEFAULT | CMARK_OPT_SMART);
	char *out = em_strdup(html ? html : "");
	free(html);
	return out;
}

char *em_kb_markdown_text(const char *md, size_t len)
{
	/* The HTML cmark makes, without tags and with its few entities decoded:
	** block ends become spaces so words do not run together. */
	char *html = cmark_markdown_to_html(md, len, CMARK_OPT_DEFAULT);
	size_t n = html ? strlen(html) : 0;
	char *out = em_malloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		if (html[i] == '<') {
			const char *e = strchr(html + i, '>');
			i = e ? (size_t)(e - html) + 1 : n;
			if (k && out[k - 1] != ' ')
				out[k++] = ' ';
			continue;
		}
		if (html[i] == '&') {
			static const struct {
				const char *ent;
				char c;
			} ents[] = {{"&amp;", '&'},
				    {"&lt;", '<'},
				    {"&gt;", '>'},
				    {"&quot;", '"'},
				    {"&#39;", '\''}};
			int done = 0;
			for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !done; e++) {
				size_t el = strlen(ents[e].ent);
				if (!strncmp(html + i, ents[e].ent, el)) {
					out[k++] = ents[e].c;
					i += el;
					done = 1;
				}
			}
			if (done)
				continue;
		}
		out[k++] = html[i] == '\n' ? ' ' : html[i];
		i++;
	}
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = 0;
	free(html);
	return out;
}

void em_kb_slug(const char *title, char *out, size_t outlen)
{
	static const struct {
		const char *from, *to;
	} map[] = {{"ä", "ae"}, {"ö", "oe"}, {"ü", "ue"}, {"Ä", "ae"}, {"Ö", "oe"}, {"Ü", "ue"}, {"ß", "ss"}};
	size_t k = 0;
	int dash = 0;
	for (const char *p = title; *p && k + 3 < outlen;) {
		int done = 0;
		for (size_t i = 0; i < sizeof map / sizeof map[0] && !done; i++) {
			size_t fl = strlen(map[i].from);
			if (!strncmp(p, map[i].from, fl)) {
				if (dash && k)
					out[k++] = '-';
				dash = 0;
				for (const char *t = map[i].to; *t && k + 1 < outlen; t++)
					out[k++] = *t;
				p += fl;
				done = 1;
			}
		}
		if (done)
			continue;
		unsigned char c = (unsigned char)*p++;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
			if (dash && k)
				out[k++] = '-';
			dash = 0;
			out[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else {
			dash = 1;
			while (c >= 0x80 && (*p & 0xC0) == 0x80) /* skip the rest of other letters */
				p++;
		}
	}
	if (k == 0)
		snprintf(out, outlen, "article");
	else
		out[k] = 0;
	if (strlen(out) > EM_KB_SLUG_MAX)
		out[EM_KB_SLUG_MAX] = 0;
}

/* ---- Index maintenance --------------------------------------------------- */

/* Rowids of the search index (migration 011): a site's rows, and its
** published articles, are one range. */
#define ART_ROWID(site, draft, id) (((int64_t)(site) << 33) | ((int64_t)(draft) << 32) | (int64_t)(id))
#define PROD_ROWID(site, id) (((int64_t)(site) << 32) | (int64_t)(id))
#define ROWID_REF(rowid) ((rowid)&0xFFFFFFFFLL)

static void kb_changed(int products);

/* Removes an article from both languages' indexes: lookups by rowid. */
static int article_unindex(em_db *db, int64_t site, int64_t id)
{
	kb_changed(0);
	for (int draft = 0; draft < 2; draft++)
		if (em_db_exec(db, "DELETE FROM kb_art_de WHERE rowid = ?", "i",
			       ART_ROWID(site, draft, id)) ||
		    em_db_exec(db, "DELETE FROM kb_art_en WHERE rowid = ?", "i", ART_ROWID(site, draft, id)))
			return EM_EIO;
	return 0;
}

static int article_index(em_db *db, const char *lang, const char *title, const char *body, const char *tags,
			 int draft, int64_t id, int64_t site)
{
	kb_changed(0);
	return em_db_exec(db,
			  !strcmp(lang, "de")
				  ? "INSERT INTO kb_art_de (rowid, title, body, tags) VALUES (?,?,?,?)"
				  : "INSERT INTO kb_art_en (rowid, title, body, tags) VALUES (?,?,?,?)",
			  "ittt", ART_ROWID(site, draft, id), title, body, tags)
		       ? EM_EIO
		       : 0;
}

static int product_unindex(em_db *db, int64_t site, int64_t id)
{
	kb_changed(1);
	if (em_db_exec(db, "DELETE FROM kb_prod_de WHERE rowid = ?", "i", PROD_ROWID(site, id)) ||
	    em_db_exec(db, "DELETE FROM kb_prod_en WHERE rowid = ?", "i", PROD_ROWID(site, id)))
		return EM_EIO;
	return 0;
}

static int product_index(em_db *db, const char *title, const char *body, const char *tags, int64_t id,
			 int64_t site)
{
	kb_changed(1);
	if (em_db_exec(db, "INSERT INTO kb_prod_de (rowid, title, body, tags) VALUES (?,?,?,?)", "ittt",
		       PROD_ROWID(site, id), title, body, tags) ||
	    em_db_exec(db, "INSERT INTO kb_prod_en (rowid, title, body, tags) VALUES (?,?,?,?)", "ittt",
		       PROD_ROWID(site, id), title, body, tags))
		return EM_EIO;
	return 0;
}

int em_kb_index_optimize_db(em_db *db, int products)
{
	kb_changed(products);
	const char *de = products ? "INSERT INTO kb_prod_de (kb_prod_de) VALUES ('optimize')"
				  : "INSERT INTO kb_art_de (kb_art_de) VALUES ('optimize')";
	const char *en = products ? "INSERT INTO kb_prod_en (kb_prod_en) VALUES ('optimize')"
				  : "INSERT INTO kb_art_en (kb_art_en) VALUES ('optimize')";
	if (em_db_exec(db, de, NULL) || em_db_exec(db, en, NULL))
		return EM_EIO;
	return 0;
}

/* ---- Articles ------------------------------------------------------------ */

#define ARTICLE_COLS \
	"a.id, a.public_id, s.key, a.lang, a.slug, a.question, a.answer, a.category, a.tags, a.status," \
	" a.helpful_yes, a.helpful_no, a.views, a.created_at, a.updated_at" \
	" FROM kb_article a JOIN site s ON s.id = a.site_id"

static json_t *time_json(int64_t ms)
{
	char t[32];
	em_rfc3339(ms, t);
	return json_string(t);
}

static json_t *article_row(em_stmt *st, int with_html)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(em_stmt_text(st, 1)));
	json_object_set_new(o, "site", json_string(em_stmt_text(st, 2)));
	json_object_set_new(o, "lang", json_string(em_stmt_text(st, 3)));
	json_object_set_new(o, "slug", json_string(em_stmt_text(st, 4)));
	json_object_set_new(o, "question", json_string(em_stmt_text(st, 5)));
	json_object_set_new(o, "answer", json_string(em_stmt_text(st, 6)));
	if (with_html) {
		const char *md = em_stmt_text(st, 6);
		char *html = em_kb_markdown_html(md, strlen(md));
		json_object_set_new(o, "answer_html", json_string(html));
		em_free(html);
	}
	json_object_set_new(o, "category", json_string(em_stmt_text(st, 7)));
	json_t *tags = json_array();
	const char *t = em_stmt_text(st, 8);
	while (t && *t) {
		size_t n = strcspn(t, ",");
		if (n)
			json_array_append_new(tags, json_stringn(t, n));
		t += n + (t[n] == ',');
	}
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "status", json_string(em_stmt_text(st, 9)));
	json_object_set_new(o, "helpful_yes", json_integer(em_stmt_int(st, 10)));
	json_object_set_new(o, "helpful_no", json_integer(em_stmt_int(st, 11)));
	json_object_set_new(o, "views", json_integer(em_stmt_int(st, 12)));
	json_object_set_new(o, "created", time_json(em_stmt_int(st, 13)));
	json_object_set_new(o, "updated", time_json(em_stmt_int(st, 14)));
	return o;
}

static int article_reindex(em_db *db, int64_t id, int created)
{
	em_stmt *st = em_db_prepare(
		db, "SELECT site_id, lang, question, answer, tags, status FROM kb_article WHERE id = ?", "i",
		id);
	int rc = em_stmt_step(st);
	if (rc != 1) {
		em_stmt_done(st);
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	}
	int64_t site = em_stmt_int(st, 0);
	char lang[3];
	snprintf(lang, sizeof lang, "%s", em_stmt_text(st, 1));
	char *q = em_strdup(em_stmt_text(st, 2));
	const char *md = em_stmt_text(st, 3);
	char *body = em_kb_markdown_text(md, strlen(md));
	char *tags = em_strdup(em_stmt_text(st, 4));
	int published = !strcmp(em_stmt_text(st, 5), "published");
	em_stmt_done(st);
	rc = created ? 0 : article_unindex(db, site, id);
	if (!rc)
		rc = article_index(db, lang, q, body, tags, !published, id, site);
	em_free(q);
	em_free(body);
	em_free(tags);
	return rc;
}

int em_kb_article_put_db(em_db *db, void *arg)
{
	em_kb_article *a = arg;
	int64_t now = em_now_ms();
	int64_t id = 0;
	if (a->create) {
		a->public_id[0] = 'a';
		em_id_random(a->public_id + 1, sizeof a->public_id - 1, 8);
		/* A taken slug gets a number: "versand", "versand-2", ... */
		char slug[EM_KB_SLUG_MAX + 8];
		for (int n = 1; n < 100; n++) {
			if (n == 1)
				snprintf(slug, sizeof slug, "%s", a->slug);
			else
				snprintf(slug, sizeof slug, "%.110s-%d", a->slug, n);
			int rc = em_db_exec(
				db,
				"INSERT INTO kb_article (public_id, site_id, lang, slug, question, answer,"
				" category, tags, status, created_at, updated_at)"
				" VALUES (?,?,?,?,?,?,?,?,?,?,?)",
				"titttttttii", a->public_id, a->site_id, a->lang, slug, a->question,
				a->answer, a->category ? a->category : "", a->tags ? a->tags : "",
				a->status ? a->status : "draft", now, now);
			if (rc == 0) {
				id = em_db_last_id(db);
				break;
			}
			if (rc != EM_EEXIST)
				return EM_EIO;
		}
		if (!id)
			return EM_EEXIST;
	} else {
		em_stmt *st =
			em_db_prepare(db, "SELECT id FROM kb_article WHERE public_id = ?", "t", a->public_id);
		int rc = em_stmt_step(st);
		id = rc == 1 ? em_stmt_int(st, 0) : 0;
		em_stmt_done(st);
		if (rc != 1)
			return rc < 0 ? EM_EIO : EM_ENOTFOUND;
		rc = em_db_exec(db,
				"UPDATE kb_article SET question = coalesce(?, question), answer = "
				"coalesce(?, answer),"
				" category = coalesce(?, category), tags = coalesce(?, tags),"
				" status = coalesce(?, status), lang = coalesce(?, lang),"
				" slug = coalesce(?, slug), updated_at = ? WHERE id = ?",
				"tttttttii", a->question, a->answer, a->category, a->tags, a->status,
				a->lang[0] ? a->lang : NULL, a->slug[0] ? a->slug : NULL, now, id);
		if (rc)
			return rc == EM_EEXIST ? EM_EEXIST : EM_EIO;
	}
	int rc = article_reindex(db, id, a->create);
	if (rc)
		return rc;
	em_stmt *st = em_db_prepare(db, "SELECT " ARTICLE_COLS " WHERE a.id = ?", "i", id);
	if (em_stmt_step(st) == 1) {
		a->out = article_row(st, 1);
		snprintf(a->public_id, sizeof a->public_id, "%s", em_stmt_text(st, 1));
	}
	em_stmt_done(st);
	return a->out ? 0 : EM_EIO;
}

int em_kb_article_delete_db(em_db *db, void *arg)
{
	em_kb_article *a = arg;
	em_stmt *st = em_db_prepare(db, "SELECT id, site_id FROM kb_article WHERE public_id = ?", "t",
				    a->public_id);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0, site = rc == 1 ? em_stmt_int(st, 1) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (article_unindex(db, site, id) ||
	    em_db_exec(db, "UPDATE kb_event SET article_id = NULL WHERE article_id = ?", "i", id) ||
	    em_db_exec(db, "DELETE FROM kb_article WHERE id = ?", "i", id))
		return EM_EIO;
	return 0;
}

int em_kb_article_get_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = q->public_id[0] ? em_db_prepare(db, "SELECT " ARTICLE_COLS " WHERE a.public_id = ?",
						      "t", q->public_id)
				      : em_db_prepare(db,
						      "SELECT " ARTICLE_COLS
						      " WHERE a.site_id = ? AND a.lang = ? AND a.slug = ?",
						      "itt", q->site_id, q->lang, q->slug);
	int rc = em_stmt_step(st);
	if (rc == 1) {
		if (q->published_only && strcmp(em_stmt_text(st, 9), "published"))
			rc = 0;
		else
			q->out = article_row(st, 1);
	}
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

int em_kb_article_list_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = em_db_prepare(db,
				    "SELECT " ARTICLE_COLS
				    " WHERE (? = 0 OR a.site_id = ?) AND (? = '' OR a.lang = ?)"
				    " AND (? = '' OR a.category = ?) AND (? = 0 OR a.status = 'published')"
				    " AND (? = 0 OR a.id < ?) ORDER BY a.id DESC LIMIT ?",
				    "iittttIiiI", q->site_id, q->site_id, q->lang, q->lang, q->category,
				    q->category, q->published_only, q->cursor, q->cursor, q->limit + 1);
	q->out = json_array();
	int rc, n = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n++ == q->limit) {
			q->next_cursor = em_stmt_int(st, 0) + 1;
			break;
		}
		json_array_append_new(q->out, article_row(st, 0));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_kb_categories_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = em_db_prepare(db,
				    "SELECT category, count(*) FROM kb_article WHERE site_id = ? AND lang = ?"
				    " AND status = 'published' GROUP BY category ORDER BY category",
				    "it", q->site_id, q->lang);
	q->out = json_array();
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(q->out, json_pack("{s:s, s:I}", "category", em_stmt_text(st, 0),
							"count", (json_int_t)em_stmt_int(st, 1)));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* ---- Products ------------------------------------------------------------ */

static const char *availabilities[] = {"in_stock", "out_of_stock", "preorder", "unknown", NULL};

int em_kb_product_check(const json_t *p, const char **field, const char **why)
{
	static const struct {
		const char *key;
		size_t max;
		int required;
	} strs[] = {{"sku", EM_KB_SKU_MAX, 1}, {"name", 300, 0},
		    {"description", 5000, 0},  {"category", EM_KB_CATEGORY_MAX, 0},
		    {"currency", 3, 0},	       {"url", 2048, 0},
		    {"image", 2048, 0},	       {"availability", 16, 0}};
	if (!json_is_object(p)) {
		*field = "";
		*why = "expected an object";
		return EM_EINVAL;
	}
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		json_t *v = json_object_get(p, strs[i].key);
		if (!v || json_is_null(v)) {
			if (strs[i].required) {
				*field = strs[i].key;
				*why = "is required";
				return EM_EINVAL;
			}
			continue;
		}
		if (!json_is_string(v) || strlen(json_string_value(v)) > strs[i].max ||
		    (strs[i].required && !*json_string_value(v))) {
			*field = strs[i].key;
			*why = "must be a non-empty string within the length limit";
			return EM_EINVAL;
		}
	}
	const char *url = em_json_str(p, "url", "");
	if (*url && strncmp(url, "https://", 8) && strncmp(url, "http://", 7) && url[0] != '/') {
		*field = "url";
		*why = "must be an http(s) URL or a path";
		return EM_EINVAL;
	}
	const char *img = em_json_str(p, "image", "");
	if (*img && strncmp(img, "https://", 8) && strncmp(img, "http://", 7) && img[0] != '/') {
		*field = "image";
		*why = "must be an http(s) URL or a path";
		return EM_EINVAL;
	}
	json_t *price = json_object_get(p, "price");
	if (price && !json_is_null(price) && (!json_is_number(price) || json_number_value(price) < 0)) {
		*field = "price";
		*why = "must be a number >= 0";
		return EM_EINVAL;
	}
	const char *av = em_json_str(p, "availability", NULL);
	if (av) {
		int ok = 0;
		for (int i = 0; availabilities[i]; i++)
			ok |= !strcmp(av, availabilities[i]);
		if (!ok) {
			*field = "availability";
			*why = "must be in_stock, out_of_stock, preorder or unknown";
			return EM_EINVAL;
		}
	}
	return 0;
}

#define PRODUCT_COLS \
	"p.id, p.public_id, p.sku, p.name, p.description, p.category, p.price, p.currency, p.url," \
	" p.image, p.availability, p.source, p.updated_at FROM product p"

static json_t *product_row(em_stmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(em_stmt_text(st, 1)));
	json_object_set_new(o, "sku", json_string(em_stmt_text(st, 2)));
	json_object_set_new(o, "name", json_string(em_stmt_text(st, 3)));
	json_object_set_new(o, "description", json_string(em_stmt_text(st, 4)));
	json_object_set_new(o, "category", json_string(em_stmt_text(st, 5)));
	json_object_set_new(o, "price",
			    em_stmt_is_null(st, 6) ? json_null() : json_real(em_stmt_double(st, 6)));
	json_object_set_new(o, "currency", json_string(em_stmt_text(st, 7)));
	json_object_set_new(o, "url", json_string(em_stmt_text(st, 8)));
	json_object_set_new(o, "image", json_string(em_stmt_text(st, 9)));
	json_object_set_new(o, "availability", json_string(em_stmt_text(st, 10)));
	json_object_set_new(o, "source", json_string(em_stmt_text(st, 11)));
	json_object_set_new(o, "updated", time_json(em_stmt_int(st, 12)));
	return o;
}

int em_kb_product_put_db(em_db *db, void *arg)
{
	em_kb_product *p = arg;
	const json_t *in = p->in;
	int64_t now = em_now_ms();
	const char *sku = em_json_str(in, "sku", "");
	em_stmt *st = em_db_prepare(db, "SELECT id FROM product WHERE site_id = ? AND sku = ?", "it",
				    p->site_id, sku);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	json_t *price = json_object_get(in, "price");
	int has_price = price && json_is_number(price);
	double pv = has_price ? json_number_value(price) : 0;
	if (!id) {
		char pid[32] = "p";
		em_id_random(pid + 1, sizeof pid - 1, 8);
		rc = em_db_exec(
			db,
			"INSERT INTO product (public_id, site_id, sku, name, description, category, price,"
			" currency, url, image, availability, source, created_at, updated_at)"
			" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			"titttt"
			"dttttt"
			"ii",
			pid, p->site_id, sku, em_json_str(in, "name", ""), em_json_str(in, "description", ""),
			em_json_str(in, "category", ""), pv, em_json_str(in, "currency", ""),
			em_json_str(in, "url", ""), em_json_str(in, "image", ""),
			em_json_str(in, "availability", "unknown"), p->source, now, now);
		if (rc)
			return EM_EIO;
		id = em_db_last_id(db);
		if (!has_price && em_db_exec(db, "UPDATE product SET price = NULL WHERE id = ?", "i", id))
			return EM_EIO;
		p->created = 1;
	} else {
		/* Learnt products (from cart events) never overwrite feed data. */
		int weak = !strcmp(p->source, "event");
		rc = em_db_exec(
			db,
			"UPDATE product SET name = CASE WHEN ? = 1 AND name <> '' THEN name ELSE coalesce(?, "
			"name) END,"
			" description = coalesce(?, description), category = coalesce(?, category),"
			" price = CASE WHEN ? = 1 AND NOT (? = 1 AND price IS NOT NULL) THEN ? ELSE price "
			"END,"
			" currency = coalesce(?, currency), url = CASE WHEN ? = 1 AND url <> '' THEN url "
			"ELSE coalesce(?, url) END,"
			" image = coalesce(?, image), availability = coalesce(?, availability),"
			" source = CASE WHEN ? = 1 THEN source ELSE ? END, updated_at = ? WHERE id = ?",
			"It"
			"tt"
			"IId"
			"t"
			"It"
			"tt"
			"It"
			"ii",
			weak, em_json_str(in, "name", NULL), em_json_str(in, "description", NULL),
			em_json_str(in, "category", NULL), has_price, weak, pv,
			em_json_str(in, "currency", NULL), weak, em_json_str(in, "url", NULL),
			em_json_str(in, "image", NULL), em_json_str(in, "availability", NULL), weak,
			p->source, now, id);
		if (rc)
			return EM_EIO;
	}
	st = em_db_prepare(db, "SELECT " PRODUCT_COLS " WHERE p.id = ?", "i", id);
	if (em_stmt_step(st) == 1)
		p->out = product_row(st);
	em_stmt_done(st);
	if (!p->out)
		return EM_EIO;
	/* The index: name as title, description and category as body. */
	char body[6000];
	snprintf(body, sizeof body, "%s %s", em_json_str(p->out, "description", ""),
		 em_json_str(p->out, "category", ""));
	const char *name = em_json_str(p->out, "name", "");
	/* Its index rows are found by rowid: a re-imported feed costs a
	** lookup per product, not a scan of the index. */
	if ((!p->created && product_unindex(db, p->site_id, id)) ||
	    product_index(db, name, body, sku, id, p->site_id))
		return EM_EIO;
	return 0;
}

int em_kb_product_delete_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = em_db_prepare(db, "SELECT id FROM product WHERE site_id = ? AND sku = ?", "it",
				    q->site_id, q->slug);
	int rc = em_stmt_step(st);
	int64_t id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (product_unindex(db, q->site_id, id) ||
	    em_db_exec(db, "DELETE FROM product WHERE id = ?", "i", id))
		return EM_EIO;
	return 0;
}

int em_kb_product_list_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT " PRODUCT_COLS " WHERE p.site_id = ? AND (? = '' OR p.category = ?)"
		" AND (? = 0 OR p.id < ?) ORDER BY p.id DESC LIMIT ?",
		"ittiiI", q->site_id, q->category, q->category, q->cursor, q->cursor, q->limit + 1);
	q->out = json_array();
	int rc, n = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n++ == q->limit) {
			q->next_cursor = em_stmt_int(st, 0) + 1;
			break;
		}
		json_array_append_new(q->out, product_row(st));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* ---- Search -------------------------------------------------------------- */

/* Words that carry no meaning in a question ("how do I ...", "wie kann ich"):
** pronouns, articles, prepositions, auxiliaries and the filler verbs and
** adverbs of typed questions ("brauche", "geht", "still", "something").
** English contractions typed without the apostrophe ("cant", "havent") and
** their halves ("don" of "don't") are fillers too. */
static const char *stop_de[] = {
	"aber",	  "als",     "am",     "an",	  "auch",     "auf",	    "aus",     "bei",	 "bin",
	"bis",	  "bitte",   "da",     "das",	  "dass",     "dem",	    "den",     "der",	 "des",
	"die",	  "du",	     "ein",    "eine",	  "einen",    "einer",	    "es",      "für",	 "gibt",
	"habe",	  "hat",     "ich",    "ihr",	  "im",	      "in",	    "ist",     "ja",	 "kann",
	"man",	  "mein",    "meine",  "meinen",  "meiner",   "mich",	    "mir",     "mit",	 "muss",
	"nach",	  "nicht",   "noch",   "oder",	  "sie",      "sind",	    "so",      "und",	 "uns",
	"von",	  "vor",     "was",    "wenn",	  "werden",   "wie",	    "wir",     "wird",	 "wo",
	"zu",	  "zum",     "zur",    "ihre",	  "ihren",    "welche",	    "welcher", "wann",	 "warum",
	"hallo",  "gerne",   "möchte", "könnt",	  "können",   "kann",	    "lässt",   "sich",	 "hab",
	"haben",  "hast",    "habt",   "will",	  "wollen",   "soll",	    "sollte",  "darf",	 "dürfen",
	"müssen", "geht",    "gehen",  "brauche", "brauchen", "brauch",	    "mache",   "machen", "tun",
	"etwas",  "was",     "schon",  "mal",	  "denn",     "eigentlich", "jetzt",   "gibts",	 "ohne",
	"über",	  "durch",   "um",     "beim",	  "vom",      "ins",	    "ihnen",   "euch",	 "eure",
	"euer",	  "ihr",     "dies",   "diese",	  "dieser",   "dieses",	    "einem",   "sein",	 "seine",
	"wieso",  "weshalb", "wer",    "wen",	  "wem",      "wieviel",    "viel",    "viele",	 "bzw",
	"ob",	  "dann",    "sehr",   "nur",	  "hier",     "dort",	    NULL};
static const char *stop_en[] = {
	"a",	  "about",     "an",	   "and",   "are",   "as",    "at",	"be",	 "can",	   "could",
	"did",	  "do",	       "does",	   "for",   "from",  "get",   "have",	"hello", "hi",	   "how",
	"i",	  "if",	       "in",	   "is",    "it",    "me",    "my",	"of",	 "on",	   "or",
	"please", "should",    "so",	   "that",  "the",   "there", "this",	"to",	 "was",	   "what",
	"when",	  "where",     "which",	   "who",   "why",   "will",  "with",	"would", "you",	   "your",
	"want",	  "need",      "id",	   "im",    "ive",   "cant",  "cannot", "dont",	 "doesnt", "didnt",
	"isnt",	  "havent",    "hasnt",	   "wasnt", "arent", "wont",  "don",	"doesn", "didn",   "isn",
	"haven",  "hasn",      "wasn",	   "aren",  "won",   "whats", "wheres", "hows",	 "still",  "yet",
	"just",	  "something", "anything", "some",  "any",   "many",  "much",	"been",	 "has",	   "had",
	"am",	  "we",	       "us",	   "our",   "they",  "them",  "their",	"its",	 "one",	   "also",
	"anyone", "somebody",  "by",	   "got",   "till",  "until", NULL};

#define STOPS_MAX 192

typedef struct stops {
	char terms[STOPS_MAX][TERM_MAX];
	int n;
} stops;
static stops stops_de, stops_en;
static pthread_once_t stops_once = PTHREAD_ONCE_INIT;

static void stops_build(stops *s, const char *lang, const char **words)
{
	em_text *t = em_text_new(lang);
	for (int i = 0; words[i] && s->n < STOPS_MAX; i++) {
		size_t n = em_text_term(t, words[i], strlen(words[i]), s->terms[s->n], TERM_MAX - 1);
		if (n) {
			s->terms[s->n][n] = 0;
			s->n++;
		}
	}
	em_text_free(t);
}

static void stops_init(void)
{
	stops_build(&stops_de, "de", stop_de);
	stops_build(&stops_en, "en", stop_en);
}

static int is_stop(const char *lang, const char *term)
{
	const stops *s = !strcmp(lang, "de") ? &stops_de : &stops_en;
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->terms[i], term))
			return 1;
	return 0;
}

typedef struct qterm {
	char alt[ALTS_MAX][TERM_MAX];	/* alt[0] is the term itself */
	unsigned char prefix[ALTS_MAX]; /* 1: the alternative also matches as a word's beginning */
	int nalt;
	char word[TERM_MAX];		/* as typed */
	int at_end;			/* the query's last word: perhaps still being typed */
	int64_t docs;			/* documents with the term or one of its exact alternatives */
	int64_t docs_a, docs_p;		/* the same among the articles, among the products */
	int64_t alt_docs[2][ALTS_MAX];	/* each alternative's: [0] articles, [1] products */
	int64_t alt_reach[2][ALTS_MAX]; /* a word's beginning: the documents of all the words it begins */
} qterm;

typedef struct collect {
	qterm *terms;
	int n;
	const char *lang;
	const char *q;
	size_t qlen;
} collect;

static int collect_term(void *arg, const char *term, size_t len, int start, int end, int colocated)
{
	collect *c = arg;
	(void)colocated;
	if (c->n >= TERMS_MAX || len >= TERM_MAX)
		return 0;
	/* A single letter is what is left of "where's" or "don't". */
	if (len == 1 && !(term[0] >= '0' && term[0] <= '9'))
		return 0;
	char t[TERM_MAX];
	memcpy(t, term, len);
	t[len] = 0;
	if (is_stop(c->lang, t))
		return 0;
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->terms[i].alt[0], t))
			return 0;
	qterm *q = &c->terms[c->n];
	memset(q, 0, sizeof *q);
	memcpy(q->alt[0], t, len + 1);
	q->nalt = 1;
	int wl = end - start < TERM_MAX ? end - start : TERM_MAX - 1;
	memcpy(q->word, c->q + start, (size_t)wl);
	q->word[wl] = 0;
	q->at_end = (size_t)end == c->qlen;
	c->n++;
	return 0;
}

static void add_alt(qterm *q, const char *t, int prefix)
{
	for (int i = 0; i < q->nalt; i++)
		if (!strcmp(q->alt[i], t)) {
			q->prefix[i] |= (unsigned char)prefix;
			return;
		}
	if (q->nalt < ALTS_MAX && strlen(t) < TERM_MAX) {
		snprintf(q->alt[q->nalt], TERM_MAX, "%s", t);
		q->prefix[q->nalt++] = (unsigned char)prefix;
	}
}

/* Synonym groups of the site: each word of a group stands for the others. */
static int add_synonyms(em_db *db, em_text *tx, const em_kb_search *s, qterm *terms, int n)
{
	em_stmt *st = em_db_prepare(db, "SELECT terms FROM kb_synonym WHERE site_id = ? AND lang = ?", "it",
				    s->site_id, s->lang);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *g = em_stmt_text(st, 0);
		char stems[12][TERM_MAX];
		int ns = 0;
		for (const char *p = g; *p && ns < 12;) {
			size_t len = strcspn(p, ",");
			while (len && (*p == ' '))
				p++, len--;
			size_t tl = em_text_term(tx, p, len, stems[ns], TERM_MAX - 1);
			if (tl) {
				stems[ns][tl] = 0;
				ns++;
			}
			p += len + (p[len] == ',');
		}
		for (int i = 0; i < n; i++)
			for (int k = 0; k < ns; k++)
				if (!strcmp(terms[i].alt[0], stems[k]))
					for (int j = 0; j < ns; j++)
						add_alt(&terms[i], stems[j], 0);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* How many documents have a term, articles and products apart, from the
** FTS5 vocabularies. Counting reads the term's whole doclist, and a query
** asks for many terms (each alternative, and the spellings tried by the
** typo correction), so counts are kept in a small cache: at most
** VCACHE_SLOTS entries (about 0.6 MB), emptied by every change of the
** index made by this process (kb_changed), and each entry trusted for
** VCACHE_TTL_MS at most (an `emma import-faq` run by another process). Counts
** read within VCACHE_GRACE_MS after a change are not kept: the change may
** not have been committed yet when they were read. */
#define VCACHE_SLOTS 8192
#define VCACHE_TERM 40
#define VCACHE_TTL_MS 60000
#define VCACHE_GRACE_MS 2000
typedef struct vslot {
	int64_t at; /* when read; 0: empty */
	int64_t art, prod;
	uint32_t gen;
	char lang;
	char term[VCACHE_TERM];
} vslot;
static vslot vcache[VCACHE_SLOTS];
static uint32_t vcache_gen;
static int64_t vcache_changed_at;
static pthread_mutex_t vcache_mu = PTHREAD_MUTEX_INITIALIZER;

static void kb_changed(int products)
{
	em_kb_vocab_changed(products);
	int64_t now = em_now_ms();
	pthread_mutex_lock(&vcache_mu);
	vcache_gen++;
	vcache_changed_at = now;
	pthread_mutex_unlock(&vcache_mu);
}

static uint32_t vhash(char lang, const char *term)
{
	uint32_t h = 2166136261u ^ (unsigned char)lang;
	for (const char *p = term; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static int64_t vocab_count(em_db *db, int de, int prod, const char *term)
{
	static const char *const sql[4] = {
		"SELECT doc FROM kb_vocab_art_de WHERE term = ?",
		"SELECT doc FROM kb_vocab_prod_de WHERE term = ?",
		"SELECT doc FROM kb_vocab_art_en WHERE term = ?",
		"SELECT doc FROM kb_vocab_prod_en WHERE term = ?",
	};
	int64_t n;
	if (em_kb_vocab_docs(db, EM_KB_VOCAB_INDEX(de, prod), term, &n))
		return n;
	kst.vsql++;
	em_stmt *st = em_db_prepare(db, sql[(de ? 0 : 2) + prod], "t", term);
	n = em_stmt_step(st) == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	return n;
}

/* Documents with term: *art among the articles, *prod among the products. */
static void vocab_docs2(em_db *db, const char *lang, const char *term, int64_t *art, int64_t *prod)
{
	char l = lang[0];
	int de = l == 'd';
	if (em_kb_vocab_docs(db, EM_KB_VOCAB_INDEX(de, 0), term, art) &&
	    em_kb_vocab_docs(db, EM_KB_VOCAB_INDEX(de, 1), term, prod))
		return;
	size_t tl = strlen(term);
	int cacheable = tl < VCACHE_TERM;
	uint32_t h = vhash(l, term), gen = 0;
	int64_t now = em_now_ms(), changed = 0;
	pthread_mutex_lock(&vcache_mu);
	gen = vcache_gen;
	changed = vcache_changed_at;
	if (cacheable)
		for (int i = 0; i < 4; i++) {
			vslot *v = &vcache[(h + (uint32_t)i) % VCACHE_SLOTS];
			if (v->at && v->gen == gen && v->lang == l && now - v->at < VCACHE_TTL_MS &&
			    !strcmp(v->term, term)) {
				*art = v->art;
				*prod = v->prod;
				pthread_mutex_unlock(&vcache_mu);
				return;
			}
		}
	pthread_mutex_unlock(&vcache_mu);
	*art = vocab_count(db, de, 0, term);
	*prod = vocab_count(db, de, 1, term);
	if (!cacheable || now - changed < VCACHE_GRACE_MS)
		return;
	pthread_mutex_lock(&vcache_mu);
	if (vcache_gen == gen) {
		/* Four slots to probe; the oldest (or a stale one) is replaced. */
		vslot *best = NULL;
		for (int i = 0; i < 4; i++) {
			vslot *v = &vcache[(h + (uint32_t)i) % VCACHE_SLOTS];
			if (!v->at || v->gen != gen || now - v->at >= VCACHE_TTL_MS) {
				best = v;
				break;
			}
			if (!best || v->at < best->at)
				best = v;
		}
		best->at = now;
		best->gen = gen;
		best->lang = l;
		best->art = *art;
		best->prod = *prod;
		memcpy(best->term, term, tl + 1);
	}
	pthread_mutex_unlock(&vcache_mu);
}

static int64_t vocab_docs(em_db *db, const char *lang, const char *term)
{
	int64_t a, p;
	vocab_docs2(db, lang, term, &a, &p);
	return a + p;
}

/* Whether some indexed term begins with (or is) prefix. */
static int vocab_prefixed(em_db *db, const char *lang, const char *prefix)
{
	static const char *const sql[4] = {
		"SELECT term FROM kb_vocab_art_de WHERE term >= ? LIMIT 1",
		"SELECT term FROM kb_vocab_prod_de WHERE term >= ? LIMIT 1",
		"SELECT term FROM kb_vocab_art_en WHERE term >= ? LIMIT 1",
		"SELECT term FROM kb_vocab_prod_en WHERE term >= ? LIMIT 1",
	};
	int found = 0;
	for (int i = !strcmp(lang, "de") ? 0 : 2, e = i + 2; i < e && !found; i++) {
		if (em_kb_vocab_prefixed(db, i, prefix, &found))
			continue;
		kst.vsql++;
		em_stmt *st = em_db_prepare(db, sql[i], "t", prefix);
		found = em_stmt_step(st) == 1 && !strncmp(em_stmt_text(st, 0), prefix, strlen(prefix));
		em_stmt_done(st);
	}
	return found;
}

/* Tries one candidate spelling: its term, if indexed, not a stop word and
** more frequent than the best so far, becomes the best. */
static void try_spelling(em_db *db, em_text *tx, const char *lang, const char *cand, size_t n, char *out,
			 int64_t *best)
{
	char term[TERM_MAX];
	size_t tl = em_text_term(tx, cand, n, term, TERM_MAX - 1);
	if (!tl)
		return;
	term[tl] = 0;
	if (is_stop(lang, term))
		return;
	int64_t d = vocab_docs(db, lang, term);
	if (d > *best) {
		*best = d;
		memcpy(out, term, tl + 1);
	}
}

/* The indexed term of the word one edit (delete, swap, replace, insert)
** away from an unknown word as typed, the most frequent if several. Edits
** are made on the word, not its stem: "Lieferng" is "Lieferung" with a
** letter missing, whose stem differs more. Returns 1 when found. */
static int correct_words(em_db *db, em_text *tx, const char *lang, const char *word, char *out);

/* Corrections found, kept while the vocabularies they were found in are
** current (em_kb_vocab_epoch): a word typed wrong is typed wrong again, and
** the search for its nearest word costs a thousand lookups. FIX_SLOTS
** entries (about 0.4 MB), each word in one of two slots. */
#define FIX_SLOTS 4096
#define FIX_TERM 40
typedef struct fixslot {
	uint64_t epoch; /* 0: empty */
	char lang;
	int found;
	char word[FIX_TERM];
	char fix[FIX_TERM];
} fixslot;
static fixslot fixes[FIX_SLOTS];
static pthread_mutex_t fixes_mu = PTHREAD_MUTEX_INITIALIZER;

static int correct(em_db *db, em_text *tx, const char *lang, const char *word, char *out)
{
	uint64_t epoch = em_kb_vocab_epoch(db, lang[0] == 'd');
	size_t wl = strlen(word);
	if (!epoch || wl >= FIX_TERM)
		return correct_words(db, tx, lang, word, out);
	uint32_t h = vhash(lang[0], word);
	pthread_mutex_lock(&fixes_mu);
	for (int i = 0; i < 2; i++) {
		fixslot *f = &fixes[(h + (uint32_t)i) % FIX_SLOTS];
		if (f->epoch == epoch && f->lang == lang[0] && !strcmp(f->word, word)) {
			int found = f->found;
			if (found)
				memcpy(out, f->fix, strlen(f->fix) + 1);
			pthread_mutex_unlock(&fixes_mu);
			return found;
		}
	}
	pthread_mutex_unlock(&fixes_mu);
	int found = correct_words(db, tx, lang, word, out);
	if ((found && strlen(out) >= FIX_TERM) || em_kb_vocab_epoch(db, lang[0] == 'd') != epoch)
		return found;
	pthread_mutex_lock(&fixes_mu);
	fixslot *f = &fixes[h % FIX_SLOTS];
	if (f->epoch == epoch)
		f = &fixes[(h + 1) % FIX_SLOTS];
	f->epoch = epoch;
	f->lang = lang[0];
	f->found = found;
	memcpy(f->word, word, wl + 1);
	if (found)
		memcpy(f->fix, out, strlen(out) + 1);
	pthread_mutex_unlock(&fixes_mu);
	return found;
}

static int correct_words(em_db *db, em_text *tx, const char *lang, const char *word, char *out)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
	char w[TERM_MAX];
	size_t n = 0;
	for (const char *p = word; *p && n < TERM_MAX - 2; p++)
		w[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	w[n] = 0;
	char cand[TERM_MAX + 2];
	int64_t best = 0;
	if (n < 4)
		return 0;
	for (size_t i = 0; i < n; i++) { /* deletions */
		if (w[i] & 0x80)
			continue;
		memcpy(cand, w, i);
		memcpy(cand + i, w + i + 1, n - i);
		try_spelling(db, tx, lang, cand, n - 1, out, &best);
	}
	for (size_t i = 0; i + 1 < n; i++) { /* transpositions */
		if ((w[i] & 0x80) || (w[i + 1] & 0x80))
			continue;
		memcpy(cand, w, n + 1);
		cand[i] = w[i + 1];
		cand[i + 1] = w[i];
		try_spelling(db, tx, lang, cand, n, out, &best);
	}
	for (size_t i = 0; i < n; i++) /* replacements */
		for (const char *l = letters; *l && !(w[i] & 0x80); l++) {
			if (w[i] == *l)
				continue;
			memcpy(cand, w, n + 1);
			cand[i] = *l;
			try_spelling(db, tx, lang, cand, n, out, &best);
		}
	for (size_t i = 0; i <= n; i++) /* insertions */
		for (const char *l = letters; *l; l++) {
			if (i < n && (w[i] & 0xC0) == 0x80)
				continue; /* inside a multi-byte letter */
			memcpy(cand, w, i);
			cand[i] = *l;
			memcpy(cand + i + 1, w + i, n - i + 1);
			try_spelling(db, tx, lang, cand, n + 1, out, &best);
		}
	return best > 0;
}

/* Adds form as an alternative of q when it is an indexed word. */
static void alt_if_known(em_db *db, em_text *tx, const char *lang, qterm *q, const char *form, size_t len)
{
	char term[TERM_MAX];
	size_t tl = em_text_term(tx, form, len, term, TERM_MAX - 1);
	if (!tl)
		return;
	term[tl] = 0;
	if (!is_stop(lang, term) && vocab_docs(db, lang, term) > 0)
		add_alt(q, term, 0);
}

/* German verbs in questions are inflected ("liefert", "kostet", "passt"),
** answers use the infinitive or a noun ("liefern", "Kosten"), and the
** stemmer keeps the "-t": the infinitive is an alternative. */
static void german_verb_forms(em_db *db, em_text *tx, qterm *q)
{
	size_t n = strlen(q->word);
	if (n < 5 || n + 2 >= TERM_MAX || (q->word[n - 1] != 't' && q->word[n - 1] != 'T'))
		return;
	char f[TERM_MAX + 2];
	memcpy(f, q->word, n - 1);
	memcpy(f + n - 1, "en", 3); /* passt -> passen, kommt -> kommen */
	alt_if_known(db, tx, "de", q, f, n + 1);
	memcpy(f + n - 1, "n", 2); /* liefert -> liefern, dauert -> dauern */
	alt_if_known(db, tx, "de", q, f, n);
	if (q->word[n - 2] == 'e') { /* kostet -> kosten */
		memcpy(f + n - 2, "en", 3);
		alt_if_known(db, tx, "de", q, f, n);
	}
}

/* A German compound nobody wrote ("Widerrufsfrist", "Zahlungsmöglichkeiten")
** is looked for by its parts: the longest tail that is an indexed word
** ("frist") and the longest head that begins indexed words ("zahlung" for
** "Zahlungsarten"), each an alternative. */
static void german_compound_parts(em_db *db, em_text *tx, qterm *q)
{
	char w[TERM_MAX];
	size_t n = 0;
	for (const char *p = q->word; *p && n < TERM_MAX - 1; p++)
		w[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	w[n] = 0;
	if (n < 9)
		return;
	for (size_t h = 3; h + 5 <= n; h++) {
		if ((w[h] & 0xC0) == 0x80)
			continue;
		char term[TERM_MAX];
		size_t tl = em_text_term(tx, w + h, n - h, term, TERM_MAX - 1);
		if (!tl)
			continue;
		term[tl] = 0;
		if (!is_stop("de", term) && vocab_docs(db, "de", term) > 0) {
			add_alt(q, term, 0);
			break;
		}
	}
	for (size_t e = n - 4; e >= 4; e--) {
		if ((w[e] & 0xC0) == 0x80)
			continue;
		char term[TERM_MAX];
		size_t tl = em_text_term(tx, w, e, term, TERM_MAX - 1);
		if (tl < 4)
			continue;
		term[tl] = 0;
		if (vocab_prefixed(db, "de", term)) {
			add_alt(q, term, 1);
			break;
		}
	}
}

/* Appends s to b with HTML escaped and the markers \1 \2 as <mark></mark>. */
static void marked_html(em_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '\x01': em_buf_append(b, "<mark>", 6); break;
		case '\x02': em_buf_append(b, "</mark>", 7); break;
		case '<': em_buf_append(b, "&lt;", 4); break;
		case '>': em_buf_append(b, "&gt;", 4); break;
		case '&': em_buf_append(b, "&amp;", 5); break;
		case '"': em_buf_append(b, "&quot;", 6); break;
		case '\'': em_buf_append(b, "&#39;", 5); break;
		case '\n': em_buf_append(b, " ", 1); break;
		default: em_buf_append(b, s, 1);
		}
	}
}

static json_t *marked_json(const char *s)
{
	em_buf b;
	em_buf_init(&b, 1 << 20);
	marked_html(&b, s);
	json_t *j = json_stringn(b.data ? b.data : "", b.len);
	em_buf_free(&b);
	return j ? j : json_string("");
}

/* The FTS5 query: ("\1a" OR "\1a2" *) AND|OR ("\1b") ... Terms in more than
** COMMON_DOCS documents (of the table searched: articles or products) are
** left out of an OR query that has rarer ones: they barely change the order
** and each would make every one of their documents a candidate to rank. */
#define COMMON_DOCS 5000
static int64_t term_docs(const qterm *t, int products)
{
	return products ? t->docs_p : t->docs_a;
}

/* How many documents a term may meet, words' beginnings counted with all
** the words they begin (an estimate from above: for the ranking bounds). */
static int64_t term_reach(const qterm *t, int products);

/* Products are found by their names: a word in this many products or more
** is looked for as it is only, not also as the beginning of longer words,
** and a query of such words only ranks the products that have them in the
** name or SKU. */
#define PRODUCT_ENOUGH 200
/* The query's rank function: bm25 with the question weighing six times the
** answer and tags three times, and each phrase's document count as known
** from the vocabulary (see emma_bm25 in store/fts_text.c); build_match
** appends the counts in the order of its phrases. */
#define RANK_FN "emma_bm25(6.0, 1.0, 3.0"
/* A word's beginning ("bestell" *) is looked for as the words of the index
** that begin so, when they are at most EXPAND_MAX: FTS5 reads a prefix by
** merging the lists of all such words first, the words one by one it reads
** as far as needed. They rank as one phrase, as the prefix did (emma_bm25:
** a count of -1 joins a phrase to the one before). */
#define EXPAND_MAX 16
#define EXPAND_PHRASES 64 /* phrases of a query at most (RANK_PHRASES of emma_bm25) */

typedef struct expand {
	em_buf *m, *rank;
	int n;
	int64_t docs;
} expand;

static void append_phrase(em_buf *m, const char *term)
{
	em_buf_append(m, "\"\x01", 2);
	for (const char *p = term; *p; p++) {
		if (*p == '"')
			em_buf_append(m, "\"", 1);
		em_buf_append(m, p, 1);
	}
	em_buf_append(m, "\"", 1);
}

static void expand_one(void *arg, const char *term)
{
	expand *e = arg;
	char num[32];
	int nl = e->n ? snprintf(num, sizeof num, ", -1")
		      : snprintf(num, sizeof num, ", %lld", (long long)e->docs);
	if (e->n)
		em_buf_append(e->m, " OR ", 4);
	append_phrase(e->m, term);
	em_buf_append(e->rank, num, (size_t)nl);
	e->n++;
}

static void build_match(em_db *db, int de, em_buf *m, em_buf *rank, const qterm *terms, int n, int all,
			int skip_common, int products)
{
	em_buf_append(rank, RANK_FN, strlen(RANK_FN));
	char ix[16];
	int il = snprintf(ix, sizeof ix, ", %d", EM_KB_VOCAB_INDEX(de, products));
	em_buf_append(rank, ix, (size_t)il);
	int phrases = 0;
	for (int i = 0; i < n; i++)
		phrases += terms[i].nalt;
	/* Only common words: their documents are many, so only those that
	** name them in the title (or tags) are ranked. */
	int rare = 0;
	for (int i = 0; i < n; i++)
		rare += term_docs(&terms[i], products) <= (products ? PRODUCT_ENOUGH : COMMON_DOCS);
	if (!rare)
		em_buf_append(m, "{title tags} : (", 16);
	int first = 1;
	for (int i = 0; i < n; i++) {
		if (skip_common && term_docs(&terms[i], products) > COMMON_DOCS)
			continue;
		if (!first)
			em_buf_append(m, all ? " AND " : " OR ", all ? 5 : 4);
		first = 0;
		em_buf_append(m, "(", 1);
		for (int a = 0; a < terms[i].nalt; a++) {
			if (a)
				em_buf_append(m, " OR ", 4);
			int prefix = terms[i].prefix[a] && !(products && terms[i].docs_p >= PRODUCT_ENOUGH);
			if (prefix) {
				size_t at = m->len, rat = rank->len;
				expand e = {m, rank, 0, terms[i].alt_docs[products][a]};
				int k = em_kb_vocab_prefix_terms(db, EM_KB_VOCAB_INDEX(de, products),
								 terms[i].alt[a], EXPAND_MAX, expand_one, &e);
				if (k > 0 && phrases + k - 1 <= EXPAND_PHRASES) {
					phrases += k - 1;
					continue;
				}
				m->len = at; /* too many words, or not known now: the prefix */
				rank->len = rat;
				prefix = k != 0; /* no word begins so: the word alone */
			}
			append_phrase(m, terms[i].alt[a]);
			char num[32];
			int nl = snprintf(num, sizeof num, ", %lld",
					  (long long)terms[i].alt_docs[products][a]);
			em_buf_append(rank, num, (size_t)nl);
			if (prefix)
				em_buf_append(m, " *", 2);
		}
		em_buf_append(m, ")", 1);
	}
	if (!rare)
		em_buf_append(m, ")", 1);
	em_buf_append(m, "", 1);
	em_buf_append(rank, ")", 2); /* with the NUL */
}

static int64_t term_reach(const qterm *t, int products)
{
	int64_t r = term_docs(t, products);
	for (int a = 0; a < t->nalt; a++) {
		int prefix = t->prefix[a] && !(products && t->docs_p >= PRODUCT_ENOUGH);
		int64_t d = prefix ? t->alt_reach[products][a] : t->alt_docs[products][a];
		r = d > r ? d : r;
	}
	return r;
}

typedef struct hit {
	int64_t rowid;
	double score;
} hit;

#define HITS_MAX 64

/* Ranking every document of a common word costs time in proportion to the
** index (some 10 us a document): when a pass may match more than RANK_ALL
** documents, only the first RANK_SOME that match (in rowid order, the order
** FTS5 reads its lists in: the oldest first) are ranked. */
#define RANK_ALL 1000
#define RANK_SOME 300

static int hit_cmp(const void *x, const void *y)
{
	const hit *a = x, *b = y;
	return a->score < b->score   ? -1
	       : a->score > b->score ? 1
				     : (a->rowid > b->rowid) - (a->rowid < b->rowid);
}

/* One ranked pass over one table (articles or products of a language):
** the best rows in the rowid range [lo, hi] (the site; for articles also
** published only or with drafts) not found by an earlier pass. Only rowids
** and scores are read: no row of the table. With some > 0, only the first
** some matching rows are ranked. */
static int search_pass(em_db *db, int de, int products, int64_t lo, int64_t hi, const char *match,
		       const char *rank, hit *list, int *n, int want, int some)
{
	static const char *const sql[4] = {
		"SELECT rowid, rank FROM kb_art_de WHERE kb_art_de MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? ORDER BY rank LIMIT ?",
		"SELECT rowid, rank FROM kb_prod_de WHERE kb_prod_de MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? ORDER BY rank LIMIT ?",
		"SELECT rowid, rank FROM kb_art_en WHERE kb_art_en MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? ORDER BY rank LIMIT ?",
		"SELECT rowid, rank FROM kb_prod_en WHERE kb_prod_en MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? ORDER BY rank LIMIT ?",
	};
	static const char *const sql_some[4] = {
		"SELECT rowid, rank FROM kb_art_de WHERE kb_art_de MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? LIMIT ?",
		"SELECT rowid, rank FROM kb_prod_de WHERE kb_prod_de MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? LIMIT ?",
		"SELECT rowid, rank FROM kb_art_en WHERE kb_art_en MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? LIMIT ?",
		"SELECT rowid, rank FROM kb_prod_en WHERE kb_prod_en MATCH ? AND rowid BETWEEN ? AND ?"
		" AND rank MATCH ? LIMIT ?",
	};
	if (*n >= want)
		return 0;
	uint64_t t0 = em_mono_us();
	unsigned long r0 = em_text_rank_calls;
	int k = (de ? 0 : 2) + products, rc = 0;
	if (some > 0) {
		hit *got = em_malloc((size_t)some * sizeof *got);
		int ng = 0;
		em_stmt *st = em_db_prepare(db, sql_some[k], "tiitI", match, lo, hi, rank, (int64_t)some);
		while (ng < some && (rc = em_stmt_step(st)) == 1) {
			got[ng].rowid = em_stmt_int(st, 0);
			got[ng].score = em_stmt_double(st, 1);
			ng++;
		}
		em_stmt_done(st);
		qsort(got, (size_t)ng, sizeof *got, hit_cmp);
		for (int g = 0; g < ng && *n < want; g++) {
			int dup = 0;
			for (int i = 0; i < *n && !dup; i++)
				dup = list[i].rowid == got[g].rowid;
			if (!dup)
				list[(*n)++] = got[g];
		}
		em_free(got);
		if (kst.npass < 4) {
			kst.us_pass[kst.npass] = em_mono_us() - t0;
			kst.rows[kst.npass++] = (unsigned)(em_text_rank_calls - r0);
		}
		return rc < 0 ? EM_EIO : 0;
	}
	/* The rows found already may come again: ask for as many more. */
	em_stmt *st = em_db_prepare(db, sql[k], "tiitI", match, lo, hi, rank, (int64_t)(want + *n));
	while (*n < want && (rc = em_stmt_step(st)) == 1) {
		int64_t rowid = em_stmt_int(st, 0);
		int dup = 0;
		for (int i = 0; i < *n && !dup; i++)
			dup = list[i].rowid == rowid;
		if (dup)
			continue;
		list[*n].rowid = rowid;
		list[*n].score = em_stmt_double(st, 1);
		(*n)++;
	}
	em_stmt_done(st);
	if (kst.npass < 4) {
		kst.us_pass[kst.npass] = em_mono_us() - t0;
		kst.rows[kst.npass++] = (unsigned)(em_text_rank_calls - r0);
	}
	return rc < 0 ? EM_EIO : 0;
}

/* ---- Highlights and snippets --------------------------------------------- */

/* A word of a shown text: where it is, and which query term it matched
** (bit i: terms[i]; 0: none). Compound tails count for their word. */
typedef struct tword {
	int start, end;
	unsigned mask;
} tword;

typedef struct twords {
	tword *w;
	int n, cap;
	const qterm *terms;
	int nterms;
} twords;

static unsigned term_match(const twords *tw, const char *term, size_t len)
{
	unsigned mask = 0;
	for (int i = 0; i < tw->nterms && i < 32; i++)
		for (int a = 0; a < tw->terms[i].nalt; a++) {
			const char *alt = tw->terms[i].alt[a];
			size_t al = strlen(alt);
			if ((al == len || (tw->terms[i].prefix[a] && al < len)) && !memcmp(alt, term, al)) {
				mask |= 1u << i;
				break;
			}
		}
	return mask;
}

static int tword_emit(void *arg, const char *term, size_t len, int start, int end, int colocated)
{
	twords *tw = arg;
	unsigned m = term_match(tw, term, len);
	if (colocated && tw->n) {
		tw->w[tw->n - 1].mask |= m;
		return 0;
	}
	if (tw->n == tw->cap) {
		tw->cap = tw->cap ? tw->cap * 2 : 64;
		tw->w = em_realloc(tw->w, (size_t)tw->cap * sizeof *tw->w);
	}
	tw->w[tw->n++] = (tword){start, end, m};
	return 0;
}

/* Appends text[from, to) with the matched words marked \1 ... \2 (the
** markers marked_html turns into <mark>). */
static void mark_range(em_buf *b, const char *text, const twords *tw, int wfrom, int wto, int from, int to)
{
	int at = from;
	for (int i = wfrom; i < wto; i++) {
		if (!tw->w[i].mask)
			continue;
		em_buf_append(b, text + at, (size_t)(tw->w[i].start - at));
		em_buf_append(b, "\x01", 1);
		em_buf_append(b, text + tw->w[i].start, (size_t)(tw->w[i].end - tw->w[i].start));
		em_buf_append(b, "\x02", 1);
		at = tw->w[i].end;
	}
	em_buf_append(b, text + at, (size_t)(to - at));
}

/* The text's words, analysed like the index does (compound tails too). */
static void text_words(em_text *tx, const char *text, const qterm *terms, int nterms, twords *tw)
{
	memset(tw, 0, sizeof *tw);
	tw->terms = terms;
	tw->nterms = nterms;
	/* Only the words that have a query term's first letters in them are
	** stemmed (most words of a text do not: their stemming was most of the
	** time of highlighting). */
	char nbuf[64][16];
	const char *needles[64];
	int nn = 0, many = 0;
	for (int i = 0; i < nterms && !many; i++)
		for (int a = 0; a < terms[i].nalt && !many; a++) {
			char nd[16];
			size_t l = em_text_needle(tx, terms[i].alt[a], nd, sizeof nd - 1);
			nd[l] = 0;
			int dup = 0;
			for (int k = 0; k < nn && !dup; k++)
				dup = !strcmp(nbuf[k], nd);
			if (dup)
				continue;
			if (nn == 64) {
				many = 1;
				break;
			}
			memcpy(nbuf[nn], nd, l + 1);
			needles[nn] = nbuf[nn];
			nn++;
		}
	if (many)
		em_text_tokens(tx, text, strlen(text), 1, tword_emit, tw);
	else
		em_text_tokens_near(tx, text, strlen(text), 1, needles, nn, tword_emit, tw);
}

/* The whole text with the query's words marked (a title or name). */
static json_t *highlight_json(em_text *tx, const char *text, const qterm *terms, int nterms)
{
	twords tw;
	text_words(tx, text, terms, nterms, &tw);
	em_buf b;
	em_buf_init(&b, 1 << 20);
	mark_range(&b, text, &tw, 0, tw.n, 0, (int)strlen(text));
	em_buf_append(&b, "", 1);
	json_t *j = marked_json(b.data);
	em_buf_free(&b);
	em_free(tw.w);
	return j;
}

/* SNIPPET_TOKENS words of the text around the most (distinct, then any)
** matched words, marked, with "…" where the text goes on. */
static json_t *snippet_json(em_text *tx, const char *text, const qterm *terms, int nterms)
{
	twords tw;
	text_words(tx, text, terms, nterms, &tw);
	int len = (int)strlen(text), first = 0;
	if (tw.n > SNIPPET_TOKENS) {
		long best = -1;
		for (int i = 0; i < tw.n; i++) {
			if (!tw.w[i].mask)
				continue;
			unsigned seen = 0;
			long score = 0;
			int last = i;
			for (int k = i; k < tw.n && k < i + SNIPPET_TOKENS; k++) {
				if (!tw.w[k].mask)
					continue;
				score += (tw.w[k].mask & ~seen) ? 1000 : 1;
				seen |= tw.w[k].mask;
				last = k;
			}
			if (score > best) {
				best = score;
				/* The matches in the middle of the window. */
				first = i - (SNIPPET_TOKENS - (last - i + 1)) / 2;
			}
		}
		if (first > tw.n - SNIPPET_TOKENS)
			first = tw.n - SNIPPET_TOKENS;
		if (first < 0)
			first = 0;
	}
	int end = tw.n < first + SNIPPET_TOKENS ? tw.n : first + SNIPPET_TOKENS;
	em_buf b;
	em_buf_init(&b, 1 << 20);
	if (tw.n) {
		int from = first ? tw.w[first].start : 0, to = end < tw.n ? tw.w[end - 1].end : len;
		if (first)
			em_buf_append(&b, "…", strlen("…"));
		mark_range(&b, text, &tw, first, end, from, to);
		if (end < tw.n)
			em_buf_append(&b, "…", strlen("…"));
	}
	em_buf_append(&b, "", 1);
	json_t *j = marked_json(b.data);
	em_buf_free(&b);
	em_free(tw.w);
	return j;
}

/* The found rows as JSON: the title highlighted, a snippet of the body,
** and the article's or product's own fields. The text shown is the
** index's own (by rowid, no query): marked here, with the analyser. */
static void hits_json(em_db *db, const em_kb_search *s, em_text *tx, const qterm *terms, int nterms,
		      int products, const hit *list, int n, json_t *into, int *count)
{
	static const char *const sql[4] = {
		"SELECT title, body FROM kb_art_de WHERE rowid = ?",
		"SELECT title, body FROM kb_prod_de WHERE rowid = ?",
		"SELECT title, body FROM kb_art_en WHERE rowid = ?",
		"SELECT title, body FROM kb_prod_en WHERE rowid = ?",
	};
	int de = !strcmp(s->lang, "de");
	for (int i = 0; i < n; i++) {
		json_t *o = NULL;
		em_stmt *st;
		int64_t ref = ROWID_REF(list[i].rowid);
		if (products) {
			st = em_db_prepare(db, "SELECT " PRODUCT_COLS " WHERE p.id = ?", "i", ref);
			if (em_stmt_step(st) == 1)
				o = product_row(st);
		} else {
			st = em_db_prepare(
				db,
				"SELECT public_id, slug, category, lang, status FROM kb_article WHERE id = ?",
				"i", ref);
			if (em_stmt_step(st) == 1)
				o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", em_stmt_text(st, 0), "slug",
					      em_stmt_text(st, 1), "category", em_stmt_text(st, 2), "lang",
					      em_stmt_text(st, 3), "status", em_stmt_text(st, 4));
		}
		em_stmt_done(st);
		if (!o)
			continue;
		st = em_db_prepare(db, sql[(de ? 0 : 2) + products], "i", list[i].rowid);
		int found = em_stmt_step(st) == 1;
		json_object_set_new(o, products ? "name_html" : "question_html",
				    found ? highlight_json(tx, em_stmt_text(st, 0), terms, nterms)
					  : json_string(""));
		json_object_set_new(o, "snippet_html",
				    found ? snippet_json(tx, em_stmt_text(st, 1), terms, nterms)
					  : json_string(""));
		em_stmt_done(st);
		json_object_set_new(o, "score", json_real(-list[i].score));
		json_array_append_new(into, o);
		(*count)++;
	}
}

/* Articles or products: documents with all the words first, best first;
** then those with some of them. */
static int search_kind(em_db *db, const em_kb_search *s, const qterm *terms, int n, int products, hit *list,
		       int *found)
{
	int want = products ? s->products : s->articles;
	want = want < HITS_MAX ? want : HITS_MAX;
	if (want <= 0)
		return 0;
	int de = !strcmp(s->lang, "de");
	int64_t lo, hi;
	if (products) {
		lo = PROD_ROWID(s->site_id, 0);
		hi = PROD_ROWID(s->site_id, 0xFFFFFFFFLL);
	} else {
		lo = ART_ROWID(s->site_id, 0, 0);
		hi = ART_ROWID(s->site_id, s->include_drafts ? 1 : 0, 0xFFFFFFFFLL);
	}
	int rc = 0, common = 0;
	/* Documents the rarest word may meet, all the words may meet. */
	int64_t least = -1, sum = 0;
	for (int i = 0; i < n; i++) {
		int64_t d = term_docs(&terms[i], products), r = term_reach(&terms[i], products);
		common += d > COMMON_DOCS;
		least = least < 0 || r < least ? r : least;
		sum += r;
	}
	int skip = common && common < n;
	if (skip) {
		sum = 0;
		for (int i = 0; i < n; i++)
			sum += term_docs(&terms[i], products) > COMMON_DOCS ? 0
									    : term_reach(&terms[i], products);
	}
	em_buf m, rank;
	if (n > 1) {
		em_buf_init(&m, 16384);
		em_buf_init(&rank, 16384);
		build_match(db, de, &m, &rank, terms, n, 1, 0, products);
		rc = search_pass(db, de, products, lo, hi, m.data, rank.data, list, found, want,
				 least > RANK_ALL ? RANK_SOME : 0);
		em_buf_free(&m);
		em_buf_free(&rank);
	}
	if (!rc && *found < want) {
		em_buf_init(&m, 16384);
		em_buf_init(&rank, 16384);
		build_match(db, de, &m, &rank, terms, n, 0, skip, products);
		rc = search_pass(db, de, products, lo, hi, m.data, rank.data, list, found, want,
				 sum > RANK_ALL ? RANK_SOME : 0);
		em_buf_free(&m);
		em_buf_free(&rank);
	}
	return rc;
}

int em_kb_search_db(em_db *db, void *arg)
{
	em_kb_search *s = arg;
	pthread_once(&stops_once, stops_init);
	if (strcmp(s->lang, "de") && strcmp(s->lang, "en"))
		snprintf(s->lang, sizeof s->lang, "en");
	int de = !strcmp(s->lang, "de");
	memset(&kst, 0, sizeof kst);
	kst.t0 = em_mono_us();
	kst.cpu0 = thread_cpu_us();
	s->out = json_pack("{s:[], s:[]}", "articles", "products");
	em_text *tx = em_text_new(s->lang);
	if (!tx)
		return EM_EIO;
	qterm terms[TERMS_MAX];
	collect c = {terms, 0, s->lang, s->q, strlen(s->q)};
	em_text_tokens(tx, s->q, strlen(s->q), 0, collect_term, &c);
	int rc = c.n ? add_synonyms(db, tx, s, terms, c.n) : 0;
	if (rc || !c.n) {
		em_text_free(tx);
		return rc;
	}
	json_t *corrected = NULL;
	for (int i = 0; i < c.n; i++) {
		qterm *t = &terms[i];
		for (int a = 0; a < t->nalt; a++) {
			int64_t da, dp;
			vocab_docs2(db, s->lang, t->alt[a], &da, &dp);
			t->docs_a = da > t->docs_a ? da : t->docs_a;
			t->docs_p = dp > t->docs_p ? dp : t->docs_p;
			t->docs = da + dp > t->docs ? da + dp : t->docs;
		}
		if (de)
			german_verb_forms(db, tx, t);
		/* Typo tolerance for short queries: an unknown word is also
		** looked for as the nearest indexed one; else an unknown
		** German compound by its parts. */
		char fix[TERM_MAX + 2];
		uint64_t tc = em_mono_us();
		int fixed = !t->docs && t->nalt == 1 && c.n <= 3 &&
			    (kst.ncorrect++, correct(db, tx, s->lang, t->word, fix));
		kst.us_correct += em_mono_us() - tc;
		if (fixed) {
			add_alt(t, fix, 0);
			if (!corrected)
				corrected = json_array();
			json_array_append_new(corrected, json_string(fix));
		} else if (!t->docs && de) {
			german_compound_parts(db, tx, t);
		}
		/* The last word may be unfinished (search as you type), and a
		** German word also begins compounds ("Versandkosten" in
		** "Versandkostenpauschale"): both match as beginnings too. */
		size_t l0 = strlen(t->alt[0]);
		if ((t->at_end && l0 >= 3) || (de && l0 >= 6))
			add_alt(t, t->alt[0], 1);
		/* What the search will meet: the alternatives found since count
		** too (a correction may be a common word). */
		for (int a = 0; a < t->nalt; a++) {
			int64_t da, dp;
			vocab_docs2(db, s->lang, t->alt[a], &da, &dp);
			t->alt_docs[0][a] = da;
			t->alt_docs[1][a] = dp;
			t->alt_reach[0][a] = da;
			t->alt_reach[1][a] = dp;
			for (int k = 0; k < 2 && t->prefix[a]; k++)
				if (!em_kb_vocab_prefix_docs(db, EM_KB_VOCAB_INDEX(de, k), t->alt[a],
							     &t->alt_reach[k][a]))
					t->alt_reach[k][a] = k ? dp : da;
			t->docs_a = da > t->docs_a ? da : t->docs_a;
			t->docs_p = dp > t->docs_p ? dp : t->docs_p;
		}
	}
	hit arts[HITS_MAX], prods[HITS_MAX];
	int na = 0, np = 0, found = 0;
	kst.us_terms = em_mono_us() - kst.t0;
	rc = search_kind(db, s, terms, c.n, 0, arts, &na);
	if (!rc)
		rc = search_kind(db, s, terms, c.n, 1, prods, &np);
	uint64_t th = em_mono_us();
	if (!rc) {
		hits_json(db, s, tx, terms, c.n, 0, arts, na, json_object_get(s->out, "articles"), &found);
		hits_json(db, s, tx, terms, c.n, 1, prods, np, json_object_get(s->out, "products"), &found);
	}
	kst.us_hl = em_mono_us() - th;
	char qq[EM_KB_QUERY_MAX * 2 + 8];
	em_debug("kb search",
		 "q=%s lang=%s us=%llu cpu_us=%llu terms_us=%llu vsql=%u corrections=%u correct_us=%llu "
		 "passes=%u"
		 " p1_us=%llu p1_rows=%u p2_us=%llu p2_rows=%u p3_us=%llu p3_rows=%u p4_us=%llu p4_rows=%u "
		 "hl_us=%llu",
		 em_log_quote(s->q, qq, sizeof qq), s->lang, (unsigned long long)(em_mono_us() - kst.t0),
		 (unsigned long long)(thread_cpu_us() - kst.cpu0), (unsigned long long)kst.us_terms, kst.vsql,
		 kst.ncorrect, (unsigned long long)kst.us_correct, kst.npass,
		 (unsigned long long)kst.us_pass[0], kst.rows[0], (unsigned long long)kst.us_pass[1],
		 kst.rows[1], (unsigned long long)kst.us_pass[2], kst.rows[2],
		 (unsigned long long)kst.us_pass[3], kst.rows[3], (unsigned long long)kst.us_hl);
	em_text_free(tx);
	s->results = found;
	if (corrected)
		json_object_set_new(s->out, "corrected", corrected);
	return rc;
}

/* ---- Synonyms, events, gaps ---------------------------------------------- */

int em_kb_synonyms_list_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	em_stmt *st = em_db_prepare(
		db, "SELECT public_id, lang, terms FROM kb_synonym WHERE site_id = ? ORDER BY lang, id", "i",
		q->site_id);
	q->out = json_array();
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *terms = json_array();
		for (const char *p = em_stmt_text(st, 2); *p;) {
			size_t n = strcspn(p, ",");
			if (n)
				json_array_append_new(terms, json_stringn(p, n));
			p += n + (p[n] == ',');
		}
		json_array_append_new(q->out, json_pack("{s:s, s:s, s:o}", "id", em_stmt_text(st, 0), "lang",
							em_stmt_text(st, 1), "terms", terms));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_kb_event_db(em_db *db, void *arg)
{
	em_kb_event *e = arg;
	int64_t article = e->article_id;
	if (!article && e->article[0]) {
		em_stmt *st =
			em_db_prepare(db, "SELECT id FROM kb_article WHERE public_id = ? AND site_id = ?",
				      "ti", e->article, e->site_id);
		int rc = em_stmt_step(st);
		article = rc == 1 ? em_stmt_int(st, 0) : 0;
		em_stmt_done(st);
		if (rc != 1)
			return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	}
	if (em_db_exec(db,
		       "INSERT INTO kb_event (site_id, type, article_id, query, results, lang, vid, at)"
		       " VALUES (?, ?, nullif(?, 0), ?, ?, ?, ?, ?)",
		       "ititItti", e->site_id, e->type, article, e->query, e->results, e->lang, e->vid,
		       em_now_ms()))
		return EM_EIO;
	if (!article)
		return 0;
	if (!strcmp(e->type, "view"))
		return em_db_exec(db, "UPDATE kb_article SET views = views + 1 WHERE id = ?", "i", article)
			       ? EM_EIO
			       : 0;
	if (!strcmp(e->type, "helpful"))
		return em_db_exec(db, "UPDATE kb_article SET helpful_yes = helpful_yes + 1 WHERE id = ?", "i",
				  article)
			       ? EM_EIO
			       : 0;
	if (!strcmp(e->type, "unhelpful"))
		return em_db_exec(db, "UPDATE kb_article SET helpful_no = helpful_no + 1 WHERE id = ?", "i",
				  article)
			       ? EM_EIO
			       : 0;
	return 0;
}

int em_kb_gaps_db(em_db *db, void *arg)
{
	em_kb_read *q = arg;
	int64_t since = em_now_ms() - 30LL * 86400000;
	json_t *searches = json_array(), *unhelpful = json_array(), *escalated = json_array();
	q->out = json_pack("{s:o, s:o, s:o}", "searches", searches, "unhelpful", unhelpful, "escalated",
			   escalated);
	em_stmt *st = em_db_prepare(db,
				    "SELECT lower(query), count(*), sum(results = 0), max(at) FROM kb_event"
				    " WHERE site_id = ? AND type = 'search' AND at >= ? AND query <> ''"
				    " GROUP BY lower(query) HAVING sum(results = 0) > 0"
				    " ORDER BY sum(results = 0) DESC, count(*) DESC LIMIT ?",
				    "iiI", q->site_id, since, q->limit);
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(searches,
				      json_pack("{s:s, s:I, s:I, s:o}", "query", em_stmt_text(st, 0),
						"searches", (json_int_t)em_stmt_int(st, 1), "without_results",
						(json_int_t)em_stmt_int(st, 2), "last",
						time_json(em_stmt_int(st, 3))));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	st = em_db_prepare(db,
			   "SELECT public_id, question, helpful_yes, helpful_no FROM kb_article"
			   " WHERE site_id = ? AND helpful_no > 0 ORDER BY helpful_no - helpful_yes DESC, "
			   "helpful_no DESC LIMIT ?",
			   "iI", q->site_id, q->limit);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(unhelpful, json_pack("{s:s, s:s, s:I, s:I}", "id", em_stmt_text(st, 0),
							   "question", em_stmt_text(st, 1), "helpful_yes",
							   (json_int_t)em_stmt_int(st, 2), "helpful_no",
							   (json_int_t)em_stmt_int(st, 3)));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	st = em_db_prepare(
		db,
		"SELECT lower(query), count(*), max(at) FROM kb_event WHERE site_id = ? AND type = "
		"'escalated'"
		" AND at >= ? AND query <> '' GROUP BY lower(query) ORDER BY count(*) DESC LIMIT ?",
		"iiI", q->site_id, since, q->limit);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(escalated, json_pack("{s:s, s:I, s:o}", "query", em_stmt_text(st, 0),
							   "chats", (json_int_t)em_stmt_int(st, 1), "last",
							   time_json(em_stmt_int(st, 2))));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	/* The other side of the report: articles that answered a question in
	** the widget without a chat ("Yes" under an article), most first. */
	json_t *deflected = json_array();
	json_object_set_new(q->out, "deflected", deflected);
	st = em_db_prepare(
		db,
		"SELECT a.public_id, a.question, count(*), max(e.at) FROM kb_event e"
		" JOIN kb_article a ON a.id = e.article_id WHERE e.site_id = ? AND e.type = 'deflected'"
		" AND e.at >= ? GROUP BY e.article_id ORDER BY count(*) DESC LIMIT ?",
		"iiI", q->site_id, since, q->limit);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(deflected, json_pack("{s:s, s:s, s:I, s:o}", "id", em_stmt_text(st, 0),
							   "question", em_stmt_text(st, 1), "deflections",
							   (json_int_t)em_stmt_int(st, 2), "last",
							   time_json(em_stmt_int(st, 3))));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* ---- Products learnt from events ---------------------------------------- */

static int learn_one(em_db *db, int64_t site_id, const char *sku, double price, const char *name,
		     const char *url)
{
	if (!sku || !*sku || strlen(sku) > EM_KB_SKU_MAX)
		return 0;
	json_t *in = json_pack("{s:s}", "sku", sku);
	if (price > 0)
		json_object_set_new(in, "price", json_real(price));
	if (name && *name && strlen(name) <= 300)
		json_object_set_new(in, "name", json_string(name));
	/* Only a page of the shop names a product: not a cart or checkout. */
	if (url && *url && strlen(url) <= 2048 &&
	    (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)))
		json_object_set_new(in, "url", json_string(url));
	em_kb_product p = {.site_id = site_id, .in = in, .source = "event"};
	int rc = em_kb_product_put_db(db, &p);
	json_decref(p.out);
	json_decref(in);
	return rc;
}

int em_kb_learn_db(em_db *db, const em_track_batch *b)
{
	for (int i = 0; i < b->nevents; i++) {
		const em_track_event *e = &b->events[i];
		if ((e->type != EM_EV_CART || (e->cart_action != 1 && e->cart_action != 3)) &&
		    e->type != EM_EV_ORDER)
			continue;
		json_t *d = e->data ? json_loads(e->data, 0, NULL) : NULL;
		int rc = 0;
		if (e->type == EM_EV_CART) {
			json_t *price = json_object_get(d, "price");
			rc = learn_one(db, b->site_id, em_json_str(d, "sku", NULL),
				       json_is_number(price) ? json_number_value(price) : 0,
				       e->title ? e->title : b->res.title, e->url ? e->url : b->res.url);
		} else {
			size_t k;
			json_t *item;
			json_array_foreach(json_object_get(d, "items"), k, item)
			{
				json_t *price = json_object_get(item, "price");
				rc = learn_one(db, b->site_id,
					       json_is_string(json_object_get(item, "sku"))
						       ? em_json_str(item, "sku", NULL)
						       : NULL,
					       json_is_number(price) ? json_number_value(price) : 0, NULL,
					       NULL);
				if (rc)
					break;
			}
		}
		json_decref(d);
		if (rc)
			return rc;
	}
	return 0;
}
