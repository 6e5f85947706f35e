/*
** A contact's timeline (see docs/contacts.md "Timeline"): one list, newest
** first, of everything that happened with the person: visits with their
** page paths, chats, orders, invitations, callbacks, notes and the
** contact's own events (stage changes, merges).
**
** Each source is one indexed query limited to `limit + 1` rows after the
** cursor; the lists are merged by (time, type, id), so a page costs seven
** small queries however long the history is. The cursor names the last item
** shown ("<ms>_<type>_<id>"), which keeps paging stable when new items
** arrive at the top.
*/
#ifndef EM_TIMELINE_H
#define EM_TIMELINE_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

#define EM_TIMELINE_DEFAULT 50
#define EM_TIMELINE_MAX 200
#define EM_TIMELINE_PAGES_MAX 100 /* page path entries per visit */

typedef struct em_timeline_q {
	char contact[32]; /* public id */
	int limit;
	int64_t cursor_at; /* 0 = from the newest */
	int cursor_rank;
	int64_t cursor_id;
	json_t *out; /* {"items":[...], "next_cursor"} */
} em_timeline_q;

/* Parses a cursor into q; 0 or EM_EINVAL. */
int em_timeline_cursor_parse(const char *s, em_timeline_q *q);
/* A store read function (arg: em_timeline_q). EM_ENOTFOUND for no contact. */
int em_timeline_db(em_db *db, void *q);

#endif
