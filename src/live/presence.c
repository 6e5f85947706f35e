/*
** Live presence: who is on the site right now (see presence.h).
**
** A chained hash table of live visitors, owned by the loop thread. Each
** visitor is one allocation holding its fixed fields; the strings that vary
** (URL, title, referrer, identity) are allocated to their length, so a live
** visitor costs a few hundred bytes. A sweep once a second removes visitors
** silent for live.timeout and tells the consoles.
*/
#include "live/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "live/hub.h"
#include "live/invite.h"
#include "net/loop.h"
#include "track/sites.h"

typedef struct live {
	struct live *next; /* hash chain */
	uint64_t hash;
	int64_t site_id;
	int64_t visitor_id;
	int64_t since;	    /* visit start */
	int64_t page_since; /* current page since */
	int64_t last_seen;
	int64_t first_seen;
	double cart_total;
	int pages;
	int visits;
	int active_s;
	char vid[64];
	char country[4];
	char device[12];
	char browser[24];
	char *url, *title, *referrer, *contact;
	em_rule_state rules; /* what the invitation rules need beside the above */
} live;

static live **buckets;
static size_t nbuckets;
static size_t count;
static size_t string_bytes;
static int timeout_ms = 5 * 60 * 1000;
static em_timer *sweeper;

static uint64_t hash_of(int64_t site_id, const char *vid)
{
	uint64_t h = 14695981039346656037ull ^ (uint64_t)site_id;
	for (; *vid; vid++)
		h = (h ^ (unsigned char)*vid) * 1099511628211ull;
	return h;
}

static void set_str(char **slot, const char *v)
{
	if (!v)
		return;
	if (*slot && !strcmp(*slot, v))
		return;
	if (*slot)
		string_bytes -= strlen(*slot) + 1;
	em_free(*slot);
	*slot = em_strdup(v);
	string_bytes += strlen(v) + 1;
}

static void live_free(live *v)
{
	char **strs[] = {&v->url, &v->title, &v->referrer, &v->contact};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		if (*strs[i])
			string_bytes -= strlen(*strs[i]) + 1;
		em_free(*strs[i]);
	}
	em_free(v);
}

static void grow(void)
{
	size_t n = nbuckets ? nbuckets * 2 : 1024;
	live **nb = em_calloc(n, sizeof *nb);
	for (size_t i = 0; i < nbuckets; i++) {
		for (live *v = buckets[i], *next; v; v = next) {
			next = v->next;
			v->next = nb[v->hash & (n - 1)];
			nb[v->hash & (n - 1)] = v;
		}
	}
	em_free(buckets);
	buckets = nb;
	nbuckets = n;
}

static live *find(int64_t site_id, const char *vid, uint64_t h)
{
	if (!nbuckets)
		return NULL;
	for (live *v = buckets[h & (nbuckets - 1)]; v; v = v->next)
		if (v->hash == h && v->site_id == site_id && !strcmp(v->vid, vid))
			return v;
	return NULL;
}

static void unlink_live(live *v)
{
	live **pp = &buckets[v->hash & (nbuckets - 1)];
	while (*pp && *pp != v)
		pp = &(*pp)->next;
	if (*pp)
		*pp = v->next;
	count--;
}

static json_t *to_json(const live *v, int64_t now)
{
	char since[32], last[32];
	em_rfc3339(v->since, since);
	em_rfc3339(v->last_seen, last);
	const em_site *site = em_sites_by_id(v->site_id);
	int64_t top = (now - v->page_since) / 1000;
	return json_pack(
		"{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:i, s:b, s:f, s:s?, s:i}",
		"vid", v->vid, "site", site ? site->key : "", "current_url", v->url, "title", v->title,
		"referrer", v->referrer, "country", v->country, "device", v->device, "browser", v->browser,
		"since", since, "last_seen", last, "time_on_page_s", (json_int_t)(top < 0 ? 0 : top), "pages",
		v->pages, "visits", v->visits, "returning", v->visits > 1, "cart_total", v->cart_total,
		"contact", v->contact, "active_s", v->active_s);
}

