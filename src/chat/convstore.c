/*
** Chat storage (see convstore.h). Portable SQL through em_db.
*/
#include "chat/convstore.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/err.h"
#include "core/log.h"
#include "crm/contacts.h"
#include "crm/webhooks.h"

static const char *status_names[] = {"pending", "open", "closed"};
static const char *channel_names[] = {"chat", "offline"};
static const char *author_names[] = {"visitor", "operator", "system"};

const char *em_conv_status_name(int s)
{
	return s >= 0 && s <= 2 ? status_names[s] : "pending";
}

const char *em_conv_channel_name(int c)
{
	return c == EM_CHAN_OFFLINE ? channel_names[1] : channel_names[0];
}

const char *em_conv_author_name(int a)
{
	return a >= 0 && a <= 2 ? author_names[a] : "system";
}

static int status_of(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, status_names[i]))
			return i;
	return EM_CONV_PENDING;
}

static json_t *text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The person behind a new conversation: an e-mail from the pre-chat form or
** the offline message makes (or finds) a lead with the visitor's history;
** otherwise a contact the visitor is linked to already is used. */
static int link_contact(em_db *db, const em_conv_new *c)
{
	char email[EM_CONTACT_EMAIL_MAX + 1];
	const char *why;
	if (c->email && *c->email && em_contact_email(c->email, email, sizeof email, &why) == 0) {
		em_contact_input in = {.name = c->name && *c->name ? c->name : NULL,
				       .email = email,
				       .source = c->channel == EM_CHAN_OFFLINE ? "offline" : "chat",
				       .consent_marketing = c->consent,
				       .has_consent = c->consent};
		int64_t id = 0;
		char pub[32];
		int created = 0;
		int rc = em_contacts_upsert_db(db, c->site_id, &in, c->vid, &id, pub, &created);
		if (rc)
			return rc == EM_EINVAL ? 0 : rc;
		return em_db_exec(db, "UPDATE conversation SET contact_id = ? WHERE public_id = ?", "it", id,
				  c->public_id)
			       ? EM_EIO
			       : 0;
	}
	return em_db_exec(db,
			  "UPDATE conversation SET contact_id = (SELECT contact_id FROM visitor"
			  " WHERE site_id = ? AND vid = ?) WHERE public_id = ?",
			  "itt", c->site_id, c->vid, c->public_id)
		       ? EM_EIO
		       : 0;
}

int em_convstore_create(em_db *db, void *arg)
{
	em_conv_new *c = arg;
	if (em_db_exec(db,
		       "INSERT INTO conversation (public_id, site_id, vid, operator_id, department_id,"
		       " invitation_id, status, channel, name, email, consent, lang, page_url, created_at,"
		       " accepted_at, updated_at) VALUES (?,?,?,nullif(?, 0),nullif(?, 0),nullif(?, "
		       "0),?,?,?,?,?,?,?,?,"
		       " nullif(?, 0),?)",
		       "titiiittttIttiii", c->public_id, c->site_id, c->vid, c->operator_id, c->department_id,
		       c->invitation_id, em_conv_status_name(c->status), em_conv_channel_name(c->channel),
		       c->name ? c->name : "", c->email ? c->email : "", c->consent, c->lang,
		       c->page_url ? c->page_url : "", c->created_at, c->accepted_at, c->created_at))
		return EM_EIO;
	int rc = link_contact(db, c);
	return rc ? rc : em_webhooks_conversation_db(db, "chat.started", c->public_id);
}

int em_convstore_change(em_db *db, void *arg)
{
	em_conv_change *c = arg;
	/* chat.closed once, when the row turns closed. */
	int closing = 0;
	if (c->status == EM_CONV_CLOSED) {
		em_stmt *q = em_db_prepare(db, "SELECT status FROM conversation WHERE public_id = ?", "t",
					   c->public_id);
		closing = em_stmt_step(q) == 1 && strcmp(em_stmt_text(q, 0), "closed") != 0;
		em_stmt_done(q);
	}
	/* 0 ids and times are stored as NULL. */
	em_stmt *st =
		em_db_prepare(db,
			      "UPDATE conversation SET status = ?, operator_id = nullif(?, 0),"
			      " department_id = nullif(?, 0), accepted_at = nullif(?, 0),"
			      " closed_at = nullif(?, 0), outcome = ?, updated_at = ? WHERE public_id = ?",
			      "tiiiitit", em_conv_status_name(c->status), c->operator_id, c->department_id,
			      c->accepted_at, c->closed_at, c->outcome, c->now, c->public_id);
	int rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc >= 0 && closing)
		return em_webhooks_conversation_db(db, "chat.closed", c->public_id);
	return rc < 0 ? EM_EIO : 0;
}

