/*
** Configuration table, INI loader and environment overrides (see config.h).
*/
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

/* C_SECRET: a string that em_config_dump never writes out. */
enum ctype { C_INT, C_SIZE, C_STR, C_SECRET, C_BOOL, C_LEVEL, C_SYNC };

struct cdesc {
	const char *section;
	const char *key;
	enum ctype type;
	size_t off;
	size_t len; /* for strings */
	long long min, max;
	const char *help;
};

#define F(field) offsetof(em_config, field), sizeof(((em_config *)0)->field)

static const struct cdesc table[] = {
	{"server", "listen", C_STR, F(listen), 0, 0, "HOST:PORT to listen on"},
	{"server", "max_connections", C_INT, F(max_connections), 1, 1000000, "open connections"},
	{"server", "header_max", C_SIZE, F(header_max), 1024, 1 << 20, "request header bytes (431)"},
	{"server", "body_max", C_SIZE, F(body_max), 1024, 1LL << 30, "request body bytes (413)"},
	{"server", "header_timeout_ms", C_INT, F(header_timeout_ms), 10, 3600000, "headers deadline (408)"},
	{"server", "body_timeout_ms", C_INT, F(body_timeout_ms), 10, 3600000, "body deadline (408)"},
	{"server", "idle_timeout_ms", C_INT, F(idle_timeout_ms), 10, 3600000, "keep-alive idle close"},
	{"server", "keepalive_max", C_INT, F(keepalive_max), 0, INT_MAX,
	 "requests per connection, 0 = unlimited"},
	{"server", "trusted_proxies", C_STR, F(trusted_proxies), 0, 0,
	 "comma-separated proxy IPs whose X-Forwarded-For is used"},
	{"ws", "message_max", C_SIZE, F(ws_message_max), 128, 1LL << 26, "WebSocket message bytes (1009)"},
	{"ws", "out_soft", C_SIZE, F(ws_out_soft), 1024, 1LL << 30, "output queue soft limit"},
	{"ws", "out_hard", C_SIZE, F(ws_out_hard), 1024, 1LL << 30, "output queue hard limit"},
	{"ws", "out_soft_seconds", C_INT, F(ws_out_soft_seconds), 1, 3600,
	 "seconds above soft limit before close"},
	{"ws", "ping_interval_s", C_INT, F(ws_ping_interval_s), 1, 3600, "ping interval"},
	{"ws", "silent_close_s", C_INT, F(ws_silent_close_s), 2, 7200, "close a peer silent this long"},
	{"store", "data_dir", C_STR, F(data_dir), 0, 0, "directory of the database"},
	{"store", "synchronous", C_SYNC, F(synchronous_full), 0, 1,
	 "normal (survives kill -9) or full (survives power loss)"},
	{"store", "batch_ms", C_INT, F(batch_ms), 0, 1000, "group-commit window"},
	{"store", "batch_max", C_INT, F(batch_max), 1, 100000, "writes per group commit"},
	{"store", "queue_max", C_INT, F(queue_max), 1, 10000000, "queued writes before 503"},
	{"store", "readers", C_INT, F(readers), 1, 64, "read connections"},
	{"log", "level", C_LEVEL, F(log_level), 0, 3, "debug, info, warn or error"},
	{"log", "file", C_STR, F(log_file), 0, 0, "log file (empty = stderr)"},
	{"log", "access_log", C_BOOL, F(access_log), 0, 1, "one line per request"},
	{"auth", "session_ttl_s", C_INT, F(session_ttl_s), 60, 31536000, "operator session lifetime"},
	{"auth", "login_attempts_per_min", C_INT, F(login_attempts_per_min), 1, 10000,
	 "per IP and per account"},
	{"auth", "allowed_origins", C_STR, F(allowed_origins), 0, 0,
	 "extra Origins allowed for the console (comma-separated)"},
	{"track", "live_timeout_s", C_INT, F(live_timeout_s), 10, 86400,
	 "a visitor leaves the live view after this silence"},
	{"track", "rate_per_s", C_INT, F(track_rate_per_s), 1, 1000000,
	 "tracking requests per second per client IP (429)"},
	{"track", "rate_burst", C_INT, F(track_rate_burst), 1, 1000000, "burst above rate_per_s"},
	{"track", "geoip_db", C_STR, F(geoip_db), 0, 0,
	 "MaxMind DB file for visitor countries (empty = off)"},
	{"privacy", "consent_required", C_BOOL, F(consent_required), 0, 1, "cookieless ids until consent"},
	{"privacy", "anonymize_ip_bytes", C_INT, F(anonymize_ip_bytes), 0, 4,
	 "IPv4 bytes zeroed before storing; IPv6 keeps at most its /64 prefix when > 0"},
	{"privacy", "retain_events_days", C_INT, F(retain_events_days), 0, 36500,
	 "raw events older than this are deleted daily; 0 = keep"},
	{"privacy", "retain_chats_months", C_INT, F(retain_chats_months), 0, 1200,
	 "messages of conversations closed longer ago are deleted daily; 0 = keep"},
	{"privacy", "retain_visitors_days", C_INT, F(retain_visitors_days), 0, 36500,
	 "anonymous visitors (no contact) unseen this long are deleted daily; 0 = keep"},
	{"chat", "routing", C_STR, F(chat_routing), 0, 0, "auto (assign) or broadcast (first to accept)"},
	{"chat", "queue_max", C_INT, F(chat_queue_max), 0, 100000,
	 "pending conversations before the widget offers a message instead"},
	{"chat", "offline_grace_s", C_INT, F(chat_offline_grace_s), 0, 3600,
	 "an operator whose last console closed stays online this long"},
	{"chat", "visitor_msgs_per_min", C_INT, F(chat_visitor_msgs_per_min), 1, 100000,
	 "messages a visitor may send per minute"},
	{"chat", "abandon_s", C_INT, F(chat_abandon_s), 0, 86400,
	 "a waiting chat whose visitor left closes after this long (0 = never)"},
	{"chat", "invite_daily_cap", C_INT, F(invite_daily_cap), 0, 1000, "invitations per visitor per day"},
	{"chat", "invite_dismiss_days", C_INT, F(invite_dismiss_days), 0, 3650,
	 "no invitation for this many days after a dismissal"},
	{"chat", "callback_retry_min", C_INT, F(chat_callback_retry_min), 1, 10080,
	 "minutes before calling again after no answer (times the attempts, at most a day)"},
	{"chat", "callback_ip_limit", C_INT, F(chat_callback_ip_limit), 1, 100000,
	 "call-me-back requests one IP may send through the widget per 10 minutes"},
	{"mail", "smtp_url", C_STR, F(mail_smtp_url), 0, 0,
	 "smtp://HOST:PORT or smtps://HOST:PORT of the relay (empty = no mail)"},
	{"mail", "from", C_STR, F(mail_from), 0, 0, "sender: addr@domain or Name <addr@domain>"},
	{"mail", "user", C_STR, F(mail_user), 0, 0, "SMTP user name (empty = no AUTH)"},
	{"mail", "password", C_SECRET, F(mail_password), 0, 0, "SMTP password"},
	{"mail", "starttls", C_BOOL, F(mail_starttls), 0, 1, "require STARTTLS on smtp:// URLs"},
	{"mail", "retry_s", C_INT, F(mail_retry_s), 0, 3600,
	 "wait before the 2nd try (4 times as long before the 3rd)"},
	{"mail", "timeout_s", C_INT, F(mail_timeout_s), 1, 600, "time limit of one delivery attempt"},
	{"mail", "queue_max", C_INT, F(mail_queue_max), 1, 1000000, "mails waiting to be sent"},
	{"webhooks", "concurrency", C_INT, F(webhooks_concurrency), 1, 64, "deliveries in flight at once"},
	{"webhooks", "timeout_s", C_INT, F(webhooks_timeout_s), 1, 300, "time limit of one delivery attempt"},
	{"webhooks", "max_age_s", C_INT, F(webhooks_max_age_s), 1, 2592000,
	 "seconds a delivery is retried before it fails"},
	{"webhooks", "backoff_base_ms", C_INT, F(webhooks_backoff_base_ms), 10, 3600000,
	 "wait before the first retry (doubles each time)"},
	{"webhooks", "backoff_max_ms", C_INT, F(webhooks_backoff_max_ms), 10, 86400000,
	 "longest wait between attempts"},
	{"webhooks", "poll_ms", C_INT, F(webhooks_poll_ms), 50, 3600000, "how often the outbox is checked"},
	{"webhooks", "keep_days", C_INT, F(webhooks_keep_days), 1, 3650, "days the delivery log is kept"},
};

