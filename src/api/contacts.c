/*
** REST for contacts and leads (docs/contacts.md): list and search, create,
** read, change, duplicates, merge, and the site's custom field definitions.
** Thin: validate the request, run one store function from crm/contacts.h,
** answer. Erase and export (privacy), notes and the timeline live in their
** own files.
**
** Who may do what: everyone signed in reads contacts and creates them;
** agents change contacts they own or that have no owner, and may only take
** or give up ownership themselves; merging needs an admin or the owner of
** every contact involved; custom field definitions are admin-only.
*/
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "app.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "crm/contacts.h"
#include "crm/operators.h"
#include "crm/webhooks.h"
#include "track/sites.h"

#define LIST_DEFAULT 50
#define QUERY_MAX 200
#define LABEL_MAX 127
#define VISITORS_MAX 100

typedef struct ctx {
	em_req *r;
	em_app *app;
	int64_t operator_id;
	char operator_public[32];
	int is_admin;
	char ip[64];
	char id[32]; /* contact public id from the path, or a custom field key */
	int64_t site_id;
	json_t *in; /* the request body (owned) */
	em_contact_input input;
	int allow_duplicate;
	char owner_param[32];
	em_contact_query q;
	char *qtext, *stage, *tag; /* owned copies for the reader thread */
	int64_t from[EM_CONTACT_MERGE_MAX];
	size_t nfrom;
	/* Outcome, answered on the loop. */
	int ok_status;
	json_t *out;
	int http; /* an error to answer (0 = none) */
	char code[24];
	char msg[256];
	char field[80];
	json_t *extra; /* members added to the error body */
	const char *audit;
	char audit_detail[256];
	int kick;
} ctx;

static ctx *ctx_new(em_req *r, const em_principal *p, int ok_status)
{
	ctx *c = em_calloc(1, sizeof *c);
	c->r = r;
	c->app = em_req_app(r);
	c->operator_id = p->operator_id;
	snprintf(c->operator_public, sizeof c->operator_public, "%s", p->public_id);
	c->is_admin = p->role == EM_ROLE_ADMIN;
	snprintf(c->ip, sizeof c->ip, "%s", em_req_client_ip(r));
	c->ok_status = ok_status;
	return c;
}

static void ctx_free(ctx *c)
{
	json_decref(c->in);
	json_decref(c->out);
	json_decref(c->extra);
	em_free(c->qtext);
	em_free(c->stage);
	em_free(c->tag);
	em_free(c);
}

/* Records an error for the loop to answer; returns the status that makes
** the store roll the write back. */
static int refuse(ctx *c, int http, const char *code, const char *field, const char *msg)
{
	c->http = http;
	snprintf(c->code, sizeof c->code, "%s", code);
	snprintf(c->field, sizeof c->field, "%s", field ? field : "");
	snprintf(c->msg, sizeof c->msg, "%s", msg);
	return EM_EINVAL;
}

static int refuse_merged(ctx *c, const em_contact_ref *ref)
{
	char m[128];
	snprintf(m, sizeof m, "this contact was merged into %s", ref->merged_public);
	c->extra = json_pack("{s:s}", "merged_into", ref->merged_public);
	return refuse(c, 409, "merged", NULL, m);
}

static void done(int status, void *arg)
{
	ctx *c = arg;
	if (c->http) {
		json_t *body = em_json_error(c->code, c->msg, c->field[0] ? c->field : NULL);
		if (c->extra)
			json_object_update(body, c->extra);
		em_resp_json(c->r, c->http, body);
	} else if (status) {
		em_api_fail(c->r, status, NULL, NULL);
	} else {
		if (c->kick)
			em_webhooks_kick();
		if (c->audit)
			em_audit(c->app, c->operator_id, c->audit, c->id, c->ip, c->audit_detail);
		if (c->ok_status == 204)
			em_resp_empty(c->r, 204);
		else
			em_resp_json(c->r, c->ok_status, json_incref(c->out));
	}
	ctx_free(c);
}

