/*
** Contacts and leads (see contacts.h and docs/contacts.md).
**
** Everything here but the normalisation runs inside a store function: the
** writer thread for changes, a pool reader for lists. A change and what it
** causes (visitor links, timeline rows, webhook outbox rows) are written in
** the same transaction, so a contact is never half created.
**
** Search: fragments of three or more characters go through the trigram
** index of migration 006, read in descending rowid order so that "newest
** first, 50 at a time" stops after 50 hits instead of sorting every match;
** one or two characters match the start of an e-mail address or phone
** number (their indexes) or a tag exactly.
*/
#include "crm/contacts.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/webhooks.h"

static const char *stages[] = {"lead", "customer", "lost", "won_back", NULL};
static const char *sources[] = {"chat", "card", "callback", "import", "api", "identify", "offline", NULL};

static int in_list(const char *s, const char **list)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

/* ---- Normalisation ----------------------------------------------------- */

/* Trims ASCII white space; *n gets the length of what is left. */
static const char *trim(const char *s, size_t *n)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	*n = len;
	return s;
}

/* Characters (UTF-8 code points) in the first n bytes of s. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return EM_EINVAL;
}

int em_contact_email(const char *in, char *out, size_t outlen, const char **why)
{
	size_t n;
	if (!in)
		return fail(why, "the e-mail address is missing");
	const char *s = trim(in, &n);
	if (n == 0)
		return fail(why, "the e-mail address is empty");
	if (n > EM_CONTACT_EMAIL_MAX || n >= outlen)
		return fail(why, "an e-mail address has at most 254 characters");
	size_t at = 0, ats = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t')
			return fail(why, "an e-mail address contains no spaces");
		if (c < 0x20 || c == 0x7f)
			return fail(why, "an e-mail address contains no control characters");
		if (strchr("<>()[]\\,;:\"", c))
			return fail(why, "an e-mail address contains none of < > ( ) [ ] \\ , ; : \"");
		if (c == '@') {
			at = i;
			ats++;
		}
	}
	if (ats == 0)
		return fail(why, "an e-mail address needs an '@', as in name@example.com");
	if (ats > 1)
		return fail(why, "an e-mail address has exactly one '@'");
	if (at == 0)
		return fail(why, "nothing before the '@': an e-mail address looks like name@example.com");
	if (at > 64)
		return fail(why, "the part before the '@' has at most 64 characters");
	if (s[0] == '.' || s[at - 1] == '.' || memmem(s, at, "..", 2))
		return fail(why, "the part before the '@' neither starts nor ends with a dot and has no two "
				 "dots in a row");
	const char *d = s + at + 1;
	size_t dn = n - at - 1;
	if (dn == 0)
		return fail(why, "nothing after the '@': an e-mail address looks like name@example.com");
	if (!memchr(d, '.', dn))
		return fail(why, "the domain after the '@' needs a dot, as in example.com");
	size_t label = 0;
	for (size_t i = 0; i <= dn; i++) {
		unsigned char c = i < dn ? (unsigned char)d[i] : '.';
		if (c == '.') {
			if (label == 0)
				return fail(why, "the domain after the '@' has an empty part (a dot at its "
						 "start or end, or two in a row)");
			if (d[i - 1] == '-' || d[i - label] == '-')
				return fail(why, "a part of the domain neither starts nor ends with '-'");
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c >= 0x80))
			return fail(why, "the domain after the '@' has only letters, digits, '-' and dots");
		label++;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 0;
}

int em_contact_phone(const char *in, char *out, size_t outlen, const char **why)
{
	size_t n;
	if (!in)
		return fail(why, "the phone number is missing");
	const char *s = trim(in, &n);
	if (n == 0)
		return fail(why, "the phone number is empty");
	if (n > 64)
		return fail(why, "a phone number has at most 15 digits (E.164)");
	char digits[80];
	size_t nd = 0;
	size_t i = 0;
	if (s[0] == '+')
		i = 1;
	else if (n >= 2 && s[0] == '0' && s[1] == '0')
		i = 2;
	for (size_t k = i; k < n; k++) {
		unsigned char c = (unsigned char)s[k];
		if (isdigit(c)) {
			digits[nd++] = (char)c;
		} else if (c == '(' && k + 2 < n && s[k + 1] == '0' && s[k + 2] == ')' && nd > 0) {
			/* "+49 (0)30 ...": the (0) is the trunk prefix dialled inside
			** the country only; it is not part of the international number. */
			k += 2;
		} else if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')') {
			continue;
		} else if (c == '+') {
			return fail(why, "'+' stands only at the start of a phone number");
		} else if (isalpha(c)) {
			return fail(why, "a phone number has no letters: only digits, spaces and - . / ( )");
		} else {
			return fail(why, "a phone number has only digits, spaces and - . / ( )");
		}
	}
	if (i == 0)
		return fail(why, "write the phone number with its country code, starting with + or 00 (as in "
				 "+49 30 1234567)");
	if (nd == 0)
		return fail(why, "the phone number has no digits");
	if (digits[0] == '0')
		return fail(why, "the country code after + or 00 never starts with 0");
	if (nd < 7)
		return fail(why, "a phone number with its country code has at least 7 digits");
	if (nd > 15)
		return fail(why, "a phone number has at most 15 digits (E.164)");
	if (nd + 2 > outlen)
		return fail(why, "a phone number has at most 15 digits (E.164)");
	out[0] = '+';
	memcpy(out + 1, digits, nd);
	out[nd + 1] = '\0';
	return 0;
}

/* A field path built for an error ("tags[3]", "custom.size"); one per
** thread, valid until the next validation on that thread. */
static _Thread_local char field_buf[80];
static _Thread_local char why_buf[128];

static int text_ok(const char *v, size_t max_chars, const char *name, const char **field, const char **why,
		   const char *too_long)
{
	if (!v)
		return 0;
	if (utf8_chars(v, strlen(v)) > max_chars) {
		*field = name;
		*why = too_long;
		return EM_EINVAL;
	}
	if (has_control(v)) {
		snprintf(why_buf, sizeof why_buf, "%s must not contain control characters", name);
		*field = name;
		*why = why_buf;
		return EM_EINVAL;
	}
	return 0;
}

static int custom_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > EM_CONTACT_CUSTOM_KEY_MAX || !(k[0] >= 'a' && k[0] <= 'z'))
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	return 1;
}

