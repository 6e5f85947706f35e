/*
** Notes on contacts and visitors, with their edit history (see notes.h).
** Portable SQL through em_db; JSON is built on the store's threads and
** handed to the loop in the em_note_op.
*/
#include "crm/notes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/err.h"
#include "core/ids.h"
#include "crm/webhooks.h"

int em_note_body_check(const char *body, size_t len, const char **why)
{
	size_t chars = 0;
	int blank = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		if ((c & 0xc0) != 0x80)
			chars++;
		if (!isspace(c))
			blank = 0;
	}
	if (!len || blank) {
		*why = "body must not be empty";
		return EM_EINVAL;
	}
	if (chars > EM_NOTE_BODY_MAX_CHARS) {
		*why = "body is too long (at most 10000 characters)";
		return EM_EINVAL;
	}
	return 0;
}

void em_notes_cursor(int64_t at, int64_t id, char out[48])
{
	snprintf(out, 48, "%lld_%lld", (long long)at, (long long)id);
}

int em_notes_cursor_parse(const char *s, int64_t *at, int64_t *id)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return EM_EINVAL;
	long long a = strtoll(s, &end, 10);
	if (*end != '_' || !isdigit((unsigned char)end[1]))
		return EM_EINVAL;
	long long b = strtoll(end + 1, &end, 10);
	if (*end || a <= 0 || b <= 0)
		return EM_EINVAL;
	*at = a;
	*id = b;
	return 0;
}

int em_notes_contact_find_db(em_db *db, const char *public_id, int64_t *id, int64_t *site_id)
{
	em_stmt *st = em_db_prepare(db, "SELECT id, site_id, merged_into FROM contact WHERE public_id = ?",
				    "t", public_id);
	int rc = em_stmt_step(st);
	int64_t cid = rc == 1 ? em_stmt_int(st, 0) : 0, sid = rc == 1 ? em_stmt_int(st, 1) : 0;
	int64_t merged = rc == 1 && !em_stmt_is_null(st, 2) ? em_stmt_int(st, 2) : 0;
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	/* A merged contact lives on in the one it was merged into. */
	for (int hops = 0; merged && hops < 8; hops++) {
		st = em_db_prepare(db, "SELECT id, site_id, merged_into FROM contact WHERE id = ?", "i",
				   merged);
		rc = em_stmt_step(st);
		if (rc == 1) {
			cid = em_stmt_int(st, 0);
			sid = em_stmt_int(st, 1);
			merged = em_stmt_is_null(st, 2) ? 0 : em_stmt_int(st, 2);
		}
		em_stmt_done(st);
		if (rc != 1)
			return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	}
	*id = cid;
	if (site_id)
		*site_id = sid;
	return 0;
}

/* Every query below selects these columns, in this order. */
#define NOTE_COLS \
	"SELECT n.id, n.public_id, n.body, n.created_at, n.updated_at, n.vid, c.public_id, o.public_id," \
	" o.name, s.key, (SELECT count(*) FROM note_revision r WHERE r.note_id = n.id), n.author_id" \
	" FROM note n LEFT JOIN contact c ON c.id = n.contact_id LEFT JOIN operator o ON o.id = n.author_id" \
	" LEFT JOIN site s ON s.id = n.site_id "

static json_t *note_row(em_stmt *st)
{
	json_t *author = em_stmt_is_null(st, 7) ? json_null()
						: json_pack("{s:s, s:s}", "id", em_stmt_text(st, 7), "name",
							    em_stmt_text(st, 8));
	int64_t revisions = em_stmt_int(st, 10);
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:I, s:b}", "id", em_stmt_text(st, 1),
			 "body", em_stmt_text(st, 2), "site", em_stmt_text(st, 9), "contact",
			 em_stmt_text(st, 6), "vid", em_stmt_text(st, 5), "author", author, "created_at",
			 em_json_time(em_stmt_int(st, 3)), "updated_at", em_json_time(em_stmt_int(st, 4)),
			 "revisions", (json_int_t)revisions, "edited", revisions > 0);
}

