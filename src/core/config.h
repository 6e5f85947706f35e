/*
** Emma's configuration: defaults < INI file < EMMA_* environment < flags.
**
** Every setting is described once in a table in config.c (section, key,
** type, bounds), which drives the INI parser, the environment overrides and
** the documentation in docs/configuration.md. An unknown key or a bad value
** is an error that names the file, the line and what was expected.
*/
#ifndef EM_CONFIG_H
#define EM_CONFIG_H

#include <stddef.h>

typedef struct em_config {
	/* [server] */
	char listen[128];
	int max_connections;
	size_t header_max;
	size_t body_max;
	int header_timeout_ms;
	int body_timeout_ms;
	int idle_timeout_ms;
	int keepalive_max; /* requests per connection, 0 = unlimited */
	char trusted_proxies[512];
	/* [ws] */
	size_t ws_message_max;
	size_t ws_out_soft;
	size_t ws_out_hard;
	int ws_out_soft_seconds;
	int ws_ping_interval_s;
	int ws_silent_close_s;
	/* [store] */
	char data_dir[512];
	int synchronous_full;
	int batch_ms;
	int batch_max;
	int queue_max;
	int readers;
	/* [log] */
	int log_level;
	char log_file[512];
	int access_log;
	/* [auth] */
	int session_ttl_s;
	int login_attempts_per_min;
	char allowed_origins[512];
	/* [track] */
	int live_timeout_s;
	int track_rate_per_s;
	int track_rate_burst;
	char geoip_db[512]; /* MaxMind DB file for the country; "" = off */
	/* [privacy] */
	int consent_required;
	int anonymize_ip_bytes;
	int retain_events_days;	  /* raw events; 0 = keep */
	int retain_chats_months;  /* messages of closed conversations; 0 = keep */
	int retain_visitors_days; /* anonymous visitors without a contact; 0 = keep */
	/* [chat] */
	char chat_routing[16]; /* "auto" | "broadcast" */
	int chat_queue_max;
	int chat_offline_grace_s;
	int chat_visitor_msgs_per_min;
	int chat_abandon_s;
	int invite_daily_cap;
	int invite_dismiss_days;
	int chat_callback_retry_min;
	int chat_callback_ip_limit;
	/* [mail] */
	char mail_smtp_url[512]; /* "" = no outgoing mail */
	char mail_from[256];
	char mail_user[256];
	char mail_password[256];
	int mail_starttls;
	int mail_retry_s;
	int mail_timeout_s;
	int mail_queue_max;
	/* [webhooks] */
	int webhooks_concurrency;
	int webhooks_timeout_s;
	int webhooks_max_age_s;
	int webhooks_backoff_base_ms;
	int webhooks_backoff_max_ms;
	int webhooks_poll_ms;
	int webhooks_keep_days;
} em_config;

void em_config_defaults(em_config *c);
/* Reads an INI file. On error returns EM_EINVAL and writes "file:line: why" to err. */
int em_config_load_file(em_config *c, const char *path, char *err, size_t errlen);
/* Applies EMMA_<SECTION>_<KEY> variables from the environment. */
int em_config_load_env(em_config *c, char *err, size_t errlen);
/* Sets one "section.key" to a textual value (used by flags and tests). */
int em_config_set(em_config *c, const char *section, const char *key, const char *value, char *err,
		  size_t errlen);
/* Writes every setting with its current value as an INI document; a secret
** (C_SECRET, such as the SMTP password) that is set appears only as a
** comment saying so. */
void em_config_dump(const em_config *c, void (*emit)(const char *line, void *arg), void *arg);

#endif
