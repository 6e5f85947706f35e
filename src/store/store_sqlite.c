/*
** The SQLite backend of the store (see store.h for the contract).
**
** Threads and connections:
**   - one writer thread owns the only write connection. em_store_write()
**     appends to a bounded FIFO; the writer takes a batch (group commit), runs
**     BEGIN IMMEDIATE, each write inside its own SAVEPOINT, COMMIT, and only
**     then hands the results back: done callbacks go to the loop in one
**     em_loop_post() per batch (FIFO, so in queue order), synchronous waiters
**     are woken through a condition variable.
**   - a fixed pool of read-only connections (store.readers) serves reads from
**     the libuv thread pool (em_store_read) or the calling thread
**     (em_store_read_sync). WAL mode lets them read while the writer writes;
**     each read function runs inside one read transaction, so it sees one
**     consistent snapshot.
**
** Every em_db carries a cache of prepared statements keyed by the address of
** the SQL text (modules pass string literals), bounded by EM__STMT_CACHE_MAX.
**
** Locking: s->mu guards the write queue, the closing flag, the statistics
** and the synchronous waiters; s->pool_mu guards the reader pool. Neither is
** held while SQL runs.
*/
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/freelist.h"
#include "core/log.h"
#include "net/embedded.h"
#include "net/loop.h"
#include "store/store_int.h"

#define STORE_MAGIC 0x454d5354u /* "EMST" */
#define DB_FILE "emma.db"
#define BUSY_TIMEOUT_MS 5000 /* other processes (emma migrate, sqlite3 CLI) may hold a lock briefly */
#define BACKUP_STEP_PAGES 256
#define BACKUP_BUSY_MAX 1000 /* consecutive BUSY steps (5 ms apart) before a backup gives up */
#define STMT_BUCKETS 128
#define MAX_MIGRATION_VERSION 999999
#define WRITER_CACHE_KIB 65536		 /* see open_writer */
#define STMTJRNL_SPILL_BYTES (120 << 10) /* see sqlite_setup */
#define READER_CACHE_KIB 32768		 /* see em_store_open */
#define LAZY_MS 2			 /* see writer_take */
#define EM__STR2(x) #x
#define EM__STR(x) EM__STR2(x)

/* Control statements. They go through the statement cache like any other SQL,
** so they are prepared once per connection; the cache key is their address. */
static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT em_write";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO em_write";
static const char SQL_RELEASE[] = "RELEASE em_write";

struct em_stmt {
	sqlite3_stmt *st;
	em_db *db;
	const char *key;      /* address of the caller's SQL; NULL for a one-off statement */
	char *text;	      /* copy of the SQL, to notice a reused buffer at the same address */
	em_stmt *hnext;	      /* chain in db->buckets */
	em_stmt *prev, *next; /* db->open list while handed out */
	int busy;	      /* handed out by em_db_prepare and not yet done */
};

struct em_db {
	sqlite3 *h;
	em_stmt *buckets[STMT_BUCKETS];
	int ncached;
	em_stmt *open;	  /* statements handed out and not yet em_stmt_done() */
	int last_err;	  /* EM_E* of the last failure */
	char errmsg[256]; /* its message, captured when it happened */
};

/* A synchronous writer waiting for its write to commit (lives on its stack). */
struct sync_wait {
	int finished;
	int status;
};

/* A queued write. Owned by the queue, then by the writer, then by the loop
** callback that delivers `done` (or freed by the writer when there is none). */
struct wreq {
	em_db_fn fn;
	em_done_fn done;
	void (*reset)(void); /* non-NULL: replayable (em_store_write_replayable) */
	void *arg;
	int status;
	int lazy;     /* nobody waits for it (em_store_write_lazy) */
	uint64_t seq; /* queue order, from 1 (see em_store_fence) */
	struct sync_wait *sync;
	struct wreq *next;
};

/* Writes come and go at the rate of beacons: each thread keeps freed ones
** for its next (core/freelist.h). */
static __thread em_freelist wreq_pool = EM_FREELIST_INIT(struct wreq, next);

static struct wreq *wreq_new(void)
{
	struct wreq *r = em_freelist_pop(&wreq_pool);
	if (!r)
		return em_calloc(1, sizeof *r);
	memset(r, 0, sizeof *r);
	return r;
}

static void wreq_free(struct wreq *r)
{
	if (!em_freelist_push(&wreq_pool, r))
		em_free(r);
}

/* A queued read; owned by the request until its done callback ran. */
struct rreq {
	em_store *s; /* used only on the pool thread, never after the read ended */
	em_db_fn fn;
	em_done_fn done;
	void *arg;
	int status;
	uint64_t after; /* wait until the writes up to this one are done (em_store_fence) */
};

struct em_store {
	uint32_t magic;
	char path[600];
	int batch_ms, batch_max, queue_max;
	int schema_version;

	em_db *wdb; /* owned by the writer thread while it runs */
	pthread_t writer;
	int writer_started;

	/* Checkpoints run on their own thread and connection, so the writer
	** never waits for the fsyncs of folding the WAL into the database. */
	em_db *cdb;
	pthread_t ckpt;
	int ckpt_started, ckpt_stop, ckpt_frames;
	int ckpt_mark;		/* log frames when the checkpointer was last woken (writer thread) */
	atomic_int ckpt_busy;	/* a checkpoint runs: no need to wake the thread */
	atomic_int ckpt_copied; /* log frames the last checkpoint had copied */
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cv;

	pthread_mutex_t mu;
	pthread_cond_t wcond; /* writer waits here for work (CLOCK_MONOTONIC) */
	pthread_cond_t scond; /* synchronous writers wait here for COMMIT */
	struct wreq *qhead, *qtail;
	int qlen;
	int last_batch;	    /* writes in the last group committed */
	int eager;	    /* queued writes that are not lazy */
	int lingering;	    /* the writer waits for company of lazy writes */
	uint64_t wseq;	    /* writes queued so far */
	uint64_t wseq_done; /* every write up to this one has been committed or failed */
	int fence_waiters;  /* reads waiting on dcond for wseq_done */
	pthread_cond_t dcond;
	_Atomic uint64_t read_after; /* reads queued now wait for this write (em_store_fence) */
	em_db_fn precommit;	     /* runs in every transaction before its COMMIT */
	void *precommit_arg;
	int closing;
	int sync_waiters;
	em_store_stats stats;

	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;	 /* a reader connection was returned */
	pthread_cond_t drain_cv; /* the last pending read ended during close */
	em_db **readers;	 /* all read connections */
	em_db **idle;		 /* stack of idle ones */
	int nreaders, nidle;
	int reads_pending; /* accepted reads whose SQL part has not finished */
	int reads_closed;
};

/* Tests may replace the embedded migrations (store_int.h). */
static const struct em_embedded *migration_override;

void em__store_set_migrations(const struct em_embedded *table)
{
	migration_override = table;
}

/* ---- Errors ----------------------------------------------------------- */

/* SQLite result code (extended codes are enabled) to Emma's vocabulary. */
static int map_rc(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_ROWID: return EM_EEXIST;
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return EM_EINVAL;
	return EM_EIO;
}

