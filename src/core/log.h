/*
** Structured logging in logfmt ("ts=... level=info msg=\"...\" key=value").
**
** The log goes to stderr or to a file; SIGHUP calls em_log_reopen() so that
** logrotate can move the file away. Writes are one write(2) per line, so lines
** from several threads never interleave.
*/
#ifndef EM_LOG_H
#define EM_LOG_H

enum em_log_level { EM_LOG_DEBUG, EM_LOG_INFO, EM_LOG_WARN, EM_LOG_ERROR };

int em_log_parse_level(const char *s); /* -1 when unknown */
void em_log_set_level(int level);
int em_log_open(const char *path); /* NULL or "" = stderr */
int em_log_reopen(void);
void em_log_close(void);

/*
** em_log(level, msg, fmt, ...): fmt formats the trailing key=value pairs
** (may be NULL). Values with spaces must be quoted by the caller with
** em_log_quote() or %s of a safe token.
*/
void em_log(int level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define em_debug(msg, ...) em_log(EM_LOG_DEBUG, msg, __VA_ARGS__)
#define em_info(msg, ...) em_log(EM_LOG_INFO, msg, __VA_ARGS__)
#define em_warn(msg, ...) em_log(EM_LOG_WARN, msg, __VA_ARGS__)
#define em_error(msg, ...) em_log(EM_LOG_ERROR, msg, __VA_ARGS__)

/* Copies s into out as a logfmt value: quoted and escaped when needed. */
const char *em_log_quote(const char *s, char *out, unsigned outlen);

#endif
