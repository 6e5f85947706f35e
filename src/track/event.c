/*
** Event batches (see event.h).
*/
#include "track/event.h"

#include <string.h>

#include "core/alloc.h"

static const char *names[] = {NULL,   "pageview", "ping",     "event",	"search",
			      "cart", "order",	  "identify", "consent"};

const char *em_ev_type_name(int type)
{
	return type >= EM_EV_PAGEVIEW && type <= EM_EV_CONSENT ? names[type] : "unknown";
}

int em_ev_type_from_name(const char *name)
{
	for (int i = EM_EV_PAGEVIEW; i <= EM_EV_CONSENT; i++)
		if (!strcmp(names[i], name))
			return i;
	return 0;
}

em_track_batch *em_track_batch_new(void)
{
	return em_track_batch_new_n(EM_TRACK_MAX_EVENTS);
}

em_track_batch *em_track_batch_new_n(int cap)
{
	em_track_batch *b = em_calloc(1, sizeof *b);
	em_arena_init(&b->mem);
	b->cap = cap > 0 && cap <= EM_TRACK_MAX_EVENTS ? cap : EM_TRACK_MAX_EVENTS;
	/* The events are allocated with the first one, for as many as the
	** batch announced (em_track_batch_reserve) or else for cap. */
	b->device = b->browser = b->os = b->country = "";
	return b;
}

void em_track_batch_free(em_track_batch *b)
{
	if (!b)
		return;
	em_arena_free(&b->mem);
	em_free(b);
}

void em_track_batch_clear(em_track_batch *b)
{
	b->nevents = 0;
	b->events = NULL;
	b->cap = EM_TRACK_MAX_EVENTS;
	b->site_key[0] = b->vid[0] = '\0';
}

void em_track_batch_reserve(em_track_batch *b, int n)
{
	if (!b->events && n > 0 && n < b->cap)
		b->cap = n;
}

em_track_event *em_track_batch_add(em_track_batch *b)
{
	if (b->nevents >= b->cap)
		return NULL;
	if (!b->events)
		b->events = em_arena_alloc(&b->mem, sizeof(em_track_event) * (size_t)b->cap);
	em_track_event *e = &b->events[b->nevents++];
	memset(e, 0, sizeof *e);
	e->total = -1;
	return e;
}
