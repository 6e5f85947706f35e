/*
** Invitation rules (docs/chat.md, "Rules" and "Brakes"): the conditions of a
** rule compiled once, evaluated against the facts of one live visitor, and
** the brakes that keep invitations from becoming a nuisance.
**
** Everything here is a pure function of its arguments (no loop, no store, no
** clock), so the whole decision "may this visitor be invited by this rule
** now" is unit-tested on its own (tests/unit/test_invite.c). The runtime that
** holds the rules, the history and the pending invitations is live/invite.c.
*/
#ifndef EM_RULES_H
#define EM_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "track/event.h"

#define EM_RULE_RING 16		 /* custom events remembered per live visitor */
#define EM_RULE_LIST_MAX 16	 /* values in a utm_source / utm_campaign / language list */
#define EM_RULE_VALUE_MAX 100	 /* bytes of one such value, and of an event name */
#define EM_RULE_PATTERN_MAX 1000 /* bytes of a glob or regex */
#define EM_RULE_NAME_MAX 200
#define EM_RULE_MESSAGE_MAX 1000
#define EM_RULE_WINDOW_MAX 86400 /* event.within_s */

/* What a live visitor carries for the rules beside presence's own fields.
** Fixed size (under 200 bytes), embedded in presence's per-visitor record. */
typedef struct em_rule_state {
	int64_t visit_id;		   /* visit this state belongs to; 0 = none seen since start */
	int64_t last_active;		   /* ms: last event other than an idle ping */
	uint64_t utm_source, utm_campaign; /* hash of the lower-cased value of the visit; 0 = none */
	uint32_t ev_name[EM_RULE_RING];	   /* custom events: hash of the name */
	uint32_t ev_at[EM_RULE_RING];	   /* ... and when (seconds since the epoch) */
	uint8_t ev_next, ev_n;		   /* ring position and fill */
	uint8_t exit_intent;		   /* an exit_intent event on the current page */
	uint8_t invited;		   /* offered an invitation in this visit */
	uint8_t no_widget;		   /* cookieless id or access-log hits: nobody to invite */
	uint32_t static_ok;		   /* the static half held for the site's first 32 rules ... */
	uint32_t static_gen;		   /* ... of this rule-set generation (live/invite.c) */
	char lang[8];			   /* primary language of Accept-Language, lower case */
} em_rule_state;

/* Folds a committed batch into the state: a new visit clears what belonged
** to the old one; pageviews set the campaign and clear exit intent; custom
** events enter the ring. Call after presence applied the batch's result. */
void em_rule_state_observe(em_rule_state *s, const em_track_batch *b);

/* The facts one evaluation sees. Times in ms since the epoch. */
typedef struct em_rule_facts {
	int64_t now;
	int64_t visit_started;
	int64_t page_since; /* current page since (0: visit_started) */
	int64_t last_seen;
	int pages;  /* pageviews in this visit */
	int visits; /* visits so far, this one included */
	double cart_total;
	const char *url;      /* current page (NULL: none) */
	const char *referrer; /* referrer of the visit (NULL: none) */
	const em_rule_state *st;
} em_rule_facts;

typedef struct em_rule_cond em_rule_cond;

/* Compiles a rule's "conditions" object. On error returns NULL with the
** field path ("conditions.url.regex") and a message (for a regex: PCRE2's
** message and the offset) written into field and msg. */
em_rule_cond *em_rule_compile(const json_t *conditions, char *field, size_t fieldlen, char *msg,
			      size_t msglen);
void em_rule_cond_free(em_rule_cond *c);
/* 1 when every condition holds for f. */
int em_rule_match(const em_rule_cond *c, const em_rule_facts *f);
/* The two halves of em_rule_match: the conditions that change with the
** clock (times, idle, the event window) and those that change only with a
** new batch (pages, URL, campaign, ...). The once-a-second pass keeps the
** static half's result per visitor and re-checks only the time half. */
int em_rule_match_time(const em_rule_cond *c, const em_rule_facts *f);
int em_rule_match_static(const em_rule_cond *c, const em_rule_facts *f);
/* 1 when the rule has a condition that can become true with time alone
** (time_on_page_s, time_on_site_s or idle_s with gte): such rules are
** evaluated once a second as well as after each batch. */
int em_rule_time_based(const em_rule_cond *c);

/* The message with {page_title} and {cart_total} filled in; em_free it.
** title may be NULL. Unknown placeholders are left as written. */
char *em_rule_fill_message(const char *tmpl, const char *title, double cart_total);

/* The primary language tag of an Accept-Language value ("de-DE,de;q=0.9"
** gives "de-de"), lower case, at most 7 characters; "" when there is none. */
void em_rule_accept_language(const char *header, char out[8]);

/* 64-bit FNV-1a of s[0..n) in lower case (utm values). Never 0. */
uint64_t em_rule_hash_lower(const char *s, size_t n);

/* ---- Brakes ------------------------------------------------------------ */

enum em_brake {
	EM_BRAKE_NONE = 0,
	EM_BRAKE_IN_CHAT,	/* the visitor is in a chat */
	EM_BRAKE_PENDING,	/* an invitation waits for an answer */
	EM_BRAKE_VISIT,		/* already invited in this visit (rules only) */
	EM_BRAKE_DAILY_CAP,	/* chat.invite_daily_cap reached today */
	EM_BRAKE_DISMISSED,	/* dismissed one within chat.invite_dismiss_days */
	EM_BRAKE_CHATTED_TODAY, /* had a chat today (rules only) */
	EM_BRAKE_UNAVAILABLE,	/* no operator slot free or queue too long (rules only) */
};

typedef struct em_brake_in {
	int manual; /* an operator invites by hand */
	int in_chat;
	int pending;
	int invited_this_visit;
	int today_count; /* invitations offered today (UTC day) */
	int daily_cap;
	int64_t last_dismissed; /* ms, 0 = never */
	int dismiss_days;
	int chatted_today;
	int available; /* em_chat_available() */
	int64_t now;
} em_brake_in;

/* EM_BRAKE_NONE when an invitation may be offered, else the first brake
** that holds (in the order of the enum). */
int em_brake_check(const em_brake_in *in);
/* "in_chat", "pending", ... and a sentence for people. */
const char *em_brake_name(int brake);
const char *em_brake_message(int brake);

#endif
