/*
** Private to src/store/ (and its unit tests): internals of the store that the
** rest of Emma must not use.
**
** Today this is only the hook that lets tests replace the embedded migration
** table, so a deliberately broken migration can be tested without shipping
** one. A later store_pg.c shares the migration-name rules documented here.
*/
#ifndef EM_STORE_INT_H
#define EM_STORE_INT_H

#include "net/embedded.h"

/*
** Migration files are named NNN_name.sql. The version is the decimal number
** before the first '_' (or '.'); it must be > 0 and unique. Migrations run in
** ascending version order, each in its own transaction, and a version that
** schema_migrations already lists never runs again.
*/

/* Replaces the migration table used by em_store_open()/em_store_migrate()
** (NULL restores the embedded one). Not thread-safe: tests only, called while
** no store is being opened. The table ends with an entry whose path is NULL. */
void em__store_set_migrations(const struct em_embedded *table);

/* Largest stmt-cache size per connection. Past it, em_db_prepare() still
** works but prepares a one-off statement that em_stmt_done() finalizes. */
#define EM__STMT_CACHE_MAX 512

/* Registers the FTS5 tokenizer "emma" (src/store/fts_text.c) on a new
** connection. */
struct sqlite3;
int em__fts_register(struct sqlite3 *db);
/* Registers the WAL write-coalescing VFS (walbuf.c) once; its name, or
** NULL when the platform's VFS cannot be wrapped (then the default is used). */
const char *em__walbuf_vfs(void);
/* Puts the page-cache layer of pcache.c over SQLite's own cache. Before
** sqlite3_initialize; an SQLite result code (SQLITE_OK). */
int em__pcache_install(void);

#endif
