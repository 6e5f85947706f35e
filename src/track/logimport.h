/*
** Access-log hits as visitor events, shared by `emma import-log` and
** `emma serve --tail`: a line becomes a one-event batch for the sessionizer,
** and batches are written in chunks, one store write per chunk, together
** with the position in the log they came from (tail), so that a line is
** stored exactly once even across crashes.
*/
#ifndef EM_LOGIMPORT_H
#define EM_LOGIMPORT_H

#include <stdint.h>

#include "store/store.h"
#include "track/accesslog.h"
#include "track/event.h"
#include "track/sites.h"

typedef struct em_import_stats {
	uint64_t lines;	       /* lines read */
	uint64_t imported;     /* page views stored */
	uint64_t not_pageview; /* assets, noise, errors, non-GET: valid lines that are no page view */
	uint64_t bots;
	uint64_t skipped[EM_LOGSKIP__COUNT]; /* lines that did not parse, by reason */
	uint64_t skipped_total;
} em_import_stats;

typedef struct em_logsource {
	const em_logfmt *fmt;
	const em_site *site;
	int anonymize_bytes;
	em_import_stats st;
	char first_error[256]; /* the first parse error, with its line number */
} em_logsource;

/* Converts one line (no newline) into a batch, or NULL when the line is not
** a page view or does not parse (counted in src->st). */
em_track_batch *em_logimport_line(em_logsource *src, const char *line, size_t len);

typedef struct em_logtext em_logtext;

/* A chunk of batches written in one store write function. */
typedef struct em_logchunk {
	em_track_batch **b;
	int n, cap;
	/* Storage of the batches made by em_logchunk_add_line, kept across
	** em_logchunk_clear: cap batch structs, cap events, text blocks. */
	em_track_batch *slots;
	em_track_event *events;
	em_logtext *text, *text_cur;
	/* Tail position after the chunk's last line; path NULL for imports. */
	const char *tail_path;
	int64_t inode;
	int64_t offset;
	char head_hash[33];
} em_logchunk;

em_logchunk *em_logchunk_new(int cap);
/* Adds b (a heap batch, from em_logimport_line) to the chunk, which frees it. */
void em_logchunk_add(em_logchunk *c, em_track_batch *b);
/* As em_logimport_line + em_logchunk_add, but the batch lives in the chunk's
** own storage, reused after em_logchunk_clear: no allocation per line. Its
** pointers are valid until the chunk is cleared. Returns 1 when a batch was
** added, 0 when the line is no page view (counted in src->st) or the chunk
** is full. */
int em_logchunk_add_line(em_logchunk *c, em_logsource *src, const char *line, size_t len);
/* Frees the heap batches (not the chunk or its storage) and empties it. */
void em_logchunk_clear(em_logchunk *c);
void em_logchunk_free(em_logchunk *c);
/* em_db_fn: sessionizes every batch of the chunk and saves the tail offset. */
int em_logchunk_write(em_db *db, void *chunk);

/* Reads the saved tail position of path; 0, or EM_ENOTFOUND. */
int em_logtail_load(em_store *s, const char *path, int64_t *inode, int64_t *offset, char head_hash[33]);

/* Summary line: "read N lines, imported M, ..." */
void em_import_summary(const em_import_stats *st, double seconds, char *out, size_t outlen);

#endif
