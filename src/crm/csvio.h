/*
** CSV import and export of contacts (see docs/contacts.md, "CSV").
**
** The reader is RFC 4180 over a buffer in memory: fields separated by
** commas, records by CRLF or LF, quoted fields with "" for a quote and line
** breaks inside, an optional UTF-8 byte-order mark. A broken record (an
** unclosed quote, text after a closing quote, invalid UTF-8, too many or too
** long fields) is reported with its line and skipped; reading goes on with
** the next line.
**
** The import maps a header row to contact fields and the site's custom
** fields, validates every row without touching the database, then plans or
** applies each good row (create, update or unchanged, matched by e-mail and
** else phone). The export writes the same columns, with cells that a
** spreadsheet would run as a formula made harmless by a leading quote.
*/
#ifndef EM_CSVIO_H
#define EM_CSVIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

/* ---- Reading -------------------------------------------------------------- */

#define EM_CSV_FIELDS_MAX 256
#define EM_CSV_FIELD_MAX (64 * 1024)

typedef struct em_csv {
	const char *p, *end;
	int line;     /* physical line of the next byte (1-based) */
	int rec_line; /* line where the last record (or broken record) started */
	int nfields;
	char *buf; /* the record's fields, each NUL-terminated; owned */
	size_t len, cap;
	size_t off[EM_CSV_FIELDS_MAX], flen[EM_CSV_FIELDS_MAX];
} em_csv;

/* Starts reading data (not copied; it must outlive the reader). Skips a
** UTF-8 byte-order mark. */
void em_csv_init(em_csv *c, const char *data, size_t len);
void em_csv_free(em_csv *c);
/* Reads the next record: 1 = a record (em_csv_field), 0 = the end,
** EM_EINVAL = a broken record, skipped; *why says what was wrong and
** c->rec_line where. Blank lines are skipped. */
int em_csv_next(em_csv *c, const char **why);
/* Field i of the last record (NUL-terminated), len may be NULL. */
const char *em_csv_field(const em_csv *c, int i, size_t *len);

/* ---- Writing -------------------------------------------------------------- */

/* Appends a cell (a comma first unless it starts the line), quoted when it
** holds a comma, quote or line break, or starts or ends with a space. A
** cell starting with = + - @ (or a tab or CR) gets a leading ' so that a
** spreadsheet shows it as text instead of running it. Returns 0 or
** EM_ETOOBIG. */
int em_csv_cell(em_buf *b, const char *s, int first);
/* Ends a record with CRLF. */
int em_csv_eol(em_buf *b);

/* ---- Contacts ------------------------------------------------------------- */

#define EM_CSV_ERRORS_MAX 1000 /* errors listed in a report (all are counted) */
#define EM_CSV_CHUNK_ROWS 2000 /* rows applied per store write */

typedef struct em_csv_import em_csv_import;

/* data must stay valid until em_csv_import_free. */
em_csv_import *em_csv_import_new(int64_t site_id, int dry_run, int64_t operator_id, const char *data,
				 size_t len);
void em_csv_import_free(em_csv_import *imp);
/* Store read: loads the site's custom fields and the operators, parses and
** validates the rows (for a dry run every row, and plans each good row
** against the database; else the first few thousand). EM_EINVAL for a file
** that cannot be imported at all (no or a bad header row):
** em_csv_import_fatal says why. */
int em_csv_import_prepare_db(em_db *db, void *imp);
const char *em_csv_import_fatal(const em_csv_import *imp, const char **field);
/* Store read (no database use): parses and validates the next slice of
** rows. May run while em_csv_import_chunk_db runs (one of each at most). */
int em_csv_import_parse_db(em_db *db, void *imp);
/* 1 when every row was parsed (a parse read is not needed any more). */
int em_csv_import_parsed(const em_csv_import *imp);
/* 1 when a chunk write has work without waiting for the parser. */
int em_csv_import_ready(const em_csv_import *imp);
/* Store write: applies the next EM_CSV_CHUNK_ROWS parsed good rows, or
** adds the contacts created so far to the search index. */
int em_csv_import_chunk_db(em_db *db, void *imp);
/* Store write: indexes every contact still waiting for the search index
** (an import that was cut short, by a crash say, leaves some); serve runs
** it at start-up. arg: NULL, or an int counting the index statements. */
int em_csv_index_waiting_db(em_db *db, void *arg);
/* 1 when every good row was applied and every contact the import created
** can be found by search (or for a dry run after prepare). */
int em_csv_import_finished(const em_csv_import *imp);
/* {"dry_run","rows","created","updated","unchanged","skipped","errors":[{line,field,message}]}. */
json_t *em_csv_import_report(const em_csv_import *imp);

/* Store read: the site's live contacts (filtered by stage and tag when not
** NULL) as CSV into out (created with its maximum by the caller). */
int em_csv_export_db(em_db *db, int64_t site_id, const char *stage, const char *tag, em_buf *out);

#endif
