/*
** The chat's storage functions (run by the writer thread or a pool reader).
** Rows come back as jansson objects built on the pool thread and handed to
** the loop whole; the loop never shares a json_t with another thread.
*/
#ifndef EM_CONVSTORE_H
#define EM_CONVSTORE_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

#define EM_CHAT_BODY_MAX_CHARS 4000
#define EM_CHAT_BODY_MAX_BYTES 16000
#define EM_CHAT_CLIENT_ID_MAX 64

enum { EM_CONV_PENDING = 0, EM_CONV_OPEN = 1, EM_CONV_CLOSED = 2 };
enum { EM_CHAN_CHAT = 0, EM_CHAN_OFFLINE = 1 };
enum { EM_AUTHOR_VISITOR = 0, EM_AUTHOR_OPERATOR = 1, EM_AUTHOR_SYSTEM = 2 };

const char *em_conv_status_name(int status);
const char *em_conv_channel_name(int channel);
const char *em_conv_author_name(int author);

/* A new conversation (write). */
typedef struct em_conv_new {
	char public_id[32];
	int64_t site_id;
	char vid[64];
	int64_t operator_id, department_id, invitation_id;
	int status, channel, consent;
	char *name, *email, *page_url; /* owned; NULL = "" */
	char lang[8];
	int64_t created_at, accepted_at;
} em_conv_new;
int em_convstore_create(em_db *db, void *arg);

/* A change of state (write): every field is written. */
typedef struct em_conv_change {
	char public_id[32];
	int status;
	int64_t operator_id, department_id;
	int64_t accepted_at, closed_at, now;
	char outcome[16];
} em_conv_change;
int em_convstore_change(em_db *db, void *arg);

/* A message (write). seq and dup are results. */
typedef struct em_msg_write {
	char conv[32];
	int author;
	int64_t operator_id;
	char client_id[EM_CHAT_CLIENT_ID_MAX + 1];
	char *body; /* owned */
	int internal;
	int64_t created_at;
	int64_t seq;	   /* out */
	int64_t stored_at; /* out: created_at of the stored row (the first one for a dup) */
	int dup;	   /* out: the client id was stored before */
} em_msg_write;
int em_convstore_message(em_db *db, void *arg);

/* The visitor's rating (write); checked against site and vid. */
typedef struct em_conv_rating {
	char conv[32];
	int64_t site_id;
	char vid[64];
	int rating;
	char *comment; /* owned */
	int64_t now;
} em_conv_rating;
int em_convstore_rate(em_db *db, void *arg);

/* Reads. Each fills `out` (a new JSON value) or sets status. */
typedef struct em_conv_query {
	/* in */
	char conv[32];	     /* one conversation */
	int status;	     /* list filter, -1 = any */
	int64_t operator_id; /* list filter (agents), 0 = any; pending ones are included */
	int64_t site_id;
	char vid[64];
	int64_t after; /* messages after seq */
	int include_internal;
	int limit;
	int64_t cursor; /* list: rows older than this row id */
	/* out */
	json_t *out;
	int64_t next_cursor;
	int64_t last_operator_id, last_chat_at; /* em_convstore_visitor_last */
} em_conv_query;
int em_convstore_get(em_db *db, void *arg);	     /* out: conversation object */
int em_convstore_list(em_db *db, void *arg);	     /* out: array */
int em_convstore_messages(em_db *db, void *arg);     /* out: array of messages */
int em_convstore_visitor_last(em_db *db, void *arg); /* last operator and chat time */

/* Start-up state (read): {"conversations":[...], "operators":[...],
** "departments":[...], "settings":[...]} with internal ids. */
int em_convstore_load(em_db *db, void *arg); /* arg: json_t ** */
/* Operators and their departments only (arg: json_t **). */
int em_convstore_operators(em_db *db, void *arg);

#endif
