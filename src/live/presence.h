/*
** Live presence: the visitors on each site right now, in memory, owned by the
** loop. Fed by the sessionizer's results after each COMMIT; every change goes
** to the operator consoles as one delta (visitor_enter, visitor_update,
** visitor_leave), so a console receives the list once and then only changes.
** A visitor leaves after live.timeout without events. After a restart the
** list is rebuilt from the store.
*/
#ifndef EM_PRESENCE_H
#define EM_PRESENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "track/event.h"

void em_presence_init(int timeout_s);
void em_presence_shutdown(void);
/* Synchronous, at start-up: visitors seen within the timeout. */
int em_presence_rebuild(em_store *s);
/* Applies a committed batch and publishes the delta. */
void em_presence_apply(const em_track_batch *b);
/* The live visitors of a site (0 = all sites) as a JSON array (new reference). */
json_t *em_presence_list(int64_t site_id);
size_t em_presence_count(void);
/* Bytes held by presence (structs, strings, table). */
size_t em_presence_memory(void);
/* Removes a visitor at once (erase on request). */
void em_presence_forget(int64_t site_id, const char *vid);

#endif