static void run(ctx *c, em_db_fn fn, int write)
{
	if (em_api_store(c->r, write, fn, done, c))
		ctx_free(c);
}

/* ---- Request input ------------------------------------------------------ */

/* Reads a string member: absent -> NULL; null -> "" when null_clears (else
** NULL); a string -> itself. -1 after answering 422. */
static int str_member(em_req *r, const json_t *body, const char *key, int null_clears, const char **out)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v)
		return 0;
	if (json_is_null(v)) {
		*out = null_clears ? "" : NULL;
		return 0;
	}
	char m[96];
	if (!json_is_string(v)) {
		snprintf(m, sizeof m, "%s must be a string", key);
		em_resp_error(r, 422, "invalid_field", m, key);
		return -1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v) || json_string_length(v) > 4096) {
		snprintf(m, sizeof m, "%s must be text without NUL characters, at most 4096 bytes", key);
		em_resp_error(r, 422, "invalid_field", m, key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static const char *const body_keys[] = {"site",
					"name",
					"email",
					"phone",
					"company",
					"stage",
					"owner",
					"source",
					"tags",
					"custom",
					"consent_marketing",
					"consent_wording",
					"allow_duplicate",
					NULL};

/* Fills c->input from the body; -1 after answering. patch: null clears. */
static int read_input(em_req *r, ctx *c, json_t *body, int patch)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		int known = 0;
		for (int i = 0; body_keys[i]; i++)
			known |= !strcmp(k, body_keys[i]);
		if (!known || (patch && (!strcmp(k, "site") || !strcmp(k, "source")))) {
			char m[128];
			snprintf(m, sizeof m, "unknown field '%.60s'", k);
			em_resp_error(r, 422, "invalid_field", m, k);
			return -1;
		}
	}
	c->in = json_incref(body);
	em_contact_input *in = &c->input;
	const char *consent_wording;
	if (str_member(r, body, "name", patch, &in->name) ||
	    str_member(r, body, "email", patch, &in->email) ||
	    str_member(r, body, "phone", patch, &in->phone) ||
	    str_member(r, body, "company", patch, &in->company) ||
	    str_member(r, body, "stage", 0, &in->stage) || str_member(r, body, "owner", 1, &in->owner) ||
	    str_member(r, body, "source", 0, &in->source) ||
	    str_member(r, body, "consent_wording", 0, &consent_wording))
		return -1;
	in->consent_wording = consent_wording;
	json_t *t = json_object_get(body, "tags");
	in->tags = json_is_null(t) ? NULL : t;
	json_t *cu = json_object_get(body, "custom");
	in->custom = json_is_null(cu) ? NULL : cu;
	int present = 0, dup = 0;
	if (em_api_bool_field(r, body, "consent_marketing", &in->consent_marketing, &present) ||
	    em_api_bool_field(r, body, "allow_duplicate", &dup, &(int){0}))
		return -1;
	in->has_consent = present;
	c->allow_duplicate = dup;
	const char *field, *why;
	if (em_contact_validate(in, &field, &why)) {
		em_resp_error(r, 422, "invalid_field", why, field);
		return -1;
	}
	/* Agents take or give up ownership only themselves. */
	if (in->owner && *in->owner && !c->is_admin && strcmp(in->owner, c->operator_public)) {
		em_resp_error(r, 403, "forbidden", "agents may only make themselves the owner of a contact",
			      "owner");
		return -1;
	}
	return 0;
}

/* Normalised e-mail and phone of the input ("" when not given). */
static void norm_ids(const em_contact_input *in, char *email, char *phone)
{
	const char *why;
	email[0] = phone[0] = '\0';
	if (in->email && *in->email)
		em_contact_email(in->email, email, EM_CONTACT_EMAIL_MAX + 2, &why);
	if (in->phone && *in->phone)
		em_contact_phone(in->phone, phone, EM_CONTACT_PHONE_MAX + 2, &why);
}

