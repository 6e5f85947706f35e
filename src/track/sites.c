/*
** Site cache and site changes (see sites.h). Sites are few; a fixed array
** of slots is enough, and fixed slots keep pointers handed out stable.
*/
#include "track/sites.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

static em_site *sites;
static size_t nslots; /* high-water mark of used slots; free ones have id 0 */

static void copy_row(em_site *s, em_stmt *st)
{
	s->id = em_stmt_int(st, 0);
	snprintf(s->key, sizeof s->key, "%s", em_stmt_text(st, 1));
	snprintf(s->name, sizeof s->name, "%s", em_stmt_text(st, 2));
	snprintf(s->allowed_domains, sizeof s->allowed_domains, "%s", em_stmt_text(st, 3));
	s->created_at = em_stmt_int(st, 4);
}

static int load_fn(em_db *db, void *arg)
{
	(void)arg;
	em_stmt *st = em_db_prepare(
		db, "SELECT id, key, name, allowed_domains, created_at FROM site ORDER BY id", "");
	if (!st)
		return EM_EIO;
	int rc;
	nslots = 0;
	while ((rc = em_stmt_step(st)) == 1 && nslots < EM_SITES_MAX)
		copy_row(&sites[nslots++], st);
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_sites_load(em_store *s)
{
	if (!sites)
		sites = em_calloc(EM_SITES_MAX, sizeof *sites);
	return em_store_read_sync(s, load_fn, NULL);
}

const em_site *em_sites_find(const char *key)
{
	if (!key || !*key)
		return NULL;
	for (size_t i = 0; i < nslots; i++)
		if (sites[i].id && !strcmp(sites[i].key, key))
			return &sites[i];
	return NULL;
}

const em_site *em_sites_by_id(int64_t id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < nslots; i++)
		if (sites[i].id == id)
			return &sites[i];
	return NULL;
}

