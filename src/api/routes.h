/*
** Registers every HTTP route of the server. One place lists them all, so a
** reader sees the whole surface of emma serve at a glance (src/api/routes.c).
*/
#ifndef EM_ROUTES_H
#define EM_ROUTES_H

#include "net/http.h"

void em_api_register_all(em_server *s);

/* System routes: /healthz, /metrics, console assets (src/api/system.c). */
void em_api_system_routes(em_server *s);
/* The operator WebSocket /ws/operator (src/api/ws_operator.c). */
void em_api_ws_operator_routes(em_server *s);
/* Tracking: /t, /t.gif, /emma.js (src/api/track.c). */
void em_api_track_routes(em_server *s);
/* Visitors: live list and profiles (src/api/visitors.c). */
void em_api_visitors_routes(em_server *s);
/* Site statistics for the console (src/api/stats.c). */
void em_api_stats_routes(em_server *s);

#endif
