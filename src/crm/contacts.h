/*
** Contacts and leads (see docs/contacts.md): the people a shop knows.
**
** The functions ending in _db run inside a store function (writer thread for
** writes) so that a contact, the visitor link and the webhook outbox rows
** are committed in one transaction with whatever caused them (a business
** card, a callback request, a chat's pre-chat form, an identify event).
*/
#ifndef EM_CONTACTS_H
#define EM_CONTACTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define EM_CONTACT_NAME_MAX 127
#define EM_CONTACT_EMAIL_MAX 254
#define EM_CONTACT_PHONE_MAX 16 /* "+" and up to 15 digits (E.164) */
#define EM_CONTACT_COMPANY_MAX 127
#define EM_CONTACT_TAG_MAX 40
#define EM_CONTACT_TAGS_MAX 50

/* What a caller knows about a person; NULL = not given. */
typedef struct em_contact_input {
	const char *name, *email, *phone, *company;
	const char *stage;    /* lead | customer | lost | won_back */
	const char *source;   /* chat | card | callback | import | api | identify | offline */
	const char *owner;    /* operator public id */
	const json_t *tags;   /* array of strings */
	const json_t *custom; /* object */
	int consent_marketing, has_consent;
	const char *consent_wording;
} em_contact_input;

/* Normalisation; each returns 0 or EM_EINVAL with a message for the user.
** E-mail: trimmed, lowercased, one '@', a dot in the domain, no spaces.
** Phone: E.164 ("+4930123456"); national formats with spaces, dashes,
** dots and brackets are accepted when they start with '+' or "00". */
int em_contact_email(const char *in, char *out, size_t outlen, const char **why);
int em_contact_phone(const char *in, char *out, size_t outlen, const char **why);

/* Validates every field of in; on error sets *field (e.g. "tags[2]") and
** *why and returns EM_EINVAL. */
int em_contact_validate(const em_contact_input *in, const char **field, const char **why);

/* Inside a transaction: the site's contact with this normalised e-mail
** address, else phone number (NULL or "" = not given), following merges to
** the contact that is left; *id 0 when there is none. 0 or EM_EIO. */
int em_contacts_find_db(em_db *db, int64_t site_id, const char *email, const char *phone, int64_t *id);

/* Inside a write: finds the site's contact with the same e-mail (or else
** phone) or creates one; fills fields that were empty; links the visitor
** vid (may be NULL) to it; queues contact.created / lead.created webhooks
** when it is new. *created tells which. public_id gets the contact's id. */
int em_contacts_upsert_db(em_db *db, int64_t site_id, const em_contact_input *in, const char *vid,
			  int64_t *contact_id, char public_id[32], int *created);

/* Inside a write: links a visitor to a contact (and the visitor's
** conversations, notes and callbacks). */
int em_contacts_link_visitor_db(em_db *db, int64_t site_id, const char *vid, int64_t contact_id);

/* ---- Tracking (inside the sessionizer's write) ------------------------ */

/* An identify event with an e-mail: finds or creates the contact (source
** "identify") and links the visitor and its history to it. An address the
** contact rules reject is skipped (the visitor row keeps it); 0 then. */
int em_contacts_identify_db(em_db *db, int64_t site_id, const char *vid, const char *email, const char *name);
/* After the order event row event_id of visitor_id was stored: adds its
** total to the visitor's contact (once per order id) and moves the stage
** lead -> customer or lost -> won_back, recorded for the timeline. */
int em_contacts_order_db(em_db *db, int64_t visitor_id, int64_t event_id);
/* Recomputes lifetime_value and orders from the order events of every
** visitor linked to the contact (each order id counted once). */
int em_contacts_recount_db(em_db *db, int64_t contact_id);

/* ---- Reading and changing (src/api/contacts.c and the unit tests) ---- */

#define EM_CONTACT_CUSTOM_KEY_MAX 40
#define EM_CONTACT_CUSTOM_TEXT_MAX 1000
#define EM_CONTACT_WORDING_MAX 1000
#define EM_CONTACT_MERGE_MAX 20
#define EM_CONTACT_LIST_MAX 200

/* What identifies a stored contact. merged_into is 0 for a live one. */
typedef struct em_contact_ref {
	int64_t id, site_id, owner_id, merged_into;
	char public_id[32];
	char merged_public[32]; /* public id of the contact it was merged into */
} em_contact_ref;
/* EM_ENOTFOUND when there is no contact with this public id. */
int em_contacts_ref_db(em_db *db, const char *public_id, em_contact_ref *out);
/* The public JSON shape of a contact (docs/contacts.md), or NULL. */
json_t *em_contacts_json_db(em_db *db, int64_t contact_id);
/* An operator's row id by public id: 0, or EM_ENOTFOUND. */
int em_contacts_operator_db(em_db *db, const char *public_id, int64_t *id);

/* A page of the contact list, newest first. Strings are the caller's. */
typedef struct em_contact_query {
	int64_t site_id;     /* 0 = every site */
	const char *q;	     /* search text; NULL or "" = none */
	const char *stage;   /* NULL or "" = any */
	const char *tag;     /* NULL or "" = any */
	int64_t owner_id;    /* 0 = any, -1 = without owner */
	int64_t cursor;	     /* 0 = from the newest */
	int limit;	     /* 1..EM_CONTACT_LIST_MAX */
	json_t *out;	     /* result: array of contacts */
	int64_t next_cursor; /* 0 = no more */
} em_contact_query;
int em_contacts_search_db(em_db *db, em_contact_query *q);

/* Another live contact of the site with this e-mail or else phone (both
** normalised; NULL or "" = not compared), except row `except`. Returns 0
** when none, EM_EEXIST with existing and *field ("email" / "phone") set. */
int em_contacts_conflict_db(em_db *db, int64_t site_id, const char *email, const char *phone, int64_t except,
			    char existing[32], const char **field);
/* Checks custom values against the site's custom_field definitions; on
** EM_EINVAL field ("custom.size") and *why say what is wrong. */
int em_contacts_check_custom_db(em_db *db, int64_t site_id, const json_t *custom, char field[80],
				const char **why);
/* Creates a contact without looking for duplicates; queues contact.created
** (and lead.created for a lead). operator_id (0 = none) is recorded as the
** author of the creation. */
int em_contacts_create_db(em_db *db, int64_t site_id, const em_contact_input *in, int64_t operator_id,
			  int64_t *contact_id, char public_id[32]);
/* Changes the given fields of a live contact: NULL = unchanged; "" clears
** e-mail, phone, company and owner; tags replace the contact's tags; custom
** keys are merged (a null value removes a key). A stage change is recorded
** in contact_event; contact.updated is queued. */
int em_contacts_update_db(em_db *db, int64_t contact_id, const em_contact_input *in, int64_t operator_id);
/* Merges the contacts `from` into target: visitor links, conversations,
** notes, callbacks, consent records, timeline events and tags move over,
** empty fields are filled, lifetime value and orders are recounted. The
** sources keep their row with merged_into set. EM_EINVAL when a source is
** the target, merged already or of another site. */
int em_contacts_merge_db(em_db *db, int64_t target, const int64_t *from, size_t n, int64_t operator_id);
/* Live contacts of the same site with the same e-mail, the same phone or
** the same name and company (compared case- and space-insensitively); each
** carries "reasons". */
int em_contacts_duplicates_db(em_db *db, int64_t contact_id, json_t **out);

#endif
