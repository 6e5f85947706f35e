/*
** Live chat state and routing (see chat.h and docs/chat.md).
**
** Everything here runs on the loop thread. Three kinds of objects:
**   vchat  one per visitor (site + vid) with chat sockets or a conversation;
**   conv   one per conversation that is not closed;
**   opst   one per operator, with their console sockets and status.
** A csock is one WebSocket; writes in flight hold a reference, so a socket
** that closes while its message is being stored is freed only afterwards.
**
** State changes happen here first (so two operators racing for one chat see
** the first one win at once), are written through the store's group commit,
** and are announced only from the write's done callback, after COMMIT.
*/
#include "chat/chat.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "chat/convstore.h"
#include "chat/transcript.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/mail.h"
#include "crm/webhooks.h"
#include "net/loop.h"
#include "net/ws.h"
#include "track/sites.h"

#define VBUCKETS 65536
#define CBUCKETS 4096
#define HELD_MAX 2000
#define RESUME_MAX 2000
#define NAME_MAX_LEN 127
#define EMAIL_MAX_LEN 254
#define COMMENT_MAX 2000
#define DEPTS_MAX 32

typedef struct vchat vchat;
typedef struct conv conv;
typedef struct opst opst;
typedef struct csock csock;

struct csock {
	em_ws *ws; /* NULL once the socket closed */
	int refs;
	int is_operator;
	vchat *vc;	   /* visitor sockets */
	opst *op;	   /* operator sockets */
	int64_t live_from; /* visitor: seqs above this were delivered live */
	int64_t sent_seq;  /* visitor: highest seq delivered */
	int resuming;
	json_t *held; /* live messages that arrived during a resume */
	csock *prev, *next;
};

struct vchat {
	int64_t site_id;
	char vid[64];
	uint64_t hash;
	vchat *hnext;
	csock *socks;
	int nsocks;
	conv *conv; /* the visitor's chat that is not closed */
	int64_t last_operator_id;
	int64_t last_chat_at;
	int64_t gone_at; /* when the last socket closed (0 while connected) */
	int last_loaded;
	char lang[8];
	char last_closed[32];
	double tokens;
	int64_t tokens_at;
};

struct conv {
	char pid[32];
	uint64_t hash;
	conv *hnext;
	conv *prev, *next; /* creation order */
	int64_t site_id;
	char vid[64];
	int64_t operator_id, department_id, invitation_id;
	int status, channel;
	char *name, *email, *page_url;
	char lang[8];
	int64_t last_seq;
	int64_t created_at, accepted_at;
	int stored;
};

struct opst {
	int64_t id;
	char public_id[32];
	char name[128];
	int is_admin, disabled, max_chats;
	int64_t depts[DEPTS_MAX];
	int ndepts;
	int sockets;
	int away;
	int64_t grace_until;
	int chats; /* open conversations assigned */
	int64_t last_assigned;
	int last_status; /* as last announced */
	csock *socks;
	opst *next;
};

typedef struct dept {
	int64_t id, site_id;
	char public_id[32];
	char name[128];
} dept;

typedef struct settings {
	int64_t site_id;
	char name[12], email[12], consent[12];
	char *greeting, *color;
} settings;

static em_app *app;
static vchat **vbuckets;
static conv **cbuckets;
static conv *conv_head, *conv_tail;
static int nconvs, npending, nvsocks;
static opst *ops;
static dept *depts;
static int ndepts;
static settings *sets;
static int nsets;
static em_timer *sweeper;
static int last_available = -1;
static em_chat_invite_hooks hooks;
static int routing_broadcast;

static int op_status(const opst *o);
static void dispatch(void);
static void announce_availability(void);

/* ---- Small helpers ----------------------------------------------------- */

static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void send_obj(em_ws *ws, const json_t *obj)
{
	if (!ws)
		return;
	size_t len;
	char *s = em_json_dump(obj, &len);
	em_ws_send_text(ws, s, len);
	em_free(s);
}

static void send_new(csock *cs, json_t *obj)
{
	if (cs && cs->ws)
		send_obj(cs->ws, obj);
	json_decref(obj);
}

static void send_error(csock *cs, const char *code, const char *message, const char *field,
		       const char *client_id)
{
	json_t *e = em_json_error(code, message, field);
	json_object_set_new(e, "type", json_string("error"));
	if (client_id)
		json_object_set_new(e, "client_id", json_string(client_id));
	send_new(cs, e);
}

static void csock_unref(csock *cs)
{
	if (--cs->refs > 0)
		return;
	json_decref(cs->held);
	em_free(cs);
}

/* A visitor's or an operator's list of open sockets. */
static void sock_link(csock **head, csock *cs)
{
	cs->next = *head;
	if (*head)
		(*head)->prev = cs;
	*head = cs;
}

static void sock_unlink(csock **head, csock *cs)
{
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		*head = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
}

/* Valid UTF-8 text of 1..max characters that is not only white space. */
static int text_ok(const char *s, size_t max_chars, size_t max_bytes)
{
	size_t chars = 0, bytes = strlen(s);
	int visible = 0;
	if (!bytes || bytes > max_bytes)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xC0) != 0x80)
			chars++;
		if (*p > ' ')
			visible = 1;
	}
	/* Strings come from jansson, which accepts only valid UTF-8. */
	return visible && chars <= max_chars;
}

static int email_ok(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (!n || n > EMAIL_MAX_LEN || !at || at == s || !at[1] || strchr(at + 1, '@'))
		return 0;
	if (!strchr(at + 1, '.'))
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"')
			return 0;
	return 1;
}

static int client_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > EM_CHAT_CLIENT_ID_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s > '~')
			return 0;
	return 1;
}

/* ---- Tables ------------------------------------------------------------ */

static uint64_t vhash(int64_t site_id, const char *vid)
{
	return fnv(vid, 14695981039346656037ull ^ (uint64_t)site_id);
}

static vchat *vchat_find(int64_t site_id, const char *vid)
{
	if (!vbuckets)
		return NULL;
	uint64_t h = vhash(site_id, vid);
	for (vchat *v = vbuckets[h & (VBUCKETS - 1)]; v; v = v->hnext)
		if (v->hash == h && v->site_id == site_id && !strcmp(v->vid, vid))
			return v;
	return NULL;
}

static vchat *vchat_get(int64_t site_id, const char *vid)
{
	vchat *v = vchat_find(site_id, vid);
	if (v)
		return v;
	v = em_calloc(1, sizeof *v);
	v->site_id = site_id;
	copy(v->vid, sizeof v->vid, vid);
	v->hash = vhash(site_id, vid);
	v->tokens = app->cfg.chat_visitor_msgs_per_min;
	v->tokens_at = em_now_ms();
	v->hnext = vbuckets[v->hash & (VBUCKETS - 1)];
	vbuckets[v->hash & (VBUCKETS - 1)] = v;
	return v;
}

static int64_t midnight(void)
{
	return em_now_ms() / 86400000 * 86400000;
}

/* Frees a visitor entry nobody needs any more. */
static void vchat_maybe_free(vchat *v)
{
	if (v->socks || v->conv || v->last_chat_at >= midnight())
		return;
	vchat **pp = &vbuckets[v->hash & (VBUCKETS - 1)];
	while (*pp && *pp != v)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = v->hnext;
	em_free(v);
}

static conv *conv_find(const char *pid)
{
	if (!cbuckets || !pid)
		return NULL;
	uint64_t h = fnv(pid, 14695981039346656037ull);
	for (conv *c = cbuckets[h & (CBUCKETS - 1)]; c; c = c->hnext)
		if (c->hash == h && !strcmp(c->pid, pid))
			return c;
	return NULL;
}

static void conv_link(conv *c)
{
	c->hash = fnv(c->pid, 14695981039346656037ull);
	c->hnext = cbuckets[c->hash & (CBUCKETS - 1)];
	cbuckets[c->hash & (CBUCKETS - 1)] = c;
	c->prev = conv_tail;
	if (conv_tail)
		conv_tail->next = c;
	else
		conv_head = c;
	conv_tail = c;
	nconvs++;
	if (c->status == EM_CONV_PENDING && c->channel == EM_CHAN_CHAT)
		npending++;
}

static void conv_free(conv *c)
{
	em_free(c->name);
	em_free(c->email);
	em_free(c->page_url);
	em_free(c);
}