static int db_seterr(em_db *db, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int db_seterr(em_db *db, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
	va_end(ap);
	db->last_err = code;
	return code;
}

/* Captures SQLite's message now: a later ROLLBACK would overwrite it. */
static int db_sqlerr(em_db *db, int rc)
{
	return db_seterr(db, map_rc(rc), "%s", sqlite3_errmsg(db->h));
}

static void quote_sql(const char *sql, char *out, unsigned outlen)
{
	em_log_quote(sql, out, outlen);
}

/* ---- Connections ------------------------------------------------------ */

/* Process-wide SQLite settings, before its first use. Memory statistics
** off: with them on every SQLite allocation takes a global mutex, which
** the writer and the readers would contend on; Emma never reads them. */
static const char *vfs_name;

static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* The savepoint each write runs in keeps the original of every page
	** it changes in a sub-journal. Past 64 KiB (SQLite's default) that
	** journal moves to a temporary file for the rest of the transaction,
	** and every further page costs two write calls: a group commit of
	** beacons then spent more time there than in the writes themselves.
	** Up to 120 KiB per write stay in memory. Not more: SQLite moves the
	** journal out in one write of that size, and its unix VFS cannot write
	** 128 KiB or more in one call (it reports a full disk). */
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMTJRNL_SPILL_BYTES);
	/* Spares the writer a walk over its whole page cache at most COMMITs
	** (pcache.c). Should it fail, SQLite's cache serves alone. */
	int rc = em__pcache_install();
	if (rc != SQLITE_OK)
		em_warn("store: page cache layer not installed", "rc=%d", rc);
	/* Calls sqlite3_initialize: after every sqlite3_config. */
	vfs_name = em__walbuf_vfs();
}

static int db_open(em_db **out, const char *path, int readonly, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	int flags =
		SQLITE_OPEN_NOMUTEX; /* one thread at a time per connection; handed over under our locks */
	flags |= readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	sqlite3 *h = NULL;
	int rc = sqlite3_open_v2(path, &h, flags, vfs_name);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		sqlite3_close(h);
		return EM_EIO;
	}
	sqlite3_extended_result_codes(h, 1);
	sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
	if (em__fts_register(h) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot register the search tokenizer", path);
		sqlite3_close(h);
		return EM_EIO;
	}
	em_db *db = em_calloc(1, sizeof *db);
	db->h = h;
	*out = db;
	return 0;
}

static void stmt_free(em_stmt *e)
{
	sqlite3_finalize(e->st);
	em_free(e->text);
	em_free(e);
}

static void open_unlink(em_db *db, em_stmt *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		db->open = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

/* Resets statements a db function left open. A statement left mid-step keeps
** a read snapshot alive (blocking checkpoints) and would make ROLLBACK TO
** fail, so the store cleans up after a careless caller and says so. */
static void db_reset_open(em_db *db)
{
	while (db->open) {
		em_stmt *e = db->open;
		char q[200];
		quote_sql(e->text ? e->text : sqlite3_sql(e->st), q, sizeof q);
		em_warn("store: statement not finished with em_stmt_done", "sql=%s", q);
		em_stmt_done(e);
	}
}

static void db_close(em_db *db)
{
	if (!db)
		return;
	db_reset_open(db);
	for (int b = 0; b < STMT_BUCKETS; b++) {
		em_stmt *e = db->buckets[b];
		while (e) {
			em_stmt *next = e->hnext;
			stmt_free(e);
			e = next;
		}
	}
	int rc = sqlite3_close(db->h);
	if (rc != SQLITE_OK)
		em_error("store: closing a connection failed", "rc=%d", rc);
	em_free(db);
}

/* ---- Statements ------------------------------------------------------- */

static unsigned stmt_hash(const char *sql)
{
	uintptr_t k = (uintptr_t)sql;
	k ^= k >> 7;
	k ^= k >> 15;
	return (unsigned)(k % STMT_BUCKETS);
}

/* Compiles exactly one statement: trailing text other than blanks and ';'
** would be silently ignored by SQLite, which hides mistakes. */
static int stmt_compile(em_db *db, const char *sql, unsigned flags, sqlite3_stmt **out)
{
	const char *tail = NULL;
	*out = NULL;
	int rc = sqlite3_prepare_v3(db->h, sql, -1, flags, out, &tail);
	if (rc != SQLITE_OK)
		return db_sqlerr(db, rc);
	if (!*out)
		return db_seterr(db, EM_EINVAL, "empty SQL statement");
	while (tail && (isspace((unsigned char)*tail) || *tail == ';'))
		tail++;
	if (tail && *tail) {
		sqlite3_finalize(*out);
		*out = NULL;
		return db_seterr(db, EM_EINVAL, "more than one SQL statement (at \"%.40s\")", tail);
	}
	return 0;
}

/* Finds or creates the statement for sql. A statement already handed out
** (the same SQL used while iterating itself) or a full cache gives a one-off
** statement instead, which em_stmt_done() finalizes. */
static em_stmt *stmt_get(em_db *db, const char *sql)
{
	unsigned b = stmt_hash(sql);
	em_stmt *e;
	sqlite3_stmt *st;
	for (e = db->buckets[b]; e; e = e->hnext)
		if (e->key == sql)
			break;
	if (e && !e->busy) {
		/* Same address, other text: the caller passed a reused buffer
		** rather than a literal. Stay correct and re-prepare. */
		if (strcmp(e->text, sql) != 0) {
			if (stmt_compile(db, sql, SQLITE_PREPARE_PERSISTENT, &st))
				return NULL;
			sqlite3_finalize(e->st);
			em_free(e->text);
			e->st = st;
			e->text = em_strdup(sql);
		}
		return e;
	}
	if (!e && db->ncached < EM__STMT_CACHE_MAX) {
		if (stmt_compile(db, sql, SQLITE_PREPARE_PERSISTENT, &st))
			return NULL;
		e = em_calloc(1, sizeof *e);
		e->st = st;
		e->db = db;
		e->key = sql;
		e->text = em_strdup(sql);
		e->hnext = db->buckets[b];
		db->buckets[b] = e;
		db->ncached++;
		return e;
	}
	if (stmt_compile(db, sql, 0, &st))
		return NULL;
	e = em_calloc(1, sizeof *e);
	e->st = st;
	e->db = db;
	return e;
}

/* Binds the parameters. Text and blobs are copied (SQLITE_TRANSIENT): the
** caller may free its strings before stepping. em_db_exec passes copy = 0:
** it steps and resets the statement before it returns, while the caller's
** strings are still alive, so SQLite may use them in place. */
static int stmt_bind(em_stmt *e, const char *types, va_list ap, int copy)
{
	sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
	em_db *db = e->db;
	int n = types ? (int)strlen(types) : 0;
	int want = sqlite3_bind_parameter_count(e->st);
	if (n != want)
		return db_seterr(db, EM_EINVAL, "%d parameter types given for %d placeholders", n, want);
	for (int i = 0; i < n; i++) {
		int rc, idx = i + 1;
		switch (types[i]) {
		case 'i': rc = sqlite3_bind_int64(e->st, idx, (sqlite3_int64)va_arg(ap, int64_t)); break;
		case 'I': rc = sqlite3_bind_int(e->st, idx, va_arg(ap, int)); break;
		case 'd': rc = sqlite3_bind_double(e->st, idx, va_arg(ap, double)); break;
		case 't': {
			const char *t = va_arg(ap, const char *);
			rc = t ? sqlite3_bind_text(e->st, idx, t, -1, how) : sqlite3_bind_null(e->st, idx);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);
			rc = p ? sqlite3_bind_blob64(e->st, idx, p, (sqlite3_uint64)len, how)
			       : sqlite3_bind_null(e->st, idx);
			break;
		}
		case 'n': rc = sqlite3_bind_null(e->st, idx); break;
		default:
			return db_seterr(db, EM_EINVAL, "unknown parameter type '%c' at position %d",
					 types[i], idx);
		}
		if (rc != SQLITE_OK)
			return db_sqlerr(db, rc);
	}
	return 0;
}

