/*
** Unit tests for src/core/config.c: defaults, the INI file, EMMA_* overrides
** and the error messages a person gets for a bad file.
**
** The error texts are part of the user interface ("file:line: what was
** expected"), so they are checked for the pieces a person needs to fix the
** file: where, which key, and the allowed range or form.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

/* Writes text to a fresh temporary file; the caller unlinks it. */
static void write_ini(char *path, size_t pathlen, const char *text)
{
	snprintf(path, pathlen, "/tmp/emma-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* Loads text as an INI file into c (already holding defaults). */
static int load_text(em_config *c, const char *text, char *path, size_t pathlen, char *err, size_t errlen)
{
	write_ini(path, pathlen, text);
	err[0] = '\0';
	int rc = em_config_load_file(c, path, err, errlen);
	unlink(path);
	return rc;
}

/* Every EMMA_* variable a test may set; cleared around each test so that the
** machine's environment (or a previous test) cannot leak in. */
static const char *env_names[] = {
	"EMMA_SERVER_LISTEN",  "EMMA_SERVER_MAX_CONNECTIONS", "EMMA_SERVER_BODY_MAX",
	"EMMA_WS_MESSAGE_MAX", "EMMA_LOG_ACCESS_LOG",	      "EMMA_LOG_LEVEL",
};

static int clear_env(void **state)
{
	for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
		unsetenv(env_names[i]);
	return 0;
}

static void test_defaults(void **state)
{
	em_config c;
	em_config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.data_dir, "./data");
	assert_int_equal(c.header_max, 16 * 1024);
	assert_int_equal(c.body_max, 1024 * 1024);
	assert_int_equal(c.ws_message_max, 64 * 1024);
	assert_true(c.ws_out_soft < c.ws_out_hard);
	assert_int_equal(c.ws_ping_interval_s, 30);
	assert_int_equal(c.ws_silent_close_s, 75);
	assert_int_equal(c.synchronous_full, 0);
	assert_int_equal(c.batch_ms, 0);
	assert_int_equal(c.log_level, EM_LOG_INFO);
	assert_string_equal(c.log_file, "");
	assert_int_equal(c.access_log, 1);
	assert_string_equal(c.trusted_proxies, "");
	assert_int_equal(c.consent_required, 0);
	assert_true(c.max_connections > 0);
	assert_true(c.readers >= 1);
}

static void test_file_good_values(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	int rc = load_text(&c,
			   "; Emma test configuration\n"
			   "[server]\n"
			   "listen = 0.0.0.0:9090\n"
			   "max_connections = 500\n"
			   "header_max = 64k\n"
			   "body_max = 2m\n"
			   "trusted_proxies = 127.0.0.1, ::1\n"
			   "\n"
			   "[ws]\n"
			   "message_max = 131072\n"
			   "[store]\n"
			   "data_dir = /var/lib/emma\n"
			   "synchronous = full\n"
			   "[log]\n"
			   "level = debug\n"
			   "access_log = off\n"
			   "[privacy]\n"
			   "consent_required = true\n",
			   path, sizeof path, err, sizeof err);
	assert_int_equal(rc, 0);
	assert_string_equal(c.listen, "0.0.0.0:9090");
	assert_int_equal(c.max_connections, 500);
	assert_int_equal(c.header_max, 64 * 1024);
	assert_int_equal(c.body_max, 2 * 1024 * 1024);
	assert_string_equal(c.trusted_proxies, "127.0.0.1, ::1");
	assert_int_equal(c.ws_message_max, 131072);
	assert_string_equal(c.data_dir, "/var/lib/emma");
	assert_int_equal(c.synchronous_full, 1);
	assert_int_equal(c.log_level, EM_LOG_DEBUG);
	assert_int_equal(c.access_log, 0);
	assert_int_equal(c.consent_required, 1);
	/* What the file does not name keeps its default. */
	assert_int_equal(c.batch_ms, 0);
	assert_int_equal(c.ws_ping_interval_s, 30);
}

static void test_sizes(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	assert_int_equal(em_config_set(&c, "server", "body_max", "64k", err, sizeof err), 0);
	assert_int_equal(c.body_max, 65536);
	assert_int_equal(em_config_set(&c, "server", "body_max", "64K", err, sizeof err), 0);
	assert_int_equal(c.body_max, 65536);
	assert_int_equal(em_config_set(&c, "server", "body_max", "1m", err, sizeof err), 0);
	assert_int_equal(c.body_max, 1048576);
	assert_int_equal(em_config_set(&c, "server", "body_max", "1g", err, sizeof err), 0);
	assert_int_equal(c.body_max, 1073741824);
	assert_int_equal(em_config_set(&c, "server", "body_max", "2048", err, sizeof err), 0);
	assert_int_equal(c.body_max, 2048);
	assert_int_equal(em_config_set(&c, "server", "body_max", "16kb", err, sizeof err), 0);
	assert_int_equal(c.body_max, 16384);

	/* Not a size at all: the message shows the accepted forms. */
	assert_int_equal(em_config_set(&c, "server", "body_max", "12q", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "64k"));
	assert_non_null(strstr(err, "12q"));
	assert_int_equal(c.body_max, 16384);
	assert_int_equal(em_config_set(&c, "server", "body_max", "-5", err, sizeof err), EM_EINVAL);
	assert_int_equal(em_config_set(&c, "server", "body_max", "", err, sizeof err), EM_EINVAL);
	/* A size past the table's maximum (1 GiB) names the range. */
	assert_int_equal(em_config_set(&c, "server", "body_max", "2g", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "1073741824"));
	assert_int_equal(c.body_max, 16384);
}

static void test_unknown_key_names_file_line_and_key(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	int rc = load_text(&c,
			   "[server]\n"
			   "listen = 127.0.0.1:1\n"
			   "bogus_setting = 1\n",
			   path, sizeof path, err, sizeof err);
	assert_int_equal(rc, EM_EINVAL);
	char where[96];
	snprintf(where, sizeof where, "%s:3", path);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "bogus_setting"));
	assert_non_null(strstr(err, "server"));
}

