/*
** Private to src/net/: one client connection, shared by the HTTP server
** (http.c) and the WebSocket layer (ws.c) that takes a connection over after
** an upgrade.
*/
#ifndef EM_CONN_INT_H
#define EM_CONN_INT_H

#include <llhttp.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "net/http.h"

struct em_ws;

/* Request-scoped memory: a list of chunks, the first one inside the request. */
typedef struct em_arena_chunk {
	struct em_arena_chunk *next;
	size_t used, cap;
	char data[];
} em_arena_chunk;

#define EM_MAX_HEADERS 100
#define EM_MAX_PARAMS 8

typedef struct em_kv {
	const char *name;
	const char *value;
} em_kv;

struct em_conn;

struct em_req {
	struct em_conn *conn; /* owner; the connection outlives its request */
	em_server *srv;
	int method;
	const char *method_name;
	const char *target; /* raw request target */
	const char *path;   /* decoded */
	const char *query;
	em_kv headers[EM_MAX_HEADERS];
	int nheaders;
	em_kv params[EM_MAX_PARAMS];
	int nparams;
	em_buf body;
	em_buf resp_headers; /* extra response header lines */
	void *user;
	const char *client_ip; /* computed lazily */
	int keep_alive;
	int upgrade;
	int responded;
	int status;
	size_t resp_bytes;
	uint64_t start_us;
	em_arena_chunk *arena; /* extra chunks */
	size_t arena_used;
	char arena0[4096];
};

enum conn_state { CONN_HTTP, CONN_WS };

typedef struct em_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uint64_t deadline;  /* loop time (ms) of the current timeout; 0 = none */
	uint64_t timer_due; /* when the armed uv timer fires */
	em_server *srv;
	struct em_conn *prev, *next;
	llhttp_t parser;
	int state;
	int closing;	  /* uv_close issued */
	int handles_open; /* tcp + timer still to close */
	int req_pending;  /* a complete request awaits its response */
	int req_active;	  /* req holds a request being parsed or handled */
	int in_process;	  /* inside conn_process(): no re-entry */
	int close_after_write;
	int reading;
	int requests;
	em_buf in;	     /* received bytes not parsed yet */
	size_t hdr_bytes;    /* header bytes of the current request */
	int hdr_state;	     /* 0 none, 1 in field, 2 in value */
	em_buf field, value; /* header being parsed */
	int parse_error;     /* status to answer (400, 413, 431) */
	size_t out_bytes;    /* bytes handed to uv_write and not yet written */
	char peer_ip[64];
	struct em_ws *ws;
	em_req *req; /* NULL once the connection speaks WebSocket */
} em_conn;

/* Writes bytes on the connection. When owned is set, data was allocated with
** em_malloc and is freed once written; otherwise it is copied if it cannot be
** written at once. */
int em__conn_write(em_conn *c, const char *data, size_t len, int owned);
void em__conn_close(em_conn *c);
const em_config *em__server_cfg(em_server *s);
void em__server_ws_count(em_server *s, int delta, int slow);

/* ws.c: called by http.c. */
void em__ws_on_data(struct em_ws *ws, const char *data, size_t len);
void em__ws_on_conn_closed(struct em_ws *ws);
void em__ws_shutdown_all(void);
void em__ws_after_write(struct em_ws *ws);

#endif