static void conv_unlink(conv *c)
{
	conv **pp = &cbuckets[c->hash & (CBUCKETS - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	if (c->prev)
		c->prev->next = c->next;
	else
		conv_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		conv_tail = c->prev;
	nconvs--;
	if (c->status == EM_CONV_PENDING && c->channel == EM_CHAN_CHAT)
		npending--;
}

static opst *op_find(int64_t id)
{
	for (opst *o = ops; o; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

static opst *op_find_public(const char *pid)
{
	for (opst *o = ops; o; o = o->next)
		if (!strcmp(o->public_id, pid))
			return o;
	return NULL;
}

static const dept *dept_find_public(const char *pid)
{
	for (int i = 0; i < ndepts; i++)
		if (!strcmp(depts[i].public_id, pid))
			return &depts[i];
	return NULL;
}

static const dept *dept_find(int64_t id)
{
	for (int i = 0; i < ndepts; i++)
		if (depts[i].id == id)
			return &depts[i];
	return NULL;
}

static const settings *settings_for(int64_t site_id)
{
	for (int i = 0; i < nsets; i++)
		if (sets[i].site_id == site_id)
			return &sets[i];
	return NULL;
}

/* ---- Operators --------------------------------------------------------- */

enum { ST_OFFLINE = 0, ST_ONLINE = 1, ST_AWAY = 2 };
static const char *status_names[] = {"offline", "online", "away"};

static int op_online(const opst *o)
{
	return !o->disabled && (o->sockets > 0 || em_now_ms() < o->grace_until);
}

static int op_status(const opst *o)
{
	return !op_online(o) ? ST_OFFLINE : o->away ? ST_AWAY : ST_ONLINE;
}

static int op_in_dept(const opst *o, int64_t dept_id)
{
	if (!dept_id)
		return 1;
	for (int i = 0; i < o->ndepts; i++)
		if (o->depts[i] == dept_id)
			return 1;
	return 0;
}

/* Takes chats now: online, not away, in the department. */
static int op_eligible(const opst *o, int64_t dept_id)
{
	return op_status(o) == ST_ONLINE && op_in_dept(o, dept_id);
}

static int op_free(const opst *o)
{
	return o->max_chats - o->chats;
}

static json_t *op_json(const opst *o)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:i}", "id", o->public_id, "name", o->name, "status",
			 status_names[op_status(o)], "chats", o->chats, "max_chats", o->max_chats);
}

static json_t *op_public(const opst *o)
{
	if (!o)
		return json_null();
	const char *name = o->name[0] ? o->name : "";
	return json_pack("{s:s, s:n}", "name", name, "avatar");
}

json_t *em_chat_operator_public(int64_t operator_id)
{
	return op_public(op_find(operator_id));
}

static void op_send(opst *o, const char *text, size_t len)
{
	for (csock *cs = o->socks, *next; cs; cs = next) {
		next = cs->next; /* sending may close a slow socket */
		if (cs->ws)
			em_ws_send_text(cs->ws, text, len);
	}
}

/* May this operator see the conversation's messages? */
static int op_sees(const opst *o, const conv *c)
{
	if (o->is_admin)
		return 1;
	if (c->operator_id)
		return c->operator_id == o->id;
	return op_in_dept(o, c->department_id);
}

static void ops_send_conv_event(const conv *c, const json_t *obj)
{
	size_t len;
	char *text = em_json_dump(obj, &len);
	for (opst *o = ops; o; o = o->next)
		if (o->socks && op_sees(o, c))
			op_send(o, text, len);
	em_free(text);
}

static void ops_broadcast(const json_t *obj)
{
	size_t len;
	char *text = em_json_dump(obj, &len);
	for (opst *o = ops; o; o = o->next)
		if (o->socks)
			op_send(o, text, len);
	em_free(text);
}

static void announce_op(opst *o)
{
	int st = op_status(o);
	o->last_status = st;
	json_t *ev = json_pack("{s:s, s:o}", "type", "operator_status", "operator", op_json(o));
	ops_broadcast(ev);
	json_decref(ev);
}

/* ---- Conversation JSON ------------------------------------------------- */

static json_t *conv_json(const conv *c)
{
	const opst *o = c->operator_id ? op_find(c->operator_id) : NULL;
	const dept *d = c->department_id ? dept_find(c->department_id) : NULL;
	const em_site *site = em_sites_by_id(c->site_id);
	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(c->pid));
	json_object_set_new(j, "site", json_string(site ? site->key : ""));
	json_object_set_new(j, "vid", json_string(c->vid));
	json_object_set_new(j, "status", json_string(em_conv_status_name(c->status)));
	json_object_set_new(j, "channel", json_string(em_conv_channel_name(c->channel)));
	json_object_set_new(j, "operator",
			    o ? json_pack("{s:s, s:s}", "id", o->public_id, "name", o->name) : json_null());
	json_object_set_new(j, "department", d ? json_string(d->public_id) : json_null());
	json_object_set_new(j, "name", json_string(c->name ? c->name : ""));
	json_object_set_new(j, "email", json_string(c->email ? c->email : ""));
	json_object_set_new(j, "page_url", json_string(c->page_url ? c->page_url : ""));
	json_object_set_new(j, "lang", json_string(c->lang));
	json_object_set_new(j, "last_seq", json_integer(c->last_seq));
	json_object_set_new(j, "created", em_json_time(c->created_at));
	json_object_set_new(j, "accepted", em_json_time(c->accepted_at));
	json_object_set_new(j, "closed", json_null());
	return j;
}

/* The visitor's view of a conversation. */
static json_t *conv_public(const conv *c)
{
	if (!c)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:o, s:I}", "id", c->pid, "status", em_conv_status_name(c->status),
			 "channel", em_conv_channel_name(c->channel), "operator",
			 c->operator_id ? op_public(op_find(c->operator_id)) : json_null(), "last_seq",
			 (json_int_t)c->last_seq);
}

static json_t *conv_event(const conv *c, const char *closed_outcome)
{
	json_t *cj = conv_json(c);
	if (closed_outcome) {
		json_object_set_new(cj, "status", json_string("closed"));
		json_object_set_new(cj, "outcome", json_string(closed_outcome));
		json_object_set_new(cj, "closed", em_json_time(em_now_ms()));
	}
	return json_pack("{s:s, s:o}", "type", "conversation", "conversation", cj);
}

static void announce_conv(const conv *c, const char *closed_outcome)
{
	json_t *ev = conv_event(c, closed_outcome);
	/* Everyone: the queue view must drop a chat another operator took. */
	ops_broadcast(ev);
	json_decref(ev);
}

static void visitor_send(vchat *v, const json_t *obj)
{
	if (!v)
		return;
	size_t len;
	char *text = em_json_dump(obj, &len);
	for (csock *cs = v->socks, *next; cs; cs = next) {
		next = cs->next;
		if (cs->ws)
			em_ws_send_text(cs->ws, text, len);
	}
	em_free(text);
}

int em_chat_send_to_visitor(int64_t site_id, const char *vid, const json_t *obj)
{
	vchat *v = vchat_find(site_id, vid);
	if (!v)
		return 0;
	visitor_send(v, obj);
	return v->nsocks;
}

static void tell_visitor_conv(const conv *c)
{
	vchat *v = vchat_find(c->site_id, c->vid);
	if (!v)
		return;
	json_t *ev = json_pack("{s:s, s:o}", "type", "conversation", "conversation", conv_public(c));
	visitor_send(v, ev);
	json_decref(ev);
	if (c->operator_id && c->status == EM_CONV_OPEN) {
		ev = json_pack("{s:s, s:s, s:o}", "type", "operator_joined", "conversation", c->pid,
			       "operator", op_public(op_find(c->operator_id)));
		visitor_send(v, ev);
		json_decref(ev);
	}
}

/* ---- Writes ------------------------------------------------------------ */

/* Queues the conversation's current state; done receives the change and
** frees it (also when the queue refuses). */
static void write_change(conv *c, const char *outcome, int64_t closed_at, em_done_fn done)
{
	em_conv_change *ch = em_calloc(1, sizeof *ch);
	copy(ch->public_id, sizeof ch->public_id, c->pid);
	ch->status = closed_at ? EM_CONV_CLOSED : c->status;
	ch->operator_id = c->operator_id;
	ch->department_id = c->department_id;
	ch->accepted_at = c->accepted_at;
	ch->closed_at = closed_at;
	ch->now = em_now_ms();
	copy(ch->outcome, sizeof ch->outcome, outcome);
	if (em_store_write(app->store, em_convstore_change, done, ch))
		done(EM_EAGAIN, ch);
}

/* Done of a change whose caller waits for nothing. */
static void change_done_free(int status, void *arg)
{
	em_conv_change *ch = arg;
	if (status)
		em_warn("chat state not stored", "conversation=%s status=%s", ch->public_id,
			em_strerror(status));
	else if (ch->status == EM_CONV_CLOSED)
		em_webhooks_kick();
	em_free(ch);
}

/* ---- Routing ----------------------------------------------------------- */

static opst *pick_operator(const conv *c, int64_t preferred)
{
	opst *p = preferred ? op_find(preferred) : NULL;
	if (p && op_eligible(p, c->department_id) && op_free(p) > 0)
		return p;
	opst *best = NULL;
	for (opst *o = ops; o; o = o->next) {
		if (!op_eligible(o, c->department_id) || op_free(o) <= 0)
			continue;
		if (!best || op_free(o) > op_free(best) ||
		    (op_free(o) == op_free(best) && o->last_assigned < best->last_assigned))
			best = o;
	}
	return best;
}

static void assign(conv *c, opst *o)
{
	if (c->status == EM_CONV_PENDING && c->channel == EM_CHAN_CHAT)
		npending--;
	c->status = EM_CONV_OPEN;
	c->operator_id = o->id;
	c->accepted_at = em_now_ms();
	o->chats++;
	o->last_assigned = c->accepted_at;
	vchat *v = vchat_find(c->site_id, c->vid);
	if (v)
		v->last_operator_id = o->id;
}

