/*
** emma import-faq: articles from JSON, CSV or a folder of Markdown files
** into the knowledge base (see help.h and docs/help.md, "Import").
**
** Every file is read and checked first; each good article is then written
** through em_kb_article_put_db, matched by site + language + slug, so an
** import run again updates what it created before. A bad article is skipped
** with its file and line and the reason; the others go in.
*/
#include "kb/help.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/csvio.h"

#define FILE_MAX (64u << 20)
#define CHUNK 200 /* articles per store write */
#define TAGS_MAX 20
#define TAG_MAX 40
#define TAGS_LEN (TAGS_MAX * (TAG_MAX + 1) + 1)

typedef struct item {
	char where[600]; /* file:line */
	int line;
	char lang[3];
	char slug[EM_KB_SLUG_MAX + 1];
	char *question, *answer, *category, *status;
	char tags[TAGS_LEN];
	char *err; /* why it was refused (em_malloc'ed), NULL = fine */
	int done;  /* 1 created, 2 updated */
} item;

typedef struct batch {
	em_help_import *imp;
	item *items;
	size_t n, cap;
} batch;

static void item_free(item *it)
{
	em_free(it->question);
	em_free(it->answer);
	em_free(it->category);
	em_free(it->status);
	em_free(it->err);
}

static item *item_new(batch *b, const char *file, int line)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->items = em_realloc(b->items, b->cap * sizeof *b->items);
	}
	item *it = &b->items[b->n++];
	memset(it, 0, sizeof *it);
	it->line = line;
	snprintf(it->where, sizeof it->where, "%s:%d", file, line);
	return it;
}

static void skip(em_help_import *imp, const char *where, const char *why)
{
	fprintf(imp->report, "skipped %s: %s\n", where, why);
	imp->skipped++;
}

static char *trimmed(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	char *out = em_malloc(n + 1);
	memcpy(out, s, n);
	out[n] = 0;
	return out;
}

/* "a, b,c" into "a,b,c"; returns a reason when a tag is too long or there
** are too many. */
static const char *tags_join(const char *in, char *out)
{
	size_t k = 0;
	int n = 0;
	out[0] = 0;
	for (const char *p = in; p && *p;) {
		size_t len = strcspn(p, ",");
		char *t = trimmed(p, len);
		if (*t) {
			if (strlen(t) > TAG_MAX || ++n > TAGS_MAX) {
				em_free(t);
				return "tags: at most 20 tags of 1-40 characters";
			}
			k += (size_t)snprintf(out + k, TAGS_LEN - k, "%s%s", k ? "," : "", t);
		}
		em_free(t);
		p += len + (p[len] == ',');
	}
	return NULL;
}

