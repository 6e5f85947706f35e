/*
** The HTTP/1.1 server on libuv and llhttp (see http.h).
**
** Each connection parses with its own llhttp parser. When a request is
** complete the parser is paused and the request dispatched; bytes that follow
** (pipelined requests) stay in the connection's input buffer and reading stops
** once that buffer is full, so a client cannot make the server buffer more
** than one request ahead. When the handler answers, the parser resumes on the
** buffered bytes. conn_process() is the only place that feeds the parser and
** it never re-enters itself, so a handler that answers synchronously does not
** recurse.
**
** Limits: header bytes (431), URI length (414), body bytes (413), header and
** body deadlines (408), idle keep-alive close, and a cap on open connections
** (503). Every error ends the connection after the answer.
*/
#include "net/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "net/conn_int.h"
#include "net/embedded.h"
#include "net/loop_int.h"
#include "net/ws.h"

#define CONN_IN_MAX_EXTRA (64 * 1024) /* pipelined bytes buffered beyond one request */
#define RESP_HEADERS_MAX (16 * 1024)
#define MAX_SEGMENTS 16

typedef struct route {
	int method;
	int nseg;
	char *seg[MAX_SEGMENTS]; /* literal, or "{name}" / "{*name}" */
	int wildcard;		 /* last segment is {*name} */
	em_handler handler;
} route;

#define MAX_PROXIES 16

struct em_server {
	const em_config *cfg;
	void *app;
	uv_tcp_t listener;
	int listening;
	int port;
	route *routes;
	int nroutes;
	em_handler fallback;
	em_conn *conns;
	int shutting_down;
	void (*shutdown_done)(void *);
	void *shutdown_arg;
	uv_timer_t shutdown_timer;
	int shutdown_timer_on;
	char proxies[MAX_PROXIES][64];
	int nproxies;
	em_server_stats stats;
	uint64_t status_counts[600];
};

static llhttp_settings_t parser_settings;

static void conn_process(em_conn *c);
static void conn_start_timer(em_conn *c, int ms);
static void req_reset(em_req *r);
static void answer_error_and_close(em_conn *c, int status, const char *code, const char *message);

/* ---- Server --------------------------------------------------------- */

const em_config *em__server_cfg(em_server *s)
{
	return s->cfg;
}

void em__server_ws_count(em_server *s, int delta, int slow)
{
	s->stats.ws_open += (uint64_t)(int64_t)delta;
	if (slow)
		s->stats.ws_slow_closed++;
}

static void parse_proxies(em_server *s)
{
	const char *p = s->cfg->trusted_proxies;
	while (*p && s->nproxies < MAX_PROXIES) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		if (n > 0 && n < sizeof s->proxies[0]) {
			memcpy(s->proxies[s->nproxies], p, n);
			s->proxies[s->nproxies][n] = '\0';
			s->nproxies++;
		}
		p += n;
	}
}

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t len);
static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);

static void default_fallback(em_req *r)
{
	em_resp_error(r, 404, "not_found", "no such resource", NULL);
}

/* The parser callbacks, shared by every connection (and the fuzz entry). */
static void init_parser_settings(void)
{
	llhttp_settings_init(&parser_settings);
	parser_settings.on_message_begin = on_message_begin;
	parser_settings.on_url = on_url;
	parser_settings.on_header_field = on_header_field;
	parser_settings.on_header_value = on_header_value;
	parser_settings.on_headers_complete = on_headers_complete;
	parser_settings.on_body = on_body;
	parser_settings.on_message_complete = on_message_complete;
}

em_server *em_server_new(const em_config *cfg, void *app)
{
	em_server *s = em_calloc(1, sizeof *s);
	s->cfg = cfg;
	s->app = app;
	s->fallback = default_fallback;
	parse_proxies(s);
	init_parser_settings();
	return s;
}

void em_server_route(em_server *s, int method, const char *pattern, em_handler h)
{
	s->routes = em_realloc(s->routes, sizeof(route) * (size_t)(s->nroutes + 1));
	route *rt = &s->routes[s->nroutes++];
	memset(rt, 0, sizeof *rt);
	rt->method = method;
	rt->handler = h;
	const char *p = pattern;
	while (*p == '/')
		p++;
	while (*p && rt->nseg < MAX_SEGMENTS) {
		size_t n = strcspn(p, "/");
		rt->seg[rt->nseg++] = em_strndup(p, n);
		if (n > 2 && p[0] == '{' && p[1] == '*')
			rt->wildcard = 1;
		p += n;
		while (*p == '/')
			p++;
	}
}

void em_server_fallback(em_server *s, em_handler h)
{
	s->fallback = h;
}

int em_server_port(em_server *s)
{
	return s->port;
}

void em_server_get_stats(em_server *s, em_server_stats *out)
{
	*out = s->stats;
}

