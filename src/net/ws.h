/*
** WebSocket connections (RFC 6455) on top of the HTTP server, framed by wslay.
**
** A handler upgrades a request with em_ws_upgrade(); from then on the
** connection speaks WebSocket. Messages larger than ws.message_max close the
** connection with 1009. Every connection is pinged each ws.ping_interval_s and
** closed when silent for ws.silent_close_s. Outgoing messages queue per
** connection: above ws.out_soft for ws.out_soft_seconds, or above ws.out_hard
** at any time, the peer is cut off (close 1008 "slow consumer") so a stalled
** reader never grows the server's memory without bound.
*/
#ifndef EM_WS_H
#define EM_WS_H

#include <stddef.h>

#include "net/http.h"

typedef struct em_ws em_ws;

typedef struct em_ws_handlers {
	/* A complete text (or binary) message; data is valid during the call. */
	void (*on_message)(em_ws *ws, const char *data, size_t len, int is_text);
	/* The connection is gone (code is the close code seen or sent). The em_ws
	** is freed right after this returns. */
	void (*on_close)(em_ws *ws, int code);
} em_ws_handlers;

/* Checks the upgrade headers and answers 101. On failure answers 400/426
** itself and returns NULL. user is available through em_ws_user(). */
em_ws *em_ws_upgrade(em_req *r, const em_ws_handlers *h, void *user);
/* 1 when the request asks for a WebSocket upgrade. */
int em_ws_is_upgrade(em_req *r);

/* Queues a text message. EM_ECLOSED after close; when the queue passes the
** hard limit the connection is closed and EM_ETOOBIG returned. Messages
** queued for one socket during one loop turn leave together, in order, in
** one write at the end of the turn (a message and its ack, or the messages
** of one group commit to an operator's console). */
int em_ws_send_text(em_ws *ws, const char *data, size_t len);
/* Starts the closing handshake. */
void em_ws_close(em_ws *ws, int code, const char *reason);
void *em_ws_user(em_ws *ws);
void em_ws_set_user(em_ws *ws, void *user);
size_t em_ws_queued(em_ws *ws);
const char *em_ws_client_ip(em_ws *ws);

/* Fuzzing entry: feeds bytes to the server-side frame parser, no socket. */
int em_ws_fuzz_frames(const unsigned char *data, size_t len);

#endif