int em_contact_validate(const em_contact_input *in, const char **field, const char **why)
{
	char tmp[EM_CONTACT_EMAIL_MAX + 2];
	*field = NULL;
	*why = NULL;
	if (text_ok(in->name, EM_CONTACT_NAME_MAX, "name", field, why, "a name has at most 127 characters") ||
	    text_ok(in->company, EM_CONTACT_COMPANY_MAX, "company", field, why,
		    "a company name has at most 127 characters") ||
	    text_ok(in->consent_wording, EM_CONTACT_WORDING_MAX, "consent_wording", field, why,
		    "the consent wording has at most 1000 characters"))
		return EM_EINVAL;
	if (in->email && *in->email && em_contact_email(in->email, tmp, sizeof tmp, why)) {
		*field = "email";
		return EM_EINVAL;
	}
	if (in->phone && *in->phone && em_contact_phone(in->phone, tmp, sizeof tmp, why)) {
		*field = "phone";
		return EM_EINVAL;
	}
	if (in->stage && !in_list(in->stage, stages)) {
		*field = "stage";
		*why = "stage is one of lead, customer, lost, won_back";
		return EM_EINVAL;
	}
	if (in->source && !in_list(in->source, sources)) {
		*field = "source";
		*why = "source is one of chat, card, callback, import, api, identify, offline";
		return EM_EINVAL;
	}
	if (in->owner && (strlen(in->owner) > 31 || has_control(in->owner))) {
		*field = "owner";
		*why = "owner is an operator id";
		return EM_EINVAL;
	}
	if (in->tags) {
		if (!json_is_array(in->tags)) {
			*field = "tags";
			*why = "tags is an array of strings";
			return EM_EINVAL;
		}
		if (json_array_size(in->tags) > EM_CONTACT_TAGS_MAX) {
			*field = "tags";
			*why = "a contact has at most 50 tags";
			return EM_EINVAL;
		}
		size_t i;
		const json_t *t;
		json_array_foreach(in->tags, i, t)
		{
			size_t n;
			const char *s = json_is_string(t) ? trim(json_string_value(t), &n) : NULL;
			const char *msg = NULL;
			if (!s)
				msg = "a tag is a string";
			else if (n == 0)
				msg = "a tag is not empty";
			else if (utf8_chars(s, n) > EM_CONTACT_TAG_MAX)
				msg = "a tag has at most 40 characters";
			else if (has_control(s) || strlen(s) < json_string_length(t))
				msg = "a tag contains no control characters";
			if (msg) {
				snprintf(field_buf, sizeof field_buf, "tags[%zu]", i);
				*field = field_buf;
				*why = msg;
				return EM_EINVAL;
			}
		}
	}
	if (in->custom) {
		if (!json_is_object(in->custom)) {
			*field = "custom";
			*why = "custom is an object of field keys and values";
			return EM_EINVAL;
		}
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)in->custom, k, v)
		{
			const char *msg = NULL;
			if (!custom_key_ok(k))
				msg = "a custom field key is 1-40 of a-z, 0-9 and _, starting with a letter";
			else if (!(json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
				   json_is_null(v)))
				msg = "a custom value is text, a number, true/false or null";
			else if (json_is_string(v) &&
				 (utf8_chars(json_string_value(v), json_string_length(v)) >
					  EM_CONTACT_CUSTOM_TEXT_MAX ||
				  has_control(json_string_value(v))))
				msg = "a custom text has at most 1000 characters and no control characters";
			if (msg) {
				snprintf(field_buf, sizeof field_buf, "custom.%.60s", k);
				*field = field_buf;
				*why = msg;
				return EM_EINVAL;
			}
		}
	}
	return 0;
}

/* ---- Small store helpers ----------------------------------------------- */

static char *dump(json_t *v)
{
	char *s = em_json_dump(v, NULL);
	json_decref(v);
	return s;
}

/* Appends a timeline fact. detail is stolen. */
static int event_add(em_db *db, int64_t contact_id, const char *type, json_t *detail, int64_t operator_id,
		     int64_t now)
{
	char *d = dump(detail ? detail : json_object());
	int rc = em_db_exec(db,
			    "INSERT INTO contact_event (contact_id, type, detail, operator_id, created_at)"
			    " VALUES (?, ?, ?, nullif(?, 0), ?)",
			    "ittii", contact_id, type, d, operator_id, now);
	em_free(d);
	return rc ? EM_EIO : 0;
}

static int set_stage(em_db *db, int64_t id, const char *from, const char *to, const char *reason,
		     int64_t operator_id, int64_t now)
{
	if (!strcmp(from, to))
		return 0;
	if (em_db_exec(db, "UPDATE contact SET stage = ?, updated_at = ? WHERE id = ?", "tii", to, now, id))
		return EM_EIO;
	return event_add(db, id, "stage",
			 json_pack("{s:s, s:s, s:s}", "from", from, "to", to, "reason", reason), operator_id,
			 now);
}

/* Queues a webhook event carrying the contact. */
static int hook(em_db *db, const char *event, int64_t id)
{
	json_t *c = em_contacts_json_db(db, id);
	if (!c)
		return EM_EIO;
	json_t *payload = json_pack("{s:o}", "contact", c);
	int rc = em_webhooks_enqueue_db(db, event, payload);
	json_decref(payload);
	return rc ? EM_EIO : 0;
}

int em_contacts_operator_db(em_db *db, const char *public_id, int64_t *id)
{
	em_stmt *st = em_db_prepare(db, "SELECT id FROM operator WHERE public_id = ?", "t", public_id);
	int rc = em_stmt_step(st);
	*id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	return rc == 1 ? 0 : rc < 0 ? EM_EIO : EM_ENOTFOUND;
}

/* Lowercased, trimmed copy of a tag (ASCII letters; others as given). */
static void tag_norm(const char *in, char *out, size_t cap)
{
	size_t n;
	const char *s = trim(in, &n);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
}

static int tags_add(em_db *db, int64_t id, const json_t *tags)
{
	size_t i;
	const json_t *t;
	json_array_foreach(tags, i, t)
	{
		char tag[EM_CONTACT_TAG_MAX * 4 + 1];
		tag_norm(json_string_value(t), tag, sizeof tag);
		if (em_db_exec(
			    db,
			    "INSERT INTO contact_tag (contact_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
			    "it", id, tag))
			return EM_EIO;
	}
	return 0;
}

static int consent_add(em_db *db, int64_t site_id, int64_t id, const em_contact_input *in, int64_t now)
{
	if (!in->has_consent)
		return 0;
	if (em_db_exec(db, "UPDATE contact SET consent_marketing = ?, consent_at = ? WHERE id = ?", "iii",
		       (int64_t)(in->consent_marketing != 0), now, id) ||
	    em_db_exec(db,
		       "INSERT INTO consent_record (site_id, contact_id, purpose, granted, wording, source, "
		       "created_at)"
		       " VALUES (?, ?, 'marketing', ?, ?, ?, ?)",
		       "iiitti", site_id, id, (int64_t)(in->consent_marketing != 0),
		       in->consent_wording ? in->consent_wording : "", in->source ? in->source : "api", now))
		return EM_EIO;
	return 0;
}

/* ---- Reading ------------------------------------------------------------ */

#define CONTACT_COLS \
	"c.id, c.public_id, s.key, c.name, c.email, c.phone, c.company, c.stage, o.public_id, o.name," \
	" c.source, c.custom, c.lifetime_value, c.orders, c.consent_marketing, c.consent_at, c.created_at," \
	" c.updated_at, (SELECT json_group_array(tag) FROM (SELECT tag FROM contact_tag" \
	" WHERE contact_id = c.id ORDER BY tag))"
#define CONTACT_JOINS " JOIN site s ON s.id = c.site_id LEFT JOIN operator o ON o.id = c.owner_id"

static json_t *parse_or(const char *text, json_t *def)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	if (!v)
		return def;
	json_decref(def);
	return v;
}

static json_t *row_json(em_stmt *st)
{
	json_t *owner = em_stmt_is_null(st, 8) ? json_null()
					       : json_pack("{s:s, s:s}", "id", em_stmt_text(st, 8), "name",
							   em_stmt_text(st, 9) ? em_stmt_text(st, 9) : "");
	char at[32];
	json_t *consent_at = json_null();
	if (!em_stmt_is_null(st, 15)) {
		em_rfc3339(em_stmt_int(st, 15), at);
		consent_at = json_string(at);
	}
	char created[32], updated[32];
	em_rfc3339(em_stmt_int(st, 16), created);
	em_rfc3339(em_stmt_int(st, 17), updated);
	return json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:f, s:I, s:{s:b, s:o},"
		" s:s, s:s}",
		"id", em_stmt_text(st, 1), "site", em_stmt_text(st, 2) ? em_stmt_text(st, 2) : "", "name",
		em_stmt_text(st, 3), "email", em_stmt_text(st, 4), "phone", em_stmt_text(st, 5), "company",
		em_stmt_text(st, 6), "stage", em_stmt_text(st, 7), "owner", owner, "source",
		em_stmt_text(st, 10), "tags", parse_or(em_stmt_text(st, 18), json_array()), "custom",
		parse_or(em_stmt_text(st, 11), json_object()), "lifetime_value", em_stmt_double(st, 12),
		"orders", (json_int_t)em_stmt_int(st, 13), "consent", "marketing", (int)em_stmt_int(st, 14),
		"at", consent_at, "created_at", created, "updated_at", updated);
}