static int duplicate(ctx *c, const char *existing, const char *field)
{
	char m[200];
	snprintf(m, sizeof m,
		 "a contact with this %s exists already (%s); send \"allow_duplicate\": true to keep both",
		 !strcmp(field, "email") ? "e-mail address" : "phone number", existing);
	c->extra = json_pack("{s:s}", "existing_id", existing);
	return refuse(c, 409, "duplicate", field, m);
}

/* Resolves the contact of the path: it exists and was not merged away. */
static int live_ref(em_db *db, ctx *c, em_contact_ref *ref)
{
	int rc = em_contacts_ref_db(db, c->id, ref);
	if (rc == EM_ENOTFOUND)
		return refuse(c, 404, "not_found", NULL, "no such contact");
	if (rc)
		return rc;
	return ref->merged_into ? refuse_merged(c, ref) : 0;
}

/* Resolves the contact of the path for a change: live, and the actor may
** change it. */
static int editable(em_db *db, ctx *c, em_contact_ref *ref)
{
	int rc = live_ref(db, c, ref);
	if (rc)
		return rc;
	if (!c->is_admin && ref->owner_id && ref->owner_id != c->operator_id)
		return refuse(c, 403, "forbidden", NULL, "this contact belongs to another operator");
	return 0;
}

/* Checks what a create or a change writes: the owner exists, the custom
** fields are the site's, and (unless allowed) no other contact of the site
** has the e-mail address or phone number. self_id is the contact changed
** (0 on create), which must not count as its own duplicate. */
static int check_input(em_db *db, ctx *c, int64_t site_id, int64_t self_id)
{
	int64_t id;
	if (c->input.owner && *c->input.owner && em_contacts_operator_db(db, c->input.owner, &id))
		return refuse(c, 422, "invalid_field", "owner", "no operator with this id");
	int rc;
	char field[80];
	const char *why;
	if (c->input.custom && (rc = em_contacts_check_custom_db(db, site_id, c->input.custom, field, &why)))
		return rc == EM_EINVAL ? refuse(c, 422, "invalid_field", field, why) : rc;
	if (c->allow_duplicate)
		return 0;
	char email[EM_CONTACT_EMAIL_MAX + 2], phone[EM_CONTACT_PHONE_MAX + 2], existing[32];
	const char *f;
	norm_ids(&c->input, email, phone);
	rc = em_contacts_conflict_db(db, site_id, email, phone, self_id, existing, &f);
	return rc == EM_EEXIST ? duplicate(c, existing, f) : rc;
}

/* ---- List ---------------------------------------------------------------- */

static int list_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	if (c->owner_param[0]) {
		if (em_contacts_operator_db(db, c->owner_param, &c->q.owner_id))
			return refuse(c, 422, "invalid_field", "owner", "no operator with this id");
	}
	c->q.q = c->qtext;
	c->q.stage = c->stage;
	c->q.tag = c->tag;
	int rc = em_contacts_search_db(db, &c->q);
	if (rc)
		return rc;
	c->out = json_pack("{s:O}", "contacts", c->q.out);
	json_decref(c->q.out);
	c->q.out = NULL;
	if (c->q.next_cursor) {
		char cur[32];
		snprintf(cur, sizeof cur, "%lld", (long long)c->q.next_cursor);
		json_object_set_new(c->out, "next_cursor", json_string(cur));
	} else {
		json_object_set_new(c->out, "next_cursor", json_null());
	}
	return 0;
}

/* The site named by ?site= (or "site" in a body); 0 = none given. -1 after
** answering 422. */
static int64_t site_param(em_req *r, const char *key)
{
	if (!key || !*key)
		return 0;
	const em_site *s = em_sites_find(key);
	if (!s) {
		em_resp_error(r, 422, "invalid_field", "no such site", "site");
		return -1;
	}
	return s->id;
}

