/*
** Access-log line parser (see accesslog.h).
**
** A format compiles to a leading literal followed by fields, each with the
** literal that comes after it. Parsing a line walks that list once: literals
** are compared byte by byte, fields end at the first byte of the following
** literal (found with memchr) or, for quoted fields, at the first unescaped
** quote that is followed by the rest of that literal. Values are converted
** in place by small hand-written routines; nothing is allocated per line and
** error messages are only formatted when a line fails, so the good path is a
** few hundred nanoseconds even on long lines.
*/
#include "track/accesslog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"

#define LOGFMT_MAGIC 0x4c4f4746u /* "LOGF" */

/* The variables the parser understands; everything else is V_IGNORE. */
enum var_kind {
	V_IGNORE,
	V_REMOTE_ADDR,
	V_REMOTE_USER,
	V_TIME_LOCAL,
	V_TIME_ISO,
	V_MSEC,
	V_REQUEST,
	V_METHOD,
	V_REQUEST_URI,
	V_URI,
	V_ARGS,
	V_PROTOCOL,
	V_STATUS,
	V_BODY_BYTES,
	V_BYTES_SENT,
	V_REFERER,
	V_USER_AGENT,
	V_HOST,
	V_HTTP_HOST,
	V_SERVER_NAME,
	V_REQUEST_TIME,
	V_XFF,
};

/* Parts of em_logline a field can fill. When several fields of a format
   feed the same part, exactly one of them is chosen at compile time. */
enum slot {
	S_IP,
	S_USER,
	S_METHOD,
	S_TARGET,
	S_PROTO,
	S_REFERRER,
	S_UA,
	S_HOST,
	S_QUERY,
	S_XFF,
	S_STATUS,
	S_BYTES,
	S_TIME,
	S_RTIME,
	S__COUNT
};

#define BIT(s) (1u << (s))

static const struct {
	const char *name;
	unsigned char kind;
} known_vars[] = {
	{"remote_addr", V_REMOTE_ADDR},
	{"remote_user", V_REMOTE_USER},
	{"time_local", V_TIME_LOCAL},
	{"time_iso8601", V_TIME_ISO},
	{"msec", V_MSEC},
	{"request", V_REQUEST},
	{"request_method", V_METHOD},
	{"request_uri", V_REQUEST_URI},
	{"uri", V_URI},
	{"document_uri", V_URI},
	{"args", V_ARGS},
	{"query_string", V_ARGS},
	{"server_protocol", V_PROTOCOL},
	{"status", V_STATUS},
	{"body_bytes_sent", V_BODY_BYTES},
	{"bytes_sent", V_BYTES_SENT},
	{"http_referer", V_REFERER},
	{"http_user_agent", V_USER_AGENT},
	{"host", V_HOST},
	{"http_host", V_HTTP_HOST},
	{"server_name", V_SERVER_NAME},
	{"request_time", V_REQUEST_TIME},
	{"http_x_forwarded_for", V_XFF},
	{"proxy_add_x_forwarded_for", V_XFF},
};

/* Which slots a kind fills, and how much it is preferred there (lower wins):
   $request_uri over $request over $uri for the target, $body_bytes_sent over
   $bytes_sent (the body is what a page weighs), $host over $http_host over
   $server_name, and the millisecond-precise $msec over the second-precise
   time strings. Among equals the field that comes first wins. */
static unsigned kind_slots(int kind)
{
	switch (kind) {
	case V_REMOTE_ADDR: return BIT(S_IP);
	case V_REMOTE_USER: return BIT(S_USER);
	case V_TIME_LOCAL:
	case V_TIME_ISO:
	case V_MSEC: return BIT(S_TIME);
	case V_REQUEST: return BIT(S_METHOD) | BIT(S_TARGET) | BIT(S_PROTO);
	case V_METHOD: return BIT(S_METHOD);
	case V_REQUEST_URI:
	case V_URI: return BIT(S_TARGET);
	case V_ARGS: return BIT(S_QUERY);
	case V_PROTOCOL: return BIT(S_PROTO);
	case V_STATUS: return BIT(S_STATUS);
	case V_BODY_BYTES:
	case V_BYTES_SENT: return BIT(S_BYTES);
	case V_REFERER: return BIT(S_REFERRER);
	case V_USER_AGENT: return BIT(S_UA);
	case V_HOST:
	case V_HTTP_HOST:
	case V_SERVER_NAME: return BIT(S_HOST);
	case V_REQUEST_TIME: return BIT(S_RTIME);
	case V_XFF: return BIT(S_XFF);
	default: return 0;
	}
}

static int kind_prio(int kind)
{
	switch (kind) {
	case V_REQUEST:
	case V_TIME_LOCAL:
	case V_TIME_ISO:
	case V_BYTES_SENT:
	case V_HTTP_HOST: return 1;
	case V_URI:
	case V_SERVER_NAME: return 2;
	default: return 0;
	}
}

struct field {
	unsigned char kind;
	unsigned char quoted;	     /* between two '"' of the surrounding literals */
	unsigned char list;	     /* may hold "a, b" or "a : b" lists (X-Forwarded-For, upstream_*) */
	unsigned char last;	     /* no field after this one */
	char delim;		     /* first byte of the literal after, 0 when there is none */
	unsigned writes;	     /* BIT(slot) this field fills */
	unsigned after_off, after_n; /* the literal after the field, in lits */
	unsigned name_off, name_n;   /* the variable's name, for messages */
};

struct em_logfmt {
	unsigned magic;
	unsigned nfields;
	unsigned mask; /* EM_LOGF_* */
	unsigned lead_n;
	char *lits; /* owned: lead literal at 0, then literals and names */
	struct field fields[EM_LOGFMT_MAX_FIELDS];
};

static const char *const builtin_names[][2] = {
	/* Apache's %l (identd) is almost always "-", but it is a field there,
	   so it is one here too: a real ident value must not break the line. */
	{"combined", "$remote_addr $remote_ident $remote_user [$time_local] \"$request\" $status "
		     "$body_bytes_sent \"$http_referer\" \"$http_user_agent\""},
	{"common",
	 "$remote_addr $remote_ident $remote_user [$time_local] \"$request\" $status $body_bytes_sent"},
	/* Debian's other_vhosts_access.log: "%v:%p %h %l %u %t \"%r\" %>s %O ..." */
	{"vhost_combined", "$server_name:$server_port $remote_addr $remote_ident $remote_user [$time_local] "
			   "\"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\""},
};