static void test_unknown_section(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	int rc = load_text(&c,
			   "[server]\n"
			   "\n"
			   "[nosuch]\n"
			   "listen = 1\n",
			   path, sizeof path, err, sizeof err);
	assert_int_equal(rc, EM_EINVAL);
	char where[96];
	snprintf(where, sizeof where, "%s:4", path);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "nosuch"));
}

static void test_bad_value_names_range(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	int rc = load_text(&c,
			   "# comment line\n"
			   "[server]\n"
			   "max_connections = 0\n",
			   path, sizeof path, err, sizeof err);
	assert_int_equal(rc, EM_EINVAL);
	char where[96];
	snprintf(where, sizeof where, "%s:3", path);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "max_connections"));
	assert_non_null(strstr(err, "1 to 1000000"));
	/* The refused value did not replace the default. */
	assert_int_equal(c.max_connections, 10000);
}

static void test_bad_value_forms(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	assert_int_equal(em_config_set(&c, "server", "max_connections", "12abc", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "integer"));
	assert_int_equal(em_config_set(&c, "log", "access_log", "maybe", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "true or false"));
	assert_int_equal(em_config_set(&c, "log", "level", "loud", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "debug"));
	assert_int_equal(em_config_set(&c, "store", "synchronous", "extra", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "normal or full"));

	char longv[2048];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	assert_int_equal(em_config_set(&c, "server", "listen", longv, err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "longer than"));
	assert_string_equal(c.listen, "127.0.0.1:8080");

	assert_int_equal(em_config_set(&c, "server", "nope", "1", err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "nope"));
}

static void test_syntax_error_names_line(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	int rc = load_text(&c,
			   "[server]\n"
			   "listen = 127.0.0.1:1\n"
			   "this line has no equals sign\n",
			   path, sizeof path, err, sizeof err);
	assert_int_equal(rc, EM_EINVAL);
	char where[96];
	snprintf(where, sizeof where, "%s:3", path);
	assert_non_null(strstr(err, where));
}

static void test_missing_file(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	int rc = em_config_load_file(&c, "/nonexistent/emma.ini", err, sizeof err);
	assert_true(rc < 0);
	assert_non_null(strstr(err, "/nonexistent/emma.ini"));
}

static void test_env_override(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	setenv("EMMA_SERVER_LISTEN", "127.0.0.1:0", 1);
	setenv("EMMA_SERVER_BODY_MAX", "64k", 1);
	setenv("EMMA_LOG_ACCESS_LOG", "false", 1);
	setenv("EMMA_LOG_LEVEL", "warn", 1);
	assert_int_equal(em_config_load_env(&c, err, sizeof err), 0);
	assert_string_equal(c.listen, "127.0.0.1:0");
	assert_int_equal(c.body_max, 65536);
	assert_int_equal(c.access_log, 0);
	assert_int_equal(c.log_level, EM_LOG_WARN);
	assert_int_equal(c.max_connections, 10000);
}

static void test_env_beats_file(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char path[64], err[512];
	assert_int_equal(load_text(&c, "[server]\nlisten = 10.0.0.1:80\nmax_connections = 7\n", path,
				   sizeof path, err, sizeof err),
			 0);
	setenv("EMMA_SERVER_LISTEN", "127.0.0.1:9999", 1);
	assert_int_equal(em_config_load_env(&c, err, sizeof err), 0);
	assert_string_equal(c.listen, "127.0.0.1:9999");
	/* Only what the environment names changes. */
	assert_int_equal(c.max_connections, 7);
	/* And a flag (em_config_set) beats both. */
	assert_int_equal(em_config_set(&c, "server", "listen", "127.0.0.1:1234", err, sizeof err), 0);
	assert_string_equal(c.listen, "127.0.0.1:1234");
}

