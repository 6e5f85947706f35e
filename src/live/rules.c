/*
** Invitation rules: compiling conditions, evaluating them, the brakes (see
** rules.h).
**
** A compiled rule is a flat struct: numeric ranges, up to two URL patterns
** (a glob for fnmatch, or a PCRE2 regex compiled once with JIT), hashed
** lists for campaign values, language tags, and one custom-event counter.
** Evaluation checks the cheap numeric conditions first, so the once-a-second
** pass over every live visitor mostly stops at the first comparison.
*/
#include "live/rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

/* Backtracking budget of one regex match: a pathological pattern fails the
** match (the rule does not fire) instead of stalling the loop. */
#define MATCH_LIMIT 100000

enum { R_TOP, R_SITE, R_IDLE, R_PAGES, R_VISITS, R_CART, R_N };
static const char *const range_key[R_N] = {"time_on_page_s", "time_on_site_s", "idle_s",
					   "pages",	     "visits",	       "cart_total"};

typedef struct range {
	int on;
	double gte, lte; /* -1: unbounded */
} range;

typedef struct pattern {
	int on;
	int path_only; /* the pattern starts with '/': match the URL's path */
	char *glob;
	pcre2_code *re;
} pattern;

typedef struct list {
	int n;
	uint64_t h[EM_RULE_LIST_MAX];  /* utm values */
	char tag[EM_RULE_LIST_MAX][8]; /* language tags */
} list;

struct em_rule_cond {
	range r[R_N];
	pattern url, referrer;
	list utm_source, utm_campaign, language;
	int returning;	 /* -1 any, 0, 1 */
	int exit_intent; /* -1 any, 0, 1 */
	int ev_on;
	uint32_t ev_name;
	int ev_count, ev_within_s;
};

static pcre2_match_data *md;
static pcre2_match_context *mctx;

/* ---- Hashes ------------------------------------------------------------ */

uint64_t em_rule_hash_lower(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)s[i])) * 1099511628211ull;
	return h ? h : 1;
}

static uint32_t hash32(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h ? h : 1;
}

/* ---- Per-visitor state ------------------------------------------------- */

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The hash of the percent-decoded value of query parameter name in url, or 0. */
static uint64_t query_hash(const char *url, const char *name)
{
	const char *q = url ? strchr(url, '?') : NULL;
	size_t nl = strlen(name);
	while (q && *q) {
		q++;
		if (!strncmp(q, name, nl) && q[nl] == '=') {
			const char *v = q + nl + 1;
			char buf[EM_RULE_VALUE_MAX + 1];
			size_t n = 0;
			for (; *v && *v != '&' && *v != '#' && n < EM_RULE_VALUE_MAX; v++) {
				int c = (unsigned char)*v;
				if (c == '+')
					c = ' ';
				else if (c == '%' && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
					c = hexval(v[1]) * 16 + hexval(v[2]);
					v += 2;
				}
				buf[n++] = (char)c;
			}
			return n ? em_rule_hash_lower(buf, n) : 0;
		}
		q = strchr(q, '&');
	}
	return 0;
}

void em_rule_state_observe(em_rule_state *s, const em_track_batch *b)
{
	const em_track_result *r = &b->res;
	if (r->visit_id && r->visit_id != s->visit_id) {
		s->visit_id = r->visit_id;
		s->invited = 0;
		s->exit_intent = 0;
		if (r->new_visit)
			s->utm_source = s->utm_campaign = 0;
	}
	for (int i = 0; i < b->nevents; i++) {
		const em_track_event *ev = &b->events[i];
		if (ev->type != EM_EV_PING || ev->active_s > 0) {
			if (ev->ts_ms > s->last_active)
				s->last_active = ev->ts_ms;
		}
		if (ev->type == EM_EV_PAGEVIEW) {
			s->exit_intent = 0;
			uint64_t src = query_hash(ev->url, "utm_source"),
				 camp = query_hash(ev->url, "utm_campaign");
			if (src || camp) {
				s->utm_source = src;
				s->utm_campaign = camp;
			}
		} else if (ev->type == EM_EV_EVENT && ev->name) {
			s->ev_name[s->ev_next] = hash32(ev->name);
			s->ev_at[s->ev_next] = (uint32_t)(ev->ts_ms / 1000);
			s->ev_next = (uint8_t)((s->ev_next + 1) % EM_RULE_RING);
			if (s->ev_n < EM_RULE_RING)
				s->ev_n++;
			if (!strcmp(ev->name, "exit_intent"))
				s->exit_intent = 1;
		}
	}
	s->no_widget = b->cookieless || b->source == EM_SRC_LOG;
	s->static_gen = 0; /* the facts changed: the kept static results are stale */
	if (b->lang && b->lang[0])
		snprintf(s->lang, sizeof s->lang, "%s", b->lang);
}