static void h_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	const char *q = em_req_query_param(r, "q"), *stage = em_req_query_param(r, "stage");
	const char *tag = em_req_query_param(r, "tag"), *owner = em_req_query_param(r, "owner");
	if (q && strlen(q) > QUERY_MAX) {
		em_resp_error(r, 422, "invalid_field", "q has at most 200 bytes", "q");
		return;
	}
	if (stage && *stage && strcmp(stage, "lead") && strcmp(stage, "customer") && strcmp(stage, "lost") &&
	    strcmp(stage, "won_back")) {
		em_resp_error(r, 422, "invalid_field", "stage is one of lead, customer, lost, won_back",
			      "stage");
		return;
	}
	if (tag && strlen(tag) > EM_CONTACT_TAG_MAX * 4) {
		em_resp_error(r, 422, "invalid_field", "a tag has at most 40 characters", "tag");
		return;
	}
	if (owner && strlen(owner) > 31) {
		em_resp_error(r, 422, "invalid_field", "owner is an operator id, me or none", "owner");
		return;
	}
	int64_t site = site_param(r, em_req_query_param(r, "site"));
	if (site < 0)
		return;
	long long limit = em_api_query_range(r, "limit", LIST_DEFAULT, 1, EM_CONTACT_LIST_MAX);
	if (limit < 0)
		return;
	long long cursor = em_api_query_range(r, "cursor", 0, 0, (long long)1 << 62);
	if (cursor < 0)
		return;
	ctx *c = ctx_new(r, p, 200);
	c->q.site_id = site;
	c->q.limit = (int)limit;
	c->q.cursor = cursor;
	c->qtext = em_strdup(q ? q : "");
	c->stage = em_strdup(stage ? stage : "");
	c->tag = em_strdup(tag ? tag : "");
	if (owner && !strcmp(owner, "me"))
		c->q.owner_id = p->operator_id;
	else if (owner && !strcmp(owner, "none"))
		c->q.owner_id = -1;
	else if (owner && *owner)
		snprintf(c->owner_param, sizeof c->owner_param, "%s", owner);
	run(c, list_fn, 0);
}

/* ---- Create --------------------------------------------------------------- */

static int create_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	int rc;
	if ((rc = check_input(db, c, c->site_id, 0)))
		return rc;
	int64_t id;
	if ((rc = em_contacts_create_db(db, c->site_id, &c->input, c->operator_id, &id, c->id)))
		return rc;
	json_t *ct = em_contacts_json_db(db, id);
	if (!ct)
		return EM_EIO;
	c->out = json_pack("{s:o}", "contact", ct);
	c->kick = 1;
	return 0;
}

static void h_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	ctx *c = ctx_new(r, p, 201);
	const char *site;
	if (read_input(r, c, body, 0) || str_member(r, body, "site", 0, &site)) {
		json_decref(body);
		ctx_free(c);
		return;
	}
	json_decref(body);
	const em_contact_input *in = &c->input;
	if (!(in->name && *in->name) && !(in->email && *in->email) && !(in->phone && *in->phone)) {
		em_resp_error(r, 422, "missing_field",
			      "a contact needs a name, an e-mail address or a phone number", "name");
		ctx_free(c);
		return;
	}
	if (site) {
		if ((c->site_id = site_param(r, site)) < 0) {
			ctx_free(c);
			return;
		}
	} else {
		const em_site *first = NULL;
		if (em_sites_list(&first, 1) != 1) {
			em_resp_error(r, 422, "invalid_field", "create a site first", "site");
			ctx_free(c);
			return;
		}
		c->site_id = first->id;
	}
	if (!in->source)
		c->input.source = "api";
	run(c, create_fn, 1);
}

/* ---- Read, change ----------------------------------------------------------- */

