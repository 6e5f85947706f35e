/*
** Every route of emma serve, registered in one place (see routes.h).
*/
#include "api/routes.h"

#include "api/api.h"

void em_api_register_all(em_server *s)
{
	em_api_system_routes(s);
	em_api_ws_operator_routes(s);
	em_api_ws_visitor_routes(s);
	em_api_conversations_routes(s);
	em_api_faq_routes(s);
	em_api_help_routes(s);
	em_api_card_routes(s);
	em_api_track_routes(s);
	em_api_visitors_routes(s);
	em_api_stats_routes(s);
	em_api_sites_routes(s);
	em_api_auth_routes(s);
	em_api_operators_routes(s);
	em_api_tokens_routes(s);
	em_api_audit_routes(s);
	em_api_rules_routes(s);
	em_api_transcript_routes(s);
	em_api_privacy_routes(s);
	em_api_contacts_routes(s);
	em_api_notes_routes(s);
	em_api_callbacks_routes(s);
	em_api_webhooks_routes(s);
	em_api_csv_routes(s);
}