static const char *const skip_keys[EM_LOGSKIP__COUNT] = {
	[EM_LOGSKIP_NONE] = "ok",
	[EM_LOGSKIP_EMPTY] = "empty",
	[EM_LOGSKIP_TRUNCATED] = "truncated",
	[EM_LOGSKIP_MISMATCH] = "format_mismatch",
	[EM_LOGSKIP_TRAILING] = "trailing_garbage",
	[EM_LOGSKIP_BINARY] = "binary",
	[EM_LOGSKIP_BAD_IP] = "bad_ip",
	[EM_LOGSKIP_BAD_TIME] = "bad_time",
	[EM_LOGSKIP_BAD_REQUEST] = "bad_request",
	[EM_LOGSKIP_BAD_STATUS] = "bad_status",
	[EM_LOGSKIP_BAD_BYTES] = "bad_bytes",
	[EM_LOGSKIP_BAD_NUMBER] = "bad_number",
};

const char *em_logfmt_skip_key(int why)
{
	if (why < 0 || why >= EM_LOGSKIP__COUNT)
		return "unknown";
	return skip_keys[why];
}

/* ---- character classes (ASCII only, independent of the locale) ---- */

static inline int is_digit(unsigned char c)
{
	return (unsigned)(c - '0') < 10u;
}

static inline int is_alpha(unsigned char c)
{
	return (unsigned)((c | 0x20) - 'a') < 26u;
}

static inline int is_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline int is_name_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* RFC 9110 token characters: what a method may be made of. */
static inline int is_tchar(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return 1;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~': return 1;
	default: return 0;
	}
}

/* Addresses, and host names when Apache's HostnameLookups is on. */
static inline int is_addr_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '.' || c == ':' || c == '-' || c == '_' || c == '%';
}

static inline int is_dash(const char *p, const char *e)
{
	return e - p == 1 && *p == '-';
}

/* ---- messages ---- */

/* Writes up to max bytes of s to dst, printable ASCII as is and everything
   else as \xHH, so a message about binary junk stays one readable line. */