json_t *em_contacts_json_db(em_db *db, int64_t contact_id)
{
	em_stmt *st =
		em_db_prepare(db, "SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS " WHERE c.id = ?",
			      "i", contact_id);
	json_t *out = em_stmt_step(st) == 1 ? row_json(st) : NULL;
	em_stmt_done(st);
	return out;
}

int em_contacts_ref_db(em_db *db, const char *public_id, em_contact_ref *out)
{
	memset(out, 0, sizeof *out);
	em_stmt *st = em_db_prepare(
		db,
		"SELECT c.id, c.site_id, coalesce(c.owner_id, 0), coalesce(c.merged_into, 0),"
		" c.public_id, m.public_id FROM contact c LEFT JOIN contact m ON m.id = c.merged_into"
		" WHERE c.public_id = ?",
		"t", public_id);
	int rc = em_stmt_step(st);
	if (rc == 1) {
		out->id = em_stmt_int(st, 0);
		out->site_id = em_stmt_int(st, 1);
		out->owner_id = em_stmt_int(st, 2);
		out->merged_into = em_stmt_int(st, 3);
		snprintf(out->public_id, sizeof out->public_id, "%s", em_stmt_text(st, 4));
		if (em_stmt_text(st, 5))
			snprintf(out->merged_public, sizeof out->merged_public, "%s", em_stmt_text(st, 5));
	}
	em_stmt_done(st);
	return rc == 1 ? 0 : rc < 0 ? EM_EIO : EM_ENOTFOUND;
}

/* The filters every list form shares; bound by bind order site, site,
** stage, stage, owner, owner, tag, tag. */
#define FILTERS \
	" AND c.merged_into IS NULL AND (? = 0 OR c.site_id = ?) AND (? = '' OR c.stage = ?)" \
	" AND (? = 0 OR coalesce(c.owner_id, -1) = ?)" \
	" AND (? = '' OR EXISTS (SELECT 1 FROM contact_tag WHERE contact_id = c.id AND tag = ?))"
#define FILTER_TYPES "iittiitt"
#define FILTER_ARGS(q, stage, tag) \
	(q)->site_id, (q)->site_id, stage, stage, (q)->owner_id, (q)->owner_id, tag, tag

/* Search forms; see the file comment. */
static const char sql_fts[] =
	"SELECT " CONTACT_COLS " FROM contact_search f JOIN contact c ON c.id = f.rowid" CONTACT_JOINS
	" WHERE contact_search MATCH ? AND f.rowid < ?" FILTERS " ORDER BY f.rowid DESC LIMIT ?";
static const char sql_fts_tag[] =
	"SELECT " CONTACT_COLS " FROM (SELECT rowid AS id FROM contact_search"
	" WHERE contact_search MATCH ? AND rowid < ? UNION SELECT contact_id FROM contact_tag"
	" WHERE tag = ? AND contact_id < ?) m JOIN contact c ON c.id = m.id" CONTACT_JOINS " WHERE 1" FILTERS
	" ORDER BY m.id DESC LIMIT ?";
static const char sql_short[] =
	"SELECT " CONTACT_COLS " FROM (SELECT id FROM contact"
	" WHERE site_id IN (SELECT id FROM site WHERE ? = 0 OR id = ?) AND email >= ? AND email < ? AND id < "
	"?"
	" UNION SELECT id FROM contact WHERE site_id IN (SELECT id FROM site WHERE ? = 0 OR id = ?)"
	" AND phone >= ? AND phone < ? AND id < ?"
	" UNION SELECT contact_id FROM contact_tag WHERE tag = ? AND contact_id < ?) m"
	" JOIN contact c ON c.id = m.id" CONTACT_JOINS " WHERE 1" FILTERS " ORDER BY m.id DESC LIMIT ?";
/* The same for a dense prefix: newest first through every live contact,
** stopping after a page; cheap when many contacts match. */
static const char sql_short_scan[] =
	"SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS
	" WHERE c.id < ? AND ((c.email >= ? AND c.email < ?) OR (c.phone >= ? AND c.phone < ?)"
	" OR EXISTS (SELECT 1 FROM contact_tag WHERE contact_id = c.id AND tag = ?))" FILTERS
	" ORDER BY c.id DESC LIMIT ?";
/* How many contacts a prefix matches, counted up to a bound in the indexes. */
static const char sql_short_count[] =
	"SELECT (SELECT count(*) FROM (SELECT 1 FROM contact"
	" WHERE site_id IN (SELECT id FROM site WHERE ? = 0 OR id = ?) AND email >= ? AND email < ? LIMIT ?))"
	" + (SELECT count(*) FROM (SELECT 1 FROM contact WHERE site_id IN (SELECT id FROM site WHERE ? = 0 "
	"OR id = ?)"
	" AND phone >= ? AND phone < ? LIMIT ?))";
/* Above this many matches a prefix is read newest first instead of sorted. */
#define SHORT_SORT_MAX 1000
static const char sql_tag[] =
	"SELECT " CONTACT_COLS " FROM contact_tag t JOIN contact c ON c.id = t.contact_id" CONTACT_JOINS
	" WHERE t.tag = ? AND t.contact_id < ?" FILTERS " ORDER BY t.contact_id DESC LIMIT ?";
static const char sql_stage[] =
	"SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS
	" WHERE c.site_id = ? AND c.stage = ? AND c.id < ?" FILTERS " ORDER BY c.id DESC LIMIT ?";
static const char sql_owner[] = "SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS
				" WHERE c.owner_id = ? AND c.id < ?" FILTERS " ORDER BY c.id DESC LIMIT ?";
static const char sql_all[] = "SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS " WHERE c.id < ?" FILTERS
			      " ORDER BY c.id DESC LIMIT ?";

/* Text and tag together: the trigram index's matches and the tag's contacts
** are both read newest first and intersected as two sorted streams (a merge
** join), each stream skipping ahead with a new seek when the other is far
** behind; only the ids in both are checked against the other filters and
** read in full. Reading one stream and checking every row of it against the
** other costs as much as the matches of the driving side, and whichever
** side is chosen, a rare intersection of two common sets reads thousands of
** contact rows; the merge reads ids only, from the stream that is behind. */
static const char sql_fts_ids[] =
	"SELECT rowid FROM contact_search WHERE contact_search MATCH ? AND rowid < ?"
	" ORDER BY rowid DESC";
static const char sql_tag_ids[] = "SELECT contact_id FROM contact_tag WHERE tag = ? AND contact_id < ?"
				  " ORDER BY contact_id DESC";
static const char sql_one[] =
	"SELECT " CONTACT_COLS " FROM contact c" CONTACT_JOINS " WHERE c.id = ?" FILTERS;
/* Steps a stream this many times to catch up before seeking instead. */
#define MERGE_STEPS 16

/* One stream of ids, newest first, below a bound. */
typedef struct id_stream {
	em_db *db;
	const char *sql, *key; /* key: the phrase or the tag */
	em_stmt *st;
	int64_t cur; /* current id; 0 = at the end */
} id_stream;

/* Positions the stream on its newest id below `below`. */
static int stream_seek(id_stream *s, int64_t below)
{
	em_stmt_done(s->st);
	s->st = em_db_prepare(s->db, s->sql, "ti", s->key, below);
	int rc = em_stmt_step(s->st);
	s->cur = rc == 1 ? em_stmt_int(s->st, 0) : 0;
	return rc < 0 ? EM_EIO : 0;
}

/* Moves the stream to its newest id <= `to`: a few steps, then a seek. */
static int stream_catch_up(id_stream *s, int64_t to)
{
	for (int i = 0; s->cur > to; i++) {
		if (i == MERGE_STEPS)
			return stream_seek(s, to + 1);
		int rc = em_stmt_step(s->st);
		if (rc < 0)
			return EM_EIO;
		s->cur = rc == 1 ? em_stmt_int(s->st, 0) : 0;
	}
	return 0;
}

