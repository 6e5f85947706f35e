/*
** Proactive invitations (see invite.h).
**
** State, all on the loop thread:
**   - the rule set: an array sorted by site, priority (high first) and id,
**     with a small per-site index; replaced as a whole after every reload;
**   - the history: one entry per visitor who was offered an invitation
**     recently (count today, last dismissal, the visit last invited, the
**     pending invitation). Bounded by HIST_MAX; when full, no automatic
**     invitation is offered to a visitor without an entry ("imposing no"
**     wins over "help yes"). Rebuilt from the invitation table at start.
**
** An invitation is offered in memory at once (so the /t answer of the batch
** that fired the rule already carries it) and its row is inserted through
** the writer; later status changes are UPDATEs by public id queued behind
** that INSERT, so they always find the row. An accepted invitation starts
** its chat only after the acceptance committed.
*/
#include "live/invite.h"

#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/audit.h"
#include "live/hub.h"
#include "live/presence.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/sites.h"

#define DAY_MS 86400000LL
#define HIST_MAX 500000
#define RULES_MAX 1000
/* A visit can outlast midnight: the history keeps "invited in this visit"
** this long even when nothing else is worth keeping. */
#define KEEP_INVITED_MS (6 * 3600 * 1000LL)

enum { ST_OFFERED, ST_SHOWN, ST_ACCEPTED, ST_DISMISSED, ST_IGNORED };
static const char *const status_names[] = {"offered", "shown", "accepted", "dismissed", "ignored"};

typedef struct rule {
	int64_t id;
	char public_id[32];
	int64_t site_id;
	char *name;
	int enabled;
	int priority;
	char *message;
	int64_t department_id;
	char department[32];
	json_t *conditions;
	em_rule_cond *cond; /* NULL when the stored conditions no longer compile */
	int time_based;
	int64_t created_at, updated_at;
} rule;

typedef struct site_rules {
	int64_t site_id;
	size_t first, n;
	int enabled;  /* some rule of the site is enabled */
	int has_time; /* ... and time-based */
	int avail;    /* the timer's pass: an enabled rule's department has a free operator */
} site_rules;

typedef struct invitation {
	char id[32];
	int64_t site_id;
	char vid[64];
	int64_t visit_id;
	int64_t rule_id;
	char rule[32];
	int64_t operator_id;
	char op[32];
	int64_t department_id;
	char *message;
	int status;
	int64_t created_at;
} invitation;

typedef struct hist {
	struct hist *next;
	uint64_t hash;
	int64_t site_id;
	char vid[64];
	int64_t day; /* UTC day of count */
	int count;
	int64_t last_dismissed;
	int64_t last_offered;
	int64_t invited_visit;
	invitation *pending;
} hist;

static struct {
	em_app *app;
	rule *rules;
	size_t nrules;
	site_rules *sites;
	size_t nsites;
	int any_time;
	uint32_t rules_gen; /* bumped on every install; visitors keep static results per generation */
	uint64_t reload_gen, applied_gen;
	hist **buckets;
	size_t nbuckets, nhist;
	int hist_full_warned;
	em_timer *timer;
	int64_t purged_day;
	em_invite_stats st;
} g;

static int64_t day_of(int64_t ms)
{
	return ms / DAY_MS;
}

/* ---- Rule set ------------------------------------------------------------ */

static void rule_clear(rule *r)
{
	em_free(r->name);
	em_free(r->message);
	json_decref(r->conditions);
	em_rule_cond_free(r->cond);
}

static void rules_free(rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_clear(&v[i]);
	em_free(v);
}

/* Takes ownership of v (sorted by site, priority desc, id). */
static void rules_install(rule *v, size_t n)
{
	rules_free(g.rules, g.nrules);
	em_free(g.sites);
	g.rules = v;
	g.nrules = n;
	g.sites = em_calloc(n ? n : 1, sizeof *g.sites);
	if (++g.rules_gen == 0)
		g.rules_gen = 1;
	g.nsites = 0;
	g.any_time = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g.nsites || g.sites[g.nsites - 1].site_id != v[i].site_id)
			g.sites[g.nsites++] = (site_rules){.site_id = v[i].site_id, .first = i};
		site_rules *s = &g.sites[g.nsites - 1];
		s->n++;
		if (v[i].enabled && v[i].cond) {
			s->enabled = 1;
			if (v[i].time_based)
				s->has_time = g.any_time = 1;
		}
	}
}

static const site_rules *site_find(int64_t site_id)
{
	for (size_t i = 0; i < g.nsites; i++)
		if (g.sites[i].site_id == site_id)
			return &g.sites[i];
	return NULL;
}

static rule *rule_find(const char *public_id)
{
	for (size_t i = 0; i < g.nrules; i++)
		if (!strcmp(g.rules[i].public_id, public_id))
			return &g.rules[i];
	return NULL;
}

static json_t *rule_json(const rule *r)
{
	const em_site *site = em_sites_by_id(r->site_id);
	return json_pack("{s:s, s:s, s:s, s:b, s:i, s:s, s:s?, s:O, s:o, s:o}", "id", r->public_id, "name",
			 r->name, "site", site ? site->key : "", "enabled", r->enabled, "priority",
			 r->priority, "message", r->message, "department",
			 r->department[0] ? r->department : NULL, "conditions", r->conditions, "created_at",
			 em_json_time(r->created_at), "updated_at", em_json_time(r->updated_at));
}

json_t *em_invite_rules_json(int64_t site_id)
{
	json_t *a = json_array();
	for (size_t i = 0; i < g.nrules; i++)
		if (!site_id || g.rules[i].site_id == site_id)
			json_array_append_new(a, rule_json(&g.rules[i]));
	return a;
}

json_t *em_invite_rule_json(const char *public_id)
{
	rule *r = rule_find(public_id);
	return r ? rule_json(r) : NULL;
}

/* Loading: rows are read on a reader, compiled on the loop. */
typedef struct load_ctx {
	rule *v;
	size_t n, cap;
	char **cond_text;
	uint64_t gen;
	void (*then)(void *arg);
	void *arg;
} load_ctx;

static char *dup_col(em_stmt *st, int col)
{
	const char *s = em_stmt_text(st, col);
	return em_strdup(s ? s : "");
}

