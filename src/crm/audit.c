/*
** The audit log (see audit.h).
*/
#include "crm/audit.h"

#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

struct audit_add {
	int64_t at;
	int64_t operator_id;
	char action[EM_AUDIT_ACTION_MAX + 1];
	char target[EM_AUDIT_TARGET_MAX + 1];
	char ip[EM_AUDIT_IP_MAX + 1];
	char detail[EM_AUDIT_DETAIL_MAX + 1];
};

/* Copies s into dst, cutting it short rather than failing: an audit entry
** with a truncated detail is worth more than none. The cut never splits a
** UTF-8 sequence, so the entry still serialises as JSON. */
static void copy_cut(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s ? s : "");
	if (n < cap) {
		memcpy(dst, s ? s : "", n + 1);
		return;
	}
	n = cap - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int audit_insert(em_db *db, void *arg)
{
	struct audit_add *a = arg;
	if (a->operator_id > 0)
		return em_db_exec(db,
				  "INSERT INTO audit_log (at, operator_id, action, target, ip, detail) "
				  "VALUES (?, ?, ?, ?, ?, ?)",
				  "iitttt", a->at, a->operator_id, a->action, a->target, a->ip, a->detail);
	return em_db_exec(db,
			  "INSERT INTO audit_log (at, operator_id, action, target, ip, detail) "
			  "VALUES (?, NULL, ?, ?, ?, ?)",
			  "itttt", a->at, a->action, a->target, a->ip, a->detail);
}

static void audit_inserted(int status, void *arg)
{
	struct audit_add *a = arg;
	if (status)
		em_warn("audit entry lost", "action=%s status=%d", a->action, status);
	em_free(a);
}

void em_audit(em_app *app, int64_t operator_id, const char *action, const char *target, const char *ip,
	      const char *detail)
{
	struct audit_add *a = em_calloc(1, sizeof *a);
	a->at = em_now_ms();
	a->operator_id = operator_id;
	copy_cut(a->action, sizeof a->action, action);
	copy_cut(a->target, sizeof a->target, target);
	copy_cut(a->ip, sizeof a->ip, ip);
	copy_cut(a->detail, sizeof a->detail, detail);
	int rc = em_store_write(app->store, audit_insert, audit_inserted, a);
	if (rc) {
		em_warn("audit entry dropped", "action=%s status=%d", a->action, rc);
		em_free(a);
		return;
	}
	/* Whoever learns of the action next (its answer often goes out before
	** the entry's COMMIT) and then reads the log finds the entry there. */
	em_store_fence(app->store);
}

struct audit_page {
	int64_t before_id;
	int limit;
	em_audit_entry *e;
	size_t n;
	int more;
	void (*done)(int, const em_audit_entry *, size_t, int, void *);
	void *arg;
};

static int audit_select(em_db *db, void *arg)
{
	struct audit_page *p = arg;
	/* One row beyond the page says whether there is a next one. */
	em_stmt *st =
		em_db_prepare(db,
			      "SELECT a.id, a.at, o.public_id, o.email, a.action, a.target, a.ip, a.detail "
			      "FROM audit_log a LEFT JOIN operator o ON o.id = a.operator_id "
			      "WHERE a.id < ? ORDER BY a.id DESC LIMIT ?",
			      "iI", p->before_id > 0 ? p->before_id : INT64_MAX, p->limit + 1);
	if (!st)
		return EM_EIO;
	int rc;
	while ((rc = em_stmt_step(st)) == 1) {
		if (p->n == (size_t)p->limit) {
			p->more = 1;
			break;
		}
		em_audit_entry *e = &p->e[p->n++];
		e->id = em_stmt_int(st, 0);
		e->at = em_stmt_int(st, 1);
		copy_cut(e->operator_id, sizeof e->operator_id, em_stmt_text(st, 2));
		copy_cut(e->operator_email, sizeof e->operator_email, em_stmt_text(st, 3));
		copy_cut(e->action, sizeof e->action, em_stmt_text(st, 4));
		copy_cut(e->target, sizeof e->target, em_stmt_text(st, 5));
		copy_cut(e->ip, sizeof e->ip, em_stmt_text(st, 6));
		copy_cut(e->detail, sizeof e->detail, em_stmt_text(st, 7));
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void audit_selected(int status, void *arg)
{
	struct audit_page *p = arg;
	p->done(status, p->e, status ? 0 : p->n, p->more, p->arg);
	em_free(p->e);
	em_free(p);
}

void em_audit_list(em_app *app, int64_t before_id, int limit,
		   void (*done)(int status, const em_audit_entry *e, size_t n, int more, void *arg),
		   void *arg)
{
	if (limit < 1)
		limit = 1;
	if (limit > EM_AUDIT_PAGE_MAX)
		limit = EM_AUDIT_PAGE_MAX;
	struct audit_page *p = em_calloc(1, sizeof *p);
	p->before_id = before_id;
	p->limit = limit;
	p->e = em_calloc((size_t)limit, sizeof *p->e);
	p->done = done;
	p->arg = arg;
	int rc = em_store_read(app->store, audit_select, audit_selected, p);
	if (rc) {
		done(rc, NULL, 0, 0, arg);
		em_free(p->e);
		em_free(p);
	}
}
