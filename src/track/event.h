/*
** What Emma records about visitors: one batch of events from one visitor,
** whether it came from the tracker (POST /t, GET /t.gif) or from a line of a
** web server's access log. The same batch goes through the same sessionizer,
** so log hits become the same visitors, visits and live presence as beacons.
*/
#ifndef EM_TRACK_EVENT_H
#define EM_TRACK_EVENT_H

#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"

enum em_ev_type {
	EM_EV_PAGEVIEW = 1,
	EM_EV_PING,
	EM_EV_EVENT,
	EM_EV_SEARCH,
	EM_EV_CART,
	EM_EV_ORDER,
	EM_EV_IDENTIFY,
	EM_EV_CONSENT,
};

const char *em_ev_type_name(int type);
int em_ev_type_from_name(const char *name);

/* One event. Strings live in the batch's arena; NULL when absent. */
typedef struct em_track_event {
	int type;
	int64_t ts_ms;
	const char *url;
	const char *title;
	const char *ref;
	const char *name;  /* custom event name; search query */
	const char *data;  /* JSON text: props, cart line, order, search results */
	int active_s;	   /* ping */
	double total;	   /* cart total after the change, or order total; < 0 unknown */
	double amount;	   /* cart: qty * price of the change */
	int cart_action;   /* 1 add, 2 remove, 3 set */
	const char *email; /* identify */
	const char *external_id;
	const char *person_name;
	int granted; /* consent */
} em_track_event;

#define EM_TRACK_MAX_EVENTS 100

enum { EM_SRC_BEACON = 0, EM_SRC_LOG = 1 };

/* What the sessionizer learnt, handed to live presence after COMMIT. */
typedef struct em_track_result {
	int64_t visitor_id;
	int64_t visit_id;
	int new_visit;
	int new_visitor;
	int64_t first_seen;
	int64_t visit_started;
	int64_t last_ts;
	int visits;	 /* visits of this visitor so far */
	int visit_pages; /* pageviews in the current visit */
	int visit_active_s;
	double cart_total;
	const char *url; /* last pageview of this batch (arena) or NULL */
	const char *title;
	int64_t page_since;	    /* when that pageview happened */
	const char *entry_referrer; /* referrer of the visit, when it started in this batch */
	const char *email;	    /* identity, when known */
	const char *person_name;
	int consent;
	int merged; /* history of other visitor rows was merged in */
	int left;   /* an order completed or consent withdrawn: nothing special yet */
} em_track_result;

typedef struct em_track_batch {
	em_arena mem;
	int64_t site_id;
	char site_key[65]; /* [a-z0-9_-]{1,64} */
	char vid[64];
	int cookieless; /* vid is the daily keyed hash (consent required, not given) */
	int source;	/* EM_SRC_BEACON or EM_SRC_LOG */
	const char *ip; /* anonymised */
	const char *ua;
	const char *device, *browser, *os, *country;
	const char *lang; /* primary Accept-Language tag of the request (arena), or NULL */
	em_track_event *events;
	int nevents;
	int cap;
	em_track_result res;
	int status; /* store status, on the loop after COMMIT */
	void *user; /* the caller's context (request) */
} em_track_batch;

em_track_batch *em_track_batch_new(void);
/* A batch with room for at most cap events (log hits need one). */
em_track_batch *em_track_batch_new_n(int cap);
void em_track_batch_free(em_track_batch *b);
/* Adds an empty event to the batch; NULL when it is full. */
/* Forgets the site, vid and events read so far (their strings stay in the
** arena until the batch is freed); the batch takes up to
** EM_TRACK_MAX_EVENTS again. */
void em_track_batch_clear(em_track_batch *b);
/* Before the first event is added: the batch will hold at most n. */
void em_track_batch_reserve(em_track_batch *b, int n);
em_track_event *em_track_batch_add(em_track_batch *b);

/* A batch as one record of the ingest journal (track/journal.h): out is
** reset and receives the bytes; EM_ETOOBIG when out's limit cut it short.
** Decoding gives a new batch, or NULL when the bytes are not one. */
int em_track_batch_encode(const em_track_batch *b, em_buf *out);
em_track_batch *em_track_batch_decode(const void *data, size_t len);

#endif