static void test_env_bad_value_names_variable(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	setenv("EMMA_SERVER_MAX_CONNECTIONS", "lots", 1);
	assert_int_equal(em_config_load_env(&c, err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "EMMA_SERVER_MAX_CONNECTIONS"));
	assert_non_null(strstr(err, "lots"));
	assert_int_equal(c.max_connections, 10000);

	setenv("EMMA_SERVER_MAX_CONNECTIONS", "2000000", 1);
	assert_int_equal(em_config_load_env(&c, err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "1 to 1000000"));
}

static void collect(const char *line, void *arg)
{
	char *out = arg;
	size_t used = strlen(out);
	snprintf(out + used, 16384 - used, "%s\n", line);
}

/* Dumps c into text (16 KiB) and loads that text into d, which must work. */
static void dump_and_load(const em_config *c, char *text, em_config *d)
{
	text[0] = '\0';
	em_config_dump(c, collect, text);
	em_config_defaults(d);
	char path[64], err[512];
	assert_int_equal(load_text(d, text, path, sizeof path, err, sizeof err), 0);
}

static void test_dump_round_trips(void **state)
{
	/* The dump is an INI document: loading it back gives the same values. */
	em_config c;
	em_config_defaults(&c);
	char err[512];
	assert_int_equal(em_config_set(&c, "server", "header_max", "32k", err, sizeof err), 0);
	assert_int_equal(em_config_set(&c, "log", "level", "error", err, sizeof err), 0);
	assert_int_equal(em_config_set(&c, "store", "synchronous", "full", err, sizeof err), 0);

	static char text[16384];
	em_config d;
	dump_and_load(&c, text, &d);
	assert_non_null(strstr(text, "[server]"));
	assert_non_null(strstr(text, "listen = 127.0.0.1:8080"));
	assert_non_null(strstr(text, "header_max = 32768"));
	assert_int_equal(d.header_max, 32768);
	assert_int_equal(d.log_level, EM_LOG_ERROR);
	assert_int_equal(d.synchronous_full, 1);
	assert_string_equal(d.listen, c.listen);
	assert_int_equal(d.access_log, c.access_log);
}

/* Collects "| `section` | `key` |" for every setting of the dump. */
struct doc_check {
	const char *doc;
	char section[64];
	int checked;
	int missing;
};

static void check_line(const char *line, void *arg)
{
	struct doc_check *d = arg;
	/* The dump emits "\n[section]" and "# help\nkey = value" entries. */
	const char *p = line;
	while (*p == '\n')
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (end)
			snprintf(d->section, sizeof d->section, "%.*s", (int)(end - p - 1), p + 1);
		return;
	}
	const char *kv = strrchr(line, '\n');
	kv = kv ? kv + 1 : line;
	const char *eq = strstr(kv, " = ");
	if (!eq)
		return;
	char needle[256];
	snprintf(needle, sizeof needle, "| `%s` | `%.*s` |", d->section, (int)(eq - kv), kv);
	d->checked++;
	if (!strstr(d->doc, needle)) {
		print_error("docs/configuration.md has no row starting %s\n", needle);
		d->missing++;
	}
}

static void test_dump_hides_the_mail_password(void **state)
{
	em_config c;
	em_config_defaults(&c);
	char err[512];
	assert_int_equal(em_config_set(&c, "mail", "password", "s3cret-Pa55", err, sizeof err), 0);
	assert_int_equal(em_config_set(&c, "mail", "user", "shop-mailer", err, sizeof err), 0);
	static char text[16384];
	em_config d;
	dump_and_load(&c, text, &d);
	assert_null(strstr(text, "s3cret-Pa55"));
	assert_non_null(strstr(text, "(set; not shown)"));
	assert_non_null(strstr(text, "user = shop-mailer"));
	/* Loaded back, the dump is still valid and leaves the password unset. */
	assert_string_equal(d.mail_password, "");
	assert_string_equal(d.mail_user, "shop-mailer");
}

static void test_every_setting_is_documented(void **state)
{
	/* make runs the tests from the repository root. */
	FILE *f = fopen("docs/configuration.md", "r");
	if (!f) {
		skip();
		return;
	}
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof doc - 1, f);
	doc[n] = '\0';
	fclose(f);

	em_config c;
	em_config_defaults(&c);
	struct doc_check d = {.doc = doc};
	em_config_dump(&c, check_line, &d);
	assert_true(d.checked > 20);
	assert_int_equal(d.missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_dump_hides_the_mail_password, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_file_good_values, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_sizes, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_unknown_key_names_file_line_and_key, clear_env,
						clear_env),
		cmocka_unit_test_setup_teardown(test_unknown_section, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_bad_value_names_range, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_bad_value_forms, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_syntax_error_names_line, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_missing_file, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_env_override, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_env_beats_file, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_env_bad_value_names_variable, clear_env, clear_env),
		cmocka_unit_test_setup_teardown(test_dump_round_trips, clear_env, clear_env),
		cmocka_unit_test(test_every_setting_is_documented),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