static int search_text_tag(em_db *db, em_contact_query *q, const char *phrase, const char *stage,
			   const char *tag, int64_t cursor, int64_t limit)
{
	id_stream f = {db, sql_fts_ids, phrase, NULL, 0}, t = {db, sql_tag_ids, tag, NULL, 0};
	int rc = stream_seek(&f, cursor);
	if (!rc)
		rc = stream_seek(&t, cursor);
	int64_t n = 0, last = 0;
	while (!rc && f.cur && t.cur) {
		if (f.cur > t.cur) {
			rc = stream_catch_up(&f, t.cur);
			continue;
		}
		if (t.cur > f.cur) {
			rc = stream_catch_up(&t, f.cur);
			continue;
		}
		int64_t id = f.cur;
		em_stmt *st = em_db_prepare(db, sql_one, "i" FILTER_TYPES, id, FILTER_ARGS(q, stage, ""));
		int found = em_stmt_step(st);
		if (found == 1 && n == limit) {
			q->next_cursor = last; /* one more than a page: there is a next page */
			em_stmt_done(st);
			break;
		}
		if (found == 1) {
			json_array_append_new(q->out, row_json(st));
			last = id;
			n++;
		}
		em_stmt_done(st);
		if (found < 0) {
			rc = EM_EIO;
			break;
		}
		rc = stream_catch_up(&f, id - 1);
		if (!rc)
			rc = stream_catch_up(&t, id - 1);
	}
	em_stmt_done(f.st);
	em_stmt_done(t.st);
	if (rc)
		em_warn("contact search failed", "err=\"%s\"", em_db_errmsg(db));
	return rc;
}

/* The upper bound of a prefix range: the prefix with its last byte
** increased ("ab" -> "ac"); a prefix ending in 0xff bytes takes them off. */
static void prefix_end(const char *p, char *out, size_t cap)
{
	snprintf(out, cap, "%s", p);
	size_t n = strlen(out);
	while (n && (unsigned char)out[n - 1] == 0xff)
		out[--n] = '\0';
	if (n)
		out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	else
		snprintf(out, cap, "\xff");
}

/* A search text made of a phone number's characters becomes its digits: a
** national leading 0 is dropped (030 123 finds +4930123...) and 00 becomes
** +. Returns 1 when it rewrote q. */
static int phone_like(const char *q, char *out, size_t cap)
{
	size_t nd = 0, o = 0;
	for (const char *p = q; *p; p++) {
		if (isdigit((unsigned char)*p))
			nd++;
		else if (!strchr(" +-./()", *p))
			return 0;
	}
	if (nd < 3)
		return 0;
	const char *p = q;
	while (*p == ' ')
		p++;
	if (p[0] == '0' && p[1] == '0') {
		out[o++] = '+';
		p += 2;
	} else if (*p == '+') {
		out[o++] = '+';
		p++;
	} else if (*p == '0') {
		p++;
	}
	for (; *p && o + 1 < cap; p++)
		if (isdigit((unsigned char)*p))
			out[o++] = *p;
	out[o] = '\0';
	return o >= 3;
}

int em_contacts_search_db(em_db *db, em_contact_query *q)
{
	const char *stage = q->stage ? q->stage : "";
	const char *tag_in = q->tag ? q->tag : "";
	char tag[EM_CONTACT_TAG_MAX * 4 + 1];
	tag_norm(tag_in, tag, sizeof tag);
	int64_t cursor = q->cursor > 0 ? q->cursor : INT64_MAX;
	int64_t limit = q->limit > 0 && q->limit <= EM_CONTACT_LIST_MAX ? q->limit : 50;
	int64_t want = limit + 1; /* one more tells whether a next page exists */
	size_t qn = 0;
	const char *qs = q->q ? trim(q->q, &qn) : "";
	char text[520];
	if (qn >= sizeof text - 8)
		qn = sizeof text - 9;
	for (size_t i = 0; i < qn; i++)
		text[i] = (char)tolower((unsigned char)qs[i]);
	text[qn] = '\0';
	em_stmt *st;
	/* A number written with its country code is the start of a phone
	** number: the phone index answers that better than the trigrams, whose
	** "+49", "491" ... are in nearly every row. */
	char digits[64];
	int is_phone = qn && phone_like(text, digits, sizeof digits);
	int intl = is_phone && digits[0] == '+';
	if (intl) {
		snprintf(text, sizeof text, "%s", digits);
		qn = strlen(text);
	}
	if (qn && utf8_chars(text, qn) >= 3 && !intl) {
		char phrase[1100];
		const char *t = is_phone ? digits : text;
		/* Quoted, the text is one phrase: FTS5 syntax in it means nothing. */
		size_t o = 0;
		phrase[o++] = '"';
		for (const char *p = t; *p && o + 3 < sizeof phrase; p++) {
			if (*p == '"')
				phrase[o++] = '"';
			phrase[o++] = *p;
		}
		phrase[o++] = '"';
		phrase[o] = '\0';
		int is_tag = 0;
		if (utf8_chars(text, qn) <= EM_CONTACT_TAG_MAX) {
			em_stmt *tq = em_db_prepare(db, "SELECT 1 FROM contact_tag WHERE tag = ? LIMIT 1",
						    "t", text);
			is_tag = em_stmt_step(tq) == 1;
			em_stmt_done(tq);
		}
		if (!is_tag && tag[0]) {
			q->out = json_array();
			q->next_cursor = 0;
			return search_text_tag(db, q, phrase, stage, tag, cursor, limit);
		}
		if (is_tag)
			st = em_db_prepare(db, sql_fts_tag, "titi" FILTER_TYPES "i", phrase, cursor, text,
					   cursor, FILTER_ARGS(q, stage, tag), want);
		else
			st = em_db_prepare(db, sql_fts, "ti" FILTER_TYPES "i", phrase, cursor,
					   FILTER_ARGS(q, stage, tag), want);
	} else if (qn) {
		/* Two characters are at most 8 bytes of UTF-8; a phone number's
		** start is at most 16 bytes. */
		char email_end[32], phone_lo[32], phone_hi[32];
		prefix_end(text, email_end, sizeof email_end);
		snprintf(phone_lo, sizeof phone_lo, "%s%.16s", text[0] == '+' ? "" : "+", text);
		prefix_end(phone_lo, phone_hi, sizeof phone_hi);
		/* One or two characters, or an international number's start. Few
		** matches: collect them from the e-mail and phone indexes and
		** sort. Many (a common first letter): walk the newest contacts and
		** stop after a page, which is quick exactly because they are many. */
		em_stmt *cq = em_db_prepare(db, sql_short_count, "iittiiitti", q->site_id, q->site_id, text,
					    email_end, (int64_t)SHORT_SORT_MAX, q->site_id, q->site_id,
					    phone_lo, phone_hi, (int64_t)SHORT_SORT_MAX);
		int64_t matches = em_stmt_step(cq) == 1 ? em_stmt_int(cq, 0) : 0;
		em_stmt_done(cq);
		if (matches < SHORT_SORT_MAX)
			st = em_db_prepare(db, sql_short, "iittiiittiti" FILTER_TYPES "i", q->site_id,
					   q->site_id, text, email_end, cursor, q->site_id, q->site_id,
					   phone_lo, phone_hi, cursor, text, cursor,
					   FILTER_ARGS(q, stage, tag), want);
		else
			st = em_db_prepare(db, sql_short_scan, "itttti" FILTER_TYPES "i", cursor, text,
					   email_end, phone_lo, phone_hi, text, FILTER_ARGS(q, stage, tag),
					   want);
	} else if (tag[0]) {
		st = em_db_prepare(db, sql_tag, "ti" FILTER_TYPES "i", tag, cursor,
				   FILTER_ARGS(q, stage, tag), want);
	} else if (stage[0] && q->site_id) {
		st = em_db_prepare(db, sql_stage, "iti" FILTER_TYPES "i", q->site_id, stage, cursor,
				   FILTER_ARGS(q, stage, tag), want);
	} else if (q->owner_id > 0) {
		st = em_db_prepare(db, sql_owner, "ii" FILTER_TYPES "i", q->owner_id, cursor,
				   FILTER_ARGS(q, stage, tag), want);
	} else {
		st = em_db_prepare(db, sql_all, "i" FILTER_TYPES "i", cursor, FILTER_ARGS(q, stage, tag),
				   want);
	}
	q->out = json_array();
	q->next_cursor = 0;
	int rc, n = 0;
	int64_t last = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n == limit) {
			q->next_cursor = last;
			break;
		}
		last = em_stmt_int(st, 0);
		json_array_append_new(q->out, row_json(st));
		n++;
	}
	em_stmt_done(st);
	if (rc < 0) {
		em_warn("contact search failed", "err=\"%s\"", em_db_errmsg(db));
		return EM_EIO;
	}
	return 0;
}

