/*
** Live chat (see docs/chat.md): conversations, messages, routing and operator
** status, owned by the loop thread.
**
** Open and pending conversations live in memory, rebuilt from the store at
** start. A message is stored by the writer thread; only after COMMIT is it
** acknowledged to its sender and fanned out to the visitor's sockets and the
** operators' consoles. Sequence numbers are assigned inside the write, so
** they follow commit order; a repeated client id returns the stored seq.
*/
#ifndef EM_CHAT_H
#define EM_CHAT_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

struct em_app;
struct em_ws;

int em_chat_init(struct em_app *app);
void em_chat_shutdown(void);

/* ---- Visitor sockets (src/api/ws_visitor.c) ---------------------------- */
/* Sends hello; returns the socket's handle for the calls below. */
void *em_chat_visitor_connect(struct em_ws *ws, int64_t site_id, const char *vid, const char *lang);
void em_chat_visitor_message(void *handle, json_t *msg);
void em_chat_visitor_disconnect(void *handle);

/* ---- Operator sockets (src/api/ws_operator.c) -------------------------- */
/* Sends the conversation snapshot and operator list; marks the operator online. */
void *em_chat_operator_connect(struct em_ws *ws, int64_t operator_id, int is_admin);
/* Handles msg / typing / status; returns 0 when the type was one of those. */
int em_chat_operator_message(void *handle, json_t *msg);
void em_chat_operator_disconnect(void *handle);

/* ---- Operations for the REST API ---------------------------------------
** Each returns 0 and calls cb after COMMIT (result: a new reference or NULL
** on failure), or returns an EM_E* code at once and never calls cb:
** EM_ENOTFOUND no such open conversation, EM_EEXIST already taken,
** EM_EPERM not this operator's, EM_EINVAL bad target, EM_EAGAIN busy. */
typedef void (*em_chat_cb)(int status, json_t *result, void *arg);
int em_chat_accept(const char *conv, int64_t operator_id, em_chat_cb cb, void *arg);
int em_chat_post_operator(const char *conv, int64_t operator_id, int is_admin, const char *client_id,
			  const char *body, int internal, em_chat_cb cb, void *arg);
int em_chat_close(const char *conv, int64_t operator_id, int is_admin, const char *outcome, em_chat_cb cb,
		  void *arg);
int em_chat_transfer(const char *conv, int64_t operator_id, int is_admin, const char *to_operator,
		     const char *to_department, em_chat_cb cb, void *arg);
/* 1 may read, 0 may not, -1 not an open conversation (ask the store). */
int em_chat_may_read(const char *conv, int64_t operator_id, int is_admin);
int em_chat_set_status(int64_t operator_id, const char *status);
const char *em_chat_status_of(int64_t operator_id);
json_t *em_chat_operators_json(void);
/* Re-reads operators and departments (after a change through the API). */
void em_chat_reload_operators(void);
/* Widget settings of a site (new reference) and their replacement. */
json_t *em_chat_settings_json(int64_t site_id);
void em_chat_settings_apply(int64_t site_id, json_t *settings);

/* ---- Capacity and state, for the invitation brakes --------------------- */
/* 1 when some operator (of the department, 0 = any) has a free slot and the
** queue is not over chat.queue_max. */
int em_chat_available(int64_t site_id, int64_t department_id);
/* 1 when the visitor has a conversation that is not closed. */
int em_chat_visitor_in_chat(int64_t site_id, const char *vid);
/* 1 when the visitor had a conversation since local midnight (UTC). */
int em_chat_visitor_chatted_today(int64_t site_id, const char *vid);
/* Sends obj to every chat socket of the visitor; returns how many got it. */
int em_chat_send_to_visitor(int64_t site_id, const char *vid, const json_t *obj);
/* The public name/avatar object of an operator (new reference), or null. */
json_t *em_chat_operator_public(int64_t operator_id);

/* Starts a conversation for an accepted invitation: assigned to operator_id
** when that operator is available (else routed as usual), linked to the
** invitation. Calls the visitor's sockets with the result. */
void em_chat_start_from_invitation(int64_t site_id, const char *vid, int64_t invitation_id,
				   int64_t operator_id, int64_t department_id);

/* Hook set by the invitation module: the pending invitation of a visitor as
** JSON (new reference) or NULL, sent in "hello". And the answers. */
typedef struct em_chat_invite_hooks {
	json_t *(*pending)(int64_t site_id, const char *vid);
	void (*shown)(int64_t site_id, const char *vid, const char *invitation);
	/* accepted=1 accept, 0 dismiss. */
	void (*answer)(int64_t site_id, const char *vid, const char *invitation, int accepted);
} em_chat_invite_hooks;
void em_chat_set_invite_hooks(const em_chat_invite_hooks *h);

/* ---- Figures ----------------------------------------------------------- */
int em_chat_visitor_sockets(void);
int em_chat_open_conversations(void);
int em_chat_pending_conversations(void);

#endif
