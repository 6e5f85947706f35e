/*
** libFuzzer target: the ingest journal's records and files.
**
** - As a batch record (em_track_batch_decode): bytes either decode into a
**   batch that keeps the batch's promises (site key and vid within their
**   fields, 0 to EM_TRACK_MAX_EVENTS events of a known type, device,
**   browser, os and country never NULL), or are refused; a decoded batch
**   encodes into a record that decodes into the same batch again.
** - As a journal file left by a crash: opening the journal replays whole
**   records only, each within the record limit, never reads past the file,
**   and leaves a journal that takes new records numbered after every
**   record it saw.
*/
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "track/event.h"
#include "track/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_batch(const em_track_batch *b)
{
	if (strlen(b->site_key) >= sizeof b->site_key || strlen(b->vid) >= sizeof b->vid)
		abort();
	if (!b->device || !b->browser || !b->os || !b->country)
		abort();
	if (b->nevents < 0 || b->nevents > EM_TRACK_MAX_EVENTS)
		abort();
	for (int i = 0; i < b->nevents; i++)
		if (b->events[i].type < EM_EV_PAGEVIEW || b->events[i].type > EM_EV_CONSENT)
			abort();
}

static void round_trip(const uint8_t *data, size_t size)
{
	em_track_batch *b = em_track_batch_decode(data, size);
	if (!b)
		return;
	check_batch(b);
	em_buf one, two;
	em_buf_init(&one, EM_JOURNAL_RECORD_MAX);
	em_buf_init(&two, EM_JOURNAL_RECORD_MAX);
	if (em_track_batch_encode(b, &one))
		abort();
	em_track_batch *c = em_track_batch_decode(one.data, one.len);
	if (!c)
		abort();
	if (em_track_batch_encode(c, &two) || one.len != two.len || memcmp(one.data, two.data, one.len))
		abort();
	em_track_batch_free(c);
	em_track_batch_free(b);
	em_buf_free(&one);
	em_buf_free(&two);
}

struct replay {
	uint64_t max;
	int n;
};

static int on_record(uint64_t seq, const void *p, size_t len, void *arg)
{
	struct replay *r = arg;
	if (len > EM_JOURNAL_RECORD_MAX || (len && !p))
		abort();
	if (seq > r->max)
		r->max = seq;
	r->n++;
	/* Touch every byte: ASan sees a read past the file's buffer. */
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	(void)sum;
	return 0;
}

static char dir[64];

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[128];
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
}

static void replay_file(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/emma-fuzz-journal-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	clear_dir();
	char p[128];
	snprintf(p, sizeof p, "%s/0000000000000001.log", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	struct replay r = {0, 0};
	em_journal *j = NULL;
	char err[256];
	if (em_journal_open(&j, dir, 0, on_record, &r, err, sizeof err))
		abort(); /* nothing here can fail: damage ends the file */
	uint64_t seq = em_journal_add(j, "x", 1);
	if (seq != r.max + 1 || em_journal_write(j))
		abort();
	em_journal_close(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip(data, size);
	replay_file(data, size);
	return 0;
}