void em_config_defaults(em_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
	c->max_connections = 10000;
	c->header_max = 16 * 1024;
	c->body_max = 1024 * 1024;
	c->header_timeout_ms = 10000;
	c->body_timeout_ms = 30000;
	c->idle_timeout_ms = 75000;
	c->keepalive_max = 0;
	c->ws_message_max = 64 * 1024;
	c->ws_out_soft = 256 * 1024;
	c->ws_out_hard = 4 * 1024 * 1024;
	c->ws_out_soft_seconds = 10;
	c->ws_ping_interval_s = 30;
	c->ws_silent_close_s = 75;
	snprintf(c->data_dir, sizeof c->data_dir, "./data");
	c->synchronous_full = 0;
	c->batch_ms = 0;
	c->batch_max = 512;
	c->queue_max = 100000;
	c->readers = 4;
	c->log_level = EM_LOG_INFO;
	c->access_log = 1;
	c->session_ttl_s = 12 * 3600;
	c->login_attempts_per_min = 10;
	c->consent_required = 0;
	c->retain_events_days = 395;
	c->retain_chats_months = 24;
	c->retain_visitors_days = 395;
	c->live_timeout_s = 300;
	c->track_rate_per_s = 50;
	c->track_rate_burst = 200;
	c->anonymize_ip_bytes = 2;
	snprintf(c->chat_routing, sizeof c->chat_routing, "auto");
	c->chat_queue_max = 20;
	c->chat_offline_grace_s = 20;
	c->chat_visitor_msgs_per_min = 60;
	c->chat_abandon_s = 600;
	c->invite_daily_cap = 2;
	c->invite_dismiss_days = 7;
	c->chat_callback_retry_min = 30;
	c->chat_callback_ip_limit = 5;
	snprintf(c->mail_from, sizeof c->mail_from, "emma@localhost");
	c->mail_starttls = 0;
	c->mail_retry_s = 30;
	c->mail_timeout_s = 30;
	c->mail_queue_max = 1000;
	c->webhooks_concurrency = 2;
	c->webhooks_timeout_s = 10;
	c->webhooks_max_age_s = 86400;
	c->webhooks_backoff_base_ms = 30000;
	c->webhooks_backoff_max_ms = 3600000;
	c->webhooks_poll_ms = 5000;
	c->webhooks_keep_days = 30;
}

