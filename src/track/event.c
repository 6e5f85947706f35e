/*
** Event batches (see event.h).
*/
#include "track/event.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/freelist.h"
#include "core/le.h"

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

/* A batch lives for one beacon: each thread keeps freed ones
** (core/freelist.h), each with the first block of its arena, and hands
** them out again instead of two allocations and two frees per request. A
** batch is freed once its transaction commits, so as many are in flight as
** one group commit holds; at most about 1.5 MB per thread are kept. A kept
** batch is linked through its user field. */
static __thread em_freelist pool = EM_FREELIST_INIT(em_track_batch, user);

em_track_batch *em_track_batch_new_n(int cap)
{
	em_track_batch *b = em_freelist_pop(&pool);
	if (b) {
		em_arena mem = b->mem;
		memset(b, 0, sizeof *b);
		b->mem = mem;
	} else {
		b = em_calloc(1, sizeof *b);
		em_arena_init(&b->mem);
	}
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
	em_arena_reset(&b->mem);
	if (em_freelist_push(&pool, b))
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

/* ---- Journal records (track/journal.h) --------------------------------
** A batch as bytes: fixed-width little-endian integers, doubles as their
** bits, strings as a u32 length (NULL: 0xffffffff) and the bytes. The
** result fields (res) are the store's to fill and are not kept. */

#define NULL_STR 0xffffffffu

typedef struct writer {
	em_buf *b;
	int bad;
} writer;

static void put_u64(writer *o, uint64_t v)
{
	unsigned char p[8];
	em_le_put64(p, v);
	o->bad |= em_buf_append(o->b, p, 8) != 0;
}

static void put_u32(writer *o, uint32_t v)
{
	unsigned char p[4];
	em_le_put32(p, v);
	o->bad |= em_buf_append(o->b, p, 4) != 0;
}

static void put_f64(writer *o, double d)
{
	uint64_t v;
	memcpy(&v, &d, sizeof v);
	put_u64(o, v);
}

static void put_str(writer *o, const char *s)
{
	if (!s) {
		put_u32(o, NULL_STR);
		return;
	}
	size_t n = strlen(s);
	put_u32(o, (uint32_t)n);
	o->bad |= em_buf_append(o->b, s, n) != 0;
}

int em_track_batch_encode(const em_track_batch *b, em_buf *buf)
{
	em_buf_reset(buf);
	writer w = {buf, 0}, *out = &w;
	put_u64(out, (uint64_t)b->site_id);
	put_str(out, b->site_key);
	put_str(out, b->vid);
	put_u32(out, (uint32_t)b->cookieless);
	put_u32(out, (uint32_t)b->source);
	const char *s[] = {b->ip, b->ua, b->device, b->browser, b->os, b->country, b->lang};
	for (size_t i = 0; i < sizeof s / sizeof *s; i++)
		put_str(out, s[i]);
	put_u32(out, (uint32_t)b->nevents);
	for (int i = 0; i < b->nevents; i++) {
		const em_track_event *e = &b->events[i];
		put_u32(out, (uint32_t)e->type);
		put_u64(out, (uint64_t)e->ts_ms);
		const char *es[] = {e->url,  e->title, e->ref,	       e->name,
				    e->data, e->email, e->external_id, e->person_name};
		for (size_t k = 0; k < sizeof es / sizeof *es; k++)
			put_str(out, es[k]);
		put_u32(out, (uint32_t)e->active_s);
		put_f64(out, e->total);
		put_f64(out, e->amount);
		put_u32(out, (uint32_t)e->cart_action);
		put_u32(out, (uint32_t)e->granted);
	}
	return w.bad ? EM_ETOOBIG : 0;
}

typedef struct reader {
	const unsigned char *p, *end;
	int bad;
} reader;

static uint64_t get_u64(reader *r)
{
	if (r->end - r->p < 8) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = em_le_get64(r->p);
	r->p += 8;
	return v;
}

static uint32_t get_u32(reader *r)
{
	if (r->end - r->p < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v = em_le_get32(r->p);
	r->p += 4;
	return v;
}

static double get_f64(reader *r)
{
	uint64_t v = get_u64(r);
	double d;
	memcpy(&d, &v, sizeof d);
	return d;
}

static const char *get_str(reader *r, em_arena *a)
{
	uint32_t n = get_u32(r);
	if (r->bad || n == NULL_STR)
		return NULL;
	if ((size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) {
		r->bad = 1;
		return NULL;
	}
	const char *s = em_arena_strndup(a, (const char *)r->p, n);
	r->p += n;
	return s;
}

/* Copies a string read into a fixed field; 0 when it fits. */
static int get_fixed(reader *r, em_arena *a, char *dst, size_t cap)
{
	const char *s = get_str(r, a);
	if (!s || strlen(s) >= cap)
		return r->bad = 1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

em_track_batch *em_track_batch_decode(const void *data, size_t len)
{
	reader r = {data, (const unsigned char *)data + len, 0};
	em_track_batch *b = em_track_batch_new();
	b->site_id = (int64_t)get_u64(&r);
	get_fixed(&r, &b->mem, b->site_key, sizeof b->site_key);
	get_fixed(&r, &b->mem, b->vid, sizeof b->vid);
	b->cookieless = (int)get_u32(&r);
	b->source = (int)get_u32(&r);
	const char **s[] = {&b->ip, &b->ua, &b->device, &b->browser, &b->os, &b->country, &b->lang};
	for (size_t i = 0; i < sizeof s / sizeof *s; i++)
		*s[i] = get_str(&r, &b->mem);
	/* These four are never NULL in a batch (em_track_batch_new). */
	const char **nn[] = {&b->device, &b->browser, &b->os, &b->country};
	for (size_t i = 0; i < sizeof nn / sizeof *nn; i++)
		if (!*nn[i])
			*nn[i] = "";
	uint32_t n = get_u32(&r);
	if (n > EM_TRACK_MAX_EVENTS)
		r.bad = 1;
	em_track_batch_reserve(b, (int)n);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		em_track_event *e = em_track_batch_add(b);
		e->type = (int)get_u32(&r);
		e->ts_ms = (int64_t)get_u64(&r);
		const char **es[] = {&e->url,  &e->title, &e->ref,	   &e->name,
				     &e->data, &e->email, &e->external_id, &e->person_name};
		for (size_t k = 0; k < sizeof es / sizeof *es; k++)
			*es[k] = get_str(&r, &b->mem);
		e->active_s = (int)get_u32(&r);
		e->total = get_f64(&r);
		e->amount = get_f64(&r);
		e->cart_action = (int)get_u32(&r);
		e->granted = (int)get_u32(&r);
		if (e->type < EM_EV_PAGEVIEW || e->type > EM_EV_CONSENT)
			r.bad = 1;
	}
	if (r.bad || r.p != r.end) {
		em_track_batch_free(b);
		return NULL;
	}
	return b;
}