static void quote_snippet(char *dst, size_t dstlen, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (dstlen == 0)
		return;
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (n > max && o + 3 < dstlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

static int fail(em_logline *out, int why, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(em_logline *out, int why, char *err, size_t errlen, const char *fmt, ...)
{
	out->skip = why;
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return EM_EINVAL;
}

/* ---- compiling a format ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int lookup_kind(const char *name, size_t n, int *list)
{
	*list = 0;
	for (size_t i = 0; i < sizeof known_vars / sizeof known_vars[0]; i++) {
		if (strlen(known_vars[i].name) == n && memcmp(known_vars[i].name, name, n) == 0) {
			*list = known_vars[i].kind == V_XFF;
			return known_vars[i].kind;
		}
	}
	/* Upstream variables log one value per upstream tried: "0.004, 0.010". */
	if (n > 9 && memcmp(name, "upstream_", 9) == 0)
		*list = 1;
	return V_IGNORE;
}

/*
** Turns the nginx.conf form of a format into the bare format string:
**   log_format main escape=default '$remote_addr - ' '"$request"';
** becomes  $remote_addr - "$request". nginx concatenates its format
** arguments without a separator, and so do we. Returns a string owned by the
** caller, or NULL with err set.
*/
static char *unwrap_config(const char *s, size_t n, char *err, size_t errlen)
{
	const char *p = s, *e = s + n;
	char *out = em_malloc(n + 1);
	size_t o = 0;
	int pieces = 0;

	if (e - p > 10 && memcmp(p, "log_format", 10) == 0 && is_space((unsigned char)p[10])) {
		p += 10;
		while (p < e && is_space((unsigned char)*p))
			p++;
		const char *name = p;
		while (p < e && !is_space((unsigned char)*p) && *p != '\'' && *p != '"')
			p++;
		if (p == name) {
			set_err(err, errlen, "column %zu: log_format without a name", (size_t)(p - s) + 1);
			goto bad;
		}
		while (p < e && is_space((unsigned char)*p))
			p++;
		/* escape=json changes how quotes are escaped (\" instead of
		   \x22); the parser accepts both, so the parameter is skipped. */
		if (e - p > 7 && memcmp(p, "escape=", 7) == 0) {
			while (p < e && !is_space((unsigned char)*p))
				p++;
		}
	}
	for (;;) {
		while (p < e && (is_space((unsigned char)*p) || *p == '\n' || *p == '\r'))
			p++;
		if (p == e)
			break;
		if (*p == ';') {
			p++;
			while (p < e && (is_space((unsigned char)*p) || *p == '\n' || *p == '\r'))
				p++;
			if (p != e) {
				set_err(err, errlen, "column %zu: text after ';'", (size_t)(p - s) + 1);
				goto bad;
			}
			break;
		}
		if (*p == '\'' || *p == '"') {
			char q = *p;
			const char *open = p++;
			for (;;) {
				if (p == e) {
					set_err(err, errlen, "column %zu: unterminated %c string",
						(size_t)(open - s) + 1, q);
					goto bad;
				}
				if (*p == q) {
					p++;
					break;
				}
				/* nginx.conf escapes: \" \' \\ \t \r \n; others stay as written. */
				if (*p == '\\' && p + 1 < e) {
					char c = p[1];
					if (c == '"' || c == '\'' || c == '\\') {
						out[o++] = c;
						p += 2;
						continue;
					}
					if (c == 't' || c == 'n' || c == 'r') {
						out[o++] = c == 't' ? '\t' : c == 'n' ? '\n' : '\r';
						p += 2;
						continue;
					}
				}
				out[o++] = *p++;
			}
		} else {
			while (p < e && !is_space((unsigned char)*p) && *p != ';' && *p != '\'' && *p != '"')
				out[o++] = *p++;
		}
		pieces++;
	}
	if (!pieces) {
		set_err(err, errlen, "log_format without a format string");
		goto bad;
	}
	out[o] = '\0';
	return out;
bad:
	em_free(out);
	return NULL;
}

static int tokenize(em_logfmt *f, const char *s, size_t n, char *err, size_t errlen)
{
	size_t i = 0, o = 0;

	/* Literals and names together are never longer than the spec. */
	f->lits = em_malloc(n + 1);
	while (i < n && s[i] != '$')
		f->lits[o++] = s[i++];
	f->lead_n = (unsigned)o;

	while (i < n) {
		size_t col = i + 1, name_start, name_len;
		i++; /* '$' */
		if (i < n && s[i] == '{') {
			name_start = ++i;
			while (i < n && is_name_char((unsigned char)s[i]))
				i++;
			if (i == n || s[i] != '}') {
				set_err(err, errlen, "column %zu: '${' without a closing '}'", col);
				return EM_EINVAL;
			}
			name_len = i - name_start;
			i++;
		} else {
			name_start = i;
			while (i < n && is_name_char((unsigned char)s[i]))
				i++;
			name_len = i - name_start;
		}
		if (name_len == 0) {
			set_err(err, errlen, "column %zu: '$' without a variable name", col);
			return EM_EINVAL;
		}
		if (f->nfields == EM_LOGFMT_MAX_FIELDS) {
			set_err(err, errlen, "column %zu: more than %d variables", col, EM_LOGFMT_MAX_FIELDS);
			return EM_ETOOBIG;
		}
		struct field *fd = &f->fields[f->nfields++];
		int list;
		fd->kind = (unsigned char)lookup_kind(s + name_start, name_len, &list);
		fd->list = (unsigned char)list;
		fd->name_off = (unsigned)o;
		fd->name_n = (unsigned)name_len;
		memcpy(f->lits + o, s + name_start, name_len);
		o += name_len;

		fd->after_off = (unsigned)o;
		while (i < n && s[i] != '$')
			f->lits[o++] = s[i++];
		fd->after_n = (unsigned)(o - fd->after_off);
		if (fd->after_n == 0 && i < n) {
			/* Without a separator there is no telling where one value
			   ends and the next begins. */
			set_err(err, errlen, "column %zu: $%.*s and the next variable need a separator", col,
				(int)name_len, s + name_start);
			return EM_EINVAL;
		}
	}
	if (f->nfields == 0) {
		set_err(err, errlen, "no variables in the log format");
		return EM_EINVAL;
	}
	f->lits[o] = '\0';
	return 0;
}

/* Decides quoting and delimiters, and which field fills which slot. */
static void finish(em_logfmt *f)
{
	const char *prev = f->lits;
	size_t prev_n = f->lead_n;

	for (unsigned i = 0; i < f->nfields; i++) {
		struct field *fd = &f->fields[i];
		const char *after = f->lits + fd->after_off;
		fd->quoted = prev_n > 0 && prev[prev_n - 1] == '"' && fd->after_n > 0 && after[0] == '"';
		fd->delim = fd->after_n ? after[0] : 0;
		fd->last = i + 1 == f->nfields;
		prev = after;
		prev_n = fd->after_n;
	}
	for (int s = 0; s < S__COUNT; s++) {
		int best = -1;
		for (unsigned i = 0; i < f->nfields; i++) {
			if (!(kind_slots(f->fields[i].kind) & BIT(s)))
				continue;
			if (best < 0 || kind_prio(f->fields[i].kind) < kind_prio(f->fields[best].kind))
				best = (int)i;
		}
		if (best >= 0)
			f->fields[best].writes |= BIT(s);
	}
	static const unsigned slot_mask[S__COUNT] = {
		[S_IP] = EM_LOGF_IP,
		[S_METHOD] = EM_LOGF_METHOD,
		[S_TARGET] = EM_LOGF_TARGET,
		[S_REFERRER] = EM_LOGF_REFERRER,
		[S_UA] = EM_LOGF_USER_AGENT,
		[S_HOST] = EM_LOGF_HOST,
		[S_XFF] = EM_LOGF_FORWARDED_FOR,
		[S_STATUS] = EM_LOGF_STATUS,
		[S_BYTES] = EM_LOGF_BYTES,
		[S_TIME] = EM_LOGF_TIME,
		[S_RTIME] = EM_LOGF_REQUEST_TIME,
	};
	for (unsigned i = 0; i < f->nfields; i++)
		for (int s = 0; s < S__COUNT; s++)
			if (f->fields[i].writes & BIT(s))
				f->mask |= slot_mask[s];
}

int em_logfmt_compile(const char *spec, em_logfmt **out, char *err, size_t errlen)
{
	*out = NULL;
	set_err(err, errlen, "ok");
	if (!spec) {
		set_err(err, errlen, "no log format");
		return EM_EINVAL;
	}
	size_t n = strnlen(spec, EM_LOGFMT_MAX_SPEC + 1);
	if (n > EM_LOGFMT_MAX_SPEC) {
		set_err(err, errlen, "log format longer than %d bytes", EM_LOGFMT_MAX_SPEC);
		return EM_ETOOBIG;
	}
	while (n > 0 && (is_space((unsigned char)spec[n - 1]) || spec[n - 1] == '\n' || spec[n - 1] == '\r'))
		n--;
	while (n > 0 && (is_space((unsigned char)*spec) || *spec == '\n' || *spec == '\r')) {
		spec++;
		n--;
	}
	if (n == 0) {
		set_err(err, errlen, "empty log format");
		return EM_EINVAL;
	}
	for (size_t i = 0; i < sizeof builtin_names / sizeof builtin_names[0]; i++) {
		if (strlen(builtin_names[i][0]) == n && strncasecmp(spec, builtin_names[i][0], n) == 0) {
			spec = builtin_names[i][1];
			n = strlen(spec);
			break;
		}
	}

	char *unwrapped = NULL;
	if (spec[0] == '\'' ||
	    (n > 10 && memcmp(spec, "log_format", 10) == 0 && is_space((unsigned char)spec[10]))) {
		unwrapped = unwrap_config(spec, n, err, errlen);
		if (!unwrapped)
			return EM_EINVAL;
		spec = unwrapped;
		n = strlen(unwrapped);
	}

	em_logfmt *f = em_calloc(1, sizeof *f);
	f->magic = LOGFMT_MAGIC;
	int rc = tokenize(f, spec, n, err, errlen);
	em_free(unwrapped);
	if (rc) {
		em_logfmt_free(f);
		return rc;
	}
	finish(f);
	*out = f;
	return 0;
}

void em_logfmt_free(em_logfmt *f)
{
	if (!f)
		return;
	EM_MAGIC_CHECK(f, LOGFMT_MAGIC);
	f->magic = 0;
	em_free(f->lits);
	em_free(f);
}

unsigned em_logfmt_fields(const em_logfmt *f)
{
	EM_MAGIC_CHECK(f, LOGFMT_MAGIC);
	return f->mask;
}

/* ---- values ---- */

/* Reads exactly n digits at p. */
static inline int digits(const char *p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned)((unsigned char)p[i] - '0');
		if (d > 9)
			return -1;
		x = x * 10 + (int)d;
	}
	*v = x;
	return 0;
}

