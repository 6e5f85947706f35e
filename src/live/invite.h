/*
** Proactive invitations (docs/chat.md, "Invitations"): the rules in memory,
** their evaluation on the loop from live presence, the brakes' history, and
** every invitation's life (offered -> shown -> accepted | dismissed |
** ignored), recorded in the store and broadcast to the operator consoles.
**
** Rules are loaded from the store at start and again after every change
** through the REST API; each is compiled once (live/rules.h). They are
** evaluated after each committed tracking batch for that visitor, and once
** a second for rules with time-based conditions, over the live visitors of
** sites that have such a rule. The brakes' history (invitations offered
** today, the last dismissal) is kept in memory per visitor and rebuilt from
** the invitation table at start, so it survives a restart.
**
** Everything runs on the loop thread.
*/
#ifndef EM_INVITE_H
#define EM_INVITE_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "live/rules.h"

struct em_presence_view;

/* Start-up, after live presence was rebuilt: loads the rules, the brakes'
** history and the invitations still waiting; registers with the chat core;
** starts the once-a-second timer. Synchronous. */
int em_invite_init(em_app *app, char *err, size_t errlen);
void em_invite_shutdown(void);

/* From live presence: a batch of this visitor was applied / the visitor left. */
void em_invite_on_batch(struct em_presence_view *v);
void em_invite_on_leave(int64_t site_id, const char *vid);

/* 1 when rules may invite this site's visitors: the answer to a batch then
** waits for the batch to be applied, as a rule may fire on it. */
int em_invite_site_has_rules(int64_t site_id);

/* The visitor's pending invitation as {"invitation","message","operator"}
** (new reference), or NULL. For the /t answer and the widget's hello. */
json_t *em_invite_pending(int64_t site_id, const char *vid);

/* ---- Rules (src/api/rules.c) -------------------------------------------- */

/* The rules of site_id (0 = all) as a JSON array, by site, priority (high
** first) and id. */
json_t *em_invite_rules_json(int64_t site_id);
/* One rule by public id (new reference), or NULL. */
json_t *em_invite_rule_json(const char *public_id);

/* A rule as given to create or update: every pointer NULL = not given. */
typedef struct em_rule_input {
	const char *name;
	int64_t site_id; /* 0 = not given */
	int enabled, has_enabled;
	long long priority;
	int has_priority;
	const char *message;
	const char *department; /* public id; "" = none */
	const json_t *conditions;
} em_rule_input;

typedef struct em_invite_result {
	int status;	/* 0 or EM_E* */
	char field[64]; /* for EM_EINVAL */
	char message[256];
	json_t *obj; /* the rule or invitation (borrowed: valid during the callback) */
} em_invite_result;
typedef void (*em_invite_done)(const em_invite_result *res, void *arg);

/* Checks a rule's conditions without storing anything: 0, or EM_EINVAL with
** field and message set in res. */
int em_invite_rule_validate(const json_t *conditions, em_invite_result *res);
/* Create / update (public_id) / delete. The change is committed, the rules
** reloaded, and then done runs (exactly once) with the rule. */
void em_invite_rule_create(em_app *app, int64_t operator_id, const char *ip, const em_rule_input *in,
			   em_invite_done done, void *arg);
void em_invite_rule_update(em_app *app, int64_t operator_id, const char *ip, const char *public_id,
			   const em_rule_input *in, em_invite_done done, void *arg);
void em_invite_rule_delete(em_app *app, int64_t operator_id, const char *ip, const char *public_id,
			   em_invite_done done, void *arg);

/* GET /rules/stats: per rule over the last `days` days (site_id 0 = all). */
void em_invite_rule_stats(em_app *app, int64_t site_id, int days, em_invite_done done, void *arg);

/* ---- Invitations --------------------------------------------------------- */

/* A manual invitation by an operator to a live visitor (site_id 0: the
** visitor's site). Brakes apply except "one per visit", "chatted today" and
** availability (docs/chat.md). done runs once the row is committed. */
void em_invite_manual(em_app *app, int64_t operator_id, const char *operator_public_id, const char *ip,
		      int64_t site_id, const char *vid, const char *message, em_invite_done done, void *arg);

/* GET /invitations: newest first; status "" = any; before_id 0 = from the
** newest. res.obj is {"invitations":[...],"next":ID or 0}. */
void em_invite_list(em_app *app, const char *status, int64_t site_id, int64_t before_id, int limit,
		    em_invite_done done, void *arg);

/* Figures. */
typedef struct em_invite_stats {
	uint64_t offered, shown, accepted, dismissed, ignored;
	uint64_t evaluations;  /* visitor x rule-set evaluations */
	uint64_t slice_us_max; /* longest run of the timer (a part of the live visitors) */
	uint64_t pass_us_last; /* the last full pass over the live visitors, summed */
	size_t pending, history;
} em_invite_stats;
void em_invite_get_stats(em_invite_stats *out);

#endif
