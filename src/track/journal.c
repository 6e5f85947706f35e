/*
** The ingest journal (see journal.h).
*/
#include "track/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/le.h"
#include "core/log.h"

#define HDR 16
#define BUF_MAX (64u << 20)    /* records added in one loop turn */
#define SEGMENTS_MAX 4096      /* 256 GiB of unapplied records: far beyond any backlog */
#define EMPTY_AFTER_MS 1000    /* an applied file is emptied at once from this age */
#define EMPTY_BYTES (1u << 20) /* ... or from this size */

typedef struct segment {
	uint64_t first; /* the number in the file's name */
	uint64_t last;	/* the last record in it (closed segments) */
} segment;

struct em_journal {
	char dir[512];
	int lockfd;
	int fd;		 /* the segment being written */
	uint64_t cur;	 /* its first record's number (its name) */
	uint64_t size;	 /* bytes written to it */
	int64_t used_ms; /* when it last went from empty to holding records */
	segment *old;	 /* closed segments, oldest first */
	int nold;
	uint64_t next;	  /* number of the next record */
	uint64_t written; /* the last record written */
	uint64_t applied; /* the last record applied */
	em_buf buf;	  /* records added, not yet written */
};

/* Set in a record's length word: its CRC is a CRC-32C. Records written
** before it was (Emma 0.x up to this change) carry a CRC-32 and are still
** read, so a journal left by a crash replays after an upgrade. */
#define LEN_CRC32C 0x80000000u

static uint32_t record_crc(uint32_t lenword, const unsigned char *seq8, const void *data, size_t len)
{
	if (lenword & LEN_CRC32C)
		return em_crc32c(em_crc32c(0, seq8, 8), data, len);
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, seq8, 8);
	return (uint32_t)crc32(c, data, (uInt)len);
}

static void seg_path(const em_journal *j, uint64_t first, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%016" PRIx64 ".log", j->dir, first);
}

static int seg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const segment *)a)->first, y = ((const segment *)b)->first;
	return x < y ? -1 : x > y;
}

/* The segment files in the directory, sorted by name. */
static int list_segments(em_journal *j, segment **out, int *n, char *err, size_t errlen)
{
	DIR *d = opendir(j->dir);
	if (!d) {
		snprintf(err, errlen, "cannot read the ingest journal %s: %s", j->dir, strerror(errno));
		return EM_EIO;
	}
	segment *v = NULL;
	int cnt = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".log"))
			continue;
		uint64_t first = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16)
			continue;
		if (cnt == SEGMENTS_MAX) {
			closedir(d);
			em_free(v);
			snprintf(err, errlen, "the ingest journal %s holds more than %d files", j->dir,
				 SEGMENTS_MAX);
			return EM_ERANGE;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			v = em_realloc(v, sizeof *v * (size_t)cap);
		}
		v[cnt].first = first;
		v[cnt].last = 0;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, (size_t)cnt, sizeof *v, seg_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