static int load_fn(em_db *db, void *arg)
{
	load_ctx *x = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT r.id, r.public_id, r.site_id, r.name, r.enabled, r.priority, r.conditions, "
		"r.message, r.department_id, d.public_id, r.created_at, r.updated_at "
		"FROM invitation_rule r LEFT JOIN department d ON d.id = r.department_id "
		"ORDER BY r.site_id, r.priority DESC, r.id",
		"");
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 16;
			x->v = em_realloc(x->v, x->cap * sizeof *x->v);
			x->cond_text = em_realloc(x->cond_text, x->cap * sizeof *x->cond_text);
		}
		rule *r = &x->v[x->n];
		memset(r, 0, sizeof *r);
		r->id = em_stmt_int(st, 0);
		snprintf(r->public_id, sizeof r->public_id, "%s", em_stmt_text(st, 1));
		r->site_id = em_stmt_int(st, 2);
		r->name = dup_col(st, 3);
		r->enabled = (int)em_stmt_int(st, 4);
		r->priority = (int)em_stmt_int(st, 5);
		x->cond_text[x->n] = dup_col(st, 6);
		r->message = dup_col(st, 7);
		r->department_id = em_stmt_is_null(st, 8) ? 0 : em_stmt_int(st, 8);
		snprintf(r->department, sizeof r->department, "%s",
			 em_stmt_text(st, 9) ? em_stmt_text(st, 9) : "");
		r->created_at = em_stmt_int(st, 10);
		r->updated_at = em_stmt_int(st, 11);
		x->n++;
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* On the loop: compile and install (when no newer reload was applied). */
static void load_finish(load_ctx *x, int status)
{
	for (size_t i = 0; i < x->n; i++) {
		rule *r = &x->v[i];
		json_error_t je;
		r->conditions = json_loads(x->cond_text[i], 0, &je);
		em_free(x->cond_text[i]);
		char field[64], msg[256];
		if (r->conditions)
			r->cond = em_rule_compile(r->conditions, field, sizeof field, msg, sizeof msg);
		if (!r->conditions)
			r->conditions = json_object();
		if (!r->cond)
			em_warn("invitation rule does not compile; it never fires", "rule=%s", r->public_id);
		else
			r->time_based = em_rule_time_based(r->cond);
	}
	em_free(x->cond_text);
	if (status == 0 && x->gen > g.applied_gen) {
		g.applied_gen = x->gen;
		rules_install(x->v, x->n);
	} else {
		rules_free(x->v, x->n);
	}
}

static void reload_done(int status, void *arg)
{
	load_ctx *x = arg;
	if (status)
		em_warn("cannot reload invitation rules", "rc=%s", em_strerror(status));
	load_finish(x, status);
	if (x->then)
		x->then(x->arg);
	em_free(x);
}

static void rules_reload(void (*then)(void *arg), void *arg)
{
	if (!g.app) { /* shutting down */
		if (then)
			then(arg);
		return;
	}
	load_ctx *x = em_calloc(1, sizeof *x);
	x->gen = ++g.reload_gen;
	x->then = then;
	x->arg = arg;
	if (em_store_read(g.app->store, load_fn, reload_done, x)) {
		em_free(x);
		if (then)
			then(arg);
	}
}

/* ---- History ------------------------------------------------------------- */

static uint64_t hash_of(int64_t site_id, const char *vid)
{
	uint64_t h = 14695981039346656037ull ^ (uint64_t)site_id;
	for (; *vid; vid++)
		h = (h ^ (unsigned char)*vid) * 1099511628211ull;
	return h;
}

