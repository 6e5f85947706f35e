/*
** The page cache: SQLite's own, behind a thin layer that spares it a scan
** of the whole cache at the end of most write transactions.
**
** At every COMMIT SQLite asks its page cache to drop pages past the end of
** the database (xTruncate with the database size). The default cache keeps
** the largest page number it has held since the last truncation and, when
** that lies more than one hash table's length past the limit, walks every
** bucket and every cached page. When a B-tree page splits, SQLite swaps page
** numbers through a temporary one that no database uses (the page of the
** lock byte at 1 GiB: page 262145 with 4 KiB pages), so after most commits
** that add rows the cache believes page 262145 was held, and the next
** COMMIT walks up to 16,000 pages of the writer's cache for nothing. perf
** showed that walk at 2% of the server's CPU under beacon load.
**
** This layer keeps its own largest page number, not counting the temporary
** one while no page is parked there, and skips a truncation that can drop
** nothing: every page it holds is then below the limit. All other calls go
** straight to SQLite's cache.
*/
#include "store/store_int.h"

#include <sqlite3.h>

#include "core/alloc.h"

/* SQLite's lock-byte offset (PENDING_BYTE); its page is never part of a
** database, which is why SQLite uses its number as the temporary one. */
#define LOCK_BYTE_OFFSET 0x40000000u

typedef struct pcache {
	sqlite3_pcache *inner;
	unsigned max_key;  /* no cached page has a larger number, parked ones aside */
	unsigned park_key; /* the temporary page number */
	int parked;	   /* pages under park_key now */
} pcache;

static sqlite3_pcache_methods2 inner;

static sqlite3_pcache *pc_create(int page_size, int extra, int purgeable)
{
	sqlite3_pcache *in = inner.xCreate(page_size, extra, purgeable);
	if (!in)
		return NULL;
	pcache *c = sqlite3_malloc(sizeof *c);
	if (!c) {
		inner.xDestroy(in);
		return NULL;
	}
	c->inner = in;
	c->max_key = 0;
	c->park_key = LOCK_BYTE_OFFSET / (unsigned)page_size + 1;
	c->parked = 0;
	return (sqlite3_pcache *)c;
}

static void pc_cachesize(sqlite3_pcache *p, int n)
{
	inner.xCachesize(((pcache *)p)->inner, n);
}

static int pc_pagecount(sqlite3_pcache *p)
{
	return inner.xPagecount(((pcache *)p)->inner);
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *p, unsigned key, int create)
{
	pcache *c = (pcache *)p;
	sqlite3_pcache_page *pg = inner.xFetch(c->inner, key, create);
	if (pg && key > c->max_key) {
		if (key != c->park_key)
			c->max_key = key;
		else if (create)
			c->parked++; /* counted twice at worst: then a truncation too many */
	}
	return pg;
}

static void pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard)
{
	inner.xUnpin(((pcache *)p)->inner, pg, discard);
}

static void pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned from, unsigned to)
{
	pcache *c = (pcache *)p;
	inner.xRekey(c->inner, pg, from, to);
	if (from == c->park_key && c->parked > 0)
		c->parked--;
	if (to == c->park_key)
		c->parked++;
	else if (to > c->max_key)
		c->max_key = to;
}

static void pc_truncate(sqlite3_pcache *p, unsigned limit)
{
	pcache *c = (pcache *)p;
	/* Nothing at or past the limit: nothing to drop. */
	if (limit > c->max_key && (!c->parked || limit > c->park_key))
		return;
	inner.xTruncate(c->inner, limit);
	if (limit <= c->park_key)
		c->parked = 0;
	if (c->max_key >= limit)
		c->max_key = limit ? limit - 1 : 0;
}

static void pc_destroy(sqlite3_pcache *p)
{
	pcache *c = (pcache *)p;
	inner.xDestroy(c->inner);
	sqlite3_free(c);
}

static void pc_shrink(sqlite3_pcache *p)
{
	inner.xShrink(((pcache *)p)->inner);
}

int em__pcache_install(void)
{
	static sqlite3_pcache_methods2 outer;
	int rc = sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner);
	if (rc != SQLITE_OK || !inner.xCreate || inner.iVersion < 1)
		return rc != SQLITE_OK ? rc : SQLITE_ERROR;
	outer = inner;
	outer.iVersion = 1;
	outer.xCreate = pc_create;
	outer.xCachesize = pc_cachesize;
	outer.xPagecount = pc_pagecount;
	outer.xFetch = pc_fetch;
	outer.xUnpin = pc_unpin;
	outer.xRekey = pc_rekey;
	outer.xTruncate = pc_truncate;
	outer.xDestroy = pc_destroy;
	outer.xShrink = pc_shrink;
	return sqlite3_config(SQLITE_CONFIG_PCACHE2, &outer);
}