static int get_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	em_contact_ref ref;
	int rc = live_ref(db, c, &ref);
	if (rc)
		return rc;
	json_t *ct = em_contacts_json_db(db, ref.id);
	if (!ct)
		return EM_EIO;
	json_t *vids = json_array();
	em_stmt *st = em_db_prepare(
		db, "SELECT vid FROM visitor WHERE contact_id = ? ORDER BY last_seen DESC LIMIT ?", "ii",
		ref.id, (int64_t)VISITORS_MAX);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(vids, json_string(em_stmt_text(st, 0)));
	em_stmt_done(st);
	json_object_set_new(ct, "visitors", vids);
	c->out = json_pack("{s:o}", "contact", ct);
	return rc < 0 ? EM_EIO : 0;
}

static void h_get(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	ctx *c = ctx_new(r, p, 200);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	run(c, get_fn, 0);
}

static int patch_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	em_contact_ref ref;
	int rc;
	if ((rc = editable(db, c, &ref)) || (rc = check_input(db, c, ref.site_id, ref.id)))
		return rc;
	if ((rc = em_contacts_update_db(db, ref.id, &c->input, c->operator_id)))
		return rc;
	json_t *ct = em_contacts_json_db(db, ref.id);
	if (!ct)
		return EM_EIO;
	c->out = json_pack("{s:o}", "contact", ct);
	c->kick = 1;
	return 0;
}

static void h_patch(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	ctx *c = ctx_new(r, p, 200);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	int bad = read_input(r, c, body, 1);
	json_decref(body);
	if (bad) {
		ctx_free(c);
		return;
	}
	run(c, patch_fn, 1);
}

/* ---- Duplicates and merge ----------------------------------------------- */

static int dups_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	em_contact_ref ref;
	int rc = live_ref(db, c, &ref);
	if (rc)
		return rc;
	json_t *list;
	if ((rc = em_contacts_duplicates_db(db, ref.id, &list)))
		return rc;
	c->out = json_pack("{s:o}", "duplicates", list);
	return 0;
}

static void h_duplicates(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	ctx *c = ctx_new(r, p, 200);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	run(c, dups_fn, 0);
}

static int merge_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	em_contact_ref target;
	int rc = live_ref(db, c, &target);
	if (rc)
		return rc;
	int mine = c->is_admin || target.owner_id == c->operator_id;
	json_t *from = json_object_get(c->in, "from");
	size_t i;
	json_t *v;
	json_array_foreach(from, i, v)
	{
		char f[32], m[128];
		snprintf(f, sizeof f, "from[%zu]", i);
		em_contact_ref s;
		rc = em_contacts_ref_db(db, json_string_value(v), &s);
		if (rc == EM_ENOTFOUND)
			return refuse(c, 422, "invalid_field", f, "no such contact");
		if (rc)
			return rc;
		if (s.id == target.id)
			return refuse(c, 422, "invalid_field", f, "a contact cannot be merged into itself");
		for (size_t k = 0; k < c->nfrom; k++)
			if (c->from[k] == s.id)
				return refuse(c, 422, "invalid_field", f, "this contact is listed twice");
		if (s.merged_into) {
			snprintf(m, sizeof m, "this contact was merged into %s already", s.merged_public);
			return refuse(c, 422, "invalid_field", f, m);
		}
		if (s.site_id != target.site_id)
			return refuse(c, 422, "invalid_field", f, "this contact belongs to another site");
		if (!c->is_admin && s.owner_id && s.owner_id != c->operator_id)
			mine = 0;
		c->from[c->nfrom++] = s.id;
		if (i)
			snprintf(c->audit_detail + strlen(c->audit_detail),
				 sizeof c->audit_detail - strlen(c->audit_detail), ",");
		snprintf(c->audit_detail + strlen(c->audit_detail),
			 sizeof c->audit_detail - strlen(c->audit_detail), "%s", s.public_id);
	}
	if (!mine)
		return refuse(c, 403, "forbidden", NULL,
			      "merging needs an admin, or the owner of the contact and of every contact "
			      "merged into it");
	if ((rc = em_contacts_merge_db(db, target.id, c->from, c->nfrom, c->operator_id)))
		return rc;
	json_t *ct = em_contacts_json_db(db, target.id);
	if (!ct)
		return EM_EIO;
	c->out = json_pack("{s:o}", "contact", ct);
	c->kick = 1;
	c->audit = "contact.merge";
	return 0;
}

