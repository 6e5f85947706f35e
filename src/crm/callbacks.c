/*
** Call-me-back requests: validation and scheduling, storage, and the loop's
** overdue check (see callbacks.h).
*/
#include "crm/callbacks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/auth.h"
#include "crm/contacts.h"
#include "crm/notes.h"
#include "crm/webhooks.h"
#include "live/hub.h"
#include "net/loop.h"

/* ---- Pure helpers ------------------------------------------------------ */

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int em_callback_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, se, frac = 0;
	if (!s)
		return EM_EINVAL;
	const char *p = s;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return EM_EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return EM_EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
		return EM_EINVAL;
	if (*p == '.') {
		p++;
		int n = 0;
		for (; isdigit((unsigned char)*p); p++, n++) {
			if (n >= 9)
				return EM_EINVAL;
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		}
		if (!n)
			return EM_EINVAL;
		for (; n < 3; n++) /* ".5" is 500 ms */
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return EM_EINVAL;
		off = sign * (oh * 60 + om);
	} else {
		return EM_EINVAL;
	}
	if (*p)
		return EM_EINVAL;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
	    mi > 59 || se > 60)
		return EM_EINVAL;
	if (se == 60) /* a leap second counts as the last second of its minute */
		se = 59;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - (int64_t)off * 60;
	if (secs < 0)
		return EM_EINVAL;
	*ms = secs * 1000 + frac;
	return 0;
}

int em_callback_schedule(int64_t now, int64_t window_start, int64_t window_end, int64_t *due,
			 const char **field, const char **why)
{
	if (window_start && window_end && window_end <= window_start) {
		*field = "window_end";
		*why = "window_end must be after window_start";
		return EM_EINVAL;
	}
	if (window_end && window_end <= now) {
		*field = "window_end";
		*why = "this time window is already over";
		return EM_EINVAL;
	}
	if (window_start && window_start > now + EM_CALLBACK_AHEAD_MS) {
		*field = "window_start";
		*why = "window_start may be at most 90 days ahead";
		return EM_EINVAL;
	}
	*due = window_start > now ? window_start : now;
	return 0;
}

int64_t em_callback_retry_at(int64_t now, int attempts, int retry_min, int64_t window_start)
{
	if (attempts < 1)
		attempts = 1;
	int64_t delay = (int64_t)retry_min * 60000 * attempts;
	if (delay > EM_CALLBACK_RETRY_CAP_MS)
		delay = EM_CALLBACK_RETRY_CAP_MS;
	int64_t at = now + delay;
	return window_start > at ? window_start : at;
}

static const char *const status_names[] = {"open", "called", "no_answer", "done", "cancelled"};

int em_callback_status_bit(const char *status)
{
	for (int i = 0; i < 5; i++)
		if (status && !strcmp(status, status_names[i]))
			return 1 << i;
	return 0;
}

int em_callback_status_mask(const char *list, int *mask)
{
	*mask = 0;
	if (!list || !*list)
		return EM_EINVAL;
	char one[16];
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof one)
			return EM_EINVAL;
		memcpy(one, p, n);
		one[n] = 0;
		int bit = em_callback_status_bit(one);
		if (!bit)
			return EM_EINVAL;
		*mask |= bit;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int active_status(const char *status)
{
	return (em_callback_status_bit(status) & (EM_CB_OPEN | EM_CB_NO_ANSWER)) != 0;
}

/* ---- Storage ----------------------------------------------------------- */

#define CB_COLS \
	"SELECT cb.id, cb.public_id, s.key, c.public_id, c.name, cb.vid, cb.name, cb.phone, cb.topic," \
	" cb.window_start, cb.window_end, cb.due_at, cb.status, cb.attempts, o.public_id, o.name," \
	" cb.created_at, cb.updated_at FROM callback_request cb JOIN site s ON s.id = cb.site_id" \
	" LEFT JOIN contact c ON c.id = cb.contact_id LEFT JOIN operator o ON o.id = cb.assigned_id "