static void assigned_done(int status, void *arg)
{
	em_conv_change *ch = arg;
	conv *c = conv_find(ch->public_id);
	if (!status && c) {
		announce_conv(c, NULL);
		tell_visitor_conv(c);
		opst *o = op_find(c->operator_id);
		if (o)
			announce_op(o);
	}
	change_done_free(status, arg);
}

/* Gives pending chats to free operators (auto routing), oldest first. */
static void dispatch(void)
{
	if (routing_broadcast)
		return;
	for (conv *c = conv_head; c; c = c->next) {
		if (c->status != EM_CONV_PENDING || c->channel != EM_CHAN_CHAT || !c->stored)
			continue;
		vchat *v = vchat_find(c->site_id, c->vid);
		opst *o = pick_operator(c, v ? v->last_operator_id : 0);
		if (!o)
			continue;
		assign(c, o);
		write_change(c, "", 0, assigned_done);
	}
}

/* A chat can start now: someone online and the queue not full. */
static int widget_available(int64_t site_id, int64_t dept_id)
{
	(void)site_id;
	int online = 0, free_slot = 0;
	for (opst *o = ops; o; o = o->next) {
		if (!op_eligible(o, dept_id))
			continue;
		online = 1;
		free_slot |= op_free(o) > 0;
	}
	return online && (free_slot || npending < app->cfg.chat_queue_max);
}

int em_chat_available(int64_t site_id, int64_t department_id)
{
	(void)site_id;
	if (npending > app->cfg.chat_queue_max)
		return 0;
	for (opst *o = ops; o; o = o->next)
		if (op_eligible(o, department_id) && op_free(o) > 0)
			return 1;
	return 0;
}

int em_chat_visitor_in_chat(int64_t site_id, const char *vid)
{
	vchat *v = vchat_find(site_id, vid);
	return v && v->conv;
}

int em_chat_visitor_chatted_today(int64_t site_id, const char *vid)
{
	vchat *v = vchat_find(site_id, vid);
	return v && v->last_chat_at >= midnight();
}

static void announce_availability(void)
{
	int now = widget_available(0, 0);
	if (now == last_available)
		return;
	last_available = now;
	json_t *ev = json_pack("{s:s, s:b}", "type", "available", "available", now);
	size_t len;
	char *text = em_json_dump(ev, &len);
	json_decref(ev);
	for (size_t i = 0; vbuckets && i < VBUCKETS; i++)
		for (vchat *v = vbuckets[i]; v; v = v->hnext)
			for (csock *cs = v->socks, *next; cs; cs = next) {
				next = cs->next;
				if (cs->ws)
					em_ws_send_text(cs->ws, text, len);
			}
	em_free(text);
}

/* ---- Creating conversations -------------------------------------------- */

typedef struct create_ctx {
	em_conv_new row;
} create_ctx;

static void created_done(int status, void *arg)
{
	create_ctx *cc = arg;
	conv *c = conv_find(cc->row.public_id);
	if (c) {
		if (status) {
			em_warn("conversation not stored", "conversation=%s status=%s", c->pid,
				em_strerror(status));
			vchat *v = vchat_find(c->site_id, c->vid);
			if (v && v->conv == c)
				v->conv = NULL;
			opst *o = c->operator_id ? op_find(c->operator_id) : NULL;
			if (o && c->status == EM_CONV_OPEN)
				o->chats--;
			conv_unlink(c);
			conv_free(c);
		} else {
			c->stored = 1;
			em_webhooks_kick();
			announce_conv(c, NULL);
			if (c->channel == EM_CHAN_CHAT)
				tell_visitor_conv(c);
			if (c->operator_id) {
				opst *o = op_find(c->operator_id);
				if (o)
					announce_op(o);
			}
			dispatch();
		}
	}
	em_free(cc->row.name);
	em_free(cc->row.email);
	em_free(cc->row.page_url);
	em_free(cc);
}

typedef struct start_opts {
	const char *name, *email, *page_url, *lang;
	int consent;
	int channel;
	int64_t department_id, invitation_id, preferred_op;
} start_opts;

/* Creates a conversation in memory and queues its row. NULL when the store
** refuses (queue full). */
static conv *conv_start(vchat *v, const start_opts *so)
{
	conv *c = em_calloc(1, sizeof *c);
	c->pid[0] = 'c';
	em_id_random(c->pid + 1, sizeof c->pid - 1, 10);
	c->site_id = v->site_id;
	copy(c->vid, sizeof c->vid, v->vid);
	c->channel = so->channel;
	c->status = EM_CONV_PENDING;
	c->department_id = so->department_id;
	c->invitation_id = so->invitation_id;
	c->name = em_strdup(so->name ? so->name : "");
	c->email = em_strdup(so->email ? so->email : "");
	c->page_url = em_strdup(so->page_url ? so->page_url : "");
	copy(c->lang, sizeof c->lang, so->lang ? so->lang : v->lang);
	c->created_at = em_now_ms();
	conv_link(c);
	if (c->channel == EM_CHAN_CHAT) {
		opst *o = NULL;
		if (so->preferred_op)
			o = pick_operator(c, so->preferred_op);
		if (o && o->id != so->preferred_op && routing_broadcast)
			o = NULL;
		if (!o && !routing_broadcast)
			o = pick_operator(c, v->last_operator_id);
		if (o)
			assign(c, o);
		v->conv = c;
		v->last_chat_at = c->created_at;
	}
	create_ctx *cc = em_calloc(1, sizeof *cc);
	em_conv_new *r = &cc->row;
	copy(r->public_id, sizeof r->public_id, c->pid);
	r->site_id = c->site_id;
	copy(r->vid, sizeof r->vid, c->vid);
	r->operator_id = c->operator_id;
	r->department_id = c->department_id;
	r->invitation_id = c->invitation_id;
	r->status = c->status;
	r->channel = c->channel;
	r->consent = so->consent;
	r->name = em_strdup(c->name);
	r->email = em_strdup(c->email);
	r->page_url = em_strdup(c->page_url);
	copy(r->lang, sizeof r->lang, c->lang);
	r->created_at = c->created_at;
	r->accepted_at = c->accepted_at;
	if (em_store_write(app->store, em_convstore_create, created_done, cc)) {
		if (v->conv == c)
			v->conv = NULL;
		opst *o = c->operator_id ? op_find(c->operator_id) : NULL;
		if (o)
			o->chats--;
		conv_unlink(c);
		conv_free(c);
		em_free(r->name);
		em_free(r->email);
		em_free(r->page_url);
		em_free(cc);
		return NULL;
	}
	return c;
}

void em_chat_start_from_invitation(int64_t site_id, const char *vid, int64_t invitation_id,
				   int64_t operator_id, int64_t department_id)
{
	vchat *v = vchat_get(site_id, vid);
	if (v->conv) {
		tell_visitor_conv(v->conv);
		return;
	}
	start_opts so = {.channel = EM_CHAN_CHAT,
			 .department_id = department_id,
			 .invitation_id = invitation_id,
			 .preferred_op = operator_id};
	if (!conv_start(v, &so)) {
		json_t *e = em_json_error("unavailable", "the server is busy, try again", NULL);
		json_object_set_new(e, "type", json_string("error"));
		visitor_send(v, e);
		json_decref(e);
	}
	vchat_maybe_free(v);
}

/* ---- Messages ---------------------------------------------------------- */

typedef struct post_ctx {
	em_msg_write w;
	csock *origin; /* ack goes here (holds a reference) */
	em_chat_cb cb;
	void *cb_arg;
} post_ctx;

/* The message as a JSON object (for messages held back during a resume). */
static json_t *msg_json(const em_msg_write *w, int for_operator)
{
	json_t *m = json_object();
	json_object_set_new(m, "type", json_string("msg"));
	json_object_set_new(m, "conversation", json_string(w->conv));
	json_object_set_new(m, "seq", json_integer(w->seq));
	json_object_set_new(m, "author", json_string(em_conv_author_name(w->author)));
	json_object_set_new(m, "body", json_string(w->body));
	json_object_set_new(m, "created", em_json_time(w->stored_at));
	json_object_set_new(m, "client_id", json_string(w->client_id));
	if (w->author == EM_AUTHOR_OPERATOR) {
		opst *o = op_find(w->operator_id);
		json_object_set_new(m, "operator", op_public(o));
		if (for_operator && o)
			json_object_set_new(m, "author_operator", json_string(o->public_id));
	}
	if (for_operator)
		json_object_set_new(m, "internal", json_boolean(w->internal));
	return m;
}