static em_stmt *db_vprepare(em_db *db, const char *sql, const char *types, va_list ap, int copy)
{
	db->errmsg[0] = '\0';
	db->last_err = 0;
	if (!sql) {
		db_seterr(db, EM_EINVAL, "NULL SQL");
		return NULL;
	}
	em_stmt *e = stmt_get(db, sql);
	if (!e)
		return NULL;
	e->busy = 1;
	e->prev = NULL;
	e->next = db->open;
	if (db->open)
		db->open->prev = e;
	db->open = e;
	if (stmt_bind(e, types, ap, copy)) {
		int code = db->last_err;
		em_stmt_done(e);
		db->last_err = code;
		return NULL;
	}
	return e;
}

em_stmt *em_db_prepare(em_db *db, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	em_stmt *e = db_vprepare(db, sql, types, ap, 1);
	va_end(ap);
	return e;
}

int em_stmt_step(em_stmt *st)
{
	if (!st)
		return EM_EINVAL;
	int rc = sqlite3_step(st->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_sqlerr(st->db, rc);
}

int64_t em_stmt_int(em_stmt *st, int col)
{
	return (int64_t)sqlite3_column_int64(st->st, col);
}

double em_stmt_double(em_stmt *st, int col)
{
	return sqlite3_column_double(st->st, col);
}

const char *em_stmt_text(em_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->st, col);
}

const void *em_stmt_blob(em_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st->st, col);
	/* sqlite3_column_bytes must follow column_blob (type conversions). */
	if (len)
		*len = (size_t)sqlite3_column_bytes(st->st, col);
	return p;
}

int em_stmt_is_null(em_stmt *st, int col)
{
	return sqlite3_column_type(st->st, col) == SQLITE_NULL;
}

void em_stmt_done(em_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st->st);
	sqlite3_clear_bindings(st->st);
	if (!st->busy)
		return; /* a second done on a cached statement: harmless */
	open_unlink(st->db, st);
	st->busy = 0;
	if (!st->key)
		stmt_free(st);
}

int em_db_exec(em_db *db, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	em_stmt *st = db_vprepare(db, sql, types, ap, 0);
	va_end(ap);
	if (!st)
		return db->last_err;
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		;
	em_stmt_done(st);
	return rc;
}

int64_t em_db_last_id(em_db *db)
{
	return (int64_t)sqlite3_last_insert_rowid(db->h);
}

int em_db_changes(em_db *db)
{
	return sqlite3_changes(db->h);
}

const char *em_db_errmsg(em_db *db)
{
	return db->errmsg[0] ? db->errmsg : sqlite3_errmsg(db->h);
}

/* Runs a statement that returns one text value (PRAGMA journal_mode). */
static int db_query_text(em_db *db, const char *sql, char *out, size_t outlen)
{
	em_stmt *st = em_db_prepare(db, sql, NULL);
	if (!st)
		return db->last_err;
	int rc = em_stmt_step(st);
	if (rc == 1) {
		const char *t = em_stmt_text(st, 0);
		snprintf(out, outlen, "%s", t ? t : "");
		rc = 0;
	} else if (rc == 0) {
		out[0] = '\0';
	}
	em_stmt_done(st);
	return rc;
}

static int db_query_int(em_db *db, const char *sql, int64_t *out)
{
	em_stmt *st = em_db_prepare(db, sql, NULL);
	if (!st)
		return db->last_err;
	int rc = em_stmt_step(st);
	*out = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	return rc < 0 ? rc : 0;
}

/* ---- Opening and migrations ------------------------------------------- */

/* mkdir -p with 0700 for what it creates: the database holds password
** hashes and personal data. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char tmp[600];
	struct stat sb;
	if (!dir || !*dir) {
		snprintf(err, errlen, "store.data_dir is empty");
		return EM_EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s", dir) >= sizeof tmp) {
		snprintf(err, errlen, "store.data_dir is too long");
		return EM_EINVAL;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", tmp, strerror(errno));
			return EM_EIO;
		}
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", tmp, strerror(errno));
		return EM_EIO;
	}
	if (stat(tmp, &sb) || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", tmp);
		return EM_EIO;
	}
	return 0;
}

static int db_path(const em_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
	int rc = make_dirs(cfg->data_dir, err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(out, outlen, "%s/%s", cfg->data_dir, DB_FILE) >= outlen) {
		snprintf(err, errlen, "store.data_dir is too long");
		return EM_EINVAL;
	}
	return 0;
}

/* Opens the write connection: WAL, the configured durability, foreign keys. */
static int open_writer(const char *path, const em_config *cfg, em_db **out, char *err, size_t errlen)
{
	static const char sql_wal[] = "PRAGMA journal_mode=WAL";
	static const char sql_sync_normal[] = "PRAGMA synchronous=NORMAL";
	static const char sql_sync_full[] = "PRAGMA synchronous=FULL";
	static const char sql_fk[] = "PRAGMA foreign_keys=ON";
	/* The writer's page cache, in KiB (negative = KiB in SQLite). The
	** default 2 MiB makes every import or busy minute re-read index pages
	** from the OS; pages are only allocated when used. */
	static const char sql_cache[] = "PRAGMA cache_size=-" EM__STR(WRITER_CACHE_KIB);
	/* Deleted and overwritten content is zeroed in the file, freed pages
	** too, so an erased person's data does not linger in free space
	** (docs/privacy.md). Costs a little CPU on updates and one write per
	** freed page; em_store_checkpoint() then clears the old page images
	** from the WAL. */
	static const char sql_secure[] = "PRAGMA secure_delete=ON";
	/* Sub-journals (the page originals a savepoint keeps) stay in memory
	** however large: past the spill size above they would otherwise move
	** to a temporary file, created and removed again in every group
	** commit of a few dozen beacons (eight system calls, tens of
	** microseconds each here). Sorts and temporary tables of the writer's
	** statements stay in memory too; they are small. */
	static const char sql_temp[] = "PRAGMA temp_store=MEMORY";
	em_db *db;
	char mode[16];
	if (!sqlite3_threadsafe()) {
		snprintf(err, errlen, "SQLite was built without thread support");
		return EM_EIO;
	}
	int rc = db_open(&db, path, 0, err, errlen);
	if (rc)
		return rc;
	rc = db_query_text(db, sql_wal, mode, sizeof mode);
	if (!rc && strcmp(mode, "wal") != 0)
		rc = db_seterr(db, EM_EIO, "journal_mode is %s, WAL could not be enabled", mode);
	if (!rc)
		rc = em_db_exec(db, cfg->synchronous_full ? sql_sync_full : sql_sync_normal, NULL);
	if (!rc)
		rc = em_db_exec(db, sql_fk, NULL);
	if (!rc)
		rc = em_db_exec(db, sql_cache, NULL);
	if (!rc)
		rc = em_db_exec(db, sql_secure, NULL);
	if (!rc)
		rc = em_db_exec(db, sql_temp, NULL);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, em_db_errmsg(db));
		db_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

struct migration {
	int version;
	const struct em_embedded *file;
};

/* "012_contacts.sql" -> 12; -1 when the name does not start with a number. */
static int migration_version(const char *name)
{
	int v = 0;
	const char *p = name;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > MAX_MIGRATION_VERSION)
			return -1;
	}
	if (*p != '_' && *p != '.')
		return -1;
	return v > 0 ? v : -1;
}