static hist *hist_find(int64_t site_id, const char *vid)
{
	if (!g.nbuckets)
		return NULL;
	uint64_t h = hash_of(site_id, vid);
	for (hist *e = g.buckets[h & (g.nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && e->site_id == site_id && !strcmp(e->vid, vid))
			return e;
	return NULL;
}

static void hist_grow(void)
{
	size_t n = g.nbuckets ? g.nbuckets * 2 : 1024;
	hist **nb = em_calloc(n, sizeof *nb);
	for (size_t i = 0; i < g.nbuckets; i++)
		for (hist *e = g.buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	em_free(g.buckets);
	g.buckets = nb;
	g.nbuckets = n;
}

/* The entry of a visitor, created when missing; NULL when the table is full. */
static hist *hist_get(int64_t site_id, const char *vid)
{
	hist *e = hist_find(site_id, vid);
	if (e)
		return e;
	if (g.nhist >= HIST_MAX) {
		if (!g.hist_full_warned++)
			em_warn("invitation history is full; visitors without history get no invitation",
				"max=%d", HIST_MAX);
		return NULL;
	}
	if (g.nhist + 1 > g.nbuckets)
		hist_grow();
	e = em_calloc(1, sizeof *e);
	e->hash = hash_of(site_id, vid);
	e->site_id = site_id;
	snprintf(e->vid, sizeof e->vid, "%s", vid);
	e->next = g.buckets[e->hash & (g.nbuckets - 1)];
	g.buckets[e->hash & (g.nbuckets - 1)] = e;
	g.nhist++;
	return e;
}

static int today_count(const hist *e, int64_t now)
{
	return e && e->day == day_of(now) ? e->count : 0;
}

/* Drops entries that no brake needs any more (once per UTC day). */
static void hist_purge(int64_t now)
{
	int64_t keep_dismiss = (int64_t)g.app->cfg.invite_dismiss_days * DAY_MS;
	size_t dropped = 0;
	for (size_t i = 0; i < g.nbuckets; i++) {
		hist **pp = &g.buckets[i];
		while (*pp) {
			hist *e = *pp;
			if (!e->pending && e->day != day_of(now) && now - e->last_offered > KEEP_INVITED_MS &&
			    (!e->last_dismissed || now - e->last_dismissed >= keep_dismiss)) {
				*pp = e->next;
				em_free(e);
				g.nhist--;
				dropped++;
			} else {
				pp = &e->next;
			}
		}
	}
	g.hist_full_warned = 0;
	if (dropped)
		em_info("invitation history purged", "dropped=%zu kept=%zu", dropped, g.nhist);
}

/* ---- Recording ----------------------------------------------------------- */

static json_t *inv_json(const invitation *i)
{
	const em_site *site = em_sites_by_id(i->site_id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:o}", "id", i->id, "vid", i->vid, "site",
			 site ? site->key : "", "status", status_names[i->status], "rule",
			 i->rule[0] ? i->rule : NULL, "operator", i->op[0] ? i->op : NULL, "message",
			 i->message, "created_at", em_json_time(i->created_at));
}

/* What the widget gets: {"invitation","message","operator"}. */
static json_t *visitor_json(const invitation *i)
{
	json_t *op = i->operator_id ? em_chat_operator_public(i->operator_id) : NULL;
	return json_pack("{s:s, s:s, s:o}", "invitation", i->id, "message", i->message, "operator",
			 op ? op : json_null());
}

static void broadcast(const invitation *i)
{
	if (em_hub_sockets() == 0)
		return;
	json_t *m = json_pack("{s:s, s:o}", "type", "invitation", "invitation", inv_json(i));
	em_hub_publish(m, 0);
	json_decref(m);
}

typedef struct insert_ctx {
	char id[32];
	int64_t site_id;
	char vid[64];
	int64_t visit_id, rule_id, operator_id;
	char *message;
	int64_t created_at;
	json_t *answer; /* the invitation as created, for done */
	em_invite_done done;
	void *arg;
} insert_ctx;

static int insert_fn(em_db *db, void *arg)
{
	insert_ctx *x = arg;
	return em_db_exec(
		db,
		"INSERT INTO invitation (public_id, site_id, vid, visit_id, rule_id, operator_id, message, "
		"status, created_at) VALUES (?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), NULLIF(?, 0), ?, "
		"'offered', ?)",
		"titiiiti", x->id, x->site_id, x->vid, x->visit_id, x->rule_id, x->operator_id, x->message,
		x->created_at);
}

static void drop_pending(hist *e);

static void insert_done(int status, void *arg)
{
	insert_ctx *x = arg;
	em_invite_result res = {.status = status, .obj = x->answer};
	if (status) {
		em_warn("cannot record an invitation", "id=%s rc=%s", x->id, em_strerror(status));
		/* Nobody may answer an invitation that is not stored. */
		hist *e = hist_find(x->site_id, x->vid);
		if (e && e->pending && !strcmp(e->pending->id, x->id))
			drop_pending(e);
	}
	if (x->done)
		x->done(&res, x->arg);
	json_decref(x->answer);
	em_free(x->message);
	em_free(x);
}

typedef struct update_ctx {
	char id[32];
	int status;
	int64_t at;
	/* accepted: start the chat after COMMIT */
	int64_t site_id, operator_id, department_id;
	char vid[64];
	int64_t row_id;
} update_ctx;

static int update_fn(em_db *db, void *arg)
{
	update_ctx *x = arg;
	int rc;
	if (x->status == ST_SHOWN)
		rc = em_db_exec(
			db,
			"UPDATE invitation SET status = 'shown' WHERE public_id = ? AND status = 'offered'",
			"t", x->id);
	else
		rc = em_db_exec(db, "UPDATE invitation SET status = ?, responded_at = ? WHERE public_id = ?",
				"tit", status_names[x->status], x->at, x->id);
	if (rc || x->status != ST_ACCEPTED)
		return rc;
	em_stmt *st = em_db_prepare(db, "SELECT id FROM invitation WHERE public_id = ?", "t", x->id);
	if (em_stmt_step(st) == 1)
		x->row_id = em_stmt_int(st, 0);
	em_stmt_done(st);
	return 0;
}

static void update_done(int status, void *arg)
{
	update_ctx *x = arg;
	if (status)
		em_warn("cannot record an invitation's status", "id=%s status=%s rc=%s", x->id,
			status_names[x->status], em_strerror(status));
	else if (x->status == ST_ACCEPTED && x->row_id)
		em_chat_start_from_invitation(x->site_id, x->vid, x->row_id, x->operator_id,
					      x->department_id);
	em_free(x);
}

static void record_status(const invitation *i, int status, int64_t now)
{
	update_ctx *x = em_calloc(1, sizeof *x);
	snprintf(x->id, sizeof x->id, "%s", i->id);
	x->status = status;
	x->at = now;
	x->site_id = i->site_id;
	snprintf(x->vid, sizeof x->vid, "%s", i->vid);
	x->operator_id = i->operator_id;
	x->department_id = i->department_id;
	int rc = em_store_write(g.app->store, update_fn, update_done, x);
	if (rc) {
		em_warn("cannot record an invitation's status", "id=%s rc=%s", i->id, em_strerror(rc));
		em_free(x);
	}
}

static void inv_free(invitation *i)
{
	em_free(i->message);
	em_free(i);
}

static void drop_pending(hist *e)
{
	inv_free(e->pending);
	e->pending = NULL;
	g.st.pending--;
}

/* Moves the pending invitation of e to a final status. */
static void finish(hist *e, int status, int64_t now)
{
	invitation *i = e->pending;
	i->status = status;
	if (status == ST_DISMISSED)
		e->last_dismissed = now;
	if (status == ST_ACCEPTED)
		g.st.accepted++;
	else if (status == ST_DISMISSED)
		g.st.dismissed++;
	else
		g.st.ignored++;
	record_status(i, status, now);
	broadcast(i);
	drop_pending(e);
}

/* Offers an invitation; returns it (owned by the history entry) or NULL. */
static invitation *offer(hist *e, const em_presence_view *v, const rule *r, int64_t operator_id,
			 const char *operator_public_id, const char *tmpl, int64_t now, em_invite_done done,
			 void *arg)
{
	invitation *i = em_calloc(1, sizeof *i);
	i->id[0] = 'i';
	i->id[1] = 'n';
	i->id[2] = 'v';
	i->id[3] = '_';
	em_id_random(i->id + 4, sizeof i->id - 4, 10);
	i->site_id = v->site_id;
	snprintf(i->vid, sizeof i->vid, "%s", v->vid);
	i->visit_id = v->rules->visit_id;
	if (r) {
		i->rule_id = r->id;
		snprintf(i->rule, sizeof i->rule, "%s", r->public_id);
		i->department_id = r->department_id;
	}
	i->operator_id = operator_id;
	snprintf(i->op, sizeof i->op, "%s", operator_public_id ? operator_public_id : "");
	i->message = em_rule_fill_message(tmpl, v->title, v->cart_total);
	i->status = ST_OFFERED;
	i->created_at = now;

	insert_ctx *x = em_calloc(1, sizeof *x);
	memcpy(x->id, i->id, sizeof x->id);
	x->site_id = i->site_id;
	memcpy(x->vid, i->vid, sizeof x->vid);
	x->visit_id = i->visit_id;
	x->rule_id = i->rule_id;
	x->operator_id = i->operator_id;
	x->message = em_strdup(i->message);
	x->created_at = now;
	x->answer = inv_json(i);
	x->done = done;
	x->arg = arg;
	int rc = em_store_write(g.app->store, insert_fn, insert_done, x);
	if (rc) {
		em_warn("cannot record an invitation", "rc=%s", em_strerror(rc));
		json_decref(x->answer);
		em_free(x->message);
		em_free(x);
		inv_free(i);
		if (done) {
			em_invite_result res = {.status = rc};
			done(&res, arg);
		}
		return NULL;
	}

	if (e->day != day_of(now)) {
		e->day = day_of(now);
		e->count = 0;
	}
	e->count++;
	e->last_offered = now;
	if (i->visit_id)
		e->invited_visit = i->visit_id;
	v->rules->invited = 1;
	e->pending = i;
	g.st.pending++;
	g.st.offered++;
	broadcast(i);
	json_t *m = visitor_json(i);
	json_object_set_new(m, "type", json_string("invite"));
	em_chat_send_to_visitor(i->site_id, i->vid, m);
	json_decref(m);
	return i;
}

/* ---- Evaluation ---------------------------------------------------------- */

/* Considers one live visitor for the rules of their site. */
static void consider(em_presence_view *v, int64_t now, int timer)
{
	const site_rules *sr = site_find(v->site_id);
	if (!sr || !sr->enabled || (timer && (!sr->has_time || !sr->avail)))
		return;
	em_rule_state *st = v->rules;
	if (st->invited || !st->visit_id || st->no_widget)
		return;
	hist *e = hist_find(v->site_id, v->vid);
	const em_config *cfg = &g.app->cfg;
	if (e) {
		if (e->pending)
			return;
		if (e->invited_visit == st->visit_id) {
			st->invited = 1;
			return;
		}
		/* The brakes that need no other module, before any matching. */
		if (today_count(e, now) >= cfg->invite_daily_cap ||
		    (e->last_dismissed &&
		     now - e->last_dismissed < (int64_t)cfg->invite_dismiss_days * DAY_MS))
			return;
	} else if (cfg->invite_daily_cap <= 0) {
		return;
	}
	em_rule_facts f = {.now = now,
			   .visit_started = v->since,
			   .page_since = v->page_since,
			   .last_seen = v->last_seen,
			   .pages = v->pages,
			   .visits = v->visits,
			   .cart_total = v->cart_total,
			   .url = v->url,
			   .referrer = v->referrer,
			   .st = st};
	const rule *hit = NULL;
	g.st.evaluations++;
	/* The static half of the first 32 rules is kept per visitor until the
	** next batch or rule change; the timer then only checks the clock. */
	if (!timer || st->static_gen != g.rules_gen) {
		uint32_t mask = 0;
		for (size_t i = 0; i < sr->n && i < 32; i++) {
			const rule *r = &g.rules[sr->first + i];
			if (r->enabled && r->cond && em_rule_match_static(r->cond, &f))
				mask |= 1u << i;
		}
		st->static_ok = mask;
		st->static_gen = g.rules_gen;
	}
	for (size_t i = 0; i < sr->n && !hit; i++) {
		const rule *r = &g.rules[sr->first + i];
		if (!r->enabled || !r->cond)
			continue;
		if (i < 32 ? ((st->static_ok >> i) & 1) && em_rule_match_time(r->cond, &f)
			   : em_rule_match(r->cond, &f))
			hit = r;
	}
	if (!hit)
		return;
	em_brake_in in = {.manual = 0,
			  .in_chat = em_chat_visitor_in_chat(v->site_id, v->vid),
			  .today_count = today_count(e, now),
			  .daily_cap = cfg->invite_daily_cap,
			  .last_dismissed = e ? e->last_dismissed : 0,
			  .dismiss_days = cfg->invite_dismiss_days,
			  .chatted_today = em_chat_visitor_chatted_today(v->site_id, v->vid),
			  .available = em_chat_available(v->site_id, hit->department_id),
			  .now = now};
	if (em_brake_check(&in) != EM_BRAKE_NONE)
		return;
	if (!e && !(e = hist_get(v->site_id, v->vid)))
		return;
	offer(e, v, hit, 0, NULL, hit->message, now, NULL, NULL);
}

int em_invite_site_has_rules(int64_t site_id)
{
	const site_rules *sr = g.app ? site_find(site_id) : NULL;
	return sr && sr->enabled;
}

void em_invite_on_batch(em_presence_view *v)
{
	if (!g.app)
		return;
	int64_t now = em_now_ms();
	hist *e = hist_find(v->site_id, v->vid);
	/* A pending invitation belongs to its visit: a new visit ends it. */
	if (e && e->pending && e->pending->visit_id && v->rules->visit_id &&
	    e->pending->visit_id != v->rules->visit_id)
		finish(e, ST_IGNORED, now);
	consider(v, now, 0);
}

void em_invite_on_leave(int64_t site_id, const char *vid)
{
	if (!g.app)
		return;
	hist *e = hist_find(site_id, vid);
	if (e && e->pending)
		finish(e, ST_IGNORED, em_now_ms());
}

static void tick_one(em_presence_view *v, void *arg)
{
	consider(v, *(int64_t *)arg, 1);
}

/* The timer runs every 1000/TICK_PARTS ms and evaluates one part of the live
** visitors each time, so every visitor is considered about once a second and
** no single run holds the loop for the whole table. */
#define TICK_PARTS 10

static void tick(void *arg)
{
	(void)arg;
	static size_t cursor;
	static uint64_t pass_us;
	int64_t now = em_now_ms();
	if (cursor == 0) {
		if (day_of(now) != g.purged_day) {
			g.purged_day = day_of(now);
			hist_purge(now);
		}
		if (!g.any_time)
			return;
		/* Sites where no rule could be offered now (nobody free) are skipped whole. */
		for (size_t i = 0; i < g.nsites; i++) {
			site_rules *sr = &g.sites[i];
			sr->avail = 0;
			for (size_t k = sr->first; sr->has_time && !sr->avail && k < sr->first + sr->n; k++)
				sr->avail = g.rules[k].enabled &&
					    em_chat_available(sr->site_id, g.rules[k].department_id);
		}
		pass_us = 0;
	}
	uint64_t t0 = em_mono_us();
	cursor = em_presence_each_slice(cursor, TICK_PARTS, tick_one, &now);
	uint64_t us = em_mono_us() - t0;
	pass_us += us;
	if (us > g.st.slice_us_max)
		g.st.slice_us_max = us;
	if (cursor == 0)
		g.st.pass_us_last = pass_us;
}

json_t *em_invite_pending(int64_t site_id, const char *vid)
{
	hist *e = g.app ? hist_find(site_id, vid) : NULL;
	return e && e->pending ? visitor_json(e->pending) : NULL;
}

/* ---- The widget's answers (chat core hooks) ------------------------------ */

static hist *pending_of(int64_t site_id, const char *vid, const char *id)
{
	hist *e = hist_find(site_id, vid);
	return e && e->pending && id && !strcmp(e->pending->id, id) ? e : NULL;
}

static void hook_shown(int64_t site_id, const char *vid, const char *id)
{
	hist *e = pending_of(site_id, vid, id);
	if (!e || e->pending->status != ST_OFFERED)
		return;
	e->pending->status = ST_SHOWN;
	g.st.shown++;
	record_status(e->pending, ST_SHOWN, em_now_ms());
	broadcast(e->pending);
}

static void hook_answer(int64_t site_id, const char *vid, const char *id, int accepted)
{
	hist *e = pending_of(site_id, vid, id);
	if (!e)
		return;
	if (e->pending->status == ST_OFFERED)
		g.st.shown++; /* answered, so it was shown */
	finish(e, accepted ? ST_ACCEPTED : ST_DISMISSED, em_now_ms());
}

static const em_chat_invite_hooks hooks = {em_invite_pending, hook_shown, hook_answer};

/* ---- Manual invitations -------------------------------------------------- */

void em_invite_manual(em_app *app, int64_t operator_id, const char *operator_public_id, const char *ip,
		      int64_t site_id, const char *vid, const char *message, em_invite_done done, void *arg)
{
	em_invite_result res = {0};
	em_presence_view v;
	if (em_presence_get(site_id, vid, &v)) {
		res.status = EM_ENOTFOUND;
		snprintf(res.message, sizeof res.message, "the visitor is not on the site now");
		done(&res, arg);
		return;
	}
	int64_t now = em_now_ms();
	hist *e = hist_find(v.site_id, v.vid);
	em_brake_in in = {.manual = 1,
			  .in_chat = em_chat_visitor_in_chat(v.site_id, v.vid),
			  .pending = e && e->pending,
			  .today_count = today_count(e, now),
			  .daily_cap = app->cfg.invite_daily_cap,
			  .last_dismissed = e ? e->last_dismissed : 0,
			  .dismiss_days = app->cfg.invite_dismiss_days,
			  .available = 1,
			  .now = now};
	int brake = v.rules->no_widget ? -1 : em_brake_check(&in);
	if (brake) {
		res.status = EM_EEXIST;
		snprintf(res.field, sizeof res.field, "vid");
		snprintf(res.message, sizeof res.message, "%s",
			 brake < 0 ? "this visitor has no widget to show an invitation in (cookieless or "
				     "from an "
				     "access log)"
				   : em_brake_message(brake));
		done(&res, arg);
		return;
	}
	if (!e && !(e = hist_get(v.site_id, v.vid))) {
		res.status = EM_EAGAIN;
		done(&res, arg);
		return;
	}
	invitation *i = offer(e, &v, NULL, operator_id, operator_public_id, message, now, done, arg);
	if (i)
		em_audit(app, operator_id, "invitation.create", i->id, ip, i->vid);
}

/* ---- Rules: create, update, delete --------------------------------------- */

enum { JOB_CREATE, JOB_UPDATE, JOB_DELETE };

typedef struct rule_job {
	int kind;
	em_app *app;
	int64_t operator_id;
	char ip[64];
	char public_id[32];
	char *name, *message, *conditions;
	int64_t site_id;
	int enabled, priority;
	char department[32];
	int64_t now;
	em_invite_result res;
	em_invite_done done;
	void *arg;
} rule_job;

static void job_free(rule_job *j)
{
	em_free(j->name);
	em_free(j->message);
	em_free(j->conditions);
	em_free(j);
}

static int job_fail(rule_job *j, int status, const char *field, const char *msg)
{
	j->res.status = status;
	snprintf(j->res.field, sizeof j->res.field, "%s", field ? field : "");
	snprintf(j->res.message, sizeof j->res.message, "%s", msg ? msg : "");
	return status;
}

static int rule_write_fn(em_db *db, void *arg)
{
	rule_job *j = arg;
	int64_t id = 0, dept = 0;
	if (j->kind != JOB_CREATE) {
		em_stmt *st = em_db_prepare(db, "SELECT id FROM invitation_rule WHERE public_id = ?", "t",
					    j->public_id);
		int rc = em_stmt_step(st);
		if (rc == 1)
			id = em_stmt_int(st, 0);
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (!id)
			return job_fail(j, EM_ENOTFOUND, NULL, "no such rule");
	}
	if (j->kind == JOB_DELETE) {
		/* The rule's invitations stay recorded, without their rule. */
		int rc = em_db_exec(db, "UPDATE invitation SET rule_id = NULL WHERE rule_id = ?", "i", id);
		return rc ? rc : em_db_exec(db, "DELETE FROM invitation_rule WHERE id = ?", "i", id);
	}
	if (j->department[0]) {
		em_stmt *st = em_db_prepare(db, "SELECT id, site_id FROM department WHERE public_id = ?", "t",
					    j->department);
		int rc = em_stmt_step(st);
		int64_t dsite = 0;
		if (rc == 1) {
			dept = em_stmt_int(st, 0);
			dsite = em_stmt_is_null(st, 1) ? 0 : em_stmt_int(st, 1);
		}
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (!dept)
			return job_fail(j, EM_EINVAL, "department", "no such department");
		if (dsite && dsite != j->site_id)
			return job_fail(j, EM_EINVAL, "department", "the department belongs to another site");
	}
	if (j->kind == JOB_CREATE) {
		em_stmt *st = em_db_prepare(db, "SELECT COUNT(*) FROM invitation_rule", "");
		int rc = em_stmt_step(st);
		int64_t n = rc == 1 ? em_stmt_int(st, 0) : 0;
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (n >= RULES_MAX)
			return job_fail(j, EM_ERANGE, NULL, "at most 1000 rules; delete one first");
		return em_db_exec(
			db,
			"INSERT INTO invitation_rule (public_id, site_id, name, enabled, priority, "
			"conditions, "
			"message, department_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
			"NULLIF(?, 0), ?, ?)",
			"titiittiii", j->public_id, j->site_id, j->name, (int64_t)j->enabled,
			(int64_t)j->priority, j->conditions, j->message, dept, j->now, j->now);
	}
	return em_db_exec(db,
			  "UPDATE invitation_rule SET site_id = ?, name = ?, enabled = ?, priority = ?, "
			  "conditions = ?, "
			  "message = ?, department_id = NULLIF(?, 0), updated_at = ? WHERE id = ?",
			  "itiittiii", j->site_id, j->name, (int64_t)j->enabled, (int64_t)j->priority,
			  j->conditions, j->message, dept, j->now, id);
}

static void job_reloaded(void *arg)
{
	rule_job *j = arg;
	json_t *obj = j->kind == JOB_DELETE ? NULL : em_invite_rule_json(j->public_id);
	j->res.obj = obj;
	j->done(&j->res, j->arg);
	json_decref(obj);
	job_free(j);
}

static void rule_written(int status, void *arg)
{
	rule_job *j = arg;
	if (status) {
		if (!j->res.status)
			j->res.status = status;
		j->done(&j->res, j->arg);
		job_free(j);
		return;
	}
	static const char *const actions[] = {"rule.create", "rule.update", "rule.delete"};
	em_audit(j->app, j->operator_id, actions[j->kind], j->public_id, j->ip, j->name);
	rules_reload(job_reloaded, j);
}

int em_invite_rule_validate(const json_t *conditions, em_invite_result *res)
{
	em_rule_cond *c =
		em_rule_compile(conditions, res->field, sizeof res->field, res->message, sizeof res->message);
	if (!c) {
		res->status = EM_EINVAL;
		return EM_EINVAL;
	}
	em_rule_cond_free(c);
	return 0;
}

static void job_submit(rule_job *j)
{
	j->now = em_now_ms();
	int rc = em_store_write(j->app->store, rule_write_fn, rule_written, j);
	if (rc) {
		j->res.status = rc;
		j->done(&j->res, j->arg);
		job_free(j);
	}
}

static rule_job *job_new(int kind, em_app *app, int64_t operator_id, const char *ip, em_invite_done done,
			 void *arg)
{
	rule_job *j = em_calloc(1, sizeof *j);
	j->kind = kind;
	j->app = app;
	j->operator_id = operator_id;
	snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
	j->done = done;
	j->arg = arg;
	return j;
}

/* Fills the job from in over the defaults (create) or the current rule
** (update); -1 after answering a validation error through done. */
static int job_fill(rule_job *j, const em_rule_input *in, const rule *cur)
{
	em_invite_result *res = &j->res;
	const json_t *cond = in->conditions ? in->conditions : cur ? cur->conditions : NULL;
	if (!cond || em_invite_rule_validate(cond, res)) {
		if (!cond)
			job_fail(j, EM_EINVAL, "conditions", "conditions is required");
		return -1;
	}
	j->conditions = json_dumps(cond, JSON_COMPACT | JSON_SORT_KEYS);
	const char *name = in->name ? in->name : cur ? cur->name : NULL;
	const char *message = in->message ? in->message : cur ? cur->message : NULL;
	if (!name || !*name)
		return job_fail(j, EM_EINVAL, "name", "name is required"), -1;
	if (!message || !*message)
		return job_fail(j, EM_EINVAL, "message", "message is required"), -1;
	j->name = em_strdup(name);
	j->message = em_strdup(message);
	j->site_id = in->site_id ? in->site_id : cur ? cur->site_id : 0;
	j->enabled = in->has_enabled ? in->enabled : cur ? cur->enabled : 1;
	j->priority = in->has_priority ? (int)in->priority : cur ? cur->priority : 0;
	snprintf(j->department, sizeof j->department, "%s",
		 in->department ? in->department
		 : cur		? cur->department
				: "");
	return 0;
}

void em_invite_rule_create(em_app *app, int64_t operator_id, const char *ip, const em_rule_input *in,
			   em_invite_done done, void *arg)
{
	rule_job *j = job_new(JOB_CREATE, app, operator_id, ip, done, arg);
	snprintf(j->public_id, sizeof j->public_id, "rule_");
	em_id_random(j->public_id + 5, sizeof j->public_id - 5, 10);
	if (job_fill(j, in, NULL)) {
		done(&j->res, arg);
		job_free(j);
		return;
	}
	job_submit(j);
}

void em_invite_rule_update(em_app *app, int64_t operator_id, const char *ip, const char *public_id,
			   const em_rule_input *in, em_invite_done done, void *arg)
{
	rule_job *j = job_new(JOB_UPDATE, app, operator_id, ip, done, arg);
	snprintf(j->public_id, sizeof j->public_id, "%s", public_id);
	const rule *cur = rule_find(public_id);
	if (!cur)
		job_fail(j, EM_ENOTFOUND, NULL, "no such rule");
	if (!cur || job_fill(j, in, cur)) {
		done(&j->res, arg);
		job_free(j);
		return;
	}
	job_submit(j);
}

void em_invite_rule_delete(em_app *app, int64_t operator_id, const char *ip, const char *public_id,
			   em_invite_done done, void *arg)
{
	rule_job *j = job_new(JOB_DELETE, app, operator_id, ip, done, arg);
	snprintf(j->public_id, sizeof j->public_id, "%s", public_id);
	const rule *cur = rule_find(public_id);
	if (!cur) {
		job_fail(j, EM_ENOTFOUND, NULL, "no such rule");
		done(&j->res, arg);
		job_free(j);
		return;
	}
	j->name = em_strdup(cur->name);
	job_submit(j);
}

/* ---- Reading: stats and the list ----------------------------------------- */

typedef struct read_job {
	int64_t site_id, since, before_id;
	int limit, days;
	char status[16];
	json_t *out;
	em_invite_done done;
	void *arg;
} read_job;

static double rate(json_int_t a, json_int_t b)
{
	return b > 0 ? (double)a / (double)b : 0.0;
}

static json_t *stats_row(json_int_t offered, json_int_t shown, json_int_t accepted, json_int_t dismissed,
			 json_int_t ignored, json_int_t chats, json_int_t orders)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "offered", offered, "shown", shown,
			 "accepted", accepted, "dismissed", dismissed, "ignored", ignored, "acceptance_rate",
			 rate(accepted, offered), "chats", chats, "orders", orders);
}