/* The "msg" frame, written straight into b: the same object msg_json()
** makes, without building it (this runs for every message and socket). */
static void msg_frame(em_buf *b, const em_msg_write *w, int for_operator)
{
	em_buf_reset(b);
	em_buf_puts(b, "{\"type\":\"msg\",\"conversation\":");
	em_json_put_str(b, w->conv);
	em_buf_printf(b, ",\"seq\":%lld,\"author\":\"%s\",\"body\":", (long long)w->seq,
		      em_conv_author_name(w->author));
	em_json_put_str(b, w->body);
	if (w->stored_at > 0) {
		char t[32];
		em_rfc3339(w->stored_at, t);
		em_buf_puts(b, ",\"created\":\"");
		em_buf_puts(b, t);
		em_buf_putc(b, '"');
	} else {
		em_buf_puts(b, ",\"created\":null");
	}
	em_buf_puts(b, ",\"client_id\":");
	em_json_put_str(b, w->client_id);
	if (w->author == EM_AUTHOR_OPERATOR) {
		opst *o = op_find(w->operator_id);
		if (o) {
			em_buf_puts(b, ",\"operator\":{\"name\":");
			em_json_put_str(b, o->name);
			em_buf_puts(b, ",\"avatar\":null}");
			if (for_operator) {
				em_buf_puts(b, ",\"author_operator\":");
				em_json_put_str(b, o->public_id);
			}
		} else {
			em_buf_puts(b, ",\"operator\":null");
		}
	}
	if (for_operator)
		em_buf_puts(b, w->internal ? ",\"internal\":true" : ",\"internal\":false");
	em_buf_putc(b, '}');
}

/* Frames are built here, one at a time (the loop is single-threaded). */
static em_buf frame;

static em_buf *frame_buf(void)
{
	if (!frame.max)
		em_buf_init(&frame, 1 << 20);
	return &frame;
}

/* Delivers a visitor-visible message to one visitor socket, in order. */
static void deliver_visitor(csock *cs, const em_msg_write *w, const char *text, size_t len)
{
	if (!cs->ws || w->seq <= cs->sent_seq)
		return;
	if (cs->resuming) {
		if (json_array_size(cs->held) < HELD_MAX)
			json_array_append_new(cs->held, msg_json(w, 0));
		return;
	}
	cs->sent_seq = w->seq;
	em_ws_send_text(cs->ws, text, len);
}

static void fan_out(conv *c, const em_msg_write *w)
{
	em_buf *b = frame_buf();
	if (!w->internal) {
		vchat *v = vchat_find(c->site_id, c->vid);
		if (v && v->socks) {
			msg_frame(b, w, 0);
			for (csock *cs = v->socks, *next; cs; cs = next) {
				next = cs->next;
				deliver_visitor(cs, w, b->data, b->len);
			}
		}
	}
	msg_frame(b, w, 1);
	for (opst *o = ops; o; o = o->next)
		if (o->socks && op_sees(o, c))
			op_send(o, b->data, b->len);
}

/* The "ack" frame. */
static void send_ack(csock *cs, const em_msg_write *w)
{
	if (!cs || !cs->ws)
		return;
	em_buf *b = frame_buf();
	em_buf_reset(b);
	em_buf_puts(b, "{\"type\":\"ack\",\"client_id\":");
	em_json_put_str(b, w->client_id);
	em_buf_printf(b, ",\"seq\":%lld,\"conversation\":", (long long)w->seq);
	em_json_put_str(b, w->conv);
	em_buf_putc(b, '}');
	em_ws_send_text(cs->ws, b->data, b->len);
}

static void post_done(int status, void *arg)
{
	post_ctx *pc = arg;
	em_msg_write *w = &pc->w;
	json_t *result = NULL;
	if (!status) {
		/* The sender's copy of the message and its ack leave in one write:
		** a socket's frames go out together at the end of the loop turn. */
		conv *c = conv_find(w->conv);
		if (c && !w->dup) {
			if (w->seq > c->last_seq)
				c->last_seq = w->seq;
			fan_out(c, w);
		}
		send_ack(pc->origin, w);
		if (pc->cb)
			result = json_pack("{s:s, s:s, s:I, s:s}", "type", "ack", "client_id", w->client_id,
					   "seq", (json_int_t)w->seq, "conversation", w->conv);
	} else if (pc->origin) {
		send_error(pc->origin, status == EM_EAGAIN ? "unavailable" : "internal",
			   "the message was not stored; send it again", NULL, w->client_id);
	}
	if (pc->cb)
		pc->cb(status, result, pc->cb_arg);
	else
		json_decref(result);
	if (pc->origin)
		csock_unref(pc->origin);
	em_free(w->body);
	em_free(pc);
}

static int post(conv *c, int author, int64_t operator_id, const char *client_id, const char *body,
		int internal, csock *origin, em_chat_cb cb, void *cb_arg)
{
	post_ctx *pc = em_calloc(1, sizeof *pc);
	em_msg_write *w = &pc->w;
	copy(w->conv, sizeof w->conv, c->pid);
	w->author = author;
	w->operator_id = operator_id;
	if (client_id && *client_id)
		copy(w->client_id, sizeof w->client_id, client_id);
	else {
		w->client_id[0] = 's';
		em_id_random(w->client_id + 1, sizeof w->client_id - 1, 15);
	}
	w->body = em_strdup(body);
	w->internal = internal;
	w->created_at = em_now_ms();
	pc->origin = origin;
	pc->cb = cb;
	pc->cb_arg = cb_arg;
	if (origin)
		origin->refs++;
	int rc = em_store_write(app->store, em_convstore_message, post_done, pc);
	if (rc) {
		if (origin)
			csock_unref(origin);
		em_free(w->body);
		em_free(pc);
	}
	return rc;
}

/* ---- Visitor sockets --------------------------------------------------- */

static int take_token(vchat *v)
{
	int64_t now = em_now_ms();
	double rate = app->cfg.chat_visitor_msgs_per_min / 60000.0;
	v->tokens += (double)(now - v->tokens_at) * rate;
	if (v->tokens > app->cfg.chat_visitor_msgs_per_min)
		v->tokens = app->cfg.chat_visitor_msgs_per_min;
	v->tokens_at = now;
	if (v->tokens < 1)
		return 0;
	v->tokens -= 1;
	return 1;
}

static void last_done(int status, void *arg)
{
	em_conv_query *q = arg;
	vchat *v = vchat_find(q->site_id, q->vid);
	if (!status && v) {
		v->last_loaded = 1;
		if (!v->last_operator_id)
			v->last_operator_id = q->last_operator_id;
		if (q->last_chat_at > v->last_chat_at)
			v->last_chat_at = q->last_chat_at;
	}
	em_free(q);
}

static json_t *prechat_json(int64_t site_id)
{
	const settings *s = settings_for(site_id);
	return json_pack("{s:s, s:s, s:s}", "name", s ? s->name : "optional", "email",
			 s ? s->email : "optional", "consent", s ? s->consent : "off");
}

void *em_chat_visitor_connect(em_ws *ws, int64_t site_id, const char *vid, const char *lang)
{
	vchat *v = vchat_get(site_id, vid);
	if (lang && *lang)
		copy(v->lang, sizeof v->lang, lang);
	csock *cs = em_calloc(1, sizeof *cs);
	cs->ws = ws;
	cs->refs = 1;
	cs->vc = v;
	cs->held = json_array();
	sock_link(&v->socks, cs);
	v->nsocks++;
	v->gone_at = 0;
	nvsocks++;
	int64_t resume_from = v->conv ? v->conv->last_seq : 0;
	cs->live_from = cs->sent_seq = resume_from;
	const settings *s = settings_for(site_id);
	json_t *hello = json_object();
	json_object_set_new(hello, "type", json_string("hello"));
	json_object_set_new(hello, "vid", json_string(vid));
	json_object_set_new(hello, "resume_from", json_integer(resume_from));
	json_object_set_new(hello, "conversation", conv_public(v->conv));
	json_object_set_new(hello, "available",
			    json_boolean(widget_available(site_id, v->conv ? v->conv->department_id : 0)));
	json_object_set_new(hello, "prechat", prechat_json(site_id));
	json_object_set_new(hello, "greeting", json_string(s && s->greeting ? s->greeting : ""));
	json_object_set_new(hello, "color", json_string(s && s->color ? s->color : ""));
	json_t *inv = hooks.pending ? hooks.pending(site_id, vid) : NULL;
	json_object_set_new(hello, "invite", inv ? inv : json_null());
	send_new(cs, hello);
	if (v->conv && v->conv->operator_id && v->conv->status == EM_CONV_OPEN) {
		json_t *ev = json_pack("{s:s, s:s, s:o}", "type", "operator_joined", "conversation",
				       v->conv->pid, "operator", op_public(op_find(v->conv->operator_id)));
		send_new(cs, ev);
	}
	if (!v->last_loaded) {
		em_conv_query *q = em_calloc(1, sizeof *q);
		q->site_id = site_id;
		copy(q->vid, sizeof q->vid, vid);
		if (em_store_read(app->store, em_convstore_visitor_last, last_done, q))
			em_free(q);
	}
	return cs;
}

void em_chat_visitor_disconnect(void *handle)
{
	csock *cs = handle;
	vchat *v = cs->vc;
	sock_unlink(&v->socks, cs);
	v->nsocks--;
	if (!v->nsocks)
		v->gone_at = em_now_ms();
	nvsocks--;
	cs->ws = NULL;
	cs->vc = NULL;
	csock_unref(cs);
	vchat_maybe_free(v);
}

typedef struct resume_ctx {
	em_conv_query q;
	csock *cs;
} resume_ctx;