static void h_merge(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	json_t *from = json_object_get(body, "from");
	const char *err = NULL, *field = "from";
	char f[32];
	if (!json_is_array(from) || json_array_size(from) == 0)
		err = "from is a list of 1 to 20 contact ids";
	else if (json_array_size(from) > EM_CONTACT_MERGE_MAX)
		err = "at most 20 contacts are merged at once";
	size_t i;
	json_t *v;
	if (!err)
		json_array_foreach(from, i, v) if (!json_is_string(v) || json_string_length(v) == 0 ||
						   json_string_length(v) > 31)
		{
			snprintf(f, sizeof f, "from[%zu]", i);
			field = f;
			err = "expected a contact id";
			break;
		}
	if (err) {
		em_resp_error(r, 422, "invalid_field", err, field);
		json_decref(body);
		return;
	}
	ctx *c = ctx_new(r, p, 200);
	snprintf(c->id, sizeof c->id, "%s", em_req_param(r, "id"));
	c->in = body;
	run(c, merge_fn, 1);
}

/* ---- Custom field definitions -------------------------------------------- */

static int key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > EM_CONTACT_CUSTOM_KEY_MAX || !(k[0] >= 'a' && k[0] <= 'z'))
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	return 1;
}

static json_t *field_row(em_stmt *st)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "key", em_stmt_text(st, 0), "label", em_stmt_text(st, 1),
			 "type", em_stmt_text(st, 2), "site", em_stmt_text(st, 3));
}

static int fields_list_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	json_t *list = json_array();
	c->out = json_pack("{s:o}", "custom_fields", list);
	em_stmt *st = em_db_prepare(
		db,
		"SELECT f.key, f.label, f.type, s.key FROM custom_field f JOIN site s ON s.id = f.site_id"
		" WHERE ? = 0 OR f.site_id = ? ORDER BY s.key, f.key",
		"ii", c->site_id, c->site_id);
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(list, field_row(st));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void h_fields_list(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ANY);
	if (!p)
		return;
	int64_t site = site_param(r, em_req_query_param(r, "site"));
	if (site < 0)
		return;
	ctx *c = ctx_new(r, p, 200);
	c->site_id = site;
	run(c, fields_list_fn, 0);
}

static int field_create_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	int rc = em_db_exec(db, "INSERT INTO custom_field (site_id, key, label, type) VALUES (?, ?, ?, ?)",
			    "ittt", c->site_id, em_json_str(c->in, "key", ""),
			    em_json_str(c->in, "label", ""), em_json_str(c->in, "type", ""));
	if (rc == EM_EEXIST)
		return refuse(c, 409, "conflict", "key", "a custom field with this key exists already");
	if (rc)
		return EM_EIO;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT f.key, f.label, f.type, s.key FROM custom_field f JOIN site s ON s.id = f.site_id"
		" WHERE f.id = ?",
		"i", em_db_last_id(db));
	if (em_stmt_step(st) == 1)
		c->out = json_pack("{s:o}", "custom_field", field_row(st));
	em_stmt_done(st);
	return c->out ? 0 : EM_EIO;
}

