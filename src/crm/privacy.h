/*
** Privacy by design (see docs/privacy.md): consent records, the export of
** everything stored about a person, the erasure of a person or of an
** anonymous visitor, and the retention policy that deletes old data daily.
**
** Export and erase work on the store like every other module: the export is
** one read transaction on a pool thread (one consistent snapshot), the erase
** one write on the writer thread (all or nothing). After an erase the WAL is
** checkpointed and truncated, and the writer runs with secure_delete on, so
** the erased text is gone from the files, not only from the tables.
**
** Retention deletes in chunks: each chunk is one small write queued behind
** whatever else waits, so the writer is never held for long.
*/
#ifndef EM_PRIVACY_H
#define EM_PRIVACY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "store/store.h"

#define EM_PRIVACY_PURPOSE_MAX 40
#define EM_PRIVACY_WORDING_MAX 4000
#define EM_PRIVACY_SOURCE_MAX 40
/* Rows one retention chunk deletes at most. */
#define EM_PRIVACY_CHUNK 5000
/* Events an export carries at most (the answer says "truncated"). */
#define EM_PRIVACY_EXPORT_EVENTS_MAX 200000

/* ---- Pure helpers (unit-tested) ---------------------------------------- */

/* The time before which data older than `days` days goes; 0 = keep all. */
int64_t em_privacy_cutoff_days(int64_t now_ms, int days);
/* The same instant `months` calendar months earlier (UTC; the day of month
** clamped to the shorter month: 31 March - 1 month = 28/29 February);
** 0 = keep all. */
int64_t em_privacy_cutoff_months(int64_t now_ms, int months);
/* An anonymised URL: without query and fragment (keep_path = 1), or only
** "scheme://host/" (keep_path = 0). Text that is no URL is cut at '?' and
** '#' alike. */
void em_privacy_strip_url(const char *url, int keep_path, char *out, size_t outlen);
/* 1 when purpose ([a-z0-9_.-], 1..40 characters) is acceptable. */
int em_privacy_purpose_ok(const char *purpose);

/* ---- Retention ----------------------------------------------------------- */

typedef struct em_retention {
	/* Cut-offs (ms since the epoch); 0 = that category is kept. */
	int64_t events_before, chats_before, visitors_before;
	int chunk; /* rows per chunk; 0 = EM_PRIVACY_CHUNK */
	int dry_run;
	/* What went (or would go). */
	int64_t events, messages, conversations, visitors, visits;
	int chunks; /* writes it took */
	/* Internal: the phase the next chunk works on, and the visitor row
	** the visitor phase goes on after (it walks the table in id order). */
	int phase;
	int64_t visitor_after;
} em_retention;

/* Fills the cut-offs from the configuration at time now. */
void em_privacy_retention_plan(const em_config *cfg, int64_t now_ms, em_retention *r);
/* Read function: counts what the plan would delete (dry run). */
int em_privacy_retention_count_db(em_db *db, void *retention);
/* Write function: one chunk; r->phase reaches EM_RETENTION_DONE at the end. */
int em_privacy_retention_step_db(em_db *db, void *retention);
#define EM_RETENTION_DONE 4
/* The whole pass synchronously, chunk after chunk (command line, tests). */
int em_privacy_retention_run_sync(em_store *s, em_retention *r);
/* The report as JSON (new reference). */
json_t *em_privacy_retention_json(const em_retention *r);

/* Loop thread: runs a pass (or counts, with dry_run) and calls done with the
** report once it ended. operator_id (0 = the daily timer) goes to the audit. */
void em_privacy_retention_start(em_app *app, int dry_run, int64_t operator_id,
				void (*done)(int status, const em_retention *r, void *arg), void *arg);

/* The widget's own erase request (POST /api/v1/public/forget): 0 when ip
** may send one now, else seconds to wait. Loop thread. */
int em_privacy_forget_allowed(const char *ip, int64_t now_ms);

/* Starts the daily timer (first pass ten minutes after start). */
int em_privacy_init(em_app *app);
void em_privacy_shutdown(void);

/* ---- Export and erase ---------------------------------------------------- */

/* Read function: everything about the contact (by public id) into *out. */
typedef struct em_export {
	char contact[32]; /* public id, or "" for a visitor export */
	int64_t site_id;  /* visitor export: site and vid */
	char vid[64];
	json_t *out; /* the document (new reference) */
} em_export;
int em_privacy_export_db(em_db *db, void *export);

/* An erase: of a contact (public id) or of one visitor (site_id + vid). */
typedef struct em_erase {
	char contact[32];
	int64_t site_id;
	char vid[64];
	int64_t now;
	/* Results. */
	int64_t contacts, visitors, conversations, messages, notes, callbacks, consents, events;
	int search_dirty; /* the contact search index still holds fragments */
	/* Visitors whose live presence is to be dropped (old vids). */
	struct em_erase_vid {
		int64_t site_id;
		char vid[64];
	} * gone;
	size_t ngone;
	/* Conversations not yet closed (from em_privacy_erase_scan_db). */
	char (*open)[32];
	size_t nopen;
} em_erase;

/* Read function: checks the target exists and lists its open conversations
** (so the live chat closes them before the erase). EM_ENOTFOUND if none. */
int em_privacy_erase_scan_db(em_db *db, void *erase);
/* Write function: the erase itself. EM_ENOTFOUND if there is nothing. */
int em_privacy_erase_db(em_db *db, void *erase);
void em_privacy_erase_free(em_erase *e);

/* Loop thread: scan, close open chats, erase, forget live state, write the
** audit entry and checkpoint the WAL; then done (status 0, EM_ENOTFOUND,
** or a store status). operator_id 0 = the visitor's own request. */
void em_privacy_erase(em_app *app, em_erase *e, int64_t operator_id, const char *ip,
		      void (*done)(int status, em_erase *e, void *arg), void *arg);

/* ---- Consent records ----------------------------------------------------- */

/* Inside a write: records a consent (contact_id or vid may be 0/NULL). */
int em_privacy_consent_db(em_db *db, int64_t site_id, int64_t contact_id, const char *vid,
			  const char *purpose, int granted, const char *wording, const char *source,
			  int64_t now);

#endif