static void publish(const char *type, const live *v, int64_t now)
{
	if (em_hub_sockets() == 0)
		return;
	json_t *msg = json_pack("{s:s, s:o}", "type", type, "visitor", to_json(v, now));
	em_hub_publish(msg, 0);
	json_decref(msg);
}

static void publish_leave(const live *v)
{
	if (em_hub_sockets() == 0)
		return;
	const em_site *site = em_sites_by_id(v->site_id);
	json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "visitor_leave", "vid", v->vid, "site",
				site ? site->key : "");
	em_hub_publish(msg, 0);
	json_decref(msg);
}

static void sweep(void *arg)
{
	(void)arg;
	int64_t now = em_now_ms();
	for (size_t i = 0; i < nbuckets; i++) {
		live **pp = &buckets[i];
		while (*pp) {
			live *v = *pp;
			if (now - v->last_seen > timeout_ms) {
				*pp = v->next;
				count--;
				publish_leave(v);
				em_invite_on_leave(v->site_id, v->vid);
				live_free(v);
			} else {
				pp = &v->next;
			}
		}
	}
}

void em_presence_init(int timeout_s)
{
	timeout_ms = timeout_s * 1000;
	if (!sweeper)
		sweeper = em_timer_start(1000, 1000, sweep, NULL);
}

void em_presence_shutdown(void)
{
	em_timer_stop(sweeper);
	sweeper = NULL;
	for (size_t i = 0; i < nbuckets; i++)
		for (live *v = buckets[i], *next; v; v = next) {
			next = v->next;
			live_free(v);
		}
	em_free(buckets);
	buckets = NULL;
	nbuckets = count = 0;
}

static void fill(live *v, const em_track_batch *b)
{
	const em_track_result *r = &b->res;
	v->visitor_id = r->visitor_id;
	v->since = r->visit_started;
	v->last_seen = r->last_ts > v->last_seen ? r->last_ts : v->last_seen;
	v->first_seen = r->first_seen;
	v->pages = r->visit_pages;
	v->visits = r->visits;
	v->active_s = r->visit_active_s;
	v->cart_total = r->cart_total;
	if (r->url) {
		set_str(&v->url, r->url);
		set_str(&v->title, r->title ? r->title : "");
		v->page_since = r->page_since;
	}
	if (r->new_visit)
		set_str(&v->referrer, r->entry_referrer ? r->entry_referrer : "");
	if (r->email || r->person_name)
		set_str(&v->contact, r->person_name && r->email ? r->email
				     : r->email			? r->email
								: r->person_name);
	if (b->country && b->country[0])
		em_strlcpy(v->country, b->country, sizeof v->country);
	if (b->device && b->device[0])
		em_strlcpy(v->device, b->device, sizeof v->device);
	if (b->browser && b->browser[0])
		em_strlcpy(v->browser, b->browser, sizeof v->browser);
	em_rule_state_observe(&v->rules, b);
}

static void view_of(live *v, em_presence_view *o)
{
	*o = (em_presence_view){v->site_id, v->vid,	   v->since, v->page_since, v->last_seen, v->pages,
				v->visits,  v->cart_total, v->url,   v->title,	    v->referrer,  &v->rules};
}

void em_presence_apply(const em_track_batch *b)
{
	if (b->status || !b->res.visitor_id)
		return;
	int64_t now = em_now_ms();
	/* Old hits (a log import catching up) are history, not presence. */
	if (now - b->res.last_ts > timeout_ms)
		return;
	uint64_t h = hash_of(b->site_id, b->vid);
	live *v = find(b->site_id, b->vid, h);
	int entered = 0;
	if (!v) {
		if (count + 1 > nbuckets)
			grow();
		v = em_calloc(1, sizeof *v);
		v->hash = h;
		v->site_id = b->site_id;
		em_strlcpy(v->vid, b->vid, sizeof v->vid);
		v->page_since = b->res.visit_started;
		v->next = buckets[h & (nbuckets - 1)];
		buckets[h & (nbuckets - 1)] = v;
		count++;
		entered = 1;
	}
	fill(v, b);
	publish(entered ? "visitor_enter" : "visitor_update", v, now);
	em_presence_view pv;
	view_of(v, &pv);
	em_invite_on_batch(&pv);
}

