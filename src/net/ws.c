/*
** WebSocket connections framed by wslay (see ws.h).
**
** wslay does no I/O of its own: on_read hands received bytes to
** em__ws_on_data(), which lets wslay pull them through recv_cb, and wslay
** pushes frames out through send_cb into the connection's writer. send_cb
** refuses bytes (WOULDBLOCK) while the socket's write queue is above the soft
** limit, so messages then wait in wslay's queue, and em_ws_send_text() cuts
** the peer off once both queues together pass the hard limit. A sweep visits
** every WebSocket once a second — a tenth of them every 100 ms, so that the
** pings of many sockets never come due in one long run — sends pings, closes
** silent peers, and closes peers that stayed above the soft limit too long.
** A parked socket (below) is pinged, and its pongs are taken, without
** waking wslay's context.
**
** Sends do not write at once: em_ws_send_text() queues the frame in wslay
** and puts the socket on a "dirty" list, and the list is flushed once per
** loop turn (em_loop_at_turn_end: after the I/O callbacks, or before the
** loop blocks for frames queued by timers or close callbacks). So every
** frame queued for one socket during one turn —
** say the messages of one group commit for an operator who holds many
** chats — leaves in one write, in the order queued.
*/
#include "net/ws.h"

#include <openssl/evp.h>
#include <malloc.h>
#include <string.h>
#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn_int.h"
#include "net/loop.h"
#include "net/loop_int.h"

#define WS_MAGIC 0x57534f4bu
#define CLOSE_GRACE_MS 2000

struct em_ws {
	unsigned magic;
	em_conn *conn; /* NULL once the connection is gone (or when fuzzing) */
	wslay_event_context_ptr ctx;
	const em_ws_handlers *h;
	void *user;
	const char *in; /* bytes being fed to wslay */
	size_t inlen;
	uint64_t last_recv_ms;
	uint64_t last_ping_ms;
	uint64_t soft_since_ms; /* 0 when below the soft limit */
	uint64_t close_sent_ms;
	int close_code;
	int slow;	 /* cut off for not reading */
	int in_recv;	 /* inside wslay_event_recv(): no flushing, no freeing */
	int dead;	 /* connection gone while in_recv; free after recv returns */
	int cut_pending; /* hard limit passed while in_recv; close after recv returns */
	struct em_ws *prev, *next;
	struct em_ws *dnext, **dprev; /* dirty list; dprev NULL when not on it */
	char ip[64];
	/* wslay's context carries two 4 KiB buffers. An idle socket gives it
	** back ("parks") and gets a fresh one on its next frame; parking is
	** safe only between frames and outside a fragmented message, which
	** the few header bytes below track. */
	size_t max_msg;
	uint64_t last_send_ms;
	uint64_t last_data_ms; /* last text/binary message received (pings do not count) */
	uint64_t payload_left;
	uint8_t fh[14];
	uint8_t fh_have, fh_need;
	uint8_t in_fragment;
};

static em_ws *all_ws;
static em_timer *sweep_timer;
static size_t ws_count;
static em_ws *sweep_cur; /* next socket the sweep visits; NULL: start over */
static int parked_in_cycle;

#define SWEEP_TICK_MS 100
#define SWEEP_SLICES 10 /* ticks per visit of every socket */

/* Sockets with frames queued since the last flush, in the order they were
** first queued to; flushed at the end of the loop turn (flush_dirty). */
static em_ws *dirty_head, **dirty_tail = &dirty_head;
static void flush_dirty(void *arg);

#define PARK_IDLE_MS 5000

static const struct wslay_event_callbacks callbacks;

static wslay_event_context_ptr ctx_of(em_ws *ws)
{
	if (!ws->ctx) {
		wslay_event_context_server_init(&ws->ctx, &callbacks, ws);
		wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_msg);
	}
	return ws->ctx;
}

static void ctx_free(em_ws *ws)
{
	if (ws->ctx)
		wslay_event_context_free(ws->ctx);
	ws->ctx = NULL;
}