int em_convstore_message(em_db *db, void *arg)
{
	em_msg_write *m = arg;
	/* The usual case in two statements: the insert takes the next seq from
	** the conversation row and says which it took; a client id stored
	** before makes it a no-op, and then the first copy is looked up. */
	em_stmt *st = em_db_prepare(
		db,
		"INSERT INTO message (conversation_id, seq, author, operator_id, client_id, body,"
		" internal, created_at) SELECT c.id, c.last_seq + 1, ?, nullif(?, 0), ?, ?, ?, ?"
		" FROM conversation c WHERE c.public_id = ?"
		" ON CONFLICT (conversation_id, client_id) DO NOTHING RETURNING seq",
		"titt"
		"Iit",
		em_conv_author_name(m->author), m->operator_id, m->client_id, m->body, m->internal,
		m->created_at, m->conv);
	int rc = em_stmt_step(st);
	if (rc == 1)
		m->seq = em_stmt_int(st, 0);
	/* Step to the end so the insert is complete before the next statement. */
	while (rc == 1)
		rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (m->seq) {
		m->stored_at = m->created_at;
		return em_db_exec(db,
				  "UPDATE conversation SET last_seq = ?, updated_at = ? WHERE public_id = ?",
				  "iit", m->seq, m->created_at, m->conv)
			       ? EM_EIO
			       : 0;
	}
	st = em_db_prepare(
		db,
		"SELECT m.seq, m.created_at FROM message m JOIN conversation c ON c.id = m.conversation_id"
		" WHERE c.public_id = ? AND m.client_id = ?",
		"tt", m->conv, m->client_id);
	rc = em_stmt_step(st);
	if (rc == 1) {
		m->seq = em_stmt_int(st, 0);
		m->stored_at = em_stmt_int(st, 1);
		m->dup = 1;
	}
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

int em_convstore_rate(em_db *db, void *arg)
{
	em_conv_rating *r = arg;
	if (em_db_exec(db,
		       "UPDATE conversation SET rating = ?, rating_comment = ?, updated_at = ?"
		       " WHERE public_id = ? AND site_id = ? AND vid = ?",
		       "Ititit", r->rating, r->comment ? r->comment : "", r->now, r->conv, r->site_id,
		       r->vid) != 0)
		return EM_EIO;
	return em_db_changes(db) == 1 ? 0 : EM_ENOTFOUND;
}

/* ---- Reads ------------------------------------------------------------- */

#define CONV_COLS \
	"c.id, c.public_id, s.key, c.vid, c.status, c.channel, o.public_id, o.name, d.public_id," \
	" c.name, c.email, c.page_url, c.outcome, c.rating, c.rating_comment, c.last_seq," \
	" c.created_at, c.accepted_at, c.closed_at, c.lang, ct.public_id" \
	" FROM conversation c JOIN site s ON s.id = c.site_id" \
	" LEFT JOIN contact ct ON ct.id = c.contact_id" \
	" LEFT JOIN operator o ON o.id = c.operator_id LEFT JOIN department d ON d.id = c.department_id"

static json_t *conv_row(em_stmt *st)
{
	json_t *op = json_null();
	if (!em_stmt_is_null(st, 6))
		op = json_pack("{s:s, s:s}", "id", em_stmt_text(st, 6), "name", em_stmt_text(st, 7));
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(em_stmt_text(st, 1)));
	json_object_set_new(o, "site", json_string(em_stmt_text(st, 2)));
	json_object_set_new(o, "vid", json_string(em_stmt_text(st, 3)));
	json_object_set_new(o, "status", json_string(em_stmt_text(st, 4)));
	json_object_set_new(o, "channel", json_string(em_stmt_text(st, 5)));
	json_object_set_new(o, "operator", op);
	json_object_set_new(o, "department", text_or_null(em_stmt_text(st, 8)));
	json_object_set_new(o, "name", json_string(em_stmt_text(st, 9)));
	json_object_set_new(o, "email", json_string(em_stmt_text(st, 10)));
	json_object_set_new(o, "page_url", json_string(em_stmt_text(st, 11)));
	json_object_set_new(o, "outcome", json_string(em_stmt_text(st, 12)));
	json_object_set_new(o, "rating",
			    em_stmt_is_null(st, 13) ? json_null() : json_integer(em_stmt_int(st, 13)));
	json_object_set_new(o, "rating_comment", json_string(em_stmt_text(st, 14)));
	json_object_set_new(o, "last_seq", json_integer(em_stmt_int(st, 15)));
	json_object_set_new(o, "created", em_json_time(em_stmt_int(st, 16)));
	json_object_set_new(o, "accepted", em_json_time(em_stmt_int(st, 17)));
	json_object_set_new(o, "closed", em_json_time(em_stmt_int(st, 18)));
	json_object_set_new(o, "lang", json_string(em_stmt_text(st, 19)));
	json_object_set_new(o, "contact", text_or_null(em_stmt_text(st, 20)));
	return o;
}