static inline int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int days_in_month(int y, int m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/*
** Days since 1970-01-01 of a proleptic Gregorian date (year >= 1). The year is
** counted from March so that the leap day is the last day of its year; then
** the days before a month are (153 * month_from_march + 2) / 5, and whole
** years contribute 365 days plus the leap days of the 4/100/400 rule.
** 719468 is the day number of 1970-01-01 on that scale.
*/
static inline int64_t days_from_civil(int y, int m, int d)
{
	int64_t yy = y - (m < 3);
	int mm = m < 3 ? m + 9 : m - 3;
	int64_t doy = (153 * mm + 2) / 5 + d - 1;
	return 365 * yy + yy / 4 - yy / 100 + yy / 400 + doy - 719468;
}

static inline int valid_date(int y, int mo, int d, int h, int mi, int s)
{
	/* Second 60 is a leap second; it counts as the next second's start. */
	return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h < 24 && mi < 60 &&
	       s <= 60;
}

static inline int64_t to_ms(int y, int mo, int d, int h, int mi, int s, int ms, int off_min)
{
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - (int64_t)off_min * 60;
	return secs * 1000 + ms;
}

static int month_number(const char *p)
{
	/* Case-folded three letters as one integer, compared with a switch. */
	unsigned k = ((unsigned)((unsigned char)p[0] | 0x20) << 16) |
		     ((unsigned)((unsigned char)p[1] | 0x20) << 8) | (unsigned)((unsigned char)p[2] | 0x20);
#define M3(a, b, c) (((unsigned)(a) << 16) | ((unsigned)(b) << 8) | (unsigned)(c))
	switch (k) {
	case M3('j', 'a', 'n'): return 1;
	case M3('f', 'e', 'b'): return 2;
	case M3('m', 'a', 'r'): return 3;
	case M3('a', 'p', 'r'): return 4;
	case M3('m', 'a', 'y'): return 5;
	case M3('j', 'u', 'n'): return 6;
	case M3('j', 'u', 'l'): return 7;
	case M3('a', 'u', 'g'): return 8;
	case M3('s', 'e', 'p'): return 9;
	case M3('o', 'c', 't'): return 10;
	case M3('n', 'o', 'v'): return 11;
	case M3('d', 'e', 'c'): return 12;
	default: return 0;
	}
#undef M3
}

/* Parses "+hhmm", "-hhmm", "+hh:mm" (colon == 1) into minutes east of UTC. */
static int tz_offset(const char *p, int colon, int *off_min)
{
	int hh, mm;
	if (p[0] != '+' && p[0] != '-')
		return -1;
	if (digits(p + 1, 2, &hh) || (colon && p[3] != ':') || digits(p + 3 + colon, 2, &mm) || hh > 18 ||
	    mm > 59)
		return -1;
	*off_min = (hh * 60 + mm) * (p[0] == '-' ? -1 : 1);
	return 0;
}

/* $time_local: "10/Oct/2000:13:55:36 -0700", exactly 26 bytes. */
#define TIME_LOCAL_LEN 26

static int parse_time_local(const char *p, int64_t *ms)
{
	int d, y, h, mi, s, off;
	int mo = month_number(p + 3);
	if (digits(p, 2, &d) || p[2] != '/' || !mo || p[6] != '/' || digits(p + 7, 4, &y) || p[11] != ':' ||
	    digits(p + 12, 2, &h) || p[14] != ':' || digits(p + 15, 2, &mi) || p[17] != ':' ||
	    digits(p + 18, 2, &s) || p[20] != ' ' || tz_offset(p + 21, 0, &off) ||
	    !valid_date(y, mo, d, h, mi, s))
		return -1;
	*ms = to_ms(y, mo, d, h, mi, s, 0, off);
	return 0;
}

/* $time_iso8601: "2000-10-10T13:55:36-07:00"; also accepted: "Z", "+0200"
   and a fraction of a second, as other servers write ISO times that way. */
static int parse_time_iso(const char *p, const char *e, int64_t *ms)
{
	int y, mo, d, h, mi, s, frac = 0, off = 0;
	if (e - p < 20 || digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &mo) || p[7] != '-' ||
	    digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != ' ') || digits(p + 11, 2, &h) || p[13] != ':' ||
	    digits(p + 14, 2, &mi) || p[16] != ':' || digits(p + 17, 2, &s) ||
	    !valid_date(y, mo, d, h, mi, s))
		return -1;
	p += 19;
	if (*p == '.') {
		int nd = 0;
		p++;
		while (p < e && is_digit((unsigned char)*p)) {
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0)
			return -1;
		for (; nd < 3; nd++)
			frac *= 10;
	}
	if (e - p == 1 && *p == 'Z')
		off = 0;
	else if (e - p == 6 ? tz_offset(p, 1, &off) : e - p == 5 ? tz_offset(p, 0, &off) : -1)
		return -1;
	*ms = to_ms(y, mo, d, h, mi, s, frac, off);
	return 0;
}