void em_server_metrics(em_server *s, em_buf *out)
{
	em_buf_printf(
		out,
		"# HELP emma_connections_open Open client connections.\n"
		"# TYPE emma_connections_open gauge\nemma_connections_open %llu\n"
		"# HELP emma_connections_total Accepted client connections.\n"
		"# TYPE emma_connections_total counter\nemma_connections_total %llu\n"
		"# HELP emma_websockets_open Open WebSocket connections.\n"
		"# TYPE emma_websockets_open gauge\nemma_websockets_open %llu\n"
		"# HELP emma_websocket_slow_closed_total WebSockets cut off for not reading.\n"
		"# TYPE emma_websocket_slow_closed_total counter\nemma_websocket_slow_closed_total %llu\n"
		"# HELP emma_http_requests_total HTTP requests answered, by status code.\n"
		"# TYPE emma_http_requests_total counter\n",
		(unsigned long long)s->stats.connections_open, (unsigned long long)s->stats.connections_total,
		(unsigned long long)s->stats.ws_open, (unsigned long long)s->stats.ws_slow_closed);
	for (int i = 100; i < 600; i++)
		if (s->status_counts[i])
			em_buf_printf(out, "emma_http_requests_total{code=\"%d\"} %llu\n", i,
				      (unsigned long long)s->status_counts[i]);
}

/* ---- Connections ---------------------------------------------------- */

static void req_free(em_conn *c)
{
	if (!c->req)
		return;
	req_reset(c->req);
	em_buf_free(&c->req->body);
	em_buf_free(&c->req->resp_headers);
	em_free(c->req);
	c->req = NULL;
}

static void conn_free(em_conn *c)
{
	em_server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.connections_open--;
	req_free(c);
	em_buf_free(&c->in);
	em_buf_free(&c->field);
	em_buf_free(&c->value);
	em_free(c);
	if (s->shutting_down && !s->conns && s->shutdown_done) {
		void (*done)(void *) = s->shutdown_done;
		s->shutdown_done = NULL;
		if (s->shutdown_timer_on) {
			uv_timer_stop(&s->shutdown_timer);
			uv_close((uv_handle_t *)&s->shutdown_timer, NULL);
			s->shutdown_timer_on = 0;
		}
		done(s->shutdown_arg);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	em_conn *c = h->data;
	if (--c->handles_open > 0)
		return;
	/* A handler still holding the request answers later; it frees us then. */
	if (c->req_pending)
		return;
	conn_free(c);
}

void em__conn_close(em_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->ws) {
		struct em_ws *ws = c->ws;
		c->ws = NULL;
		em__ws_on_conn_closed(ws);
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* The connection's timeout is lazy: a new deadline only moves c->deadline,
** and the uv timer is re-armed only when it must fire earlier than it is
** set to. When it fires before the deadline (the deadline moved on since),
** it is armed again for the rest. Keep-alive traffic thus does not stop and
** start a timer for every request. */
static void on_timeout(uv_timer_t *t)
{
	em_conn *c = t->data;
	if (c->state != CONN_HTTP || c->closing || !c->deadline)
		return;
	uint64_t now = uv_now(t->loop);
	if (now < c->deadline) {
		c->timer_due = c->deadline;
		uv_timer_start(&c->timer, on_timeout, c->deadline - now, 0);
		return;
	}
	c->deadline = 0;
	if (c->req_active && !c->req_pending) {
		/* Headers or body did not arrive in time. */
		answer_error_and_close(c, 408, "timeout", "request not received in time");
		return;
	}
	if (!c->req_active && c->requests == 0 && c->in.len == 0) {
		/* Connected but never sent a byte within the header deadline. */
		em__conn_close(c);
		return;
	}
	if (!c->req_pending)
		em__conn_close(c); /* idle keep-alive connection */
}

static void conn_start_timer(em_conn *c, int ms)
{
	if (c->closing)
		return;
	uint64_t now = uv_now(em__uv_loop());
	c->deadline = now + (uint64_t)ms;
	if (!uv_is_active((uv_handle_t *)&c->timer) || c->timer_due > c->deadline) {
		c->timer_due = c->deadline;
		uv_timer_start(&c->timer, on_timeout, (uint64_t)ms, 0);
	}
}

typedef struct write_req {
	uv_write_t w;
	em_conn *c;
	char *data;
	size_t len;
} write_req;

static void on_write(uv_write_t *w, int status)
{
	write_req *wr = (write_req *)w;
	em_conn *c = wr->c;
	c->out_bytes -= wr->len;
	em_free(wr->data);
	em_free(wr);
	if (status < 0) {
		em__conn_close(c);
		return;
	}
	if (c->closing)
		return;
	if (c->close_after_write && c->out_bytes == 0) {
		em__conn_close(c);
		return;
	}
	if (c->ws)
		em__ws_after_write(c->ws);
}

int em__conn_write(em_conn *c, const char *data, size_t len, int owned)
{
	if (c->closing) {
		if (owned)
			em_free((void *)data);
		return EM_ECLOSED;
	}
	size_t off = 0;
	/* Try to write at once: most responses fit the socket buffer, which
	** saves a write request and a copy. Only when nothing is queued, to keep
	** the byte order. */
	if (c->out_bytes == 0) {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n > 0)
			off = (size_t)n;
		else if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
			if (owned)
				em_free((void *)data);
			em__conn_close(c);
			return EM_EIO;
		}
	}
	if (off == len) {
		if (owned)
			em_free((void *)data);
		if (c->close_after_write)
			em__conn_close(c);
		return 0;
	}
	write_req *wr = em_malloc(sizeof *wr);
	wr->c = c;
	wr->len = len - off;
	if (owned && off == 0) {
		wr->data = (char *)data;
	} else {
		wr->data = em_malloc(wr->len);
		memcpy(wr->data, data + off, wr->len);
		if (owned)
			em_free((void *)data);
	}
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
	c->out_bytes += wr->len;
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write)) {
		c->out_bytes -= wr->len;
		em_free(wr->data);
		em_free(wr);
		em__conn_close(c);
		return EM_EIO;
	}
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	/* One shared read buffer: the loop is single-threaded and every read is
	** consumed (parsed or copied into the connection) before the next. */
	static char slab[64 * 1024];
	(void)h;
	(void)suggested;
	buf->base = slab;
	buf->len = sizeof slab;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	em_conn *c = st->data;
	if (n < 0) {
		em__conn_close(c);
		return;
	}
	if (n == 0 || c->closing)
		return;
	if (c->state == CONN_WS) {
		em__ws_on_data(c->ws, buf->base, (size_t)n);
		return;
	}
	if (em_buf_append(&c->in, buf->base, (size_t)n)) {
		/* Only reachable when a pipelining client ignores back-pressure. */
		answer_error_and_close(c, 400, "bad_request", "too much pipelined data");
		return;
	}
	conn_process(c);
}

