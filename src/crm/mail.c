/*
** Outgoing e-mail over SMTP with libcurl (see mail.h).
**
** The queue lives on the loop thread. At most one mail is being delivered
** at a time, on the thread pool (em_loop_work); the others wait in a FIFO
** with the monotonic time they are due (0 = now, later after a temporary
** failure). A 250 ms tick runs only while mails wait and none is being
** delivered, so an idle mailer costs nothing, and so no timer of ours is
** alive when the loop is torn down with a delivery still in flight.
*/
#include "crm/mail.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "net/loop.h"

#define TICK_MS 250
#define HEADER_MAX (16 * 1024)
#define QP_LINE 76

/* ---- Addresses and header text ----------------------------------------- */

static int is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* local@domain: dot-atom local part, LDH labels. need_dot: the domain must
** have at least two labels (recipients); the sender may be user@localhost. */
static int addr_check(const char *s, size_t n, int need_dot)
{
	if (n == 0 || n > EM_MAIL_ADDR_MAX)
		return 0;
	const char *at = memchr(s, '@', n);
	if (!at)
		return 0;
	size_t local = (size_t)(at - s), dom = n - local - 1;
	if (local == 0 || local > 64 || dom == 0 || dom > 253)
		return 0;
	/* Local part: atoms separated by single dots. */
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == 0 || i == local - 1 || s[i - 1] == '.')
				return 0;
		} else if (!is_atext(c)) {
			return 0;
		}
	}
	/* Domain: labels of 1-63 letters, digits and hyphens, no hyphen at
	** either end. */
	const char *d = at + 1;
	int labels = 0;
	size_t len = 0;
	for (size_t i = 0; i <= dom; i++) {
		unsigned char c = i < dom ? (unsigned char)d[i] : '.';
		if (c == '.') {
			if (len == 0 || len > 63 || d[i - 1] == '-' || d[i - len] == '-')
				return 0;
			labels++;
			len = 0;
		} else if (is_ldh(c)) {
			len++;
		} else {
			return 0;
		}
	}
	return labels >= (need_dot ? 2 : 1);
}

int em_mail_address_ok(const char *addr)
{
	return addr && addr_check(addr, strlen(addr), 1);
}

/* Length of the UTF-8 sequence at p (1-4), or 0 when it is not valid
** (overlong forms, surrogates and code points past U+10FFFF included). */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	int n;
	unsigned cp;
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* 0 when s is valid UTF-8 without control characters; sets *ascii. */
static int header_text_check(const char *s, int *ascii)
{
	*ascii = 1;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		if (*p < 0x20 || *p == 0x7F)
			return EM_EINVAL;
		int n = utf8_len(p);
		if (!n)
			return EM_EINVAL;
		if (n > 1)
			*ascii = 0;
		p += n;
	}
	return 0;
}

int em_mail_subject_ok(const char *s)
{
	int ascii;
	return s && strlen(s) <= EM_MAIL_SUBJECT_MAX && header_text_check(s, &ascii) == 0;
}

int em_mail_encode_header(em_buf *out, const char *text)
{
	int ascii;
	if (header_text_check(text, &ascii))
		return EM_EINVAL;
	/* Printable ASCII goes as it is, unless it could be read as an encoded
	** word itself. */
	if (ascii && !strstr(text, "=?"))
		return em_buf_puts(out, text);
	/* 39 bytes make 52 base64 characters: "=?UTF-8?B?" + 52 + "?=" is 64,
	** so even the first line ("Subject: " + word) stays under 78. A word
	** never splits a character (RFC 2047 §5). */
	const unsigned char *p = (const unsigned char *)text;
	int first = 1;
	while (*p) {
		size_t n = 0;
		while (p[n]) {
			int l = utf8_len(p + n);
			if (n + (size_t)l > 39)
				break;
			n += (size_t)l;
		}
		char b64[64];
		sodium_bin2base64(b64, sizeof b64, p, n, sodium_base64_VARIANT_ORIGINAL);
		if (em_buf_printf(out, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64))
			return EM_ETOOBIG;
		first = 0;
		p += n;
	}
	return 0;
}