static int stats_fn(em_db *db, void *arg)
{
	read_job *x = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT COALESCE(i.rule_id, 0), CASE WHEN i.rule_id IS NULL AND i.operator_id IS NOT NULL "
		"THEN 1 "
		"ELSE 0 END, COUNT(*), "
		"SUM(CASE WHEN i.status IN ('shown', 'accepted', 'dismissed') THEN 1 ELSE 0 END), "
		"SUM(CASE WHEN i.status = 'accepted' THEN 1 ELSE 0 END), "
		"SUM(CASE WHEN i.status = 'dismissed' THEN 1 ELSE 0 END), "
		"SUM(CASE WHEN i.status = 'ignored' THEN 1 ELSE 0 END), "
		"SUM(CASE WHEN EXISTS (SELECT 1 FROM conversation c WHERE c.invitation_id = i.id) THEN 1 "
		"ELSE 0 "
		"END), "
		"SUM(CASE WHEN i.status = 'accepted' AND i.visit_id IS NOT NULL THEN (SELECT COUNT(*) FROM "
		"event e "
		"WHERE e.visit_id = i.visit_id AND e.type = 'order' AND e.ts >= i.responded_at) ELSE 0 END) "
		"FROM invitation i WHERE i.created_at >= ? AND (? = 0 OR i.site_id = ?) "
		"GROUP BY COALESCE(i.rule_id, 0), CASE WHEN i.rule_id IS NULL AND i.operator_id IS NOT NULL "
		"THEN 1 "
		"ELSE 0 END",
		"iii", x->since, x->site_id, x->site_id);
	if (!st)
		return EM_EIO;
	x->out = json_array();
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *row = stats_row(em_stmt_int(st, 2), em_stmt_int(st, 3), em_stmt_int(st, 4),
					em_stmt_int(st, 5), em_stmt_int(st, 6), em_stmt_int(st, 7),
					em_stmt_int(st, 8));
		json_object_set_new(row, "rule_id", json_integer(em_stmt_int(st, 0)));
		json_object_set_new(row, "manual", json_boolean(em_stmt_int(st, 1)));
		json_array_append_new(x->out, row);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void stats_done(int status, void *arg)
{
	read_job *x = arg;
	em_invite_result res = {.status = status};
	if (!status) {
		json_t *rules = json_array(), *zero = stats_row(0, 0, 0, 0, 0, 0, 0);
		json_t *manual = json_deep_copy(zero), *removed = json_deep_copy(zero);
		/* Every rule of the site, also those that never fired. */
		for (size_t i = 0; i < g.nrules; i++) {
			const rule *r = &g.rules[i];
			if (x->site_id && r->site_id != x->site_id)
				continue;
			json_t *row = NULL;
			size_t k;
			json_t *s;
			json_array_foreach(x->out, k, s) if (em_json_int(s, "rule_id", 0) == r->id) row =
				json_deep_copy(s);
			if (!row)
				row = json_deep_copy(zero);
			json_object_del(row, "rule_id");
			json_object_del(row, "manual");
			json_object_set_new(row, "rule",
					    json_pack("{s:s, s:s, s:b}", "id", r->public_id, "name", r->name,
						      "enabled", r->enabled));
			json_array_append_new(rules, row);
		}
		size_t k;
		json_t *s;
		json_array_foreach(x->out, k, s)
		{
			if (em_json_int(s, "rule_id", 0))
				continue;
			json_t *dst = json_is_true(json_object_get(s, "manual")) ? manual : removed;
			json_object_update(dst, s);
			json_object_del(dst, "rule_id");
			json_object_del(dst, "manual");
		}
		json_decref(zero);
		res.obj = json_pack("{s:i, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "days", x->days,
				    "rules", rules, "manual", manual, "deleted_rules", removed, "engine",
				    "evaluations", (json_int_t)g.st.evaluations, "slice_us_max",
				    (json_int_t)g.st.slice_us_max, "pass_us_last",
				    (json_int_t)g.st.pass_us_last, "pending", (json_int_t)g.st.pending,
				    "history", (json_int_t)g.nhist);
	}
	x->done(&res, x->arg);
	json_decref(res.obj);
	json_decref(x->out);
	em_free(x);
}

