/*
** Chat transcripts by e-mail (see transcript.h).
**
** The text is built on the pool thread right after the read, from the
** same rows the REST API returns (em_convstore_get / em_convstore_messages
** with include_internal = 0), so the loop only hands a finished string to
** the mailer. The per-visitor brake is a small table on the loop.
*/
#include "chat/transcript.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "chat/convstore.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/mail.h"
#include "net/loop.h"
#include "store/store.h"

#define SITE_NAME_BYTES 160 /* of the subject, so it stays within EM_MAIL_SUBJECT_MAX */
#define BRAKE_MAX 10000	    /* visitors remembered by the hourly brake */
#define HOUR_MS 3600000

typedef struct tx {
	em_app *app;
	em_conv_query q;
	char to[EM_MAIL_ADDR_MAX + 1];
	char op[32];	      /* "" = any conversation */
	char *subject, *body; /* built on the pool thread */
	int status;
	void (*done)(int status, void *arg);
	void *arg;
} tx;

/* ---- Text --------------------------------------------------------------- */

/* The words of a transcript; pieces around the variable parts, so no
** format string comes from a table. */
typedef struct words {
	const char *subject, *title, *intro_conv, *intro_started, *intro_utc, *visitor, *operator_role,
		*operator_alone, *system, *more_pre, *more_post, *truncated, *footer;
} words;

static const words en = {
	.subject = "Your chat transcript",
	.title = "Your chat with ",
	.intro_conv = "Conversation ",
	.intro_started = ", started ",
	.intro_utc = ". Times are UTC.",
	.visitor = "Visitor",
	.operator_role = " (operator)",
	.operator_alone = "Operator",
	.system = "Notice",
	.more_pre = "(Only the first ",
	.more_post = " messages are shown.)",
	.truncated = "(The transcript was cut here because it is too long.)",
	.footer = "This e-mail was sent automatically because a transcript of the chat was requested.",
};

static const words de = {
	.subject = "Ihr Gesprächsverlauf",
	.title = "Ihr Chat mit ",
	.intro_conv = "Gespräch ",
	.intro_started = ", begonnen ",
	.intro_utc = ". Alle Zeiten in UTC.",
	.visitor = "Besucher",
	.operator_role = " (Support)",
	.operator_alone = "Support",
	.system = "Hinweis",
	.more_pre = "(Nur die ersten ",
	.more_post = " Nachrichten sind aufgeführt.)",
	.truncated = "(Der Verlauf wurde hier gekürzt, weil er zu lang ist.)",
	.footer = "Diese E-Mail wurde automatisch verschickt, weil der Gesprächsverlauf angefordert wurde.",
};

/* "2026-01-02T12:01:00.000Z" -> "2026-01-02 12:01". */
static void short_time(const char *rfc, char out[20])
{
	if (!rfc || strlen(rfc) < 16) {
		snprintf(out, 20, "-");
		return;
	}
	snprintf(out, 20, "%.10s %.5s", rfc, rfc + 11);
}

