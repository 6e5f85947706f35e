/*
** Access-log line parser: nginx log_format strings, Apache common/combined.
**
** A format is compiled once (em_logfmt_compile) into a list of literals and
** fields; each line is then parsed against it without allocating, without
** regex and without sscanf, so `emma import-log` and `emma serve --tail` are
** limited by the disk rather than by parsing. Parsed values are slices into
** the caller's line buffer: they live exactly as long as that buffer.
**
** The module does no I/O. Reading files, following rotation, bot filtering
** and sessions are the importer's and the tailer's business.
*/
#ifndef EM_TRACK_ACCESSLOG_H
#define EM_TRACK_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

/* Limits of a compiled format; a spec past them is refused at compile time. */
#define EM_LOGFMT_MAX_SPEC 4096
#define EM_LOGFMT_MAX_FIELDS 64

/*
** A compiled log format. Built from "combined", "common", "vhost_combined"
** or an nginx log_format string such as
**   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$host"
** The string may also be pasted straight from nginx.conf, quotes and all:
**   log_format main '$remote_addr - ...' '"$http_user_agent"';
** Owned by the caller; freed with em_logfmt_free. Immutable after compile,
** so one format may be shared by threads.
*/
typedef struct em_logfmt em_logfmt;

/* Returns 0, or EM_EINVAL / EM_ETOOBIG with a message such as
   "column 12: '$' without a variable name". err may be NULL. */
int em_logfmt_compile(const char *spec, em_logfmt **out, char *err, size_t errlen);
void em_logfmt_free(em_logfmt *f);

/* What a compiled format can tell about a hit, for the importer to refuse a
   format that cannot make visitor events (no address or no time). */
enum {
	EM_LOGF_IP = 1u << 0,
	EM_LOGF_TIME = 1u << 1,
	EM_LOGF_METHOD = 1u << 2,
	EM_LOGF_TARGET = 1u << 3,
	EM_LOGF_STATUS = 1u << 4,
	EM_LOGF_BYTES = 1u << 5,
	EM_LOGF_REFERRER = 1u << 6,
	EM_LOGF_USER_AGENT = 1u << 7,
	EM_LOGF_HOST = 1u << 8,
	EM_LOGF_REQUEST_TIME = 1u << 9,
	EM_LOGF_FORWARDED_FOR = 1u << 10,
};
unsigned em_logfmt_fields(const em_logfmt *f);

/* A view into the parsed line, not NUL-terminated. An empty slice (n == 0)
   stands for an absent field and for the log's "-". */
typedef struct em_slice {
	const char *p;
	size_t n;
} em_slice;

/*
** Why a line was skipped, for the import summary. The keys returned by
** em_logfmt_skip_key are stable: they appear in summaries and metrics.
*/
enum em_logskip {
	EM_LOGSKIP_NONE = 0,	/* "ok": the line parsed */
	EM_LOGSKIP_EMPTY,	/* "empty": nothing but white space */
	EM_LOGSKIP_TRUNCATED,	/* "truncated": the line ends before the format does */
	EM_LOGSKIP_MISMATCH,	/* "format_mismatch": a literal of the format is not there */
	EM_LOGSKIP_TRAILING,	/* "trailing_garbage": bytes glued to the end of the last field */
	EM_LOGSKIP_BINARY,	/* "binary": control bytes or NULs where text belongs */
	EM_LOGSKIP_BAD_IP,	/* "bad_ip" */
	EM_LOGSKIP_BAD_TIME,	/* "bad_time" */
	EM_LOGSKIP_BAD_REQUEST, /* "bad_request": "-", junk or a request line that does not split */
	EM_LOGSKIP_BAD_STATUS,	/* "bad_status" */
	EM_LOGSKIP_BAD_BYTES,	/* "bad_bytes" */
	EM_LOGSKIP_BAD_NUMBER,	/* "bad_number": $request_time and the like */
	EM_LOGSKIP__COUNT
};
const char *em_logfmt_skip_key(int why);

typedef struct em_logline {
	em_slice ip, user, method, target, proto, referrer, user_agent, host;
	em_slice query;		/* $args / $query_string when the format logs $uri apart */
	em_slice forwarded_for; /* $http_x_forwarded_for as logged ("a, b, c") */
	int status;		/* 0 when absent */
	int64_t bytes;		/* -1 when "-" or absent */
	int64_t ts_ms; /* UTC ms from $time_local (with its offset), $time_iso8601 or $msec; 0 when absent */
	double request_time; /* $request_time in seconds, -1 when absent */
	int skip;	     /* enum em_logskip: EM_LOGSKIP_NONE on success, the reason otherwise */
} em_logline;

/*
** Parses one line (without its trailing newline; a trailing "\r" is ignored).
** Slices point into line. Returns 0, or EM_EINVAL with out->skip set and err
** like "column 34: expected '[' before $time_local". err may be NULL; the
** message is only formatted on failure, so passing it costs nothing on good
** lines. Extra fields after the last one of the format (separated by a
** space) are ignored, as log formats grow at the end.
*/
int em_logfmt_parse(const em_logfmt *f, const char *line, size_t len, em_logline *out, char *err,
		    size_t errlen);

/*
** Whether a parsed hit is a page view worth a visitor event: GET or HEAD;
** status 2xx except 204 and 206, or 304; a path that is not a static asset
** by extension (.css .js .png ...) nor well-known noise (/robots.txt,
** /.well-known/..., /wp-cron.php, ...). A format without a method or a
** status is judged on the rest; no target means no page view.
** docs/access-logs.md says why.
** Bots are not judged here: that is the user-agent classifier's job.
*/
int em_logfmt_is_pageview(const em_logline *l);

/*
** Undoes the log's escaping of a slice (nginx "\x22", escape=json "\u0001",
** Apache and JSON "\"", "\\", "\t", ...)
** into dst, always NUL-terminated when dstlen > 0. Returns the decoded length,
** which may exceed dstlen - 1 when dst was too small (then dst is cut).
*/
size_t em_logfmt_unescape(em_slice s, char *dst, size_t dstlen);

#endif
