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

#include "live/rules.h"
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
/* At most max of them, the most recently active first when there are more;
** *total gets how many there are. */
json_t *em_presence_list_recent(int64_t site_id, size_t max, size_t *total);
size_t em_presence_count(void);
/* Live visitors of one site (0 = all sites). */
size_t em_presence_count_site(int64_t site_id);
/* Bytes held by presence (structs, strings, table). */
size_t em_presence_memory(void);
/* One live visitor as the invitation rules read it (loop thread; the
** strings stay valid until presence changes next). */
typedef struct em_presence_view {
	int64_t site_id;
	const char *vid;
	int64_t since, page_since, last_seen;
	int pages, visits;
	double cart_total;
	const char *url, *title, *referrer;
	em_rule_state *rules;
} em_presence_view;
/* Calls fn for every live visitor of site_id (0 = all sites). */
void em_presence_each(int64_t site_id, void (*fn)(em_presence_view *v, void *arg), void *arg);
/* As em_presence_each over about 1/parts of the table from cursor (0 = the
** start); returns the cursor to continue from, 0 after the last part. A pass
** spread over several calls keeps each one short with many live visitors. */
size_t em_presence_each_slice(size_t cursor, size_t parts, void (*fn)(em_presence_view *v, void *arg), void *arg);
/* One live visitor (site_id 0: the first with that vid on any site): 0, or EM_ENOTFOUND. */
int em_presence_get(int64_t site_id, const char *vid, em_presence_view *out);
/* Removes a visitor at once (erase on request). */
void em_presence_forget(int64_t site_id, const char *vid);

#endif