void em_presence_each(int64_t site_id, void (*fn)(em_presence_view *v, void *arg), void *arg)
{
	em_presence_view pv;
	for (size_t i = 0; i < nbuckets; i++)
		for (live *v = buckets[i]; v; v = v->next)
			if (!site_id || v->site_id == site_id) {
				view_of(v, &pv);
				fn(&pv, arg);
			}
}

size_t em_presence_each_slice(size_t cursor, size_t parts, void (*fn)(em_presence_view *v, void *arg),
			      void *arg)
{
	size_t n = parts ? nbuckets / parts + 1 : nbuckets, end = cursor + n;
	if (cursor >= nbuckets)
		return 0;
	if (end > nbuckets)
		end = nbuckets;
	em_presence_view pv;
	for (size_t i = cursor; i < end; i++)
		for (live *v = buckets[i]; v; v = v->next) {
			view_of(v, &pv);
			fn(&pv, arg);
		}
	return end < nbuckets ? end : 0;
}

int em_presence_get(int64_t site_id, const char *vid, em_presence_view *out)
{
	live *v = NULL;
	if (site_id) {
		v = find(site_id, vid, hash_of(site_id, vid));
	} else {
		for (size_t i = 0; i < nbuckets && !v; i++)
			for (live *x = buckets[i]; x && !v; x = x->next)
				if (!strcmp(x->vid, vid))
					v = x;
	}
	if (!v)
		return EM_ENOTFOUND;
	view_of(v, out);
	return 0;
}

json_t *em_presence_list(int64_t site_id)
{
	int64_t now = em_now_ms();
	json_t *arr = json_array();
	for (size_t i = 0; i < nbuckets; i++)
		for (live *v = buckets[i]; v; v = v->next)
			if (!site_id || v->site_id == site_id)
				json_array_append_new(arr, to_json(v, now));
	return arr;
}

static int by_last_seen_desc(const void *a, const void *b)
{
	const live *x = *(const live *const *)a, *y = *(const live *const *)b;
	return x->last_seen < y->last_seen ? 1 : x->last_seen > y->last_seen ? -1 : 0;
}

json_t *em_presence_list_recent(int64_t site_id, size_t max, size_t *total)
{
	size_t n = em_presence_count_site(site_id);
	*total = n;
	if (n <= max)
		return em_presence_list(site_id);
	live **all = em_malloc(n * sizeof *all);
	size_t k = 0;
	for (size_t i = 0; i < nbuckets; i++)
		for (live *v = buckets[i]; v; v = v->next)
			if ((!site_id || v->site_id == site_id) && k < n)
				all[k++] = v;
	qsort(all, k, sizeof *all, by_last_seen_desc);
	int64_t now = em_now_ms();
	json_t *arr = json_array();
	for (size_t i = 0; i < max && i < k; i++)
		json_array_append_new(arr, to_json(all[i], now));
	em_free(all);
	return arr;
}

size_t em_presence_count(void)
{
	return count;
}

size_t em_presence_count_site(int64_t site_id)
{
	if (!site_id)
		return count;
	size_t n = 0;
	for (size_t i = 0; i < nbuckets; i++)
		for (live *v = buckets[i]; v; v = v->next)
			n += v->site_id == site_id;
	return n;
}

size_t em_presence_memory(void)
{
	return count * sizeof(live) + nbuckets * sizeof(live *) + string_bytes;
}

void em_presence_forget(int64_t site_id, const char *vid)
{
	uint64_t h = hash_of(site_id, vid);
	live *v = find(site_id, vid, h);
	if (!v)
		return;
	unlink_live(v);
	publish_leave(v);
	em_invite_on_leave(v->site_id, v->vid);
	live_free(v);
}