void em_rule_accept_language(const char *header, char out[8])
{
	size_t n = 0;
	out[0] = '\0';
	if (!header)
		return;
	while (*header == ' ' || *header == '\t')
		header++;
	for (; *header && *header != ',' && *header != ';' && *header != ' '; header++) {
		int c = tolower((unsigned char)*header);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') || n == 7) {
			out[0] = '\0';
			return;
		}
		out[n++] = (char)(c == '_' ? '-' : c);
	}
	out[n] = '\0';
	if (!strcmp(out, "*"))
		out[0] = '\0';
}

/* ---- Compiling --------------------------------------------------------- */

static int fail(char *field, size_t fieldlen, char *msg, size_t msglen, const char *path, const char *what)
{
	snprintf(field, fieldlen, "conditions%s%s", path[0] ? "." : "", path);
	snprintf(msg, msglen, "%s", what);
	return -1;
}

static int compile_range(const json_t *v, range *r, int integral, const char *key, char *field, size_t fl,
			 char *msg, size_t ml)
{
	char path[64];
	if (!json_is_object(v) || json_object_size(v) == 0)
		return fail(field, fl, msg, ml, key, "must be an object with gte and/or lte");
	r->on = 1;
	r->gte = r->lte = -1;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x)
	{
		snprintf(path, sizeof path, "%s.%s", key, k);
		if (strcmp(k, "gte") && strcmp(k, "lte"))
			return fail(field, fl, msg, ml, path, "unknown bound (use gte or lte)");
		if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1e12)
			return fail(field, fl, msg, ml, path, "must be a number from 0 to 1e12");
		double d = json_number_value(x);
		if (integral && d != floor(d))
			return fail(field, fl, msg, ml, path, "must be a whole number");
		if (!strcmp(k, "gte"))
			r->gte = d;
		else
			r->lte = d;
	}
	if (r->gte >= 0 && r->lte >= 0 && r->gte > r->lte) {
		snprintf(path, sizeof path, "%s.lte", key);
		return fail(field, fl, msg, ml, path, "must not be less than gte");
	}
	return 0;
}

static pcre2_general_context *gctx;

static void *pcre_alloc(size_t n, void *u)
{
	(void)u;
	return em_malloc(n);
}

static void pcre_free(void *p, void *u)
{
	(void)u;
	em_free(p);
}

static int compile_pattern(const json_t *v, pattern *p, const char *key, char *field, size_t fl, char *msg,
			   size_t ml)
{
	char path[64];
	if (!json_is_object(v) || json_object_size(v) != 1)
		return fail(field, fl, msg, ml, key, "must be an object with exactly one of glob or regex");
	const char *k = json_object_iter_key(json_object_iter((json_t *)v));
	json_t *x = json_object_iter_value(json_object_iter((json_t *)v));
	snprintf(path, sizeof path, "%s.%s", key, k);
	if (strcmp(k, "glob") && strcmp(k, "regex"))
		return fail(field, fl, msg, ml, path, "unknown pattern kind (use glob or regex)");
	if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > EM_RULE_PATTERN_MAX ||
	    strlen(json_string_value(x)) != json_string_length(x))
		return fail(field, fl, msg, ml, path, "must be a non-empty string of at most 1000 bytes");
	const char *src = json_string_value(x);
	p->on = 1;
	p->path_only = src[0] == '/' || (src[0] == '^' && src[1] == '/');
	if (!strcmp(k, "glob")) {
		p->glob = em_strdup(src);
		return 0;
	}
	if (!gctx)
		gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
	int ec;
	PCRE2_SIZE off;
	pcre2_compile_context *cctx = pcre2_compile_context_create(gctx);
	p->re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
			      &ec, &off, cctx);
	pcre2_compile_context_free(cctx);
	if (!p->re) {
		PCRE2_UCHAR m[160];
		pcre2_get_error_message(ec, m, sizeof m);
		char what[256];
		snprintf(what, sizeof what, "regex does not compile at offset %zu: %s", (size_t)off,
			 (const char *)m);
		return fail(field, fl, msg, ml, path, what);
	}
	/* JIT is an optimisation: without it the interpreter answers the same. */
	(void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
	return 0;
}

