/*
** Chat transcripts by e-mail: the visitor's "transcript" request in the
** widget and POST /api/v1/conversations/{id}/transcript for operators.
**
** The conversation and its messages are read on the thread pool (internal
** notes are never included), written out as readable text in the
** conversation's language (German for "de…", English otherwise; times in
** UTC) and handed to the mailer (src/crm/mail.h).
*/
#ifndef EM_TRANSCRIPT_H
#define EM_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct em_app;

#define EM_TRANSCRIPT_MSGS_MAX 5000 /* messages written; a note says when there were more */
#define EM_TRANSCRIPT_PER_HOUR 3    /* requests per visitor per hour from the widget */

/* Mails the transcript of a conversation to `to`. done runs exactly once on
** the loop thread, never before this function returned, with 0 once the
** mail relay accepted the message, or: EM_ECLOSED mail is off (or the
** server is shutting down), EM_EINVAL a bad address, EM_ENOTFOUND no such
** conversation, EM_EAGAIN the store or the mail queue is full, EM_EIO the
** relay refused the mail or could not be reached after every try. */
void em_chat_transcript(struct em_app *app, const char *conv_public_id, const char *to,
			void (*done)(int status, void *arg), void *arg);

/* The same for an operator: an agent (operator_public_id set) may send
** conversations of the queue and their own, else done gets EM_EPERM; NULL
** for admins, who may send any. */
void em_chat_transcript_as(struct em_app *app, const char *conv_public_id, const char *to,
			   const char *operator_public_id, void (*done)(int status, void *arg), void *arg);

/* The widget's brake: 1 and counts the request when the visitor asked for
** fewer than EM_TRANSCRIPT_PER_HOUR transcripts in the last hour, else 0.
** Loop thread only. */
int em_chat_transcript_allow(int64_t site_id, const char *vid);

#endif
