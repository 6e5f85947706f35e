/*
** Emma's storage, backend-neutral.
**
** The store owns one write connection on a dedicated writer thread and a small
** pool of read-only connections used from the thread pool. Modules express
** their data access as functions that receive an em_db handle and run portable
** SQL through it (prepared statements, '?' placeholders, ON CONFLICT ... DO
** instead of INSERT OR ...), so a PostgreSQL backend can take the same code.
** Nothing outside src/store/ includes sqlite3.h or libpq-fe.h.
**
** Writes are queued and committed in groups: the writer takes up to
** store.batch_max queued writes (waiting at most store.batch_ms for more),
** runs each inside its own SAVEPOINT of one transaction, COMMITs, and only
** then posts every write's done callback to the loop. So an acknowledgement
** sent from a done callback always refers to committed data.
*/
#ifndef EM_STORE_H
#define EM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct em_store em_store;
typedef struct em_db em_db;	/* a connection, as seen by one write or read function */
typedef struct em_stmt em_stmt; /* a prepared statement with bound parameters */

/* Runs on the writer thread (writes) or a pool thread (reads). Return 0 or an
** EM_E* code; for writes a non-zero return rolls back this write only. */
typedef int (*em_db_fn)(em_db *db, void *arg);
/* Runs on the loop thread with the status of the db function (or of COMMIT). */
typedef void (*em_done_fn)(int status, void *arg);

/* Opens (creating) <data_dir>/emma.db, applies pending migrations and starts
** the writer thread. On failure writes a reason into err. */
int em_store_open(em_store **out, const em_config *cfg, char *err, size_t errlen);
/* Stops accepting writes, drains and commits the queue, checkpoints, closes. */
void em_store_close(em_store *s);

/* Applies pending migrations without starting anything else (emma migrate).
** *applied receives how many ran. */
int em_store_migrate(const em_config *cfg, int *applied, char *err, size_t errlen);
/* Schema version (highest applied migration number). */
int em_store_schema_version(em_store *s);

/* Queues a write. Returns 0, or EM_EAGAIN when store.queue_max writes are
** already waiting (answer 503), or EM_ECLOSED during shutdown. On a non-zero
** return neither callback ever runs. `done` may be NULL. */
int em_store_write(em_store *s, em_db_fn fn, em_done_fn done, void *arg);
/* Like em_store_write, for a write that may run twice. Each write normally
** runs inside a savepoint of its own, so that a failing one is undone alone.
** Consecutive replayable writes share one savepoint instead (two statements
** and the savepoint journal's copy of every page they touch are saved per
** write); should one of them fail, the shared savepoint is rolled back,
** reset() runs (it must forget whatever state fn keeps beside the database)
** and each of them runs again in a savepoint of its own. fn must have no
** effect outside the database that a second run would repeat. */
int em_store_write_replayable(em_store *s, em_db_fn fn, void (*reset)(void), em_done_fn done, void *arg);
/* For a write whose outcome nobody waits for (a tracking batch already
** answered from the ingest journal): under load the writer lets it wait up
** to 2 ms for more writes to share its COMMIT (fewer, larger transactions:
** fewer log pages per write); a write somebody waits for ends the wait.
** reset as for em_store_write_replayable, or NULL when fn may not run twice. */
int em_store_write_lazy(em_store *s, em_db_fn fn, void (*reset)(void), em_done_fn done, void *arg);
/* Runs fn on the thread pool with a read-only connection, then done on the loop. */
int em_store_read(em_store *s, em_db_fn fn, em_done_fn done, void *arg);
/* Reads queued from now on (em_store_read) start only once every write
** queued so far has been committed or has failed. For answers sent before
** a COMMIT (the ingest journal, docs/storage.md; an audit entry written
** after its action was answered): whoever was answered still reads what
** they caused. Loop thread. */
void em_store_fence(em_store *s);
/* fn runs on the writer thread inside every transaction, after its writes
** and before its COMMIT; a non-zero return rolls the transaction back (its
** writes fail with EM_EIO). Set once, before the writes that rely on it. */
void em_store_set_precommit(em_store *s, em_db_fn fn, void *arg);
/* Synchronous variants for the command line and start-up (no loop running;
** em_store_write_sync goes through the writer queue and waits for COMMIT). */
int em_store_write_sync(em_store *s, em_db_fn fn, void *arg);
int em_store_read_sync(em_store *s, em_db_fn fn, void *arg);

/* Copies the live database into path with SQLite's online backup API while
** writes go on. Blocking: call from a pool thread or the command line. */
int em_store_backup(em_store *s, const char *path, char *err, size_t errlen);

/* Copies every WAL frame into the database and truncates the WAL file to
** zero bytes (after an erase, so no old page image stays in it). Waits up
** to the busy timeout for the writer and readers; EM_EAGAIN when they did
** not let go. Blocking: call from a pool thread or the command line. */
int em_store_checkpoint(em_store *s, char *err, size_t errlen);

/* Figures for /metrics. */
typedef struct em_store_stats {
	uint64_t queue_depth;
	uint64_t writes;  /* committed write functions */
	uint64_t commits; /* transactions */
	uint64_t write_errors;
	uint64_t commit_us_sum; /* total time inside COMMIT batches */
	uint64_t commit_us_max;
	uint64_t commit_hist[8]; /* <=0.25,0.5,1,2,5,10,50,+Inf ms buckets, cumulative counts not applied */
} em_store_stats;
void em_store_get_stats(em_store *s, em_store_stats *out);

/* ---- Statements (inside an em_db_fn) ----------------------------------
**
** types is one letter per parameter: 'i' int64_t, 'I' int (promoted), 'd'
** double, 't' const char * (NULL binds NULL), 'b' const void *, size_t (blob),
** 'n' NULL. Statements are cached per connection by the address of the sql
** string, so pass string literals.
**
** 'n' takes no argument; a NULL 't' or 'b' pointer also binds NULL. The
** number of letters must match the placeholders. em_db_prepare returns NULL
** on error (em_db_errmsg says why); em_stmt_step(NULL) returns EM_EINVAL and
** em_stmt_done(NULL) does nothing, so callers may check once at the step.
** Errors: unique/primary-key conflicts are EM_EEXIST, other constraint
** failures EM_EINVAL, everything else EM_EIO. Statements a db function
** leaves open are reset (with a warning) when it returns.
*/
em_stmt *em_db_prepare(em_db *db, const char *sql, const char *types, ...);
/* 1 = a row is ready, 0 = done, < 0 = error. */
int em_stmt_step(em_stmt *st);
int64_t em_stmt_int(em_stmt *st, int col);
double em_stmt_double(em_stmt *st, int col);
const char *em_stmt_text(em_stmt *st, int col); /* NULL for SQL NULL; valid until next step */
const void *em_stmt_blob(em_stmt *st, int col, size_t *len);
int em_stmt_is_null(em_stmt *st, int col);
/* Resets the statement for reuse by the cache. Always call when done. */
void em_stmt_done(em_stmt *st);

/* One-shot helpers: run a statement to completion. */
int em_db_exec(em_db *db, const char *sql, const char *types, ...);
int64_t em_db_last_id(em_db *db);
int em_db_changes(em_db *db);
/* Message of the last error on this connection (for logs). */
const char *em_db_errmsg(em_db *db);

#endif