static int compile_list(const json_t *v, list *l, int lang, const char *key, char *field, size_t fl,
			char *msg, size_t ml)
{
	char path[64];
	size_t n = json_is_array(v) ? json_array_size(v) : 1;
	if (!json_is_string(v) && !(json_is_array(v) && n >= 1 && n <= EM_RULE_LIST_MAX))
		return fail(field, fl, msg, ml, key, "must be a string or an array of 1 to 16 strings");
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
		if (json_is_array(v))
			snprintf(path, sizeof path, "%s[%zu]", key, i);
		else
			snprintf(path, sizeof path, "%s", key);
		if (!json_is_string(x) || json_string_length(x) == 0 ||
		    json_string_length(x) > EM_RULE_VALUE_MAX ||
		    strlen(json_string_value(x)) != json_string_length(x))
			return fail(field, fl, msg, ml, path,
				    "must be a non-empty string of at most 100 bytes");
		const char *s = json_string_value(x);
		if (lang) {
			char tag[8];
			em_rule_accept_language(s, tag);
			size_t primary = strcspn(tag, "-");
			if (!tag[0] || strlen(s) != strlen(tag) || primary < 2 || primary > 3 ||
			    strspn(tag, "abcdefghijklmnopqrstuvwxyz") < primary ||
			    tag[strlen(tag) - 1] == '-')
				return fail(field, fl, msg, ml, path,
					    "must be a language tag such as \"de\" or \"de-AT\"");
			memcpy(l->tag[l->n], tag, sizeof tag);
		} else {
			l->h[l->n] = em_rule_hash_lower(s, strlen(s));
		}
		l->n++;
	}
	return 0;
}

static int compile_event(const json_t *v, em_rule_cond *c, char *field, size_t fl, char *msg, size_t ml)
{
	if (!json_is_object(v))
		return fail(field, fl, msg, ml, "event", "must be an object with name, count and within_s");
	c->ev_on = 1;
	c->ev_count = 1;
	c->ev_within_s = 1800;
	int has_name = 0;
	const char *k;
	json_t *x;
	char path[64];
	json_object_foreach((json_t *)v, k, x)
	{
		snprintf(path, sizeof path, "event.%s", k);
		if (!strcmp(k, "name")) {
			if (!json_is_string(x) || json_string_length(x) == 0 ||
			    json_string_length(x) > EM_RULE_VALUE_MAX ||
			    strlen(json_string_value(x)) != json_string_length(x))
				return fail(field, fl, msg, ml, path,
					    "must be a non-empty string of at most 100 bytes");
			c->ev_name = hash32(json_string_value(x));
			has_name = 1;
		} else if (!strcmp(k, "count")) {
			if (!json_is_integer(x) || json_integer_value(x) < 1 ||
			    json_integer_value(x) > EM_RULE_RING)
				return fail(field, fl, msg, ml, path, "must be an integer from 1 to 16");
			c->ev_count = (int)json_integer_value(x);
		} else if (!strcmp(k, "within_s")) {
			if (!json_is_integer(x) || json_integer_value(x) < 1 ||
			    json_integer_value(x) > EM_RULE_WINDOW_MAX)
				return fail(field, fl, msg, ml, path, "must be an integer from 1 to 86400");
			c->ev_within_s = (int)json_integer_value(x);
		} else {
			return fail(field, fl, msg, ml, path, "unknown member (use name, count, within_s)");
		}
	}
	if (!has_name)
		return fail(field, fl, msg, ml, "event.name", "is required");
	return 0;
}

static int compile_bool(const json_t *v, int *out, const char *key, char *field, size_t fl, char *msg,
			size_t ml)
{
	if (!json_is_boolean(v))
		return fail(field, fl, msg, ml, key, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

em_rule_cond *em_rule_compile(const json_t *conditions, char *field, size_t fl, char *msg, size_t ml)
{
	if (!json_is_object(conditions)) {
		fail(field, fl, msg, ml, "", "must be an object");
		return NULL;
	}
	em_rule_cond *c = em_calloc(1, sizeof *c);
	c->returning = c->exit_intent = -1;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)conditions, k, v)
	{
		int rc = -2, i;
		for (i = 0; i < R_N; i++)
			if (!strcmp(k, range_key[i]))
				break;
		if (i < R_N)
			rc = compile_range(v, &c->r[i], i != R_CART, k, field, fl, msg, ml);
		else if (!strcmp(k, "url"))
			rc = compile_pattern(v, &c->url, k, field, fl, msg, ml);
		else if (!strcmp(k, "referrer"))
			rc = compile_pattern(v, &c->referrer, k, field, fl, msg, ml);
		else if (!strcmp(k, "utm_source"))
			rc = compile_list(v, &c->utm_source, 0, k, field, fl, msg, ml);
		else if (!strcmp(k, "utm_campaign"))
			rc = compile_list(v, &c->utm_campaign, 0, k, field, fl, msg, ml);
		else if (!strcmp(k, "language"))
			rc = compile_list(v, &c->language, 1, k, field, fl, msg, ml);
		else if (!strcmp(k, "returning"))
			rc = compile_bool(v, &c->returning, k, field, fl, msg, ml);
		else if (!strcmp(k, "exit_intent"))
			rc = compile_bool(v, &c->exit_intent, k, field, fl, msg, ml);
		else if (!strcmp(k, "event"))
			rc = compile_event(v, c, field, fl, msg, ml);
		if (rc == -2) {
			char path[80];
			snprintf(path, sizeof path, "%.70s", k);
			rc = fail(field, fl, msg, ml, path, "unknown condition");
		}
		if (rc) {
			em_rule_cond_free(c);
			return NULL;
		}
	}
	return c;
}

