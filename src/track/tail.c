/*
** Access-log follower (see tail.h).
**
** The thread polls (every 200 ms) rather than using inotify: it is simple,
** works on every file system including network mounts, and a fifth of a
** second is well inside the one-second budget for the live view.
**
** Rotation: after reading to the end, the path is stat()ed. Another inode
** means the file was renamed away and a new one created: the old descriptor
** is read to its end first, then the new file from offset 0. A size below our
** offset means copytruncate: start again at 0. A file whose first bytes no
** longer hash to what was saved is a different file, also read from 0.
*/
#include "track/tail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "live/presence.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/logimport.h"

#define POLL_MS 200
#define CHUNK_LINES 2048
#define BUF_BYTES (256 * 1024)
#define HEAD_BYTES 64

struct em_tail {
	em_app *app;
	char path[1024];
	em_logfmt *fmt;
	em_logsource src;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int fd;
	int64_t inode;
	int64_t offset;
	char head_hash[33];
	char *buf;
};

/* Hash of the first HEAD_BYTES bytes, or "" while the file is shorter. */
static void head_hash(int fd, char out[33])
{
	unsigned char head[HEAD_BYTES], h[16];
	out[0] = '\0';
	if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
		return;
	crypto_generichash(h, sizeof h, head, sizeof head, NULL, 0);
	em_hex(h, sizeof h, out);
}

static void apply_chunk(void *arg)
{
	em_logchunk *c = arg;
	for (int i = 0; i < c->n; i++)
		em_presence_apply(c->b[i]);
	em_logchunk_free(c);
}

/* Commits the chunk with the position after its last line, then hands its
** batches to the loop for the live view. */
static int commit(em_tail *t, em_logchunk **cp, int64_t end_offset)
{
	em_logchunk *c = *cp;
	c->tail_path = t->path;
	c->inode = t->inode;
	c->offset = end_offset;
	memcpy(c->head_hash, t->head_hash, sizeof c->head_hash);
	int rc;
	while ((rc = em_store_write_sync(t->app->store, em_logchunk_write, c)) == EM_EAGAIN)
		usleep(10000);
	if (rc) {
		em_warn("tail: store write failed, retrying", "path=%s rc=%s", t->path, em_strerror(rc));
		return rc;
	}
	t->offset = end_offset;
	for (int i = 0; i < c->n; i++)
		c->b[i]->status = 0;
	em_loop_post(apply_chunk, c);
	*cp = em_logchunk_new(CHUNK_LINES);
	return 0;
}

/* Reads and stores every complete line from t->offset on. */
static int drain(em_tail *t)
{
	em_logchunk *c = em_logchunk_new(CHUNK_LINES);
	size_t have = 0;
	int64_t read_pos = t->offset, line_end = t->offset;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(t->fd, t->buf + have, BUF_BYTES - have, read_pos);
		if (n < 0) {
			rc = EM_EIO;
			break;
		}
		if (n == 0)
			break;
		read_pos += n;
		have += (size_t)n;
		size_t start = 0;
		for (;;) {
			char *nl = memchr(t->buf + start, '\n', have - start);
			if (!nl)
				break;
			size_t len = (size_t)(nl - (t->buf + start));
			em_track_batch *b = em_logimport_line(&t->src, t->buf + start, len);
			start += len + 1;
			line_end += (int64_t)len + 1;
			if (b)
				em_logchunk_add(c, b);
			if (c->n >= CHUNK_LINES && (rc = commit(t, &c, line_end)))
				goto out;
		}
		memmove(t->buf, t->buf + start, have - start);
		have -= start;
		if (have == BUF_BYTES) {
			/* A line longer than the buffer: skip it as truncated. */
			line_end += (int64_t)have;
			have = 0;
			t->src.st.skipped[EM_LOGSKIP_TRUNCATED]++;
			t->src.st.skipped_total++;
		}
	}
	/* Lines without any page view still move the saved position forward. */
	if (!rc && line_end != t->offset)
		rc = commit(t, &c, line_end);
out:
	em_logchunk_free(c);
	return rc;
}

static int open_file(em_tail *t)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return EM_ENOTFOUND;
	struct stat st;
	fstat(fd, &st);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = fd;
	t->inode = (int64_t)st.st_ino;
	head_hash(fd, t->head_hash);
	return 0;
}