int em_mail_parse_from(const char *from, char *name, size_t namelen, char *addr, size_t addrlen)
{
	name[0] = addr[0] = '\0';
	if (!from)
		return EM_EINVAL;
	const char *lt = strchr(from, '<');
	const char *a = from, *ae = from + strlen(from);
	if (lt) {
		const char *gt = strchr(lt, '>');
		if (!gt || gt[1])
			return EM_EINVAL;
		a = lt + 1;
		ae = gt;
		/* The display name, trimmed, without surrounding quotes. */
		const char *ns = from, *ne = lt;
		while (ns < ne && (*ns == ' ' || *ns == '\t'))
			ns++;
		while (ne > ns && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (ne - ns >= 2 && *ns == '"' && ne[-1] == '"') {
			ns++;
			ne--;
		}
		if ((size_t)(ne - ns) >= namelen)
			return EM_EINVAL;
		memcpy(name, ns, (size_t)(ne - ns));
		name[ne - ns] = '\0';
		int ascii;
		if (header_text_check(name, &ascii))
			return EM_EINVAL;
	} else {
		while (a < ae && *a == ' ')
			a++;
		while (ae > a && ae[-1] == ' ')
			ae--;
	}
	size_t n = (size_t)(ae - a);
	if (!addr_check(a, n, 0) || n >= addrlen)
		return EM_EINVAL;
	memcpy(addr, a, n);
	addr[n] = '\0';
	return 0;
}

static int qp_token(em_buf *out, unsigned char c, int literal, size_t *col)
{
	static const char hx[] = "0123456789ABCDEF";
	char tok[3];
	size_t n = 0;
	if (literal) {
		tok[n++] = (char)c;
	} else {
		tok[n++] = '=';
		tok[n++] = hx[c >> 4];
		tok[n++] = hx[c & 15];
	}
	/* A soft line break ("=" CRLF) keeps each line at QP_LINE characters,
	** the "=" included, and never splits an =XX triplet. */
	if (*col + n > QP_LINE - 1) {
		if (em_buf_append(out, "=\r\n", 3))
			return EM_ETOOBIG;
		*col = 0;
	}
	if (em_buf_append(out, tok, n))
		return EM_ETOOBIG;
	*col += n;
	return 0;
}

int em_mail_encode_qp(em_buf *out, const char *body)
{
	const unsigned char *p = (const unsigned char *)body;
	while (*p) {
		const unsigned char *eol = (const unsigned char *)strchr((const char *)p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen((const char *)p);
		if (len && p[len - 1] == '\r')
			len--;
		size_t col = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = p[i];
			int last = i + 1 == len;
			int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
			if (qp_token(out, c, literal, &col))
				return EM_ETOOBIG;
		}
		if (em_buf_append(out, "\r\n", 2))
			return EM_ETOOBIG;
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}

void em_mail_date(int64_t ms, char out[40])
{
	static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void em_mail_message_id(const char *from_addr, int64_t now_ms, char *out, size_t outlen)
{
	char rnd[40];
	em_id_random(rnd, sizeof rnd, 16);
	const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
	snprintf(out, outlen, "%s.%lld@%s", rnd, (long long)now_ms, at && at[1] ? at + 1 : "localhost");
}

/* A Message-ID is a dot-atom "left@right" (RFC 5322 §3.6.4). */
static int msgid_ok(const char *id)
{
	return id && addr_check(id, strlen(id), 0);
}

int em_mail_format(const char *from, const char *to, const char *subject, const char *body, int64_t now_ms,
		   const char *msgid, char **out, size_t *outlen)
{
	char name[256], addr[EM_MAIL_ADDR_MAX + 1];
	if (em_mail_parse_from(from, name, sizeof name, addr, sizeof addr) || !em_mail_address_ok(to) ||
	    !em_mail_subject_ok(subject) || !msgid_ok(msgid))
		return EM_EINVAL;
	size_t blen = strlen(body);
	if (blen > EM_MAIL_BODY_MAX)
		return EM_ETOOBIG;
	em_buf b;
	/* Quoted-printable grows text by at most three times, plus soft breaks. */
	em_buf_init(&b, HEADER_MAX + blen * 3 + blen / 24 + 64);
	char date[40];
	em_mail_date(now_ms, date);
	int rc = em_buf_printf(&b, "Date: %s\r\nFrom: ", date);
	if (!rc && name[0]) {
		int ascii;
		header_text_check(name, &ascii);
		if (ascii) {
			/* A quoted string: any ASCII name is safe in a phrase. */
			rc = em_buf_putc(&b, '"');
			for (const char *q = name; !rc && *q; q++) {
				if (*q == '"' || *q == '\\')
					rc = em_buf_putc(&b, '\\');
				if (!rc)
					rc = em_buf_putc(&b, *q);
			}
			if (!rc)
				rc = em_buf_putc(&b, '"');
		} else {
			rc = em_mail_encode_header(&b, name);
		}
		if (!rc)
			rc = em_buf_printf(&b, " <%s>", addr);
	} else if (!rc) {
		rc = em_buf_puts(&b, addr);
	}
	if (!rc)
		rc = em_buf_printf(&b, "\r\nTo: %s\r\nSubject: ", to);
	if (!rc)
		rc = em_mail_encode_header(&b, subject);
	if (!rc)
		rc = em_buf_printf(&b,
				   "\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n"
				   "Content-Type: text/plain; charset=utf-8\r\n"
				   "Content-Transfer-Encoding: quoted-printable\r\n"
				   "Auto-Submitted: auto-generated\r\n\r\n",
				   msgid);
	if (!rc)
		rc = em_mail_encode_qp(&b, body);
	if (rc) {
		em_buf_free(&b);
		return rc == EM_EINVAL ? EM_EINVAL : EM_ETOOBIG;
	}
	*out = em_buf_steal(&b, outlen);
	return 0;
}

/* ---- The queue ---------------------------------------------------------- */

typedef struct mjob mjob;
struct mjob {
	char *to, *subject, *body; /* owned; subject and body freed once formatted */
	char *msg;		   /* the formatted message, made on the pool thread */
	size_t len, off;
	char msgid[160];
	int64_t created_ms;
	uint64_t queued_at, due; /* monotonic ms */
	int tries;
	/* Results of the last try, written by the pool thread. */
	int fmt_status;
	CURLcode cres;
	long code;
	char err[CURL_ERROR_SIZE];
	em_mail_done done;
	void *arg;
	mjob *next;
};

static struct {
	int ready;
	em_app *app;
	/* A copy of [mail], taken once: the pool thread reads it. */
	char url[512], from[256], from_addr[EM_MAIL_ADDR_MAX + 1], envelope_from[EM_MAIL_ADDR_MAX + 3];
	char user[256], password[256];
	int starttls, retry_s, timeout_s, queue_max;
	int from_ok;
	mjob *head, **tailp;
	mjob *running;
	em_timer *tick;
	em_mail_stats st;
} M;

int em_mail_enabled(const em_app *app)
{
	return app && app->cfg.mail_smtp_url[0] != '\0';
}

void em_mail_get_stats(em_mail_stats *out)
{
	*out = M.st;
}

static void mail_setup(em_app *app)
{
	M.app = app;
	if (M.ready)
		return;
	M.ready = 1;
	/* Once, on the loop thread, before any pool thread touches libcurl. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const em_config *c = &app->cfg;
	snprintf(M.url, sizeof M.url, "%s", c->mail_smtp_url);
	snprintf(M.from, sizeof M.from, "%s", c->mail_from);
	snprintf(M.user, sizeof M.user, "%s", c->mail_user);
	snprintf(M.password, sizeof M.password, "%s", c->mail_password);
	M.starttls = c->mail_starttls;
	M.retry_s = c->mail_retry_s;
	M.timeout_s = c->mail_timeout_s;
	M.queue_max = c->mail_queue_max;
	M.tailp = &M.head;
	char name[256];
	M.from_ok = em_mail_parse_from(M.from, name, sizeof name, M.from_addr, sizeof M.from_addr) == 0;
	if (M.from_ok)
		snprintf(M.envelope_from, sizeof M.envelope_from, "<%s>", M.from_addr);
	else
		em_error("mail.from is not a valid sender", "hint=\"addr@domain or Name <addr@domain>\"");
}

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : addr;
}

static void job_free(mjob *j)
{
	em_free(j->to);
	em_free(j->subject);
	em_free(j->body);
	em_free(j->msg);
	em_free(j);
}

static void finish(mjob *j, int status)
{
	M.st.waiting--;
	if (status)
		M.st.failed++;
	else
		M.st.sent++;
	if (j->done)
		j->done(status, j->arg);
	job_free(j);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	mjob *j = arg;
	size_t want = size * nitems, left = j->len - j->off;
	if (want > left)
		want = left;
	memcpy(buf, j->msg + j->off, want);
	j->off += want;
	return want;
}

/* Pool thread: formats the mail on its first try, then hands it to the relay. */
static void work_send(void *arg)
{
	mjob *j = arg;
	j->err[0] = '\0';
	j->code = 0;
	j->cres = CURLE_OK;
	if (!j->msg) {
		j->fmt_status = em_mail_format(M.from, j->to, j->subject, j->body, j->created_ms, j->msgid,
					       &j->msg, &j->len);
		if (j->fmt_status)
			return;
		em_free(j->subject);
		em_free(j->body);
		j->subject = j->body = NULL;
	}
	j->off = 0;
	CURL *c = curl_easy_init();
	if (!c) {
		j->cres = CURLE_FAILED_INIT;
		return;
	}
	char rcpt[EM_MAIL_ADDR_MAX + 3];
	snprintf(rcpt, sizeof rcpt, "<%s>", j->to);
	struct curl_slist *to = curl_slist_append(NULL, rcpt);
	curl_easy_setopt(c, CURLOPT_URL, M.url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, M.envelope_from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, j);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)M.timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)M.timeout_s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->err);
	if (M.user[0]) {
		curl_easy_setopt(c, CURLOPT_USERNAME, M.user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, M.password);
	}
	if (M.starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	j->cres = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->code);
	if (j->cres != CURLE_OK && !j->err[0])
		snprintf(j->err, sizeof j->err, "%s", curl_easy_strerror(j->cres));
	curl_slist_free_all(to);
	curl_easy_cleanup(c);
}

/* A failure worth another try: no connection, a timeout, a dropped
** connection or a 4xx answer. 5xx answers, refused logins and bad URLs
** will not get better by waiting. */
static int temporary(CURLcode rc, long code)
{
	if (code >= 500)
		return 0;
	if (code >= 400)
		return 1;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY: return 1;
	default: return 0;
	}
}