/* ---- Creating and finding ---------------------------------------------- */

int em_contacts_conflict_db(em_db *db, int64_t site_id, const char *email, const char *phone, int64_t except,
			    char existing[32], const char **field)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *v = pass ? phone : email;
		if (!v || !*v)
			continue;
		em_stmt *st =
			pass ? em_db_prepare(db,
					     "SELECT public_id FROM contact WHERE site_id = ? AND phone = ?"
					     " AND merged_into IS NULL AND id != ? ORDER BY id LIMIT 1",
					     "iti", site_id, v, except)
			     : em_db_prepare(db,
					     "SELECT public_id FROM contact WHERE site_id = ? AND email = ?"
					     " AND merged_into IS NULL AND id != ? ORDER BY id LIMIT 1",
					     "iti", site_id, v, except);
		int rc = em_stmt_step(st);
		if (rc == 1)
			snprintf(existing, 32, "%s", em_stmt_text(st, 0));
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (rc == 1) {
			*field = pass ? "phone" : "email";
			return EM_EEXIST;
		}
	}
	return 0;
}

int em_contacts_check_custom_db(em_db *db, int64_t site_id, const json_t *custom, char field[80],
				const char **why)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)custom, k, v)
	{
		snprintf(field, 80, "custom.%.60s", k);
		em_stmt *st = em_db_prepare(db, "SELECT type FROM custom_field WHERE site_id = ? AND key = ?",
					    "it", site_id, k);
		int rc = em_stmt_step(st);
		char type[8] = "";
		if (rc == 1)
			snprintf(type, sizeof type, "%s", em_stmt_text(st, 0));
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
		if (rc == 0) {
			*why = "no custom field with this key is defined for the site";
			return EM_EINVAL;
		}
		if (json_is_null(v))
			continue;
		if (!strcmp(type, "text") && !json_is_string(v)) {
			*why = "this custom field holds text";
			return EM_EINVAL;
		}
		if (!strcmp(type, "number") && !json_is_number(v)) {
			*why = "this custom field holds a number";
			return EM_EINVAL;
		}
		if (!strcmp(type, "bool") && !json_is_boolean(v)) {
			*why = "this custom field holds true or false";
			return EM_EINVAL;
		}
		if (!strcmp(type, "date")) {
			const char *s = json_string_value(v);
			int y, m, d;
			char end;
			if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) != 3 ||
			    m < 1 || m > 12 || d < 1 || d > 31 || s[4] != '-' || s[7] != '-') {
				*why = "this custom field holds a date as YYYY-MM-DD";
				return EM_EINVAL;
			}
		}
	}
	field[0] = '\0';
	return 0;
}

/* Normalised copies of e-mail and phone ("" when not given). */
static int norm_ids(const em_contact_input *in, char email[EM_CONTACT_EMAIL_MAX + 2],
		    char phone[EM_CONTACT_PHONE_MAX + 2])
{
	const char *why;
	email[0] = phone[0] = '\0';
	if (in->email && *in->email && em_contact_email(in->email, email, EM_CONTACT_EMAIL_MAX + 2, &why))
		return EM_EINVAL;
	if (in->phone && *in->phone && em_contact_phone(in->phone, phone, EM_CONTACT_PHONE_MAX + 2, &why))
		return EM_EINVAL;
	return 0;
}

static char *trimmed(const char *s)
{
	size_t n;
	const char *t = trim(s ? s : "", &n);
	return em_strndup(t, n);
}

/* The custom object without null members (nulls mean "remove"). */
static char *custom_text(const json_t *custom)
{
	json_t *c = json_object();
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)custom, k, v) if (!json_is_null(v)) json_object_set(c, k, (json_t *)v);
	return dump(c);
}

int em_contacts_create_db(em_db *db, int64_t site_id, const em_contact_input *in, int64_t operator_id,
			  int64_t *contact_id, char public_id[32])
{
	char email[EM_CONTACT_EMAIL_MAX + 2], phone[EM_CONTACT_PHONE_MAX + 2];
	if (norm_ids(in, email, phone))
		return EM_EINVAL;
	int64_t owner = 0;
	if (in->owner && *in->owner) {
		int rc = em_contacts_operator_db(db, in->owner, &owner);
		if (rc)
			return rc == EM_ENOTFOUND ? EM_EINVAL : rc;
	}
	const char *stage = in->stage ? in->stage : "lead";
	const char *source = in->source ? in->source : "api";
	int64_t now = em_now_ms();
	char pid[32] = "ct";
	em_id_random(pid + 2, sizeof pid - 2, 10);
	char *name = trimmed(in->name), *company = trimmed(in->company);
	char *custom = in->custom ? custom_text(in->custom) : em_strdup("{}");
	int rc = em_db_exec(
		db,
		"INSERT INTO contact (public_id, site_id, name, email, phone, company, stage, owner_id,"
		" source, custom, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, nullif(?, 0), ?, ?,"
		" ?, ?)",
		"titttttittii", pid, site_id, name, email, phone, company, stage, owner, source, custom, now,
		now);
	em_free(name);
	em_free(company);
	em_free(custom);
	if (rc)
		return rc == EM_EINVAL ? EM_EINVAL : EM_EIO;
	int64_t id = em_db_last_id(db);
	if ((in->tags && (rc = tags_add(db, id, in->tags))) || (rc = consent_add(db, site_id, id, in, now)) ||
	    (rc = event_add(db, id, "created", json_pack("{s:s, s:s}", "source", source, "stage", stage),
			    operator_id, now)) ||
	    (rc = hook(db, "contact.created", id)) ||
	    (!strcmp(stage, "lead") && (rc = hook(db, "lead.created", id))))
		return rc;
	*contact_id = id;
	if (public_id)
		snprintf(public_id, 32, "%s", pid);
	return 0;
}

/* The live contact a possibly merged row id leads to. */
static int64_t follow_merged(em_db *db, int64_t id)
{
	for (int hops = 0; hops < 8; hops++) {
		em_stmt *st = em_db_prepare(db, "SELECT merged_into FROM contact WHERE id = ?", "i", id);
		int rc = em_stmt_step(st);
		int64_t next = rc == 1 && !em_stmt_is_null(st, 0) ? em_stmt_int(st, 0) : 0;
		em_stmt_done(st);
		if (!next)
			return id;
		id = next;
	}
	return id;
}