/*
** Reads "123" or "123.456" (at most 15 integer digits) as an integer part and
** up to 9 fraction digits scaled to nanoseconds. No strtod: it depends on
** the locale's decimal point and is several times slower.
*/
static int parse_decimal(const char *p, const char *e, int64_t *ip, int64_t *frac_ns)
{
	int64_t x = 0, fr = 0;
	int nd = 0;
	const char *start = p;
	while (p < e && is_digit((unsigned char)*p)) {
		if (p - start >= 15)
			return -1;
		x = x * 10 + (*p++ - '0');
	}
	if (p == start)
		return -1;
	if (p < e && *p == '.') {
		p++;
		const char *fs = p;
		while (p < e && is_digit((unsigned char)*p)) {
			if (nd < 9) {
				fr = fr * 10 + (*p - '0');
				nd++;
			}
			p++;
		}
		if (p == fs)
			return -1;
	}
	if (p != e)
		return -1;
	for (; nd < 9; nd++)
		fr *= 10;
	*ip = x;
	*frac_ns = fr;
	return 0;
}

static int parse_int64(const char *p, const char *e, int64_t *v)
{
	int64_t x = 0;
	if (p == e || e - p > 18)
		return -1;
	for (; p < e; p++) {
		unsigned d = (unsigned)((unsigned char)*p - '0');
		if (d > 9)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static inline em_slice slice(const char *p, const char *e)
{
	em_slice s = {p, (size_t)(e - p)};
	return s;
}

/* "-" means the field was empty. */
static inline em_slice slice_or_empty(const char *p, const char *e)
{
	em_slice s = {p, is_dash(p, e) ? 0 : (size_t)(e - p)};
	return s;
}

static int valid_method(const char *p, const char *e)
{
	if (p == e || e - p > 32)
		return 0;
	for (; p < e; p++)
		if (!is_tchar((unsigned char)*p))
			return 0;
	return 1;
}

/* "HTTP/1.1", "HTTP/2.0", "HTTP/2", "HTTP/3". */
static int valid_proto(const char *p, const char *e)
{
	if (e - p < 6 || memcmp(p, "HTTP/", 5) != 0 || !is_digit((unsigned char)p[5]))
		return 0;
	p += 6;
	if (p == e)
		return 1;
	return e - p == 2 && p[0] == '.' && is_digit((unsigned char)p[1]);
}

static int starts_with_ci(const char *p, const char *e, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(e - p) < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] | 0x20) != (unsigned char)lit[i])
			return 0;
	return 1;
}

/*
** Splits "GET /path?x HTTP/1.1" into its parts. Whatever nginx wrote for a
** request it could not read ("-", a TLS handshake on the plain port,
** "\x16\x03\x01...", a lone path) fails here, with the reason in *what.
*/
static int split_request(const char *p, const char *e, em_slice *method, em_slice *target, em_slice *proto,
			 const char **what)
{
	if (p == e || is_dash(p, e)) {
		*what = "empty request line";
		return -1;
	}
	const char *sp = memchr(p, ' ', (size_t)(e - p));
	if (!sp || !valid_method(p, sp)) {
		*what = "no method";
		return -1;
	}
	*method = slice(p, sp);
	const char *t = sp;
	while (t < e && *t == ' ')
		t++;
	const char *te = e;
	*proto = slice(e, e);
	const char *last = memrchr(t, ' ', (size_t)(e - t));
	if (last) {
		if (!valid_proto(last + 1, e)) {
			*what = "bad protocol";
			return -1;
		}
		*proto = slice(last + 1, e);
		te = last;
		while (te > t && te[-1] == ' ')
			te--;
	} else if (e - t >= 5 && memcmp(t, "HTTP/", 5) == 0) {
		*what = "no target";
		return -1;
	}
	/* HTTP/0.9 requests ("GET /") have no protocol; they are still requests. */
	if (te == t) {
		*what = "no target";
		return -1;
	}
	if (*t != '/' && !(*t == '*' && te - t == 1) && !starts_with_ci(t, te, "http://") &&
	    !starts_with_ci(t, te, "https://") && !(sp - p == 7 && memcmp(p, "CONNECT", 7) == 0)) {
		*what = "bad target";
		return -1;
	}
	*target = slice(t, te);
	return 0;
}

/* Literals are one to four bytes in practice (" ", " [", "] \"", "\" \""):
   a loop beats a call to memcmp there. */
static inline int lit_eq(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != lit[i])
			return 0;
	return 1;
}

/* Whether the quote at q is escaped by an odd number of backslashes. */
static inline int backslashed(const char *start, const char *q)
{
	size_t n = 0;
	while (q > start && q[-1] == '\\') {
		q--;
		n++;
	}
	return n & 1;
}

/*
** Finds the quote that closes a quoted field starting at p: the first quote
** (not escaped with a backslash, when honour_bs) that is followed by the
** rest of the literal after the field. A quote that is not, such as the raw
** quotes nginx writes with escape=none, belongs to the value. When the line
** ends inside the literal the quote is returned all the same, so that the
** caller reports a truncated line rather than a mismatch.
*/
static const char *closing_quote(const char *p, const char *e, const char *lit, size_t lit_n, int last,
				 int honour_bs)
{
	const char *q = p;
	while (q < e) {
		q = memchr(q, '"', (size_t)(e - q));
		if (!q)
			return NULL;
		if (honour_bs && backslashed(p, q)) {
			q++;
			continue;
		}
		size_t avail = (size_t)(e - q);
		if (avail >= lit_n) {
			if (lit_eq(q, lit, lit_n) &&
			    (!last || avail == lit_n || is_space((unsigned char)q[lit_n])))
				return q;
		} else if (memcmp(q, lit, avail) == 0) {
			return q;
		}
		q++;
	}
	return NULL;
}

/* Finds the end of an unquoted field: the delimiter, except inside the
   "a, b" and "a : b" lists that X-Forwarded-For and upstream_* hold. */
static const char *field_end(const char *p, const char *e, char delim, int list)
{
	const char *q = p;
	for (;;) {
		q = memchr(q, delim, (size_t)(e - q));
		if (!q)
			return e;
		if (!list || delim != ' ')
			return q;
		if (q > p && q[-1] == ',') {
			q++;
			continue;
		}
		if (e - q >= 3 && q[1] == ':' && q[2] == ' ') {
			q += 3;
			continue;
		}
		return q;
	}
}