static void kick(void);

static void on_tick(void *arg)
{
	(void)arg;
	kick();
}

static void tick_start(void)
{
	if (!M.tick)
		M.tick = em_timer_start(TICK_MS, TICK_MS, on_tick, NULL);
}

static void tick_stop(void)
{
	if (M.tick) {
		em_timer_stop(M.tick);
		M.tick = NULL;
	}
}

static void append(mjob *j)
{
	j->next = NULL;
	*M.tailp = j;
	M.tailp = &j->next;
}

static void work_done(void *arg)
{
	mjob *j = arg;
	M.running = NULL;
	char q[300];
	uint64_t ms = em_mono_ms() - j->queued_at;
	if (j->fmt_status) {
		em_error("mail not sent", "id=%s to_domain=%s error=%s", j->msgid, domain_of(j->to),
			 em_strerror(j->fmt_status));
		finish(j, EM_EIO);
	} else if (j->cres == CURLE_OK) {
		em_info("mail sent", "id=%s to_domain=%s tries=%d bytes=%zu ms=%llu", j->msgid,
			domain_of(j->to), j->tries, j->len, (unsigned long long)ms);
		finish(j, 0);
	} else if (temporary(j->cres, j->code) && j->tries < EM_MAIL_TRIES && !M.app->shutting_down) {
		uint64_t delay = (uint64_t)M.retry_s * 1000 * (j->tries == 1 ? 1 : 4);
		em_warn("mail attempt failed",
			"id=%s to_domain=%s try=%d smtp_code=%ld error=%s retry_in_s=%llu", j->msgid,
			domain_of(j->to), j->tries, j->code, em_log_quote(j->err, q, sizeof q),
			(unsigned long long)(delay / 1000));
		j->due = em_mono_ms() + delay;
		M.st.retries++;
		append(j);
	} else {
		em_error("mail not sent", "id=%s to_domain=%s tries=%d smtp_code=%ld error=%s ms=%llu",
			 j->msgid, domain_of(j->to), j->tries, j->code, em_log_quote(j->err, q, sizeof q),
			 (unsigned long long)ms);
		finish(j, EM_EIO);
	}
	kick();
}