/* Reads one segment and replays its records after `applied`. A torn or
** damaged record ends the segment (it was never acknowledged). */
static int replay_segment(em_journal *j, uint64_t first, uint64_t applied, em_journal_replay_fn fn, void *arg,
			  uint64_t *last, char *err, size_t errlen)
{
	char path[600];
	seg_path(j, first, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat stt;
	if (fd < 0 || fstat(fd, &stt)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EM_EIO;
	}
	size_t size = (size_t)stt.st_size;
	unsigned char *data = em_malloc(size ? size : 1);
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, data + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	size_t off = 0;
	int rc = 0, n = 0;
	while (off + HDR <= got) {
		uint32_t word = em_le_get32(data + off), crc = em_le_get32(data + off + 4);
		uint32_t len = word & ~LEN_CRC32C;
		uint64_t seq = em_le_get64(data + off + 8);
		if (len > EM_JOURNAL_RECORD_MAX || off + HDR + len > got ||
		    record_crc(word, data + off + 8, data + off + HDR, len) != crc)
			break;
		if (seq > applied) {
			if ((rc = fn(seq, data + off + HDR, len, arg))) {
				snprintf(err, errlen, "record %" PRIu64 " of %s could not be applied: %s",
					 seq, path, em_strerror(rc));
				break;
			}
			n++;
		}
		if (seq > *last)
			*last = seq;
		off += HDR + len;
	}
	if (!rc && off < got)
		em_warn("ingest journal: ignoring a cut-short or damaged end", "file=%s offset=%zu size=%zu",
			path, off, got);
	if (n)
		em_info("ingest journal: replayed", "file=%s records=%d", path, n);
	em_free(data);
	return rc;
}

static int open_segment(em_journal *j, uint64_t first)
{
	char path[600];
	seg_path(j, first, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		em_error("ingest journal: cannot create a file", "file=%s reason=%s", path, strerror(errno));
		return EM_EIO;
	}
	j->fd = fd;
	j->cur = first;
	j->size = 0;
	return 0;
}

int em_journal_open(em_journal **out, const char *dir, uint64_t applied, em_journal_replay_fn replay,
		    void *arg, char *err, size_t errlen)
{
	*out = NULL;
	em_journal *j = em_calloc(1, sizeof *j);
	j->fd = j->lockfd = -1;
	em_buf_init(&j->buf, BUF_MAX);
	if (snprintf(j->dir, sizeof j->dir, "%s", dir) >= (int)sizeof j->dir) {
		snprintf(err, errlen, "the ingest journal's path is too long: %s", dir);
		em_free(j);
		return EM_ERANGE;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the ingest journal %s: %s", dir, strerror(errno));
		em_free(j);
		return EM_EIO;
	}
	char path[600];
	snprintf(path, sizeof path, "%s/lock", dir);
	j->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0 || flock(j->lockfd, LOCK_EX | LOCK_NB)) {
		snprintf(err, errlen, "the ingest journal %s is in use by another server (%s)", dir,
			 strerror(errno));
		em_journal_close(j);
		return EM_EAGAIN;
	}
	segment *segs = NULL;
	int n = 0, rc = list_segments(j, &segs, &n, err, errlen);
	uint64_t last = applied;
	for (int i = 0; !rc && i < n; i++)
		rc = replay_segment(j, segs[i].first, applied, replay, arg, &last, err, errlen);
	if (!rc) {
		/* Everything is applied now: the files are no longer needed. */
		for (int i = 0; i < n; i++) {
			seg_path(j, segs[i].first, path, sizeof path);
			unlink(path);
		}
		j->next = last + 1;
		j->written = j->applied = last;
		if (open_segment(j, j->next)) {
			snprintf(err, errlen, "cannot create a file in the ingest journal %s", dir);
			rc = EM_EIO;
		}
	}
	em_free(segs);
	if (rc) {
		em_journal_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

static void remove_segment(em_journal *j, uint64_t first)
{
	char path[600];
	seg_path(j, first, path, sizeof path);
	if (unlink(path) && errno != ENOENT)
		em_warn("ingest journal: cannot remove a file", "file=%s reason=%s", path, strerror(errno));
}

void em_journal_close(em_journal *j)
{
	if (!j)
		return;
	int all_applied = j->applied == j->written && !j->buf.len;
	if (j->fd >= 0) {
		close(j->fd);
		if (all_applied)
			remove_segment(j, j->cur);
	}
	if (all_applied)
		for (int i = 0; i < j->nold; i++)
			remove_segment(j, j->old[i].first);
	if (j->lockfd >= 0)
		close(j->lockfd);
	em_free(j->old);
	em_buf_free(&j->buf);
	em_free(j);
}

uint64_t em_journal_add(em_journal *j, const void *data, size_t len)
{
	if (len > EM_JOURNAL_RECORD_MAX || j->buf.len + HDR + len > BUF_MAX)
		return 0;
	unsigned char h[HDR];
	uint64_t seq = j->next++;
	em_le_put64(h + 8, seq);
	em_le_put32(h, (uint32_t)len | LEN_CRC32C);
	em_le_put32(h + 4, record_crc(LEN_CRC32C, h + 8, data, len));
	em_buf_append(&j->buf, h, sizeof h);
	em_buf_append(&j->buf, data, len);
	return seq;
}

/* Starts a new file once the current one is full; the old one is removed
** when every record in it has been applied. */
static void rotate(em_journal *j)
{
	if (j->nold == SEGMENTS_MAX)
		return; /* keep writing to the long file rather than lose track */
	int oldfd = j->fd;
	segment done = {j->cur, j->written};
	if (open_segment(j, j->written + 1)) {
		j->fd = oldfd; /* keep appending to the full file */
		return;
	}
	close(oldfd);
	j->old = em_realloc(j->old, sizeof *j->old * (size_t)(j->nold + 1));
	j->old[j->nold++] = done;
}

int em_journal_write(em_journal *j)
{
	if (!j->buf.len)
		return 0;
	size_t off = 0;
	while (off < j->buf.len) {
		ssize_t w = pwrite(j->fd, j->buf.data + off, j->buf.len - off, (off_t)(j->size + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			em_error("ingest journal: write failed", "bytes=%zu reason=%s", j->buf.len,
				 w < 0 ? strerror(errno) : "nothing written");
			if (ftruncate(j->fd, (off_t)j->size))
				em_error("ingest journal: cannot cut back a failed write", "reason=%s",
					 strerror(errno));
			/* The records are nowhere now: their numbers are reused. */
			j->next = j->written + 1;
			em_buf_reset(&j->buf);
			return EM_EIO;
		}
		off += (size_t)w;
	}
	if (!j->size)
		j->used_ms = em_now_ms();
	j->size += j->buf.len;
	j->written = j->next - 1;
	em_buf_reset(&j->buf);
	if (j->size >= EM_JOURNAL_SEGMENT_MAX)
		rotate(j);
	return 0;
}

/* Every record in the current file is applied: nothing of it stays on disk. */
static void empty_file(em_journal *j)
{
	if (ftruncate(j->fd, 0))
		em_warn("ingest journal: cannot empty the file", "reason=%s", strerror(errno));
	else
		j->size = 0;
}

void em_journal_applied(em_journal *j, uint64_t seq)
{
	if (seq <= j->applied)
		return;
	j->applied = seq;
	int k = 0;
	while (k < j->nold && j->old[k].last <= seq)
		remove_segment(j, j->old[k++].first);
	if (k) {
		memmove(j->old, j->old + k, sizeof *j->old * (size_t)(j->nold - k));
		j->nold -= k;
	}
	/* All written records applied: empty the file, at once when it has
	** grown, else once it is a second old (it is emptied at the next
	** caught-up moment after that, and at close). */
	if (j->applied >= j->written && j->size &&
	    (j->size >= EMPTY_BYTES || em_now_ms() - j->used_ms >= EMPTY_AFTER_MS))
		empty_file(j);
}

void em_journal_cut(em_journal *j)
{
	if (!j->size)
		return;
	if (j->applied >= j->written)
		empty_file(j);
	else
		rotate(j);
}

uint64_t em_journal_backlog(const em_journal *j)
{
	return j->written > j->applied ? j->written - j->applied : 0;
}