/*
** The first control byte of a line other than a tab, if any: the mark of
** binary junk (NUL runs after a crash, TLS handshakes written raw by a
** broken logger). nginx and Apache escape such bytes in the values they
** log, so a raw one means the line is not what the server wrote. Every line
** is checked, eight bytes at a time: a byte below 0x20 makes
** (x - 0x20 in every byte) & ~x & 0x80 in every byte non-zero (the classic
** "has a byte less than n" test), and only then are the bytes looked at.
*/
static const char *first_ctl(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, p + i, 8);
		if (((x - ones * 0x20) & ~x & highs) == 0)
			continue;
		for (size_t k = i; k < i + 8; k++)
			if ((unsigned char)p[k] < 0x20 && p[k] != '\t')
				return p + k;
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			return p + i;
	return NULL;
}

/* Context the error path needs; kept out of the good path's way. */
struct pctx {
	const em_logfmt *f;
	const char *line, *end;
	em_logline *out;
	char *err;
	size_t errlen;
};

static const char *field_name(const em_logfmt *f, const struct field *fd)
{
	return f->lits + fd->name_off;
}

/*
** Reports a failure. A value that runs to the end of a line that should go
** on, or an empty last value at the very end, is "truncated".
*/
static int report(struct pctx *c, int why, const char *at, const struct field *fd, const char *vs,
		  const char *ve, const char *what)
{
	size_t col = (size_t)(at - c->line) + 1;
	char snip[96];
	/* Not for the first field: a line with no separator at all (JSON, a
	   stray banner) is not a cut-off log line. */
	if (why != EM_LOGSKIP_TRUNCATED && ve == c->end && fd != &c->f->fields[0] &&
	    (!(fd->last && fd->after_n == 0) || vs == ve)) {
		return fail(c->out, EM_LOGSKIP_TRUNCATED, c->err, c->errlen,
			    "column %zu: line ends inside $%.*s", col, (int)fd->name_n, field_name(c->f, fd));
	}
	quote_snippet(snip, sizeof snip, vs, (size_t)(ve - vs), 24);
	return fail(c->out, why, c->err, c->errlen, "column %zu: %s in $%.*s '%s'", col, what,
		    (int)fd->name_n, field_name(c->f, fd), snip);
}

/* A literal of the format did not match at p. */
static int report_literal(struct pctx *c, const char *p, const char *lit, size_t lit_n, int next)
{
	const em_logfmt *f = c->f;
	size_t col = (size_t)(p - c->line) + 1;
	char want[64];
	size_t avail = (size_t)(c->end - p);
	quote_snippet(want, sizeof want, lit, lit_n, 16);
	int why = avail < lit_n && memcmp(p, lit, avail) == 0 ? EM_LOGSKIP_TRUNCATED : EM_LOGSKIP_MISMATCH;
	if (why == EM_LOGSKIP_TRUNCATED && next < (int)f->nfields)
		return fail(c->out, why, c->err, c->errlen, "column %zu: line ends before $%.*s", col,
			    (int)f->fields[next].name_n, field_name(f, &f->fields[next]));
	if (why == EM_LOGSKIP_TRUNCATED)
		return fail(c->out, why, c->err, c->errlen, "column %zu: line ends before the closing '%s'",
			    col, want);
	if (next < (int)f->nfields)
		return fail(c->out, why, c->err, c->errlen, "column %zu: expected '%s' before $%.*s", col,
			    want, (int)f->fields[next].name_n, field_name(f, &f->fields[next]));
	return fail(c->out, why, c->err, c->errlen, "column %zu: expected '%s' after $%.*s", col, want,
		    (int)f->fields[next - 1].name_n, field_name(f, &f->fields[next - 1]));
}