static int migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* Runs one migration in its own transaction and records it. Returns 1 when
** it turned out to be applied already. The check sits inside the write
** transaction so that two processes migrating at once (emma migrate next to
** a starting server) cannot both run the same script. */
static int migration_apply(em_db *db, const struct migration *m, char *err, size_t errlen)
{
	static const char sql_has[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
	static const char sql_fk_check[] = "PRAGMA foreign_key_check";
	static const char sql_record[] =
		"INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)";
	const char *name = m->file->path;
	char *msg = NULL;
	em_stmt *st;
	int rc = em_db_exec(db, SQL_BEGIN_IMMEDIATE, NULL);
	if (rc) {
		snprintf(err, errlen, "migration %s: %s", name, em_db_errmsg(db));
		return rc;
	}
	st = em_db_prepare(db, sql_has, "I", m->version);
	rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc < 0) {
		snprintf(err, errlen, "schema_migrations: %s", em_db_errmsg(db));
		goto fail;
	}
	if (rc == 1) {
		em_db_exec(db, SQL_ROLLBACK, NULL);
		return 1;
	}
	/* The script is NUL-terminated by tools/embed.c; a copy keeps this
	** independent of that detail (and of test tables). */
	char *script = em_strndup((const char *)m->file->data, m->file->len);
	int src = sqlite3_exec(db->h, script, NULL, NULL, &msg);
	em_free(script);
	if (src != SQLITE_OK) {
		snprintf(err, errlen, "migration %s: %s", name, msg ? msg : sqlite3_errstr(src));
		sqlite3_free(msg);
		rc = map_rc(src);
		goto fail;
	}
	/* Foreign keys are off while migrating (so a table rebuild does not
	** cascade); check that the migration left none dangling. */
	st = em_db_prepare(db, sql_fk_check, NULL);
	if (!st) {
		rc = db->last_err;
		snprintf(err, errlen, "migration %s: %s", name, em_db_errmsg(db));
		goto fail;
	}
	rc = em_stmt_step(st);
	if (rc == 1) {
		const char *t = em_stmt_text(st, 0);
		snprintf(err, errlen, "migration %s: leaves foreign key violations in table %s", name,
			 t ? t : "?");
		rc = EM_ECORRUPT;
	} else if (rc < 0) {
		snprintf(err, errlen, "migration %s: %s", name, em_db_errmsg(db));
	}
	em_stmt_done(st);
	if (rc)
		goto fail;
	rc = em_db_exec(db, sql_record, "iti", (int64_t)m->version, name, (int64_t)em_now_ms());
	if (!rc)
		rc = em_db_exec(db, SQL_COMMIT, NULL);
	if (rc) {
		snprintf(err, errlen, "migration %s: %s", name, em_db_errmsg(db));
		goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(db->h))
		em_db_exec(db, SQL_ROLLBACK, NULL);
	return rc;
}

