/*
** Webhooks (see docs/webhooks.md): signed HTTP POSTs to the shop's systems.
**
** A module that causes an event calls em_webhooks_enqueue_db() inside the
** same write that stores the cause, which adds one outbox row per matching
** webhook; after the COMMIT it calls em_webhooks_kick(). A sender delivers
** rows with libcurl off the loop, signs each body with HMAC-SHA256 and
** retries with backoff for hours. Nothing is sent for an event that was
** rolled back, and nothing committed is lost by a crash.
*/
#ifndef EM_WEBHOOKS_H
#define EM_WEBHOOKS_H

#include <jansson.h>

#include "store/store.h"

struct em_app;

/* Event names: contact.created, contact.updated, contact.deleted,
** lead.created, chat.started, chat.closed, callback.requested,
** callback.updated, note.created. */

/* Inside a write: queues the event for every enabled webhook subscribed to
** it. payload is not stolen. Returns 0 or EM_EIO. */
int em_webhooks_enqueue_db(em_db *db, const char *event, const json_t *payload);
/* On the loop, after the COMMIT of a write that queued events. */
void em_webhooks_kick(void);

int em_webhooks_init(struct em_app *app);
void em_webhooks_shutdown(void);

/* ---- Managing webhooks (src/api/webhooks.c; implemented in webhooks.c) --
** Store functions run inside em_store_read / em_store_write; each fills a
** new JSON value into *out or returns EM_ENOTFOUND / EM_EIO. */

#define EM_WEBHOOK_URL_MAX 2048
#define EM_WEBHOOK_EVENTS_MAX 16
#define EM_WEBHOOKS_MAX 100 /* webhooks in all */

/* Inside a store function: 1 when an enabled webhook subscribes to event
** (so a caller writing many events can skip building unwanted payloads). */
int em_webhooks_wanted_db(em_db *db, const char *event);
/* 1 when name is an event a webhook may subscribe to. */
int em_webhooks_event_known(const char *name);
/* An absolute http:// or https:// URL with a host; 0 or EM_EINVAL with why. */
int em_webhooks_url_check(const char *url, const char **why);
/* "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>" (out: 72 bytes). */
void em_webhooks_sign(const char *secret, const char *timestamp, const char *body, size_t len,
		      char out[72]);
/* Wait before attempt number attempts+1 after a failure: base doubled per
** earlier attempt, at most max, times jitter (0.8 .. 1.2). */
int64_t em_webhooks_backoff_ms(int attempts, int64_t base_ms, int64_t max_ms, double jitter);

/* The JSON of one webhook or delivery: {"webhook":{...}} / {"delivery":{...}}. */
int em_webhooks_list_db(em_db *db, json_t **out);
int em_webhooks_get_db(em_db *db, const char *id, json_t **out);
/* events_csv: comma-separated names or "*". The answer carries the secret. */
int em_webhooks_create_db(em_db *db, const char *url, const char *events_csv, int enabled, json_t **out);
/* NULL / -1 = unchanged; rotate makes a new secret, shown in the answer. */
int em_webhooks_update_db(em_db *db, const char *id, const char *url, const char *events_csv, int enabled,
			  int rotate, json_t **out);
int em_webhooks_delete_db(em_db *db, const char *id);
/* Queues a "ping" delivery for this webhook only. */
int em_webhooks_ping_db(em_db *db, const char *id, json_t **out);
/* status: NULL, "pending", "delivered" or "failed"; cursor 0 = newest.
** *next receives the cursor of the next page (0 = none). */
int em_webhooks_deliveries_db(em_db *db, const char *id, const char *status, int limit, int64_t cursor,
			      json_t **out, int64_t *next);
/* Makes a delivery due now (again). */
int em_webhooks_retry_db(em_db *db, const char *delivery_id, json_t **out);

/* Inside a write: queues event for a conversation, the payload read from
** its row ({"conversation":{...}}). For chat.started and chat.closed. */
int em_webhooks_conversation_db(em_db *db, const char *event, const char *conversation_id);

#endif
