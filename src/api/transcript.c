/*
** POST /api/v1/conversations/{id}/transcript {"email"}: an operator mails a
** conversation's transcript (docs/chat.md). Thin: validate, call
** src/chat/transcript, answer once the mail relay accepted the message.
** Admins may send any conversation, agents the queue and their own; every
** transcript sent is written to the audit log.
*/
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "chat/transcript.h"
#include "core/alloc.h"
#include "core/err.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/mail.h"
#include "crm/operators.h"

typedef struct send_ctx {
	em_req *r;
	em_app *app;
	int64_t operator_id;
	char conv[32];
	char to[EM_MAIL_ADDR_MAX + 1];
	char ip[64];
} send_ctx;

static void sent(int status, void *arg)
{
	send_ctx *c = arg;
	em_req *r = c->r;
	switch (status) {
	case 0:
		em_audit(c->app, c->operator_id, "conversation.transcript", c->conv, c->ip, c->to);
		em_resp_json(r, 200,
			     json_pack("{s:s, s:s, s:b}", "conversation", c->conv, "to", c->to, "sent", 1));
		break;
	case EM_EINVAL:
		em_resp_error(r, 422, "invalid", "email must be an address like name@example.org", "email");
		break;
	case EM_ECLOSED:
		em_resp_error(r, 503, "unavailable", "sending e-mail is not configured on this server", NULL);
		break;
	case EM_ENOTFOUND: em_resp_error(r, 404, "not_found", "no such conversation", NULL); break;
	case EM_EPERM: em_resp_error(r, 403, "forbidden", "this conversation is not yours", NULL); break;
	case EM_EAGAIN:
		em_resp_error(r, 503, "unavailable", "too many mails are waiting, try again later", NULL);
		break;
	default:
		em_resp_error(r, 503, "unavailable", "the mail server did not accept the transcript", NULL);
		break;
	}
	em_free(c);
}

static void h_transcript(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *email;
	if (em_api_str_field(r, body, "email", 1, EM_MAIL_ADDR_MAX, &email)) {
		json_decref(body);
		return;
	}
	if (!em_mail_address_ok(email)) {
		json_decref(body);
		em_resp_error(r, 422, "invalid", "email must be an address like name@example.org", "email");
		return;
	}
	if (strlen(em_req_param(r, "id")) >= sizeof((send_ctx *)0)->conv) {
		json_decref(body);
		em_resp_error(r, 404, "not_found", "no such conversation", NULL);
		return;
	}
	send_ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->operator_id = p->operator_id;
	snprintf(c->conv, sizeof c->conv, "%s", em_req_param(r, "id"));
	snprintf(c->to, sizeof c->to, "%s", email);
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	json_decref(body);
	em_chat_transcript_as(c->app, c->conv, c->to, p->role == EM_ROLE_ADMIN ? NULL : p->public_id, sent,
			      c);
}

void em_api_transcript_routes(em_server *s)
{
	em_server_route(s, EM_POST, "/api/v1/conversations/{id}/transcript", h_transcript);
}