/* Applies every migration of the table not yet in schema_migrations, in
** version order. *applied counts them; *version gets the schema version. */
static int migrate(em_db *db, int *applied, int *version, char *err, size_t errlen)
{
	static const char sql_create[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
					 "version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)";
	static const char sql_max[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
	static const char sql_fk_off[] = "PRAGMA foreign_keys=OFF";
	static const char sql_fk_on[] = "PRAGMA foreign_keys=ON";
	const struct em_embedded *table = migration_override ? migration_override : migrations;
	int n = 0, rc = 0;
	int64_t dbmax = 0;
	*applied = 0;
	while (table[n].path)
		n++;
	struct migration *list = em_calloc((size_t)n + 1, sizeof *list);
	for (int i = 0; i < n; i++) {
		list[i].file = &table[i];
		list[i].version = migration_version(table[i].path);
		if (list[i].version < 0) {
			snprintf(err, errlen, "migration %s: name must start with its number (NNN_name.sql)",
				 table[i].path);
			rc = EM_EINVAL;
			goto out;
		}
	}
	qsort(list, (size_t)n, sizeof *list, migration_cmp);
	for (int i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			snprintf(err, errlen, "migrations %s and %s share version %d", list[i - 1].file->path,
				 list[i].file->path, list[i].version);
			rc = EM_EINVAL;
			goto out;
		}
	}
	if ((rc = em_db_exec(db, sql_create, NULL)) || (rc = db_query_int(db, sql_max, &dbmax))) {
		snprintf(err, errlen, "schema_migrations: %s", em_db_errmsg(db));
		goto out;
	}
	/* An older emma on a newer database could corrupt what it does not know. */
	if (dbmax > (n ? list[n - 1].version : 0)) {
		snprintf(err, errlen, "database schema version %lld is newer than this emma knows (%d)",
			 (long long)dbmax, n ? list[n - 1].version : 0);
		rc = EM_EINVAL;
		goto out;
	}
	/* Must be outside a transaction to take effect. */
	if ((rc = em_db_exec(db, sql_fk_off, NULL))) {
		snprintf(err, errlen, "%s", em_db_errmsg(db));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		rc = migration_apply(db, &list[i], err, errlen);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		(*applied)++;
		em_info("store: migration applied", "name=%s version=%d", list[i].file->path,
			list[i].version);
	}
	em_db_exec(db, sql_fk_on, NULL);
	if (!rc && (rc = db_query_int(db, sql_max, &dbmax)))
		snprintf(err, errlen, "schema_migrations: %s", em_db_errmsg(db));
	*version = (int)dbmax;
out:
	em_free(list);
	return rc;
}

int em_store_migrate(const em_config *cfg, int *applied, char *err, size_t errlen)
{
	char path[600];
	em_db *db;
	int version, n = 0;
	int rc = db_path(cfg, path, sizeof path, err, errlen);
	if (!rc)
		rc = open_writer(path, cfg, &db, err, errlen);
	if (rc)
		return rc;
	rc = migrate(db, &n, &version, err, errlen);
	db_close(db);
	if (applied)
		*applied = n;
	return rc;
}

/* ---- Writer thread ---------------------------------------------------- */

static void deadline_after_ms(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Blocks until there is work and returns a batch of up to batch_max writes,
** or NULL when the store is closing and the queue is empty. Once one write
** is waiting, what queued meanwhile goes with it (the group commit); with
** batch_ms set it lingers up to that long for more. */
static struct wreq *writer_take(em_store *s)
{
	pthread_mutex_lock(&s->mu);
	while (!s->qhead && !s->closing)
		pthread_cond_wait(&s->wcond, &s->mu);
	if (!s->qhead) {
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	/* Under load (the last group had company) wait up to batch_ms for more
	** writes to share the COMMIT; a lone write at low load goes at once. */
	if (s->batch_ms > 0 && s->last_batch > 1 && s->qlen < s->batch_max && !s->closing) {
		struct timespec dl;
		deadline_after_ms(&dl, s->batch_ms);
		while (s->qlen < s->batch_max && !s->closing)
			if (pthread_cond_timedwait(&s->wcond, &s->mu, &dl) == ETIMEDOUT)
				break;
	}
	/* Writes nobody waits for (em_store_write_lazy) wait up to LAZY_MS
	** for company under load, so that a COMMIT carries hundreds of them;
	** a write somebody waits for ends the wait (enqueue wakes us). */
	if (!s->eager && s->last_batch > 1 && s->qlen < s->batch_max && !s->closing) {
		struct timespec dl;
		deadline_after_ms(&dl, LAZY_MS);
		s->lingering = 1;
		while (!s->eager && s->qlen < s->batch_max && !s->closing)
			if (pthread_cond_timedwait(&s->wcond, &s->mu, &dl) == ETIMEDOUT)
				break;
		s->lingering = 0;
	}
	struct wreq *head = s->qhead, *last = head;
	int n = 1, eager = !head->lazy;
	while (n < s->batch_max && last->next) {
		last = last->next;
		n++;
		eager += !last->lazy;
	}
	s->eager -= eager;
	s->qhead = last->next;
	if (!s->qhead)
		s->qtail = NULL;
	last->next = NULL;
	s->qlen -= n;
	s->last_batch = n;
	pthread_mutex_unlock(&s->mu);
	return head;
}

/* Rolls back the whole transaction after a savepoint statement failed; the
** batch loop notices by autocommit being on and fails the segment. */
static void writer_abort_tx(em_db *db)
{
	char q[300];
	em_error("store: savepoint failed, rolling back the batch", "reason=%s",
		 em_log_quote(em_db_errmsg(db), q, sizeof q));
	if (!sqlite3_get_autocommit(db->h))
		em_db_exec(db, SQL_ROLLBACK, NULL);
}

/* Runs one write inside its own savepoint. A failing write (non-zero
** return) is rolled back to its savepoint alone; the others still commit. */
/* Calls a write function inside the open transaction; sets r->status to
** what it returned. Returns 1 when the transaction is gone: SQLite rolled
** it back itself (disk full, I/O error) or the function ended it, so that
** nothing of this batch segment holds (the status is then never 0). */
static int call_write(em_db *db, struct wreq *r)
{
	db->errmsg[0] = '\0';
	int st = r->fn(db, r->arg);
	db_reset_open(db);
	r->status = st;
	if (!sqlite3_get_autocommit(db->h))
		return 0;
	em_error("store: write function left the transaction", "status=%d", st);
	r->status = st ? st : EM_EIO;
	return 1;
}

static void writer_run_one(em_db *db, struct wreq *r)
{
	if (em_db_exec(db, SQL_SAVEPOINT, NULL)) {
		r->status = EM_EIO;
		writer_abort_tx(db);
		return;
	}
	if (call_write(db, r))
		return;
	int st = r->status;
	if (st) {
		if (em_db_exec(db, SQL_ROLLBACK_TO, NULL) || em_db_exec(db, SQL_RELEASE, NULL))
			writer_abort_tx(db);
	} else if (em_db_exec(db, SQL_RELEASE, NULL)) {
		r->status = EM_EIO;
		writer_abort_tx(db);
	}
}

/* Runs a run of consecutive replayable writes, from first, inside one
** savepoint; returns the write after the run. If one fails, the run is
** rolled back, the writes' reset functions run, and each write of the run up
** to the failing one runs again inside its own savepoint (writer_run_one),
** so the outcome per write is what it would have been without sharing. */
static struct wreq *writer_run_shared(em_db *db, struct wreq *first)
{
	if (em_db_exec(db, SQL_SAVEPOINT, NULL)) {
		writer_abort_tx(db);
		return first->next; /* the caller sees the transaction gone */
	}
	struct wreq *r = first, *failed = NULL;
	for (; r && r->reset; r = r->next) {
		if (call_write(db, r))
			return r->next; /* the caller fails the whole segment */
		if (r->status) {
			failed = r;
			break;
		}
	}
	if (!failed) {
		if (em_db_exec(db, SQL_RELEASE, NULL))
			writer_abort_tx(db);
		return r;
	}
	if (em_db_exec(db, SQL_ROLLBACK_TO, NULL) || em_db_exec(db, SQL_RELEASE, NULL)) {
		writer_abort_tx(db);
		return failed->next;
	}
	for (r = first; r != failed->next; r = r->next)
		r->reset();
	for (r = first; r != failed->next && !sqlite3_get_autocommit(db->h); r = r->next)
		writer_run_one(db, r);
	return failed->next;
}

static void record_batch_time(em_store_stats *st, uint64_t us)
{
	static const uint64_t bounds[7] = {250, 500, 1000, 2000, 5000, 10000, 50000};
	int b = 0;
	while (b < 7 && us > bounds[b])
		b++;
	st->commit_hist[b]++;
	st->commit_us_sum += us;
	if (us > st->commit_us_max)
		st->commit_us_max = us;
}

/* Runs on the loop thread: delivers a batch's done callbacks in order. */
static void deliver_done(void *arg)
{
	struct wreq *r = arg;
	while (r) {
		struct wreq *next = r->next;
		r->done(r->status, r->arg);
		wreq_free(r);
		r = next;
	}
}

static void writer_run_batch(em_store *s, struct wreq *batch)
{
	em_db *db = s->wdb;
	uint64_t times[64];
	int ntimes = 0, commits = 0;
	struct wreq *seg = batch;

	/* Normally one segment = the whole batch. If SQLite drops the
	** transaction midway, the writes so far fail with EM_EIO and the rest
	** start a fresh transaction, so one bad moment does not fail them too. */
	while (seg) {
		uint64_t t0 = em_mono_us();
		struct wreq *end = seg;
		int lost = 0;
		char q[300];
		if (em_db_exec(db, SQL_BEGIN_IMMEDIATE, NULL)) {
			em_error("store: BEGIN failed", "reason=%s",
				 em_log_quote(em_db_errmsg(db), q, sizeof q));
			for (struct wreq *r = seg; r; r = r->next)
				r->status = EM_EIO;
			break;
		}
		int undone = 0;
		if (!seg->next) {
			/* A write alone in its transaction needs no savepoint: should it
			** fail, the transaction is rolled back instead, with the same
			** outcome. Its pages then need no copy in the savepoint
			** journal (a bulk write, such as a CSV import's, touches
			** thousands). */
			end = NULL;
			lost = call_write(db, seg);
			undone = seg->status != 0;
			if (!lost && undone && em_db_exec(db, SQL_ROLLBACK, NULL))
				lost = 1;
		}
		while (end && !lost) {
			if (end->reset && end->next && end->next->reset) {
				end = writer_run_shared(db, end);
			} else {
				writer_run_one(db, end);
				end = end->next;
			}
			lost = sqlite3_get_autocommit(db->h);
		}
		int pc = 0;
		if (!lost && !undone && s->precommit && (pc = s->precommit(db, s->precommit_arg))) {
			em_error("store: the pre-commit step failed", "status=%s reason=%s", em_strerror(pc),
				 em_log_quote(em_db_errmsg(db), q, sizeof q));
			if (!sqlite3_get_autocommit(db->h))
				em_db_exec(db, SQL_ROLLBACK, NULL);
			lost = 1;
		} else if (!lost && !undone && em_db_exec(db, SQL_COMMIT, NULL)) {
			em_error("store: COMMIT failed", "reason=%s",
				 em_log_quote(em_db_errmsg(db), q, sizeof q));
			if (!sqlite3_get_autocommit(db->h))
				em_db_exec(db, SQL_ROLLBACK, NULL);
			lost = 1;
		}
		if (lost) {
			for (struct wreq *r = seg; r != end; r = r->next)
				r->status = r->status ? r->status : EM_EIO;
		} else if (!undone) {
			commits++;
		}
		if (ntimes < (int)(sizeof times / sizeof times[0]))
			times[ntimes++] = em_mono_us() - t0;
		seg = end;
	}

	/* Hand the results back: statistics and synchronous waiters under the
	** queue lock, done callbacks in one post so they keep queue order. */
	struct wreq *post = NULL, **tail = &post;
	int wake_sync = 0;
	uint64_t last_seq = 0;
	pthread_mutex_lock(&s->mu);
	s->stats.commits += (uint64_t)commits;
	for (int i = 0; i < ntimes; i++)
		record_batch_time(&s->stats, times[i]);
	for (struct wreq *r = batch, *next; r; r = next) {
		next = r->next;
		last_seq = r->seq;
		if (r->status)
			s->stats.write_errors++;
		else
			s->stats.writes++;
		if (r->sync) {
			r->sync->status = r->status;
			r->sync->finished = 1;
			wake_sync = 1;
			em_free(r);
		} else if (r->done) {
			*tail = r;
			tail = &r->next;
		} else {
			em_free(r);
		}
	}
	*tail = NULL;
	if (wake_sync)
		pthread_cond_broadcast(&s->scond);
	s->wseq_done = last_seq;
	if (s->fence_waiters)
		pthread_cond_broadcast(&s->dcond);
	pthread_mutex_unlock(&s->mu);
	if (post)
		em_loop_post(deliver_done, post);
}

static void *writer_main(void *arg)
{
	em_store *s = arg;
	struct wreq *batch;
	while ((batch = writer_take(s)))
		writer_run_batch(s, batch);
	return NULL;
}

/* Wakes the writer for what the loop queued during its turn. */
static void wake_writer(void *arg)
{
	em_store *s = arg;
	pthread_mutex_lock(&s->mu);
	/* A writer waiting for company of lazy writes wants only an eager one
	** or a full batch (enqueue knows); waking it for more lazy ones would
	** only send it back to sleep. */
	if (s->qhead && !(s->lingering && !s->eager && s->qlen < s->batch_max))
		pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->mu);
}

static int enqueue(em_store *s, struct wreq *r)
{
	/* Writes queued by the loop thread wake the writer once, at the end of
	** the loop turn (em_loop_at_turn_end): the writer then takes all the
	** turn's writes as one group instead of waking for the first and
	** committing it nearly alone. A writer that is busy takes whatever is
	** queued when it finishes, woken or not. A synchronous write blocks its
	** caller, so it wakes the writer at once. */
	int at_turn_end = !r->sync && em_loop_is_loop_thread();
	int wake_later = 0;
	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		return EM_ECLOSED;
	}
	if (s->qlen >= s->queue_max) {
		pthread_mutex_unlock(&s->mu);
		return EM_EAGAIN;
	}
	if (s->qtail)
		s->qtail->next = r;
	else
		s->qhead = r;
	s->qtail = r;
	s->qlen++;
	r->seq = ++s->wseq;
	if (!r->lazy) {
		s->eager++;
		/* The writer may be waiting for company of lazy writes. */
		if (s->lingering && s->qlen > 1 && s->qlen < s->batch_max) {
			if (at_turn_end)
				wake_later = 1;
			else
				pthread_cond_signal(&s->wcond);
		}
	}
	/* The writer sleeps either for a first write or, inside the group
	** window, for a full batch; wake it only for those. */
	if (s->qlen >= s->batch_max || (s->qlen == 1 && !at_turn_end))
		pthread_cond_signal(&s->wcond);
	else if (s->qlen == 1)
		wake_later = 1;
	pthread_mutex_unlock(&s->mu);
	if (wake_later)
		em_loop_at_turn_end(wake_writer, s);
	return 0;
}

static int queue_write(em_store *s, em_db_fn fn, void (*reset)(void), em_done_fn done, void *arg, int lazy)
{
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	struct wreq *r = wreq_new();
	r->fn = fn;
	r->reset = reset;
	r->lazy = lazy;
	r->done = done;
	r->arg = arg;
	int rc = enqueue(s, r);
	if (rc)
		wreq_free(r);
	return rc;
}

int em_store_write(em_store *s, em_db_fn fn, em_done_fn done, void *arg)
{
	if (!s || !fn)
		return EM_EINVAL;
	return queue_write(s, fn, NULL, done, arg, 0);
}

int em_store_write_replayable(em_store *s, em_db_fn fn, void (*reset)(void), em_done_fn done, void *arg)
{
	if (!s || !fn || !reset)
		return EM_EINVAL;
	return queue_write(s, fn, reset, done, arg, 0);
}

int em_store_write_lazy(em_store *s, em_db_fn fn, void (*reset)(void), em_done_fn done, void *arg)
{
	if (!s || !fn)
		return EM_EINVAL;
	return queue_write(s, fn, reset, done, arg, 1);
}

int em_store_write_sync(em_store *s, em_db_fn fn, void *arg)
{
	if (!s || !fn)
		return EM_EINVAL;
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	/* From inside a write function this would wait for itself. */
	if (s->writer_started && pthread_equal(pthread_self(), s->writer))
		return EM_EINVAL;
	struct sync_wait w = {0, 0};
	struct wreq *r = em_calloc(1, sizeof *r);
	r->fn = fn;
	r->arg = arg;
	r->sync = &w;
	pthread_mutex_lock(&s->mu);
	s->sync_waiters++;
	pthread_mutex_unlock(&s->mu);
	int rc = enqueue(s, r);
	pthread_mutex_lock(&s->mu);
	if (rc)
		em_free(r);
	else
		while (!w.finished)
			pthread_cond_wait(&s->scond, &s->mu);
	s->sync_waiters--;
	if (s->closing && !s->sync_waiters)
		pthread_cond_broadcast(&s->scond);
	pthread_mutex_unlock(&s->mu);
	return rc ? rc : w.status;
}

/* ---- Readers ---------------------------------------------------------- */

/* Accepts a read, unless the store is closing. */
static int read_begin(em_store *s)
{
	pthread_mutex_lock(&s->pool_mu);
	int rc = s->reads_closed ? EM_ECLOSED : 0;
	if (!rc)
		s->reads_pending++;
	pthread_mutex_unlock(&s->pool_mu);
	return rc;
}

/* Ends an accepted read: returns its connection (if any). The signal is sent
** with the lock held, and nothing touches s after the unlock, so close may
** free s as soon as it sees reads_pending reach 0. */
static void read_end(em_store *s, em_db *db)
{
	pthread_mutex_lock(&s->pool_mu);
	if (db) {
		s->idle[s->nidle++] = db;
		pthread_cond_signal(&s->pool_cv);
	}
	if (--s->reads_pending == 0 && s->reads_closed)
		pthread_cond_broadcast(&s->drain_cv);
	pthread_mutex_unlock(&s->pool_mu);
}

static em_db *reader_acquire(em_store *s)
{
	pthread_mutex_lock(&s->pool_mu);
	while (!s->nidle)
		pthread_cond_wait(&s->pool_cv, &s->pool_mu);
	em_db *db = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->pool_mu);
	return db;
}

