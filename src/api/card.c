/*
** POST /api/v1/public/card: the business card a visitor may leave in the
** widget (docs/contacts.md, "Business card"). Never required, always public:
** the site's origin check as for /t, a few cards per address.
**
** One write creates or updates the lead (matched by e-mail, else phone),
** links the visitor's whole anonymous history to it, records the consent
** with its wording, keeps the message as a note, and queues the webhooks;
** after COMMIT the operators' consoles get a "lead" event.
*/
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "crm/auth.h"
#include "crm/contacts.h"
#include "crm/webhooks.h"
#include "live/hub.h"
#include "track/sites.h"

#define CARDS_PER_WINDOW 5
#define CARD_WINDOW_MS (10 * 60 * 1000)
#define MESSAGE_MAX 2000
#define WORDING_MAX 1000

static em_ratelimit *limit;

typedef struct card {
	em_req *r;
	int64_t site_id;
	char vid[64];
	char *name, *email, *phone, *company, *message, *wording;
	int consent;
	/* out */
	int64_t contact_id;
	char contact[32];
	int created;
} card;

static void card_free(card *c)
{
	em_free(c->name);
	em_free(c->email);
	em_free(c->phone);
	em_free(c->company);
	em_free(c->message);
	em_free(c->wording);
	em_free(c);
}

static int card_fn(em_db *db, void *arg)
{
	card *c = arg;
	int64_t now = em_now_ms();
	em_contact_input in = {.name = c->name,
			       .email = c->email,
			       .phone = c->phone,
			       .company = c->company,
			       .source = "card",
			       .consent_marketing = c->consent,
			       .has_consent = 1,
			       .consent_wording = c->wording};
	int rc = em_contacts_upsert_db(db, c->site_id, &in, c->vid, &c->contact_id, c->contact, &c->created);
	if (rc)
		return rc;
	if (em_db_exec(
		    db,
		    "INSERT INTO consent_record (site_id, contact_id, vid, purpose, granted, wording, source,"
		    " created_at) VALUES (?, ?, ?, 'contact', ?, ?, 'card', ?)",
		    "iitIti", c->site_id, c->contact_id, c->vid, c->consent, c->wording ? c->wording : "",
		    now))
		return EM_EIO;
	if (c->message && *c->message) {
		char nid[32] = "n";
		em_id_random(nid + 1, sizeof nid - 1, 8);
		char body[MESSAGE_MAX + 64];
		snprintf(body, sizeof body, "Business card: %s", c->message);
		if (em_db_exec(db,
			       "INSERT INTO note (public_id, site_id, contact_id, vid, author_id, body, "
			       "created_at,"
			       " updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
			       "tiittii", nid, c->site_id, c->contact_id, c->vid, body, now, now))
			return EM_EIO;
	}
	return 0;
}

static void card_done(int status, void *arg)
{
	card *c = arg;
	if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		em_webhooks_kick();
		const em_site *s = em_sites_by_id(c->site_id);
		json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:b, s:s}", "type",
				       "lead", "source", "card", "contact", "id", c->contact, "name",
				       c->name ? c->name : "", "email", c->email ? c->email : "", "phone",
				       c->phone ? c->phone : "", "company", c->company ? c->company : "",
				       "vid", c->vid, "created", c->created, "site", s ? s->key : "");
		em_hub_publish(ev, 0);
		json_decref(ev);
		em_resp_json(c->r, 201, json_pack("{s:{s:s}}", "contact", "id", c->contact));
	}
	card_free(c);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? em_strdup(s) : NULL;
}

static void h_card(em_req *r)
{
	em_api_public_cors(r);
	int64_t now = em_now_ms();
	if (!limit)
		limit = em_ratelimit_new(4096, CARDS_PER_WINDOW, CARD_WINDOW_MS);
	int wait = em_ratelimit_blocked(limit, em_req_client_ip(r), now);
	if (wait) {
		em_api_rate_limited(r, wait, "too many cards from this address; try again later");
		return;
	}
	json_t *body = em_api_public_json(r);
	if (!body)
		return;
	const char *site, *vid, *name, *email, *phone, *company, *message, *wording;
	int consent = 0, present;
	if (em_api_str_field(r, body, "site", 1, EM_SITE_KEY_MAX, &site) ||
	    em_api_str_field(r, body, "vid", 0, 63, &vid) ||
	    em_api_str_field(r, body, "name", 0, EM_CONTACT_NAME_MAX, &name) ||
	    em_api_str_field(r, body, "email", 0, EM_CONTACT_EMAIL_MAX, &email) ||
	    em_api_str_field(r, body, "phone", 0, 40, &phone) ||
	    em_api_str_field(r, body, "company", 0, EM_CONTACT_COMPANY_MAX, &company) ||
	    em_api_str_field(r, body, "message", 0, MESSAGE_MAX, &message) ||
	    em_api_str_field(r, body, "wording", 0, WORDING_MAX, &wording) ||
	    em_api_bool_field(r, body, "consent", &consent, &present))
		goto out;
	const em_site *s = em_sites_find(site);
	if (!s) {
		em_resp_error(r, 422, "invalid_field", "unknown site", "site");
		goto out;
	}
	if (!em_sites_origin_allowed(s, em_api_page_origin(r))) {
		em_resp_error(r, 403, "forbidden", "this page's origin may not send data for the site",
			      "site");
		goto out;
	}
	char em[EM_CONTACT_EMAIL_MAX + 1] = "", ph[EM_CONTACT_PHONE_MAX + 1] = "";
	const char *why;
	if (email && *email && em_contact_email(email, em, sizeof em, &why)) {
		em_resp_error(r, 422, "invalid_field", why, "email");
		goto out;
	}
	if (phone && *phone && em_contact_phone(phone, ph, sizeof ph, &why)) {
		em_resp_error(r, 422, "invalid_field", why, "phone");
		goto out;
	}
	if (!em[0] && !ph[0]) {
		em_resp_error(r, 422, "invalid_field", "leave an e-mail address or a phone number", "email");
		goto out;
	}
	if (consent && (!wording || !*wording)) {
		em_resp_error(r, 422, "invalid_field", "consent needs the wording the visitor agreed to",
			      "wording");
		goto out;
	}
	em_ratelimit_hit(limit, em_req_client_ip(r), now);
	card *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->site_id = s->id;
	snprintf(c->vid, sizeof c->vid, "%s", vid ? vid : "");
	c->name = dup_or_null(name);
	c->email = dup_or_null(em);
	c->phone = dup_or_null(ph);
	c->company = dup_or_null(company);
	c->message = dup_or_null(message);
	c->wording = dup_or_null(wording);
	c->consent = consent;
	if (em_api_store(r, 1, card_fn, card_done, c))
		card_free(c);
out:
	json_decref(body);
}

void em_api_card_routes(em_server *s)
{
	em_server_route(s, EM_POST, "/api/v1/public/card", h_card);
	em_server_route(s, EM_OPTIONS, "/api/v1/public/card", em_api_public_preflight);
}