/* Converts one field's value [vs, ve) into the slots it fills. */
static int store_field(struct pctx *c, const struct field *fd, const char *vs, const char *ve)
{
	em_logline *out = c->out;
	unsigned w = fd->writes;
	int64_t ip, fr;
	const char *what;

	switch (fd->kind) {
	case V_REMOTE_ADDR:
		if (!w)
			return 0;
		if (vs == ve || is_dash(vs, ve) || ve - vs > 253)
			return report(c, EM_LOGSKIP_BAD_IP, vs, fd, vs, ve, "bad address");
		for (const char *p = vs; p < ve; p++)
			if (!is_addr_char((unsigned char)*p))
				return report(c, EM_LOGSKIP_BAD_IP, p, fd, vs, ve, "bad address");
		out->ip = slice(vs, ve);
		return 0;
	case V_TIME_LOCAL:
		if (ve - vs != TIME_LOCAL_LEN || parse_time_local(vs, &ip))
			return report(c, EM_LOGSKIP_BAD_TIME, vs, fd, vs, ve, "bad time");
		if (w)
			out->ts_ms = ip;
		return 0;
	case V_TIME_ISO:
		if (parse_time_iso(vs, ve, &ip))
			return report(c, EM_LOGSKIP_BAD_TIME, vs, fd, vs, ve, "bad time");
		if (w)
			out->ts_ms = ip;
		return 0;
	case V_MSEC:
		if (parse_decimal(vs, ve, &ip, &fr))
			return report(c, EM_LOGSKIP_BAD_TIME, vs, fd, vs, ve, "bad time");
		if (w)
			out->ts_ms = ip * 1000 + fr / 1000000;
		return 0;
	case V_REQUEST: {
		em_slice m = {0}, t = {0}, pr = {0};
		if (split_request(vs, ve, &m, &t, &pr, &what))
			return report(c, EM_LOGSKIP_BAD_REQUEST, vs, fd, vs, ve, what);
		if (w & BIT(S_METHOD))
			out->method = m;
		if (w & BIT(S_TARGET))
			out->target = t;
		if (w & BIT(S_PROTO))
			out->proto = pr;
		return 0;
	}
	case V_METHOD:
		if (!valid_method(vs, ve))
			return report(c, EM_LOGSKIP_BAD_REQUEST, vs, fd, vs, ve, "bad method");
		if (w)
			out->method = slice(vs, ve);
		return 0;
	case V_REQUEST_URI:
	case V_URI:
		if (w)
			out->target = slice_or_empty(vs, ve);
		return 0;
	case V_ARGS:
		if (w)
			out->query = slice_or_empty(vs, ve);
		return 0;
	case V_PROTOCOL:
		if (w)
			out->proto = slice_or_empty(vs, ve);
		return 0;
	case V_STATUS: {
		int st;
		if (ve - vs != 3 || digits(vs, 3, &st) || st < 100 || st > 599)
			return report(c, EM_LOGSKIP_BAD_STATUS, vs, fd, vs, ve, "bad status");
		if (w)
			out->status = st;
		return 0;
	}
	case V_BODY_BYTES:
	case V_BYTES_SENT:
		if (is_dash(vs, ve)) {
			ip = -1;
		} else if (parse_int64(vs, ve, &ip)) {
			return report(c, EM_LOGSKIP_BAD_BYTES, vs, fd, vs, ve, "bad byte count");
		}
		if (w)
			out->bytes = ip;
		return 0;
	case V_REFERER:
		if (w)
			out->referrer = slice_or_empty(vs, ve);
		return 0;
	case V_USER_AGENT:
		if (w)
			out->user_agent = slice_or_empty(vs, ve);
		return 0;
	case V_HOST:
	case V_HTTP_HOST:
	case V_SERVER_NAME:
		if (w)
			out->host = slice_or_empty(vs, ve);
		return 0;
	case V_REMOTE_USER:
		if (w)
			out->user = slice_or_empty(vs, ve);
		return 0;
	case V_XFF:
		if (w)
			out->forwarded_for = slice_or_empty(vs, ve);
		return 0;
	case V_REQUEST_TIME:
		if (is_dash(vs, ve)) {
			if (w)
				out->request_time = -1;
			return 0;
		}
		if (parse_decimal(vs, ve, &ip, &fr))
			return report(c, EM_LOGSKIP_BAD_NUMBER, vs, fd, vs, ve, "bad number");
		if (w)
			out->request_time = (double)ip + (double)fr / 1e9;
		return 0;
	default: return 0;
	}
}

static int all_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space((unsigned char)p[i]))
			return 0;
	return 1;
}

int em_logfmt_parse(const em_logfmt *f, const char *line, size_t len, em_logline *out, char *err,
		    size_t errlen)
{
	EM_MAGIC_CHECK(f, LOGFMT_MAGIC);
	memset(out, 0, sizeof *out);
	out->bytes = -1;
	out->request_time = -1;
	if (err && errlen)
		err[0] = '\0';

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	const char *ctl = first_ctl(line, len);
	if (ctl)
		return fail(out, EM_LOGSKIP_BINARY, err, errlen,
			    "column %zu: control byte 0x%02x in the line", (size_t)(ctl - line) + 1,
			    (unsigned char)*ctl);
	if (all_blank(line, len))
		return fail(out, EM_LOGSKIP_EMPTY, err, errlen, "empty line");

	struct pctx c = {f, line, line + len, out, err, errlen};
	const char *p = line, *e = line + len;

	if (f->lead_n) {
		if ((size_t)(e - p) < f->lead_n || !lit_eq(p, f->lits, f->lead_n))
			return report_literal(&c, p, f->lits, f->lead_n, 0);
		p += f->lead_n;
	}
	for (unsigned i = 0; i < f->nfields; i++) {
		const struct field *fd = &f->fields[i];
		const char *lit = f->lits + fd->after_off;
		const char *vs = p, *ve;

		if (fd->kind == V_TIME_LOCAL) {
			/* Fixed width: its own space must not end the field. */
			ve = e - p >= TIME_LOCAL_LEN ? p + TIME_LOCAL_LEN : e;
		} else if (fd->quoted) {
			ve = closing_quote(p, e, lit, fd->after_n, fd->last, 1);
			if (!ve)
				ve = closing_quote(p, e, lit, fd->after_n, fd->last, 0);
			if (!ve && fd->last) {
				/* Bytes glued to the closing quote: take the last
				   quote, and the trailing check below names them. */
				const char *q = e;
				while ((q = memrchr(p, '"', (size_t)(q - p))) && backslashed(p, q))
					;
				ve = q;
			}
			if (!ve) {
				return fail(out, EM_LOGSKIP_TRUNCATED, err, errlen,
					    "column %zu: no closing quote for $%.*s", (size_t)(p - line) + 1,
					    (int)fd->name_n, field_name(f, fd));
			}
		} else if (fd->delim) {
			ve = field_end(p, e, fd->delim, fd->list);
		} else {
			/* The last field ends at the first space: anything after
			   it is extra fields the format does not name. */
			ve = field_end(p, e, ' ', fd->list);
		}
		if (store_field(&c, fd, vs, ve))
			return EM_EINVAL;
		p = ve;
		if (fd->after_n) {
			if ((size_t)(e - p) < fd->after_n || !lit_eq(p, lit, fd->after_n))
				return report_literal(&c, p, lit, fd->after_n, (int)i + 1);
			p += fd->after_n;
		}
	}
	/* Formats grow at the end: a space then anything is extra fields. */
	if (p < e && !is_space((unsigned char)*p)) {
		char snip[64];
		quote_snippet(snip, sizeof snip, p, (size_t)(e - p), 16);
		return fail(out, EM_LOGSKIP_TRAILING, err, errlen,
			    "column %zu: unexpected '%s' after the last field", (size_t)(p - line) + 1, snip);
	}
	return 0;
}

/* ---- page views ---- */

#define LIT(s) \
	{ \
		s, sizeof(s) - 1 \
	}