/* One read transaction around the function: one consistent snapshot. */
static int run_read(em_db *db, em_db_fn fn, void *arg)
{
	int rc = em_db_exec(db, SQL_BEGIN, NULL);
	if (rc)
		return rc;
	db->errmsg[0] = '\0';
	rc = fn(db, arg);
	db_reset_open(db);
	if (!sqlite3_get_autocommit(db->h))
		em_db_exec(db, SQL_COMMIT, NULL);
	return rc;
}

/* Waits until every write up to seq has been committed (or has failed). The
** writer always gets there: it drains its queue even while closing. */
static void wait_writes_done(em_store *s, uint64_t seq)
{
	pthread_mutex_lock(&s->mu);
	s->fence_waiters++;
	while (s->wseq_done < seq)
		pthread_cond_wait(&s->dcond, &s->mu);
	s->fence_waiters--;
	pthread_mutex_unlock(&s->mu);
}

static void read_work(void *arg)
{
	struct rreq *q = arg;
	em_store *s = q->s;
	if (q->after)
		wait_writes_done(s, q->after);
	em_db *db = reader_acquire(s);
	q->status = run_read(db, q->fn, q->arg);
	q->s = NULL;
	read_end(s, db);
}

static void read_done(void *arg)
{
	struct rreq *q = arg;
	if (q->done)
		q->done(q->status, q->arg);
	em_free(q);
}

int em_store_read(em_store *s, em_db_fn fn, em_done_fn done, void *arg)
{
	if (!s || !fn)
		return EM_EINVAL;
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	int rc = read_begin(s);
	if (rc)
		return rc;
	struct rreq *q = em_calloc(1, sizeof *q);
	q->s = s;
	q->fn = fn;
	q->done = done;
	q->arg = arg;
	q->after = atomic_load_explicit(&s->read_after, memory_order_relaxed);
	rc = em_loop_work(read_work, read_done, q);
	if (rc) {
		em_free(q);
		read_end(s, NULL);
	}
	return rc;
}