void em_invite_rule_stats(em_app *app, int64_t site_id, int days, em_invite_done done, void *arg)
{
	read_job *x = em_calloc(1, sizeof *x);
	x->site_id = site_id;
	x->since = em_now_ms() - (int64_t)days * DAY_MS;
	x->days = days;
	x->done = done;
	x->arg = arg;
	int rc = em_store_read(app->store, stats_fn, stats_done, x);
	if (rc) {
		em_invite_result res = {.status = rc};
		em_free(x);
		done(&res, arg);
	}
}

/* The columns and joins of the invitation list. */
#define LIST_FROM \
	"SELECT i.id, i.public_id, i.site_id, i.vid, i.status, r.public_id, r.name, o.public_id, " \
	"o.name, i.message, i.created_at, i.responded_at, " \
	"(SELECT c.public_id FROM conversation c WHERE c.invitation_id = i.id ORDER BY c.id " \
	"LIMIT 1) " \
	"FROM invitation i LEFT JOIN invitation_rule r ON r.id = i.rule_id " \
	"LEFT JOIN operator o ON o.id = i.operator_id "

static int list_fn(em_db *db, void *arg)
{
	read_job *x = arg;
	/* Newest first from the cursor on (none: every id is below INT64_MAX);
	** with a status, through invitation_status (status, id). */
	int64_t below = x->before_id ? x->before_id : INT64_MAX;
	em_stmt *st = x->status[0]
			      ? em_db_prepare(db,
					      LIST_FROM
					      "WHERE i.status = ? AND (? = 0 OR i.site_id = ?) AND i.id < ? "
					      "ORDER BY i.id DESC LIMIT ?",
					      "tiiii", x->status, x->site_id, x->site_id, below,
					      (int64_t)x->limit + 1)
			      : em_db_prepare(db,
					      LIST_FROM "WHERE (? = 0 OR i.site_id = ?) AND i.id < ? "
							"ORDER BY i.id DESC LIMIT ?",
					      "iiii", x->site_id, x->site_id, below, (int64_t)x->limit + 1);
	if (!st)
		return EM_EIO;
	json_t *a = json_array();
	int rc, n = 0;
	int64_t last = 0, next = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n == x->limit) {
			next = last;
			break;
		}
		const em_site *site = em_sites_by_id(em_stmt_int(st, 2));
		json_t *jr = em_stmt_text(st, 5) ? json_pack("{s:s, s:s}", "id", em_stmt_text(st, 5), "name",
							     em_stmt_text(st, 6))
						 : json_null();
		json_t *op = em_stmt_text(st, 7) ? json_pack("{s:s, s:s}", "id", em_stmt_text(st, 7), "name",
							     em_stmt_text(st, 8))
						 : json_null();
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:s?}", "id",
				     em_stmt_text(st, 1), "site", site ? site->key : "", "vid",
				     em_stmt_text(st, 3), "status", em_stmt_text(st, 4), "rule", jr,
				     "operator", op, "message", em_stmt_text(st, 9), "created_at",
				     em_json_time(em_stmt_int(st, 10)), "responded_at",
				     em_json_time(em_stmt_is_null(st, 11) ? 0 : em_stmt_int(st, 11)),
				     "conversation", em_stmt_text(st, 12)));
		last = em_stmt_int(st, 0);
		n++;
	}
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(a);
		return EM_EIO;
	}
	x->out = json_pack("{s:o, s:I}", "invitations", a, "next", (json_int_t)next);
	return 0;
}

