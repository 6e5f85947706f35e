/*
** The self-service help centre (/help): server-rendered HTML pages for the
** published articles of a site, and the import of articles from files
** (emma import-faq). docs/help.md describes both.
**
** Pages are rendered by a store read on a pool thread (em_help_render_db):
** everything a page shows comes from the database, except what only the loop
** knows (the site's name and the chat colour), which the caller copies in.
** The HTTP side (src/api/help.c) keeps rendered pages in a cache that the
** generation counter below invalidates on every article change.
*/
#ifndef EM_HELP_H
#define EM_HELP_H

#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "kb/kb.h"
#include "store/store.h"
#include "track/sites.h"

#define EM_HELP_PAGE_MAX (4 << 20) /* a rendered page never grows past this */

enum em_help_kind {
	EM_HELP_HOME = 1,
	EM_HELP_CATEGORY,
	EM_HELP_ARTICLE,
	EM_HELP_SEARCH,
	EM_HELP_SITEMAP,
};

/* One page to render. "in" fields are set by the caller on the loop. */
typedef struct em_help_page {
	/* in */
	int kind;
	int64_t site_id;
	char site_key[EM_SITE_KEY_MAX + 1];
	char site_name[EM_SITE_NAME_MAX + 1];
	char color[16];	    /* "#rgb" / "#rrggbb" (validated) or "" for the default */
	char origin[300];   /* "https://help.shop.example", for canonical links */
	char lang[3];	    /* de | en */
	char slug[EM_KB_SLUG_MAX + 1];
	char category[EM_KB_CATEGORY_MAX + 1];
	char q[EM_KB_QUERY_MAX + 1];
	int thanks;	    /* article after a vote: 1 helpful, 2 not helpful */
	/* out */
	int status;	    /* 200, or 404 when there is no such page */
	em_buf html;	    /* the page (XML for the sitemap) */
	char csp[256];	    /* the Content-Security-Policy matching the page */
	char etag[24];	    /* quoted, from the page's bytes */
	unsigned char *gz;  /* gzip copy (em_malloc'ed), NULL when not smaller */
	size_t gzlen;
	int results;	    /* search: articles + products found */
	char article[32];   /* article: its public id (views are counted by it) */
} em_help_page;

/* Store read: renders p (p->html is initialised here). */
int em_help_render_db(em_db *db, void *arg);
/* The 404 page without a store read (unknown site or language). */
void em_help_render_not_found(em_help_page *p);
void em_help_page_free(em_help_page *p);

/* Copies a CSS colour into out when it is "#" and 3, 4, 6 or 8 hex digits;
** else out becomes "". */
void em_help_color(const char *in, char *out, size_t outlen);
/* Appends s percent-encoded for one URL path segment. */
void em_help_url_segment(em_buf *b, const char *s);
/* "de" or "en" from an Accept-Language header (q-values honoured); "en"
** when neither is acceptable or the header is missing. */
const char *em_help_pick_lang(const char *accept_language);

/* Generation of the articles: bumped (on the loop) by every article write
** through the API, so cached pages are rendered again. */
void em_help_invalidate(void);
uint64_t em_help_generation(void);

/* Vote from the help centre's form (store write): finds the published
** article by site + lang + slug and records a helpful/unhelpful event;
** EM_ENOTFOUND when there is none. */
typedef struct em_help_vote {
	int64_t site_id;
	char lang[3];
	char slug[EM_KB_SLUG_MAX + 1];
	int helpful;
} em_help_vote;
int em_help_vote_db(em_db *db, void *arg);

/* ---- Import (emma import-faq; src/kb/help_import.c) -------------------- */
typedef struct em_help_import {
	const em_site *site;
	const char *lang;   /* default language for articles without one; NULL = none */
	int publish;	    /* 1: every imported article is published */
	FILE *report;	    /* skipped items and the summary go here */
	int created, updated, skipped;
} em_help_import;
/* Imports each path: a .json file (array of articles, or {"articles":[...]}),
** a .csv file (header question,answer,category,tags,lang,status[,slug]), or
** a folder of .md files with front matter (the file name is the slug).
** Articles are matched by site + lang + slug: an existing one is updated.
** Returns 0, or an EM_E* code when the store failed (items already written
** stay). Bad items are skipped and reported with file:line. */
int em_help_import_paths(em_store *st, em_help_import *imp, char **paths, int npaths);

#endif
