/*
** Knowledge base: help-centre articles and the product catalog, and the
** search over both (docs/help.md). Store functions run on the writer thread
** (writes) or a pool reader (reads); search is a read.
**
** Each article lives in the search index of its language; products are in
** both. Searches are ranked with BM25 (title weighs most), with synonyms,
** typo tolerance for short queries and highlighted matches.
*/
#ifndef EM_KB_H
#define EM_KB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define EM_KB_QUESTION_MAX 300
#define EM_KB_ANSWER_MAX 50000
#define EM_KB_CATEGORY_MAX 80
#define EM_KB_SLUG_MAX 120
#define EM_KB_QUERY_MAX 200
#define EM_KB_SKU_MAX 64

/* Markdown to HTML with raw HTML and unsafe links removed (cmark's safe
** mode). Returns an em_malloc'ed string. */
char *em_kb_markdown_html(const char *md, size_t len);
/* Markdown to plain text (for the index and snippets). em_malloc'ed. */
char *em_kb_markdown_text(const char *md, size_t len);
/* A URL slug from a title: lowercase ASCII, umlauts spelled out, '-'. */
void em_kb_slug(const char *title, char *out, size_t outlen);

/* ---- Articles (writes take an em_kb_article *) ------------------------- */
typedef struct em_kb_article {
	char public_id[32]; /* in: for updates; out: the id */
	int64_t site_id;
	char lang[3];
	char slug[EM_KB_SLUG_MAX + 1];
	const char *question, *answer, *category, *tags, *status; /* NULL = keep (update) */
	int create;
	json_t *out; /* the stored article */
} em_kb_article;
int em_kb_article_put_db(em_db *db, void *arg);
int em_kb_article_delete_db(em_db *db, void *arg); /* public_id */
/* Reads: one article (by public_id, or by site+lang+slug), a list. */
typedef struct em_kb_read {
	char public_id[32];
	int64_t site_id;
	char lang[3];
	char slug[EM_KB_SLUG_MAX + 1];
	char category[EM_KB_CATEGORY_MAX + 1];
	int published_only;
	int limit;
	int64_t cursor;
	json_t *out;
	int64_t next_cursor;
} em_kb_read;
int em_kb_article_get_db(em_db *db, void *arg);
int em_kb_article_list_db(em_db *db, void *arg);
int em_kb_categories_db(em_db *db, void *arg); /* out: [{category, count}] */

/* ---- Products ----------------------------------------------------------- */
typedef struct em_kb_product {
	int64_t site_id;
	const json_t *in; /* {sku, name, description, category, price, currency, url, image, availability} */
	const char *source; /* feed | api | event */
	int created;	    /* out */
	json_t *out;
} em_kb_product;
/* Validates a product object; field and why on error (EM_EINVAL). */
int em_kb_product_check(const json_t *p, const char **field, const char **why);
int em_kb_product_put_db(em_db *db, void *arg);
int em_kb_product_delete_db(em_db *db, void *arg); /* em_kb_read: site_id + slug = sku */
int em_kb_product_list_db(em_db *db, void *arg);   /* em_kb_read */

/* ---- Search ------------------------------------------------------------- */
typedef struct em_kb_search {
	int64_t site_id;
	char lang[3];
	char q[EM_KB_QUERY_MAX + 1];
	int articles, products; /* how many of each at most */
	int include_drafts;
	json_t *out; /* {articles:[...], products:[...], corrected?} */
	int results; /* out: total found */
} em_kb_search;
int em_kb_search_db(em_db *db, void *arg);
/* After a large change (a feed of many products, an import of many
** articles): merges the search index of products (or articles) into one
** b-tree segment per language, so that a lookup reads one b-tree instead of
** the many that loading in chunks leaves. Takes about 1-2 s per 100,000
** products; run inside the write that made the change. */
int em_kb_index_optimize_db(em_db *db, int products);
#define EM_KB_OPTIMIZE_AFTER 1000 /* rows written by one feed or import */

/* ---- Synonyms and events ------------------------------------------------ */
int em_kb_synonyms_list_db(em_db *db, void *arg); /* em_kb_read: site_id */
typedef struct em_kb_event {
	int64_t site_id;
	char type[12]; /* search | view | helpful | unhelpful | deflected | escalated */
	int64_t article_id;
	char article[32]; /* public id, alternative to article_id */
	char query[EM_KB_QUERY_MAX + 1];
	int results;
	char lang[3];
	char vid[64];
} em_kb_event;
int em_kb_event_db(em_db *db, void *arg);
/* Content gaps: searches without results or with unhelpful answers, and
** questions that still went to a chat, ranked (em_kb_read: site_id, limit). */
int em_kb_gaps_db(em_db *db, void *arg);

/* ---- Products learnt from the shop's own events ------------------------- */
struct em_track_batch;
/* Inside the write that stores a tracking batch: every SKU seen in a cart
** "add"/"set" or an order becomes a product (source "event"), named after
** the page it was added on and priced by the event, unless the catalog
** (feed or API) knows it already, whose data is never overwritten. */
int em_kb_learn_db(em_db *db, const struct em_track_batch *b);

#endif
