/*
** The application: the objects one running `emma serve` is made of, handed to
** every HTTP handler through em_req_app(). Owned by main.c.
*/
#ifndef EM_APP_H
#define EM_APP_H

#include "core/config.h"

struct em_store;
struct em_server;
struct em_auth;

typedef struct em_app {
	em_config cfg;
	struct em_store *store;
	struct em_server *server;
	struct em_auth *auth; /* sessions, tokens, login limits (src/crm/auth.h) */
	int shutting_down;
	long long started_ms;
} em_app;

#endif
