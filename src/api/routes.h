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
/* The chat widget's WebSocket /ws/visitor (src/api/ws_visitor.c). */
void em_api_ws_visitor_routes(em_server *s);
/* Conversations, departments, canned responses, chat settings (src/api/conversations.c). */
void em_api_conversations_routes(em_server *s);
/* Knowledge base: articles, products, synonyms, search, votes (src/api/faq.c). */
void em_api_faq_routes(em_server *s);
/* The widget's business card, POST /api/v1/public/card (src/api/card.c). */
void em_api_card_routes(em_server *s);
/* The help centre's HTML pages under /help (src/api/help.c). */
void em_api_help_routes(em_server *s);
/* Tracking: /t, /t.gif, /emma.js (src/api/track.c). */
void em_api_track_routes(em_server *s);
/* Visitors: live list and profiles (src/api/visitors.c). */
void em_api_visitors_routes(em_server *s);
/* Site statistics for the console (src/api/stats.c). */
void em_api_stats_routes(em_server *s);
/* Sites: list, create, read, change, delete (src/api/sites.c). */
void em_api_sites_routes(em_server *s);
/* Invitation rules, stats, manual invitations, the invitation list (src/api/rules.c). */
void em_api_rules_routes(em_server *s);
/* Transcripts by e-mail: POST /api/v1/conversations/{id}/transcript (src/api/transcript.c). */
void em_api_transcript_routes(em_server *s);
/* Contacts, duplicates, merge, custom fields (src/api/contacts.c). */
void em_api_contacts_routes(em_server *s);
/* Notes and the contact timeline (src/api/notes.c). */
void em_api_notes_routes(em_server *s);
/* Call-me-back, incl. the widget's public endpoint (src/api/callbacks.c). */
void em_api_callbacks_routes(em_server *s);

/* Webhooks and their delivery log (src/api/webhooks.c). */
void em_api_webhooks_routes(em_server *s);
/* CSV import and export of contacts (src/api/csv.c). */
void em_api_csv_routes(em_server *s);
/* Privacy: export, erase, forget, consent records, retention (src/api/privacy.c). */
void em_api_privacy_routes(em_server *s);

#endif
