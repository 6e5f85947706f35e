/*
** Call-me-back (see docs/contacts.md "Call-me-back"): a visitor (through the
** widget) or an operator asks for a phone call, optionally within a time
** window; the request waits in a queue ordered by due time until an
** operator calls, and is rescheduled when nobody answers.
**
** Every request belongs to a contact: the one named, or the lead found or
** made from the phone number (and linked to the visitor) in the same write.
** Operator consoles get {"type":"callback"} events on every change and once
** when a waiting request becomes overdue; the loop keeps the earliest due
** time of the requests not yet announced, so the once-a-second check costs
** nothing until one is due, and the "announced" flag is stored, so a restart
** announces nothing twice.
*/
#ifndef EM_CALLBACKS_H
#define EM_CALLBACKS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "store/store.h"

#define EM_CALLBACK_NAME_MAX 127
#define EM_CALLBACK_TOPIC_MAX 500
#define EM_CALLBACK_CONSENT_TEXT_MAX 1000
#define EM_CALLBACK_VID_MAX 63
#define EM_CALLBACK_LIST_DEFAULT 50
#define EM_CALLBACK_LIST_MAX 200
/* A preferred window may start at most this far ahead. */
#define EM_CALLBACK_AHEAD_MS (90LL * 24 * 3600 * 1000)
/* A rescheduled call is never put off by more than a day. */
#define EM_CALLBACK_RETRY_CAP_MS (24LL * 3600 * 1000)

/* Status bits (for list filters). */
enum {
	EM_CB_OPEN = 1,
	EM_CB_CALLED = 2,
	EM_CB_NO_ANSWER = 4,
	EM_CB_DONE = 8,
	EM_CB_CANCELLED = 16,
};

/* ---- Pure helpers (unit-tested) -------------------------------------- */

/* Parses an RFC 3339 time ("2026-11-23T14:00:00Z", fractions and offsets
** such as "+01:00" allowed) into ms since the epoch. 0 or EM_EINVAL. */
int em_callback_time_parse(const char *s, int64_t *ms);
/* Checks a preferred window (0 = bound not given) at time now and computes
** when the call is due: the window's start when it lies ahead, else now.
** On error returns EM_EINVAL with *field ("window_start"/"window_end") and
** *why set. */
int em_callback_schedule(int64_t now, int64_t window_start, int64_t window_end, int64_t *due,
			 const char **field, const char **why);
/* When to try again after the attempts-th unanswered call: retry_min minutes
** times attempts (a later try waits longer), at most a day; never before the
** start of a preferred window that is still ahead. */
int64_t em_callback_retry_at(int64_t now, int attempts, int retry_min, int64_t window_start);
/* The bit of a status name, 0 for an unknown one. */
int em_callback_status_bit(const char *status);
/* Parses "open,no_answer" into bits; 0 or EM_EINVAL. */
int em_callback_status_mask(const char *list, int *mask);

/* ---- Store functions ------------------------------------------------- */

typedef struct em_callback_op {
	/* In. */
	int64_t operator_id; /* 0 = the public widget endpoint */
	int is_admin;
	int64_t now;
	int retry_min;
	char id[32]; /* public id (get, update) */
	int64_t site_id;
	char vid[EM_CALLBACK_VID_MAX + 1];
	char contact[32]; /* contact public id, "" = find or make one from the phone */
	char name[EM_CALLBACK_NAME_MAX + 1];
	char phone[24];
	char *topic; /* owned by the caller; NULL = unchanged / none */
	int64_t window_start, window_end, due_at;
	int consent;
	char *consent_text; /* owned by the caller */
	/* Update: which fields the request carries. */
	int has_status, has_assigned, has_due, has_topic, has_name;
	char status[16];
	char assigned[32]; /* operator public id, "" = nobody */
	/* List filters. */
	int status_mask;
	int assigned_mode; /* 0 any, 1 the operator in assigned_id, 2 nobody */
	int64_t assigned_id;
	int overdue_only;
	int limit;
	int64_t cursor_due, cursor_id; /* cursor_id 0 = from the start */
	/* Out. */
	json_t *out;	 /* the answer */
	json_t *cb;	 /* the callback's JSON after a write (for events) */
	int created;	 /* a new request (not a repeat of a waiting one) */
	int64_t due_out; /* due time when it still waits unannounced, else 0 */
	int error_field; /* on EM_EINVAL: 1 contact, 2 assigned, 3 phone */
} em_callback_op;

int em_callbacks_create_db(em_db *db, void *op);
int em_callbacks_update_db(em_db *db, void *op);
int em_callbacks_get_db(em_db *db, void *op);
int em_callbacks_list_db(em_db *db, void *op);

/* The public form of a callback for the widget. */
json_t *em_callbacks_public_json(const json_t *cb);

/* ---- Loop side ------------------------------------------------------- */

/* Starts the overdue check (after em_store_open). */
int em_callbacks_init(em_app *app);
void em_callbacks_shutdown(void);
/* After the COMMIT of a create or change: tells the consoles (action
** "created" / "updated") and the overdue check. */
void em_callbacks_committed(const em_callback_op *op, const char *action);
/* Counts a request of the public widget endpoint from ip: 0 when it may
** go on, else the seconds until this address may send again. */
int em_callbacks_public_admit(const char *ip, int64_t now);

#endif