int em_contacts_find_db(em_db *db, int64_t site_id, const char *email, const char *phone, int64_t *id)
{
	*id = 0;
	/* A merged contact's row still holds its e-mail and phone; it leads to
	** the contact it was merged into, so a person is never created twice. */
	for (int pass = 0; pass < 2 && !*id; pass++) {
		const char *v = pass ? phone : email;
		if (!v || !*v)
			continue;
		em_stmt *st = pass ? em_db_prepare(db,
						   "SELECT id FROM contact WHERE site_id = ? AND phone = ?"
						   " ORDER BY merged_into IS NOT NULL, id LIMIT 1",
						   "it", site_id, v)
				   : em_db_prepare(db,
						   "SELECT id FROM contact WHERE site_id = ? AND email = ?"
						   " ORDER BY merged_into IS NOT NULL, id LIMIT 1",
						   "it", site_id, v);
		int rc = em_stmt_step(st);
		if (rc == 1)
			*id = em_stmt_int(st, 0);
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
	}
	if (*id)
		*id = follow_merged(db, *id);
	return 0;
}

int em_contacts_upsert_db(em_db *db, int64_t site_id, const em_contact_input *in, const char *vid,
			  int64_t *contact_id, char public_id[32], int *created)
{
	char email[EM_CONTACT_EMAIL_MAX + 2], phone[EM_CONTACT_PHONE_MAX + 2];
	if (norm_ids(in, email, phone))
		return EM_EINVAL;
	int64_t id;
	int rc = em_contacts_find_db(db, site_id, email, phone, &id);
	if (rc)
		return rc;
	*created = 0;
	if (id) {
		int64_t now = em_now_ms();
		char *name = trimmed(in->name), *company = trimmed(in->company);
		char *custom = in->custom ? custom_text(in->custom) : em_strdup("{}");
		rc = em_db_exec(db,
				"UPDATE contact SET name = CASE WHEN name = '' THEN ? ELSE name END,"
				" email = CASE WHEN email = '' THEN ? ELSE email END,"
				" phone = CASE WHEN phone = '' THEN ? ELSE phone END,"
				" company = CASE WHEN company = '' THEN ? ELSE company END,"
				" custom = json_patch(?, custom), updated_at = ? WHERE id = ?",
				"tttttii", name, email, phone, company, custom, now, id);
		em_free(name);
		em_free(company);
		em_free(custom);
		if (rc || (in->tags && (rc = tags_add(db, id, in->tags))))
			return EM_EIO;
		if ((rc = consent_add(db, site_id, id, in, now)))
			return rc;
	} else {
		if ((rc = em_contacts_create_db(db, site_id, in, 0, &id, NULL)))
			return rc;
		*created = 1;
	}
	if (vid && *vid && (rc = em_contacts_link_visitor_db(db, site_id, vid, id)))
		return rc;
	*contact_id = id;
	if (public_id) {
		em_stmt *st = em_db_prepare(db, "SELECT public_id FROM contact WHERE id = ?", "i", id);
		if (em_stmt_step(st) == 1)
			snprintf(public_id, 32, "%s", em_stmt_text(st, 0));
		em_stmt_done(st);
	}
	return 0;
}

/* ---- Visitors, orders, lifetime value ---------------------------------- */

int em_contacts_recount_db(em_db *db, int64_t contact_id)
{
	/* Each order id once: a thank-you page reloaded sends its order again. */
	em_stmt *st = em_db_prepare(
		db,
		"SELECT count(*), coalesce(sum(t), 0) FROM (SELECT json_extract(e.data, '$.id') AS order_id,"
		" max(coalesce(json_extract(e.data, '$.total'), 0)) AS t FROM visitor v"
		" JOIN visit vi ON vi.visitor_id = v.id JOIN event e ON e.visit_id = vi.id"
		" WHERE v.contact_id = ? AND e.type = 'order' GROUP BY order_id)",
		"i", contact_id);
	int rc = em_stmt_step(st);
	int64_t orders = rc == 1 ? em_stmt_int(st, 0) : 0;
	double value = rc == 1 ? em_stmt_double(st, 1) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return EM_EIO;
	st = em_db_prepare(db, "SELECT stage, orders, lifetime_value FROM contact WHERE id = ?", "i",
			   contact_id);
	rc = em_stmt_step(st);
	char stage[16] = "";
	int changed = 0;
	if (rc == 1) {
		snprintf(stage, sizeof stage, "%s", em_stmt_text(st, 0));
		changed = em_stmt_int(st, 1) != orders || em_stmt_double(st, 2) != value;
	}
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	int64_t now = em_now_ms();
	if (changed &&
	    em_db_exec(db, "UPDATE contact SET orders = ?, lifetime_value = ?, updated_at = ? WHERE id = ?",
		       "idii", orders, value, now, contact_id))
		return EM_EIO;
	if (orders > 0 && !strcmp(stage, "lead"))
		return set_stage(db, contact_id, "lead", "customer", "order", 0, now);
	return 0;
}

int em_contacts_order_db(em_db *db, int64_t visitor_id, int64_t event_id)
{
	em_stmt *st = em_db_prepare(db, "SELECT contact_id FROM visitor WHERE id = ?", "i", visitor_id);
	int rc = em_stmt_step(st);
	int64_t cid = rc == 1 && !em_stmt_is_null(st, 0) ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (!cid)
		return 0;
	st = em_db_prepare(
		db,
		"SELECT json_extract(data, '$.id'), coalesce(json_extract(data, '$.total'), 0) FROM event"
		" WHERE id = ?",
		"i", event_id);
	rc = em_stmt_step(st);
	char oid[128] = "";
	double total = 0;
	if (rc == 1) {
		if (em_stmt_text(st, 0))
			snprintf(oid, sizeof oid, "%s", em_stmt_text(st, 0));
		total = em_stmt_double(st, 1);
	}
	em_stmt_done(st);
	if (rc != 1)
		return EM_EIO;
	st = em_db_prepare(db,
			   "SELECT 1 FROM visitor v JOIN visit vi ON vi.visitor_id = v.id"
			   " JOIN event e ON e.visit_id = vi.id WHERE v.contact_id = ? AND e.type = 'order'"
			   " AND e.id != ? AND json_extract(e.data, '$.id') = ? LIMIT 1",
			   "iit", cid, event_id, oid);
	rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (rc == 1)
		return 0; /* the same order again */
	int64_t now = em_now_ms();
	if (em_db_exec(db,
		       "UPDATE contact SET lifetime_value = lifetime_value + ?, orders = orders + 1, "
		       "updated_at = ?"
		       " WHERE id = ?",
		       "dii", total, now, cid))
		return EM_EIO;
	st = em_db_prepare(db, "SELECT stage FROM contact WHERE id = ?", "i", cid);
	rc = em_stmt_step(st);
	char stage[16] = "";
	if (rc == 1)
		snprintf(stage, sizeof stage, "%s", em_stmt_text(st, 0));
	em_stmt_done(st);
	if (!strcmp(stage, "lead"))
		return set_stage(db, cid, "lead", "customer", "order", 0, now);
	if (!strcmp(stage, "lost"))
		return set_stage(db, cid, "lost", "won_back", "order", 0, now);
	return 0;
}