void em_rule_cond_free(em_rule_cond *c)
{
	if (!c)
		return;
	pattern *ps[] = {&c->url, &c->referrer};
	for (int i = 0; i < 2; i++) {
		em_free(ps[i]->glob);
		if (ps[i]->re)
			pcre2_code_free(ps[i]->re);
	}
	em_free(c);
}

int em_rule_time_based(const em_rule_cond *c)
{
	return (c->r[R_TOP].on && c->r[R_TOP].gte > 0) || (c->r[R_SITE].on && c->r[R_SITE].gte > 0) ||
	       (c->r[R_IDLE].on && c->r[R_IDLE].gte > 0);
}

/* ---- Evaluating -------------------------------------------------------- */

static int in_range(const range *r, double v)
{
	return !r->on || ((r->gte < 0 || v >= r->gte) && (r->lte < 0 || v <= r->lte));
}

/* The path of a URL ("https://h/p?q" -> "/p") as [*s, *s + *n). */
static void url_path(const char *url, const char **s, size_t *n)
{
	const char *p = url;
	const char *scheme = strstr(url, "://");
	if (scheme && (size_t)(scheme - url) < 16) {
		p = strchr(scheme + 3, '/');
		if (!p) {
			*s = "/";
			*n = 1;
			return;
		}
	}
	*s = p;
	*n = strcspn(p, "?#");
}

static int pattern_match(const pattern *p, const char *value)
{
	if (!p->on)
		return 1;
	if (!value)
		value = "";
	const char *s = value;
	size_t n = strlen(value);
	if (p->path_only)
		url_path(value, &s, &n);
	if (p->glob) {
		char buf[2048];
		if (n >= sizeof buf)
			n = sizeof buf - 1;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return fnmatch(p->glob, buf, 0) == 0;
	}
	if (!md) {
		if (!gctx)
			gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
		md = pcre2_match_data_create(1, gctx);
		mctx = pcre2_match_context_create(gctx);
		pcre2_set_match_limit(mctx, MATCH_LIMIT);
	}
	int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, 0, 0, md, mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_JIT, md, mctx);
	/* 0 means a match whose groups did not fit the one-pair vector. */
	return rc >= 0;
}

static int list_has(const list *l, uint64_t h)
{
	for (int i = 0; i < l->n; i++)
		if (l->h[i] == h)
			return 1;
	return 0;
}

static int lang_match(const list *l, const char *lang)
{
	for (int i = 0; i < l->n; i++) {
		size_t n = strlen(l->tag[i]);
		/* "de" takes "de" and "de-at"; "de-at" only itself. */
		if (!strncmp(lang, l->tag[i], n) && (lang[n] == '\0' || lang[n] == '-'))
			return 1;
	}
	return 0;
}

int em_rule_match_time(const em_rule_cond *c, const em_rule_facts *f)
{
	const em_rule_state *st = f->st;
	int64_t page_since = f->page_since ? f->page_since : f->visit_started;
	int64_t active = st && st->last_active ? st->last_active : f->last_seen;
	int64_t top = (f->now - page_since) / 1000, site = (f->now - f->visit_started) / 1000,
		idle = (f->now - active) / 1000;
	if (!in_range(&c->r[R_TOP], top < 0 ? 0 : (double)top) ||
	    !in_range(&c->r[R_SITE], site < 0 ? 0 : (double)site) ||
	    !in_range(&c->r[R_IDLE], idle < 0 ? 0 : (double)idle))
		return 0;
	if (c->ev_on) {
		int n = 0;
		int64_t since = f->now / 1000 - c->ev_within_s;
		for (int i = 0; st && i < st->ev_n; i++)
			if (st->ev_name[i] == c->ev_name && (int64_t)st->ev_at[i] >= since)
				n++;
		if (n < c->ev_count)
			return 0;
	}
	return 1;
}