static void list_done(int status, void *arg)
{
	read_job *x = arg;
	em_invite_result res = {.status = status, .obj = status ? NULL : x->out};
	x->done(&res, x->arg);
	json_decref(x->out);
	em_free(x);
}

void em_invite_list(em_app *app, const char *status, int64_t site_id, int64_t before_id, int limit,
		    em_invite_done done, void *arg)
{
	read_job *x = em_calloc(1, sizeof *x);
	snprintf(x->status, sizeof x->status, "%s", status ? status : "");
	x->site_id = site_id;
	x->before_id = before_id;
	x->limit = limit;
	x->done = done;
	x->arg = arg;
	int rc = em_store_read(app->store, list_fn, list_done, x);
	if (rc) {
		em_invite_result res = {.status = rc};
		em_free(x);
		done(&res, arg);
	}
}

/* ---- Start-up ------------------------------------------------------------ */

typedef struct hrow {
	int64_t site_id, visit_id, rule_id, operator_id, department_id, created_at, responded_at;
	int status;
	char vid[64], id[32], rule[32], op[32];
	char *message;
} hrow;

typedef struct hist_ctx {
	int64_t since;
	hrow *v;
	size_t n, cap;
} hist_ctx;

static int status_of(const char *s)
{
	for (int i = 0; i <= ST_IGNORED; i++)
		if (s && !strcmp(s, status_names[i]))
			return i;
	return ST_IGNORED;
}