static void conn_read_control(em_conn *c)
{
	int want = !c->closing && c->state == CONN_HTTP && c->in.len < CONN_IN_MAX_EXTRA;
	if (c->state == CONN_WS)
		want = !c->closing;
	if (want && !c->reading) {
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_connection(uv_stream_t *ls, int status)
{
	em_server *s = ls->data;
	if (status < 0)
		return;
	em_conn *c = em_calloc(1, sizeof *c);
	c->srv = s;
	uv_tcp_init(em__uv_loop(), &c->tcp);
	uv_timer_init(em__uv_loop(), &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->stats.connections_open++;
	s->stats.connections_total++;
	em_buf_init(&c->in, s->cfg->header_max + s->cfg->body_max + CONN_IN_MAX_EXTRA);
	em_buf_init(&c->field, s->cfg->header_max);
	em_buf_init(&c->value, s->cfg->header_max);
	c->req = em_calloc(1, sizeof *c->req);
	em_buf_init(&c->req->body, s->cfg->body_max);
	em_buf_init(&c->req->resp_headers, RESP_HEADERS_MAX);
	c->req->arena_used = 0;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
		em__conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer_ip, sizeof c->peer_ip);
		else
			uv_ip4_name((struct sockaddr_in *)&ss, c->peer_ip, sizeof c->peer_ip);
		/* Show v4-mapped peers as plain IPv4. */
		if (!strncmp(c->peer_ip, "::ffff:", 7) && strchr(c->peer_ip, '.'))
			memmove(c->peer_ip, c->peer_ip + 7, strlen(c->peer_ip + 7) + 1);
	}
	llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
	c->parser.data = c;
	if (s->shutting_down || s->stats.connections_open > (uint64_t)s->cfg->max_connections) {
		static const char busy[] =
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			"Retry-After: 1\r\nConnection: close\r\nContent-Length: 79\r\n\r\n"
			"{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections, try "
			"again\"}}\n";
		c->close_after_write = 1;
		s->status_counts[503]++;
		em__conn_write(c, busy, sizeof busy - 1, 0);
		return;
	}
	conn_start_timer(c, s->cfg->header_timeout_ms);
	conn_read_control(c);
}

int em_server_listen(em_server *s, char *err, size_t errlen)
{
	char host[128];
	const char *colon = strrchr(s->cfg->listen, ':');
	if (!colon) {
		snprintf(err, errlen, "listen address '%s' is not HOST:PORT", s->cfg->listen);
		return EM_EINVAL;
	}
	size_t hl = (size_t)(colon - s->cfg->listen);
	if (hl >= sizeof host)
		hl = sizeof host - 1;
	memcpy(host, s->cfg->listen, hl);
	host[hl] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535) {
		snprintf(err, errlen, "listen address '%s': bad port", s->cfg->listen);
		return EM_EINVAL;
	}
	/* Accept "[::1]" as well as "::1". */
	if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct sockaddr_storage addr;
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) &&
	    uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr)) {
		snprintf(err, errlen, "listen address '%s': '%s' is not an IP address", s->cfg->listen, host);
		return EM_EINVAL;
	}
	uv_tcp_init(em__uv_loop(), &s->listener);
	s->listener.data = s;
	int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s: %s", s->cfg->listen, uv_strerror(rc));
		uv_close((uv_handle_t *)&s->listener, NULL);
		return EM_EIO;
	}
	s->listening = 1;
	struct sockaddr_storage bound;
	int blen = sizeof bound;
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
	s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
	em_server *s = t->data;
	/* Peers that did not finish their close handshake in time are dropped. */
	for (em_conn *c = s->conns; c; c = c->next)
		em__conn_close(c);
}