static json_t *cb_row(em_stmt *st, int64_t now)
{
	const char *status = em_stmt_text(st, 12);
	int64_t due = em_stmt_int(st, 11);
	json_t *contact = em_stmt_is_null(st, 3) ? json_null()
						 : json_pack("{s:s, s:s}", "id", em_stmt_text(st, 3), "name",
							     em_stmt_text(st, 4));
	json_t *assigned = em_stmt_is_null(st, 14) ? json_null()
						   : json_pack("{s:s, s:s}", "id", em_stmt_text(st, 14),
							       "name", em_stmt_text(st, 15));
	return json_pack("{s:s, s:s, s:o, s:s?, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:I, s:o, s:b, s:o, s:o}",
			 "id", em_stmt_text(st, 1), "site", em_stmt_text(st, 2), "contact", contact, "vid",
			 em_stmt_text(st, 5), "name", em_stmt_text(st, 6), "phone", em_stmt_text(st, 7),
			 "topic", em_stmt_text(st, 8), "window_start",
			 em_json_time(em_stmt_is_null(st, 9) ? 0 : em_stmt_int(st, 9)), "window_end",
			 em_json_time(em_stmt_is_null(st, 10) ? 0 : em_stmt_int(st, 10)), "due_at",
			 em_json_time(due), "status", status, "attempts", (json_int_t)em_stmt_int(st, 13),
			 "assigned", assigned, "overdue", active_status(status) && due < now, "created_at",
			 em_json_time(em_stmt_int(st, 16)), "updated_at", em_json_time(em_stmt_int(st, 17)));
}

static json_t *cb_load(em_db *db, int64_t id, int64_t now)
{
	em_stmt *st = em_db_prepare(db, CB_COLS "WHERE cb.id = ?", "i", id);
	json_t *j = em_stmt_step(st) == 1 ? cb_row(st, now) : NULL;
	em_stmt_done(st);
	return j;
}

static int operator_find(em_db *db, const char *public_id, int64_t *id)
{
	em_stmt *st = em_db_prepare(db, "SELECT id FROM operator WHERE public_id = ? AND disabled = 0", "t",
				    public_id);
	int rc = em_stmt_step(st);
	*id = rc == 1 ? em_stmt_int(st, 0) : 0;
	em_stmt_done(st);
	return rc == 1 ? 0 : rc < 0 ? EM_EIO : EM_ENOTFOUND;
}

/* Announces the write's result: webhook row now, console event after COMMIT. */
static int finish_write(em_db *db, em_callback_op *op, int64_t id, const char *event)
{
	json_t *cb = cb_load(db, id, op->now);
	if (!cb)
		return EM_EIO;
	json_t *payload = json_pack("{s:O}", "callback", cb);
	int rc = em_webhooks_enqueue_db(db, event, payload);
	json_decref(payload);
	if (rc) {
		json_decref(cb);
		return rc;
	}
	op->cb = cb;
	op->out = json_pack("{s:O}", "callback", cb);
	return 0;
}

int em_callbacks_create_db(em_db *db, void *arg)
{
	em_callback_op *op = arg;
	int64_t contact_id = 0, site_id = op->site_id, assigned = 0;
	const char *vid = op->vid[0] ? op->vid : NULL;
	int rc;
	if (op->assigned[0]) {
		rc = operator_find(db, op->assigned, &assigned);
		if (rc) {
			op->error_field = 2;
			return rc == EM_ENOTFOUND ? EM_EINVAL : rc;
		}
	}
	if (op->contact[0]) {
		rc = em_notes_contact_find_db(db, op->contact, &contact_id, &site_id);
		if (rc) {
			op->error_field = 1;
			return rc == EM_ENOTFOUND ? EM_EINVAL : rc;
		}
		if (!op->phone[0]) {
			em_stmt *st =
				em_db_prepare(db, "SELECT phone FROM contact WHERE id = ?", "i", contact_id);
			if (em_stmt_step(st) == 1)
				snprintf(op->phone, sizeof op->phone, "%s", em_stmt_text(st, 0));
			em_stmt_done(st);
			if (!op->phone[0]) {
				op->error_field = 3;
				return EM_EINVAL;
			}
		}
		if (vid && (rc = em_contacts_link_visitor_db(db, site_id, vid, contact_id)))
			return rc;
	} else {
		if (vid) {
			/* A form sent twice (a retry, a double click) asks for one call. */
			em_stmt *st = em_db_prepare(
				db,
				"SELECT id FROM callback_request WHERE site_id = ? AND vid = ?"
				" AND phone = ? AND status IN ('open', 'no_answer') ORDER BY id LIMIT 1",
				"itt", site_id, vid, op->phone);
			rc = em_stmt_step(st);
			int64_t same = rc == 1 ? em_stmt_int(st, 0) : 0;
			em_stmt_done(st);
			if (rc < 0)
				return EM_EIO;
			if (same) {
				op->cb = cb_load(db, same, op->now);
				if (!op->cb)
					return EM_EIO;
				op->out = json_pack("{s:O}", "callback", op->cb);
				return 0;
			}
		}
		em_contact_input in = {0};
		in.name = op->name[0] ? op->name : NULL;
		in.phone = op->phone;
		in.source = "callback";
		char pub[32];
		int created = 0;
		rc = em_contacts_upsert_db(db, site_id, &in, vid, &contact_id, pub, &created);
		if (rc)
			return rc;
	}
	char pid[32];
	pid[0] = 'c';
	pid[1] = 'b';
	em_id_random(pid + 2, sizeof pid - 2, 8);
	if (em_db_exec(
		    db,
		    "INSERT INTO callback_request (public_id, site_id, contact_id, vid, name, phone, topic,"
		    " window_start, window_end, due_at, status, attempts, assigned_id, created_at, "
		    "updated_at)"
		    " VALUES (?, ?, nullif(?, 0), ?, ?, ?, ?, nullif(?, 0), nullif(?, 0), ?, 'open', 0,"
		    " nullif(?, 0), ?, ?)",
		    "tiitttti"
		    "iiiii",
		    pid, site_id, contact_id, vid, op->name, op->phone, op->topic ? op->topic : "",
		    op->window_start, op->window_end, op->due_at, assigned, op->now, op->now))
		return EM_EIO;
	int64_t id = em_db_last_id(db);
	if (op->consent &&
	    em_db_exec(
		    db,
		    "INSERT INTO consent_record (site_id, contact_id, vid, purpose, granted, wording, source,"
		    " created_at) VALUES (?, nullif(?, 0), ?, 'callback', 1, ?, ?, ?)",
		    "iittti", site_id, contact_id, vid, op->consent_text ? op->consent_text : "",
		    op->operator_id ? "operator" : "widget", op->now))
		return EM_EIO;
	rc = finish_write(db, op, id, "callback.requested");
	if (rc)
		return rc;
	op->created = 1;
	op->due_out = op->due_at;
	return 0;
}

