/*
** Sites known to this server: key, name and the domains whose pages may send
** tracking data (empty = any). The cache lives on the loop and is the truth
** the tracking endpoints read; every change is written to the store first
** and applied to the cache after COMMIT, in the same loop turn that answers
** the request, so the next /t already sees it.
**
** Cache slots are stable: a pointer from em_sites_find() stays valid (and
** keeps naming the same site) until that site is deleted.
*/
#ifndef EM_SITES_H
#define EM_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "store/store.h"

#define EM_SITES_MAX 1024
#define EM_SITE_KEY_MAX 64
#define EM_SITE_NAME_MAX 127
/* allowed_domains is stored joined with ','; these bound one entry, the
** number of entries and the joined text. */
#define EM_SITE_DOMAIN_MAX 255
#define EM_SITE_DOMAINS_COUNT 64
#define EM_SITE_DOMAINS_MAX 2047

typedef struct em_site {
	int64_t id; /* 0 = free slot */
	char key[EM_SITE_KEY_MAX + 1];
	char name[EM_SITE_NAME_MAX + 1];
	/* Comma-separated lowercase host names. "shop.example" allows exactly
	** that host; "*.shop.example" any subdomain of it (not the host itself).
	** A legacy leading "." allows the host and its subdomains. */
	char allowed_domains[EM_SITE_DOMAINS_MAX + 1];
	int64_t created_at;
} em_site;

/* Loads every site (synchronous; start-up). */
int em_sites_load(em_store *s);
const em_site *em_sites_find(const char *key);
const em_site *em_sites_by_id(int64_t id);
/* Every site in id order; returns how many were written to out (at most max). */
size_t em_sites_list(const em_site **out, size_t max);
/* 1 when the host of origin (a URL or bare host) may send data for site. */
int em_sites_origin_allowed(const em_site *site, const char *origin);
void em_sites_free(void);

/* ---- Validation (pure; unit-tested) ---------------------------------- */

/* 1 when key matches [a-z0-9_-]{1,64}. */
int em_sites_key_valid(const char *key);
/* Checks one allowed domain: a host name (labels of letters, digits and
** '-', at most 253 characters) with an optional "*." prefix. Writes it
** lowercased into out. Returns 0, or EM_EINVAL with *why set to a reason. */
int em_sites_domain_check(const char *in, char *out, size_t outlen, const char **why);

/* ---- Changes (loop thread) ------------------------------------------- */

/* done runs exactly once on the loop, possibly before the call returns. On
** success site is the cached entry after the change (NULL for a delete).
** On failure status is EM_EEXIST (key taken; delete: the site still has
** data), EM_ENOTFOUND, EM_ERANGE (too many sites) or a store status, and
** message (may be NULL) says why. */
typedef void (*em_sites_done)(int status, const em_site *site, const char *message, void *arg);

/* in->key, name and allowed_domains must be validated already. */
void em_sites_create(em_app *app, const em_site *in, em_sites_done done, void *arg);
/* name / allowed_domains NULL = unchanged. */
void em_sites_update(em_app *app, const char *key, const char *name, const char *allowed_domains,
		     em_sites_done done, void *arg);
/* Deletes a site that holds no visitors, conversations or settings. */
void em_sites_delete(em_app *app, const char *key, em_sites_done done, void *arg);

#endif