/* Copies at most max bytes of s, not splitting a UTF-8 character, with
** control characters made spaces (the text goes into a header). */
static void clip(char *out, size_t outlen, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		n = max;
	if (n >= outlen)
		n = outlen - 1;
	while (n > 0 && n < strlen(s) && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? ' ' : s[i];
	out[n] = '\0';
}

static void build(tx *t, const json_t *conv, const json_t *msgs, const char *site_name)
{
	const char *lang = em_json_str(conv, "lang", "");
	const words *w = (lang[0] == 'd' || lang[0] == 'D') && (lang[1] == 'e' || lang[1] == 'E') ? &de : &en;
	char site[SITE_NAME_BYTES + 1];
	clip(site, sizeof site, site_name && *site_name ? site_name : em_json_str(conv, "site", ""),
	     SITE_NAME_BYTES);

	char subject[EM_MAIL_SUBJECT_MAX + 1];
	if (site[0])
		snprintf(subject, sizeof subject, "%s – %s", w->subject, site);
	else
		snprintf(subject, sizeof subject, "%s", w->subject);
	t->subject = em_strdup(subject);

	em_buf b;
	/* Room is kept for the closing lines, so they always fit. */
	em_buf_init(&b, EM_MAIL_BODY_MAX - 1024);
	char started[20];
	short_time(em_json_str(conv, "created", ""), started);
	em_buf_printf(&b, "%s%s\n%s%s%s%s%s\n", w->title, site[0] ? site : "-", w->intro_conv,
		      em_json_str(conv, "id", ""), w->intro_started, started, w->intro_utc);

	size_t n = json_array_size(msgs), shown = n > EM_TRANSCRIPT_MSGS_MAX ? EM_TRANSCRIPT_MSGS_MAX : n;
	int cut = 0;
	for (size_t i = 0; i < shown && !cut; i++) {
		const json_t *m = json_array_get(msgs, i);
		const char *author = em_json_str(m, "author", "");
		char who[200], when[20];
		if (!strcmp(author, "visitor")) {
			snprintf(who, sizeof who, "%s", w->visitor);
		} else if (!strcmp(author, "operator")) {
			const char *name = em_json_str(json_object_get(m, "operator"), "name", "");
			if (*name) {
				char nm[128];
				clip(nm, sizeof nm, name, 120);
				snprintf(who, sizeof who, "%s%s", nm, w->operator_role);
			} else {
				snprintf(who, sizeof who, "%s", w->operator_alone);
			}
		} else {
			snprintf(who, sizeof who, "%s", w->system);
		}
		short_time(em_json_str(m, "created", ""), when);
		/* The body goes out line by line as written, so a line of the
		** chat that starts with "." starts a line of the mail too. */
		cut = em_buf_printf(&b, "\n[%s] %s:\n%s\n", when, who, em_json_str(m, "body", "")) != 0;
	}
	b.max += 1024;
	if (cut)
		em_buf_printf(&b, "\n%s\n", w->truncated);
	else if (n > shown)
		em_buf_printf(&b, "\n%s%d%s\n", w->more_pre, EM_TRANSCRIPT_MSGS_MAX, w->more_post);
	em_buf_printf(&b, "\n-- \n%s\n", w->footer);
	size_t len;
	t->body = em_buf_steal(&b, &len);
	if (!t->body)
		t->body = em_strdup("");
}

/* ---- Flow --------------------------------------------------------------- */

static void tx_finish(tx *t, int status)
{
	if (t->done)
		t->done(status, t->arg);
	em_free(t->subject);
	em_free(t->body);
	em_free(t);
}

static void posted_finish(void *arg)
{
	tx *t = arg;
	tx_finish(t, t->status);
}

/* Pool thread: the conversation, who may send it, its site's name and its
** visible messages, made into the mail's text. */
static int read_fn(em_db *db, void *arg)
{
	tx *t = arg;
	int e = em_convstore_get(db, &t->q);
	if (e)
		return e;
	json_t *conv = t->q.out;
	t->q.out = NULL;
	if (t->op[0] && strcmp(em_json_str(conv, "status", ""), "pending")) {
		const char *owner = em_json_str(json_object_get(conv, "operator"), "id", "");
		if (strcmp(owner, t->op)) {
			json_decref(conv);
			return EM_EPERM;
		}
	}
	char site_name[EM_MAIL_SUBJECT_MAX + 1] = "";
	em_stmt *st =
		em_db_prepare(db, "SELECT name FROM site WHERE key = ?", "t", em_json_str(conv, "site", ""));
	if (em_stmt_step(st) == 1 && em_stmt_text(st, 0))
		snprintf(site_name, sizeof site_name, "%s", em_stmt_text(st, 0));
	em_stmt_done(st);
	e = em_convstore_messages(db, &t->q);
	if (!e)
		build(t, conv, t->q.out, site_name);
	json_decref(conv);
	json_decref(t->q.out);
	t->q.out = NULL;
	return e;
}

static void mail_done(int status, void *arg)
{
	tx_finish(arg, status);
}

static void read_done(int status, void *arg)
{
	tx *t = arg;
	if (status) {
		tx_finish(t, status);
		return;
	}
	int rc = em_mail_send(t->app, t->to, t->subject, t->body, mail_done, t);
	if (rc) {
		em_warn("transcript not queued", "conversation=%s error=%s", t->q.conv, em_strerror(rc));
		tx_finish(t, rc == EM_ETOOBIG ? EM_EIO : rc);
	}
}

void em_chat_transcript_as(em_app *app, const char *conv_public_id, const char *to,
			   const char *operator_public_id, void (*done)(int status, void *arg), void *arg)
{
	tx *t = em_calloc(1, sizeof *t);
	t->app = app;
	t->done = done;
	t->arg = arg;
	snprintf(t->op, sizeof t->op, "%s", operator_public_id ? operator_public_id : "");
	if (!to || !em_mail_address_ok(to))
		t->status = EM_EINVAL;
	else if (!em_mail_enabled(app) || app->shutting_down)
		t->status = EM_ECLOSED;
	else if (!conv_public_id || !*conv_public_id || strlen(conv_public_id) >= sizeof t->q.conv)
		t->status = EM_ENOTFOUND;
	if (!t->status) {
		snprintf(t->to, sizeof t->to, "%s", to);
		snprintf(t->q.conv, sizeof t->q.conv, "%s", conv_public_id);
		t->q.include_internal = 0;
		t->q.after = 0;
		t->q.limit = EM_TRANSCRIPT_MSGS_MAX + 1;
		int rc = em_store_read(app->store, read_fn, read_done, t);
		if (!rc)
			return;
		t->status = rc == EM_ECLOSED ? EM_ECLOSED : EM_EAGAIN;
	}
	/* Failures are answered from the loop too, never inside this call. */
	em_loop_post(posted_finish, t);
}

void em_chat_transcript(em_app *app, const char *conv_public_id, const char *to,
			void (*done)(int status, void *arg), void *arg)
{
	em_chat_transcript_as(app, conv_public_id, to, NULL, done, arg);
}

/* ---- The hourly brake --------------------------------------------------- */

typedef struct brake {
	int64_t site_id;
	char vid[64];
	int64_t at[EM_TRANSCRIPT_PER_HOUR]; /* 0 = unused */
} brake;

static brake *brakes;
static size_t nbrakes, capbrakes;

int em_chat_transcript_allow(int64_t site_id, const char *vid)
{
	int64_t now = em_now_ms();
	brake *hit = NULL;
	/* Forgets visitors whose requests are all older than an hour while
	** looking for this one; the table stays small and needs no timer. */
	size_t keep = 0;
	for (size_t i = 0; i < nbrakes; i++) {
		brake *b = &brakes[i];
		int live = 0;
		for (int k = 0; k < EM_TRANSCRIPT_PER_HOUR; k++)
			if (b->at[k] && now - b->at[k] < HOUR_MS)
				live = 1;
		if (!live)
			continue;
		if (keep != i)
			brakes[keep] = *b;
		if (brakes[keep].site_id == site_id && !strcmp(brakes[keep].vid, vid))
			hit = &brakes[keep];
		keep++;
	}
	nbrakes = keep;
	if (!hit) {
		if (nbrakes >= BRAKE_MAX) {
			em_warn("transcript brake table full", "visitors=%zu", nbrakes);
			return 0;
		}
		if (nbrakes == capbrakes) {
			capbrakes = capbrakes ? capbrakes * 2 : 16;
			brakes = em_realloc(brakes, capbrakes * sizeof *brakes);
		}
		hit = &brakes[nbrakes++];
		memset(hit, 0, sizeof *hit);
		hit->site_id = site_id;
		snprintf(hit->vid, sizeof hit->vid, "%s", vid);
	}
	/* The oldest slot is reused when it is more than an hour old. */
	int oldest = 0;
	for (int k = 1; k < EM_TRANSCRIPT_PER_HOUR; k++)
		if (hit->at[k] < hit->at[oldest])
			oldest = k;
	if (hit->at[oldest] && now - hit->at[oldest] < HOUR_MS)
		return 0;
	hit->at[oldest] = now;
	return 1;
}
