/*
** The REST API (/api/v1): one file per resource, each thin (validate the
** request, call the module, answer JSON). main.c registers every resource's
** routes on the server with the em_api_*_routes functions below.
**
** The few helpers shared by the resource files live here too, so that every
** endpoint answers field errors and module status codes the same way.
*/
#ifndef EM_API_H
#define EM_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"
#include "store/store.h"

struct em_operator;

/* POST /api/v1/login, POST /api/v1/logout, GET /api/v1/me (src/api/auth.c). */
void em_api_auth_routes(em_server *s);
/* /api/v1/operators, /api/v1/operators/{id} (src/api/operators.c). */
void em_api_operators_routes(em_server *s);
/* /api/v1/tokens, /api/v1/tokens/{id} (src/api/tokens.c). */
void em_api_tokens_routes(em_server *s);
/* GET /api/v1/audit (src/api/audit.c). */
void em_api_audit_routes(em_server *s);

/* ---- Shared helpers (src/api/auth.c) ---------------------------------- */

/* Reads an optional string member of at most maxlen bytes. Returns 0 with
** *out set (NULL when absent or null), or -1 after answering 422 with the
** field named. With required set, absence is a 422 too. */
int em_api_str_field(em_req *r, const json_t *obj, const char *key, int required, size_t maxlen,
		     const char **out);
/* Reads an optional integer member within [min, max]; *present tells whether
** it was there. Returns 0, or -1 after answering 422. */
int em_api_int_field(em_req *r, const json_t *obj, const char *key, long long min, long long max,
		     long long *out, int *present);
/* Reads an optional boolean member. Returns 0, or -1 after answering 422. */
int em_api_bool_field(em_req *r, const json_t *obj, const char *key, int *out, int *present);
/* Answers a module's EM_E* status: EM_EINVAL 422, EM_EPERM 403, EM_EAUTH 401,
** EM_ENOTFOUND 404, EM_EEXIST 409, EM_EAGAIN/EM_ECLOSED 503, others 500.
** message and field may be NULL (a generic message is used). */
void em_api_fail(em_req *r, int status, const char *field, const char *message);
/* Runs fn with the signed-in principal (flags as em_auth_require) and the
** request's JSON object, releasing the object afterwards; answers
** 401/403/400/415 itself. */
struct em_principal;
void em_api_with_body(em_req *r, int flags, void (*fn)(em_req *, const struct em_principal *, json_t *));
/* Copies the path parameter name into out; 0, or -1 after answering 404
** with message when it is empty or does not fit in outlen bytes. */
int em_api_path_id(em_req *r, const char *name, char *out, size_t outlen, const char *message);
/* Parses an optional integer query parameter within [0, max]; returns def
** when absent, or -1 after answering 422 with the parameter named. */
long long em_api_query_int(em_req *r, const char *name, long long def, long long max);
/* The same within [min, max] (min >= 0) for the CRM resources, whose field
** errors carry the code "invalid_field": "NAME must be an integer from MIN
** to MAX". An empty parameter counts as absent. */
long long em_api_query_range(em_req *r, const char *name, long long def, long long min, long long max);
/* Queues fn on the store, as a write or a read, with done to answer. When
** the store refuses the job, answers that (em_api_fail) and returns -1: the
** caller then frees arg, which done would otherwise have freed. */
int em_api_store(em_req *r, int write, em_db_fn fn, em_done_fn done, void *arg);
/* Public endpoints the shop's pages call (tracking, widget forms): the
** page's origin (Origin, else Referer) for the site's domain check, and
** CORS headers on every answer, errors included, so the page can read them. */
const char *em_api_page_origin(em_req *r);
void em_api_public_cors(em_req *r);
/* The 204 answer to a public endpoint's CORS preflight for POST. */
void em_api_public_preflight(em_req *r);
/* A public endpoint's request body as a JSON object, whatever its content
** type (the widget may send text/plain to spare a preflight); NULL after
** answering 400. The caller releases it. */
json_t *em_api_public_json(em_req *r);
/* Answers 429 "rate_limited" with message and Retry-After: wait_s. */
void em_api_rate_limited(em_req *r, int wait_s, const char *message);
/* Formats ms since the epoch as an RFC 3339 JSON string (null for 0). */
json_t *em_api_time(int64_t ms);
/* The public JSON shape of an operator (src/api/operators.c). */
json_t *em_api_operator_json(const struct em_operator *op);

#endif