int em_callbacks_update_db(em_db *db, void *arg)
{
	em_callback_op *op = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT id, status, assigned_id, attempts, window_start, due_at FROM callback_request"
		" WHERE public_id = ?",
		"t", op->id);
	int rc = em_stmt_step(st);
	if (rc != 1) {
		em_stmt_done(st);
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	}
	int64_t id = em_stmt_int(st, 0);
	char old_status[16];
	snprintf(old_status, sizeof old_status, "%s", em_stmt_text(st, 1));
	int64_t owner = em_stmt_is_null(st, 2) ? 0 : em_stmt_int(st, 2);
	int attempts = (int)em_stmt_int(st, 3);
	int64_t window_start = em_stmt_is_null(st, 4) ? 0 : em_stmt_int(st, 4);
	int64_t due = em_stmt_int(st, 5);
	em_stmt_done(st);
	/* Agents work the requests that are theirs or nobody's. */
	if (!op->is_admin && owner && owner != op->operator_id)
		return EM_EPERM;
	int64_t assigned = owner;
	if (op->has_assigned) {
		assigned = 0;
		if (op->assigned[0] && (rc = operator_find(db, op->assigned, &assigned))) {
			op->error_field = 2;
			return rc == EM_ENOTFOUND ? EM_EINVAL : rc;
		}
		if (!op->is_admin && assigned && assigned != op->operator_id)
			return EM_EPERM;
	}
	const char *status = op->has_status ? op->status : old_status;
	int reschedule = 0;
	if (op->has_status && (!strcmp(status, "called") || !strcmp(status, "no_answer")))
		attempts++;
	if (op->has_status && !strcmp(status, "no_answer")) {
		due = em_callback_retry_at(op->now, attempts, op->retry_min, window_start);
		reschedule = 1;
	}
	if (op->has_status && !strcmp(status, "open") && !active_status(old_status))
		reschedule = 1; /* reopened */
	if (op->has_due) {
		due = op->due_at;
		reschedule = 1;
	}
	if (em_db_exec(db,
		       "UPDATE callback_request SET status = ?, attempts = ?, due_at = ?, assigned_id = "
		       "nullif(?, 0),"
		       " topic = coalesce(?, topic), name = coalesce(?, name),"
		       " overdue_sent = CASE WHEN ? = 1 THEN 0 ELSE overdue_sent END, updated_at = ? WHERE "
		       "id = ?",
		       "tIiittIii", status, attempts, due, assigned, op->has_topic ? op->topic : NULL,
		       op->has_name ? op->name : NULL, reschedule, op->now, id))
		return EM_EIO;
	rc = finish_write(db, op, id, "callback.updated");
	if (rc)
		return rc;
	op->due_out = active_status(status) && reschedule ? due : 0;
	return 0;
}

