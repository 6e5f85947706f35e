/*
** libFuzzer target: access-log lines through em_logfmt_parse.
**
** The first byte picks one of a few formats compiled once (combined,
** common, vhost_combined, custom nginx formats with quoted, bracketed, list
** and time variables); the rest is the line. When the first byte picks the
** last slot, the input is "spec\nline" and the spec goes through
** em_logfmt_compile first, so the format compiler is fuzzed as well.
**
** Beyond not crashing, it checks what callers rely on: every slice lies
** inside the line, a success has no skip reason and a failure has one with
** a message naming a column, and unescaping never writes past its buffer.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "track/accesslog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const specs[] = {
	"combined",
	"common",
	"vhost_combined",
	"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
	"\"$http_user_agent\" \"$host\" $request_time",
	"log_format p '$http_x_forwarded_for $remote_addr [$time_iso8601] $host \"$request\" ' '$status "
	"$bytes_sent "
	"$request_time $upstream_response_time \"$http_user_agent\"';",
	"$msec $remote_addr \"$request_method $uri?$args $server_protocol\" $status ${body_bytes_sent}b",
	"$remote_addr\t$time_local\t$request_method\t$request_uri\t$status\t\"$http_referer\"",
};
#define NSPECS (sizeof specs / sizeof specs[0])

static em_logfmt *formats[NSPECS];

static void check_slice(em_slice s, const char *line, size_t len)
{
	if (s.n == 0)
		return;
	if (s.p < line || s.p + s.n > line + len)
		abort();
}

static void check(const em_logfmt *f, const char *line, size_t len)
{
	em_logline l;
	char err[128];
	int rc = em_logfmt_parse(f, line, len, &l, err, sizeof err);
	if (rc == 0) {
		if (l.skip != EM_LOGSKIP_NONE)
			abort();
		check_slice(l.ip, line, len);
		check_slice(l.user, line, len);
		check_slice(l.method, line, len);
		check_slice(l.target, line, len);
		check_slice(l.proto, line, len);
		check_slice(l.referrer, line, len);
		check_slice(l.user_agent, line, len);
		check_slice(l.host, line, len);
		check_slice(l.query, line, len);
		check_slice(l.forwarded_for, line, len);
		if (l.status != 0 && (l.status < 100 || l.status > 599))
			abort();
		if (l.bytes < -1)
			abort();
		(void)em_logfmt_is_pageview(&l);
		/* Exactly sized buffers make ASan catch a write past the end. */
		char *dst = em_malloc(l.user_agent.n + 1);
		if (em_logfmt_unescape(l.user_agent, dst, l.user_agent.n + 1) > l.user_agent.n)
			abort();
		em_free(dst);
		char small[3];
		(void)em_logfmt_unescape(l.target, small, sizeof small);
	} else {
		if (rc != EM_EINVAL || l.skip <= EM_LOGSKIP_NONE || l.skip >= EM_LOGSKIP__COUNT)
			abort();
		if (l.skip != EM_LOGSKIP_EMPTY && strncmp(err, "column ", 7) != 0)
			abort();
		if (strcmp(em_logfmt_skip_key(l.skip), "unknown") == 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!formats[0]) {
		for (size_t i = 0; i < NSPECS; i++)
			if (em_logfmt_compile(specs[i], &formats[i], NULL, 0) != 0)
				abort();
	}
	if (size == 0)
		return 0;
	unsigned pick = data[0] % (NSPECS + 1);
	/* An exact-size heap copy, so a read past the line's end is caught. */
	size_t len = size - 1;
	char *line = em_malloc(len ? len : 1);
	memcpy(line, data + 1, len);

	if (pick < NSPECS) {
		check(formats[pick], line, len);
	} else {
		const char *nl = memchr(line, '\n', len);
		size_t sn = nl ? (size_t)(nl - line) : len;
		char *spec = em_strndup(line, sn);
		em_logfmt *f = NULL;
		char err[128];
		int rc = em_logfmt_compile(spec, &f, err, sizeof err);
		if (rc == 0) {
			if (!f)
				abort();
			const char *rest = nl ? nl + 1 : line + len;
			check(f, rest, (size_t)(line + len - rest));
			em_logfmt_free(f);
		} else if (f || (rc != EM_EINVAL && rc != EM_ETOOBIG) || err[0] == '\0') {
			abort();
		}
		em_free(spec);
	}
	em_free(line);
	return 0;
}