void em_store_fence(em_store *s)
{
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	pthread_mutex_lock(&s->mu);
	uint64_t seq = s->wseq, done = s->wseq_done;
	pthread_mutex_unlock(&s->mu);
	/* Reads need not wait for writes that are already done. */
	atomic_store_explicit(&s->read_after, seq > done ? seq : 0, memory_order_relaxed);
}

void em_store_set_precommit(em_store *s, em_db_fn fn, void *arg)
{
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	pthread_mutex_lock(&s->mu);
	s->precommit = fn;
	s->precommit_arg = arg;
	pthread_mutex_unlock(&s->mu);
}

int em_store_read_sync(em_store *s, em_db_fn fn, void *arg)
{
	if (!s || !fn)
		return EM_EINVAL;
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	int rc = read_begin(s);
	if (rc)
		return rc;
	em_db *db = reader_acquire(s);
	rc = run_read(db, fn, arg);
	read_end(s, db);
	return rc;
}

/* ---- Open, close, stats ----------------------------------------------- */

int em_store_schema_version(em_store *s)
{
	return s ? s->schema_version : 0;
}

static void ckpt_stop(em_store *s);

static void store_free(em_store *s)
{
	ckpt_stop(s);
	if (s->cdb)
		db_close(s->cdb);
	pthread_mutex_destroy(&s->ckpt_mu);
	pthread_cond_destroy(&s->ckpt_cv);
	for (int i = 0; i < s->nreaders; i++)
		db_close(s->readers[i]);
	em_free(s->readers);
	em_free(s->idle);
	db_close(s->wdb);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->wcond);
	pthread_cond_destroy(&s->scond);
	pthread_cond_destroy(&s->dcond);
	pthread_mutex_destroy(&s->pool_mu);
	pthread_cond_destroy(&s->pool_cv);
	pthread_cond_destroy(&s->drain_cv);
	s->magic = 0;
	em_free(s);
}

/* The checkpointer is woken each time the log has grown by this many frames
** since it was last woken (SQLite's own default interval). */
#define CKPT_FRAMES 1000
/* Past this many frames (256 MiB of 4 KiB pages) the writer finishes the job:
** that holds writes back for the syncs of a checkpoint (30-40 ms measured
** at 30k beacons/s, every 3-4 s); a quarter of it made the stops 4 times as
** frequent and the beacon p99 20-35 ms instead of 9. */
#define CKPT_RESTART_FRAMES 65536

/* After each COMMIT on the writer connection: wakes the checkpointer when
** the WAL has grown by CKPT_FRAMES since it was last woken. Replaces
** SQLite's automatic checkpoint, which would run inside the writer's COMMIT.
**
** The checkpointer's PASSIVE checkpoint copies what was committed when it
** began; under a steady stream of writes new frames arrive meanwhile, the
** log is never wholly copied, so it never starts over and would grow
** without end. Past CKPT_RESTART_FRAMES the checkpointer is woken after
** every commit it is not busy for, and once it has copied all but the last
** CKPT_FRAMES or so, the writer copies the rest itself, here, between two
** of its transactions, where nothing can be added meanwhile: its next
** transaction starts the log from the beginning. That holds writes back
** for a small copy and the two syncs of a checkpoint (above). Should the
** checkpointer fall behind, the writer does it all at four times the mark. */
static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	em_store *s = arg;
	if (frames < s->ckpt_mark) { /* the log started over */
		s->ckpt_mark = 0;
		atomic_store_explicit(&s->ckpt_copied, 0, memory_order_relaxed);
	}
	int busy = atomic_load_explicit(&s->ckpt_busy, memory_order_acquire);
	int copied = atomic_load_explicit(&s->ckpt_copied, memory_order_relaxed);
	if (frames >= CKPT_RESTART_FRAMES &&
	    ((!busy && frames - copied <= 2 * CKPT_FRAMES) || frames >= 4 * CKPT_RESTART_FRAMES)) {
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			em_warn("store: checkpoint failed", "rc=%d frames=%d", rc, log);
		return SQLITE_OK;
	}
	if (!busy && (frames >= s->ckpt_mark + CKPT_FRAMES || frames >= CKPT_RESTART_FRAMES)) {
		s->ckpt_mark = frames;
		pthread_mutex_lock(&s->ckpt_mu);
		s->ckpt_frames = frames;
		pthread_cond_signal(&s->ckpt_cv);
		pthread_mutex_unlock(&s->ckpt_mu);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	em_store *s = arg;
	pthread_mutex_lock(&s->ckpt_mu);
	for (;;) {
		while (!s->ckpt_stop && s->ckpt_frames < CKPT_FRAMES)
			pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
		if (s->ckpt_stop)
			break;
		atomic_store(&s->ckpt_busy, 1);
		pthread_mutex_unlock(&s->ckpt_mu);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(s->cdb->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if ((rc != SQLITE_OK && rc != SQLITE_BUSY) || log < 0)
			em_warn("store: checkpoint failed", "rc=%d frames=%d", rc, log);
		else
			atomic_store_explicit(&s->ckpt_copied, done, memory_order_relaxed);
		pthread_mutex_lock(&s->ckpt_mu);
		s->ckpt_frames = 0;
		/* Commits during the checkpoint did not signal: the next commit
		** past the mark does. */
		atomic_store(&s->ckpt_busy, 0);
	}
	pthread_mutex_unlock(&s->ckpt_mu);
	return NULL;
}

static void ckpt_stop(em_store *s)
{
	if (!s->ckpt_started)
		return;
	pthread_mutex_lock(&s->ckpt_mu);
	s->ckpt_stop = 1;
	pthread_cond_signal(&s->ckpt_cv);
	pthread_mutex_unlock(&s->ckpt_mu);
	pthread_join(s->ckpt, NULL);
	s->ckpt_started = 0;
}

int em_store_open(em_store **out, const em_config *cfg, char *err, size_t errlen)
{
	char path[600];
	em_db *wdb;
	int applied, version, rc;
	*out = NULL;
	if ((rc = db_path(cfg, path, sizeof path, err, errlen)))
		return rc;
	if ((rc = open_writer(path, cfg, &wdb, err, errlen)))
		return rc;
	if ((rc = migrate(wdb, &applied, &version, err, errlen))) {
		db_close(wdb);
		return rc;
	}

	em_store *s = em_calloc(1, sizeof *s);
	s->magic = STORE_MAGIC;
	snprintf(s->path, sizeof s->path, "%s", path);
	s->batch_ms = cfg->batch_ms > 0 ? cfg->batch_ms : 0;
	s->batch_max = cfg->batch_max > 0 ? cfg->batch_max : 1;
	s->queue_max = cfg->queue_max > 0 ? cfg->queue_max : 1;
	s->schema_version = version;
	s->wdb = wdb;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->scond, NULL);
	pthread_cond_init(&s->dcond, NULL);
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_cond_init(&s->pool_cv, NULL);
	pthread_cond_init(&s->drain_cv, NULL);
	pthread_mutex_init(&s->ckpt_mu, NULL);
	pthread_cond_init(&s->ckpt_cv, NULL);

	int nreaders = cfg->readers > 0 ? cfg->readers : 1;
	s->readers = em_calloc((size_t)nreaders, sizeof *s->readers);
	s->idle = em_calloc((size_t)nreaders, sizeof *s->idle);
	for (int i = 0; i < nreaders; i++) {
		if ((rc = db_open(&s->readers[i], path, 1, err, errlen))) {
			store_free(s);
			return rc;
		}
		s->nreaders++;
		/* A reader's page cache: the default 2 MiB makes a search over a
		** large index re-read the same pages from the OS on every query.
		** Pages are only allocated when used. */
		static const char sql_reader_cache[] = "PRAGMA cache_size=-" EM__STR(READER_CACHE_KIB);
		if ((rc = em_db_exec(s->readers[i], sql_reader_cache, NULL))) {
			snprintf(err, errlen, "%s: %s", path, em_db_errmsg(s->readers[i]));
			store_free(s);
			return rc;
		}
		s->idle[s->nidle++] = s->readers[i];
	}

	if ((rc = db_open(&s->cdb, path, 0, err, errlen))) {
		store_free(s);
		return rc;
	}
	/* A connection learns that the database is in WAL mode with its first
	** read; until then a checkpoint on it does nothing (and says so only
	** by reporting -1 frames), and the log would grow without bound. */
	if (sqlite3_exec(s->cdb->h, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->cdb->h));
		store_free(s);
		return EM_EIO;
	}
	sqlite3_wal_hook(wdb->h, wal_hook, s);

	/* The writer must not take signals meant for the loop thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int prc = pthread_create(&s->ckpt, NULL, ckpt_main, s);
	if (!prc)
		s->ckpt_started = 1;
	if (!prc)
		prc = pthread_create(&s->writer, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prc) {
		snprintf(err, errlen, "cannot start the store writer thread: %s", strerror(prc));
		store_free(s);
		return EM_EIO;
	}
	s->writer_started = 1;
	pthread_setname_np(s->writer, "emma-writer");
	pthread_setname_np(s->ckpt, "emma-checkpoint");
	em_info("store: open", "path=%s schema_version=%d migrations_applied=%d readers=%d", path, version,
		applied, nreaders);
	*out = s;
	return 0;
}

void em_store_close(em_store *s)
{
	if (!s)
		return;
	EM_MAGIC_CHECK(s, STORE_MAGIC);

	/* Refuse new writes; the writer drains what is queued, then exits. */
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->mu);
	if (s->writer_started)
		pthread_join(s->writer, NULL);

	/* Synchronous writers still returning from their wait use s->mu. */
	pthread_mutex_lock(&s->mu);
	while (s->sync_waiters)
		pthread_cond_wait(&s->scond, &s->mu);
	pthread_mutex_unlock(&s->mu);

	/* Reads already accepted run to completion; new ones are refused. */
	pthread_mutex_lock(&s->pool_mu);
	s->reads_closed = 1;
	while (s->reads_pending)
		pthread_cond_wait(&s->drain_cv, &s->pool_mu);
	pthread_mutex_unlock(&s->pool_mu);

	for (int i = 0; i < s->nreaders; i++)
		db_close(s->readers[i]);
	s->nreaders = 0;
	ckpt_stop(s);

	/* Fold the WAL into the database so the file alone is complete. */
	int log = 0, ckpt = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->wdb->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt);
	if (rc != SQLITE_OK)
		em_warn("store: checkpoint at close failed", "rc=%d", rc);
	em_info("store: closed", "path=%s", s->path);
	store_free(s);
}