static void h_field_create(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	json_t *body = em_req_json(r);
	if (!body)
		return;
	const char *key, *label, *type, *site;
	if (em_api_str_field(r, body, "key", 1, EM_CONTACT_CUSTOM_KEY_MAX, &key) ||
	    em_api_str_field(r, body, "label", 1, LABEL_MAX * 4, &label) ||
	    em_api_str_field(r, body, "type", 1, 8, &type) ||
	    em_api_str_field(r, body, "site", 0, EM_SITE_KEY_MAX, &site)) {
		json_decref(body);
		return;
	}
	const char *err = NULL, *field = NULL;
	if (!key_ok(key))
		err = "key is 1-40 of a-z, 0-9 and _, starting with a letter", field = "key";
	else if (strcmp(type, "text") && strcmp(type, "number") && strcmp(type, "date") &&
		 strcmp(type, "bool"))
		err = "type is one of text, number, date, bool", field = "type";
	else
		for (const char *s = label; *s; s++)
			if ((unsigned char)*s < 0x20)
				err = "label must not contain control characters", field = "label";
	int64_t site_id = 0;
	if (!err && site && (site_id = site_param(r, site)) < 0) {
		json_decref(body);
		return;
	}
	if (!err && !site) {
		const em_site *first = NULL;
		if (em_sites_list(&first, 1) == 1)
			site_id = first->id;
		else
			err = "create a site first", field = "site";
	}
	if (err) {
		em_resp_error(r, 422, "invalid_field", err, field);
		json_decref(body);
		return;
	}
	ctx *c = ctx_new(r, p, 201);
	c->site_id = site_id;
	c->in = body;
	snprintf(c->id, sizeof c->id, "%s", key);
	c->audit = "custom_field.create";
	run(c, field_create_fn, 1);
}

static int field_delete_fn(em_db *db, void *arg)
{
	ctx *c = arg;
	if (em_db_exec(db, "DELETE FROM custom_field WHERE site_id = ? AND key = ?", "it", c->site_id, c->id))
		return EM_EIO;
	if (em_db_changes(db) == 0)
		return refuse(c, 404, "not_found", NULL, "no custom field with this key");
	/* The values go with their definition. The key is [a-z0-9_], so the
	** JSON path built from it is plain. */
	if (em_db_exec(db,
		       "UPDATE contact SET custom = json_remove(custom, '$.' || ?) WHERE site_id = ? AND "
		       "custom != '{}'"
		       " AND json_type(custom, '$.' || ?) IS NOT NULL",
		       "tit", c->id, c->site_id, c->id))
		return EM_EIO;
	return 0;
}

static void h_field_delete(em_req *r)
{
	const em_principal *p = em_auth_require(r, EM_AUTH_ADMIN);
	if (!p)
		return;
	const char *key = em_req_param(r, "key");
	if (!key_ok(key)) {
		em_resp_error(r, 404, "not_found", "no custom field with this key", NULL);
		return;
	}
	int64_t site = site_param(r, em_req_query_param(r, "site"));
	if (site < 0)
		return;
	if (!site) {
		const em_site *first = NULL;
		if (em_sites_list(&first, 1) == 1)
			site = first->id;
	}
	ctx *c = ctx_new(r, p, 204);
	c->site_id = site;
	snprintf(c->id, sizeof c->id, "%s", key);
	c->audit = "custom_field.delete";
	run(c, field_delete_fn, 1);
}

void em_api_contacts_routes(em_server *s)
{
	em_server_route(s, EM_GET, "/api/v1/contacts", h_list);
	em_server_route(s, EM_POST, "/api/v1/contacts", h_create);
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}", h_get);
	em_server_route(s, EM_PATCH, "/api/v1/contacts/{id}", h_patch);
	em_server_route(s, EM_GET, "/api/v1/contacts/{id}/duplicates", h_duplicates);
	em_server_route(s, EM_POST, "/api/v1/contacts/{id}/merge", h_merge);
	em_server_route(s, EM_GET, "/api/v1/custom-fields", h_fields_list);
	em_server_route(s, EM_POST, "/api/v1/custom-fields", h_field_create);
	em_server_route(s, EM_DELETE, "/api/v1/custom-fields/{key}", h_field_delete);
}