int em_callbacks_get_db(em_db *db, void *arg)
{
	em_callback_op *op = arg;
	em_stmt *st = em_db_prepare(db, CB_COLS "WHERE cb.public_id = ?", "t", op->id);
	int rc = em_stmt_step(st);
	json_t *j = rc == 1 ? cb_row(st, op->now) : NULL;
	em_stmt_done(st);
	if (!j)
		return rc < 0 ? EM_EIO : EM_ENOTFOUND;
	op->out = json_pack("{s:o}", "callback", j);
	return 0;
}

int em_callbacks_list_db(em_db *db, void *arg)
{
	em_callback_op *op = arg;
	int64_t contact_id = 0;
	if (op->contact[0]) {
		int rc = em_notes_contact_find_db(db, op->contact, &contact_id, NULL);
		if (rc == EM_ENOTFOUND) {
			op->error_field = 1;
			return EM_EINVAL;
		}
		if (rc)
			return rc;
	}
	if (op->assigned_mode == 1 && op->assigned[0]) {
		int rc = operator_find(db, op->assigned, &op->assigned_id);
		if (rc == EM_ENOTFOUND) {
			op->error_field = 2;
			return EM_EINVAL;
		}
		if (rc)
			return rc;
	}
	int64_t limit = op->limit > 0 ? op->limit : EM_CALLBACK_LIST_DEFAULT;
	/* The statuses asked for ("" for the others), so that the lookup runs
	** on the (status, due_at) index and only matching rows are sorted. */
	const char *want[5];
	int mask = op->status_mask ? op->status_mask : 31;
	for (int i = 0; i < 5; i++)
		want[i] = mask & (1 << i) ? status_names[i] : "";
	/* An overdue request is a waiting one. */
	if (op->overdue_only)
		for (int i = 0; i < 5; i++)
			if (!((1 << i) & (EM_CB_OPEN | EM_CB_NO_ANSWER)))
				want[i] = "";
	em_stmt *st = em_db_prepare(
		db,
		CB_COLS
		"WHERE cb.status IN (?, ?, ?, ?, ?)"
		" AND (? = 0 OR (? = 1 AND cb.assigned_id = ?) OR (? = 2 AND cb.assigned_id IS NULL))"
		" AND (? = 0 OR cb.due_at < ?) AND (? = 0 OR cb.site_id = ?) AND (? = 0 OR cb.contact_id = ?)"
		" AND (cb.due_at > ? OR (cb.due_at = ? AND cb.id > ?))"
		" ORDER BY cb.due_at, cb.id LIMIT ?",
		"tttttIIiIIiiiiiiiii", want[0], want[1], want[2], want[3], want[4], op->assigned_mode,
		op->assigned_mode, op->assigned_id, op->assigned_mode, op->overdue_only, op->now, op->site_id,
		op->site_id, contact_id, contact_id, op->cursor_id ? op->cursor_due : INT64_MIN,
		op->cursor_due, op->cursor_id, limit + 1);
	if (!st)
		return EM_EIO;
	json_t *list = json_array();
	int rc, n = 0;
	int64_t last_due = 0, last_id = 0;
	char next[48] = "";
	while ((rc = em_stmt_step(st)) == 1) {
		if (n == limit) {
			em_notes_cursor(last_due, last_id, next);
			break;
		}
		last_id = em_stmt_int(st, 0);
		last_due = em_stmt_int(st, 11);
		json_array_append_new(list, cb_row(st, op->now));
		n++;
	}
	em_stmt_done(st);
	if (rc < 0) {
		json_decref(list);
		return EM_EIO;
	}
	op->out = json_pack("{s:o, s:s?}", "callbacks", list, "next_cursor", next[0] ? next : NULL);
	return 0;
}

json_t *em_callbacks_public_json(const json_t *cb)
{
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(cb, "id"), "status",
			 json_object_get(cb, "status"), "due_at", json_object_get(cb, "due_at"),
			 "window_start", json_object_get(cb, "window_start"), "window_end",
			 json_object_get(cb, "window_end"));
}

/* ---- The overdue check on the loop ------------------------------------- */

#define SCAN_MAX 100
#define PUBLIC_KEYS_MAX 10000
#define PUBLIC_WINDOW_MS (10 * 60 * 1000)

static em_app *app;
static em_timer *tick;
static em_ratelimit *public_limit;
static int64_t next_due; /* earliest due time not yet announced; 0 = none */
static int scanning;

