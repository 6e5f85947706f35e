/*
** Ingest: from an accepted tracking request (or log hit) to a committed batch
** and an updated live view. Owns the per-IP rate limit, IP anonymisation,
** bot filtering, the visitor id rules (DESIGN.md §5, Tracking) and the
** cookieless daily id used until consent.
*/
#ifndef EM_INGEST_H
#define EM_INGEST_H

#include <stdint.h>

#include "app.h"
#include "store/store.h"
#include "track/event.h"
#include "track/sites.h"

/* Start-up, before the loop runs: sites, the id secret, user agents, presence. */
int em_ingest_init(em_app *app, char *err, size_t errlen);
void em_ingest_shutdown(void);
/* What the command line needs without a server: sites, the id secret, user agents. */
int em_ingest_init_offline(struct em_store *store, char *err, size_t errlen);
/* The visitor id of an access-log hit: a keyed hash of site, IP and user
** agent, stable across days so returning visitors are recognised. */
void em_ingest_log_vid(const char *site_key, const char *ip, const char *ua, char *out, size_t outlen);

/* 0 when ip may send now, else seconds to wait (429). Loop thread. */
int em_ingest_rate_check(em_app *app, const char *ip, int64_t now_ms);

/* Fills in the batch's site, anonymised IP, device/browser/os from the UA,
** and the visitor id: the one sent if valid, a cookieless daily id when
** consent is required and not (yet) given, or a new random id. Returns 1
** when the UA is a bot (the caller drops the batch), else 0. */
int em_ingest_prepare(em_app *app, em_track_batch *b, const em_site *site, const char *ip, const char *ua);

/* Queues the batch for the store; done(b) runs once, on the loop, with
** b->status set: 0 when the batch is durable, else why not (answer 503 for
** EM_EAGAIN, else 500). Durable means written to the ingest journal (while
** the store keeps up; docs/storage.md) or committed. After COMMIT, live
** presence is updated. Ingest owns b from here and frees it after both;
** done must not keep it. On a non-zero return (EM_EAGAIN: store queue full)
** done never runs and b is still the caller's. */
int em_ingest_submit(em_app *app, em_track_batch *b, void (*done)(em_track_batch *b));

/* Runs fn (now, or later on the loop) once every batch answered so far is
** applied: live presence and the counters then include it. For views that
** read memory, not the store (the store's reads wait by themselves). */
void em_ingest_when_applied(void (*fn)(void *arg), void *arg);

/* After an erase: what the journal holds and the store has applied leaves
** the disk now, not at the journal's next emptying (loop thread). */
void em_ingest_journal_cut(void);

/* Anonymises an IP in place-free fashion into out. */
void em_ingest_anonymize_ip(const char *ip, int bytes, char *out, size_t outlen);

typedef struct em_ingest_stats {
	uint64_t batches, events, bots, rate_limited, rejected;
	uint64_t lost; /* answered, then refused by the store for good */
} em_ingest_stats;
em_ingest_stats *em_ingest_stats_get(void);

#endif