int em_contacts_link_visitor_db(em_db *db, int64_t site_id, const char *vid, int64_t contact_id)
{
	em_stmt *st = em_db_prepare(
		db, "SELECT coalesce(merged_into, id) FROM visitor WHERE site_id = ? AND vid = ?", "it",
		site_id, vid);
	int rc = em_stmt_step(st);
	int64_t root = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (!root)
		return 0; /* no history yet: nothing to link */
	/* Contacts these visitor rows belonged to before lose them. */
	int64_t old[16];
	int nold = 0, linked_already = 0;
	st = em_db_prepare(db,
			   "SELECT DISTINCT contact_id FROM visitor WHERE (id = ? OR merged_into = ?)"
			   " AND contact_id IS NOT NULL",
			   "ii", root, root);
	while ((rc = em_stmt_step(st)) == 1) {
		int64_t c = em_stmt_int(st, 0);
		if (c == contact_id)
			linked_already = 1;
		else if (nold < 16)
			old[nold++] = c;
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (linked_already && nold == 0) {
		/* Visitor rows are linked; conversations started since may not be. */
		if (em_db_exec(db,
			       "UPDATE conversation SET contact_id = ? WHERE site_id = ? AND contact_id IS "
			       "NULL AND vid IN"
			       " (SELECT vid FROM visitor WHERE id = ? OR merged_into = ?)",
			       "iiii", contact_id, site_id, root, root))
			return EM_EIO;
		return 0;
	}
	if (em_db_exec(db, "UPDATE visitor SET contact_id = ? WHERE id = ? OR merged_into = ?", "iii",
		       contact_id, root, root))
		return EM_EIO;
	/* What happened as this visitor follows them: chats, notes, callbacks
	** and consent given before anyone knew who they were. */
	static const char *const moves[] = {
		"UPDATE conversation SET contact_id = ? WHERE site_id = ? AND (contact_id IS NULL OR "
		"contact_id IN"
		" (SELECT value FROM json_each(?))) AND vid IN (SELECT vid FROM visitor WHERE id = ? OR "
		"merged_into = ?)",
		"UPDATE note SET contact_id = ? WHERE site_id = ? AND (contact_id IS NULL OR contact_id IN"
		" (SELECT value FROM json_each(?))) AND vid IN (SELECT vid FROM visitor WHERE id = ? OR "
		"merged_into = ?)",
		"UPDATE callback_request SET contact_id = ? WHERE site_id = ? AND (contact_id IS NULL OR "
		"contact_id IN"
		" (SELECT value FROM json_each(?))) AND vid IN (SELECT vid FROM visitor WHERE id = ? OR "
		"merged_into = ?)",
		"UPDATE consent_record SET contact_id = ? WHERE site_id = ? AND (contact_id IS NULL OR "
		"contact_id IN"
		" (SELECT value FROM json_each(?))) AND vid IN (SELECT vid FROM visitor WHERE id = ? OR "
		"merged_into = ?)",
	};
	json_t *olds = json_array();
	for (int i = 0; i < nold; i++)
		json_array_append_new(olds, json_integer(old[i]));
	char *oldtext = dump(olds);
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
		if (em_db_exec(db, moves[i], "iitii", contact_id, site_id, oldtext, root, root)) {
			em_free(oldtext);
			return EM_EIO;
		}
	}
	em_free(oldtext);
	int64_t now = em_now_ms();
	if ((rc = event_add(db, contact_id, "visitor_linked", json_pack("{s:s}", "vid", vid), 0, now)) ||
	    (rc = em_contacts_recount_db(db, contact_id)))
		return rc;
	for (int i = 0; i < nold; i++)
		if ((rc = em_contacts_recount_db(db, old[i])))
			return rc;
	return 0;
}

int em_contacts_identify_db(em_db *db, int64_t site_id, const char *vid, const char *email, const char *name)
{
	char norm[EM_CONTACT_EMAIL_MAX + 2];
	const char *why = NULL; /* stays NULL without an e-mail */
	if (!email || em_contact_email(email, norm, sizeof norm, &why)) {
		em_debug("identify: no contact for this e-mail", "why=\"%s\"", why ? why : "none");
		return 0;
	}
	em_contact_input in = {0};
	in.email = norm;
	if (name && utf8_chars(name, strlen(name)) <= EM_CONTACT_NAME_MAX && !has_control(name))
		in.name = name;
	in.source = "identify";
	int64_t id;
	int created;
	return em_contacts_upsert_db(db, site_id, &in, vid, &id, NULL, &created);
}

/* ---- Changing ----------------------------------------------------------- */

int em_contacts_update_db(em_db *db, int64_t contact_id, const em_contact_input *in, int64_t operator_id)
{
	char email[EM_CONTACT_EMAIL_MAX + 2], phone[EM_CONTACT_PHONE_MAX + 2];
	if (norm_ids(in, email, phone))
		return EM_EINVAL;
	em_stmt *st = em_db_prepare(
		db, "SELECT stage, site_id, custom FROM contact WHERE id = ? AND merged_into IS NULL", "i",
		contact_id);
	int rc = em_stmt_step(st);
	char stage[16] = "";
	int64_t site_id = 0;
	char *old_custom = NULL;
	if (rc == 1) {
		snprintf(stage, sizeof stage, "%s", em_stmt_text(st, 0));
		site_id = em_stmt_int(st, 1);
		old_custom = em_strdup(em_stmt_text(st, 2));
	}
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	int64_t owner = 0;
	if (in->owner && *in->owner && (rc = em_contacts_operator_db(db, in->owner, &owner))) {
		em_free(old_custom);
		return rc == EM_ENOTFOUND ? EM_EINVAL : rc;
	}
	char *custom = NULL;
	if (in->custom) {
		/* Given keys replace, null removes: a JSON merge patch. */
		char *patch = dump(json_deep_copy(in->custom));
		custom = patch;
	}
	char *name = in->name ? trimmed(in->name) : NULL,
	     *company = in->company ? trimmed(in->company) : NULL;
	int64_t now = em_now_ms();
	rc = em_db_exec(
		db,
		"UPDATE contact SET name = coalesce(?, name), email = coalesce(?, email),"
		" phone = coalesce(?, phone), company = coalesce(?, company),"
		" owner_id = CASE WHEN ? THEN nullif(?, 0) ELSE owner_id END,"
		" custom = CASE WHEN ? IS NULL THEN custom ELSE json_patch(custom, ?) END, updated_at = ?"
		" WHERE id = ?",
		"ttttiittii", name, in->email ? email : NULL, in->phone ? phone : NULL, company,
		(int64_t)(in->owner != NULL), owner, custom, custom, now, contact_id);
	em_free(name);
	em_free(company);
	em_free(custom);
	em_free(old_custom);
	if (rc)
		return EM_EIO;
	if (in->tags && (em_db_exec(db, "DELETE FROM contact_tag WHERE contact_id = ?", "i", contact_id) ||
			 tags_add(db, contact_id, in->tags)))
		return EM_EIO;
	if ((rc = consent_add(db, site_id, contact_id, in, now)))
		return rc;
	if (in->stage && (rc = set_stage(db, contact_id, stage, in->stage, "operator", operator_id, now)))
		return rc;
	return hook(db, "contact.updated", contact_id);
}

/* Lowercase with runs of white space made one space, trimmed. */
static void fold(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	int space = 0;
	for (const char *p = in ? in : ""; *p && o + 1 < cap; p++) {
		if (isspace((unsigned char)*p)) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < cap)
			out[o++] = ' ';
		space = 0;
		out[o++] = (char)tolower((unsigned char)*p);
	}
	out[o] = '\0';
}