/* The recent history in id order; "+i.id" keeps the rowid from being the
** loop, so the rows are found through invitation_created and then sorted. */
static int hist_fn(em_db *db, void *arg)
{
	hist_ctx *x = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT i.site_id, i.vid, i.status, i.created_at, i.responded_at, i.visit_id, "
		"i.public_id, i.rule_id, r.public_id, r.department_id, i.operator_id, o.public_id, "
		"i.message FROM invitation i LEFT JOIN invitation_rule r ON r.id = i.rule_id "
		"LEFT JOIN operator o ON o.id = i.operator_id WHERE i.created_at >= ? ORDER BY +i.id",
		"i", x->since);
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 256;
			x->v = em_realloc(x->v, x->cap * sizeof *x->v);
		}
		hrow *h = &x->v[x->n++];
		memset(h, 0, sizeof *h);
		h->site_id = em_stmt_int(st, 0);
		snprintf(h->vid, sizeof h->vid, "%s", em_stmt_text(st, 1));
		h->status = status_of(em_stmt_text(st, 2));
		h->created_at = em_stmt_int(st, 3);
		h->responded_at = em_stmt_is_null(st, 4) ? 0 : em_stmt_int(st, 4);
		h->visit_id = em_stmt_is_null(st, 5) ? 0 : em_stmt_int(st, 5);
		snprintf(h->id, sizeof h->id, "%s", em_stmt_text(st, 6));
		h->rule_id = em_stmt_is_null(st, 7) ? 0 : em_stmt_int(st, 7);
		snprintf(h->rule, sizeof h->rule, "%s", em_stmt_text(st, 8) ? em_stmt_text(st, 8) : "");
		h->department_id = em_stmt_is_null(st, 9) ? 0 : em_stmt_int(st, 9);
		h->operator_id = em_stmt_is_null(st, 10) ? 0 : em_stmt_int(st, 10);
		snprintf(h->op, sizeof h->op, "%s", em_stmt_text(st, 11) ? em_stmt_text(st, 11) : "");
		if (h->status <= ST_SHOWN)
			h->message = dup_col(st, 12);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