static void resume_done(int status, void *arg)
{
	resume_ctx *rc = arg;
	csock *cs = rc->cs;
	if (cs->ws) {
		if (status) {
			send_error(cs, "internal", "history not available, try again", NULL, NULL);
		} else {
			/* History first, skipping what went out live before the resume
			** began; then what was held back meanwhile. */
			size_t i;
			json_t *m;
			int64_t live_to = cs->sent_seq;
			json_array_foreach(rc->q.out, i, m)
			{
				int64_t seq = json_integer_value(json_object_get(m, "seq"));
				if (seq > cs->live_from && seq <= live_to)
					continue;
				json_object_set_new(m, "type", json_string("msg"));
				send_obj(cs->ws, m);
				if (seq > cs->sent_seq)
					cs->sent_seq = seq;
			}
			json_array_foreach(cs->held, i, m)
			{
				int64_t seq = json_integer_value(json_object_get(m, "seq"));
				if (seq <= cs->sent_seq)
					continue;
				send_obj(cs->ws, m);
				cs->sent_seq = seq;
			}
		}
	}
	cs->resuming = 0;
	json_array_clear(cs->held);
	json_decref(rc->q.out);
	csock_unref(cs);
	em_free(rc);
}

static void visitor_resume(csock *cs, json_t *msg)
{
	vchat *v = cs->vc;
	json_t *after = json_object_get(msg, "after");
	if (after && !json_is_integer(after)) {
		send_error(cs, "invalid", "after must be an integer", "after", NULL);
		return;
	}
	if (!v->conv || cs->resuming)
		return;
	resume_ctx *rc = em_calloc(1, sizeof *rc);
	copy(rc->q.conv, sizeof rc->q.conv, v->conv->pid);
	rc->q.after = after ? json_integer_value(after) : 0;
	rc->q.limit = RESUME_MAX;
	rc->cs = cs;
	cs->refs++;
	cs->resuming = 1;
	if (em_store_read(app->store, em_convstore_messages, resume_done, rc)) {
		cs->resuming = 0;
		csock_unref(cs);
		em_free(rc);
		send_error(cs, "unavailable", "the server is busy, try again", NULL, NULL);
	}
}