int em_contacts_merge_db(em_db *db, int64_t target, const int64_t *from, size_t n, int64_t operator_id)
{
	em_stmt *st = em_db_prepare(
		db, "SELECT site_id, stage FROM contact WHERE id = ? AND merged_into IS NULL", "i", target);
	int rc = em_stmt_step(st);
	int64_t site_id = rc == 1 ? em_stmt_int(st, 0) : 0;
	char stage[16] = "";
	if (rc == 1)
		snprintf(stage, sizeof stage, "%s", em_stmt_text(st, 1));
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	int64_t now = em_now_ms();
	json_t *merged = json_array();
	for (size_t i = 0; i < n; i++) {
		int64_t s = from[i];
		st = em_db_prepare(db,
				   "SELECT site_id, merged_into IS NULL, public_id, stage, consent_at FROM "
				   "contact WHERE id = ?",
				   "i", s);
		rc = em_stmt_step(st);
		int ok = rc == 1 && s != target && em_stmt_int(st, 0) == site_id && em_stmt_int(st, 1);
		char sstage[16] = "";
		if (rc == 1) {
			json_array_append_new(merged, json_string(em_stmt_text(st, 2)));
			snprintf(sstage, sizeof sstage, "%s", em_stmt_text(st, 3));
		}
		em_stmt_done(st);
		if (rc < 0 || !ok) {
			json_decref(merged);
			return rc < 0 ? EM_EIO : EM_EINVAL;
		}
		static const char *const moves[] = {
			"UPDATE visitor SET contact_id = ? WHERE contact_id = ?",
			"UPDATE conversation SET contact_id = ? WHERE contact_id = ?",
			"UPDATE note SET contact_id = ? WHERE contact_id = ?",
			"UPDATE callback_request SET contact_id = ? WHERE contact_id = ?",
			"UPDATE consent_record SET contact_id = ? WHERE contact_id = ?",
			"UPDATE contact_event SET contact_id = ? WHERE contact_id = ?",
			"INSERT INTO contact_tag (contact_id, tag) SELECT ?, tag FROM contact_tag WHERE "
			"contact_id = ?"
			" ON CONFLICT DO NOTHING",
			"UPDATE contact SET merged_into = ? WHERE merged_into = ?",
		};
		for (size_t k = 0; k < sizeof moves / sizeof moves[0]; k++)
			if (em_db_exec(db, moves[k], "ii", target, s)) {
				json_decref(merged);
				return EM_EIO;
			}
		/* The target keeps what it has and gains what it lacked; the newer
		** consent decision wins; custom values of the target win. */
		if (em_db_exec(db, "DELETE FROM contact_tag WHERE contact_id = ?", "i", s) ||
		    em_db_exec(db,
			       "UPDATE contact SET"
			       " name = CASE WHEN name = '' THEN (SELECT name FROM contact WHERE id = ?1) "
			       "ELSE name END,"
			       " email = CASE WHEN email = '' THEN (SELECT email FROM contact WHERE id = ?1) "
			       "ELSE email END,"
			       " phone = CASE WHEN phone = '' THEN (SELECT phone FROM contact WHERE id = ?1) "
			       "ELSE phone END,"
			       " company = CASE WHEN company = '' THEN (SELECT company FROM contact WHERE id "
			       "= ?1)"
			       " ELSE company END,"
			       " owner_id = coalesce(owner_id, (SELECT owner_id FROM contact WHERE id = ?1)),"
			       " custom = json_patch((SELECT custom FROM contact WHERE id = ?1), custom),"
			       " consent_marketing = CASE WHEN coalesce((SELECT consent_at FROM contact "
			       "WHERE id = ?1), 0)"
			       " > coalesce(consent_at, 0) THEN (SELECT consent_marketing FROM contact WHERE "
			       "id = ?1)"
			       " ELSE consent_marketing END,"
			       " consent_at = max(coalesce(consent_at, 0), coalesce((SELECT consent_at FROM "
			       "contact"
			       " WHERE id = ?1), 0)),"
			       " updated_at = ?2 WHERE id = ?3",
			       "iii", s, now, target) ||
		    em_db_exec(db, "UPDATE contact SET consent_at = NULL WHERE id = ? AND consent_at = 0",
			       "i", target) ||
		    em_db_exec(db, "UPDATE contact SET merged_into = ?, updated_at = ? WHERE id = ?", "iii",
			       target, now, s)) {
			json_decref(merged);
			return EM_EIO;
		}
		/* A customer merged into a lead makes the lead a customer. */
		if (!strcmp(stage, "lead") && strcmp(sstage, "lead")) {
			if ((rc = set_stage(db, target, stage, sstage, "merge", operator_id, now))) {
				json_decref(merged);
				return rc;
			}
			snprintf(stage, sizeof stage, "%s", sstage);
		}
	}
	if ((rc = event_add(db, target, "merged", json_pack("{s:o}", "from", merged), operator_id, now)) ||
	    (rc = em_contacts_recount_db(db, target)))
		return rc;
	return hook(db, "contact.updated", target);
}

int em_contacts_duplicates_db(em_db *db, int64_t contact_id, json_t **out)
{
	*out = NULL;
	em_stmt *st = em_db_prepare(
		db, "SELECT site_id, email, phone, name, company FROM contact WHERE id = ?", "i", contact_id);
	int rc = em_stmt_step(st);
	int64_t site_id = 0;
	char email[EM_CONTACT_EMAIL_MAX + 2] = "", phone[EM_CONTACT_PHONE_MAX + 8] = "";
	char name[520] = "", company[520] = "";
	if (rc == 1) {
		site_id = em_stmt_int(st, 0);
		snprintf(email, sizeof email, "%s", em_stmt_text(st, 1));
		snprintf(phone, sizeof phone, "%s", em_stmt_text(st, 2));
		fold(em_stmt_text(st, 3), name, sizeof name);
		fold(em_stmt_text(st, 4), company, sizeof company);
	}
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	/* Candidates: same e-mail, same phone (their indexes) or, with a name
	** and a company, rows whose name contains the name (trigram index);
	** the name and company are then compared exactly after folding. */
	int64_t ids[64];
	int n = 0;
	st = em_db_prepare(
		db,
		"SELECT id FROM contact WHERE site_id = ? AND email = ? AND email != '' AND id != ?"
		" AND merged_into IS NULL UNION SELECT id FROM contact WHERE site_id = ? AND phone = ?"
		" AND phone != '' AND id != ? AND merged_into IS NULL ORDER BY 1 DESC LIMIT 50",
		"itiiti", site_id, email, contact_id, site_id, phone, contact_id);
	while ((rc = em_stmt_step(st)) == 1 && n < 50)
		ids[n++] = em_stmt_int(st, 0);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	/* The name's longest word finds candidates however its spaces were typed. */
	const char *word = name;
	size_t wlen = 0;
	for (const char *p = name; *p;) {
		size_t l = strcspn(p, " ");
		if (l > wlen) {
			word = p;
			wlen = l;
		}
		p += l;
		p += *p == ' ';
	}
	if (name[0] && company[0] && utf8_chars(word, wlen) >= 3) {
		char phrase[1100];
		size_t o = 0;
		phrase[o++] = '"';
		for (const char *p = word; p < word + wlen && o + 3 < sizeof phrase; p++) {
			if (*p == '"')
				phrase[o++] = '"';
			phrase[o++] = *p;
		}
		phrase[o++] = '"';
		phrase[o] = '\0';
		st = em_db_prepare(db,
				   "SELECT c.id, c.name, c.company FROM contact_search f JOIN contact c ON "
				   "c.id = f.rowid"
				   " WHERE contact_search MATCH ? AND c.site_id = ? AND c.id != ? AND "
				   "c.merged_into IS NULL"
				   " ORDER BY f.rowid DESC LIMIT 500",
				   "tii", phrase, site_id, contact_id);
		while ((rc = em_stmt_step(st)) == 1 && n < 64) {
			char a[520], b[520];
			fold(em_stmt_text(st, 1), a, sizeof a);
			fold(em_stmt_text(st, 2), b, sizeof b);
			int64_t id = em_stmt_int(st, 0);
			int seen = 0;
			for (int i = 0; i < n; i++)
				seen |= ids[i] == id;
			if (!seen && !strcmp(a, name) && !strcmp(b, company))
				ids[n++] = id;
		}
		em_stmt_done(st);
		if (rc < 0)
			return EM_EIO;
	}
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *c = em_contacts_json_db(db, ids[i]);
		if (!c)
			continue;
		json_t *reasons = json_array();
		if (email[0] && !strcmp(em_json_str(c, "email", ""), email))
			json_array_append_new(reasons, json_string("email"));
		if (phone[0] && !strcmp(em_json_str(c, "phone", ""), phone))
			json_array_append_new(reasons, json_string("phone"));
		char a[520], b[520];
		fold(em_json_str(c, "name", ""), a, sizeof a);
		fold(em_json_str(c, "company", ""), b, sizeof b);
		if (name[0] && company[0] && !strcmp(a, name) && !strcmp(b, company))
			json_array_append_new(reasons, json_string("name_company"));
		json_object_set_new(c, "reasons", reasons);
		json_array_append_new(list, c);
	}
	*out = list;
	return 0;
}