/* Extensions of files that are parts of a page or downloads, not pages. */
static int is_asset_ext(const char *x, size_t n)
{
	static const struct {
		const char *s;
		size_t n;
	} exts[] = {
		LIT("css"),  LIT("js"),	  LIT("mjs"),	LIT("cjs"),  LIT("map"),      LIT("json"),
		LIT("xml"),  LIT("txt"),  LIT("png"),	LIT("jpg"),  LIT("jpeg"),     LIT("gif"),
		LIT("svg"),  LIT("ico"),  LIT("webp"),	LIT("avif"), LIT("bmp"),      LIT("tif"),
		LIT("tiff"), LIT("woff"), LIT("woff2"), LIT("ttf"),  LIT("otf"),      LIT("eot"),
		LIT("mp4"),  LIT("webm"), LIT("mp3"),	LIT("ogg"),  LIT("oga"),      LIT("ogv"),
		LIT("wav"),  LIT("m4a"),  LIT("m4v"),	LIT("mov"),  LIT("avi"),      LIT("flac"),
		LIT("pdf"),  LIT("zip"),  LIT("gz"),	LIT("tgz"),  LIT("tar"),      LIT("rar"),
		LIT("7z"),   LIT("bz2"),  LIT("xz"),	LIT("exe"),  LIT("dmg"),      LIT("apk"),
		LIT("msi"),  LIT("iso"),  LIT("wasm"),	LIT("swf"),  LIT("csv"),      LIT("rss"),
		LIT("atom"), LIT("heic"), LIT("gpx"),	LIT("kml"),  LIT("appcache"), LIT("webmanifest"),
	};
	char low[12];
	if (n == 0 || n >= sizeof low)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)x[i];
		low[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch | 0x20 : ch);
	}
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (exts[i].n == n && memcmp(exts[i].s, low, n) == 0)
			return 1;
	return 0;
}

/* Paths that machines fetch: entries ending in '/' match as a prefix, the
   others exactly. */
static int is_noise_path(const char *p, size_t n)
{
	static const struct {
		const char *s;
		size_t n;
	} noise[] = {
		LIT("/.well-known/"),
		LIT("/robots.txt"),
		LIT("/favicon.ico"),
		LIT("/wp-cron.php"),
		LIT("/xmlrpc.php"),
		LIT("/wp-json/"),
		LIT("/wp-admin/admin-ajax.php"),
		LIT("/server-status"),
		LIT("/nginx_status"),
		LIT("/cdn-cgi/"),
		LIT("/_next/"),
		LIT("/api/"),
		LIT("/graphql"),
		LIT("/healthz"),
		LIT("/health"),
	};
	for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++) {
		size_t ln = noise[i].n;
		if (noise[i].s[ln - 1] == '/') {
			if (n >= ln && memcmp(p, noise[i].s, ln) == 0)
				return 1;
		} else if (n == ln && memcmp(p, noise[i].s, ln) == 0) {
			return 1;
		}
	}
	return 0;
}

int em_logfmt_is_pageview(const em_logline *l)
{
	if (l->method.n) {
		if (!(l->method.n == 3 && memcmp(l->method.p, "GET", 3) == 0) &&
		    !(l->method.n == 4 && memcmp(l->method.p, "HEAD", 4) == 0))
			return 0;
	}
	/* 304 is a person coming back to a page the browser has cached; other
	   3xx are redirects whose target is logged as its own hit. 204 and 206
	   answer beacons and media range requests, not page loads. */
	if (l->status && !(l->status == 304 ||
			   (l->status >= 200 && l->status <= 299 && l->status != 204 && l->status != 206)))
		return 0;
	if (l->target.n == 0)
		return 0;

	const char *p = l->target.p, *e = p + l->target.n;
	if (starts_with_ci(p, e, "http://") || starts_with_ci(p, e, "https://")) {
		/* Absolute form, as proxies see it: skip the scheme and authority. */
		p = (const char *)memchr(p, ':', (size_t)(e - p)) + 3;
		p = memchr(p, '/', (size_t)(e - p));
		if (!p)
			return 1; /* "http://host" is the home page */
	}
	if (*p != '/')
		return 0;
	const char *pe = p;
	while (pe < e && *pe != '?' && *pe != '#' && *pe != ';')
		pe++;
	if (is_noise_path(p, (size_t)(pe - p)))
		return 0;
	const char *seg = memrchr(p, '/', (size_t)(pe - p));
	const char *dot = memrchr(seg, '.', (size_t)(pe - seg));
	if (dot && is_asset_ext(dot + 1, (size_t)(pe - dot - 1)))
		return 0;
	return 1;
}

/* ---- unescaping ---- */

static int hexval(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t em_logfmt_unescape(em_slice s, char *dst, size_t dstlen)
{
	size_t o = 0;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		if (c == '\\' && i + 1 < s.n) {
			char nx = s.p[i + 1];
			int hi, lo;
			switch (nx) {
			case 'x':
				/* nginx's default escaping: \xHH. */
				if (i + 3 < s.n && (hi = hexval((unsigned char)s.p[i + 2])) >= 0 &&
				    (lo = hexval((unsigned char)s.p[i + 3])) >= 0) {
					c = (char)(hi << 4 | lo);
					i += 3;
				}
				break;
			case 'u':
				/* nginx's escape=json writes control bytes as \u00HH. */
				if (i + 5 < s.n && s.p[i + 2] == '0' && s.p[i + 3] == '0' &&
				    (hi = hexval((unsigned char)s.p[i + 4])) >= 0 &&
				    (lo = hexval((unsigned char)s.p[i + 5])) >= 0) {
					c = (char)(hi << 4 | lo);
					i += 5;
				}
				break;
			/* Apache, and nginx's escape=json: \" \\ and C-style letters.
			   nginx's default mode writes a backslash as \x5C, so a
			   backslash-letter pair is always an escape. */
			case '"':
			case '\\':
				c = nx;
				i++;
				break;
			case 'n':
				c = '\n';
				i++;
				break;
			case 'r':
				c = '\r';
				i++;
				break;
			case 't':
				c = '\t';
				i++;
				break;
			case 'b':
				c = '\b';
				i++;
				break;
			case 'f':
				c = '\f';
				i++;
				break;
			case 'v':
				c = '\v';
				i++;
				break;
			default: break;
			}
		}
		if (o + 1 < dstlen)
			dst[o] = c;
		o++;
	}
	if (dstlen)
		dst[o < dstlen ? o : dstlen - 1] = '\0';
	return o;
}