static const char *opt_str(csock *cs, json_t *msg, const char *key, size_t max, int *bad)
{
	json_t *v = json_object_get(msg, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) > max) {
		char m[96];
		snprintf(m, sizeof m, "%s must be a string of at most %zu bytes", key, max);
		send_error(cs, "invalid", m, key, NULL);
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

/* Checks the pre-chat fields; answers the error itself. */
static int prechat_ok(csock *cs, int64_t site_id, const char *name, const char *email, int consent)
{
	const settings *s = settings_for(site_id);
	if (s && !strcmp(s->name, "required") && (!name || !*name)) {
		send_error(cs, "invalid", "a name is required", "name", NULL);
		return 0;
	}
	if (s && !strcmp(s->email, "required") && (!email || !*email)) {
		send_error(cs, "invalid", "an e-mail address is required", "email", NULL);
		return 0;
	}
	if (s && !strcmp(s->consent, "required") && !consent) {
		send_error(cs, "invalid", "consent is required", "consent", NULL);
		return 0;
	}
	if (email && *email && !email_ok(email)) {
		send_error(cs, "invalid", "not a valid e-mail address", "email", NULL);
		return 0;
	}
	return 1;
}

static void visitor_start(csock *cs, json_t *msg, int reply)
{
	vchat *v = cs->vc;
	if (v->conv) {
		if (reply)
			send_new(cs, json_pack("{s:s, s:o}", "type", "conversation", "conversation",
					       conv_public(v->conv)));
		return;
	}
	int bad = 0;
	const char *name = opt_str(cs, msg, "name", NAME_MAX_LEN, &bad);
	const char *email = bad ? NULL : opt_str(cs, msg, "email", EMAIL_MAX_LEN, &bad);
	const char *dep = bad ? NULL : opt_str(cs, msg, "department", 31, &bad);
	const char *lang = bad ? NULL : opt_str(cs, msg, "lang", 7, &bad);
	const char *page = bad ? NULL : opt_str(cs, msg, "page", 2048, &bad);
	if (bad)
		return;
	int consent = json_is_true(json_object_get(msg, "consent"));
	if (!prechat_ok(cs, v->site_id, name, email, consent))
		return;
	const dept *d = dep ? dept_find_public(dep) : NULL;
	if (dep && !d) {
		send_error(cs, "invalid", "no such department", "department", NULL);
		return;
	}
	start_opts so = {.name = name,
			 .email = email,
			 .page_url = page,
			 .lang = lang,
			 .consent = consent,
			 .channel = EM_CHAN_CHAT,
			 .department_id = d ? d->id : 0};
	if (!conv_start(v, &so))
		send_error(cs, "unavailable", "the server is busy, try again", NULL, NULL);
}

static void visitor_msg(csock *cs, json_t *msg)
{
	vchat *v = cs->vc;
	json_t *cid = json_object_get(msg, "client_id");
	json_t *body = json_object_get(msg, "body");
	const char *client_id = json_is_string(cid) ? json_string_value(cid) : NULL;
	if (!client_id || !client_id_ok(client_id)) {
		send_error(cs, "invalid", "client_id must be 1-64 printable characters", "client_id", NULL);
		return;
	}
	if (!json_is_string(body) ||
	    !text_ok(json_string_value(body), EM_CHAT_BODY_MAX_CHARS, EM_CHAT_BODY_MAX_BYTES)) {
		send_error(cs, "invalid", "body must be 1-4000 characters of text", "body", client_id);
		return;
	}
	if (!take_token(v)) {
		send_error(cs, "rate_limited", "too many messages, wait a moment", NULL, client_id);
		return;
	}
	if (!v->conv) {
		const settings *s = settings_for(v->site_id);
		if (s && (!strcmp(s->name, "required") || !strcmp(s->email, "required") ||
			  !strcmp(s->consent, "required"))) {
			send_error(cs, "prechat_required", "send start with the pre-chat fields first", NULL,
				   client_id);
			return;
		}
		visitor_start(cs, msg, 0);
		if (!v->conv)
			return;
	}
	if (post(v->conv, EM_AUTHOR_VISITOR, 0, client_id, json_string_value(body), 0, cs, NULL, NULL))
		send_error(cs, "unavailable", "the server is busy, try again", NULL, client_id);
}

static void typing_to_ops(conv *c, int typing, const char *preview)
{
	json_t *ev = json_pack("{s:s, s:s, s:b, s:s}", "type", "typing", "conversation", c->pid, "typing",
			       typing, "author", "visitor");
	if (preview)
		json_object_set_new(ev, "preview", json_string(preview));
	ops_send_conv_event(c, ev);
	json_decref(ev);
}

static void visitor_offline(csock *cs, json_t *msg)
{
	vchat *v = cs->vc;
	int bad = 0;
	const char *email = opt_str(cs, msg, "email", EMAIL_MAX_LEN, &bad);
	const char *name = bad ? NULL : opt_str(cs, msg, "name", NAME_MAX_LEN, &bad);
	const char *client_id = bad ? NULL : opt_str(cs, msg, "client_id", EM_CHAT_CLIENT_ID_MAX, &bad);
	if (bad)
		return;
	if (!email || !email_ok(email)) {
		send_error(cs, "invalid", "a valid e-mail address is required", "email", client_id);
		return;
	}
	json_t *body = json_object_get(msg, "body");
	if (!json_is_string(body) ||
	    !text_ok(json_string_value(body), EM_CHAT_BODY_MAX_CHARS, EM_CHAT_BODY_MAX_BYTES)) {
		send_error(cs, "invalid", "body must be 1-4000 characters of text", "body", client_id);
		return;
	}
	if (client_id && !client_id_ok(client_id)) {
		send_error(cs, "invalid", "client_id must be 1-64 printable characters", "client_id", NULL);
		return;
	}
	if (!take_token(v)) {
		send_error(cs, "rate_limited", "too many messages, wait a moment", NULL, client_id);
		return;
	}
	start_opts so = {.name = name, .email = email, .channel = EM_CHAN_OFFLINE};
	conv *c = conv_start(v, &so);
	if (!c || post(c, EM_AUTHOR_VISITOR, 0, client_id, json_string_value(body), 0, cs, NULL, NULL))
		send_error(cs, "unavailable", "the server is busy, try again", NULL, client_id);
}

typedef struct ok_ctx {
	em_conv_rating r; /* first: the write function receives the context */
	csock *cs;
} ok_ctx;

static void rate_done(int status, void *arg)
{
	ok_ctx *oc = arg;
	if (status == EM_ENOTFOUND)
		send_error(oc->cs, "not_found", "no such conversation", "conversation", NULL);
	else if (status)
		send_error(oc->cs, "unavailable", "not stored, try again", NULL, NULL);
	else
		send_new(oc->cs, json_pack("{s:s, s:s}", "type", "ok", "for", "rate"));
	csock_unref(oc->cs);
	em_free(oc->r.comment);
	em_free(oc);
}

static void visitor_rate(csock *cs, json_t *msg)
{
	vchat *v = cs->vc;
	json_t *rating = json_object_get(msg, "rating");
	if (!json_is_integer(rating) || json_integer_value(rating) < 1 || json_integer_value(rating) > 5) {
		send_error(cs, "invalid", "rating must be an integer from 1 to 5", "rating", NULL);
		return;
	}
	int bad = 0;
	const char *comment = opt_str(cs, msg, "comment", COMMENT_MAX, &bad);
	const char *cid = bad ? NULL : opt_str(cs, msg, "conversation", 31, &bad);
	if (bad)
		return;
	if (!cid)
		cid = v->conv ? v->conv->pid : v->last_closed;
	if (!cid || !*cid) {
		send_error(cs, "not_found", "no conversation to rate", "conversation", NULL);
		return;
	}
	ok_ctx *oc = em_calloc(1, sizeof *oc);
	oc->cs = cs;
	cs->refs++;
	copy(oc->r.conv, sizeof oc->r.conv, cid);
	oc->r.site_id = v->site_id;
	copy(oc->r.vid, sizeof oc->r.vid, v->vid);
	oc->r.rating = (int)json_integer_value(rating);
	oc->r.comment = em_strdup(comment ? comment : "");
	oc->r.now = em_now_ms();
	if (em_store_write(app->store, em_convstore_rate, rate_done, &oc->r)) {
		csock_unref(cs);
		em_free(oc->r.comment);
		em_free(oc);
		send_error(cs, "unavailable", "the server is busy, try again", NULL, NULL);
	}
}

/* The transcript request: answered "ok" once the mail relay accepted it. */
static void transcript_done(int status, void *arg)
{
	csock *cs = arg;
	if (!status)
		send_new(cs, json_pack("{s:s, s:s}", "type", "ok", "for", "transcript"));
	else if (status == EM_ECLOSED)
		send_error(cs, "unavailable", "sending e-mail is not configured on this server", NULL, NULL);
	else if (status == EM_EINVAL)
		send_error(cs, "invalid", "email must be an address like name@example.org", "email", NULL);
	else if (status == EM_ENOTFOUND)
		send_error(cs, "not_found", "no conversation to send", "conversation", NULL);
	else
		send_error(cs, "unavailable", "the transcript could not be sent, try again later", NULL,
			   NULL);
	csock_unref(cs);
}

static void visitor_transcript(csock *cs, json_t *msg)
{
	vchat *v = cs->vc;
	const char *email = em_json_str(msg, "email", NULL);
	if (!email || !em_mail_address_ok(email)) {
		send_error(cs, "invalid", "email must be an address like name@example.org", "email", NULL);
		return;
	}
	if (!em_mail_enabled(app)) {
		send_error(cs, "unavailable", "sending e-mail is not configured on this server", NULL, NULL);
		return;
	}
	const char *cid = v->conv ? v->conv->pid : v->last_closed;
	if (!cid[0]) {
		send_error(cs, "not_found", "no conversation to send", "conversation", NULL);
		return;
	}
	if (!em_chat_transcript_allow(v->site_id, v->vid)) {
		send_error(cs, "rate_limited", "at most 3 transcripts per hour", NULL, NULL);
		return;
	}
	cs->refs++;
	em_chat_transcript(app, cid, email, transcript_done, cs);
}

static void close_conv(conv *c, const char *outcome);

void em_chat_visitor_message(void *handle, json_t *msg)
{
	csock *cs = handle;
	vchat *v = cs->vc;
	const char *type = em_json_str(msg, "type", "");
	if (!strcmp(type, "msg")) {
		visitor_msg(cs, msg);
	} else if (!strcmp(type, "resume")) {
		visitor_resume(cs, msg);
	} else if (!strcmp(type, "typing")) {
		if (v->conv) {
			int bad = 0;
			const char *preview = opt_str(cs, msg, "preview", 200, &bad);
			if (!bad)
				typing_to_ops(v->conv, json_is_true(json_object_get(msg, "typing")), preview);
		}
	} else if (!strcmp(type, "start")) {
		visitor_start(cs, msg, 1);
	} else if (!strcmp(type, "offline")) {
		visitor_offline(cs, msg);
	} else if (!strcmp(type, "rate")) {
		visitor_rate(cs, msg);
	} else if (!strcmp(type, "close")) {
		if (v->conv)
			close_conv(v->conv, "");
		send_new(cs, json_pack("{s:s, s:s}", "type", "ok", "for", "close"));
	} else if (!strcmp(type, "transcript")) {
		visitor_transcript(cs, msg);
	} else if (!strcmp(type, "invite_shown") || !strcmp(type, "invite_accept") ||
		   !strcmp(type, "invite_dismiss")) {
		int bad = 0;
		const char *inv = opt_str(cs, msg, "invitation", 31, &bad);
		if (bad)
			return;
		if (!inv) {
			send_error(cs, "invalid", "invitation is required", "invitation", NULL);
			return;
		}
		if (!strcmp(type, "invite_shown")) {
			if (hooks.shown)
				hooks.shown(v->site_id, v->vid, inv);
		} else if (hooks.answer) {
			hooks.answer(v->site_id, v->vid, inv, !strcmp(type, "invite_accept"));
		}
	} else if (!strcmp(type, "ping")) {
		send_new(cs, json_pack("{s:s}", "type", "pong"));
	} else {
		send_error(cs, "unknown_type", "unknown message type", "type", NULL);
	}
}

/* ---- Operator sockets -------------------------------------------------- */

static json_t *operators_json(void)
{
	json_t *a = json_array();
	for (opst *o = ops; o; o = o->next)
		if (!o->disabled)
			json_array_append_new(a, op_json(o));
	return a;
}

json_t *em_chat_operators_json(void)
{
	return operators_json();
}

static void apply_operators(json_t *data);

static void reload_done(int status, void *arg)
{
	json_t **out = arg;
	if (!status && *out)
		apply_operators(*out);
	json_decref(*out);
	em_free(out);
}

void em_chat_reload_operators(void)
{
	if (!app)
		return;
	json_t **out = em_calloc(1, sizeof *out);
	if (em_store_read(app->store, em_convstore_operators, reload_done, out))
		em_free(out);
}

void *em_chat_operator_connect(em_ws *ws, int64_t operator_id, int is_admin)
{
	opst *o = op_find(operator_id);
	if (!o) {
		o = em_calloc(1, sizeof *o);
		o->id = operator_id;
		o->max_chats = 4;
		o->is_admin = is_admin;
		o->next = ops;
		ops = o;
	}
	int before = op_status(o);
	csock *cs = em_calloc(1, sizeof *cs);
	cs->ws = ws;
	cs->refs = 1;
	cs->is_operator = 1;
	cs->op = o;
	sock_link(&o->socks, cs);
	o->sockets++;
	json_t *list = json_array();
	for (conv *c = conv_head; c; c = c->next)
		if (op_sees(o, c) || c->status == EM_CONV_PENDING)
			json_array_append_new(list, conv_json(c));
	send_new(cs, json_pack("{s:s, s:o}", "type", "conversations", "conversations", list));
	send_new(cs, json_pack("{s:s, s:o}", "type", "operators", "operators", operators_json()));
	if (op_status(o) != before || o->last_status != op_status(o)) {
		announce_op(o);
		dispatch();
		announce_availability();
	}
	em_chat_reload_operators();
	return cs;
}

void em_chat_operator_disconnect(void *handle)
{
	csock *cs = handle;
	opst *o = cs->op;
	sock_unlink(&o->socks, cs);
	o->sockets--;
	if (!o->sockets)
		o->grace_until = em_now_ms() + (int64_t)app->cfg.chat_offline_grace_s * 1000;
	cs->ws = NULL;
	csock_unref(cs);
	/* Status changes (offline after the grace) are seen by the sweep. */
}

int em_chat_set_status(int64_t operator_id, const char *status)
{
	opst *o = op_find(operator_id);
	if (!o)
		return EM_ENOTFOUND;
	if (!strcmp(status, "away"))
		o->away = 1;
	else if (!strcmp(status, "online"))
		o->away = 0;
	else
		return EM_EINVAL;
	if (op_status(o) != o->last_status) {
		announce_op(o);
		dispatch();
		announce_availability();
	}
	return 0;
}

const char *em_chat_status_of(int64_t operator_id)
{
	opst *o = op_find(operator_id);
	return status_names[o ? op_status(o) : ST_OFFLINE];
}

static void op_post_cb(int status, json_t *result, void *arg)
{
	(void)status;
	(void)arg;
	json_decref(result);
}

int em_chat_operator_message(void *handle, json_t *msg)
{
	csock *cs = handle;
	opst *o = cs->op;
	const char *type = em_json_str(msg, "type", "");
	if (!strcmp(type, "msg")) {
		const char *cid = em_json_str(msg, "client_id", NULL);
		const char *body = em_json_str(msg, "body", NULL);
		const char *pid = em_json_str(msg, "conversation", "");
		if (!cid || !client_id_ok(cid)) {
			send_error(cs, "invalid", "client_id must be 1-64 printable characters", "client_id",
				   NULL);
			return 0;
		}
		if (!body || !text_ok(body, EM_CHAT_BODY_MAX_CHARS, EM_CHAT_BODY_MAX_BYTES)) {
			send_error(cs, "invalid", "body must be 1-4000 characters of text", "body", cid);
			return 0;
		}
		conv *c = conv_find(pid);
		if (!c) {
			send_error(cs, "not_found", "no open conversation with this id", "conversation", cid);
			return 0;
		}
		int internal = json_is_true(json_object_get(msg, "internal"));
		if (!internal && c->operator_id != o->id && !o->is_admin) {
			send_error(cs, "forbidden", "accept the conversation first", "conversation", cid);
			return 0;
		}
		if (!internal && c->operator_id != o->id && c->status != EM_CONV_OPEN) {
			send_error(cs, "forbidden", "accept the conversation first", "conversation", cid);
			return 0;
		}
		if (post(c, EM_AUTHOR_OPERATOR, o->id, cid, body, internal, cs, op_post_cb, NULL))
			send_error(cs, "unavailable", "the server is busy, try again", NULL, cid);
		return 0;
	}
	if (!strcmp(type, "typing")) {
		conv *c = conv_find(em_json_str(msg, "conversation", ""));
		if (c && c->operator_id == o->id) {
			json_t *ev = json_pack("{s:s, s:b, s:o}", "type", "typing", "typing",
					       json_is_true(json_object_get(msg, "typing")), "operator",
					       op_public(o));
			visitor_send(vchat_find(c->site_id, c->vid), ev);
			json_decref(ev);
		}
		return 0;
	}
	if (!strcmp(type, "status")) {
		if (em_chat_set_status(o->id, em_json_str(msg, "status", "")))
			send_error(cs, "invalid", "status must be online or away", "status", NULL);
		return 0;
	}
	return -1;
}

/* ---- Operations for the REST API --------------------------------------- */

typedef struct op_ctx {
	em_chat_cb cb;
	void *arg;
	json_t *announce; /* sent to every operator after the COMMIT, or NULL */
	char pid[32];
	char outcome[16];
} op_ctx;

static void accept_done(int status, void *arg)
{
	em_conv_change *ch = arg;
	op_ctx *oc = (op_ctx *)(ch + 1);
	conv *c = conv_find(ch->public_id);
	json_t *result = NULL;
	if (!status && c) {
		announce_conv(c, NULL);
		tell_visitor_conv(c);
		opst *o = op_find(c->operator_id);
		if (o)
			announce_op(o);
		result = conv_json(c);
	}
	if (oc->cb)
		oc->cb(status, result, oc->arg);
	else
		json_decref(result);
	em_free(ch);
}

/* Queues a change and calls cb after COMMIT with the conversation. */
static int change_with_cb(conv *c, const char *outcome, int64_t closed_at, em_done_fn done, em_chat_cb cb,
			  void *arg, json_t *announce)
{
	em_conv_change *ch = em_calloc(1, sizeof *ch + sizeof(op_ctx));
	op_ctx *oc = (op_ctx *)(ch + 1);
	oc->cb = cb;
	oc->arg = arg;
	oc->announce = announce;
	copy(ch->public_id, sizeof ch->public_id, c->pid);
	ch->status = closed_at ? EM_CONV_CLOSED : c->status;
	ch->operator_id = c->operator_id;
	ch->department_id = c->department_id;
	ch->accepted_at = c->accepted_at;
	ch->closed_at = closed_at;
	ch->now = em_now_ms();
	copy(ch->outcome, sizeof ch->outcome, outcome);
	copy(oc->outcome, sizeof oc->outcome, outcome);
	int rc = em_store_write(app->store, em_convstore_change, done, ch);
	if (rc)
		em_free(ch);
	return rc;
}

int em_chat_accept(const char *pid, int64_t operator_id, em_chat_cb cb, void *arg)
{
	conv *c = conv_find(pid);
	opst *o = op_find(operator_id);
	if (!c || !o)
		return EM_ENOTFOUND;
	if (c->status != EM_CONV_PENDING)
		return EM_EEXIST;
	if (!o->is_admin && !op_in_dept(o, c->department_id))
		return EM_EPERM;
	assign(c, o);
	int rc = change_with_cb(c, "", 0, accept_done, cb, arg, NULL);
	if (rc)
		em_warn("accepted chat not stored", "conversation=%s", pid);
	return 0;
}

int em_chat_post_operator(const char *pid, int64_t operator_id, int is_admin, const char *client_id,
			  const char *body, int internal, em_chat_cb cb, void *arg)
{
	conv *c = conv_find(pid);
	opst *o = op_find(operator_id);
	if (!c || !o)
		return EM_ENOTFOUND;
	if (client_id && *client_id && !client_id_ok(client_id))
		return EM_EINVAL;
	if (!text_ok(body, EM_CHAT_BODY_MAX_CHARS, EM_CHAT_BODY_MAX_BYTES))
		return EM_ERANGE;
	if (!internal && c->operator_id != operator_id && !(is_admin && c->status == EM_CONV_OPEN))
		return EM_EPERM;
	if (internal && !is_admin && c->operator_id != operator_id && c->operator_id)
		return EM_EPERM;
	return post(c, EM_AUTHOR_OPERATOR, operator_id, client_id, body, internal, NULL, cb, arg);
}

static void closed_done(int status, void *arg)
{
	em_conv_change *ch = arg;
	op_ctx *oc = (op_ctx *)(ch + 1);
	json_t *result = NULL;
	/* The chat is closed in memory whatever the store said; consoles
	** learn it now, when what they would read back is stored. */
	if (oc->announce) {
		ops_broadcast(oc->announce);
		json_decref(oc->announce);
	}
	if (!status) {
		em_webhooks_kick();
		result = json_pack("{s:s, s:s, s:s}", "id", ch->public_id, "status", "closed", "outcome",
				   ch->outcome);
	}
	if (oc->cb)
		oc->cb(status, result, oc->arg);
	else
		json_decref(result);
	em_free(ch);
}

/* Closes in memory and frees the conversation; operators hear of it after
** the COMMIT (closed_done). */
static void close_conv_cb(conv *c, const char *outcome, em_chat_cb cb, void *arg)
{
	int64_t now = em_now_ms();
	json_t *to_ops = conv_event(c, outcome);
	if (change_with_cb(c, outcome, now, closed_done, cb, arg, to_ops)) {
		em_warn("closed chat not stored", "conversation=%s", c->pid);
		ops_broadcast(to_ops);
		json_decref(to_ops);
	}
	vchat *v = vchat_find(c->site_id, c->vid);
	if (v) {
		json_t *ev = json_pack("{s:s, s:s}", "type", "closed", "conversation", c->pid);
		visitor_send(v, ev);
		json_decref(ev);
		if (v->conv == c) {
			v->conv = NULL;
			copy(v->last_closed, sizeof v->last_closed, c->pid);
		}
	}
	opst *o = c->operator_id ? op_find(c->operator_id) : NULL;
	if (o && c->status == EM_CONV_OPEN)
		o->chats--;
	conv_unlink(c);
	conv_free(c);
	if (o)
		announce_op(o);
	dispatch();
	announce_availability();
	if (v)
		vchat_maybe_free(v);
}

static void close_conv(conv *c, const char *outcome)
{
	close_conv_cb(c, outcome, NULL, NULL);
}

int em_chat_close(const char *pid, int64_t operator_id, int is_admin, const char *outcome, em_chat_cb cb,
		  void *arg)
{
	conv *c = conv_find(pid);
	if (!c)
		return EM_ENOTFOUND;
	if (!is_admin && c->operator_id != operator_id && !(c->channel == EM_CHAN_OFFLINE))
		return EM_EPERM;
	close_conv_cb(c, outcome, cb, arg);
	return 0;
}

int em_chat_transfer(const char *pid, int64_t operator_id, int is_admin, const char *to_operator,
		     const char *to_department, em_chat_cb cb, void *arg)
{
	conv *c = conv_find(pid);
	if (!c)
		return EM_ENOTFOUND;
	if (!is_admin && c->operator_id != operator_id)
		return EM_EPERM;
	opst *from = c->operator_id ? op_find(c->operator_id) : NULL;
	if (to_operator) {
		opst *to = op_find_public(to_operator);
		if (!to || to->disabled)
			return EM_EINVAL;
		if (from && c->status == EM_CONV_OPEN)
			from->chats--;
		if (c->status == EM_CONV_PENDING && c->channel == EM_CHAN_CHAT)
			npending--;
		c->status = EM_CONV_OPEN;
		c->operator_id = to->id;
		c->accepted_at = em_now_ms();
		to->chats++;
		vchat *v = vchat_find(c->site_id, c->vid);
		if (v)
			v->last_operator_id = to->id;
	} else if (to_department) {
		const dept *d = dept_find_public(to_department);
		if (!d)
			return EM_EINVAL;
		if (from && c->status == EM_CONV_OPEN)
			from->chats--;
		if (c->status != EM_CONV_PENDING && c->channel == EM_CHAN_CHAT)
			npending++;
		c->status = EM_CONV_PENDING;
		c->operator_id = 0;
		c->accepted_at = 0;
		c->department_id = d->id;
	} else {
		return EM_EINVAL;
	}
	if (from)
		announce_op(from);
	if (change_with_cb(c, "", 0, accept_done, cb, arg, NULL))
		em_warn("transferred chat not stored", "conversation=%s", pid);
	dispatch();
	return 0;
}

/* May this operator read this conversation (in memory)? -1 = not in memory. */
int em_chat_may_read(const char *pid, int64_t operator_id, int is_admin)
{
	conv *c = conv_find(pid);
	if (!c)
		return -1;
	if (is_admin || c->status == EM_CONV_PENDING)
		return 1;
	opst *o = op_find(operator_id);
	return o ? op_sees(o, c) : 0;
}

/* ---- Settings and operator data ---------------------------------------- */

static void apply_settings(json_t *arr)
{
	for (int i = 0; i < nsets; i++) {
		em_free(sets[i].greeting);
		em_free(sets[i].color);
	}
	em_free(sets);
	nsets = (int)json_array_size(arr);
	sets = nsets ? em_calloc((size_t)nsets, sizeof *sets) : NULL;
	size_t i;
	json_t *s;
	json_array_foreach(arr, i, s)
	{
		sets[i].site_id = em_json_int(s, "site_id", 0);
		copy(sets[i].name, sizeof sets[i].name, em_json_str(s, "name", "optional"));
		copy(sets[i].email, sizeof sets[i].email, em_json_str(s, "email", "optional"));
		copy(sets[i].consent, sizeof sets[i].consent, em_json_str(s, "consent", "off"));
		sets[i].greeting = em_strdup(em_json_str(s, "greeting", ""));
		sets[i].color = em_strdup(em_json_str(s, "color", ""));
	}
}

void em_chat_settings_apply(int64_t site_id, json_t *s)
{
	json_t *arr = json_array();
	for (int i = 0; i < nsets; i++)
		if (sets[i].site_id != site_id)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "site_id",
							     (json_int_t)sets[i].site_id, "name",
							     sets[i].name, "email", sets[i].email, "consent",
							     sets[i].consent, "greeting", sets[i].greeting,
							     "color", sets[i].color));
	json_t *mine = json_deep_copy(s);
	json_object_set_new(mine, "site_id", json_integer(site_id));
	json_array_append_new(arr, mine);
	apply_settings(arr);
	json_decref(arr);
}

