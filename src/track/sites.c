/*
** Site cache (see sites.h). Sites are few; a small array is enough.
*/
#include "track/sites.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"

#define MAX_SITES 1024

static em_site *sites;
static int nsites;

static int load_fn(em_db *db, void *arg)
{
	(void)arg;
	em_stmt *st = em_db_prepare(db, "SELECT id, key, name, allowed_domains FROM site ORDER BY id", "");
	if (!st)
		return EM_EIO;
	int rc;
	nsites = 0;
	while ((rc = em_stmt_step(st)) == 1 && nsites < MAX_SITES) {
		em_site *s = &sites[nsites++];
		s->id = em_stmt_int(st, 0);
		snprintf(s->key, sizeof s->key, "%s", em_stmt_text(st, 1));
		snprintf(s->name, sizeof s->name, "%s", em_stmt_text(st, 2));
		snprintf(s->allowed_domains, sizeof s->allowed_domains, "%s", em_stmt_text(st, 3));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_sites_load(em_store *s)
{
	if (!sites)
		sites = em_calloc(MAX_SITES, sizeof *sites);
	return em_store_read_sync(s, load_fn, NULL);
}

const em_site *em_sites_find(const char *key)
{
	for (int i = 0; i < nsites; i++)
		if (!strcmp(sites[i].key, key))
			return &sites[i];
	return NULL;
}

const em_site *em_sites_by_id(int64_t id)
{
	for (int i = 0; i < nsites; i++)
		if (sites[i].id == id)
			return &sites[i];
	return NULL;
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
		if (dl && *d == '.') {
			d++;
			dl--;
		}
		/* Exact host, or a subdomain of it. */
		if (dl && hl >= dl && !strncasecmp(h + hl - dl, d, dl) && (hl == dl || h[hl - dl - 1] == '.'))
			return 1;
		p += n;
	}
	return 0;
}

void em_sites_free(void)
{
	em_free(sites);
	sites = NULL;
	nsites = 0;
}
