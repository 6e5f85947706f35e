/*
** The common tracker batch without a JSON library (see beacon.h).
**
** Nearly every POST /t is page views and pings from emma.js:
**   {"site":"…","vid":"…","events":[{"type":"pageview","url":"…","title":"…","ref":"…","ts":N},…]}
** Building a jansson document for it (an object per event, a string per
** value) and walking it cost about a fifth of the loop thread's time per
** beacon. This reader handles exactly that shape, strictly, straight into
** the batch. Anything else — other event types, other keys, a key twice,
** nested values, bad UTF-8, \u0000, numbers jansson would not take, and
** every batch the validation would reject — makes it give up, and
** em_beacon_parse reads the body again the general way, which gives the
** answer (and the error) as before. fuzz_beacon checks that both ways
** agree on every batch this one takes.
*/
#include <stdlib.h>
#include <string.h>

#include "track/beacon.h"

#define STR_MAX 4096 /* longer strings are left to the general way */

typedef struct rd {
	const unsigned char *p, *end;
	char buf[STR_MAX + 4]; /* the last string read, decoded */
	size_t len;
} rd;

static void ws(rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int eat(rd *r, unsigned char c)
{
	ws(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return 1;
	}
	return 0;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return 0;
		v = v << 4 | d;
	}
	*out = v;
	return 1;
}

static int put_cp(rd *r, unsigned cp)
{
	if (r->len + 4 > STR_MAX)
		return 0;
	char *o = r->buf + r->len;
	if (cp < 0x80) {
		o[0] = (char)cp;
		r->len += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		r->len += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		r->len += 3;
	} else {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		r->len += 4;
	}
	return 1;
}

/* Length of the valid UTF-8 sequence at p (shortest form, no surrogates,
** at most U+10FFFF), or 0. */
static int utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	int n;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (end - p < n)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A string into r->buf (NUL-terminated, r->len bytes). */
static int str(rd *r)
{
	if (!eat(r, '"'))
		return 0;
	r->len = 0;
	while (r->p < r->end) {
		unsigned c = *r->p;
		if (c == '"') {
			r->p++;
			r->buf[r->len] = '\0';
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (r->end - r->p < 2)
				return 0;
			unsigned e = r->p[1], cp;
			r->p += 2;
			switch (e) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (r->end - r->p < 4 || !hex4(r->p, &cp))
					return 0;
				r->p += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
					    !hex4(r->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return 0;
					r->p += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
					return 0;
				}
				break;
			default: return 0;
			}
			if (!put_cp(r, cp))
				return 0;
			continue;
		}
		int n = utf8_seq(r->p, r->end);
		if (!n || r->len + (size_t)n > STR_MAX)
			return 0;
		memcpy(r->buf + r->len, r->p, (size_t)n);
		r->len += (size_t)n;
		r->p += n;
	}
	return 0;
}

/* A JSON number that jansson reads the same way: an integer of at most 18
** digits, or a real; its value as a double. */
static int num(rd *r, double *out)
{
	ws(r);
	const unsigned char *s = r->p, *p = s;
	if (p < r->end && *p == '-')
		p++;
	if (p >= r->end)
		return 0;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < r->end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	int real = 0;
	if (p < r->end && *p == '.') {
		real = 1;
		p++;
		if (p >= r->end || *p < '0' || *p > '9')
			return 0;
		while (p < r->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < r->end && (*p == 'e' || *p == 'E')) {
		real = 1;
		p++;
		if (p < r->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= r->end || *p < '0' || *p > '9')
			return 0;
		while (p < r->end && *p >= '0' && *p <= '9')
			p++;
	}
	size_t n = (size_t)(p - s);
	if (n > 40 || (!real && n > 18))
		return 0;
	char tmp[48];
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*out = strtod(tmp, NULL);
	r->p = p;
	return 1;
}

static int lit(rd *r, const char *w)
{
	size_t n = strlen(w);
	ws(r);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n))
		return 0;
	r->p += n;
	return 1;
}

enum { K_TYPE = 1, K_URL = 2, K_TITLE = 4, K_REF = 8, K_TS = 16, K_ACTIVE = 32 };

/* A number in [0, max] or null for an optional one; *out stays < 0 for null. */
static int opt_num(rd *r, double max, double *out)
{
	if (lit(r, "null"))
		return 1;
	return num(r, out) && *out >= 0 && *out <= max;
}

/* A string or null for an optional text; *out NULL for null. */
static int opt_str(rd *r, em_track_batch *b, size_t max, const char **out)
{
	if (lit(r, "null")) {
		*out = NULL;
		return 1;
	}
	if (!str(r) || r->len > max)
		return 0;
	*out = em_arena_strndup(&b->mem, r->buf, r->len);
	return 1;
}