json_t *em_chat_settings_json(int64_t site_id)
{
	const settings *s = settings_for(site_id);
	json_t *p = prechat_json(site_id);
	json_object_set_new(p, "greeting", json_string(s && s->greeting ? s->greeting : ""));
	json_object_set_new(p, "color", json_string(s && s->color ? s->color : ""));
	return p;
}

static void apply_operators(json_t *data)
{
	json_t *arr = json_object_get(data, "operators");
	size_t i;
	json_t *j;
	json_array_foreach(arr, i, j)
	{
		int64_t id = em_json_int(j, "id", 0);
		opst *o = op_find(id);
		if (!o) {
			o = em_calloc(1, sizeof *o);
			o->id = id;
			o->next = ops;
			ops = o;
		}
		copy(o->public_id, sizeof o->public_id, em_json_str(j, "public_id", ""));
		copy(o->name, sizeof o->name, em_json_str(j, "name", ""));
		if (!o->name[0])
			copy(o->name, sizeof o->name, em_json_str(j, "email", ""));
		o->is_admin = json_is_true(json_object_get(j, "admin"));
		o->disabled = json_is_true(json_object_get(j, "disabled"));
		o->max_chats = (int)em_json_int(j, "max_chats", 4);
		o->ndepts = 0;
		size_t k;
		json_t *d;
		json_array_foreach(json_object_get(j, "departments"), k, d) if (o->ndepts < DEPTS_MAX)
			o->depts[o->ndepts++] = json_integer_value(d);
	}
	json_t *darr = json_object_get(data, "departments");
	em_free(depts);
	ndepts = (int)json_array_size(darr);
	depts = ndepts ? em_calloc((size_t)ndepts, sizeof *depts) : NULL;
	json_array_foreach(darr, i, j)
	{
		depts[i].id = em_json_int(j, "id", 0);
		depts[i].site_id = em_json_int(j, "site", 0);
		copy(depts[i].public_id, sizeof depts[i].public_id, em_json_str(j, "public_id", ""));
		copy(depts[i].name, sizeof depts[i].name, em_json_str(j, "name", ""));
	}
	dispatch();
	announce_availability();
}

