/*
** Operators (see operators.h): validation, permission rules and the store
** work for creating, reading and changing operator accounts.
**
** An update runs as a chain of callbacks on the loop: (read the current
** hash -> verify the current password on the pool)? -> (hash the new
** password on the pool)? -> one write transaction that checks, updates and
** revokes sessions -> the auth cache and the audit log. Every step that can
** fail ends the chain through op_finish(), which calls the caller's callback.
*/
#include "crm/operators.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "crm/audit.h"
#include "crm/auth.h"
#include "store/store.h"

/* ---- Pure helpers ----------------------------------------------------- */

int em_operator_email_valid(const char *email)
{
	if (!email)
		return 0;
	size_t n = strlen(email);
	if (n < 3 || n > EM_EMAIL_MAX)
		return 0;
	const char *at = strchr(email, '@');
	if (!at || strchr(at + 1, '@'))
		return 0;
	size_t local = (size_t)(at - email), domain = n - local - 1;
	if (local < 1 || local > 64 || domain < 1)
		return 0;
	for (const char *p = email; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
			return 0;
	}
	const char *d = at + 1;
	if (d[0] == '.' || d[0] == '-' || d[domain - 1] == '.' || d[domain - 1] == '-' || strstr(d, ".."))
		return 0;
	for (const char *p = d; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

void em_operator_email_normalize(const char *email, char *out, size_t outlen)
{
	size_t i = 0;
	if (outlen == 0)
		return;
	for (; email[i] && i + 1 < outlen; i++) {
		char c = email[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
}

int em_operator_role_parse(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "admin") == 0)
		return EM_ROLE_ADMIN;
	if (strcmp(s, "agent") == 0)
		return EM_ROLE_AGENT;
	return -1;
}

const char *em_operator_role_name(int role)
{
	return role == EM_ROLE_ADMIN ? "admin" : "agent";
}

static int lang_valid(const char *s)
{
	return s && (strcmp(s, "de") == 0 || strcmp(s, "en") == 0);
}

/* Names are shown in the console and in chats: no control characters. */
static int name_valid(const char *s)
{
	if (strlen(s) > EM_NAME_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int password_valid(const char *s)
{
	size_t n = strlen(s);
	return n >= EM_PASSWORD_MIN && n <= EM_PASSWORD_MAX;
}

/* ---- Rows ------------------------------------------------------------- */

static void copy_col(char *dst, size_t cap, em_stmt *st, int col)
{
	const char *s = em_stmt_text(st, col);
	snprintf(dst, cap, "%s", s ? s : "");
}

void em__operator_from_row(em_stmt *st, em_operator *op)
{
	memset(op, 0, sizeof *op);
	op->id = em_stmt_int(st, 0);
	copy_col(op->public_id, sizeof op->public_id, st, 1);
	copy_col(op->email, sizeof op->email, st, 2);
	copy_col(op->name, sizeof op->name, st, 3);
	const char *role = em_stmt_text(st, 4);
	op->role = role && strcmp(role, "admin") == 0 ? EM_ROLE_ADMIN : EM_ROLE_AGENT;
	op->max_chats = (int)em_stmt_int(st, 5);
	copy_col(op->lang, sizeof op->lang, st, 6);
	op->disabled = em_stmt_int(st, 7) != 0;
	op->created_at = em_stmt_int(st, 8);
	op->updated_at = em_stmt_int(st, 9);
}

static int db_select_by_public_id(em_db *db, const char *public_id, em_operator *op, char *pwhash,
				  size_t pwhash_len)
{
	em_stmt *st = em_db_prepare(
		db, "SELECT " EM_OPERATOR_COLUMNS ", password_hash FROM operator WHERE public_id = ?", "t",
		public_id);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	if (rc == 1) {
		em__operator_from_row(st, op);
		if (pwhash)
			copy_col(pwhash, pwhash_len, st, 10);
	}
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : rc == 0 ? EM_ENOTFOUND : 0;
}

int em__operator_insert(em_db *db, em_operator *op, const char *pwhash)
{
	char email[sizeof op->email];
	em_operator_email_normalize(op->email, email, sizeof email);
	snprintf(op->email, sizeof op->email, "%s", email);
	em_stmt *st = em_db_prepare(db, "SELECT 1 FROM operator WHERE email = ?", "t", op->email);
	if (!st)
		return EM_EIO;
	int rc = em_stmt_step(st);
	em_stmt_done(st);
	if (rc < 0)
		return EM_EIO;
	if (rc == 1)
		return EM_EEXIST;
	char rnd[24]; /* 12 random bytes as base32: 20 characters */
	em_id_random(rnd, sizeof rnd, 12);
	snprintf(op->public_id, sizeof op->public_id, "op_%s", rnd);
	op->created_at = op->updated_at = em_now_ms();
	if (!op->lang[0])
		snprintf(op->lang, sizeof op->lang, "en");
	if (op->max_chats < EM_MAX_CHATS_MIN)
		op->max_chats = 4;
	rc = em_db_exec(db,
			"INSERT INTO operator (public_id, email, name, role, password_hash, max_chats, lang, "
			"disabled, "
			"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
			"tttttItii", op->public_id, op->email, op->name, em_operator_role_name(op->role),
			pwhash, op->max_chats, op->lang, op->created_at, op->updated_at);
	if (rc)
		return rc;
	op->id = em_db_last_id(db);
	op->disabled = 0;
	return 0;
}

/* The part of an address before '@', as a first display name. */
static void default_name(const char *email, char *out, size_t outlen)
{
	size_t n = strcspn(email, "@");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, email, n);
	out[n] = '\0';
}

/* ---- The command line ------------------------------------------------- */

struct add_sync {
	em_operator op;
	char pwhash[EM_AUTH_PWHASH_MAX];
};

static int db_add_sync(em_db *db, void *arg)
{
	struct add_sync *a = arg;
	return em__operator_insert(db, &a->op, a->pwhash);
}

int em_operators_add_sync(em_store *s, const char *email, const char *role, const char *password, char *err,
			  size_t errlen)
{
	if (!em_operator_email_valid(email)) {
		snprintf(err, errlen, "'%.300s' is not an e-mail address", email ? email : "");
		return EM_EINVAL;
	}
	int r = em_operator_role_parse(role ? role : "agent");
	if (r < 0) {
		snprintf(err, errlen, "role must be admin or agent");
		return EM_EINVAL;
	}
	if (!password || !password_valid(password)) {
		snprintf(err, errlen, "the password must have %d to %d characters", EM_PASSWORD_MIN,
			 EM_PASSWORD_MAX);
		return EM_EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return EM_EIO;
	}
	struct add_sync a;
	memset(&a, 0, sizeof a);
	em_operator_email_normalize(email, a.op.email, sizeof a.op.email);
	default_name(a.op.email, a.op.name, sizeof a.op.name);
	a.op.role = r;
	int rc = em_auth_password_hash(password, a.pwhash, sizeof a.pwhash);
	if (rc == 0)
		rc = em_store_write_sync(s, db_add_sync, &a);
	sodium_memzero(a.pwhash, sizeof a.pwhash);
	if (rc == EM_EEXIST)
		snprintf(err, errlen, "an operator with the e-mail %s already exists", a.op.email);
	else if (rc)
		snprintf(err, errlen, "could not add the operator: %s", em_strerror(rc));
	return rc;
}

/* ---- Jobs on the loop ------------------------------------------------- */

struct op_job {
	em_app *app;
	em_operator_result res;
	int64_t actor_id;
	int actor_admin;
	char ip[64];
	char target[32]; /* public id of the operator read or changed */
	int self;	 /* the actor changes their own record */

	/* What the request asks for (copied: the caller's strings belong to
	** its request and the chain outlives the call). */
	char email[EM_EMAIL_MAX + 2];
	char name[EM_NAME_MAX + 1];
	int has_name;
	int role; /* -1 = unchanged */
	char lang[8];
	int has_lang;
	int max_chats, has_max_chats;
	int disabled, has_disabled;
	char pw[EM_PASSWORD_MAX + 1];
	int has_pw;
	char cur_pw[EM_PASSWORD_MAX + 1];

	char pwhash[EM_AUTH_PWHASH_MAX];   /* the new hash */
	char old_hash[EM_AUTH_PWHASH_MAX]; /* the hash the current password was checked against */
	int revoke;
	int was_disabled;
	char changed[128]; /* "name,role,..." for the audit log */

	em_operator *list;
	size_t n;
	em_operator_done done;
	em_operator_list_done list_done;
	void *arg;
};

static struct op_job *job_new(em_app *app, const em_principal *actor, const char *ip, em_operator_done done,
			      void *arg)
{
	struct op_job *j = em_calloc(1, sizeof *j);
	j->app = app;
	j->role = -1;
	if (actor) {
		j->actor_id = actor->operator_id;
		j->actor_admin = actor->role == EM_ROLE_ADMIN;
	}
	snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
	j->done = done;
	j->arg = arg;
	return j;
}

static void op_finish(struct op_job *j, int status)
{
	j->res.status = status;
	sodium_memzero(j->pw, sizeof j->pw);
	sodium_memzero(j->cur_pw, sizeof j->cur_pw);
	sodium_memzero(j->pwhash, sizeof j->pwhash);
	sodium_memzero(j->old_hash, sizeof j->old_hash);
	if (j->done)
		j->done(&j->res, j->arg);
	em_free(j->list);
	em_free(j);
}

/* Ends the chain with a field error. */
static void op_invalid(struct op_job *j, const char *field, const char *message)
{
	snprintf(j->res.field, sizeof j->res.field, "%s", field);
	snprintf(j->res.message, sizeof j->res.message, "%s", message);
	op_finish(j, EM_EINVAL);
}

static void op_fail(struct op_job *j, int status, const char *message)
{
	snprintf(j->res.message, sizeof j->res.message, "%s", message);
	op_finish(j, status);
}

/* Copies and checks the fields both create and update may carry. Returns 0,
** or -1 after ending the chain. */
static int take_input(struct op_job *j, const em_operator_input *in)
{
	if (in->name) {
		if (!name_valid(in->name)) {
			op_invalid(j, "name",
				   "the name may have at most 127 bytes and no control characters");
			return -1;
		}
		snprintf(j->name, sizeof j->name, "%s", in->name);
		j->has_name = 1;
	}
	if (in->role && (j->role = em_operator_role_parse(in->role)) < 0) {
		op_invalid(j, "role", "role must be admin or agent");
		return -1;
	}
	if (in->lang) {
		if (!lang_valid(in->lang)) {
			op_invalid(j, "lang", "lang must be de or en");
			return -1;
		}
		snprintf(j->lang, sizeof j->lang, "%s", in->lang);
		j->has_lang = 1;
	}
	if (in->has_max_chats) {
		if (in->max_chats < EM_MAX_CHATS_MIN || in->max_chats > EM_MAX_CHATS_MAX) {
			op_invalid(j, "max_chats", "max_chats must be between 1 and 50");
			return -1;
		}
		j->max_chats = in->max_chats;
		j->has_max_chats = 1;
	}
	if (in->has_disabled) {
		j->disabled = in->disabled != 0;
		j->has_disabled = 1;
	}
	if (in->password) {
		if (!password_valid(in->password)) {
			op_invalid(j, "password",
				   "the password must have at least 10 characters (at most 1024)");
			return -1;
		}
		snprintf(j->pw, sizeof j->pw, "%s", in->password);
		j->has_pw = 1;
	}
	if (in->current_password)
		snprintf(j->cur_pw, sizeof j->cur_pw, "%s", in->current_password);
	return 0;
}

/* ---- Create ----------------------------------------------------------- */

static int db_create(em_db *db, void *arg)
{
	struct op_job *j = arg;
	em_operator *op = &j->res.op;
	memset(op, 0, sizeof *op);
	snprintf(op->email, sizeof op->email, "%s", j->email);
	if (j->has_name)
		snprintf(op->name, sizeof op->name, "%s", j->name);
	else
		default_name(j->email, op->name, sizeof op->name);
	op->role = j->role;
	op->max_chats = j->has_max_chats ? j->max_chats : 4;
	snprintf(op->lang, sizeof op->lang, "%s", j->has_lang ? j->lang : "en");
	return em__operator_insert(db, op, j->pwhash);
}

static void created(int status, void *arg)
{
	struct op_job *j = arg;
	if (status == EM_EEXIST) {
		snprintf(j->res.field, sizeof j->res.field, "email");
		op_fail(j, status, "an operator with this e-mail address already exists");
		return;
	}
	if (status) {
		op_fail(j, status, "the operator could not be stored");
		return;
	}
	em__auth_operator_changed(j->app, &j->res.op, 0);
	char detail[96];
	snprintf(detail, sizeof detail, "role=%s", em_operator_role_name(j->res.op.role));
	em_audit(j->app, j->actor_id, "operator.created", j->res.op.public_id, j->ip, detail);
	op_finish(j, 0);
}

static void create_hashed(int status, const char *hash, void *arg)
{
	struct op_job *j = arg;
	sodium_memzero(j->pw, sizeof j->pw);
	if (status) {
		op_fail(j, status == EM_EAGAIN ? EM_EAGAIN : EM_EIO, "the password could not be hashed now");
		return;
	}
	snprintf(j->pwhash, sizeof j->pwhash, "%s", hash);
	int rc = em_store_write(j->app->store, db_create, created, j);
	if (rc)
		op_fail(j, rc, "the store is busy");
}

void em_operators_create(em_app *app, const em_principal *actor, const char *ip, const em_operator_input *in,
			 em_operator_done done, void *arg)
{
	struct op_job *j = job_new(app, actor, ip, done, arg);
	if (!actor || actor->role != EM_ROLE_ADMIN) {
		op_fail(j, EM_EPERM, "only admins may create operators");
		return;
	}
	if (!in->email || !em_operator_email_valid(in->email)) {
		op_invalid(j, "email", "expected an e-mail address like name@example.com");
		return;
	}
	em_operator_email_normalize(in->email, j->email, sizeof j->email);
	if (take_input(j, in))
		return;
	if (j->role < 0) {
		op_invalid(j, "role", "role is required: admin or agent");
		return;
	}
	if (!j->has_pw) {
		op_invalid(j, "password", "password is required (at least 10 characters)");
		return;
	}
	em_auth_hash_async(app, j->pw, create_hashed, j);
}

/* ---- Update ----------------------------------------------------------- */

static void add_changed(struct op_job *j, const char *what)
{
	size_t n = strlen(j->changed);
	snprintf(j->changed + n, sizeof j->changed - n, "%s%s", n ? "," : "", what);
}

static int db_update(em_db *db, void *arg)
{
	struct op_job *j = arg;
	em_operator cur;
	char hash[EM_AUTH_PWHASH_MAX];
	int rc = db_select_by_public_id(db, j->target, &cur, hash, sizeof hash);
	/* The current password was verified against old_hash: if it changed
	** since, that verification no longer counts. */
	int stale = rc == 0 && j->old_hash[0] && strcmp(hash, j->old_hash) != 0;
	sodium_memzero(hash, sizeof hash);
	if (rc)
		return rc;
	if (stale)
		return EM_EAUTH;
	j->was_disabled = cur.disabled;
	int demote = j->role == EM_ROLE_AGENT && cur.role == EM_ROLE_ADMIN;
	int disable = j->has_disabled && j->disabled && !cur.disabled;
	if (cur.role == EM_ROLE_ADMIN && !cur.disabled && (demote || disable)) {
		em_stmt *st = em_db_prepare(
			db, "SELECT COUNT(*) FROM operator WHERE role = 'admin' AND disabled = 0 AND id <> ?",
			"i", cur.id);
		if (!st)
			return EM_EIO;
		int64_t others = em_stmt_step(st) == 1 ? em_stmt_int(st, 0) : -1;
		em_stmt_done(st);
		if (others < 0)
			return EM_EIO;
		if (others == 0)
			return EM_ERANGE; /* the last active admin stays */
	}
	rc = em_db_exec(db,
			"UPDATE operator SET name = COALESCE(?, name), role = COALESCE(?, role), "
			"lang = COALESCE(?, lang), max_chats = CASE WHEN ? THEN ? ELSE max_chats END, "
			"disabled = CASE WHEN ? THEN ? ELSE disabled END, "
			"password_hash = COALESCE(?, password_hash), updated_at = ? WHERE id = ?",
			"tttIIIItii", j->has_name ? j->name : NULL,
			j->role >= 0 ? em_operator_role_name(j->role) : NULL, j->has_lang ? j->lang : NULL,
			j->has_max_chats, j->max_chats, j->has_disabled, j->disabled,
			j->has_pw ? j->pwhash : NULL, em_now_ms(), cur.id);
	if (rc)
		return rc;
	/* A new password or a disabled account ends every session at once. */
	j->revoke = j->has_pw || disable;
	if (j->revoke) {
		rc = em_db_exec(db, "DELETE FROM op_session WHERE operator_id = ?", "i", cur.id);
		if (rc)
			return rc;
	}
	return db_select_by_public_id(db, j->target, &j->res.op, NULL, 0);
}

static void updated(int status, void *arg)
{
	struct op_job *j = arg;
	switch (status) {
	case 0: break;
	case EM_ENOTFOUND: op_fail(j, status, "no operator with this id"); return;
	case EM_EAUTH:
		op_invalid(j, "current_password", "the password was changed meanwhile; try again");
		return;
	case EM_ERANGE:
		op_fail(j, EM_EEXIST,
			"at least one active admin must remain: this one cannot be demoted or disabled");
		return;
	default: op_fail(j, status, "the operator could not be updated"); return;
	}
	em__auth_operator_changed(j->app, &j->res.op, j->revoke);
	if (j->has_name)
		add_changed(j, "name");
	if (j->role >= 0)
		add_changed(j, "role");
	if (j->has_lang)
		add_changed(j, "lang");
	if (j->has_max_chats)
		add_changed(j, "max_chats");
	if (j->has_disabled)
		add_changed(j, "disabled");
	if (j->has_pw)
		add_changed(j, "password");
	const char *action = "operator.updated";
	if (j->has_disabled && j->disabled && !j->was_disabled)
		action = "operator.disabled";
	else if (j->has_disabled && !j->disabled && j->was_disabled)
		action = "operator.enabled";
	em_audit(j->app, j->actor_id, action, j->res.op.public_id, j->ip, j->changed);
	op_finish(j, 0);
}

static void update_write(struct op_job *j)
{
	int rc = em_store_write(j->app->store, db_update, updated, j);
	if (rc)
		op_fail(j, rc, "the store is busy");
}

static void update_hashed(int status, const char *hash, void *arg)
{
	struct op_job *j = arg;
	sodium_memzero(j->pw, sizeof j->pw);
	if (status) {
		op_fail(j, status == EM_EAGAIN ? EM_EAGAIN : EM_EIO, "the password could not be hashed now");
		return;
	}
	snprintf(j->pwhash, sizeof j->pwhash, "%s", hash);
	update_write(j);
}

static void current_verified(int status, const char *hash, void *arg)
{
	struct op_job *j = arg;
	(void)hash;
	sodium_memzero(j->cur_pw, sizeof j->cur_pw);
	if (status == EM_EAGAIN) {
		op_fail(j, EM_EAGAIN, "busy; try again");
		return;
	}
	if (status) {
		em_audit(j->app, j->actor_id, "operator.password_rejected", j->target, j->ip,
			 "wrong current password");
		op_invalid(j, "current_password", "the current password is wrong");
		return;
	}
	em_auth_hash_async(j->app, j->pw, update_hashed, j);
}

static int db_read_hash(em_db *db, void *arg)
{
	struct op_job *j = arg;
	em_operator cur;
	return db_select_by_public_id(db, j->target, &cur, j->old_hash, sizeof j->old_hash);
}

static void hash_read(int status, void *arg)
{
	struct op_job *j = arg;
	if (status) {
		op_fail(j, status, status == EM_ENOTFOUND ? "no operator with this id" : "the store is busy");
		return;
	}
	em_auth_verify_async(j->app, j->old_hash, j->cur_pw, current_verified, j);
}

void em_operators_update(em_app *app, const em_principal *actor, const char *ip, const char *public_id,
			 const em_operator_input *in, em_operator_done done, void *arg)
{
	struct op_job *j = job_new(app, actor, ip, done, arg);
	if (!actor || !public_id || strlen(public_id) >= sizeof j->target) {
		op_fail(j, EM_ENOTFOUND, "no operator with this id");
		return;
	}
	snprintf(j->target, sizeof j->target, "%s", public_id);
	j->self = strcmp(actor->public_id, public_id) == 0;
	if (take_input(j, in))
		return;
	if (!j->actor_admin) {
		if (!j->self) {
			op_fail(j, EM_EPERM, "only admins may change other operators");
			return;
		}
		if (j->role >= 0 || j->has_max_chats || j->has_disabled) {
			op_fail(j, EM_EPERM, "only admins may change role, max_chats or disabled");
			return;
		}
	}
	if (!j->has_pw) {
		update_write(j);
		return;
	}
	if (!j->self) {
		em_auth_hash_async(app, j->pw, update_hashed, j);
		return;
	}
	/* Operators changing their own password prove they know the current
	** one: a stolen session alone must not be enough to take the account. */
	if (!j->cur_pw[0]) {
		op_invalid(j, "current_password", "current_password is required to change your own password");
		return;
	}
	int rc = em_store_read(app->store, db_read_hash, hash_read, j);
	if (rc)
		op_fail(j, rc, "the store is busy");
}

/* ---- Get and list ----------------------------------------------------- */

static int db_get(em_db *db, void *arg)
{
	struct op_job *j = arg;
	return db_select_by_public_id(db, j->target, &j->res.op, NULL, 0);
}

static void got(int status, void *arg)
{
	struct op_job *j = arg;
	if (status)
		op_fail(j, status, status == EM_ENOTFOUND ? "no operator with this id" : "the store failed");
	else
		op_finish(j, 0);
}

void em_operators_get(em_app *app, const char *public_id, em_operator_done done, void *arg)
{
	struct op_job *j = job_new(app, NULL, NULL, done, arg);
	if (!public_id || strlen(public_id) >= sizeof j->target) {
		op_fail(j, EM_ENOTFOUND, "no operator with this id");
		return;
	}
	snprintf(j->target, sizeof j->target, "%s", public_id);
	int rc = em_store_read(app->store, db_get, got, j);
	if (rc)
		op_fail(j, rc, "the store is busy");
}

static int db_list(em_db *db, void *arg)
{
	struct op_job *j = arg;
	j->list = em_calloc(EM_OPERATORS_LIST_MAX, sizeof *j->list);
	em_stmt *st =
		em_db_prepare(db, "SELECT " EM_OPERATOR_COLUMNS " FROM operator ORDER BY id LIMIT 1000", "");
	if (!st)
		return EM_EIO;
	int rc = 0;
	while (j->n < EM_OPERATORS_LIST_MAX && (rc = em_stmt_step(st)) == 1)
		em__operator_from_row(st, &j->list[j->n++]);
	em_stmt_done(st);
	return rc < 0 ? EM_EIO : 0;
}

static void listed(int status, void *arg)
{
	struct op_job *j = arg;
	j->list_done(status, j->list, status ? 0 : j->n, j->arg);
	em_free(j->list);
	em_free(j);
}

void em_operators_list(em_app *app, em_operator_list_done done, void *arg)
{
	struct op_job *j = job_new(app, NULL, NULL, NULL, arg);
	j->list_done = done;
	int rc = em_store_read(app->store, db_list, listed, j);
	if (rc) {
		em_free(j);
		done(rc, NULL, 0, arg);
	}
}