/* Parses a size with optional k/m/g suffix (binary). */
static int parse_size(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case 'k':
		n *= 1024;
		end++;
		break;
	case 'm':
		n *= 1024 * 1024;
		end++;
		break;
	case 'g':
		n *= 1024LL * 1024 * 1024;
		end++;
		break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -1;
	*out = n;
	return 0;
}

static int set_one(em_config *c, const struct cdesc *d, const char *v, char *why, size_t whylen)
{
	char *p = (char *)c + d->off;
	long long n;
	char *end;
	switch (d->type) {
	case C_STR:
	case C_SECRET:
		if (strlen(v) >= d->len) {
			snprintf(why, whylen, "value longer than %zu bytes", d->len - 1);
			return EM_EINVAL;
		}
		if (p == c->chat_routing && strcmp(v, "auto") && strcmp(v, "broadcast")) {
			snprintf(why, whylen, "expected auto or broadcast");
			return EM_EINVAL;
		}
		memcpy(p, v, strlen(v) + 1);
		return 0;
	case C_INT:
	case C_SIZE:
		if (d->type == C_INT) {
			errno = 0;
			n = strtoll(v, &end, 10);
			if (errno || end == v || *end) {
				snprintf(why, whylen, "expected an integer, got '%s'", v);
				return EM_EINVAL;
			}
		} else if (parse_size(v, &n)) {
			snprintf(why, whylen, "expected a size like 16384, 64k or 1m, got '%s'", v);
			return EM_EINVAL;
		}
		if (n < d->min || n > d->max) {
			snprintf(why, whylen, "expected a value from %lld to %lld, got %lld", d->min, d->max,
				 n);
			return EM_EINVAL;
		}
		if (d->type == C_INT)
			*(int *)p = (int)n;
		else
			*(size_t *)p = (size_t)n;
		return 0;
	case C_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(int *)p = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(int *)p = 0;
		else {
			snprintf(why, whylen, "expected true or false, got '%s'", v);
			return EM_EINVAL;
		}
		return 0;
	case C_LEVEL:
		n = em_log_parse_level(v);
		if (n < 0) {
			snprintf(why, whylen, "expected debug, info, warn or error, got '%s'", v);
			return EM_EINVAL;
		}
		*(int *)p = (int)n;
		return 0;
	case C_SYNC:
		if (!strcmp(v, "normal"))
			*(int *)p = 0;
		else if (!strcmp(v, "full"))
			*(int *)p = 1;
		else {
			snprintf(why, whylen, "expected normal or full, got '%s'", v);
			return EM_EINVAL;
		}
		return 0;
	}
	return EM_EINVAL;
}