/* ---- Sweep, start and stop ---------------------------------------------- */

/* A visitor who left while still waiting in the queue is not kept waiting
** for: their chat closes as "abandoned" after chat.abandon_s. */
static void close_abandoned(void)
{
	if (!app->cfg.chat_abandon_s)
		return;
	int64_t limit = em_now_ms() - (int64_t)app->cfg.chat_abandon_s * 1000;
	for (conv *c = conv_head, *next; c; c = next) {
		next = c->next;
		if (c->status != EM_CONV_PENDING || c->channel != EM_CHAN_CHAT || !c->stored)
			continue;
		vchat *v = vchat_find(c->site_id, c->vid);
		if (!v || (!v->nsocks && v->gone_at && v->gone_at < limit))
			close_conv(c, "abandoned");
	}
}

static void sweep(void *arg)
{
	(void)arg;
	int changed = 0;
	close_abandoned();
	for (opst *o = ops; o; o = o->next) {
		if (op_status(o) != o->last_status) {
			announce_op(o);
			changed = 1;
		}
	}
	if (changed)
		dispatch();
	announce_availability();
}

int em_chat_init(em_app *a)
{
	app = a;
	routing_broadcast = !strcmp(a->cfg.chat_routing, "broadcast");
	vbuckets = em_calloc(VBUCKETS, sizeof *vbuckets);
	cbuckets = em_calloc(CBUCKETS, sizeof *cbuckets);
	json_t *data = NULL;
	int rc = em_store_read_sync(a->store, em_convstore_load, &data);
	if (rc) {
		json_decref(data);
		return rc;
	}
	apply_operators(data);
	apply_settings(json_object_get(data, "settings"));
	size_t i;
	json_t *j;
	json_array_foreach(json_object_get(data, "conversations"), i, j)
	{
		conv *c = em_calloc(1, sizeof *c);
		copy(c->pid, sizeof c->pid, em_json_str(j, "public_id", ""));
		c->site_id = em_json_int(j, "site_id", 0);
		copy(c->vid, sizeof c->vid, em_json_str(j, "vid", ""));
		c->operator_id = em_json_int(j, "operator_id", 0);
		c->department_id = em_json_int(j, "department_id", 0);
		c->invitation_id = em_json_int(j, "invitation_id", 0);
		c->status = (int)em_json_int(j, "status", 0);
		c->channel = (int)em_json_int(j, "channel", 0);
		c->name = em_strdup(em_json_str(j, "name", ""));
		c->email = em_strdup(em_json_str(j, "email", ""));
		c->page_url = em_strdup(em_json_str(j, "page_url", ""));
		copy(c->lang, sizeof c->lang, em_json_str(j, "lang", ""));
		c->last_seq = em_json_int(j, "last_seq", 0);
		c->created_at = em_json_int(j, "created_at", 0);
		c->accepted_at = em_json_int(j, "accepted_at", 0);
		c->stored = 1;
		conv_link(c);
		if (c->channel == EM_CHAN_CHAT) {
			vchat *v = vchat_get(c->site_id, c->vid);
			v->conv = c;
			v->gone_at = em_now_ms();
			if (c->operator_id)
				v->last_operator_id = c->operator_id;
		}
		opst *o = c->operator_id ? op_find(c->operator_id) : NULL;
		if (o && c->status == EM_CONV_OPEN)
			o->chats++;
	}
	json_array_foreach(json_object_get(data, "today"), i, j)
	{
		vchat *v = vchat_get(em_json_int(j, "site_id", 0), em_json_str(j, "vid", ""));
		v->last_chat_at = em_json_int(j, "at", 0);
		if (!v->last_operator_id)
			v->last_operator_id = em_json_int(j, "operator_id", 0);
		v->last_loaded = 1;
	}
	json_decref(data);
	for (opst *o = ops; o; o = o->next)
		o->last_status = op_status(o);
	last_available = widget_available(0, 0);
	sweeper = em_timer_start(1000, 1000, sweep, NULL);
	em_info("chat ready", "open=%d pending=%d routing=%s", nconvs, npending, a->cfg.chat_routing);
	return 0;
}

void em_chat_set_invite_hooks(const em_chat_invite_hooks *h)
{
	hooks = *h;
}

void em_chat_shutdown(void)
{
	if (sweeper)
		em_timer_stop(sweeper);
	sweeper = NULL;
	for (conv *c = conv_head, *next; c; c = next) {
		next = c->next;
		conv_free(c);
	}
	conv_head = conv_tail = NULL;
	for (size_t i = 0; vbuckets && i < VBUCKETS; i++)
		for (vchat *v = vbuckets[i], *next; v; v = next) {
			next = v->hnext;
			em_free(v);
		}
	for (opst *o = ops, *next; o; o = next) {
		next = o->next;
		em_free(o);
	}
	ops = NULL;
	em_free(vbuckets);
	em_free(cbuckets);
	vbuckets = NULL;
	cbuckets = NULL;
	em_free(depts);
	depts = NULL;
	ndepts = 0;
	apply_settings(NULL);
	nconvs = npending = nvsocks = 0;
	app = NULL;
}

int em_chat_visitor_sockets(void)
{
	return nvsocks;
}

int em_chat_open_conversations(void)
{
	return nconvs;
}

int em_chat_pending_conversations(void)
{
	return npending;
}