size_t em_sites_list(const em_site **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < nslots && n < max; i++)
		if (sites[i].id)
			out[n++] = &sites[i];
	/* Slots are reused after a delete, so sort by id (insertion sort: few). */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1]->id > out[j]->id; j--) {
			const em_site *t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

int em_sites_origin_allowed(const em_site *site, const char *origin)
{
	if (!site->allowed_domains[0])
		return 1;
	if (!origin)
		return 0;
	const char *h = strstr(origin, "://");
	h = h ? h + 3 : origin;
	size_t hl = strcspn(h, ":/?#");
	for (const char *p = site->allowed_domains; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		const char *d = p;
		size_t dl = n;
		int sub = 0, self = 1;
		if (dl > 2 && d[0] == '*' && d[1] == '.') {
			d += 2;
			dl -= 2;
			sub = 1;
			self = 0;
		} else if (dl > 1 && d[0] == '.') {
			d++;
			dl--;
			sub = 1;
		}
		if (dl && hl >= dl && !strncasecmp(h + hl - dl, d, dl)) {
			if (hl == dl && self)
				return 1;
			if (hl > dl && sub && h[hl - dl - 1] == '.')
				return 1;
		}
		p += n;
	}
	return 0;
}

void em_sites_free(void)
{
	em_free(sites);
	sites = NULL;
	nslots = 0;
}

/* ---- Validation ------------------------------------------------------- */

int em_sites_key_valid(const char *key)
{
	size_t n = 0;
	for (; key[n]; n++) {
		unsigned char c = (unsigned char)key[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= EM_SITE_KEY_MAX;
}

int em_sites_domain_check(const char *in, char *out, size_t outlen, const char **why)
{
	const char *h = in;
	size_t o = 0;
	if (!strncmp(h, "*.", 2)) {
		h += 2;
		if (outlen > 2) {
			out[o++] = '*';
			out[o++] = '.';
		}
	}
	size_t n = strlen(h);
	if (n == 0) {
		*why = "must be a host name such as shop.example.com or *.shop.example.com";
		return EM_EINVAL;
	}
	if (strstr(in, "://") || strpbrk(h, "/:?#@")) {
		*why = "must be a host name only, without scheme, port or path (e.g. shop.example.com)";
		return EM_EINVAL;
	}
	if (n > 253) {
		*why = "host names have at most 253 characters";
		return EM_EINVAL;
	}
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c == '.') {
			if (label == 0 || h[i - 1] == '-') {
				*why = "has an empty label or a label ending in '-'";
				return EM_EINVAL;
			}
			label = 0;
		} else if (isalnum(c) && c < 0x80) {
			label++;
		} else if (c == '-') {
			if (label == 0) {
				*why = "has a label starting with '-'";
				return EM_EINVAL;
			}
			label++;
		} else {
			*why = c == '*' ? "a wildcard is allowed only as a leading \"*.\""
					: "may contain only letters, digits, '-' and '.'";
			return EM_EINVAL;
		}
		if (label > 63) {
			*why = "has a label longer than 63 characters";
			return EM_EINVAL;
		}
	}
	if (label == 0 || h[n - 1] == '-') {
		*why = "must not end with '.' or '-'";
		return EM_EINVAL;
	}
	if (o + n + 1 > outlen) {
		*why = "is too long";
		return EM_EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		out[o++] = (char)tolower((unsigned char)h[i]);
	out[o] = '\0';
	return 0;
}

/* ---- Changes ---------------------------------------------------------- */

enum { OP_CREATE, OP_UPDATE, OP_DELETE };

typedef struct site_job {
	int op;
	em_site s; /* input; after the write, the stored row */
	int has_name, has_domains;
	const char *message;
	em_sites_done done;
	void *arg;
} site_job;

static int read_back(em_db *db, site_job *j)
{
	em_stmt *st =
		em_db_prepare(db, "SELECT id, key, name, allowed_domains, created_at FROM site WHERE key = ?",
			      "t", j->s.key);
	int rc = em_stmt_step(st);
	if (rc == 1)
		copy_row(&j->s, st);
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

static int write_fn(em_db *db, void *arg)
{
	site_job *j = arg;
	int rc;
	switch (j->op) {
	case OP_CREATE:
		rc = em_db_exec(
			db, "INSERT INTO site (key, name, allowed_domains, created_at) VALUES (?, ?, ?, ?)",
			"ttti", j->s.key, j->s.name, j->s.allowed_domains, j->s.created_at);
		if (rc == EM_EEXIST)
			j->message = "a site with this key exists already";
		return rc ? rc : read_back(db, j);
	case OP_UPDATE:
		rc = em_db_exec(db,
				"UPDATE site SET name = COALESCE(?, name), allowed_domains = COALESCE(?, "
				"allowed_domains) WHERE key = ?",
				"ttt", j->has_name ? j->s.name : NULL,
				j->has_domains ? j->s.allowed_domains : NULL, j->s.key);
		if (rc)
			return rc;
		if (em_db_changes(db) == 0)
			return EM_ENOTFOUND;
		return read_back(db, j);
	default: {
		if ((rc = read_back(db, j)))
			return rc;
		/* Visitors carry every visit and event; other data (conversations,
		** chat settings, rules) references the site by foreign key, which
		** makes the DELETE itself fail. */
		em_stmt *st =
			em_db_prepare(db, "SELECT 1 FROM visitor WHERE site_id = ? LIMIT 1", "i", j->s.id);
		rc = em_stmt_step(st);
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (rc == 0) {
			rc = em_db_exec(db, "DELETE FROM site WHERE id = ?", "i", j->s.id);
			if (rc == 0)
				return 0;
			if (rc != EM_EINVAL)
				return rc;
		}
		j->message = "the site still has visitors, conversations or settings; it can be deleted only "
			     "while it holds no data";
		return EM_EEXIST;
	}
	}
}

/* Applies the committed change to the cache. */
static em_site *cache_apply(site_job *j)
{
	if (j->op == OP_DELETE) {
		for (size_t i = 0; i < nslots; i++)
			if (sites[i].id == j->s.id)
				memset(&sites[i], 0, sizeof sites[i]);
		return NULL;
	}
	for (size_t i = 0; i < nslots; i++)
		if (sites[i].id == j->s.id) {
			sites[i] = j->s;
			return &sites[i];
		}
	for (size_t i = 0; i < EM_SITES_MAX; i++)
		if (!sites[i].id) {
			sites[i] = j->s;
			if (i >= nslots)
				nslots = i + 1;
			return &sites[i];
		}
	return NULL; /* not reached: create checks for room first */
}

static void finish(site_job *j, int status, const em_site *s)
{
	em_sites_done done = j->done;
	void *arg = j->arg;
	const char *message = j->message;
	em_free(j);
	done(status, s, message, arg);
}

static void done_fn(int status, void *arg)
{
	site_job *j = arg;
	if (status) {
		finish(j, status, NULL);
		return;
	}
	const em_site *s = cache_apply(j);
	finish(j, 0, s);
}

static void submit(em_app *app, site_job *j)
{
	int rc = em_store_write(app->store, write_fn, done_fn, j);
	if (rc)
		finish(j, rc, NULL);
}

static site_job *job_new(int op, const char *key, em_sites_done done, void *arg)
{
	site_job *j = em_calloc(1, sizeof *j);
	j->op = op;
	snprintf(j->s.key, sizeof j->s.key, "%s", key);
	j->done = done;
	j->arg = arg;
	return j;
}

void em_sites_create(em_app *app, const em_site *in, em_sites_done done, void *arg)
{
	site_job *j = job_new(OP_CREATE, in->key, done, arg);
	size_t used = 0;
	for (size_t i = 0; i < nslots; i++)
		used += sites[i].id != 0;
	if (used >= EM_SITES_MAX) {
		j->message = "this server holds at most 1024 sites";
		finish(j, EM_ERANGE, NULL);
		return;
	}
	snprintf(j->s.name, sizeof j->s.name, "%s", in->name);
	snprintf(j->s.allowed_domains, sizeof j->s.allowed_domains, "%s", in->allowed_domains);
	j->s.created_at = em_now_ms();
	submit(app, j);
}

void em_sites_update(em_app *app, const char *key, const char *name, const char *allowed_domains,
		     em_sites_done done, void *arg)
{
	site_job *j = job_new(OP_UPDATE, key, done, arg);
	if (name) {
		j->has_name = 1;
		snprintf(j->s.name, sizeof j->s.name, "%s", name);
	}
	if (allowed_domains) {
		j->has_domains = 1;
		snprintf(j->s.allowed_domains, sizeof j->s.allowed_domains, "%s", allowed_domains);
	}
	submit(app, j);
}

void em_sites_delete(em_app *app, const char *key, em_sites_done done, void *arg)
{
	submit(app, job_new(OP_DELETE, key, done, arg));
}