int em_rule_match_static(const em_rule_cond *c, const em_rule_facts *f)
{
	const em_rule_state *st = f->st;
	if (!in_range(&c->r[R_PAGES], f->pages) || !in_range(&c->r[R_VISITS], f->visits) ||
	    !in_range(&c->r[R_CART], f->cart_total < 0 ? 0 : f->cart_total))
		return 0;
	if (c->returning >= 0 && (f->visits > 1) != c->returning)
		return 0;
	if (c->exit_intent >= 0 && (st && st->exit_intent) != c->exit_intent)
		return 0;
	if (c->utm_source.n && !(st && list_has(&c->utm_source, st->utm_source)))
		return 0;
	if (c->utm_campaign.n && !(st && list_has(&c->utm_campaign, st->utm_campaign)))
		return 0;
	if (c->language.n && !(st && st->lang[0] && lang_match(&c->language, st->lang)))
		return 0;
	if (!pattern_match(&c->url, f->url) || !pattern_match(&c->referrer, f->referrer))
		return 0;
	return 1;
}

int em_rule_match(const em_rule_cond *c, const em_rule_facts *f)
{
	return em_rule_match_time(c, f) && em_rule_match_static(c, f);
}

/* ---- Messages ---------------------------------------------------------- */

char *em_rule_fill_message(const char *tmpl, const char *title, double cart_total)
{
	em_buf b;
	em_buf_init(&b, 8192);
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, "{page_title}", 12)) {
			em_buf_append(&b, title ? title : "", title ? strlen(title) : 0);
			p += 12;
		} else if (!strncmp(p, "{cart_total}", 12)) {
			char n[48];
			int len = snprintf(n, sizeof n, "%.2f", cart_total);
			em_buf_append(&b, n, (size_t)len);
			p += 12;
		} else {
			size_t n = strcspn(p + 1, "{") + 1;
			em_buf_append(&b, p, n);
			p += n;
		}
	}
	char *out = em_malloc(b.len + 1);
	memcpy(out, b.data ? b.data : "", b.len);
	out[b.len] = '\0';
	em_buf_free(&b);
	return out;
}

/* ---- Brakes ------------------------------------------------------------ */

#define DAY_MS 86400000LL

int em_brake_check(const em_brake_in *in)
{
	if (in->in_chat)
		return EM_BRAKE_IN_CHAT;
	if (in->pending)
		return EM_BRAKE_PENDING;
	if (!in->manual && in->invited_this_visit)
		return EM_BRAKE_VISIT;
	if (in->today_count >= in->daily_cap)
		return EM_BRAKE_DAILY_CAP;
	if (in->last_dismissed > 0 && in->now - in->last_dismissed < (int64_t)in->dismiss_days * DAY_MS)
		return EM_BRAKE_DISMISSED;
	if (!in->manual && in->chatted_today)
		return EM_BRAKE_CHATTED_TODAY;
	if (!in->manual && !in->available)
		return EM_BRAKE_UNAVAILABLE;
	return EM_BRAKE_NONE;
}

const char *em_brake_name(int brake)
{
	static const char *const names[] = {"none",	 "in_chat",   "pending",       "visit",
					    "daily_cap", "dismissed", "chatted_today", "unavailable"};
	return brake >= 0 && brake <= EM_BRAKE_UNAVAILABLE ? names[brake] : "unknown";
}

const char *em_brake_message(int brake)
{
	switch (brake) {
	case EM_BRAKE_IN_CHAT: return "the visitor is in a chat";
	case EM_BRAKE_PENDING: return "an invitation to this visitor is waiting for an answer";
	case EM_BRAKE_VISIT: return "the visitor was already invited in this visit";
	case EM_BRAKE_DAILY_CAP:
		return "the visitor reached the daily number of invitations (chat.invite_daily_cap)";
	case EM_BRAKE_DISMISSED:
		return "the visitor dismissed an invitation recently (chat.invite_dismiss_days)";
	case EM_BRAKE_CHATTED_TODAY: return "the visitor already chatted today";
	case EM_BRAKE_UNAVAILABLE: return "no operator has a free slot, or the queue is full";
	default: return "";
	}
}
