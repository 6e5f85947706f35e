/*
** Sites known to this server, cached on the loop: key -> id and the domains
** whose pages may send tracking data (empty = any).
*/
#ifndef EM_SITES_H
#define EM_SITES_H

#include <stdint.h>

#include "store/store.h"

typedef struct em_site {
	int64_t id;
	char key[64];
	char name[128];
	char allowed_domains[512]; /* comma-separated host names; a leading '.' or none allows subdomains */
} em_site;

/* Loads every site (synchronous; start-up). */
int em_sites_load(em_store *s);
const em_site *em_sites_find(const char *key);
const em_site *em_sites_by_id(int64_t id);
/* 1 when the host of origin (a URL or bare host) may send data for site. */
int em_sites_origin_allowed(const em_site *site, const char *origin);
void em_sites_free(void);

#endif