void em_server_shutdown(em_server *s, void (*done)(void *), void *arg)
{
	s->shutting_down = 1;
	s->shutdown_done = done;
	s->shutdown_arg = arg;
	if (s->listening) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		s->listening = 0;
	}
	em__ws_shutdown_all();
	for (em_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->state == CONN_HTTP && !c->req_active)
			em__conn_close(c);
		else if (c->state == CONN_HTTP)
			c->req->keep_alive = 0;
	}
	if (!s->conns) {
		s->shutdown_done = NULL;
		done(arg);
		return;
	}
	uv_timer_init(em__uv_loop(), &s->shutdown_timer);
	s->shutdown_timer.data = s;
	s->shutdown_timer_on = 1;
	uv_timer_start(&s->shutdown_timer, on_shutdown_timeout, 3000, 0);
}

void em_server_free(em_server *s)
{
	for (int i = 0; i < s->nroutes; i++)
		for (int j = 0; j < s->routes[i].nseg; j++)
			em_free(s->routes[i].seg[j]);
	em_free(s->routes);
	em_free(s);
}

/* ---- Request memory ------------------------------------------------- */

void *em_req_alloc(em_req *r, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (r->arena_used + n <= sizeof r->arena0) {
		void *p = r->arena0 + r->arena_used;
		r->arena_used += n;
		return p;
	}
	if (!r->arena || r->arena->used + n > r->arena->cap) {
		size_t cap = n > 16384 ? n : 16384;
		em_arena_chunk *ch = em_malloc(sizeof *ch + cap);
		ch->used = 0;
		ch->cap = cap;
		ch->next = r->arena;
		r->arena = ch;
	}
	void *p = r->arena->data + r->arena->used;
	r->arena->used += n;
	return p;
}

char *em_req_strdup(em_req *r, const char *s)
{
	size_t n = strlen(s);
	char *p = em_req_alloc(r, n + 1);
	memcpy(p, s, n + 1);
	return p;
}

