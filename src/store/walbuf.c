/*
** WAL write coalescing: an SQLite VFS over the platform's default one that
** gathers the frames of one transaction and hands them to the kernel in one
** write at COMMIT.
**
** SQLite appends each WAL frame with two writes, a 24-byte frame header and
** the page, so a group commit that dirtied 60 pages costs 120 system calls.
** Here the WAL file's writes that continue where the last one ended are
** collected in a buffer and written out as one call:
**
**   - when the commit frame's page has been added (its header names the
**     database size after the commit, which only a commit frame does), so
**     COMMIT returns only after its frames are in the kernel, exactly as
**     without this layer: what was acknowledged survives kill -9, and a
**     failed write fails the COMMIT;
**   - before anything that looks at the file (read, size, sync, truncate,
**     close), before a write elsewhere in the file, and when the buffer is
**     full.
**
** Other connections only read frames that a commit has published in the
** shared wal-index, which SQLite updates after the commit frame is written,
** i.e. after the flush. Files other than WALs are the default VFS's own: the
** wrapper opens them in place and keeps the default methods.
*/
#include "store/store_int.h"

#include <sqlite3.h>
#include <string.h>

#include "core/alloc.h"

#define WALBUF_CAP (1024 * 1024)
#define FRAME_HDR 24
#define WRITE_MAX (120 * 1024)

typedef struct walbuf {
	const sqlite3_io_methods *real;
	char *data;
	size_t len;
	sqlite3_int64 off; /* file offset of data[0] */
	int commit;	   /* the last write was a commit frame's header */
} walbuf;

static sqlite3_vfs vfs;
static sqlite3_vfs *base;
static sqlite3_io_methods methods;
static size_t tail_at; /* where the walbuf lives behind the base file */

static walbuf *wb_of(sqlite3_file *f)
{
	return (walbuf *)((char *)f + tail_at);
}

static int flush(sqlite3_file *f)
{
	walbuf *w = wb_of(f);
	if (!w->len)
		return SQLITE_OK;
	/* The unix VFS writes at most 128 KiB - 1 per call (it masks the
	** length to 17 bits), so larger buffers go in chunks below that. */
	int rc = SQLITE_OK;
	for (size_t at = 0; at < w->len && rc == SQLITE_OK; at += WRITE_MAX) {
		size_t n = w->len - at < WRITE_MAX ? w->len - at : WRITE_MAX;
		rc = w->real->xWrite(f, w->data + at, (int)n, w->off + (sqlite3_int64)at);
	}
	w->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *f)
{
	walbuf *w = wb_of(f);
	int rc = flush(f);
	em_free(w->data);
	w->data = NULL;
	int rc2 = w->real->xClose(f);
	return rc ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	int rc = flush(f);
	return rc ? rc : wb_of(f)->real->xRead(f, p, n, off);
}

static int wb_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	walbuf *w = wb_of(f);
	int rc;
	if (w->len && (off != w->off + (sqlite3_int64)w->len || w->len + (size_t)n > WALBUF_CAP) &&
	    (rc = flush(f)))
		return rc;
	if ((size_t)n > WRITE_MAX) {
		w->commit = 0;
		return w->real->xWrite(f, p, n, off);
	}
	if (!w->data)
		w->data = em_malloc(WALBUF_CAP);
	if (!w->len)
		w->off = off;
	memcpy(w->data + w->len, p, (size_t)n);
	w->len += (size_t)n;
	/* A frame header's bytes 4-7 hold the database size in pages after the
	** commit for a commit frame, zero for any other. The page follows it. */
	if (w->commit) {
		w->commit = 0;
		return flush(f);
	}
	const unsigned char *h = p;
	w->commit = n == FRAME_HDR && (h[4] | h[5] | h[6] | h[7]) != 0;
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = flush(f);
	return rc ? rc : wb_of(f)->real->xTruncate(f, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	int rc = flush(f);
	return rc ? rc : wb_of(f)->real->xSync(f, flags);
}

static int wb_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = flush(f);
	return rc ? rc : wb_of(f)->real->xFileSize(f, size);
}

static int wb_lock(sqlite3_file *f, int l)
{
	return wb_of(f)->real->xLock(f, l);
}

static int wb_unlock(sqlite3_file *f, int l)
{
	return wb_of(f)->real->xUnlock(f, l);
}

static int wb_reserved(sqlite3_file *f, int *out)
{
	return wb_of(f)->real->xCheckReservedLock(f, out);
}

static int wb_fcntl(sqlite3_file *f, int op, void *arg)
{
	return wb_of(f)->real->xFileControl(f, op, arg);
}

static int wb_sector(sqlite3_file *f)
{
	return wb_of(f)->real->xSectorSize(f);
}

static int wb_dev(sqlite3_file *f)
{
	return wb_of(f)->real->xDeviceCharacteristics(f);
}

static int wb_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)v;
	walbuf *w = wb_of(f);
	memset(w, 0, sizeof *w);
	int rc = base->xOpen(base, name, f, flags, out_flags);
	if (rc != SQLITE_OK || !(flags & SQLITE_OPEN_WAL) || !f->pMethods)
		return rc;
	/* The WAL gets the buffering methods; the file itself stays the base
	** VFS's, which the methods pass it to. */
	w->real = f->pMethods;
	f->pMethods = &methods;
	return SQLITE_OK;
}

/* Everything but opening files is the base VFS's. */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync)
{
	(void)v;
	return base->xDelete(base, name, sync);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return base->xAccess(base, name, flags, out);
}

static int wb_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return base->xFullPathname(base, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return base->xDlOpen(base, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	base->xDlError(base, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return base->xDlSym(base, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	base->xDlClose(base, h);
}

static int wb_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base->xRandomness(base, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return base->xSleep(base, us);
}

static int wb_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return base->xCurrentTime(base, out);
}

static int wb_lasterr(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base->xGetLastError ? base->xGetLastError(base, n, out) : 0;
}

static int wb_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return base->xCurrentTimeInt64(base, out);
}

const char *em__walbuf_vfs(void)
{
	/* Called once, under the store's pthread_once. */
	base = sqlite3_vfs_find(NULL);
	if (!base || base->iVersion < 2 || !base->xCurrentTimeInt64)
		return NULL;
	tail_at = ((size_t)base->szOsFile + 15) & ~(size_t)15;
	methods = (sqlite3_io_methods){
		.iVersion = 1,
		.xClose = wb_close,
		.xRead = wb_read,
		.xWrite = wb_write,
		.xTruncate = wb_truncate,
		.xSync = wb_sync,
		.xFileSize = wb_size,
		.xLock = wb_lock,
		.xUnlock = wb_unlock,
		.xCheckReservedLock = wb_reserved,
		.xFileControl = wb_fcntl,
		.xSectorSize = wb_sector,
		.xDeviceCharacteristics = wb_dev,
	};
	vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)(tail_at + sizeof(walbuf)),
		.mxPathname = base->mxPathname,
		.zName = "emma-walbuf",
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_fullpath,
		.xDlOpen = wb_dlopen,
		.xDlError = wb_dlerror,
		.xDlSym = wb_dlsym,
		.xDlClose = wb_dlclose,
		.xRandomness = wb_random,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_time,
		.xGetLastError = wb_lasterr,
		.xCurrentTimeInt64 = wb_time64,
	};
	if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
		return NULL;
	return vfs.zName;
}