/* Follows frame boundaries in the bytes a client sends (RFC 6455 5.2). */
static void track_frames(em_ws *ws, const unsigned char *p, size_t n)
{
	while (n) {
		if (ws->payload_left) {
			size_t k = n < ws->payload_left ? n : (size_t)ws->payload_left;
			ws->payload_left -= k;
			p += k;
			n -= k;
			continue;
		}
		if (ws->fh_have < sizeof ws->fh)
			ws->fh[ws->fh_have] = *p;
		ws->fh_have++;
		p++;
		n--;
		if (ws->fh_have == 2) {
			unsigned l = ws->fh[1] & 0x7f;
			ws->fh_need = (uint8_t)(2 +
						(l == 126   ? 2
						 : l == 127 ? 8
							    : 0) +
						((ws->fh[1] & 0x80) ? 4 : 0));
		}
		if (ws->fh_have < 2 || ws->fh_have != ws->fh_need)
			continue;
		unsigned l = ws->fh[1] & 0x7f;
		uint64_t len = l;
		if (l == 126)
			len = (uint64_t)ws->fh[2] << 8 | ws->fh[3];
		else if (l == 127) {
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | ws->fh[i];
		}
		if ((ws->fh[0] & 0x0f) < 8) /* data frames; control frames never fragment */
			ws->in_fragment = !(ws->fh[0] & 0x80);
		ws->payload_left = len;
		ws->fh_have = ws->fh_need = 0;
	}
}

/* Gives wslay's context back when the socket has been quiet for a while
** and nothing is half-way in either direction. */
static int maybe_park(em_ws *ws, uint64_t now)
{
	if (!ws->ctx || ws->in_recv || ws->close_sent_ms || ws->close_code || !ws->conn ||
	    ws->conn->out_bytes || ws->fh_have || ws->payload_left || ws->in_fragment)
		return 0;
	/* Quiet means no message either way for a while; pings and pongs do
	** not count, so an idle peer that pings often still parks between
	** pings (the sweep runs once a second). */
	if (now - ws->last_data_ms < PARK_IDLE_MS || now - ws->last_send_ms < PARK_IDLE_MS)
		return 0;
	if (wslay_event_get_queued_msg_count(ws->ctx) || wslay_event_want_write(ws->ctx) ||
	    wslay_event_get_close_received(ws->ctx) || wslay_event_get_close_sent(ws->ctx))
		return 0;
	ctx_free(ws);
	return 1;
}

static const em_config *cfg_of(em_ws *ws)
{
	return em__server_cfg(ws->conn->srv);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	em_ws *ws = user;
	(void)flags;
	if (ws->inlen == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < ws->inlen ? len : ws->inlen;
	memcpy(buf, ws->in, n);
	ws->in += n;
	ws->inlen -= n;
	return (ssize_t)n;
}

/* Frames wslay produces during one ws_flush are gathered here and written
** with one call, so a frame's header and payload (and several frames) leave
** in one packet, not one write() each. The loop is single-threaded and a
** flush never nests. */
static em_buf out;

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	em_ws *ws = user;
	(void)flags;
	if (!ws->conn) /* fuzzing: no socket, replies are discarded */
		return (ssize_t)len;
	if (ws->conn->closing) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	if (ws->conn->out_bytes + out.len > cfg_of(ws)->ws_out_soft || em_buf_append(&out, data, len)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	em_ws *ws = user;
	(void)ctx;
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		ws->last_data_ms = ws->last_recv_ms;
		if (ws->h && ws->h->on_message && ws->conn)
			ws->h->on_message(ws, (const char *)arg->msg, arg->msg_length,
					  arg->opcode == WSLAY_TEXT_FRAME);
		break;
	case WSLAY_CONNECTION_CLOSE: ws->close_code = arg->status_code ? arg->status_code : 1005; break;
	default: /* pings are answered by wslay; pongs only prove liveness */ break;
	}
}

static const struct wslay_event_callbacks callbacks = {
	recv_cb, send_cb, NULL, NULL, NULL, NULL, on_msg,
};

/* Pushes queued frames out and ends the connection when both directions are
** finished (close handshake done) or wslay failed. */
static void ws_flush(em_ws *ws)
{
	if (!ws->conn)
		return;
	em_conn *c = ws->conn;
	if (!ws->ctx)
		return;
	if (!out.max)
		em_buf_init(&out, 1 << 20);
	for (;;) {
		em_buf_reset(&out);
		int rc = wslay_event_send(ws->ctx);
		size_t sent = out.len;
		if (sent) {
			em__conn_write(c, out.data, sent, 0);
			em_buf_reset(&out);
			/* A failed write closes the connection, and with it frees ws. */
			if (c->closing)
				return;
		}
		if (!ws->conn)
			return;
		if (rc != 0 || (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))) {
			if (c->out_bytes == 0)
				em__conn_close(c);
			else
				c->close_after_write = 1;
			return;
		}
		/* Frames held back by the output limit go on at once when the
		** kernel took everything so far: a write it took whole has no
		** completion callback (em__ws_after_write) to resume them. */
		if (!sent || c->out_bytes > 0 || !wslay_event_want_write(ws->ctx))
			return;
	}
}