/* ---- Rebuild after a restart ---------------------------------------- */

typedef struct rebuild_ctx {
	int64_t since;
	int n;
} rebuild_ctx;

/* Who was seen within the timeout: the visitors of the events since then
** (event_site_ts, one range per site; CROSS JOIN keeps the sites the outer
** loop), checked against their last_seen, which has no index since every
** page view moves it. */
static int rebuild_fn(em_db *db, void *arg)
{
	rebuild_ctx *x = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT v.site_id, v.vid, v.id, v.first_seen, v.last_seen, v.visits, v.cart_total, "
		"COALESCE(v.email, v.name), s.started_at, s.pageviews, s.active_s, s.referrer, s.country, "
		"s.device, "
		"s.browser, (SELECT url FROM event e WHERE e.visit_id = s.id AND e.type = 'pageview' ORDER "
		"BY e.ts DESC, e.id DESC LIMIT 1), "
		"(SELECT title FROM event e WHERE e.visit_id = s.id AND e.type = 'pageview' ORDER BY e.ts "
		"DESC, e.id DESC LIMIT 1), "
		"(SELECT ts FROM event e WHERE e.visit_id = s.id AND e.type = 'pageview' ORDER BY e.ts DESC, "
		"e.id DESC LIMIT 1) "
		"FROM visitor v JOIN visit s ON s.id = (SELECT id FROM visit WHERE visitor_id = v.id ORDER "
		"BY started_at DESC, id DESC LIMIT 1) "
		"WHERE v.id IN (SELECT e.visitor_id FROM site t CROSS JOIN event e WHERE e.site_id = t.id "
		"AND e.ts >= ?) AND v.last_seen >= ? AND v.merged_into IS NULL",
		"ii", x->since, x->since);
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		const char *vid = em_stmt_text(st, 1);
		int64_t site_id = em_stmt_int(st, 0);
		uint64_t h = hash_of(site_id, vid);
		if (find(site_id, vid, h))
			continue;
		if (count + 1 > nbuckets)
			grow();
		live *v = em_calloc(1, sizeof *v);
		v->hash = h;
		v->site_id = site_id;
		snprintf(v->vid, sizeof v->vid, "%s", vid);
		v->visitor_id = em_stmt_int(st, 2);
		v->first_seen = em_stmt_int(st, 3);
		v->last_seen = em_stmt_int(st, 4);
		v->visits = (int)em_stmt_int(st, 5);
		v->cart_total = em_stmt_double(st, 6);
		set_str(&v->contact, em_stmt_text(st, 7));
		v->since = em_stmt_int(st, 8);
		v->pages = (int)em_stmt_int(st, 9);
		v->active_s = (int)em_stmt_int(st, 10);
		set_str(&v->referrer, em_stmt_text(st, 11));
		snprintf(v->country, sizeof v->country, "%s",
			 em_stmt_text(st, 12) ? em_stmt_text(st, 12) : "");
		snprintf(v->device, sizeof v->device, "%s", em_stmt_text(st, 13) ? em_stmt_text(st, 13) : "");
		snprintf(v->browser, sizeof v->browser, "%s",
			 em_stmt_text(st, 14) ? em_stmt_text(st, 14) : "");
		set_str(&v->url, em_stmt_text(st, 15));
		set_str(&v->title, em_stmt_text(st, 16));
		v->page_since = em_stmt_is_null(st, 17) ? v->since : em_stmt_int(st, 17);
		v->next = buckets[h & (nbuckets - 1)];
		buckets[h & (nbuckets - 1)] = v;
		count++;
		x->n++;
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_presence_rebuild(em_store *s)
{
	rebuild_ctx x = {em_now_ms() - timeout_ms, 0};
	int rc = em_store_read_sync(s, rebuild_fn, &x);
	if (rc == 0)
		em_info("live visitors restored", "count=%d", x.n);
	return rc;
}