static void check_rotation(em_tail *t)
{
	struct stat st, cur;
	if (fstat(t->fd, &cur) == 0 && (int64_t)cur.st_size < t->offset) {
		em_info("tail: file truncated, reading from the start", "path=%s", t->path);
		t->offset = 0;
		head_hash(t->fd, t->head_hash);
		return;
	}
	char now_hash[33];
	head_hash(t->fd, now_hash);
	if (t->head_hash[0] && now_hash[0] && strcmp(now_hash, t->head_hash)) {
		/* Truncated and refilled past our offset between two polls. */
		em_info("tail: file replaced in place, reading from the start", "path=%s", t->path);
		t->offset = 0;
	}
	memcpy(t->head_hash, now_hash, sizeof now_hash);
	if (stat(t->path, &st) != 0 || (int64_t)st.st_ino == t->inode)
		return;
	/* Renamed away: finish the old file, then follow the new one. */
	drain(t);
	if (open_file(t) == 0) {
		em_info("tail: log rotated, following the new file", "path=%s", t->path);
		t->offset = 0;
	}
}

static void *run(void *arg)
{
	em_tail *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		pthread_mutex_unlock(&t->mu);
		if (t->fd < 0 && open_file(t) == 0)
			t->offset = 0;
		if (t->fd >= 0) {
			drain(t);
			check_rotation(t);
		}
		pthread_mutex_lock(&t->mu);
		if (t->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int em_tail_start(em_app *app, const char *spec, em_tail **out, char *err, size_t errlen)
{
	em_tail *t = em_calloc(1, sizeof *t);
	t->app = app;
	t->fd = -1;
	const char *format = "combined";
	/* FILE:FORMAT, where FILE is everything before the first ':' that names an
	** existing file (or the whole spec when no ':' follows the file). */
	const char *colon = strchr(spec, ':');
	size_t plen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (colon && access(spec, F_OK) == 0)
		plen = strlen(spec), colon = NULL;
	if (plen >= sizeof t->path) {
		snprintf(err, errlen, "--tail: path too long");
		em_free(t);
		return EM_EINVAL;
	}
	memcpy(t->path, spec, plen);
	t->path[plen] = '\0';
	if (colon)
		format = colon + 1;
	char why[256];
	if (em_logfmt_compile(format, &t->fmt, why, sizeof why)) {
		snprintf(err, errlen, "--tail %s: bad format: %s", t->path, why);
		em_free(t);
		return EM_EINVAL;
	}
	t->src.fmt = t->fmt;
	t->src.site = em_sites_find("default");
	t->src.anonymize_bytes = app->cfg.anonymize_ip_bytes;
	if (!t->src.site) {
		snprintf(err, errlen, "--tail: site 'default' not found");
		em_logfmt_free(t->fmt);
		em_free(t);
		return EM_ENOTFOUND;
	}
	t->buf = em_malloc(BUF_BYTES);
	/* Resume where the stored data ends, if it is still the same file. */
	int64_t inode = 0, offset = 0;
	char hash[33] = "";
	int have_pos = em_logtail_load(app->store, t->path, &inode, &offset, hash) == 0;
	if (open_file(t) == 0) {
		struct stat st;
		fstat(t->fd, &st);
		if (have_pos && inode == t->inode && (int64_t)st.st_size >= offset && (!hash[0] || !strcmp(hash, t->head_hash)))
			t->offset = offset;
		else
			t->offset = 0;
		em_info("tail: following", "path=%s offset=%lld", t->path, (long long)t->offset);
	} else {
		em_warn("tail: file does not exist yet, waiting for it", "path=%s", t->path);
	}
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (pthread_create(&t->thread, NULL, run, t)) {
		snprintf(err, errlen, "--tail: cannot start thread");
		em_logfmt_free(t->fmt);
		em_free(t->buf);
		em_free(t);
		return EM_EIO;
	}
	*out = t;
	return 0;
}

void em_tail_stop(em_tail *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	if (t->fd >= 0)
		close(t->fd);
	em_logfmt_free(t->fmt);
	em_free(t->buf);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	em_free(t);
}