static void dirty_add(em_ws *ws)
{
	if (ws->dprev)
		return;
	int first = !dirty_head;
	ws->dnext = NULL;
	ws->dprev = dirty_tail;
	*dirty_tail = ws;
	dirty_tail = &ws->dnext;
	if (first)
		em_loop_at_turn_end(flush_dirty, NULL);
}

static void dirty_remove(em_ws *ws)
{
	if (!ws->dprev)
		return;
	*ws->dprev = ws->dnext;
	if (ws->dnext)
		ws->dnext->dprev = ws->dprev;
	else
		dirty_tail = ws->dprev;
	ws->dnext = NULL;
	ws->dprev = NULL;
}

/* Writes out every socket's queued frames, one write per socket. A flush
** may close a connection, and its close handler may queue frames for other
** sockets: those join the list and leave in the same pass. */
static void flush_dirty(void *arg)
{
	(void)arg;
	while (dirty_head) {
		em_ws *ws = dirty_head;
		dirty_remove(ws);
		ws_flush(ws);
	}
}

/* 1 when the bytes are whole pong frames only (client frames are masked;
** a control frame's payload is at most 125 bytes). */
static int only_pongs(const unsigned char *p, size_t n)
{
	if (!n)
		return 0;
	while (n) {
		if (n < 6 || p[0] != 0x8a || !(p[1] & 0x80))
			return 0;
		size_t k = 6 + (size_t)(p[1] & 0x7f);
		if ((p[1] & 0x7f) > 125 || n < k)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

void em__ws_on_data(em_ws *ws, const char *data, size_t len)
{
	if (!ws || !ws->conn)
		return;
	ws->last_recv_ms = em_loop_now();
	/* A parked socket answering a ping: liveness is all it tells. */
	if (!ws->ctx && !ws->fh_have && !ws->payload_left && only_pongs((const unsigned char *)data, len))
		return;
	ws->in = data;
	ws->inlen = len;
	track_frames(ws, (const unsigned char *)data, len);
	ctx_of(ws);
	/* Handlers called from inside wslay may send (queue only) or cut the
	** peer off; both take effect once wslay has returned. */
	ws->in_recv = 1;
	int rc = wslay_event_recv(ws->ctx);
	ws->in_recv = 0;
	ws->in = NULL;
	ws->inlen = 0;
	if (ws->dead) {
		ctx_free(ws);
		em_free(ws);
		return;
	}
	if (!ws->conn)
		return;
	if (ws->cut_pending) {
		em__conn_close(ws->conn);
		return;
	}
	if (rc != 0) {
		em__conn_close(ws->conn);
		return;
	}
	/* Answers (pongs, replies queued by the handler) leave at the end of
	** the turn, together with whatever else this turn queues here. */
	if (wslay_event_want_write(ws->ctx))
		dirty_add(ws);
	else
		ws_flush(ws);
}

void em__ws_after_write(em_ws *ws)
{
	if (!ws->ctx)
		return;
	if (ws->conn && wslay_event_want_write(ws->ctx))
		ws_flush(ws);
	else if (ws->conn && ws->conn->out_bytes == 0 && !wslay_event_want_read(ws->ctx))
		em__conn_close(ws->conn);
}

static void ws_unlink(em_ws *ws)
{
	if (sweep_cur == ws)
		sweep_cur = ws->next;
	if (ws->prev)
		ws->prev->next = ws->next;
	else if (all_ws == ws)
		all_ws = ws->next;
	if (ws->next)
		ws->next->prev = ws->prev;
	ws->prev = ws->next = NULL;
}

void em__ws_on_conn_closed(em_ws *ws)
{
	EM_MAGIC_CHECK(ws, WS_MAGIC);
	em_server *srv = ws->conn->srv;
	ws->conn = NULL;
	ws_unlink(ws);
	dirty_remove(ws);
	ws_count--;
	em__server_ws_count(srv, -1, ws->slow);
	int code = ws->close_code ? ws->close_code : 1006;
	if (ws->h && ws->h->on_close)
		ws->h->on_close(ws, code);
	ws->magic = 0;
	if (ws->in_recv) {
		ws->dead = 1;
	} else {
		ctx_free(ws);
		em_free(ws);
	}
	if (ws_count == 0 && sweep_timer) {
		em_timer_stop(sweep_timer);
		sweep_timer = NULL;
	}
}

/* Sends a ping. A parked socket has nothing half-written (parking waits for
** that), so the two bytes of an empty ping go straight to the connection. */
static void send_ping(em_ws *ws)
{
	static const char ping[2] = {(char)0x89, 0};
	if (!ws->ctx) {
		em__conn_write(ws->conn, ping, sizeof ping, 0);
		return;
	}
	struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
	wslay_event_queue_msg(ws->ctx, &m);
	dirty_remove(ws);
	ws_flush(ws);
}

/* Checks one socket; returns 1 when it parked. */
static int sweep_one(em_ws *ws, uint64_t now)
{
	const em_config *cfg = cfg_of(ws);
	em_conn *c = ws->conn;
	size_t queued = em_ws_queued(ws);
	if (ws->close_sent_ms && now - ws->close_sent_ms > CLOSE_GRACE_MS) {
		em__conn_close(c);
		return 0;
	}
	if (now - ws->last_recv_ms > (uint64_t)cfg->ws_silent_close_s * 1000) {
		em_info("websocket silent, closing", "ip=%s", ws->ip);
		ws->close_code = 1001;
		em__conn_close(c);
		return 0;
	}
	if (queued > cfg->ws_out_soft) {
		if (!ws->soft_since_ms)
			ws->soft_since_ms = now;
		else if (now - ws->soft_since_ms > (uint64_t)cfg->ws_out_soft_seconds * 1000) {
			em_warn("websocket slow consumer, closing", "ip=%s queued=%zu", ws->ip, queued);
			ws->slow = 1;
			ws->close_code = 1008;
			em__conn_close(c);
			return 0;
		}
	} else {
		ws->soft_since_ms = 0;
	}
	if (now - ws->last_ping_ms >= (uint64_t)cfg->ws_ping_interval_s * 1000) {
		ws->last_ping_ms = now;
		send_ping(ws);
		if (c->closing) /* the write failed: ws is gone */
			return 0;
	}
	return maybe_park(ws, now);
}

static void sweep(void *arg)
{
	(void)arg;
	uint64_t now = em_loop_now();
	size_t n = ws_count / SWEEP_SLICES + 1;
	if (!sweep_cur) {
		/* A new cycle. Many small frees leave pages the allocator
		** keeps; after a cycle that parked many, hand them back. */
		if (parked_in_cycle >= 64)
			malloc_trim(0);
		parked_in_cycle = 0;
		sweep_cur = all_ws;
	}
	while (sweep_cur && n--) {
		em_ws *ws = sweep_cur;
		sweep_cur = ws->next; /* ws may close below */
		if (ws->conn)
			parked_in_cycle += sweep_one(ws, now);
	}
}

int em_ws_is_upgrade(em_req *r)
{
	const char *up = em_req_header(r, "Upgrade");
	return up && !strcasecmp(up, "websocket");
}

em_ws *em_ws_upgrade(em_req *r, const em_ws_handlers *h, void *user)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	const char *conn_hdr = em_req_header(r, "Connection");
	const char *key = em_req_header(r, "Sec-WebSocket-Key");
	const char *ver = em_req_header(r, "Sec-WebSocket-Version");
	if (em_req_method(r) != EM_GET || !em_ws_is_upgrade(r) || !conn_hdr ||
	    !strcasestr(conn_hdr, "upgrade")) {
		em_resp_error(r, 426, "upgrade_required", "this endpoint speaks WebSocket only", NULL);
		return NULL;
	}
	if (!ver || strcmp(ver, "13")) {
		em_resp_header(r, "Sec-WebSocket-Version", "13");
		em_resp_error(r, 426, "upgrade_required", "unsupported WebSocket version; use 13", NULL);
		return NULL;
	}
	if (!key || strlen(key) != 24) {
		em_resp_error(r, 400, "bad_request", "missing or malformed Sec-WebSocket-Key", NULL);
		return NULL;
	}
	unsigned char in[64], digest[20];
	memcpy(in, key, 24);
	memcpy(in + 24, guid, sizeof guid - 1);
	unsigned dlen = 0;
	EVP_Digest(in, 24 + sizeof guid - 1, digest, &dlen, EVP_sha1(), NULL);
	unsigned char accept[32];
	EVP_EncodeBlock(accept, digest, 20);

	em_conn *c = r->conn;
	em_ws *ws = em_calloc(1, sizeof *ws);
	ws->magic = WS_MAGIC;
	ws->conn = c;
	ws->h = h;
	ws->user = user;
	ws->last_recv_ms = ws->last_ping_ms = em_loop_now();
	snprintf(ws->ip, sizeof ws->ip, "%s", em_req_client_ip(r));
	ws->max_msg = em__server_cfg(c->srv)->ws_message_max;
	ws->last_send_ms = ws->last_data_ms = ws->last_recv_ms;
	ws->next = all_ws;
	if (all_ws)
		all_ws->prev = ws;
	all_ws = ws;
	ws_count++;
	em__server_ws_count(c->srv, 1, 0);
	if (!sweep_timer)
		sweep_timer = em_timer_start(SWEEP_TICK_MS, SWEEP_TICK_MS, sweep, NULL);

	c->state = CONN_WS;
	c->ws = ws;
	em_resp_header(r, "Upgrade", "websocket");
	em_resp_header(r, "Connection", "Upgrade");
	em_resp_header(r, "Sec-WebSocket-Accept", (const char *)accept);
	em_resp_empty(r, 101);
	return ws;
}

size_t em_ws_queued(em_ws *ws)
{
	if (!ws->conn)
		return 0;
	return ws->conn->out_bytes + (ws->ctx ? wslay_event_get_queued_msg_length(ws->ctx) : 0);
}

int em_ws_send_text(em_ws *ws, const char *data, size_t len)
{
	EM_MAGIC_CHECK(ws, WS_MAGIC);
	if (!ws->conn || ws->conn->closing || ws->cut_pending || ws->close_sent_ms ||
	    (ws->ctx && !wslay_event_get_write_enabled(ws->ctx)))
		return EM_ECLOSED;
	if (em_ws_queued(ws) + len > cfg_of(ws)->ws_out_hard) {
		em_warn("websocket output queue over hard limit, closing", "ip=%s queued=%zu", ws->ip,
			em_ws_queued(ws));
		ws->slow = 1;
		ws->close_code = 1008;
		if (ws->in_recv)
			ws->cut_pending = 1;
		else
			em__conn_close(ws->conn);
		return EM_ETOOBIG;
	}
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)data, len};
	ws->last_send_ms = em_loop_now();
	if (wslay_event_queue_msg(ctx_of(ws), &m))
		return EM_ECLOSED;
	dirty_add(ws);
	return 0;
}

