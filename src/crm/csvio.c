/*
** CSV import and export of contacts (see csvio.h).
*/
#include "crm/csvio.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "crm/contacts.h"
#include "crm/webhooks.h"

/* ---- Reading -------------------------------------------------------------- */

void em_csv_init(em_csv *c, const char *data, size_t len)
{
	memset(c, 0, sizeof *c);
	c->p = data;
	c->end = data + len;
	c->line = 1;
	if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
		c->p += 3;
}

void em_csv_free(em_csv *c)
{
	em_free(c->buf);
	c->buf = NULL;
}

static void put(em_csv *c, char ch)
{
	if (c->len + 1 >= c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->buf = em_realloc(c->buf, c->cap);
	}
	c->buf[c->len++] = ch;
}

/* Skips to just after the end of the current physical line. */
static void skip_line(em_csv *c)
{
	while (c->p < c->end && *c->p != '\n' && *c->p != '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\n')
		c->p++;
	c->line++;
}

/* Valid UTF-8 without overlongs, surrogates or code points past U+10FFFF. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char b = s[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		size_t k;
		unsigned cp;
		if (b >= 0xC2 && b <= 0xDF)
			k = 1, cp = b & 0x1F;
		else if (b >= 0xE0 && b <= 0xEF)
			k = 2, cp = b & 0x0F;
		else if (b >= 0xF0 && b <= 0xF4)
			k = 3, cp = b & 0x07;
		else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		i += k + 1;
	}
	return 1;
}

int em_csv_next(em_csv *c, const char **why)
{
	/* Blank lines are no records. */
	while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
		if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')
			c->p++;
		c->p++;
		c->line++;
	}
	if (c->p >= c->end)
		return 0;
	const char *rec_start = c->p;
	c->rec_line = c->line;
	c->nfields = 0;
	c->len = 0;
	for (;;) {
		if (c->nfields == EM_CSV_FIELDS_MAX) {
			*why = "more than 256 columns";
			c->line = c->rec_line;
			c->p = rec_start;
			skip_line(c);
			return EM_EINVAL;
		}
		size_t start = c->len;
		if (c->p < c->end && *c->p == '"') {
			c->p++;
			int closed = 0;
			while (c->p < c->end) {
				char ch = *c->p;
				if (ch == '"') {
					if (c->p + 1 < c->end && c->p[1] == '"') {
						put(c, '"');
						c->p += 2;
						continue;
					}
					c->p++;
					closed = 1;
					break;
				}
				if (ch == '\n')
					c->line++;
				put(c, ch);
				c->p++;
			}
			if (!closed) {
				/* The quote runs to the end of the file: most likely a
				** typo on this line, so report it and go on with the
				** next line rather than swallow the rest of the file. */
				*why = "a quoted field is not closed (a '\"' is missing)";
				c->line = c->rec_line;
				c->p = rec_start;
				skip_line(c);
				return EM_EINVAL;
			}
			if (c->p < c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n') {
				*why = "unexpected text after a closing quote (a quote inside a quoted field "
				       "is written "
				       "\"\")";
				skip_line(c);
				return EM_EINVAL;
			}
		} else {
			while (c->p < c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n')
				put(c, *c->p++);
		}
		size_t flen = c->len - start;
		if (flen > EM_CSV_FIELD_MAX) {
			*why = "a field is longer than 64 KiB";
			goto field_error;
		}
		if (flen && memchr(c->buf + start, '\0', flen)) {
			*why = "a field contains a NUL byte";
			goto field_error;
		}
		if (flen && !utf8_ok((const unsigned char *)c->buf + start, flen)) {
			*why = "the text is not valid UTF-8 (save the file as UTF-8)";
			goto field_error;
		}
		put(c, '\0');
		c->off[c->nfields] = start;
		c->flen[c->nfields] = flen;
		c->nfields++;
		if (c->p >= c->end)
			return 1;
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		/* CR LF, LF or a lone CR ends the record. */
		if (*c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n')
			c->p++;
		c->line++;
		return 1;
	}
field_error:
	if (c->p < c->end && *c->p != '\r' && *c->p != '\n') {
		skip_line(c);
		return EM_EINVAL;
	}
	if (c->p < c->end) {
		if (*c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n')
			c->p++;
		c->line++;
	}
	return EM_EINVAL;
}

const char *em_csv_field(const em_csv *c, int i, size_t *len)
{
	if (i < 0 || i >= c->nfields) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = c->flen[i];
	return c->buf + c->off[i];
}

/* ---- Writing -------------------------------------------------------------- */

int em_csv_cell(em_buf *b, const char *s, int first)
{
	size_t before = b->len;
	if (!s)
		s = "";
	if (!first && em_buf_putc(b, ','))
		return EM_ETOOBIG;
	size_t n = strlen(s);
	int guard = n && strchr("=+-@\t\r", s[0]);
	int quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
	int rc = 0;
	if (quote)
		rc |= em_buf_putc(b, '"');
	if (guard)
		rc |= em_buf_putc(b, '\'');
	for (const char *p = s; *p && !rc; p++) {
		if (*p == '"')
			rc |= em_buf_putc(b, '"');
		rc |= em_buf_putc(b, *p);
	}
	if (quote)
		rc |= em_buf_putc(b, '"');
	if (rc) {
		b->len = before;
		if (b->data)
			b->data[before] = '\0';
		return EM_ETOOBIG;
	}
	return 0;
}

int em_csv_eol(em_buf *b)
{
	return em_buf_append(b, "\r\n", 2) ? EM_ETOOBIG : 0;
}

/* ---- Import --------------------------------------------------------------- */

/* New contacts indexed for search per write (see index_slice). */
#define EM_CSV_INDEX_ROWS 16384

enum { COL_NAME, COL_EMAIL, COL_PHONE, COL_COMPANY, COL_STAGE, COL_TAGS, COL_OWNER, COL_CUSTOM, COL_IGNORE };

static const struct {
	const char *name;
	int kind;
} columns[] = {
	{"name", COL_NAME},
	{"email", COL_EMAIL},
	{"e-mail", COL_EMAIL},
	{"phone", COL_PHONE},
	{"company", COL_COMPANY},
	{"stage", COL_STAGE},
	{"tags", COL_TAGS},
	{"owner", COL_OWNER},
	/* Columns of the export that are not imported. */
	{"id", COL_IGNORE},
	{"source", COL_IGNORE},
	{"lifetime_value", COL_IGNORE},
	{"orders", COL_IGNORE},
	{"created_at", COL_IGNORE},
	{"updated_at", COL_IGNORE},
	{NULL, 0},
};

static const char *const stage_names[] = {"lead", "customer", "lost", "won_back", NULL};

typedef struct row {
	int line;
	const char *name, *email, *phone, *company, *stage, *owner_pid; /* arena; NULL = not given */
	int64_t owner_id;
	json_t *tags;	/* array or NULL */
	json_t *custom; /* object or NULL */
} row;

typedef struct opref {
	int64_t id;
	char pid[32];
	char email[EM_CONTACT_EMAIL_MAX + 1];
} opref;

typedef struct keyslot {
	const char *key; /* "e:addr" / "p:+49..." in the arena */
	size_t row;
} keyslot;

struct em_csv_import {
	int64_t site_id, operator_id;
	int dry_run;
	const char *data;
	size_t len;
	em_arena arena;
	int ncols;
	int kind[EM_CSV_FIELDS_MAX];
	char ctype[EM_CSV_FIELDS_MAX]; /* custom: 't'ext 'n'umber 'd'ate 'b'ool */
	const char *colname[EM_CSV_FIELDS_MAX];
	/* The rows are parsed on the thread pool in slices while the writer
	** applies those parsed before: the parser fills rows[nrows...] (the
	** array is sized for every line of the file up front, so it never
	** moves) and then publishes nrows in avail; the writer reads rows
	** below avail only. Each side counts its own errors. */
	em_csv csv;
	row *rows;
	size_t nrows, cap, next;
	_Atomic size_t avail;
	atomic_int parsed; /* every record read */
	int64_t total, created, updated, unchanged, skipped;
	int64_t deferred; /* created, not yet in the search index */
	json_t *errors;
	int64_t wskipped; /* rows the writer refused, listed in werrors */
	json_t *werrors;
	em_buf jtags, jkeys; /* the writer's JSON texts, kept between chunks */
	char fatal[320];
	char fatal_field[80];
	int finished;
	opref *ops;
	size_t nops;
	keyslot *keys; /* dry run: rows seen by e-mail / phone */
	size_t nkeys_cap, nkeys;
};

em_csv_import *em_csv_import_new(int64_t site_id, int dry_run, int64_t operator_id, const char *data,
				 size_t len)
{
	em_csv_import *imp = em_calloc(1, sizeof *imp);
	imp->site_id = site_id;
	imp->dry_run = dry_run;
	imp->operator_id = operator_id;
	imp->data = data;
	imp->len = len;
	em_arena_init(&imp->arena);
	imp->errors = json_array();
	imp->werrors = json_array();
	/* Bounded by the file: at most 6 bytes of JSON per byte of it. */
	em_buf_init(&imp->jtags, SIZE_MAX / 2);
	em_buf_init(&imp->jkeys, SIZE_MAX / 2);
	return imp;
}

void em_csv_import_free(em_csv_import *imp)
{
	if (!imp)
		return;
	for (size_t i = 0; i < imp->nrows; i++) {
		json_decref(imp->rows[i].tags);
		json_decref(imp->rows[i].custom);
	}
	em_free(imp->rows);
	em_free(imp->ops);
	em_free(imp->keys);
	json_decref(imp->errors);
	json_decref(imp->werrors);
	em_buf_free(&imp->jtags);
	em_buf_free(&imp->jkeys);
	em_csv_free(&imp->csv);
	em_arena_free(&imp->arena);
	em_free(imp);
}

const char *em_csv_import_fatal(const em_csv_import *imp, const char **field)
{
	if (field)
		*field = imp->fatal_field[0] ? imp->fatal_field : NULL;
	return imp->fatal[0] ? imp->fatal : NULL;
}

int em_csv_import_finished(const em_csv_import *imp)
{
	return imp->finished;
}

/* A refused row; `writer` for the writer's side (see struct em_csv_import). */
static void row_error_in(em_csv_import *imp, int writer, int line, const char *field, const char *msg)
{
	json_t *list = writer ? imp->werrors : imp->errors;
	if (writer)
		imp->wskipped++;
	else
		imp->skipped++;
	if (json_array_size(list) >= EM_CSV_ERRORS_MAX)
		return;
	json_t *e = json_pack("{s:i, s:s}", "line", line, "message", msg);
	json_object_set_new(e, "field", field ? json_string(field) : json_null());
	json_array_append_new(list, e);
}

static void row_error(em_csv_import *imp, int line, const char *field, const char *msg)
{
	row_error_in(imp, 0, line, field, msg);
}

__attribute__((format(printf, 3, 4))) static int set_fatal(em_csv_import *imp, const char *field,
							   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(imp->fatal, sizeof imp->fatal, fmt, ap);
	va_end(ap);
	snprintf(imp->fatal_field, sizeof imp->fatal_field, "%s", field ? field : "");
	return EM_EINVAL;
}

/* Trimmed cell, without the leading ' an export puts before = + - @. */
static const char *cell(em_csv *c, int i, size_t *n)
{
	size_t len;
	const char *s = em_csv_field(c, i, &len);
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '\'' && strchr("=+-@\t\r", s[1])) {
		s++;
		len--;
	}
	*n = len;
	return s;
}

static int load_context(em_db *db, em_csv_import *imp, json_t **fields)
{
	em_stmt *st = em_db_prepare(db, "SELECT id, public_id, email FROM operator", "");
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		imp->ops = em_realloc(imp->ops, (imp->nops + 1) * sizeof *imp->ops);
		opref *o = &imp->ops[imp->nops++];
		o->id = em_stmt_int(st, 0);
		snprintf(o->pid, sizeof o->pid, "%s", em_stmt_text(st, 1));
		snprintf(o->email, sizeof o->email, "%s", em_stmt_text(st, 2));
		for (char *p = o->email; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	*fields = json_object();
	st = em_db_prepare(db, "SELECT key, type FROM custom_field WHERE site_id = ?", "i", imp->site_id);
	while ((rc = em_stmt_step(st)) == 1)
		json_object_set_new(*fields, em_stmt_text(st, 0), json_string(em_stmt_text(st, 1)));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int read_header(em_csv_import *imp, em_csv *c, const json_t *fields)
{
	const char *why;
	int rc = em_csv_next(c, &why);
	if (rc == 0)
		return set_fatal(imp, NULL, "%s",
				 "the file is empty: expected a header row such as name,email,phone");
	if (rc < 0)
		return set_fatal(imp, NULL, "line 1: %s", why);
	int have_id = 0;
	imp->ncols = c->nfields;
	for (int i = 0; i < c->nfields; i++) {
		size_t n;
		const char *s = cell(c, i, &n);
		char lower[64];
		if (n == 0 || n >= sizeof lower) {
			char col[16];
			snprintf(col, sizeof col, "%d", i + 1);
			return set_fatal(imp, NULL,
					 "line 1: column %s has no usable name (1 to 63 characters expected)",
					 col);
		}
		for (size_t k = 0; k < n; k++)
			lower[k] = (char)tolower((unsigned char)s[k]);
		lower[n] = '\0';
		imp->colname[i] = em_arena_strdup(&imp->arena, lower);
		imp->kind[i] = -1;
		for (int k = 0; columns[k].name; k++)
			if (!strcmp(lower, columns[k].name))
				imp->kind[i] = columns[k].kind;
		if (imp->kind[i] < 0) {
			const char *type = json_string_value(json_object_get(fields, lower));
			if (!type)
				return set_fatal(imp, lower,
						 "line 1: unknown column '%s': use name, email, phone, "
						 "company, stage, "
						 "tags, owner or the key of one of the site's custom fields",
						 lower);
			imp->kind[i] = COL_CUSTOM;
			imp->ctype[i] = type[0];
		}
		for (int k = 0; k < i; k++)
			if (imp->kind[i] != COL_IGNORE && imp->kind[k] == imp->kind[i] &&
			    (imp->kind[i] != COL_CUSTOM || !strcmp(imp->colname[k], lower)))
				return set_fatal(imp, lower, "line 1: the column '%s' appears twice", lower);
		if (imp->kind[i] == COL_EMAIL || imp->kind[i] == COL_PHONE)
			have_id = 1;
	}
	if (!have_id)
		return set_fatal(imp, NULL, "%s",
				 "line 1: an email or a phone column is needed to match rows with contacts");
	return 0;
}

static const opref *find_operator(const em_csv_import *imp, const char *s)
{
	for (size_t i = 0; i < imp->nops; i++)
		if (!strcmp(imp->ops[i].pid, s) || !strcasecmp(imp->ops[i].email, s))
			return &imp->ops[i];
	return NULL;
}

/* Converts a custom cell by the field's type; NULL with *why on error. */
static json_t *custom_value(char type, const char *s, const char **why)
{
	if (type == 'n') {
		char *end;
		double d = strtod(s, &end);
		if (end == s || *end) {
			*why = "this custom field holds a number (e.g. 42 or 3.5)";
			return NULL;
		}
		if (d > -9e15 && d < 9e15 && d == (double)(json_int_t)d && !strpbrk(s, ".eE"))
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	if (type == 'b') {
		static const char *yes[] = {"true", "yes", "1", "ja", NULL},
				  *no[] = {"false", "no", "0", "nein", NULL};
		for (int i = 0; yes[i]; i++)
			if (!strcasecmp(s, yes[i]))
				return json_true();
		for (int i = 0; no[i]; i++)
			if (!strcasecmp(s, no[i]))
				return json_false();
		*why = "this custom field holds true or false";
		return NULL;
	}
	if (type == 'd') {
		int y, m, d;
		char end;
		if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
		    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) != 3 || m < 1 || m > 12 || d < 1 || d > 31) {
			*why = "this custom field holds a date as YYYY-MM-DD";
			return NULL;
		}
	}
	return json_string(s);
}

/* Parses and checks one record into r; 0, or an error reported. */
static int read_row(em_csv_import *imp, em_csv *c, row *r)
{
	memset(r, 0, sizeof *r);
	r->line = c->rec_line;
	if (c->nfields != imp->ncols) {
		char msg[96];
		snprintf(msg, sizeof msg, "expected %d columns as in the header, found %d", imp->ncols,
			 c->nfields);
		row_error(imp, r->line, NULL, msg);
		return -1;
	}
	char email[EM_CONTACT_EMAIL_MAX + 2], phone[EM_CONTACT_PHONE_MAX + 2];
	const char *why = NULL, *field = NULL;
	for (int i = 0; i < imp->ncols && !why; i++) {
		size_t n;
		const char *s = cell(c, i, &n);
		if (!n || imp->kind[i] == COL_IGNORE)
			continue;
		char *v = em_arena_strndup(&imp->arena, s, n);
		field = imp->colname[i];
		switch (imp->kind[i]) {
		case COL_NAME: r->name = v; break;
		case COL_COMPANY: r->company = v; break;
		case COL_EMAIL:
			if (!em_contact_email(v, email, sizeof email, &why))
				r->email = em_arena_strdup(&imp->arena, email);
			break;
		case COL_PHONE:
			if (!em_contact_phone(v, phone, sizeof phone, &why))
				r->phone = em_arena_strdup(&imp->arena, phone);
			break;
		case COL_STAGE:
			for (char *p = v; *p; p++)
				*p = *p == ' ' || *p == '-' ? '_' : (char)tolower((unsigned char)*p);
			for (int k = 0; stage_names[k]; k++)
				if (!strcmp(v, stage_names[k]))
					r->stage = stage_names[k];
			if (!r->stage)
				why = "unknown stage: use lead, customer, lost or won_back";
			break;
		case COL_TAGS:
			r->tags = json_array();
			for (char *p = v; *p;) {
				size_t k = strcspn(p, ";");
				char *t = p;
				size_t tn = k;
				while (tn && (*t == ' ' || *t == '\t'))
					t++, tn--;
				while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\t'))
					tn--;
				if (tn)
					json_array_append_new(r->tags, json_stringn(t, tn));
				p += k;
				if (*p == ';')
					p++;
			}
			break;
		case COL_OWNER: {
			const opref *o = find_operator(imp, v);
			if (!o)
				why = "no operator with this e-mail address or id";
			else
				r->owner_id = o->id, r->owner_pid = em_arena_strdup(&imp->arena, o->pid);
			break;
		}
		case COL_CUSTOM: {
			json_t *val = custom_value(imp->ctype[i], v, &why);
			if (val) {
				if (!r->custom)
					r->custom = json_object();
				json_object_set_new(r->custom, imp->colname[i], val);
			}
			break;
		}
		}
	}
	if (!why && !r->email && !r->phone) {
		field = "email";
		why = "a row needs an e-mail address or a phone number";
	}
	if (!why) {
		em_contact_input in = {
			.name = r->name, .company = r->company, .tags = r->tags, .custom = r->custom};
		const char *vfield;
		if (em_contact_validate(&in, &vfield, &why)) {
			/* Name the CSV column: tags[2] is in "tags". */
			field = vfield && !strncmp(vfield, "tags", 4) ? "tags" : vfield;
		}
	}
	if (why) {
		row_error(imp, r->line, field, why);
		json_decref(r->tags);
		json_decref(r->custom);
		r->tags = r->custom = NULL;
		return -1;
	}
	return 0;
}

/* -- Existing contacts -- */

typedef struct existing {
	int64_t id, owner_id;
	char name[EM_CONTACT_NAME_MAX * 4 + 1], company[EM_CONTACT_COMPANY_MAX * 4 + 1];
	char email[EM_CONTACT_EMAIL_MAX + 1], phone[EM_CONTACT_PHONE_MAX + 1], stage[16];
	json_t *custom, *tags;
} existing;

static void existing_clear(existing *e)
{
	json_decref(e->custom);
	json_decref(e->tags);
	memset(e, 0, sizeof *e);
}

/* Finds the site's contact by e-mail, else phone (following merges). 1
** found (e filled), 0 none, < 0 error. */
static int lookup(em_db *db, int64_t site_id, const row *r, existing *e)
{
	int64_t id;
	int rc = em_contacts_find_db(db, site_id, r->email, r->phone, &id);
	if (rc || !id)
		return rc;
	em_stmt *st = em_db_prepare(db,
				    "SELECT name, email, phone, company, stage, coalesce(owner_id, 0), custom"
				    " FROM contact WHERE id = ?",
				    "i", id);
	rc = em_stmt_step(st);
	if (rc == 1) {
		e->id = id;
		snprintf(e->name, sizeof e->name, "%s", em_stmt_text(st, 0));
		snprintf(e->email, sizeof e->email, "%s", em_stmt_text(st, 1));
		snprintf(e->phone, sizeof e->phone, "%s", em_stmt_text(st, 2));
		snprintf(e->company, sizeof e->company, "%s", em_stmt_text(st, 3));
		snprintf(e->stage, sizeof e->stage, "%s", em_stmt_text(st, 4));
		e->owner_id = em_stmt_int(st, 5);
		e->custom = json_loads(em_stmt_text(st, 6), 0, NULL);
	}
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : 0;
	if (!e->custom)
		e->custom = json_object();
	e->tags = json_array();
	st = em_db_prepare(db, "SELECT tag FROM contact_tag WHERE contact_id = ? ORDER BY tag", "i", id);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(e->tags, json_string(em_stmt_text(st, 0)));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 1;
}

/* A row seen earlier in the file as if it were stored (dry run). */
static void existing_from_row(const row *r, existing *e)
{
	e->id = -1;
	snprintf(e->name, sizeof e->name, "%s", r->name ? r->name : "");
	snprintf(e->email, sizeof e->email, "%s", r->email ? r->email : "");
	snprintf(e->phone, sizeof e->phone, "%s", r->phone ? r->phone : "");
	snprintf(e->company, sizeof e->company, "%s", r->company ? r->company : "");
	snprintf(e->stage, sizeof e->stage, "%s", r->stage ? r->stage : "lead");
	e->owner_id = r->owner_id;
	e->custom = r->custom ? json_deep_copy(r->custom) : json_object();
	e->tags = json_array();
	if (r->tags) {
		size_t i;
		json_t *t;
		json_array_foreach(r->tags, i, t) json_array_append(e->tags, t);
	}
}

static void tag_lower(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
}

/* Fills upd with what the row changes on e (e-mail and phone only where
** empty; tags added; custom keys patched). Returns how many fields. The
** new tags / custom values in upd are owned by the caller (*tags, *custom). */
static int diff(const row *r, const existing *e, em_contact_input *upd, json_t **tags, json_t **custom)
{
	int n = 0;
	memset(upd, 0, sizeof *upd);
	*tags = *custom = NULL;
	if (r->name && strcmp(r->name, e->name))
		upd->name = r->name, n++;
	if (r->company && strcmp(r->company, e->company))
		upd->company = r->company, n++;
	if (r->email && !e->email[0])
		upd->email = r->email, n++;
	if (r->phone && !e->phone[0])
		upd->phone = r->phone, n++;
	if (r->stage && strcmp(r->stage, e->stage))
		upd->stage = r->stage, n++;
	if (r->owner_id && r->owner_id != e->owner_id)
		upd->owner = r->owner_pid, n++;
	if (r->tags) {
		size_t i, k;
		json_t *t, *x;
		json_t *all = NULL;
		json_array_foreach(r->tags, i, t)
		{
			char a[EM_CONTACT_TAG_MAX * 4 + 1];
			tag_lower(json_string_value(t), a, sizeof a);
			int have = 0;
			json_array_foreach(e->tags, k, x) if (!strcmp(json_string_value(x), a)) have = 1;
			if (all)
				json_array_foreach(all, k, x) if (!strcmp(json_string_value(x), a)) have = 1;
			if (!have) {
				if (!all)
					all = json_deep_copy(e->tags);
				json_array_append_new(all, json_string(a));
			}
		}
		if (all) {
			if (json_array_size(all) > EM_CONTACT_TAGS_MAX) {
				json_decref(all);
			} else {
				*tags = all;
				upd->tags = all;
				n++;
			}
		}
	}
	if (r->custom) {
		const char *k;
		json_t *v;
		json_object_foreach(r->custom, k, v)
		{
			if (!json_equal(json_object_get(e->custom, k), v)) {
				if (!*custom)
					*custom = json_object();
				json_object_set(*custom, k, v);
			}
		}
		if (*custom)
			upd->custom = *custom, n++;
	}
	return n;
}

/* -- Dry-run key map (open addressing over "e:" / "p:" keys) -- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static keyslot *key_slot(em_csv_import *imp, const char *key)
{
	size_t mask = imp->nkeys_cap - 1;
	for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask)
		if (!imp->keys[i].key || !strcmp(imp->keys[i].key, key))
			return &imp->keys[i];
}

static void key_put(em_csv_import *imp, char kind, const char *v, size_t row_index)
{
	char k[EM_CONTACT_EMAIL_MAX + 4];
	snprintf(k, sizeof k, "%c:%s", kind, v);
	keyslot *s = key_slot(imp, k);
	if (!s->key) {
		s->key = em_arena_strdup(&imp->arena, k);
		imp->nkeys++;
	}
	s->row = row_index;
}

static long key_get(em_csv_import *imp, char kind, const char *v)
{
	char k[EM_CONTACT_EMAIL_MAX + 4];
	snprintf(k, sizeof k, "%c:%s", kind, v);
	keyslot *s = key_slot(imp, k);
	return s->key ? (long)s->row : -1;
}

static int plan_dry(em_db *db, em_csv_import *imp, size_t i)
{
	row *r = &imp->rows[i];
	existing e = {0};
	long earlier = r->email ? key_get(imp, 'e', r->email) : -1;
	if (earlier < 0 && r->phone)
		earlier = key_get(imp, 'p', r->phone);
	int found;
	if (earlier >= 0) {
		existing_from_row(&imp->rows[earlier], &e);
		found = 1;
	} else {
		found = lookup(db, imp->site_id, r, &e);
		if (found < 0)
			return found;
	}
	if (!found) {
		imp->created++;
	} else {
		em_contact_input upd;
		json_t *tags, *custom;
		if (diff(r, &e, &upd, &tags, &custom))
			imp->updated++;
		else
			imp->unchanged++;
		json_decref(tags);
		json_decref(custom);
	}
	existing_clear(&e);
	if (r->email)
		key_put(imp, 'e', r->email, i);
	if (r->phone)
		key_put(imp, 'p', r->phone, i);
	return 0;
}

/* Parses up to max records (0: all that are left) into imp->rows, then
** publishes them to the writer. */
static void parse_rows(em_csv_import *imp, size_t max)
{
	const char *why;
	size_t n = 0;
	for (; !max || n < max; n++) {
		int rc = em_csv_next(&imp->csv, &why);
		if (rc == 0) {
			em_csv_free(&imp->csv);
			atomic_store(&imp->avail, imp->nrows);
			atomic_store(&imp->parsed, 1);
			return;
		}
		imp->total++;
		if (rc < 0) {
			row_error(imp, imp->csv.rec_line, NULL, why);
			continue;
		}
		if (imp->nrows == imp->cap) { /* cannot be: a record per line at most */
			row_error(imp, imp->csv.rec_line, NULL, "too many records");
			continue;
		}
		if (read_row(imp, &imp->csv, &imp->rows[imp->nrows]) == 0)
			imp->nrows++;
	}
	atomic_store(&imp->avail, imp->nrows);
}

/* Records the first slice of a real import parses: the writer starts with
** them while the rest is read. */
#define PARSE_FIRST_ROWS 4000
/* Records each further parse read takes. */
#define PARSE_SLICE_ROWS 16000

int em_csv_import_prepare_db(em_db *db, void *arg)
{
	em_csv_import *imp = arg;
	json_t *fields = NULL;
	int rc = load_context(db, imp, &fields);
	if (rc) {
		json_decref(fields);
		return rc;
	}
	em_csv_init(&imp->csv, imp->data, imp->len);
	rc = read_header(imp, &imp->csv, fields);
	json_decref(fields);
	if (rc) {
		em_csv_free(&imp->csv);
		return rc;
	}
	/* Room for a record per line: the rows never move while the writer
	** reads them (untouched pages of a large allocation cost nothing). */
	size_t lines = 1;
	for (const char *p = imp->data, *end = imp->data + imp->len; p < end; p++)
		if (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n')))
			lines++;
	imp->cap = lines;
	imp->rows = em_calloc(lines, sizeof *imp->rows);
	parse_rows(imp, imp->dry_run ? 0 : PARSE_FIRST_ROWS);
	if (!imp->dry_run)
		return 0;
	imp->nkeys_cap = 64;
	while (imp->nkeys_cap < imp->nrows * 4)
		imp->nkeys_cap *= 2;
	imp->keys = em_calloc(imp->nkeys_cap, sizeof *imp->keys);
	for (size_t i = 0; i < imp->nrows; i++)
		if ((rc = plan_dry(db, imp, i)))
			return rc;
	imp->finished = 1;
	return 0;
}

int em_csv_import_parse_db(em_db *db, void *arg)
{
	(void)db;
	parse_rows(arg, PARSE_SLICE_ROWS);
	return 0;
}

int em_csv_import_parsed(const em_csv_import *imp)
{
	return atomic_load(&((em_csv_import *)imp)->parsed);
}

int em_csv_import_ready(const em_csv_import *imp)
{
	em_csv_import *m = (em_csv_import *)imp;
	return atomic_load(&m->parsed) || imp->deferred >= EM_CSV_INDEX_ROWS ||
	       atomic_load(&m->avail) - imp->next >= EM_CSV_CHUNK_ROWS;
}

/* Updates an existing contact with what the row changes (if anything). */
static int apply_existing(em_db *db, em_csv_import *imp, const row *r, const existing *e, int *ids_filled)
{
	em_contact_input upd;
	json_t *tags, *custom;
	int rc = 0;
	if (diff(r, e, &upd, &tags, &custom)) {
		if (upd.email || upd.phone)
			*ids_filled = 1;
		rc = em_contacts_update_db(db, e->id, &upd, imp->operator_id);
		if (!rc)
			imp->updated++;
	} else {
		imp->unchanged++;
	}
	json_decref(tags);
	json_decref(custom);
	if (rc == EM_EINVAL) {
		/* Checked before; only a race (an owner deleted meanwhile) gets here. */
		row_error_in(imp, 1, r->line, NULL, "the row was refused by the contact rules");
		return 0;
	}
	return rc;
}

/* The staging table of a chunk's new contacts (see create_bulk), tags as a
** JSON array: temporary, so never written to the database file; empty
** outside a write. */
static const char sql_stage_rows[] =
	"CREATE TEMP TABLE IF NOT EXISTS csv_import_row (id INTEGER PRIMARY KEY, public_id TEXT, name TEXT,"
	" email TEXT, phone TEXT, company TEXT, stage TEXT, tags TEXT, owner_id INTEGER, custom TEXT)";
static const char sql_stage_rows_clear[] = "DELETE FROM csv_import_row";
static const char sql_stage_row[] = "INSERT INTO csv_import_row (id, public_id, name, email, phone, company,"
				    " stage, tags, owner_id, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/* Creates the chunk's new contacts with one INSERT statement, and their
** tags and "created" timeline facts with one statement each: every
** statement that writes contact rows opens a statement journal (the table
** has triggers), which past a few pages costs a write call per page, so one
** statement for many rows is many times faster than one per row. The rows
** reach that statement through a temporary staging table, filled one
** prepared INSERT per row (cheaper than a JSON text that SQL takes apart
** again: json_extract parses a row's text anew for every column). The ids
** are given (the next free ones, as SQLite would pick), so the tags and
** facts need no look-up. The search index is left to index_slice: the
** chunk's write runs with contact_search_defer set, so the new contacts are
** listed in contact_search_todo instead (migration 012). Then the
** contact.created / lead.created webhooks (their payload only built when a
** webhook wants them). */
static int create_bulk(em_db *db, em_csv_import *imp, row **rows, size_t n)
{
	if (!n)
		return 0;
	int64_t now = em_now_ms();
	em_stmt *st = em_db_prepare(db, "SELECT coalesce(max(id), 0) FROM contact", "");
	int rc = em_stmt_step(st);
	int64_t base = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return EM_EIO;
	unsigned char *rnd = em_malloc(n * 5);
	em_id_random_bytes(rnd, n * 5);
	/* The rows go to the staging table one statement each (no trigger, no
	** index: no statement journal), then to the contact, tag and fact
	** tables with one statement each. Leftovers of a write that failed
	** after staging were rolled back with it; the first DELETE makes sure. */
	rc = em_db_exec(db, sql_stage_rows, "");
	if (!rc)
		rc = em_db_exec(db, sql_stage_rows_clear, "");
	for (size_t i = 0; i < n && !rc; i++) {
		const row *r = rows[i];
		int64_t id = base + 1 + (int64_t)i;
		char pid[32] = "ct";
		em_id_timed(pid + 2, now, rnd + i * 5);
		char *ctext = r->custom ? em_json_dump(r->custom, NULL) : NULL;
		/* The tags as a JSON array of lowercased tags, or NULL. */
		em_buf *tb = &imp->jtags;
		em_buf_reset(tb);
		size_t k;
		json_t *t;
		int e = 0;
		if (r->tags && json_array_size(r->tags)) {
			json_array_foreach(r->tags, k, t)
			{
				char tag[EM_CONTACT_TAG_MAX * 4 + 1];
				tag_lower(json_string_value(t), tag, sizeof tag);
				e |= em_buf_putc(tb, k ? ',' : '[');
				em_json_put_str(tb, tag);
			}
			e |= em_buf_putc(tb, ']');
		}
		rc = e ? EM_ENOMEM
		       : em_db_exec(db, sql_stage_row, "itttttttit", id, pid, r->name ? r->name : "",
				    r->email ? r->email : "", r->phone ? r->phone : "",
				    r->company ? r->company : "", r->stage ? r->stage : "lead",
				    tb->len ? tb->data : NULL, r->owner_id, ctext ? ctext : "{}");
		em_free(ctext);
	}
	em_free(rnd);
	if (!rc)
		rc = em_db_exec(db,
				"INSERT INTO contact (id, public_id, site_id, name, email, phone, company,"
				" stage, owner_id, source, custom, created_at, updated_at)"
				" SELECT id, public_id, ?, name, email, phone, company, stage,"
				" nullif(owner_id, 0), 'import', custom, ?, ? FROM csv_import_row",
				"iii", imp->site_id, now, now);
	if (!rc)
		rc = em_db_exec(db,
				"INSERT INTO contact_tag (contact_id, tag) SELECT r.id, j.value"
				" FROM csv_import_row r, json_each(r.tags) j"
				" WHERE r.tags IS NOT NULL ON CONFLICT DO NOTHING",
				"");
	if (!rc)
		rc = em_db_exec(
			db,
			"INSERT INTO contact_event (contact_id, type, detail, operator_id, created_at)"
			" SELECT id, 'created', '{\"source\":\"import\",\"stage\":\"' || stage || '\"}',"
			" nullif(?, 0), ? FROM csv_import_row",
			"ii", imp->operator_id, now);
	if (!rc)
		rc = em_db_exec(db, sql_stage_rows_clear, "");
	if (rc)
		return rc == EM_ENOMEM ? rc : EM_EIO;
	int want_contact = em_webhooks_wanted_db(db, "contact.created");
	int want_lead = em_webhooks_wanted_db(db, "lead.created");
	for (size_t i = 0; i < n && !rc && (want_contact || want_lead); i++) {
		int lead = !rows[i]->stage || !strcmp(rows[i]->stage, "lead");
		if (!want_contact && !lead)
			continue;
		json_t *c = em_contacts_json_db(db, base + 1 + (int64_t)i);
		json_t *payload = c ? json_pack("{s:o}", "contact", c) : NULL;
		if (!payload || (want_contact && em_webhooks_enqueue_db(db, "contact.created", payload)) ||
		    (want_lead && lead && em_webhooks_enqueue_db(db, "lead.created", payload)))
			rc = EM_EIO;
		json_decref(payload);
	}
	if (rc)
		return rc;
	imp->created += (int64_t)n;
	imp->deferred += (int64_t)n;
	return 0;
}

/* Indexes up to EM_CSV_INDEX_ROWS contacts waiting in contact_search_todo
** (this import's, and any an interrupted import left), oldest first, in one
** statement: one index segment for the lot. *left: whether more wait. */
static int index_slice(em_db *db, em_csv_import *imp, int *left)
{
	em_stmt *st = em_db_prepare(db,
				    "SELECT max(contact_id), count(*) FROM (SELECT contact_id FROM"
				    " contact_search_todo ORDER BY contact_id LIMIT ?)",
				    "i", (int64_t)EM_CSV_INDEX_ROWS);
	int rc = em_stmt_step(st);
	int64_t bound = rc == 1 && !em_stmt_is_null(st, 0) ? em_stmt_int(st, 0) : 0;
	int64_t count = rc == 1 ? em_stmt_int(st, 1) : 0;
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	*left = 0;
	if (!bound)
		return 0;
	if (em_db_exec(db,
		       "INSERT INTO contact_search (rowid, name, email, phone, company)"
		       " SELECT c.id, c.name, c.email, c.phone, c.company FROM contact_search_todo t"
		       " JOIN contact c ON c.id = t.contact_id WHERE t.contact_id <= ? ORDER BY t.contact_id",
		       "i", bound) ||
	    em_db_exec(db, "DELETE FROM contact_search_todo WHERE contact_id <= ?", "i", bound))
		return EM_EIO;
	*left = count == EM_CSV_INDEX_ROWS;
	if (imp)
		imp->deferred = imp->deferred > count ? imp->deferred - count : 0;
	return 0;
}

int em_csv_index_waiting_db(em_db *db, void *arg)
{
	int *indexed = arg, left = 1, rc = 0;
	while (left && !rc) {
		rc = index_slice(db, NULL, &left);
		if (!rc && indexed)
			(*indexed)++;
	}
	return rc;
}

/* Keys of the chunk's rows waiting for the bulk insert. */
#define CHUNK_KEYS_CAP 8192 /* a power of two above 2 keys x EM_CSV_CHUNK_ROWS x 2 */
typedef struct chunk_keys {
	const char *k[CHUNK_KEYS_CAP];
} chunk_keys;

static int chunk_key(chunk_keys *ck, const char *v, int add)
{
	size_t mask = CHUNK_KEYS_CAP - 1;
	for (size_t i = hash_str(v) & mask;; i = (i + 1) & mask) {
		if (!ck->k[i]) {
			if (add)
				ck->k[i] = v;
			return 0;
		}
		if (!strcmp(ck->k[i], v))
			return 1;
	}
}

/* Marks which of the next EM_CSV_CHUNK_ROWS rows share an e-mail address or
** phone number with a contact of the site (merged ones too), with two
** statements for them all (one per key): the others are new, and need no
** look-up each. An empty value is never looked up (every contact without a
** phone would be read). */
static int find_known(em_db *db, em_csv_import *imp, size_t avail, unsigned char known[EM_CSV_CHUNK_ROWS])
{
	static const char *const sql[2] = {
		"SELECT j.key FROM json_each(?) j WHERE j.value != '' AND EXISTS (SELECT 1 FROM contact"
		" WHERE site_id = ? AND email = j.value)",
		"SELECT j.key FROM json_each(?) j WHERE j.value != '' AND EXISTS (SELECT 1 FROM contact"
		" WHERE site_id = ? AND phone = j.value)",
	};
	memset(known, 0, EM_CSV_CHUNK_ROWS);
	/* Two flat arrays, e-mail addresses and phone numbers ('' for none,
	** and for rows the first found), in row order: json_each hands out
	** each value without parsing it again. */
	em_buf *b = &imp->jkeys;
	for (int pass = 0; pass < 2; pass++) {
		em_buf_reset(b);
		int e = em_buf_putc(b, '[');
		size_t n = 0;
		for (size_t i = imp->next; i < avail && n < EM_CSV_CHUNK_ROWS; i++, n++) {
			const row *r = &imp->rows[i];
			/* A row found by its e-mail address needs no second look-up. */
			const char *v = !pass ? r->email : known[n] ? NULL : r->phone;
			if (n)
				e |= em_buf_putc(b, ',');
			em_json_put_str(b, v ? v : "");
		}
		e |= em_buf_putc(b, ']');
		if (e)
			return EM_ENOMEM;
		em_stmt *st = em_db_prepare(db, sql[pass], "ti", b->data, imp->site_id);
		int rc;
		while ((rc = em_stmt_step(st)) == 1) {
			int64_t k = em_stmt_int(st, 0);
			if (k >= 0 && (size_t)k < n)
				known[k] = 1;
		}
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
	}
	return 0;
}

int em_csv_import_chunk_db(em_db *db, void *arg)
{
	em_csv_import *imp = arg;
	/* Read parsed first, then how many: a row counted is a row parsed. */
	int parsed = atomic_load(&imp->parsed);
	size_t avail = atomic_load(&imp->avail);
	int last = parsed && imp->next >= avail;
	/* Every EM_CSV_INDEX_ROWS new contacts, and after the last row until
	** none waits, the write indexes instead: the import answers once its
	** contacts can be found. */
	if (imp->deferred >= EM_CSV_INDEX_ROWS || last) {
		int64_t d0 = imp->deferred;
		int left;
		int rc = index_slice(db, imp, &left);
		if (rc) {
			imp->deferred = d0;
			return rc;
		}
		if (last && !left)
			imp->finished = 1;
		return 0;
	}
	if (em_db_exec(db, "INSERT INTO contact_search_defer (id) VALUES (1) ON CONFLICT DO NOTHING", ""))
		return EM_EIO;
	/* Counts of a chunk that is rolled back must not stay counted. */
	int64_t c0 = imp->created, u0 = imp->updated, n0 = imp->unchanged, s0 = imp->wskipped;
	int64_t d0 = imp->deferred;
	size_t e0 = json_array_size(imp->werrors);
	row *pending[EM_CSV_CHUNK_ROWS];
	size_t npending = 0, i = imp->next;
	chunk_keys *ck = em_calloc(1, sizeof *ck);
	unsigned char known[EM_CSV_CHUNK_ROWS];
	int rc = find_known(db, imp, avail, known), ids_filled = 0;
	for (; i < avail && i - imp->next < EM_CSV_CHUNK_ROWS && !rc; i++) {
		row *r = &imp->rows[i];
		/* A second row for a person created by this chunk: create first,
		** then update in the next chunk. */
		if ((r->email && chunk_key(ck, r->email, 0)) || (r->phone && chunk_key(ck, r->phone, 0)))
			break;
		existing e = {0};
		/* Once an update gave a contact an e-mail or phone, find_known's
		** answer may be out of date: look every row up. */
		int found = known[i - imp->next] || ids_filled ? lookup(db, imp->site_id, r, &e) : 0;
		if (found < 0)
			rc = found;
		else if (found)
			rc = apply_existing(db, imp, r, &e, &ids_filled);
		else {
			pending[npending++] = r;
			if (r->email)
				chunk_key(ck, r->email, 1);
			if (r->phone)
				chunk_key(ck, r->phone, 1);
		}
		existing_clear(&e);
	}
	em_free(ck);
	if (!rc)
		rc = create_bulk(db, imp, pending, npending);
	if (!rc && em_db_exec(db, "DELETE FROM contact_search_defer", ""))
		rc = EM_EIO;
	if (rc) {
		imp->created = c0, imp->updated = u0, imp->unchanged = n0, imp->wskipped = s0;
		imp->deferred = d0;
		while (json_array_size(imp->werrors) > e0)
			json_array_remove(imp->werrors, json_array_size(imp->werrors) - 1);
		return rc;
	}
	imp->next = i;
	return 0;
}

json_t *em_csv_import_report(const em_csv_import *imp)
{
	/* The parser's errors (in line order), then the writer's. */
	json_t *errors = json_copy(imp->errors);
	size_t i;
	json_t *e;
	json_array_foreach(imp->werrors, i, e) if (json_array_size(errors) < EM_CSV_ERRORS_MAX)
		json_array_append(errors, e);
	int64_t skipped = imp->skipped + imp->wskipped;
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:b}", "dry_run", imp->dry_run, "rows",
			 (json_int_t)imp->total, "created", (json_int_t)imp->created, "updated",
			 (json_int_t)imp->updated, "unchanged", (json_int_t)imp->unchanged, "skipped",
			 (json_int_t)skipped, "errors", errors, "errors_truncated",
			 skipped > (int64_t)json_array_size(errors));
}

/* ---- Export --------------------------------------------------------------- */

static const char *const export_cols[] = {"id",	    "name",	  "email",	"phone",  "company",
					  "stage",  "tags",	  "owner",	"source", "lifetime_value",
					  "orders", "created_at", "updated_at", NULL};

int em_csv_export_db(em_db *db, int64_t site_id, const char *stage, const char *tag, em_buf *out)
{
	/* The site's custom field keys make the last columns. */
	json_t *keys = json_array();
	em_stmt *st = em_db_prepare(db, "SELECT key FROM custom_field WHERE site_id = ? ORDER BY key", "i",
				    site_id);
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(keys, json_string(em_stmt_text(st, 0)));
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(keys);
		return EM_EIO;
	}
	int e = 0;
	for (int i = 0; export_cols[i] && !e; i++)
		e = em_csv_cell(out, export_cols[i], i == 0);
	size_t k;
	json_t *key;
	json_array_foreach(keys, k, key) if (!e) e = em_csv_cell(out, json_string_value(key), 0);
	if (!e)
		e = em_csv_eol(out);
	st = em_db_prepare(
		db,
		"SELECT c.public_id, c.name, c.email, c.phone, c.company, c.stage,"
		" (SELECT group_concat(tag, ';') FROM (SELECT tag FROM contact_tag WHERE contact_id = c.id"
		" ORDER BY tag)), o.email, c.source, c.lifetime_value, c.orders, c.created_at, c.updated_at,"
		" c.custom FROM contact c LEFT JOIN operator o ON o.id = c.owner_id"
		" WHERE c.site_id = ? AND c.merged_into IS NULL AND (? IS NULL OR c.stage = ?)"
		" AND (? IS NULL OR EXISTS (SELECT 1 FROM contact_tag t WHERE t.contact_id = c.id AND t.tag "
		"= ?))"
		" ORDER BY c.id",
		"itttt", site_id, stage, stage, tag, tag);
	while (!e && (rc = em_stmt_step(st)) == 1) {
		char num[64], t1[32], t2[32];
		for (int i = 0; i < 9 && !e; i++)
			e = em_csv_cell(out, em_stmt_text(st, i), i == 0);
		snprintf(num, sizeof num, "%.2f", em_stmt_double(st, 9));
		e = e ? e : em_csv_cell(out, num, 0);
		snprintf(num, sizeof num, "%lld", (long long)em_stmt_int(st, 10));
		e = e ? e : em_csv_cell(out, num, 0);
		em_rfc3339(em_stmt_int(st, 11), t1);
		em_rfc3339(em_stmt_int(st, 12), t2);
		e = e ? e : em_csv_cell(out, t1, 0);
		e = e ? e : em_csv_cell(out, t2, 0);
		json_t *custom = json_loads(em_stmt_text(st, 13) ? em_stmt_text(st, 13) : "{}", 0, NULL);
		json_array_foreach(keys, k, key)
		{
			if (e)
				break;
			json_t *v = json_object_get(custom, json_string_value(key));
			char vb[64];
			const char *s = "";
			if (json_is_string(v))
				s = json_string_value(v);
			else if (json_is_integer(v))
				snprintf(vb, sizeof vb, "%lld", (long long)json_integer_value(v)), s = vb;
			else if (json_is_real(v))
				snprintf(vb, sizeof vb, "%.17g", json_real_value(v)), s = vb;
			else if (json_is_boolean(v))
				s = json_is_true(v) ? "true" : "false";
			e = em_csv_cell(out, s, 0);
		}
		json_decref(custom);
		e = e ? e : em_csv_eol(out);
	}
	em_stmt_done(st);
	json_decref(keys);
	if (e)
		return EM_ETOOBIG;
	return rc < 0 ? EM_EIO : 0;
}