typedef struct stale_ctx {
	char (*ids)[32];
	size_t n;
	int64_t at;
} stale_ctx;

static int stale_fn(em_db *db, void *arg)
{
	stale_ctx *x = arg;
	for (size_t i = 0; i < x->n; i++) {
		int rc = em_db_exec(
			db,
			"UPDATE invitation SET status = 'ignored', responded_at = ? WHERE public_id = ? "
			"AND status IN ('offered', 'shown')",
			"it", x->at, x->ids[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Rebuilds the history; invitations still waiting for a visitor who is live
** stay pending, the others were ignored. */
static int load_history(char *err, size_t errlen)
{
	int64_t now = em_now_ms();
	int64_t today = day_of(now) * DAY_MS;
	int64_t since = now - ((int64_t)g.app->cfg.invite_dismiss_days + 1) * DAY_MS;
	if (since > today - KEEP_INVITED_MS)
		since = today - KEEP_INVITED_MS;
	hist_ctx x = {.since = since};
	int rc = em_store_read_sync(g.app->store, hist_fn, &x);
	stale_ctx stale = {.at = now};
	size_t restored = 0;
	if (rc == 0)
		stale.ids = em_calloc(x.n ? x.n : 1, sizeof *stale.ids);
	for (size_t k = 0; rc == 0 && k < x.n; k++) {
		hrow *h = &x.v[k];
		hist *e = hist_get(h->site_id, h->vid);
		if (!e)
			break;
		if (day_of(h->created_at) == day_of(now)) {
			e->day = day_of(now);
			e->count++;
		}
		if (h->created_at > e->last_offered)
			e->last_offered = h->created_at;
		if (h->visit_id > e->invited_visit)
			e->invited_visit = h->visit_id;
		if (h->status == ST_DISMISSED && h->responded_at > e->last_dismissed)
			e->last_dismissed = h->responded_at;
		if (h->status > ST_SHOWN)
			continue;
		em_presence_view v;
		if (!e->pending && now - h->created_at < (int64_t)g.app->cfg.live_timeout_s * 1000 &&
		    em_presence_get(h->site_id, h->vid, &v) == 0) {
			invitation *i = em_calloc(1, sizeof *i);
			snprintf(i->id, sizeof i->id, "%s", h->id);
			i->site_id = h->site_id;
			snprintf(i->vid, sizeof i->vid, "%s", h->vid);
			i->visit_id = h->visit_id;
			i->rule_id = h->rule_id;
			snprintf(i->rule, sizeof i->rule, "%s", h->rule);
			i->operator_id = h->operator_id;
			snprintf(i->op, sizeof i->op, "%s", h->op);
			i->department_id = h->department_id;
			i->message = h->message;
			h->message = NULL;
			i->status = h->status;
			i->created_at = h->created_at;
			e->pending = i;
			g.st.pending++;
			restored++;
		} else {
			snprintf(stale.ids[stale.n++], sizeof stale.ids[0], "%s", h->id);
		}
	}
	for (size_t k = 0; k < x.n; k++)
		em_free(x.v[k].message);
	em_free(x.v);
	if (rc == 0 && stale.n)
		rc = em_store_write_sync(g.app->store, stale_fn, &stale);
	em_free(stale.ids);
	if (rc) {
		snprintf(err, errlen, "cannot load the invitation history: %s", em_strerror(rc));
		return rc;
	}
	em_info("invitations ready", "rules=%zu history=%zu pending=%zu ignored_at_start=%zu", g.nrules,
		g.nhist, restored, stale.n);
	return 0;
}

int em_invite_init(em_app *app, char *err, size_t errlen)
{
	g.app = app;
	load_ctx x = {.gen = ++g.reload_gen};
	int rc = em_store_read_sync(app->store, load_fn, &x);
	load_finish(&x, rc);
	if (rc) {
		snprintf(err, errlen, "cannot load invitation rules: %s", em_strerror(rc));
		g.app = NULL;
		return rc;
	}
	if ((rc = load_history(err, errlen))) {
		g.app = NULL;
		return rc;
	}
	g.purged_day = day_of(em_now_ms());
	em_chat_set_invite_hooks(&hooks);
	g.timer = em_timer_start(1000 / TICK_PARTS, 1000 / TICK_PARTS, tick, NULL);
	return 0;
}

void em_invite_shutdown(void)
{
	if (g.timer)
		em_timer_stop(g.timer);
	for (size_t i = 0; i < g.nbuckets; i++)
		for (hist *e = g.buckets[i], *next; e; e = next) {
			next = e->next;
			if (e->pending)
				inv_free(e->pending);
			em_free(e);
		}
	em_free(g.buckets);
	rules_free(g.rules, g.nrules);
	em_free(g.sites);
	memset(&g, 0, sizeof g);
}

void em_invite_get_stats(em_invite_stats *out)
{
	*out = g.st;
	out->history = g.nhist;
}