static int slug_valid(const char *s)
{
	if (!*s || strlen(s) > EM_KB_SLUG_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

/* Applies the import's defaults and checks an article; returns the reason
** it cannot be imported, or NULL. */
static const char *check(em_help_import *imp, item *it)
{
	if (!it->lang[0] && imp->lang)
		snprintf(it->lang, sizeof it->lang, "%s", imp->lang);
	if (!it->lang[0])
		return "lang is missing (de or en; or give --lang)";
	if (strcmp(it->lang, "de") && strcmp(it->lang, "en"))
		return "lang must be de or en";
	if (!it->question || !*it->question)
		return "question is missing";
	if (strlen(it->question) > EM_KB_QUESTION_MAX)
		return "question is longer than 300 bytes";
	if (!it->answer || !*it->answer)
		return "answer is missing";
	if (strlen(it->answer) > EM_KB_ANSWER_MAX)
		return "answer is longer than 50000 bytes";
	if (it->category && strlen(it->category) > EM_KB_CATEGORY_MAX)
		return "category is longer than 80 bytes";
	if (it->status && !*it->status) {
		em_free(it->status);
		it->status = NULL;
	}
	if (it->status && strcmp(it->status, "draft") && strcmp(it->status, "published"))
		return "status must be draft or published";
	if (imp->publish) {
		em_free(it->status);
		it->status = em_strdup("published");
	}
	if (!it->slug[0])
		em_kb_slug(it->question, it->slug, sizeof it->slug);
	else if (!slug_valid(it->slug))
		return "slug: lowercase letters, digits and '-' (at most 120)";
	return NULL;
}

static void accept_or_skip(em_help_import *imp, batch *b, item *it, const char *why)
{
	if (!why)
		why = check(imp, it);
	if (why) {
		skip(imp, it->where, why);
		item_free(it);
		b->n--;
	}
}

/* ---- Reading files -------------------------------------------------------- */

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	em_buf b;
	em_buf_init(&b, FILE_MAX);
	char chunk[65536];
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rc = em_buf_append(&b, chunk, n);
	int bad = ferror(f);
	fclose(f);
	if (rc || bad) {
		snprintf(err, errlen, "%s: %s", path, rc ? "larger than 64 MiB" : "read error");
		em_buf_free(&b);
		return NULL;
	}
	em_buf_append(&b, "", 0);
	return em_buf_steal(&b, len);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* One Markdown file: front matter between "---" lines, then the answer. */
static void parse_markdown(em_help_import *imp, batch *b, const char *path, const char *data)
{
	item *it = item_new(b, path, 1);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t bl = strlen(base) - 3; /* without ".md" */
	char stem[EM_KB_SLUG_MAX + 8];
	snprintf(stem, sizeof stem, "%.*s", (int)(bl < sizeof stem - 1 ? bl : sizeof stem - 1), base);
	if (slug_valid(stem))
		snprintf(it->slug, sizeof it->slug, "%.120s", stem);
	else
		em_kb_slug(stem, it->slug, sizeof it->slug);
	const char *p = data;
	if (!strncmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	if (strncmp(p, "---", 3) || (p[3] != '\n' && p[3] != '\r')) {
		accept_or_skip(imp, b, it, "no front matter: the file must start with a line '---'");
		return;
	}
	p += 3 + (p[3] == '\r') + 1;
	int line = 2, closed = 0;
	const char *why = NULL;
	while (*p) {
		size_t n = strcspn(p, "\n");
		const char *next = p + n + (p[n] == '\n');
		size_t ln = n && p[n - 1] == '\r' ? n - 1 : n;
		if (ln == 3 && !strncmp(p, "---", 3)) {
			closed = 1;
			p = next;
			line++;
			break;
		}
		const char *colon = memchr(p, ':', ln);
		if (!colon) {
			if (ln && !why) {
				snprintf(it->where, sizeof it->where, "%s:%d", path, line);
				why = "front matter lines are 'key: value'";
			}
		} else {
			char *key = trimmed(p, (size_t)(colon - p));
			char *val = trimmed(colon + 1, ln - (size_t)(colon + 1 - p));
			size_t vl = strlen(val);
			if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') ||
					(val[0] == '\'' && val[vl - 1] == '\''))) {
				memmove(val, val + 1, vl - 2);
				val[vl - 2] = 0;
			}
			if (!strcmp(key, "question") || !strcmp(key, "title")) {
				em_free(it->question);
				it->question = val, val = NULL;
			} else if (!strcmp(key, "category")) {
				em_free(it->category);
				it->category = val, val = NULL;
			} else if (!strcmp(key, "status")) {
				em_free(it->status);
				it->status = val, val = NULL;
			} else if (!strcmp(key, "lang")) {
				if (strcmp(val, "de") && strcmp(val, "en") && !why) {
					snprintf(it->where, sizeof it->where, "%s:%d", path, line);
					why = "lang must be de or en";
				}
				snprintf(it->lang, sizeof it->lang, "%.2s", val);
			} else if (!strcmp(key, "tags")) {
				const char *tw = tags_join(val, it->tags);
				if (tw && !why) {
					snprintf(it->where, sizeof it->where, "%s:%d", path, line);
					why = tw;
				}
			} else if (!strcmp(key, "slug")) {
				snprintf(it->slug, sizeof it->slug, "%s", val);
				if (strlen(val) > EM_KB_SLUG_MAX || !slug_valid(val)) {
					snprintf(it->where, sizeof it->where, "%s:%d", path, line);
					why = why ? why
						  : "slug: lowercase letters, digits and '-' (at most 120)";
				}
			}
			em_free(key);
			em_free(val);
		}
		p = next;
		line++;
	}
	if (!closed) {
		accept_or_skip(imp, b, it, "front matter is not closed with a line '---'");
		return;
	}
	while (*p == '\n' || *p == '\r')
		p++;
	it->answer = trimmed(p, strlen(p));
	accept_or_skip(imp, b, it, why);
}

/* Line of each article object in a JSON text: the '{' one level inside
** the first array (jansson reports positions only for syntax errors). */
static int *json_item_lines(const char *s, size_t *count)
{
	size_t cap = 64, n = 0;
	int *lines = em_malloc(cap * sizeof *lines);
	int line = 1, depth = 0, array_depth = -1, in_str = 0;
	for (; *s; s++) {
		char ch = *s;
		if (ch == '\n')
			line++;
		if (in_str) {
			if (ch == '\\' && s[1])
				s++;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"') {
			in_str = 1;
		} else if (ch == '[' || ch == '{') {
			if (ch == '[' && array_depth < 0)
				array_depth = depth + 1;
			else if (ch == '{' && depth == array_depth) {
				if (n == cap)
					lines = em_realloc(lines, (cap *= 2) * sizeof *lines);
				lines[n++] = line;
			}
			depth++;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	*count = n;
	return lines;
}

static char *json_text(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? em_strdup(json_string_value(v)) : NULL;
}

static void parse_json(em_help_import *imp, batch *b, const char *path, const char *data, size_t len)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, 0, &je);
	if (!root) {
		char where[600], why[300];
		snprintf(where, sizeof where, "%s:%d", path, je.line);
		snprintf(why, sizeof why, "not JSON: %s (column %d); nothing imported from this file",
			 je.text, je.column);
		skip(imp, where, why);
		return;
	}
	json_t *list = json_is_array(root) ? root : json_object_get(root, "articles");
	if (!json_is_array(list)) {
		char where[600];
		snprintf(where, sizeof where, "%s:1", path);
		skip(imp, where, "expected an array of articles or {\"articles\": [...]}");
		json_decref(root);
		return;
	}
	size_t nlines;
	int *lines = json_item_lines(data, &nlines);
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o)
	{
		item *it = item_new(b, path, i < nlines ? lines[i] : 1);
		if (!json_is_object(o)) {
			accept_or_skip(imp, b, it, "expected an object");
			continue;
		}
		const char *why = NULL;
		static const char *const strs[] = {"question", "answer", "category",
						   "lang",     "status", "slug"};
		for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !why; k++) {
			const json_t *v = json_object_get(o, strs[k]);
			if (v && !json_is_null(v) && !json_is_string(v))
				why = "question, answer, category, lang, status and slug must be strings";
		}
		it->question = json_text(o, "question");
		it->answer = json_text(o, "answer");
		it->category = json_text(o, "category");
		it->status = json_text(o, "status");
		const char *lang = em_json_str(o, "lang", "");
		if (strlen(lang) > 2 && !why)
			why = "lang must be de or en";
		snprintf(it->lang, sizeof it->lang, "%.2s", lang);
		const char *slug = em_json_str(o, "slug", "");
		if (strlen(slug) > EM_KB_SLUG_MAX && !why)
			why = "slug: lowercase letters, digits and '-' (at most 120)";
		snprintf(it->slug, sizeof it->slug, "%s", slug);
		json_t *tags = json_object_get(o, "tags");
		if (json_is_string(tags)) {
			why = why ? why : tags_join(json_string_value(tags), it->tags);
		} else if (json_is_array(tags)) {
			em_buf t;
			em_buf_init(&t, TAGS_LEN * 4);
			size_t j;
			json_t *tv;
			json_array_foreach(tags, j, tv)
			{
				if (!json_is_string(tv) || strchr(json_string_value(tv), ',')) {
					why = why ? why : "tags: strings without commas";
					break;
				}
				em_buf_printf(&t, "%s%s", j ? "," : "", json_string_value(tv));
			}
			if (!why)
				why = tags_join(t.data ? t.data : "", it->tags);
			em_buf_free(&t);
		} else if (tags && !json_is_null(tags) && !why) {
			why = "tags: an array of strings or \"a, b\"";
		}
		accept_or_skip(imp, b, it, why);
	}
	em_free(lines);
	json_decref(root);
}

