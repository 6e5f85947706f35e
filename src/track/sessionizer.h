/*
** The sessionizer: records a batch of one visitor's events in the store,
** creating the visitor on first sight and starting a new visit after 30
** minutes without events or when a new campaign (utm_source/utm_campaign)
** brings the visitor back. An identify event with an e-mail or external id
** merges the history of other visitor rows of the same person into this one.
**
** Runs on the store writer thread only (inside em_store_write functions);
** it keeps a bounded cache of recent visitors there.
*/
#ifndef EM_SESSIONIZER_H
#define EM_SESSIONIZER_H

#include "store/store.h"
#include "track/event.h"

/* Records b (site_id, vid, events set) and fills b->res. */
int em_sessionize(em_db *db, em_track_batch *b);
/* As em_sessionize, but the visit and visitor rows of plain page traffic are
** updated only by em_sessionize_flush(), which the caller must run before its
** write function returns: one UPDATE per visitor per chunk instead of per hit.
** Used by log import and tail. */
int em_sessionize_deferred(em_db *db, em_track_batch *b);
int em_sessionize_flush(em_db *db);
/* Forgets the writer-side visitor cache. */
void em_sessionize_reset(void);

#endif