static char *req_strndup(em_req *r, const char *s, size_t n)
{
	char *p = em_req_alloc(r, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void req_reset(em_req *r)
{
	while (r->arena) {
		em_arena_chunk *n = r->arena->next;
		em_free(r->arena);
		r->arena = n;
	}
	r->arena_used = 0;
	r->nheaders = 0;
	r->nparams = 0;
	r->target = r->path = r->query = "";
	r->method_name = "";
	r->user = NULL;
	r->client_ip = NULL;
	r->responded = 0;
	r->upgrade = 0;
	r->status = 0;
	r->resp_bytes = 0;
	em_buf_reset(&r->body);
	em_buf_reset(&r->resp_headers);
	/* Give back large body buffers so an idle connection stays small. */
	if (r->body.cap > 65536)
		em_buf_free(&r->body);
}

/* ---- Parser callbacks ----------------------------------------------- */

static int on_message_begin(llhttp_t *p)
{
	em_conn *c = p->data;
	em_req *r = c->req;
	req_reset(r);
	r->conn = c;
	r->srv = c->srv;
	r->start_us = em_mono_us();
	c->req_active = 1;
	c->hdr_bytes = 0;
	c->hdr_state = 0;
	c->parse_error = 0;
	em_buf_reset(&c->field);
	em_buf_reset(&c->value);
	/* The URL accumulates in `field` until the first header starts. */
	conn_start_timer(c, c->srv->cfg->header_timeout_ms);
	return 0;
}

static int header_budget(em_conn *c, size_t len, int status)
{
	c->hdr_bytes += len;
	if (c->hdr_bytes > c->srv->cfg->header_max) {
		c->parse_error = status;
		return -1;
	}
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	em_conn *c = p->data;
	if (header_budget(c, len, 414) || em_buf_append(&c->field, at, len)) {
		c->parse_error = 414;
		return -1;
	}
	return 0;
}

static void commit_header(em_conn *c)
{
	em_req *r = c->req;
	if (c->hdr_state == 2 && r->nheaders < EM_MAX_HEADERS) {
		r->headers[r->nheaders].name =
			req_strndup(r, c->field.data ? c->field.data : "", c->field.len);
		r->headers[r->nheaders].value =
			req_strndup(r, c->value.data ? c->value.data : "", c->value.len);
		r->nheaders++;
	}
	em_buf_reset(&c->field);
	em_buf_reset(&c->value);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	em_conn *c = p->data;
	em_req *r = c->req;
	if (c->hdr_state == 0) {
		/* The URL is complete. */
		r->target = req_strndup(r, c->field.data ? c->field.data : "", c->field.len);
		em_buf_reset(&c->field);
	} else if (c->hdr_state == 2) {
		commit_header(c);
		if (r->nheaders >= EM_MAX_HEADERS) {
			c->parse_error = 431;
			return -1;
		}
	}
	c->hdr_state = 1;
	if (header_budget(c, len + 4, 431) || em_buf_append(&c->field, at, len)) {
		c->parse_error = 431;
		return -1;
	}
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	em_conn *c = p->data;
	c->hdr_state = 2;
	if (header_budget(c, len, 431) || em_buf_append(&c->value, at, len)) {
		c->parse_error = 431;
		return -1;
	}
	return 0;
}

static int method_from_llhttp(int m)
{
	switch (m) {
	case HTTP_GET: return EM_GET;
	case HTTP_HEAD: return EM_HEAD;
	case HTTP_POST: return EM_POST;
	case HTTP_PUT: return EM_PUT;
	case HTTP_PATCH: return EM_PATCH;
	case HTTP_DELETE: return EM_DELETE;
	case HTTP_OPTIONS: return EM_OPTIONS;
	}
	return EM_OTHER;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into the arena. plus_space turns '+' into ' '
** (query strings). Returns NULL for a NUL byte or a malformed escape. */
static char *pct_decode(em_req *r, const char *s, size_t n, int plus_space)
{
	char *out = em_req_alloc(r, n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				return NULL;
			int hi = hexval((unsigned char)s[i + 1]);
			int lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			int ch = hi * 16 + lo;
			if (ch == 0)
				return NULL;
			*o++ = (char)ch;
			i += 2;
		} else if (plus_space && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int on_headers_complete(llhttp_t *p)
{
	em_conn *c = p->data;
	em_req *r = c->req;
	if (c->hdr_state == 0) {
		r->target = req_strndup(r, c->field.data ? c->field.data : "", c->field.len);
		em_buf_reset(&c->field);
	}
	commit_header(c);
	r->method = method_from_llhttp(p->method);
	r->method_name = llhttp_method_name((llhttp_method_t)p->method);
	const char *q = strchr(r->target, '?');
	size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
	r->query = q ? q + 1 : "";
	r->path = pct_decode(r, r->target, plen, 0);
	if (!r->path || r->target[0] != '/') {
		if (!(r->method == EM_OPTIONS && !strcmp(r->target, "*"))) {
			c->parse_error = 400;
			return -1;
		}
		r->path = "*";
	}
	r->keep_alive = llhttp_should_keep_alive(p);
	r->upgrade = p->upgrade;
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->cfg->body_max) {
		c->parse_error = 413;
		return -1;
	}
	/* curl and others wait for this before sending a body. */
	const char *expect = em_req_header(r, "Expect");
	if (expect && !strcasecmp(expect, "100-continue") && p->http_major == 1 && p->http_minor == 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		em__conn_write(c, cont, sizeof cont - 1, 0);
	}
	conn_start_timer(c, c->srv->cfg->body_timeout_ms);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	em_conn *c = p->data;
	if (em_buf_append(&c->req->body, at, len)) {
		c->parse_error = 413;
		return -1;
	}
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	em_conn *c = p->data;
	c->req_pending = 1;
	c->deadline = 0; /* no timeout while the request is handled */
	return HPE_PAUSED;
}

/* ---- Dispatch ------------------------------------------------------- */

static int match_route(const route *rt, em_req *r, const char **segs, const size_t *lens, int nseg,
		       int *score)
{
	if (rt->wildcard ? nseg < rt->nseg - 1 : nseg != rt->nseg)
		return 0;
	int lit = 0;
	for (int i = 0; i < rt->nseg; i++) {
		const char *pat = rt->seg[i];
		if (pat[0] == '{')
			continue;
		if (i >= nseg || strlen(pat) != lens[i] || memcmp(pat, segs[i], lens[i]))
			return 0;
		lit++;
	}
	*score = lit * 2 + !rt->wildcard;
	return 1;
}

static void bind_params(const route *rt, em_req *r, const char **segs, const size_t *lens, int nseg)
{
	r->nparams = 0;
	for (int i = 0; i < rt->nseg && r->nparams < EM_MAX_PARAMS; i++) {
		const char *pat = rt->seg[i];
		if (pat[0] != '{')
			continue;
		int star = pat[1] == '*';
		const char *nm = pat + 1 + star;
		size_t nl = strlen(nm);
		if (nl && nm[nl - 1] == '}')
			nl--;
		r->params[r->nparams].name = req_strndup(r, nm, nl);
		if (star) {
			/* The remainder of the path, slashes included. */
			const char *start = i < nseg ? segs[i] : "";
			r->params[r->nparams].value = em_req_strdup(r, start);
		} else {
			r->params[r->nparams].value = req_strndup(r, segs[i], lens[i]);
		}
		r->nparams++;
	}
}

static void dispatch(em_conn *c)
{
	em_req *r = c->req;
	em_server *s = c->srv;
	s->stats.requests_total++;
	c->requests++;
	if (s->cfg->keepalive_max && c->requests >= s->cfg->keepalive_max)
		r->keep_alive = 0;
	const char *segs[MAX_SEGMENTS + 1];
	size_t lens[MAX_SEGMENTS + 1];
	int nseg = 0;
	const char *p = r->path;
	while (*p == '/')
		p++;
	while (*p && nseg <= MAX_SEGMENTS) {
		size_t n = strcspn(p, "/");
		segs[nseg] = p;
		lens[nseg++] = n;
		p += n;
		while (*p == '/')
			p++;
	}
	int want = r->method == EM_HEAD ? EM_GET : r->method;
	const route *best = NULL;
	int best_score = -1, path_matched = 0;
	for (int i = 0; i < s->nroutes; i++) {
		int score;
		if (!match_route(&s->routes[i], r, segs, lens, nseg, &score))
			continue;
		path_matched = 1;
		if (s->routes[i].method == want && score > best_score) {
			best = &s->routes[i];
			best_score = score;
		}
	}
	if (best) {
		bind_params(best, r, segs, lens, nseg);
		best->handler(r);
	} else if (path_matched && r->method != EM_OPTIONS) {
		em_resp_error(r, 405, "method_not_allowed", "method not allowed on this resource", NULL);
	} else {
		s->fallback(r);
	}
}

static void answer_error_and_close(em_conn *c, int status, const char *code, const char *message)
{
	em_req *r = c->req;
	if (r->responded || c->closing)
		return;
	if (!c->req_active) {
		req_reset(r);
		r->conn = c;
		r->srv = c->srv;
		r->start_us = em_mono_us();
	}
	r->keep_alive = 0;
	c->req_active = 1;
	c->req_pending = 1;
	em_resp_error(r, status, code, message, NULL);
}

/* Feeds buffered input to the parser and dispatches complete requests, one
** at a time. */
static void conn_process(em_conn *c)
{
	if (c->in_process)
		return;
	c->in_process = 1;
	while (!c->closing && c->state == CONN_HTTP && !c->req_pending && c->in.len > 0) {
		llhttp_errno_t e = llhttp_execute(&c->parser, c->in.data, c->in.len);
		size_t used = c->in.len;
		if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			used = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data);
			em_buf_consume(&c->in, used);
			if (e == HPE_PAUSED)
				llhttp_resume(&c->parser);
			else
				llhttp_resume_after_upgrade(&c->parser);
			dispatch(c);
			continue;
		}
		if (e != HPE_OK) {
			int st = c->parse_error ? c->parse_error : 400;
			const char *code = st == 413   ? "too_large"
					   : st == 431 ? "headers_too_large"
					   : st == 414 ? "uri_too_long"
						       : "bad_request";
			char msg[160];
			if (st == 400)
				snprintf(msg, sizeof msg, "malformed request: %s",
					 llhttp_get_error_reason(&c->parser));
			else
				snprintf(msg, sizeof msg, "%s exceeds the configured limit",
					 st == 413   ? "request body"
					 : st == 414 ? "request target"
						     : "request headers");
			em_buf_reset(&c->in);
			answer_error_and_close(c, st, code, msg);
			break;
		}
		em_buf_consume(&c->in, used);
	}
	c->in_process = 0;
	conn_read_control(c);
}

/* Called once the response of the current request is queued. */
static void conn_after_response(em_conn *c)
{
	em_req *r = c->req;
	em_server *s = c->srv;
	if (s->cfg->access_log) {
		char qp[512];
		em_info("request", "method=%s path=%s status=%d bytes=%zu dur_us=%llu ip=%s",
			r->method_name ? r->method_name : "-", em_log_quote(r->path, qp, sizeof qp),
			r->status, r->resp_bytes, (unsigned long long)(em_mono_us() - r->start_us),
			c->peer_ip);
	}
	c->req_pending = 0;
	c->req_active = 0;
	if (c->closing) {
		/* The client left while the handler worked; finish freeing now. */
		if (c->handles_open == 0)
			conn_free(c);
		return;
	}
	if (c->state == CONN_WS) {
		/* The request's memory (headers, arena) is not needed by a
		** WebSocket: an idle socket keeps only what it uses. */
		req_free(c);
		em_buf_free(&c->field);
		em_buf_free(&c->value);
		if (c->in.len) {
			/* Frames that arrived right behind the upgrade request. */
			em__ws_on_data(c->ws, c->in.data, c->in.len);
			em_buf_reset(&c->in);
		}
		em_buf_free(&c->in);
		conn_read_control(c);
		return;
	}
	if (!r->keep_alive || s->shutting_down || r->upgrade) {
		c->close_after_write = 1;
		if (c->out_bytes == 0)
			em__conn_close(c);
		return;
	}
	req_reset(r);
	conn_start_timer(c, s->cfg->idle_timeout_ms);
	if (c->in.len)
		conn_process(c);
	else
		conn_read_control(c);
}

/* ---- Request accessors ---------------------------------------------- */

void *em_req_app(em_req *r)
{
	return r->srv ? r->srv->app : NULL;
}
int em_req_method(em_req *r)
{
	return r->method;
}
const char *em_req_method_name(em_req *r)
{
	return r->method_name;
}
const char *em_req_path(em_req *r)
{
	return r->path;
}
const char *em_req_query(em_req *r)
{
	return r->query;
}
const char *em_req_target(em_req *r)
{
	return r->target;
}
const char *em_req_body(em_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data ? r->body.data : "";
}
void em_req_set_user(em_req *r, void *user)
{
	r->user = user;
}
void *em_req_user(em_req *r)
{
	return r->user;
}
int em_req_gone(em_req *r)
{
	return r->conn->closing;
}

const char *em_req_header(em_req *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

const char *em_req_param(em_req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (!strcmp(r->params[i].name, name))
			return r->params[i].value;
	return NULL;
}

const char *em_req_query_param(em_req *r, const char *name)
{
	size_t nl = strlen(name);
	const char *p = r->query;
	while (*p) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t kl = eq ? (size_t)(eq - p) : n;
		if (kl == nl && !memcmp(p, name, nl)) {
			if (!eq)
				return "";
			return pct_decode(r, eq + 1, n - kl - 1, 1);
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return NULL;
}

const char *em_req_cookie(em_req *r, const char *name)
{
	size_t nl = strlen(name);
	for (int i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Cookie"))
			continue;
		const char *p = r->headers[i].value;
		while (*p) {
			while (*p == ' ' || *p == ';')
				p++;
			size_t n = strcspn(p, ";");
			if (n > nl && p[nl] == '=' && !memcmp(p, name, nl))
				return req_strndup(r, p + nl + 1, n - nl - 1);
			p += n;
		}
	}
	return NULL;
}

static int peer_is_proxy(em_server *s, const char *ip)
{
	for (int i = 0; i < s->nproxies; i++)
		if (!strcmp(s->proxies[i], ip))
			return 1;
	return 0;
}

const char *em_req_client_ip(em_req *r)
{
	if (r->client_ip)
		return r->client_ip;
	em_server *s = r->srv;
	r->client_ip = r->conn->peer_ip;
	const char *xff = em_req_header(r, "X-Forwarded-For");
	if (!xff || !peer_is_proxy(s, r->conn->peer_ip))
		return r->client_ip;
	/* Walk from the right: the first hop not itself a trusted proxy is the
	** client as far as our own proxies can vouch. */
	char *copy = em_req_strdup(r, xff);
	char *end = copy + strlen(copy);
	while (end > copy) {
		char *comma = end;
		while (comma > copy && comma[-1] != ',')
			comma--;
		char *a = comma;
		while (*a == ' ')
			a++;
		char *z = end;
		while (z > a && z[-1] == ' ')
			z--;
		*z = '\0';
		if (*a && !peer_is_proxy(s, a)) {
			r->client_ip = a;
			return a;
		}
		end = comma > copy ? comma - 1 : copy;
	}
	return r->client_ip;
}

int em_req_is_https(em_req *r)
{
	const char *proto = em_req_header(r, "X-Forwarded-Proto");
	return proto && !strcasecmp(proto, "https") && peer_is_proxy(r->srv, r->conn->peer_ip);
}

json_t *em_req_json(em_req *r)
{
	const char *ct = em_req_header(r, "Content-Type");
	if (ct && strncasecmp(ct, "application/json", 16) && strncasecmp(ct, "text/plain", 10)) {
		em_resp_error(r, 415, "unsupported_media_type", "expected Content-Type: application/json",
			      NULL);
		return NULL;
	}
	char msg[256];
	size_t len;
	const char *body = em_req_body(r, &len);
	if (len == 0) {
		em_resp_error(r, 400, "invalid_json", "request body is empty; expected a JSON object", NULL);
		return NULL;
	}
	json_t *v = em_json_parse(body, len, msg, sizeof msg);
	if (!v) {
		em_resp_error(r, 400, "invalid_json", msg, NULL);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		em_resp_error(r, 400, "invalid_json", "expected a JSON object", NULL);
		return NULL;
	}
	return v;
}

/* ---- Responses ------------------------------------------------------ */

static const char *reason(int st)
{
	switch (st) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

static const char *http_date(void)
{
	static char buf[40];
	static time_t last;
	time_t now = time(NULL);
	if (now != last) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return buf;
}

void em_resp_header(em_req *r, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	em_buf *h = &r->resp_headers;
	if (em_buf_append(h, name, nl) || em_buf_append(h, ": ", 2) || em_buf_append(h, value, vl) ||
	    em_buf_append(h, "\r\n", 2))
		em_warn("response headers too large", "header=%s", name);
}

/* Appends a decimal number to p; returns the end. */
static char *put_uint(char *p, size_t v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put_str(p, lit, sizeof lit - 1)

/* Sends status line, headers and body. body is copied unless owned. The
** response is composed in one loop-owned buffer and handed to the socket
** with one write; only what the socket does not take at once is copied. */
static void send_response(em_req *r, int status, const char *ctype, const void *body, size_t len, int owned)
{
	static char *sbuf;
	static size_t scap;
	em_conn *c = r->conn;
	if (r->responded) {
		em_error("second response to one request", "path=%s status=%d", r->path, status);
		if (owned)
			em_free((void *)body);
		return;
	}
	r->responded = 1;
	r->status = status;
	if (status >= 100 && status < 600) {
		c->srv->status_counts[status]++;
		c->srv->stats.by_status[status / 100]++;
	}
	if (c->closing) {
		if (owned)
			em_free((void *)body);
		conn_after_response(c);
		return;
	}
	int head = r->method == EM_HEAD;
	int keep = r->keep_alive && !c->srv->shutting_down && status != 101;
	r->keep_alive = keep || status == 101;
	int has_body = !head && len && status != 204 && status != 304;
	const char *why = reason(status), *date = http_date();
	size_t ctl = ctype ? strlen(ctype) : 0;
	/* Status line, fixed headers and numbers: 200 bytes bound them. */
	size_t need = 200 + strlen(why) + strlen(date) + ctl + r->resp_headers.len + (has_body ? len : 0);
	if (need > scap) {
		em_free(sbuf);
		scap = need > 16384 ? need : 16384;
		sbuf = em_malloc(scap);
	}
	char *p = sbuf;
	p = PUT_LIT(p, "HTTP/1.1 ");
	p = put_uint(p, (size_t)(status >= 100 && status < 1000 ? status : 500));
	*p++ = ' ';
	p = put_str(p, why, strlen(why));
	p = PUT_LIT(p, "\r\nServer: emma\r\nDate: ");
	p = put_str(p, date, strlen(date));
	p = PUT_LIT(p, "\r\n");
	if (status != 101 && status != 204 && status != 304) {
		if (ctype) {
			p = PUT_LIT(p, "Content-Type: ");
			p = put_str(p, ctype, ctl);
			p = PUT_LIT(p, "\r\n");
		}
		p = PUT_LIT(p, "Content-Length: ");
		p = put_uint(p, len);
		p = PUT_LIT(p, "\r\n");
	}
	if (status != 101 && !keep)
		p = PUT_LIT(p, "Connection: close\r\n");
	if (r->resp_headers.len)
		p = put_str(p, r->resp_headers.data, r->resp_headers.len);
	p = PUT_LIT(p, "\r\n");
	if (has_body)
		p = put_str(p, body, len);
	if (owned)
		em_free((void *)body);
	r->resp_bytes = (size_t)(p - sbuf);
	em__conn_write(c, sbuf, r->resp_bytes, 0);
	/* A large one-off buffer is not kept. */
	if (scap > 262144) {
		em_free(sbuf);
		sbuf = NULL;
		scap = 0;
	}
	conn_after_response(c);
}

void em_resp_send(em_req *r, int status, const char *ctype, const void *body, size_t len)
{
	send_response(r, status, ctype, body, len, 0);
}

void em_resp_json(em_req *r, int status, json_t *obj)
{
	size_t len;
	char *s = em_json_dump(obj, &len);
	json_decref(obj);
	send_response(r, status, "application/json", s, len, 1);
}

void em_resp_error(em_req *r, int status, const char *code, const char *message, const char *field)
{
	if (status == 429 || status == 503) {
		int have = 0;
		if (r->resp_headers.data && strcasestr(r->resp_headers.data, "Retry-After:"))
			have = 1;
		if (!have)
			em_resp_header(r, "Retry-After", "1");
	}
	em_resp_json(r, status, em_json_error(code, message, field));
}

void em_resp_empty(em_req *r, int status)
{
	send_response(r, status, NULL, NULL, 0, 0);
}

static int accepts_gzip(em_req *r)
{
	const char *ae = em_req_header(r, "Accept-Encoding");
	return ae && strstr(ae, "gzip") != NULL;
}

void em_resp_asset(em_req *r, const struct em_embedded *e, const char *cache_control)
{
	em_resp_header(r, "ETag", e->etag);
	em_resp_header(r, "Cache-Control", cache_control ? cache_control : "no-cache");
	em_resp_header(r, "X-Content-Type-Options", "nosniff");
	if (e->gz)
		em_resp_header(r, "Vary", "Accept-Encoding");
	const char *inm = em_req_header(r, "If-None-Match");
	if (inm && strstr(inm, e->etag)) {
		send_response(r, 304, NULL, NULL, 0, 0);
		return;
	}
	if (e->gz && accepts_gzip(r)) {
		em_resp_header(r, "Content-Encoding", "gzip");
		send_response(r, 200, e->content_type, e->gz, e->gzlen, 0);
		return;
	}
	send_response(r, 200, e->content_type, e->data, e->len, 0);
}

/* ---- Fuzzing -------------------------------------------------------- */

/* Runs the same parser callbacks on a detached connection, without sockets:
** every pipelined request in data is parsed; handlers are not called. */
int em_http_fuzz_parse(const unsigned char *data, size_t len)
{
	static em_config cfg;
	static em_server srv;
	static int init;
	if (!init) {
		em_config_defaults(&cfg);
		cfg.header_max = 8192;
		cfg.body_max = 65536;
		srv.cfg = &cfg;
		init_parser_settings();
		init = 1;
	}
	em_conn *c = em_calloc(1, sizeof *c);
	c->srv = &srv;
	c->closing = 1; /* no timers or sockets behind this connection */
	c->req = em_calloc(1, sizeof *c->req);
	em_buf_init(&c->field, cfg.header_max);
	em_buf_init(&c->value, cfg.header_max);
	em_buf_init(&c->req->body, cfg.body_max);
	em_buf_init(&c->req->resp_headers, RESP_HEADERS_MAX);
	llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
	c->parser.data = c;
	const char *p = (const char *)data;
	size_t left = len;
	int requests = 0;
	while (left > 0) {
		llhttp_errno_t e = llhttp_execute(&c->parser, p, left);
		if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - p);
			p += used;
			left -= used;
			requests++;
			/* Exercise the accessors a handler would use. */
			em_req *r = c->req;
			(void)em_req_header(r, "Host");
			(void)em_req_cookie(r, "emma_session");
			(void)em_req_query_param(r, "q");
			c->req_pending = 0;
			if (e == HPE_PAUSED_UPGRADE)
				break;
			llhttp_resume(&c->parser);
			continue;
		}
		break;
	}
	req_free(c);
	em_buf_free(&c->field);
	em_buf_free(&c->value);
	em_free(c);
	return requests;
}