static void start(mjob *j)
{
	j->tries++;
	M.running = j;
	if (em_loop_work(work_send, work_done, j)) {
		M.running = NULL;
		em_error("mail not sent", "id=%s error=\"thread pool refused the work\"", j->msgid);
		finish(j, EM_EIO);
	}
}

/* Starts the next due mail when none is being delivered; keeps the tick
** running exactly while mails wait and none is in flight. At shutdown the
** waiting mails are given up (the one in flight finishes on its own). */
static void kick(void)
{
	if (M.app->shutting_down) {
		tick_stop();
		while (M.head) {
			mjob *j = M.head;
			M.head = j->next;
			if (!M.head)
				M.tailp = &M.head;
			em_warn("mail not sent", "id=%s to_domain=%s error=\"server shutting down\"",
				j->msgid, domain_of(j->to));
			finish(j, EM_ECLOSED);
		}
		return;
	}
	if (!M.running) {
		uint64_t now = em_mono_ms();
		for (mjob **pp = &M.head; *pp; pp = &(*pp)->next) {
			mjob *j = *pp;
			if (j->due > now)
				continue;
			*pp = j->next;
			if (M.tailp == &j->next)
				M.tailp = pp;
			start(j);
			break;
		}
	}
	if (M.head && !M.running)
		tick_start();
	else
		tick_stop();
}

