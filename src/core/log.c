/*
** logfmt logger (see log.h).
*/
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

static int log_level = EM_LOG_INFO;
static int log_fd = 2;
static char *log_path;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *names[] = {"debug", "info", "warn", "error"};

int em_log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void em_log_set_level(int level)
{
	log_level = level;
}

static int open_path(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int em_log_open(const char *path)
{
	if (!path || !*path)
		return 0;
	int fd = open_path(path);
	if (fd < 0)
		return EM_EIO;
	pthread_mutex_lock(&log_mu);
	em_free(log_path);
	log_path = em_strdup(path);
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_mu);
	return 0;
}

int em_log_reopen(void)
{
	int rc = 0;
	pthread_mutex_lock(&log_mu);
	if (log_path) {
		int fd = open_path(log_path);
		if (fd >= 0) {
			if (log_fd > 2)
				close(log_fd);
			log_fd = fd;
		} else {
			rc = EM_EIO;
		}
	}
	pthread_mutex_unlock(&log_mu);
	return rc;
}

void em_log_close(void)
{
	pthread_mutex_lock(&log_mu);
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	em_free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_mu);
}

const char *em_log_quote(const char *s, char *out, unsigned outlen)
{
	if (!s)
		s = "";
	int needq = *s == '\0';
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\')
			needq = 1;
	unsigned j = 0;
	if (needq && j + 1 < outlen)
		out[j++] = '"';
	for (const char *p = s; *p && j + 3 < outlen; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			out[j++] = '\\';
			out[j++] = (char)c;
		} else if (c < ' ') {
			out[j++] = ' ';
		} else {
			out[j++] = (char)c;
		}
	}
	if (needq && j + 1 < outlen)
		out[j++] = '"';
	out[j] = '\0';
	return out;
}

void em_log(int level, const char *msg, const char *fmt, ...)
{
	if (level < log_level)
		return;
	char line[4096], ts[32], qmsg[1024];
	em_rfc3339(em_now_ms(), ts);
	int n = snprintf(line, sizeof line, "ts=%s level=%s msg=%s", ts, names[level & 3],
			 em_log_quote(msg, qmsg, sizeof qmsg));
	if (n < 0 || (size_t)n >= sizeof line)
		n = (int)sizeof line - 2;
	if (fmt && *fmt && (size_t)n < sizeof line - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
		if ((size_t)n > sizeof line - 2)
			n = (int)sizeof line - 2;
	}
	line[n++] = '\n';
	pthread_mutex_lock(&log_mu);
	ssize_t w = write(log_fd, line, (size_t)n);
	(void)w;
	pthread_mutex_unlock(&log_mu);
}
