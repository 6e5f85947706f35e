/*
** Authentication: operator sessions (cookie + CSRF token), API tokens, the
** login rate limit and password hashing.
**
** All of it is state owned by the loop thread (DESIGN.md §2). Sessions, API
** tokens and the operators they belong to are cached in memory so that
** em_auth_require() answers without touching the database; every change is
** written to the store first and applied to the cache after COMMIT. The
** database keeps only keyed hashes of session and token secrets, so a copy of
** it lets nobody in. Argon2id work runs on the thread pool, never on the loop.
*/
#ifndef EM_AUTH_H
#define EM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "crm/operators.h"
#include "net/http.h"

#define EM_AUTH_COOKIE "emma_session"
#define EM_AUTH_KEYBYTES 32
#define EM_AUTH_HASHHEX 65     /* 32-byte keyed hash as hex + NUL */
#define EM_AUTH_PWHASH_MAX 128 /* crypto_pwhash_STRBYTES */
/* Sessions kept per operator; a further sign-in ends the oldest. */
#define EM_AUTH_SESSIONS_PER_OPERATOR 50
/* Active API tokens one operator may hold. */
#define EM_AUTH_TOKENS_PER_OPERATOR 100
#define EM_AUTH_TOKEN_NAME_MAX 100

typedef struct em_principal {
	int64_t operator_id;
	char public_id[32];
	char email[256];
	char name[128];
	int role; /* EM_ROLE_ADMIN / EM_ROLE_AGENT */
	int via_token;
	int can_write;
	char csrf[64]; /* "" for tokens */
	/* The session that signed the request in (its serial number in this
	** process; 0 for API tokens): ending it closes the sockets opened with
	** it (live/hub.h). */
	int64_t credential;
	char lang[8];
} em_principal;

enum { EM_AUTH_ANY = 0, EM_AUTH_ADMIN = 1 };

/* Start-up, before the loop runs (em_loop_init and em_store_open done):
** loads the server secret (creating it once), operators, unexpired sessions
** and live API tokens, and starts the purge timer. */
int em_auth_init(em_app *app, char *err, size_t errlen);
void em_auth_free(em_app *app);
/* On an empty operator table creates site "default" and admin@localhost with
** $EMMA_INITIAL_ADMIN_PASSWORD or a random 16-character password copied to
** password_out. Returns 1 when it created them, 0 when there was nothing to
** do, < 0 on error. Synchronous; call after em_auth_init. */
int em_auth_bootstrap(em_app *app, char *password_out, size_t len);

/* The signed-in principal, or NULL after answering 401/403 itself. Accepts
** "Authorization: Bearer emt_..." or the session cookie; cookie requests that
** change something need X-CSRF-Token, read-only tokens may only read. The
** principal lives in the request arena: copy what you need after answering. */
const em_principal *em_auth_require(em_req *r, int flags);
/* Session cookie only, nothing answered (WebSocket upgrades). */
const em_principal *em_auth_peek(em_req *r);

/* ---- Sign-in and sign-out (used by src/api/auth.c) ------------------- */

typedef struct em_login_result {
	int status;	   /* 0, EM_EAUTH bad credentials, EM_ERANGE rate limited, EM_EAGAIN busy */
	int retry_after_s; /* for EM_ERANGE and EM_EAGAIN */
	em_operator op;
	char token[64]; /* the cookie value */
	char csrf[64];
} em_login_result;
typedef void (*em_auth_login_done)(const em_login_result *res, void *arg);

/* Checks the credentials and opens a session once it is committed. done runs
** exactly once, possibly before this returns. */
void em_auth_login(em_app *app, const char *email, const char *password, const char *ip,
		   const char *user_agent, em_auth_login_done done, void *arg);
/* Ends the session of the request's cookie (if any); done runs after the
** deletion committed, exactly once. */
void em_auth_logout(em_req *r, void (*done)(int status, void *arg), void *arg);
/* Adds Set-Cookie for a session token, or a clearing cookie when token is NULL. */
void em_auth_set_cookie(em_req *r, const char *token);
/* The cached operator behind a principal. Returns 0 or EM_ENOTFOUND. */
int em_auth_operator(em_app *app, int64_t operator_id, em_operator *out);

