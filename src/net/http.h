/*
** The HTTP/1.1 server: connections on libuv, requests parsed by llhttp
** (behind http_parse), a router with path parameters, and responses.
**
** Requests on one connection are handled strictly one at a time: after a
** request is complete the parser pauses, and it resumes only when that
** request's response has been queued. Pipelined requests are therefore
** answered in order, and a handler may answer later (after a store commit):
** it simply keeps the em_req pointer and calls one em_resp_* function once.
** The request (and its arena) stays valid until a response is sent, even if
** the client goes away meanwhile; em_req_gone() tells whether it has.
*/
#ifndef EM_HTTP_H
#define EM_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct em_req em_req;
typedef struct em_server em_server;
typedef void (*em_handler)(em_req *req);

enum em_method { EM_GET = 1, EM_HEAD, EM_POST, EM_PUT, EM_PATCH, EM_DELETE, EM_OPTIONS, EM_OTHER };

/* ---- Server --------------------------------------------------------- */

/* Creates the server (does not listen yet). app is handed to handlers. */
em_server *em_server_new(const em_config *cfg, void *app);
/* Registers a route. pattern is "/api/v1/contacts/{id}"; a final "{*rest}"
** matches the remainder. Later registrations never shadow earlier exact ones:
** literal segments win over parameters. */
void em_server_route(em_server *s, int method, const char *pattern, em_handler h);
/* Handler for requests no route matches (default: 404 JSON error). */
void em_server_fallback(em_server *s, em_handler h);
/* Binds and listens on cfg->listen (port 0 = ephemeral). */
int em_server_listen(em_server *s, char *err, size_t errlen);
/* The bound port (after listen). */
int em_server_port(em_server *s);
/* Stops accepting, closes idle keep-alive connections, and WebSockets with
** 1001; calls done() on the loop when every connection is gone. */
void em_server_shutdown(em_server *s, void (*done)(void *arg), void *arg);
void em_server_free(em_server *s);

/* Counters for /metrics. */
typedef struct em_server_stats {
	uint64_t connections_open;
	uint64_t connections_total;
	uint64_t ws_open;
	uint64_t requests_total;
	uint64_t by_status[6]; /* index status/100: 1xx..5xx */
	uint64_t ws_slow_closed;
} em_server_stats;
void em_server_get_stats(em_server *s, em_server_stats *out);
/* Appends the server's own Prometheus lines (requests by status code, etc). */
struct em_buf;
void em_server_metrics(em_server *s, struct em_buf *out);

/* ---- Request -------------------------------------------------------- */

void *em_req_app(em_req *r);
int em_req_method(em_req *r);
const char *em_req_method_name(em_req *r);
const char *em_req_path(em_req *r);  /* percent-decoded path, no query */
const char *em_req_query(em_req *r); /* raw query string without '?', "" if none */
const char *em_req_target(em_req *r); /* raw request target */
const char *em_req_body(em_req *r, size_t *len);
/* Header value by case-insensitive name; NULL when absent. */
const char *em_req_header(em_req *r, const char *name);
/* Router parameter ("id" for "{id}"); NULL when the route has none. */
const char *em_req_param(em_req *r, const char *name);
/* Decoded query parameter into the request arena; NULL when absent. */
const char *em_req_query_param(em_req *r, const char *name);
/* Cookie value into the request arena; NULL when absent. */
const char *em_req_cookie(em_req *r, const char *name);
/* Client address: the peer, or the last untrusted hop of X-Forwarded-For
** when the peer is in server.trusted_proxies. */
const char *em_req_client_ip(em_req *r);
/* 1 when the peer is a trusted proxy reporting X-Forwarded-Proto: https. */
int em_req_is_https(em_req *r);
/* Request-scoped memory, freed with the request. Never NULL. */
void *em_req_alloc(em_req *r, size_t n);
char *em_req_strdup(em_req *r, const char *s);
/* Per-request slot for the auth layer (the signed-in principal). */
void em_req_set_user(em_req *r, void *user);
void *em_req_user(em_req *r);
/* 1 when the client has disconnected; the response will be discarded. */
int em_req_gone(em_req *r);
/* Parses the body as a JSON object; on failure answers 400 invalid_json (or
** 415 for a non-JSON content type) itself and returns NULL. */
json_t *em_req_json(em_req *r);

/* ---- Response (exactly one per request) ----------------------------- */

/* Adds a response header (copied). Call before the em_resp_* that sends. */
void em_resp_header(em_req *r, const char *name, const char *value);
void em_resp_send(em_req *r, int status, const char *content_type, const void *body, size_t len);
/* Sends obj as JSON and releases the reference. */
void em_resp_json(em_req *r, int status, json_t *obj);
/* The one error format: {"error":{"code","message","field"?}}. */
void em_resp_error(em_req *r, int status, const char *code, const char *message, const char *field);
/* 204 No Content. */
void em_resp_empty(em_req *r, int status);
/* Serves an embedded asset (ETag, If-None-Match, gzip by Accept-Encoding). */
struct em_embedded;
void em_resp_asset(em_req *r, const struct em_embedded *e, const char *cache_control);

/* ---- Fuzzing entry: feeds raw bytes through the request parser ------- */
int em_http_fuzz_parse(const unsigned char *data, size_t len);

#endif
