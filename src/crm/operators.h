/*
** Operators: the people who sign in to the console (role admin or agent).
**
** Reads and writes go through the store; the loop-thread functions are
** asynchronous and report through a callback that always runs exactly once
** (possibly before the call returns, for input errors). Every change that
** matters to signed-in sessions (role, name, disabled, password) is passed
** on to the auth cache after it committed, and written to the audit log.
*/
#ifndef EM_OPERATORS_H
#define EM_OPERATORS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

struct em_store;
struct em_principal;

enum { EM_ROLE_AGENT = 0, EM_ROLE_ADMIN = 1 };

/* Limits on what an operator record may hold. */
#define EM_EMAIL_MAX 254
#define EM_NAME_MAX 127
#define EM_PASSWORD_MIN 10
#define EM_PASSWORD_MAX 1024
#define EM_MAX_CHATS_MIN 1
#define EM_MAX_CHATS_MAX 50
/* A listing never returns more operators than this (the table is small). */
#define EM_OPERATORS_LIST_MAX 1000

typedef struct em_operator {
	int64_t id;	    /* internal row id; never leaves the server */
	char public_id[32]; /* "op_..." */
	char email[EM_EMAIL_MAX + 2];
	char name[EM_NAME_MAX + 1];
	int role; /* EM_ROLE_* */
	int max_chats;
	char lang[8]; /* "de" | "en" */
	int disabled;
	int64_t created_at; /* ms since the epoch */
	int64_t updated_at;
} em_operator;

/* What a create or an update asks for. For an update, NULL strings and
** has_* = 0 mean "leave as is". */
typedef struct em_operator_input {
	const char *email;
	const char *name;
	const char *role; /* "admin" | "agent" */
	const char *password;
	const char *current_password; /* required when operators change their own password */
	const char *lang;
	int max_chats, has_max_chats;
	int disabled, has_disabled;
} em_operator_input;

/* Outcome of a create, get or update. status is 0 or an EM_E* code; for
** EM_EINVAL field names the offending member and message says why. */
typedef struct em_operator_result {
	int status;
	char field[32];
	char message[192];
	em_operator op;
} em_operator_result;

typedef void (*em_operator_done)(const em_operator_result *res, void *arg);
typedef void (*em_operator_list_done)(int status, const em_operator *ops, size_t n, void *arg);

/* Creates an operator (admins only). EM_EEXIST for a taken e-mail. */
void em_operators_create(em_app *app, const struct em_principal *actor, const char *ip,
			 const em_operator_input *in, em_operator_done done, void *arg);
/* Updates the operator with this public id. Admins may change anything;
** others only their own name, lang and password (with current_password).
** Disabling an operator or setting a password revokes their sessions; the
** last active admin can be neither disabled nor demoted (EM_EEXIST). */
void em_operators_update(em_app *app, const struct em_principal *actor, const char *ip, const char *public_id,
			 const em_operator_input *in, em_operator_done done, void *arg);
void em_operators_get(em_app *app, const char *public_id, em_operator_done done, void *arg);
/* Every operator, oldest first, at most EM_OPERATORS_LIST_MAX. */
void em_operators_list(em_app *app, em_operator_list_done done, void *arg);

/* For `emma user add` (no loop running): validates, hashes and inserts.
** Returns 0, EM_EINVAL or EM_EEXIST with a message in err. */
int em_operators_add_sync(struct em_store *s, const char *email, const char *role, const char *password,
			  char *err, size_t errlen);

/* ---- Shared with auth.c ------------------------------------------------ */

struct em_db;
struct em_stmt;
/* The columns em__operator_from_row() expects, in this order. */
#define EM_OPERATOR_COLUMNS \
	"id, public_id, email, name, role, max_chats, lang, disabled, created_at, updated_at"
void em__operator_from_row(struct em_stmt *st, em_operator *op);
/* Inserts op (email normalised, public_id generated here) with a password
** hash, inside a write function; fills op->id and the times. EM_EEXIST when
** the e-mail is taken. */
int em__operator_insert(struct em_db *db, em_operator *op, const char *pwhash);

/* ---- Pure helpers (unit-tested) -------------------------------------- */

/* 1 when email has the shape local@domain within the limits above. */
int em_operator_email_valid(const char *email);
/* Lower-cases an e-mail address into out (outlen >= strlen + 1). */
void em_operator_email_normalize(const char *email, char *out, size_t outlen);
/* "admin" -> EM_ROLE_ADMIN, "agent" -> EM_ROLE_AGENT, else -1. */
int em_operator_role_parse(const char *s);
const char *em_operator_role_name(int role);

#endif