static void parse_csv(em_help_import *imp, batch *b, const char *path, const char *data, size_t len)
{
	enum { C_QUESTION, C_ANSWER, C_CATEGORY, C_TAGS, C_LANG, C_STATUS, C_SLUG, C_N };
	static const char *const names[C_N] = {"question", "answer", "category", "tags",
					       "lang",	   "status", "slug"};
	int col[C_N];
	for (int k = 0; k < C_N; k++)
		col[k] = -1;
	em_csv c;
	em_csv_init(&c, data, len);
	const char *why = NULL;
	char where[600];
	int rc = em_csv_next(&c, &why);
	if (rc != 1) {
		snprintf(where, sizeof where, "%s:%d", path, c.rec_line ? c.rec_line : 1);
		skip(imp, where, rc == 0 ? "empty file (expected a header row)" : why);
		em_csv_free(&c);
		return;
	}
	for (int i = 0; i < c.nfields; i++)
		for (int k = 0; k < C_N; k++) {
			char *h = trimmed(em_csv_field(&c, i, NULL), strlen(em_csv_field(&c, i, NULL)));
			if (!strcasecmp(h, names[k]))
				col[k] = i;
			em_free(h);
		}
	if (col[C_QUESTION] < 0 || col[C_ANSWER] < 0) {
		snprintf(where, sizeof where, "%s:%d", path, c.rec_line);
		skip(imp, where,
		     "the header row needs the columns question and answer "
		     "(and may have category, tags, lang, status, slug)");
		em_csv_free(&c);
		return;
	}
	while ((rc = em_csv_next(&c, &why)) != 0) {
		if (rc < 0) {
			snprintf(where, sizeof where, "%s:%d", path, c.rec_line);
			skip(imp, where, why ? why : "broken row");
			continue;
		}
		item *it = item_new(b, path, c.rec_line);
#define CELL(k) (col[k] >= 0 && col[k] < c.nfields ? em_csv_field(&c, col[k], NULL) : NULL)
		const char *v;
		it->question = (v = CELL(C_QUESTION)) ? trimmed(v, strlen(v)) : NULL;
		it->answer = (v = CELL(C_ANSWER)) ? em_strdup(v) : NULL;
		it->category = (v = CELL(C_CATEGORY)) ? trimmed(v, strlen(v)) : NULL;
		it->status = (v = CELL(C_STATUS)) ? trimmed(v, strlen(v)) : NULL;
		const char *bad = NULL;
		if ((v = CELL(C_LANG))) {
			char *l = trimmed(v, strlen(v));
			if (strlen(l) > 2)
				bad = "lang must be de or en";
			snprintf(it->lang, sizeof it->lang, "%.2s", l);
			em_free(l);
		}
		if ((v = CELL(C_SLUG)) && *v) {
			if (strlen(v) > EM_KB_SLUG_MAX)
				bad = bad ? bad : "slug: lowercase letters, digits and '-' (at most 120)";
			snprintf(it->slug, sizeof it->slug, "%s", v);
		}
		if ((v = CELL(C_TAGS)))
			bad = bad ? bad : tags_join(v, it->tags);
#undef CELL
		accept_or_skip(imp, b, it, bad);
	}
	em_csv_free(&c);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int parse_path(em_help_import *imp, batch *b, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(path, &sb)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return EM_ENOTFOUND;
	}
	if (S_ISDIR(sb.st_mode)) {
		struct dirent **names;
		int n = scandir(path, &names, NULL, by_name);
		if (n < 0) {
			snprintf(err, errlen, "cannot read the folder %s: %s", path, strerror(errno));
			return EM_EIO;
		}
		int found = 0, rc = 0;
		for (int i = 0; i < n; i++) {
			if (!rc && names[i]->d_name[0] != '.' && ends_with(names[i]->d_name, ".md")) {
				char full[4096];
				snprintf(full, sizeof full, "%s%s%s", path,
					 path[strlen(path) - 1] == '/' ? "" : "/", names[i]->d_name);
				size_t len;
				char *data = read_file(full, &len, err, errlen);
				if (!data)
					rc = EM_EIO;
				else
					parse_markdown(imp, b, full, data);
				em_free(data);
				found++;
			}
			free(names[i]);
		}
		free(names);
		if (!rc && !found) {
			snprintf(err, errlen, "%s: no .md files in this folder", path);
			return EM_ENOTFOUND;
		}
		return rc;
	}
	size_t len;
	char *data;
	if (ends_with(path, ".json") || ends_with(path, ".csv") || ends_with(path, ".md")) {
		data = read_file(path, &len, err, errlen);
		if (!data)
			return EM_EIO;
	} else {
		snprintf(err, errlen, "%s: expected a .json, .csv or .md file, or a folder of .md files",
			 path);
		return EM_EINVAL;
	}
	if (ends_with(path, ".json"))
		parse_json(imp, b, path, data, len);
	else if (ends_with(path, ".csv"))
		parse_csv(imp, b, path, data, len);
	else
		parse_markdown(imp, b, path, data);
	em_free(data);
	return 0;
}