int em_mail_send(em_app *app, const char *to, const char *subject, const char *body, em_mail_done done,
		 void *arg)
{
	if (!em_mail_enabled(app) || app->shutting_down)
		return EM_ECLOSED;
	mail_setup(app);
	/* A bad mail.from was logged at setup; no mail can go out until the
	** configuration is fixed, as if mail were off. */
	if (!M.from_ok)
		return EM_ECLOSED;
	if (!em_mail_address_ok(to) || !em_mail_subject_ok(subject) || !body)
		return EM_EINVAL;
	if (strlen(body) > EM_MAIL_BODY_MAX)
		return EM_ETOOBIG;
	if (M.st.waiting >= (uint64_t)M.queue_max) {
		em_warn("mail queue full", "waiting=%llu", (unsigned long long)M.st.waiting);
		return EM_EAGAIN;
	}
	mjob *j = em_calloc(1, sizeof *j);
	j->to = em_strdup(to);
	j->subject = em_strdup(subject);
	j->body = em_strdup(body);
	j->created_ms = em_now_ms();
	j->queued_at = em_mono_ms();
	em_mail_message_id(M.from_addr, j->created_ms, j->msgid, sizeof j->msgid);
	j->done = done;
	j->arg = arg;
	M.st.queued++;
	M.st.waiting++;
	append(j);
	kick();
	return 0;
}
