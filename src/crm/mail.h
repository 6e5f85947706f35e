/*
** Outgoing e-mail: plain-text UTF-8 messages handed to an SMTP relay by
** libcurl (config section [mail]).
**
** em_mail_send() checks the addresses and the subject on the loop and
** queues the mail (at most mail.queue_max). One mail at a time is formatted
** and delivered on the thread pool, so a slow relay never blocks the loop
** and never takes more than one pool thread from the store's readers. A
** temporary failure (no connection, timeout, a 4xx answer) is tried again
** after mail.retry_s, then after four times that; three tries in all. Every
** outcome is logged (msg="mail sent", "mail attempt failed", "mail not sent").
**
** Header injection is impossible by construction: addresses must be plain
** addr-specs (no CR, LF, spaces, angle brackets or quotes), the subject must
** be one line, and non-ASCII header text is written as RFC 2047 encoded
** words. The body is sent quoted-printable, so every line stays short and
** 7-bit; libcurl dot-stuffs lines that start with ".".
*/
#ifndef EM_MAIL_H
#define EM_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct em_app;

#define EM_MAIL_ADDR_MAX 254
#define EM_MAIL_SUBJECT_MAX 250	   /* bytes of UTF-8 */
#define EM_MAIL_BODY_MAX (4 << 20) /* bytes of UTF-8 text */
#define EM_MAIL_TRIES 3

/* 1 when addr is an address Emma will send to: local@domain.tld with an
** RFC 5322 dot-atom local part (≤ 64 bytes), a domain of LDH labels with at
** least one dot, ≤ 254 bytes in all, ASCII only. */
int em_mail_address_ok(const char *addr);
/* 1 when s may be a subject: valid UTF-8, ≤ EM_MAIL_SUBJECT_MAX bytes, no
** control characters (so no CR or LF). */
int em_mail_subject_ok(const char *s);

/* 1 when outgoing mail is configured (mail.smtp_url is set). */
int em_mail_enabled(const struct em_app *app);

/* Done callback: 0 when the relay accepted the message (250 after DATA),
** EM_EIO when it was refused or every try failed, EM_ECLOSED when the server
** shut down before it could be sent. Runs on the loop thread. */
typedef void (*em_mail_done)(int status, void *arg);

/* Queues a mail (loop thread only). Strings are copied; body is UTF-8 text
** with LF or CRLF line ends. Returns 0 and later calls done exactly once, or
** returns at once without ever calling done: EM_ECLOSED mail is off, the
** server is shutting down or mail.from is not valid (logged once), EM_EINVAL
** a bad recipient or subject,
** EM_ETOOBIG body over EM_MAIL_BODY_MAX, EM_EAGAIN mail.queue_max mails are
** already waiting. done may be NULL. */
int em_mail_send(struct em_app *app, const char *to, const char *subject, const char *body, em_mail_done done,
		 void *arg);

/* ---- Formatting (pure functions, used by em_mail_send and the tests) --- */

/* Splits mail.from ("addr" or "Display Name <addr>") into its parts.
** Returns 0, or EM_EINVAL when the address is not valid (a domain without a
** dot, such as localhost, is allowed here) or the name has control
** characters. */
int em_mail_parse_from(const char *from, char *name, size_t namelen, char *addr, size_t addrlen);
/* Appends text as a header value: as it is when it is printable ASCII, else
** as RFC 2047 "=?UTF-8?B?...?=" words of at most 75 characters, folded with
** CRLF SP. Returns 0, or EM_EINVAL for control characters or bad UTF-8,
** EM_ETOOBIG when out is full. */
int em_mail_encode_header(em_buf *out, const char *text);
/* Appends body as quoted-printable (RFC 2045): lines end in CRLF and are at
** most 76 characters, "=" and bytes outside printable ASCII become =XX,
** white space at the end of a line is encoded. */
int em_mail_encode_qp(em_buf *out, const char *body);
/* The RFC 5322 date of ms since the epoch, in UTC: "Fri, 02 Jan 2026 12:01:02 +0000". */
void em_mail_date(int64_t ms, char out[40]);
/* A new Message-ID (without angle brackets) for a sender address:
** "<random>.<ms>@<domain of from_addr>". */
void em_mail_message_id(const char *from_addr, int64_t now_ms, char *out, size_t outlen);
/* The whole message (headers, blank line, quoted-printable body), CRLF line
** ends, into a new string (em_free). msgid is the Message-ID without angle
** brackets. Returns 0, EM_EINVAL (bad from, to, subject or msgid) or
** EM_ETOOBIG. */
int em_mail_format(const char *from, const char *to, const char *subject, const char *body, int64_t now_ms,
		   const char *msgid, char **out, size_t *outlen);

/* Figures for logs and metrics. */
typedef struct em_mail_stats {
	uint64_t queued;  /* accepted by em_mail_send */
	uint64_t sent;	  /* accepted by the relay */
	uint64_t failed;  /* given up */
	uint64_t retries; /* tries after the first */
	uint64_t waiting; /* in the queue now, including the one being sent */
} em_mail_stats;
void em_mail_get_stats(em_mail_stats *out);

#endif