typedef struct scan_ctx {
	int64_t now;
	json_t *list;
	int64_t next_due;
} scan_ctx;

/* The earliest due time among waiting requests not yet announced. */
static int64_t first_due_db(em_db *db)
{
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT min(due_at) FROM callback_request WHERE status IN ('open', 'no_answer')"
			      " AND overdue_sent = 0",
			      "");
	int64_t due = 0;
	if (em_stmt_step(st) == 1 && !em_stmt_is_null(st, 0))
		due = em_stmt_int(st, 0);
	em_stmt_done(st);
	return due;
}

/* Marks the requests that just became overdue as announced. */
static int scan_db(em_db *db, void *arg)
{
	scan_ctx *x = arg;
	x->list = json_array();
	em_stmt *st = em_db_prepare(db,
				    "SELECT id FROM callback_request WHERE status IN ('open', 'no_answer')"
				    " AND overdue_sent = 0 AND due_at < ? ORDER BY due_at LIMIT ?",
				    "iI", x->now, SCAN_MAX);
	int64_t ids[SCAN_MAX];
	int n = 0, rc;
	while (n < SCAN_MAX && (rc = em_stmt_step(st)) == 1)
		ids[n++] = em_stmt_int(st, 0);
	em_stmt_done(st);
	for (int i = 0; i < n; i++) {
		if (em_db_exec(db, "UPDATE callback_request SET overdue_sent = 1 WHERE id = ?", "i", ids[i]))
			return EM_EIO;
		json_t *cb = cb_load(db, ids[i], x->now);
		if (cb)
			json_array_append_new(x->list, cb);
	}
	x->next_due = first_due_db(db);
	return 0;
}

static void scan_done(int status, void *arg)
{
	scan_ctx *x = arg;
	scanning = 0;
	if (!status) {
		size_t i;
		json_t *cb;
		json_array_foreach(x->list, i, cb)
		{
			json_t *ev = json_pack("{s:s, s:s, s:O}", "type", "callback", "action", "overdue",
					       "callback", cb);
			em_hub_publish(ev, 0);
			json_decref(ev);
		}
		next_due = x->next_due;
	} else {
		em_warn("callback overdue check failed", "err=%s", em_strerror(status));
	}
	json_decref(x->list);
	em_free(x);
}

static void on_tick(void *arg)
{
	(void)arg;
	int64_t now = em_now_ms();
	if (scanning || !next_due || now <= next_due || !app || app->shutting_down)
		return;
	scan_ctx *x = em_calloc(1, sizeof *x);
	x->now = now;
	scanning = 1;
	if (em_store_write(app->store, scan_db, scan_done, x)) {
		scanning = 0;
		em_free(x);
	}
}

static int init_db(em_db *db, void *arg)
{
	*(int64_t *)arg = first_due_db(db);
	return 0;
}

int em_callbacks_init(em_app *a)
{
	app = a;
	int64_t due = 0;
	int rc = em_store_read_sync(a->store, init_db, &due);
	if (rc)
		return rc;
	next_due = due;
	scanning = 0;
	/* Checks the in-memory due time every second; the store is read only
	** when a request is actually due. */
	tick = em_timer_start(1000, 1000, on_tick, NULL);
	public_limit = em_ratelimit_new(PUBLIC_KEYS_MAX, a->cfg.chat_callback_ip_limit, PUBLIC_WINDOW_MS);
	return 0;
}

void em_callbacks_shutdown(void)
{
	if (tick)
		em_timer_stop(tick);
	tick = NULL;
	em_ratelimit_free(public_limit);
	public_limit = NULL;
	app = NULL;
	next_due = 0;
}

void em_callbacks_committed(const em_callback_op *op, const char *action)
{
	if (!op->cb)
		return;
	if (!strcmp(action, "created") && !op->created)
		return; /* a repeated form: nothing new */
	json_t *ev = json_pack("{s:s, s:s, s:O}", "type", "callback", "action", action, "callback", op->cb);
	em_hub_publish(ev, 0);
	json_decref(ev);
	em_webhooks_kick();
	if (op->due_out && (!next_due || op->due_out < next_due))
		next_due = op->due_out;
}

int em_callbacks_public_admit(const char *ip, int64_t now)
{
	if (!public_limit)
		return 1;
	int wait = em_ratelimit_blocked(public_limit, ip, now);
	if (wait)
		return wait;
	em_ratelimit_hit(public_limit, ip, now);
	return 0;
}