void em_store_get_stats(em_store *s, em_store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	out->queue_depth = (uint64_t)s->qlen;
	pthread_mutex_unlock(&s->mu);
}

/* ---- Checkpoint ------------------------------------------------------- */

int em_store_checkpoint(em_store *s, char *err, size_t errlen)
{
	if (!s) {
		snprintf(err, errlen, "checkpoint: no store");
		return EM_EINVAL;
	}
	EM_MAGIC_CHECK(s, STORE_MAGIC);
	/* A connection of its own: the writer's belongs to the writer thread.
	** TRUNCATE waits (busy timeout) for the writer and for readers on older
	** snapshots, copies every frame into the database and empties the WAL
	** file, so no earlier page image survives in it. */
	em_db *db;
	int rc = db_open(&db, s->path, 0, err, errlen);
	if (rc)
		return rc;
	/* A connection that has not read yet does not know the file is in WAL
	** mode, and its checkpoint would be a silent no-op: read once first. */
	static const char sql_touch[] = "SELECT count(*) FROM sqlite_schema";
	int64_t ignored;
	if ((rc = db_query_int(db, sql_touch, &ignored))) {
		snprintf(err, errlen, "checkpoint: %s", em_db_errmsg(db));
		db_close(db);
		return rc;
	}
	int log = 0, ckpt = 0;
	int src = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt);
	if (src != SQLITE_OK) {
		snprintf(err, errlen, "checkpoint: %s", sqlite3_errmsg(db->h));
		rc = src == SQLITE_BUSY ? EM_EAGAIN : EM_EIO;
	}
	db_close(db);
	return rc;
}

/* ---- Backup ----------------------------------------------------------- */

static void fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int em_store_backup(em_store *s, const char *path, char *err, size_t errlen)
{
	static const char sql_snapshot[] = "SELECT count(*) FROM sqlite_schema";
	char tmp[PATH_MAX], side[PATH_MAX];
	struct stat a, b;
	em_db *src = NULL;
	sqlite3 *dst = NULL;
	sqlite3_backup *bk = NULL;
	int rc = 0, sqlrc, busy = 0;
	int64_t ignored;

	if (!s || !path || !*path) {
		snprintf(err, errlen, "backup: no target path");
		return EM_EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "backup: path too long");
		return EM_EINVAL;
	}
	/* Renaming onto the live database would pull it from under the store. */
	if (!stat(path, &a) && !stat(s->path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		snprintf(err, errlen, "backup: %s is the live database", path);
		return EM_EINVAL;
	}
	if (unlink(tmp) && errno != ENOENT) {
		snprintf(err, errlen, "backup: unlink %s: %s", tmp, strerror(errno));
		return EM_EIO;
	}
	if ((rc = db_open(&src, s->path, 1, err, errlen)))
		return rc;
	/* Hold one read transaction for the whole copy: the backup then reads a
	** fixed WAL snapshot and is not restarted by the writer's commits. */
	if ((rc = em_db_exec(src, SQL_BEGIN, NULL)) || (rc = db_query_int(src, sql_snapshot, &ignored))) {
		snprintf(err, errlen, "backup: %s", em_db_errmsg(src));
		goto out;
	}
	sqlrc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				NULL);
	if (sqlrc != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s: %s", tmp,
			 dst ? sqlite3_errmsg(dst) : sqlite3_errstr(sqlrc));
		rc = EM_EIO;
		goto out;
	}
	bk = sqlite3_backup_init(dst, "main", src->h, "main");
	if (!bk) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		rc = EM_EIO;
		goto out;
	}
	for (;;) {
		sqlrc = sqlite3_backup_step(bk, BACKUP_STEP_PAGES);
		if (sqlrc == SQLITE_DONE)
			break;
		if (sqlrc == SQLITE_OK) {
			busy = 0;
			sqlite3_sleep(0); /* yield between steps */
			continue;
		}
		if ((sqlrc == SQLITE_BUSY || sqlrc == SQLITE_LOCKED) && ++busy < BACKUP_BUSY_MAX) {
			sqlite3_sleep(5);
			continue;
		}
		break;
	}
	if (sqlrc != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(sqlrc));
		rc = EM_EIO;
	}
	sqlrc = sqlite3_backup_finish(bk);
	bk = NULL;
	if (!rc && sqlrc != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		rc = EM_EIO;
	}
out:
	if (src) {
		if (!sqlite3_get_autocommit(src->h))
			em_db_exec(src, SQL_COMMIT, NULL);
		db_close(src);
	}
	if (dst && sqlite3_close(dst) != SQLITE_OK && !rc) {
		snprintf(err, errlen, "backup: closing %s failed", tmp);
		rc = EM_EIO;
	}
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* A WAL left over from an older file at path would be replayed onto the
	** new one, so it goes before the rename. */
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	if (rename(tmp, path)) {
		snprintf(err, errlen, "backup: rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return EM_EIO;
	}
	fsync_dir_of(path);
	return 0;
}