void em_ws_close(em_ws *ws, int code, const char *reason)
{
	if (!ws->conn || ws->close_sent_ms)
		return;
	/* wslay sends control frames ahead of queued messages: let the
	** messages queued so far go first. */
	if (!ws->in_recv) {
		em_conn *c = ws->conn;
		dirty_remove(ws);
		ws_flush(ws);
		if (c->closing) /* the write failed: ws is gone */
			return;
	}
	ws->close_sent_ms = em_loop_now();
	if (!ws->close_code)
		ws->close_code = code;
	wslay_event_queue_close(ctx_of(ws), (uint16_t)code, (const uint8_t *)reason,
				reason ? strlen(reason) : 0);
	if (!ws->in_recv)
		ws_flush(ws);
}

void em__ws_shutdown_all(void)
{
	for (em_ws *ws = all_ws, *next; ws; ws = next) {
		next = ws->next;
		em_ws_close(ws, 1001, "server shutting down");
	}
}

void *em_ws_user(em_ws *ws)
{
	return ws->user;
}

void em_ws_set_user(em_ws *ws, void *user)
{
	ws->user = user;
}

const char *em_ws_client_ip(em_ws *ws)
{
	return ws->ip;
}

/* Fuzzing entry: runs wslay's server-side frame parser over data with no
** socket behind it; replies are discarded. */
int em_ws_fuzz_frames(const unsigned char *data, size_t len)
{
	em_ws ws;
	memset(&ws, 0, sizeof ws);
	ws.magic = WS_MAGIC;
	ws.in = (const char *)data;
	ws.inlen = len;
	/* Our own readers of raw client bytes first: the frame tracker that
	** decides when a socket may park, in uneven pieces as reads deliver
	** them, and the pong check of parked sockets. */
	for (size_t at = 0, step = 1; at < len; at += step, step = step * 3 + 1)
		track_frames(&ws, data + at, len - at < step ? len - at : step);
	(void)only_pongs(data, len);
	wslay_event_context_server_init(&ws.ctx, &callbacks, &ws);
	wslay_event_config_set_max_recv_msg_length(ws.ctx, 65536);
	int rc = wslay_event_recv(ws.ctx);
	wslay_event_send(ws.ctx);
	wslay_event_context_free(ws.ctx);
	return rc;
}