int em_convstore_get(em_db *db, void *arg)
{
	em_conv_query *q = arg;
	em_stmt *st = em_db_prepare(db, "SELECT " CONV_COLS " WHERE c.public_id = ?", "t", q->conv);
	int rc = em_stmt_step(st);
	if (rc == 1)
		q->out = conv_row(st);
	em_stmt_done(st);
	return rc == 1 ? 0 : rc == 0 ? EM_ENOTFOUND : EM_EIO;
}

int em_convstore_list(em_db *db, void *arg)
{
	em_conv_query *q = arg;
	/* Newest first from the cursor on (none: every id is below INT64_MAX).
	** With a status, through conversation_status_id (status, id), so a rare
	** status is found without walking all conversations; without one, the
	** walk stops after a page. */
	int64_t below = q->cursor ? q->cursor : INT64_MAX;
	em_stmt *st = q->status >= 0
			      ? em_db_prepare(db,
					      "SELECT " CONV_COLS " WHERE c.status = ?"
					      " AND (? = 0 OR c.operator_id = ? OR c.status = 'pending')"
					      " AND c.id < ? ORDER BY c.id DESC LIMIT ?",
					      "tiiiI", em_conv_status_name(q->status), q->operator_id,
					      q->operator_id, below, q->limit + 1)
			      : em_db_prepare(db,
					      "SELECT " CONV_COLS
					      " WHERE (? = 0 OR c.operator_id = ? OR c.status = 'pending')"
					      " AND c.id < ? ORDER BY c.id DESC LIMIT ?",
					      "iiiI", q->operator_id, q->operator_id, below, q->limit + 1);
	q->out = json_array();
	int rc, n = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (n++ == q->limit) {
			q->next_cursor = em_stmt_int(st, 0) + 1;
			break;
		}
		json_array_append_new(q->out, conv_row(st));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_convstore_messages(em_db *db, void *arg)
{
	em_conv_query *q = arg;
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT m.seq, m.author, o.public_id, o.name, m.client_id, m.body, m.internal,"
			      " m.created_at FROM message m JOIN conversation c ON c.id = m.conversation_id"
			      " LEFT JOIN operator o ON o.id = m.operator_id WHERE c.public_id = ?"
			      " AND m.seq > ? AND (? = 1 OR m.internal = 0) ORDER BY m.seq LIMIT ?",
			      "tiII", q->conv, q->after, q->include_internal, q->limit);
	q->out = json_array();
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *m = json_object();
		json_object_set_new(m, "conversation", json_string(q->conv));
		json_object_set_new(m, "seq", json_integer(em_stmt_int(st, 0)));
		json_object_set_new(m, "author", json_string(em_stmt_text(st, 1)));
		json_object_set_new(m, "body", json_string(em_stmt_text(st, 5)));
		json_object_set_new(m, "created", em_json_time(em_stmt_int(st, 7)));
		json_object_set_new(m, "client_id", text_or_null(em_stmt_text(st, 4)));
		if (!em_stmt_is_null(st, 2)) {
			json_object_set_new(m, "operator",
					    json_pack("{s:s, s:n}", "name", em_stmt_text(st, 3), "avatar"));
			if (q->include_internal)
				json_object_set_new(m, "author_operator", json_string(em_stmt_text(st, 2)));
		}
		if (q->include_internal)
			json_object_set_new(m, "internal", json_boolean(em_stmt_int(st, 6)));
		json_array_append_new(q->out, m);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_convstore_visitor_last(em_db *db, void *arg)
{
	em_conv_query *q = arg;
	em_stmt *st = em_db_prepare(db,
				    "SELECT coalesce(operator_id, 0), created_at FROM conversation"
				    " WHERE site_id = ? AND vid = ? AND channel = 'chat'"
				    " ORDER BY created_at DESC LIMIT 1",
				    "it", q->site_id, q->vid);
	int rc = em_stmt_step(st);
	if (rc == 1) {
		q->last_operator_id = em_stmt_int(st, 0);
		q->last_chat_at = em_stmt_int(st, 1);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static int load_operators(em_db *db, json_t *into)
{
	json_t *ops = json_array();
	json_object_set_new(into, "operators", ops);
	em_stmt *st = em_db_prepare(
		db, "SELECT id, public_id, name, email, role, max_chats, disabled FROM operator", "");
	int rc;
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(ops, json_pack("{s:I, s:s, s:s, s:s, s:b, s:I, s:b, s:[]}", "id",
						     (json_int_t)em_stmt_int(st, 0), "public_id",
						     em_stmt_text(st, 1), "name", em_stmt_text(st, 2),
						     "email", em_stmt_text(st, 3), "admin",
						     !strcmp(em_stmt_text(st, 4), "admin"), "max_chats",
						     (json_int_t)em_stmt_int(st, 5), "disabled",
						     (int)em_stmt_int(st, 6), "departments"));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	st = em_db_prepare(db, "SELECT operator_id, department_id FROM operator_department", "");
	while ((rc = em_stmt_step(st)) == 1) {
		int64_t op = em_stmt_int(st, 0);
		size_t i;
		json_t *o;
		json_array_foreach(ops, i, o) if (json_integer_value(json_object_get(o, "id")) == op)
			json_array_append_new(json_object_get(o, "departments"),
					      json_integer(em_stmt_int(st, 1)));
	}
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	json_t *deps = json_array();
	json_object_set_new(into, "departments", deps);
	st = em_db_prepare(db, "SELECT id, public_id, coalesce(site_id, 0), name FROM department", "");
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(deps,
				      json_pack("{s:I, s:s, s:I, s:s}", "id", (json_int_t)em_stmt_int(st, 0),
						"public_id", em_stmt_text(st, 1), "site",
						(json_int_t)em_stmt_int(st, 2), "name", em_stmt_text(st, 3)));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

int em_convstore_operators(em_db *db, void *arg)
{
	json_t **out = arg;
	*out = json_object();
	return load_operators(db, *out);
}

int em_convstore_load(em_db *db, void *arg)
{
	json_t **out = arg;
	json_t *o = *out = json_object();
	int rc = load_operators(db, o);
	if (rc)
		return rc;
	json_t *convs = json_array();
	json_object_set_new(o, "conversations", convs);
	/* The ones not closed (status is one of pending, open, closed:
	** 003_chat.sql), named so conversation_status finds them. */
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT public_id, site_id, vid, coalesce(operator_id, 0),"
			      " coalesce(department_id, 0), coalesce(invitation_id, 0), status, channel,"
			      " name, email, lang, page_url, last_seq, created_at, coalesce(accepted_at, 0)"
			      " FROM conversation WHERE status IN ('pending', 'open')"
			      " ORDER BY created_at, id",
			      "");
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(
			convs,
			json_pack(
				"{s:s, s:I, s:s, s:I, s:I, s:I, s:i, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
				"public_id", em_stmt_text(st, 0), "site_id", (json_int_t)em_stmt_int(st, 1),
				"vid", em_stmt_text(st, 2), "operator_id", (json_int_t)em_stmt_int(st, 3),
				"department_id", (json_int_t)em_stmt_int(st, 4), "invitation_id",
				(json_int_t)em_stmt_int(st, 5), "status", status_of(em_stmt_text(st, 6)),
				"channel", !strcmp(em_stmt_text(st, 7), "offline"), "name",
				em_stmt_text(st, 8), "email", em_stmt_text(st, 9), "lang",
				em_stmt_text(st, 10), "page_url", em_stmt_text(st, 11), "last_seq",
				(json_int_t)em_stmt_int(st, 12), "created_at",
				(json_int_t)em_stmt_int(st, 13), "accepted_at",
				(json_int_t)em_stmt_int(st, 14)));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	/* Who chatted today: the invitation brakes ask. The status list names
	** every status (003_chat.sql), so that today's rows are read through
	** conversation_status (status, created_at), not all conversations. */
	json_t *today = json_array();
	json_object_set_new(o, "today", today);
	int64_t midnight = em_now_ms() / 86400000 * 86400000;
	st = em_db_prepare(db,
			   "SELECT site_id, vid, coalesce(operator_id, 0), max(created_at) FROM conversation"
			   " WHERE status IN ('pending', 'open', 'closed') AND created_at >= ? AND"
			   " channel = 'chat' GROUP BY site_id, vid",
			   "i", midnight);
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(today,
				      json_pack("{s:I, s:s, s:I, s:I}", "site_id",
						(json_int_t)em_stmt_int(st, 0), "vid", em_stmt_text(st, 1),
						"operator_id", (json_int_t)em_stmt_int(st, 2), "at",
						(json_int_t)em_stmt_int(st, 3)));
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	json_t *settings = json_array();
	json_object_set_new(o, "settings", settings);
	st = em_db_prepare(db,
			   "SELECT site_id, prechat_name, prechat_email, prechat_consent, greeting, color"
			   " FROM chat_settings",
			   "");
	while ((rc = em_stmt_step(st)) == 1)
		json_array_append_new(settings, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "site_id",
							  (json_int_t)em_stmt_int(st, 0), "name",
							  em_stmt_text(st, 1), "email", em_stmt_text(st, 2),
							  "consent", em_stmt_text(st, 3), "greeting",
							  em_stmt_text(st, 4), "color", em_stmt_text(st, 5)));
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}