/* ---- Writing -------------------------------------------------------------- */

typedef struct chunk {
	em_help_import *imp;
	item *items;
	size_t n;
} chunk;

static int chunk_db(em_db *db, void *arg)
{
	chunk *c = arg;
	for (size_t i = 0; i < c->n; i++) {
		item *it = &c->items[i];
		em_kb_article a;
		memset(&a, 0, sizeof a);
		a.site_id = c->imp->site->id;
		snprintf(a.lang, sizeof a.lang, "%s", it->lang);
		snprintf(a.slug, sizeof a.slug, "%s", it->slug);
		em_stmt *st = em_db_prepare(
			db, "SELECT public_id FROM kb_article WHERE site_id = ? AND lang = ? AND slug = ?",
			"itt", a.site_id, a.lang, a.slug);
		int rc = em_stmt_step(st);
		if (rc == 1)
			snprintf(a.public_id, sizeof a.public_id, "%s", em_stmt_text(st, 0));
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		a.create = rc == 0;
		a.question = it->question;
		a.answer = it->answer;
		a.category = it->category ? it->category : a.create ? "" : NULL;
		a.tags = it->tags;
		a.status = it->status ? it->status : a.create ? "draft" : NULL;
		rc = em_kb_article_put_db(db, &a);
		json_decref(a.out);
		if (rc == EM_EIO)
			return rc;
		if (rc) {
			it->err = em_strdup(rc == EM_EEXIST ? "the slug is taken" : em_strerror(rc));
			continue;
		}
		it->done = a.create ? 1 : 2;
	}
	return 0;
}