static const struct cdesc *find(const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].section, section) && !strcmp(table[i].key, key))
			return &table[i];
	return NULL;
}

int em_config_set(em_config *c, const char *section, const char *key, const char *value, char *err,
		  size_t errlen)
{
	const struct cdesc *d = find(section, key);
	if (!d) {
		snprintf(err, errlen, "unknown setting '%s' in section [%s]", key, section);
		return EM_EINVAL;
	}
	char why[256];
	if (set_one(c, d, value, why, sizeof why)) {
		snprintf(err, errlen, "[%s] %s: %s", section, key, why);
		return EM_EINVAL;
	}
	return 0;
}

struct ini_ctx {
	em_config *c;
	const char *path;
	char *err;
	size_t errlen;
	int failed;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;
	char why[300];
	if (x->failed)
		return 0;
	if (em_config_set(x->c, section, name, value, why, sizeof why)) {
		/* Debian's inih has no line numbers in the handler; ini_parse_file()
		** returns the line of the first error, which is this one. */
		snprintf(x->err, x->errlen, "%s", why);
		x->failed = 1;
		return 0;
	}
	return 1;
}

int em_config_load_file(em_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return EM_EIO;
	}
	struct ini_ctx x = {c, path, err, errlen, 0};
	int rc = ini_parse_file(f, on_ini, &x);
	fclose(f);
	if (x.failed) {
		char why[300];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s:%d: %s", path, rc, why);
		return EM_EINVAL;
	}
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
		return EM_EINVAL;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return EM_EIO;
	}
	return 0;
}

int em_config_load_env(em_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		char name[128];
		int n = snprintf(name, sizeof name, "EMMA_%s_%s", table[i].section, table[i].key);
		for (int j = 0; j < n; j++)
			name[j] = (char)toupper((unsigned char)name[j]);
		const char *v = getenv(name);
		if (!v)
			continue;
		char why[256];
		if (set_one(c, &table[i], v, why, sizeof why)) {
			snprintf(err, errlen, "environment %s: %s", name, why);
			return EM_EINVAL;
		}
	}
	return 0;
}

void em_config_dump(const em_config *c, void (*emit)(const char *line, void *arg), void *arg)
{
	const char *sect = "";
	char line[1024];
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct cdesc *d = &table[i];
		if (strcmp(sect, d->section)) {
			sect = d->section;
			snprintf(line, sizeof line, "\n[%s]", sect);
			emit(line, arg);
		}
		const char *p = (const char *)c + d->off;
		char val[600];
		switch (d->type) {
		case C_SECRET:
			/* A dump goes to terminals, logs and bug reports: a secret
			** is never written, only whether one is set. */
			if (*p) {
				snprintf(line, sizeof line, "# %s (set; not shown)\n# %s =", d->help, d->key);
				emit(line, arg);
				continue;
			}
			val[0] = '\0'; /* unset */
			break;
		case C_STR: snprintf(val, sizeof val, "%s", p); break;
		case C_INT: snprintf(val, sizeof val, "%d", *(const int *)p); break;
		case C_SIZE: snprintf(val, sizeof val, "%zu", *(const size_t *)p); break;
		case C_BOOL: snprintf(val, sizeof val, "%s", *(const int *)p ? "true" : "false"); break;
		case C_LEVEL: {
			static const char *lv[] = {"debug", "info", "warn", "error"};
			snprintf(val, sizeof val, "%s", lv[*(const int *)p & 3]);
			break;
		}
		case C_SYNC: snprintf(val, sizeof val, "%s", *(const int *)p ? "full" : "normal"); break;
		}
		snprintf(line, sizeof line, "# %s\n%s = %s", d->help, d->key, val);
		emit(line, arg);
	}
}