/* Steps to the next member of an object whose '{' was read: 1 with its key
** in r->buf and the ':' read, 0 at the closing '}', -1 on bad syntax. */
static int member(rd *r, int *first)
{
	if (eat(r, '}'))
		return 0;
	if (!*first && !eat(r, ','))
		return -1;
	*first = 0;
	return str(r) && eat(r, ':') ? 1 : -1;
}

static int event(rd *r, em_track_batch *b, int64_t now_ms)
{
	if (!eat(r, '{'))
		return 0;
	em_track_event *e = em_track_batch_add(b);
	if (!e)
		return 0;
	unsigned seen = 0;
	const char *url = NULL;
	double ts = -1, active = -1;
	int type = 0, first = 1, m;
	while ((m = member(r, &first)) > 0) {
		unsigned k = !strcmp(r->buf, "type")	   ? K_TYPE
			     : !strcmp(r->buf, "url")	   ? K_URL
			     : !strcmp(r->buf, "title")	   ? K_TITLE
			     : !strcmp(r->buf, "ref")	   ? K_REF
			     : !strcmp(r->buf, "ts")	   ? K_TS
			     : !strcmp(r->buf, "active_s") ? K_ACTIVE
							   : 0;
		if (!k || (seen & k))
			return 0;
		seen |= k;
		switch (k) {
		case K_TYPE:
			if (!str(r))
				return 0;
			type = !strcmp(r->buf, "pageview") ? EM_EV_PAGEVIEW
			       : !strcmp(r->buf, "ping")   ? EM_EV_PING
							   : 0;
			if (!type)
				return 0;
			break;
		case K_URL:
			if (!opt_str(r, b, EM_BEACON_URL_MAX, &url))
				return 0;
			break;
		case K_TITLE:
			if (!opt_str(r, b, EM_BEACON_TITLE_MAX, &e->title))
				return 0;
			break;
		case K_REF:
			if (!opt_str(r, b, EM_BEACON_URL_MAX, &e->ref))
				return 0;
			break;
		case K_TS:
			if (!opt_num(r, EM_BEACON_TS_MAX, &ts))
				return 0;
			break;
		case K_ACTIVE:
			if (!opt_num(r, 3600, &active))
				return 0;
			break;
		}
	}
	/* What the general reader checks for these two types. */
	if (m < 0 || !type)
		return 0;
	e->type = type;
	e->ts_ms = em_beacon_event_time(ts, now_ms);
	if (url && !em_beacon_url_ok(url))
		return 0;
	e->url = url;
	if (type == EM_EV_PAGEVIEW) {
		if (!url)
			return 0;
	} else {
		/* A ping reads only its time on page (and a URL if given). */
		if (active < 0)
			return 0;
		e->active_s = (int)active;
		e->title = e->ref = NULL;
	}
	return 1;
}

int em_beacon_parse_fast(const char *body, size_t len, int64_t now_ms, em_track_batch *b)
{
	rd *r = &(rd){0};
	r->p = (const unsigned char *)body;
	r->end = r->p + len;
	unsigned seen = 0;
	int first = 1, m;
	if (!eat(r, '{'))
		return 0;
	while ((m = member(r, &first)) > 0) {
		if (!strcmp(r->buf, "site") && !(seen & 1)) {
			seen |= 1;
			if (!str(r) || r->len == 0 || r->len > 64 || strlen(r->buf) != r->len)
				return 0;
			memcpy(b->site_key, r->buf, r->len + 1);
		} else if (!strcmp(r->buf, "vid") && !(seen & 2)) {
			seen |= 2;
			if (lit(r, "null"))
				continue;
			if (!str(r) || r->len > 63 || !em_beacon_vid_ok(r->buf))
				return 0;
			memcpy(b->vid, r->buf, r->len + 1);
		} else if (!strcmp(r->buf, "events") && !(seen & 4)) {
			seen |= 4;
			/* Count the events first: the batch sizes its array by it. */
			const unsigned char *at = r->p;
			if (!eat(r, '['))
				return 0;
			int n = 0, depth = 0;
			for (const unsigned char *q = r->p; q < r->end && depth >= 0; q++) {
				if (*q == '"') {
					for (q++; q < r->end && *q != '"'; q++)
						if (*q == '\\')
							q++;
				} else if (*q == '{') {
					n += depth == 0;
					depth++;
				} else if (*q == '}' || *q == ']') {
					depth--;
				} else if (*q == '[') {
					return 0;
				}
			}
			if (n < 1 || n > EM_TRACK_MAX_EVENTS)
				return 0;
			em_track_batch_reserve(b, n);
			r->p = at;
			eat(r, '[');
			for (int i = 0; i < n; i++) {
				if ((i && !eat(r, ',')) || !event(r, b, now_ms))
					return 0;
			}
			if (!eat(r, ']'))
				return 0;
		} else {
			return 0;
		}
	}
	if (m < 0)
		return 0;
	ws(r);
	return seen & 1 && seen & 4 && r->p == r->end && b->nevents >= 1;
}