int em_help_import_paths(em_store *st, em_help_import *imp, char **paths, int npaths)
{
	char err[1024];
	int failed = 0;
	for (int p = 0; p < npaths; p++) {
		batch b = {.imp = imp};
		int rc = parse_path(imp, &b, paths[p], err, sizeof err);
		if (rc) {
			fprintf(imp->report, "error: %s\n", err);
			failed = rc;
		}
		for (size_t off = 0; off < b.n && !(rc && rc != EM_ENOTFOUND && rc != EM_EINVAL);
		     off += CHUNK) {
			chunk c = {imp, b.items + off, b.n - off < CHUNK ? b.n - off : CHUNK};
			rc = em_store_write_sync(st, chunk_db, &c);
			if (rc) {
				fprintf(imp->report,
					"error: %s: the store failed (%s); articles from here on were not "
					"imported\n",
					c.items[0].where, em_strerror(rc));
				for (size_t i = off; i < b.n; i++)
					b.items[i].done = 0;
				failed = rc;
				break;
			}
		}
		for (size_t i = 0; i < b.n; i++) {
			item *it = &b.items[i];
			if (it->done == 1)
				imp->created++;
			else if (it->done == 2)
				imp->updated++;
			else if (it->err)
				skip(imp, it->where, it->err);
			item_free(it);
		}
		em_free(b.items);
		if (failed && failed != EM_ENOTFOUND && failed != EM_EINVAL)
			return failed;
	}
	return failed;
}