/* ---- API tokens (used by src/api/tokens.c) --------------------------- */

typedef struct em_token {
	char public_id[32]; /* "tok_..." */
	char name[EM_AUTH_TOKEN_NAME_MAX + 1];
	int can_write;
	int64_t created_at;
	int64_t last_used_at; /* 0 = never */
	char operator_id[32]; /* owner's public id */
} em_token;

/* Creates a token for the principal's operator; done gets the secret
** ("emt_...") which exists nowhere else afterwards. */
void em_auth_token_create(em_app *app, const em_principal *p, const char *ip, const char *name, int can_write,
			  void (*done)(int status, const em_token *t, const char *secret, void *arg),
			  void *arg);
/* Active tokens: the principal's own, or everyone's for an admin. */
void em_auth_token_list(em_app *app, const em_principal *p,
			void (*done)(int status, const em_token *list, size_t n, void *arg), void *arg);
/* Revokes a token (own, or any for an admin); EM_ENOTFOUND otherwise. */
void em_auth_token_revoke(em_app *app, const em_principal *p, const char *ip, const char *public_id,
			  void (*done)(int status, void *arg), void *arg);

/* ---- Passwords on the thread pool ------------------------------------ */

/* status 0 (hash ready / password matches), EM_EAUTH (no match), EM_EAGAIN
** (too many hashes in flight). hash is the new hash for em_auth_hash_async. */
typedef void (*em_auth_pw_done)(int status, const char *hash, void *arg);
void em_auth_hash_async(em_app *app, const char *password, em_auth_pw_done done, void *arg);
void em_auth_verify_async(em_app *app, const char *hash, const char *password, em_auth_pw_done done,
			  void *arg);

/* ---- Called by operators.c after a change committed ------------------ */

/* Refreshes the cached operator; with revoke set, drops every session of
** theirs from memory (the caller deleted the rows in the same transaction). */
void em__auth_operator_changed(em_app *app, const em_operator *op, int revoke);

/* ---- Pure helpers (unit-tested) -------------------------------------- */

/* Argon2id with the interactive limits. Return 0, or EM_ENOMEM / EM_EAUTH. */
int em_auth_password_hash(const char *password, char *out, size_t outlen);
int em_auth_password_verify(const char *hash, const char *password);
/* Keyed BLAKE2b of a secret as 64 hex characters. */
void em_auth_token_hash(const unsigned char key[EM_AUTH_KEYBYTES], const char *secret,
			char out[EM_AUTH_HASHHEX]);
/* Constant-time comparison of a CSRF token; 1 when equal (and non-empty). */
int em_auth_csrf_equal(const char *expected, const char *given);
/* The token of an "Authorization: Bearer <token>" value, or NULL. */
const char *em_auth_bearer(const char *authorization);
/* A random password of len characters (len < outlen) from an unambiguous alphabet. */
void em_auth_random_password(char *out, size_t outlen, size_t len);

/* Failure counter per key with a fixed window, bounded to `cap` keys: when
** full, the key whose window started longest ago is forgotten. */
typedef struct em_ratelimit em_ratelimit;
em_ratelimit *em_ratelimit_new(size_t cap, int max, int64_t window_ms);
void em_ratelimit_free(em_ratelimit *rl);
/* Seconds until key may try again; 0 when it may now. */
int em_ratelimit_blocked(em_ratelimit *rl, const char *key, int64_t now_ms);
/* Counts one attempt against key. */
void em_ratelimit_hit(em_ratelimit *rl, const char *key, int64_t now_ms);
/* Takes one attempt back (it turned out to be a successful sign-in). */
void em_ratelimit_forgive(em_ratelimit *rl, const char *key);
size_t em_ratelimit_size(const em_ratelimit *rl);

#endif
