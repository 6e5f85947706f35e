/*
** Access-log import (see import.h).
*/
#include "track/import.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "net/loop.h"

/* Page views per chunk, i.e. per transaction. Large chunks mean fewer
** commits and fewer updates of the visit and visitor rows, which are
** written once per chunk for each visitor seen in it; a chunk keeps its
** lines in about 1 KB each, so two chunks in flight hold some 50 MB. */
#define CHUNK_VIEWS 32768
#define READ_BLOCK (1 << 20)
#define LINE_MAX_BYTES (64 * 1024) /* longer lines are counted as truncated */

typedef struct inflight {
	em_logchunk *chunk;
	volatile int done;
	int status;
} inflight;

static int write_inflight(em_db *db, void *arg)
{
	return em_logchunk_write(db, ((inflight *)arg)->chunk);
}

static void on_chunk_done(int status, void *arg)
{
	inflight *f = arg;
	f->status = status;
	f->done = 1;
}

typedef struct importer {
	em_store *s;
	em_logsource *src;
	inflight slot[2];
	int cur; /* slot being filled */
	int progress;
	uint64_t bytes_done, bytes_total;
	uint64_t start_us, last_draw_us;
	int failed;
} importer;

static int wait_slot(importer *im, int i)
{
	inflight *f = &im->slot[i];
	if (!f->chunk || f->done)
		return f->status;
	em_loop_run_until(&f->done);
	return f->status;
}

/* Sends the current chunk to the store and switches to the other slot. */
static int flush(importer *im)
{
	inflight *f = &im->slot[im->cur];
	if (f->chunk->n == 0)
		return 0;
	f->done = 0;
	f->status = 0;
	int rc;
	while ((rc = em_store_write(im->s, write_inflight, on_chunk_done, f)) == EM_EAGAIN)
		em_loop_run_once();
	if (rc)
		return rc;
	im->cur ^= 1;
	inflight *g = &im->slot[im->cur];
	rc = wait_slot(im, im->cur);
	em_logchunk_clear(g->chunk);
	g->done = 1;
	return rc;
}

static void draw(importer *im, int final)
{
	uint64_t now = em_mono_us();
	if (!im->progress || (!final && now - im->last_draw_us < 200000))
		return;
	im->last_draw_us = now;
	double secs = (double)(now - im->start_us) / 1e6;
	double rate = secs > 0 ? (double)im->src->st.lines / secs : 0;
	double frac = im->bytes_total ? (double)im->bytes_done / (double)im->bytes_total : 0;
	double eta = frac > 0.001 ? secs * (1 - frac) / frac : 0;
	int width = 30, fill = (int)(frac * width);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %5.1f%%  %llu lines  %.0f lines/s  ETA %.0fs   ", bar, frac * 100,
		(unsigned long long)im->src->st.lines, rate, eta);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static int handle_line(importer *im, const char *line, size_t len)
{
	em_logchunk *c = im->slot[im->cur].chunk;
	if (!em_logchunk_add_line(c, im->src, line, len))
		return 0;
	if (c->n >= c->cap)
		return flush(im);
	return 0;
}

static int import_stream(importer *im, FILE *f, const char *name, char *err, size_t errlen)
{
	char *buf = em_malloc(READ_BLOCK + LINE_MAX_BYTES);
	size_t have = 0;
	int rc = 0, skipping = 0;
	for (;;) {
		size_t n = fread(buf + have, 1, READ_BLOCK, f);
		if (n == 0)
			break;
		im->bytes_done += n;
		have += n;
		size_t start = 0;
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			if (!nl)
				break;
			size_t len = (size_t)(nl - (buf + start));
			if (!skipping && (rc = handle_line(im, buf + start, len)))
				goto out;
			skipping = 0;
			start += len + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have >= LINE_MAX_BYTES) {
			/* A line longer than any real log line: count it once and drop it. */
			im->src->st.lines++;
			im->src->st.skipped[EM_LOGSKIP_TRUNCATED]++;
			im->src->st.skipped_total++;
			have = 0;
			skipping = 1;
		}
		draw(im, 0);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", name, strerror(errno));
		rc = EM_EIO;
		goto out;
	}
	if (have && !skipping)
		rc = handle_line(im, buf, have);
out:
	em_free(buf);
	return rc;
}

int em_import_files(em_store *s, em_logsource *src, char **files, int nfiles, int progress, char *err,
		    size_t errlen)
{
	importer im;
	memset(&im, 0, sizeof im);
	im.s = s;
	im.src = src;
	im.progress = progress;
	im.start_us = em_mono_us();
	for (int i = 0; i < 2; i++) {
		im.slot[i].chunk = em_logchunk_new(CHUNK_VIEWS);
		im.slot[i].done = 1;
	}
	for (int i = 0; i < nfiles; i++) {
		struct stat stt;
		if (strcmp(files[i], "-") && stat(files[i], &stt) == 0)
			im.bytes_total += (uint64_t)stt.st_size;
	}
	int rc = 0;
	for (int i = 0; i < nfiles && !rc; i++) {
		FILE *f = strcmp(files[i], "-") ? fopen(files[i], "rb") : stdin;
		if (!f) {
			snprintf(err, errlen, "%s: cannot open: %s", files[i], strerror(errno));
			rc = EM_EIO;
			break;
		}
		rc = import_stream(&im, f, files[i], err, errlen);
		if (f != stdin)
			fclose(f);
	}
	int rc2 = flush(&im);
	int rc3 = wait_slot(&im, im.cur ^ 1);
	int rc4 = wait_slot(&im, im.cur);
	if (!rc)
		rc = rc2 ? rc2 : rc3 ? rc3 : rc4;
	if (rc && !err[0])
		snprintf(err, errlen, "storing failed: %s", em_strerror(rc));
	draw(&im, 1);
	for (int i = 0; i < 2; i++)
		em_logchunk_free(im.slot[i].chunk);
	return rc;
}