/* Runs a prepared note query into a list; with limit > 0 the row past the
** limit only sets the next cursor. */
static int collect(em_stmt *st, json_t *list, int limit, char *next, size_t nextlen)
{
	int rc, n = 0;
	int64_t last_at = 0, last_id = 0;
	if (next)
		next[0] = 0;
	while ((rc = em_stmt_step(st)) == 1) {
		if (limit > 0 && n == limit) {
			if (next && nextlen >= 48)
				em_notes_cursor(last_at, last_id, next);
			break;
		}
		last_id = em_stmt_int(st, 0);
		last_at = em_stmt_int(st, 3);
		json_array_append_new(list, note_row(st));
		n++;
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

/* Finds the visitor (site_id 0 = its first site) and its contact: one
** lookup in the (site_id, vid) index per site, sites as the outer loop. */
static int visitor_find(em_db *db, int64_t *site_id, const char *vid, int64_t *contact_id)
{
	em_stmt *st = em_db_prepare(
		db,
		"SELECT v.site_id, v.contact_id FROM site s CROSS JOIN visitor v WHERE v.site_id = s.id AND "
		"v.vid = ? AND (? = 0 OR s.id = ?) ORDER BY v.id LIMIT 1",
		"tii", vid, *site_id, *site_id);
	int rc = em_stmt_step(st);
	if (rc == 1) {
		*site_id = em_stmt_int(st, 0);
		*contact_id = em_stmt_is_null(st, 1) ? 0 : em_stmt_int(st, 1);
	}
	em_stmt_done(st);
	return rc == 1 ? 0 : rc < 0 ? EM_EIO : EM_ENOTFOUND;
}

json_t *em_notes_of_visitor_db(em_db *db, int64_t site_id, const char *vid, int64_t contact_id, int max)
{
	json_t *list = json_array();
	em_stmt *st = em_db_prepare(db,
				    NOTE_COLS "WHERE n.deleted_at IS NULL AND ((n.site_id = ? AND n.vid = ?)"
					      " OR (? <> 0 AND n.contact_id = ?))"
					      " ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
				    "itiii", site_id, vid, contact_id, contact_id, (int64_t)max);
	if (!st || collect(st, list, 0, NULL, 0)) {
		json_decref(list);
		return NULL;
	}
	return list;
}

int em_notes_list_db(em_db *db, void *arg)
{
	em_note_op *op = arg;
	int64_t at = op->cursor_at ? op->cursor_at : INT64_MAX,
		id = op->cursor_at ? op->cursor_id : INT64_MAX;
	int64_t limit = op->limit > 0 ? op->limit : EM_NOTE_LIST_DEFAULT;
	em_stmt *st;
	if (op->contact[0]) {
		int64_t cid;
		int rc = em_notes_contact_find_db(db, op->contact, &cid, NULL);
		if (rc)
			return rc;
		/* The contact's own notes and those of every visitor linked to it. */
		st = em_db_prepare(db,
				   NOTE_COLS
				   "WHERE n.deleted_at IS NULL AND (n.contact_id = ? OR n.id IN"
				   " (SELECT n2.id FROM visitor v JOIN note n2 ON n2.site_id = v.site_id"
				   " AND n2.vid = v.vid WHERE v.contact_id = ?))"
				   " AND (n.created_at < ? OR (n.created_at = ? AND n.id < ?))"
				   " ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
				   "iiiiii", cid, cid, at, at, id, limit + 1);
	} else {
		int64_t site_id = op->site_id, cid = 0;
		int rc = visitor_find(db, &site_id, op->vid, &cid);
		if (rc)
			return rc;
		st = em_db_prepare(db,
				   NOTE_COLS "WHERE n.deleted_at IS NULL AND ((n.site_id = ? AND n.vid = ?)"
					     " OR (? <> 0 AND n.contact_id = ?))"
					     " AND (n.created_at < ? OR (n.created_at = ? AND n.id < ?))"
					     " ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
				   "itiiiiii", site_id, op->vid, cid, cid, at, at, id, limit + 1);
	}
	if (!st)
		return EM_EIO;
	json_t *list = json_array();
	char next[48];
	int rc = collect(st, list, (int)limit, next, sizeof next);
	if (rc) {
		json_decref(list);
		return rc;
	}
	op->out = json_pack("{s:o, s:s?}", "notes", list, "next_cursor", next[0] ? next : NULL);
	return 0;
}

/* Reads one live note by public id into a JSON object. */
static json_t *note_get(em_db *db, const char *public_id, int64_t *id, int64_t *author)
{
	em_stmt *st =
		em_db_prepare(db, NOTE_COLS "WHERE n.public_id = ? AND n.deleted_at IS NULL", "t", public_id);
	json_t *n = NULL;
	if (em_stmt_step(st) == 1) {
		n = note_row(st);
		if (id)
			*id = em_stmt_int(st, 0);
		if (author)
			*author = em_stmt_is_null(st, 11) ? 0 : em_stmt_int(st, 11);
	}
	em_stmt_done(st);
	return n;
}

static json_t *hub_event(const char *action, json_t *note)
{
	return json_pack("{s:s, s:s, s:O}", "type", "note", "action", action, "note", note);
}

int em_notes_create_db(em_db *db, void *arg)
{
	em_note_op *op = arg;
	int64_t site_id = op->site_id, contact_id = 0;
	const char *vid = NULL;
	int rc;
	if (op->contact[0]) {
		rc = em_notes_contact_find_db(db, op->contact, &contact_id, &site_id);
	} else {
		rc = visitor_find(db, &site_id, op->vid, &contact_id);
		vid = op->vid;
	}
	if (rc)
		return rc;
	char pid[32];
	pid[0] = 'n';
	em_id_random(pid + 1, sizeof pid - 1, 8);
	int64_t now = em_now_ms();
	if (em_db_exec(db,
		       "INSERT INTO note (public_id, site_id, contact_id, vid, author_id, body, created_at,"
		       " updated_at) VALUES (?, ?, nullif(?, 0), ?, nullif(?, 0), ?, ?, ?)",
		       "tiititii", pid, site_id, contact_id, vid, op->operator_id, op->body, now, now))
		return EM_EIO;
	json_t *note = note_get(db, pid, NULL, NULL);
	if (!note)
		return EM_EIO;
	json_t *payload = json_pack("{s:O}", "note", note);
	rc = em_webhooks_enqueue_db(db, "note.created", payload);
	json_decref(payload);
	if (rc) {
		json_decref(note);
		return rc;
	}
	op->queued = 1;
	op->event = hub_event("created", note);
	op->out = json_pack("{s:o}", "note", note);
	return 0;
}

/* Finds a live note the operator may change. */
static int note_mine(em_db *db, em_note_op *op, int64_t *id, char **old_body)
{
	em_stmt *st = em_db_prepare(
		db, "SELECT id, author_id, body FROM note WHERE public_id = ? AND deleted_at IS NULL", "t",
		op->note);
	int rc = em_stmt_step(st);
	*id = rc == 1 ? em_stmt_int(st, 0) : 0;
	int64_t author = rc == 1 && !em_stmt_is_null(st, 1) ? em_stmt_int(st, 1) : 0;
	if (rc == 1 && old_body)
		*old_body = em_strdup(em_stmt_text(st, 2));
	em_stmt_done(st);
	if (rc != 1)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	if (!op->is_admin && author != op->operator_id) {
		if (old_body) {
			em_free(*old_body);
			*old_body = NULL;
		}
		return EM_EPERM;
	}
	return 0;
}

int em_notes_update_db(em_db *db, void *arg)
{
	em_note_op *op = arg;
	int64_t id;
	char *old = NULL;
	int rc = note_mine(db, op, &id, &old);
	if (rc)
		return rc;
	int64_t now = em_now_ms();
	int same = !strcmp(old, op->body);
	/* An edit that changes nothing leaves no revision behind. */
	if (!same && (em_db_exec(db,
				 "INSERT INTO note_revision (note_id, body, editor_id, created_at)"
				 " VALUES (?, ?, nullif(?, 0), ?)",
				 "itii", id, old, op->operator_id, now) ||
		      em_db_exec(db, "UPDATE note SET body = ?, updated_at = ? WHERE id = ?", "tii", op->body,
				 now, id))) {
		em_free(old);
		return EM_EIO;
	}
	em_free(old);
	json_t *note = note_get(db, op->note, NULL, NULL);
	if (!note)
		return EM_EIO;
	if (!same)
		op->event = hub_event("updated", note);
	op->out = json_pack("{s:o}", "note", note);
	return 0;
}

int em_notes_delete_db(em_db *db, void *arg)
{
	em_note_op *op = arg;
	int64_t id;
	int rc = note_mine(db, op, &id, NULL);
	if (rc)
		return rc;
	json_t *note = note_get(db, op->note, NULL, NULL);
	if (!note)
		return EM_EIO;
	if (em_db_exec(db, "UPDATE note SET deleted_at = ? WHERE id = ?", "ii", em_now_ms(), id)) {
		json_decref(note);
		return EM_EIO;
	}
	op->event = hub_event("deleted", note);
	json_decref(note);
	return 0;
}

int em_notes_revisions_db(em_db *db, void *arg)
{
	em_note_op *op = arg;
	int64_t id;
	json_t *note = note_get(db, op->note, &id, NULL);
	if (!note)
		return EM_ENOTFOUND;
	json_t *list = json_array();
	em_stmt *st = em_db_prepare(db,
				    "SELECT r.body, r.created_at, o.public_id, o.name FROM note_revision r"
				    " LEFT JOIN operator o ON o.id = r.editor_id WHERE r.note_id = ?"
				    " ORDER BY r.created_at DESC, r.id DESC",
				    "i", id);
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		json_t *editor = em_stmt_is_null(st, 2) ? json_null()
							: json_pack("{s:s, s:s}", "id", em_stmt_text(st, 2),
								    "name", em_stmt_text(st, 3));
		/* Each revision is a text the note had until `replaced_at`. */
		json_array_append_new(list,
				      json_pack("{s:s, s:o, s:o}", "body", em_stmt_text(st, 0), "replaced_at",
						em_json_time(em_stmt_int(st, 1)), "editor", editor));
	}
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(note);
		json_decref(list);
		return EM_EIO;
	}
	op->out = json_pack("{s:o, s:o}", "note", note, "revisions", list);
	return 0;
}
