/*
** The emma command line: serve, user add, migrate, backup, retention, version.
**
** Every command takes --config FILE and --data DIR so that `emma user add`
** and `emma serve` find the same database. Usage errors exit 2 with a
** one-line reason; other failures exit 1.
*/
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/routes.h"
#include "app.h"
#include "chat/chat.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "crm/auth.h"
#include "crm/callbacks.h"
#include "crm/csvio.h"
#include "crm/operators.h"
#include "crm/privacy.h"
#include "crm/webhooks.h"
#include "kb/help.h"
#include "net/http.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/geo.h"
#include "track/import.h"
#include "track/ingest.h"
#include "track/tail.h"

#define EMMA_VERSION "0.1.0"

static const char *prog = "emma";

static void usage_main(FILE *f)
{
	fprintf(f, "Usage: emma COMMAND [OPTIONS]\n"
		   "\n"
		   "Emma is a self-hosted, real-time e-CRM server.\n"
		   "\n"
		   "Commands:\n"
		   "  serve            run the server (tracker, chat, console, API)\n"
		   "  import-log FILE  import web-server access logs as visits\n"
		   "  import-faq PATH  import help-centre articles (JSON, CSV, Markdown folder)\n"
		   "  user add EMAIL   create an operator account\n"
		   "  migrate          apply pending database migrations\n"
		   "  backup FILE      copy the database to FILE while serving\n"
		   "  retention        delete data past the retention periods (--dry-run: report)\n"
		   "  version          print the version\n"
		   "\n"
		   "Options for every command:\n"
		   "  --config FILE    read settings from an INI file\n"
		   "  --data DIR       data directory (default ./data)\n"
		   "  --help           help for a command, e.g. emma serve --help\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s --help')\n", prog);
	return 2;
}

/* ---- Common options ------------------------------------------------- */

#define MAX_TAILS 16

struct common {
	const char *config;
	const char *data;
	const char *listen;
	const char *role;
	const char *format;
	const char *site;
	const char *tails[MAX_TAILS];
	int ntails;
	int password_stdin;
	int help;
};

/* Which command-specific options a command accepts. */
enum { ALLOW_SERVE = 1, ALLOW_USER = 2, ALLOW_IMPORT = 4 };
enum {
	OPT_CONFIG = 1000,
	OPT_DATA,
	OPT_LISTEN,
	OPT_ROLE,
	OPT_PWSTDIN,
	OPT_HELP,
	OPT_FORMAT,
	OPT_SITE,
	OPT_TAIL
};

/* Parses options of one command (GNU style: options may follow arguments).
** Returns the index of the first positional argument after permutation, or
** -1 after printing a usage error. */
static int parse_options(int argc, char **argv, struct common *o, int allow)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"data", required_argument, NULL, OPT_DATA},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"role", required_argument, NULL, OPT_ROLE},
		{"password-stdin", no_argument, NULL, OPT_PWSTDIN},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"site", required_argument, NULL, OPT_SITE},
		{"tail", required_argument, NULL, OPT_TAIL},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int need = ch == OPT_LISTEN || ch == OPT_TAIL	 ? ALLOW_SERVE
			   : ch == OPT_ROLE || ch == OPT_PWSTDIN ? ALLOW_USER
			   : ch == OPT_FORMAT || ch == OPT_SITE	 ? ALLOW_IMPORT
								 : 0;
		if (need && !(allow & need))
			return usage_error("option %s is not used by this command", argv[optind - 1]), -1;
		switch (ch) {
		case OPT_CONFIG: o->config = optarg; break;
		case OPT_DATA: o->data = optarg; break;
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_ROLE: o->role = optarg; break;
		case OPT_PWSTDIN: o->password_stdin = 1; break;
		case OPT_FORMAT: o->format = optarg; break;
		case OPT_SITE: o->site = optarg; break;
		case OPT_TAIL:
			if (o->ntails == MAX_TAILS)
				return usage_error("at most %d --tail files", MAX_TAILS), -1;
			o->tails[o->ntails++] = optarg;
			break;
		case 'h':
		case OPT_HELP: o->help = 1; break;
		default: return usage_error("unknown option or missing value: '%s'", argv[optind - 1]), -1;
		}
	}
	return optind;
}

/* Builds the configuration: defaults < file < environment < flags. */
static int load_config(em_config *cfg, const struct common *o)
{
	char err[512];
	em_config_defaults(cfg);
	if (o->config && em_config_load_file(cfg, o->config, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	if (em_config_load_env(cfg, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	if (o->data && em_config_set(cfg, "store", "data_dir", o->data, err, sizeof err)) {
		fprintf(stderr, "%s: --data: %s\n", prog, err);
		return 2;
	}
	if (o->listen && em_config_set(cfg, "server", "listen", o->listen, err, sizeof err)) {
		fprintf(stderr, "%s: --listen: %s\n", prog, err);
		return 2;
	}
	em_log_set_level(cfg->log_level);
	if (cfg->log_file[0] && em_log_open(cfg->log_file)) {
		fprintf(stderr, "%s: cannot open log file %s\n", prog, cfg->log_file);
		return 1;
	}
	return 0;
}

/* Loads the configuration and opens the store, for the commands that run
** on the database directly: 0, or the exit status after saying why. */
static int open_store(em_config *cfg, const struct common *o, em_store **store)
{
	int rc = load_config(cfg, o);
	if (rc)
		return rc;
	char err[512];
	em_loop_init();
	if (em_store_open(store, cfg, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	return 0;
}

/* ---- serve ---------------------------------------------------------- */

static em_app app;

static void on_server_drained(void *arg)
{
	(void)arg;
	em_info("connections drained", NULL);
	em_loop_stop();
}

static void on_stop_signal(int signum, void *arg)
{
	(void)arg;
	if (app.shutting_down) {
		em_warn("second signal, exiting now", "signal=%d", signum);
		_exit(1);
	}
	app.shutting_down = 1;
	em_info("shutting down", "signal=%s", signum == SIGTERM ? "TERM" : "INT");
	em_server_shutdown(app.server, on_server_drained, NULL);
}

static void on_hup(int signum, void *arg)
{
	(void)signum;
	(void)arg;
	em_log_reopen();
	em_info("log file reopened", NULL);
}

static int cmd_serve(int argc, char **argv)
{
	struct common o = {0};
	int i = parse_options(argc, argv, &o, ALLOW_SERVE);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--tail "
		       "FILE[:FORMAT]]...\n\n"
		       "Serves the tracker, chat widget, operator console and API. Default listen\n"
		       "127.0.0.1:8080, data in ./data. On first start it creates the site 'default'\n"
		       "and an admin admin@localhost with a one-time password printed here\n"
		       "(or EMMA_INITIAL_ADMIN_PASSWORD when set).\n"
		       "--tail follows a web-server access log live (FORMAT: combined, common or an\n"
		       "nginx log_format string; default combined), surviving rotation and restarts.\n");
		return 0;
	}
	if (i < argc)
		return usage_error("serve takes no arguments, got '%s'", argv[i]);
	int rc = load_config(&app.cfg, &o);
	if (rc)
		return rc;
	app.started_ms = em_now_ms();
	char err[512];
	em_loop_init();
	if (em_store_open(&app.store, &app.cfg, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	if (em_auth_init(&app, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		em_store_close(app.store);
		return 1;
	}
	char password[128] = "";
	int created = em_auth_bootstrap(&app, password, sizeof password);
	if (created < 0) {
		fprintf(stderr, "%s: cannot create the first admin: %s\n", prog, em_strerror(created));
		em_store_close(app.store);
		return 1;
	}
	/* Contacts of an import that was cut short become searchable now. */
	if ((rc = em_store_write_sync(app.store, em_csv_index_waiting_db, NULL)))
		em_warn("contacts waiting for the search index stay unsearchable", "reason=%s",
			em_strerror(rc));
	if (em_ingest_init(&app, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		em_store_close(app.store);
		return 1;
	}
	if (em_chat_init(&app)) {
		fprintf(stderr, "%s: cannot load the open conversations\n", prog);
		em_ingest_shutdown();
		em_store_close(app.store);
		return 1;
	}
	if (em_webhooks_init(&app)) {
		fprintf(stderr, "%s: cannot start the webhook sender (libcurl)\n", prog);
		em_store_close(app.store);
		return 1;
	}
	if (em_callbacks_init(&app)) {
		fprintf(stderr, "%s: cannot read the callback queue\n", prog);
		em_store_close(app.store);
		return 1;
	}
	if (em_privacy_init(&app)) {
		fprintf(stderr, "%s: cannot start the retention timer\n", prog);
		em_store_close(app.store);
		return 1;
	}
	app.server = em_server_new(&app.cfg, &app);
	em_api_register_all(app.server);
	if (em_server_listen(app.server, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		em_store_close(app.store);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	em_loop_on_signal(SIGTERM, on_stop_signal, NULL);
	em_loop_on_signal(SIGINT, on_stop_signal, NULL);
	em_loop_on_signal(SIGHUP, on_hup, NULL);
	em_tail *tails[MAX_TAILS];
	int ntails = 0;
	for (int k = 0; k < o.ntails; k++) {
		if (em_tail_start(&app, o.tails[k], &tails[ntails], err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", prog, err);
			for (int j = 0; j < ntails; j++)
				em_tail_stop(tails[j]);
			em_store_close(app.store);
			return 2;
		}
		ntails++;
	}

	char host[128];
	const char *colon = strrchr(app.cfg.listen, ':');
	size_t hl = colon ? (size_t)(colon - app.cfg.listen) : 0;
	snprintf(host, sizeof host, "%.*s", (int)hl, app.cfg.listen);
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]"))
		snprintf(host, sizeof host, "localhost");
	int port = em_server_port(app.server);
	em_info("listening", "url=http://%s:%d/ port=%d data=%s version=%s", host, port, port,
		app.cfg.data_dir, EMMA_VERSION);
	printf("Emma is running at http://%s:%d/\n", host, port);
	if (created > 0) {
		if (password[0])
			printf("First start: sign in as admin@localhost with the one-time password: %s\n"
			       "(change it in the console; it is not shown again)\n",
			       password);
		else
			printf("First start: admin@localhost was created with "
			       "EMMA_INITIAL_ADMIN_PASSWORD.\n");
	}
	fflush(stdout);

	em_loop_run();
	for (int k = 0; k < ntails; k++)
		em_tail_stop(tails[k]);
	/* Deliver what the tail threads and the store posted before we tear down. */
	em_loop_drain();
	em_info("closing store", NULL);
	em_privacy_shutdown();
	em_callbacks_shutdown();
	em_webhooks_shutdown();
	em_ingest_shutdown();
	em_auth_free(&app);
	em_store_close(app.store);
	/* Done callbacks of the last writes hold chat sockets; run them first. */
	em_loop_drain();
	em_chat_shutdown();
	em_loop_close();
	em_server_free(app.server);
	em_info("stopped", NULL);
	em_log_close();
	return 0;
}

/* ---- user add ------------------------------------------------------- */

static int read_password_stdin(char *out, size_t len)
{
	if (!fgets(out, (int)len, stdin))
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int cmd_user(int argc, char **argv)
{
	struct common o = {0};
	int i = parse_options(argc, argv, &o, ALLOW_USER);
	if (i < 0)
		return 2;
	if (o.help || i >= argc) {
		FILE *f = o.help ? stdout : stderr;
		fprintf(f, "Usage: emma user add EMAIL [--role admin|agent] [--password-stdin]\n"
			   "Creates an operator. Without --password-stdin a random password is printed.\n");
		return o.help ? 0 : 2;
	}
	if (strcmp(argv[i], "add"))
		return usage_error("unknown user command '%s' (expected: add)", argv[i]);
	if (i + 1 >= argc)
		return usage_error("user add needs an e-mail address");
	if (i + 2 < argc)
		return usage_error("unexpected argument '%s'", argv[i + 2]);
	const char *email = argv[i + 1];
	const char *role = o.role ? o.role : "agent";
	if (strcmp(role, "admin") && strcmp(role, "agent"))
		return usage_error("--role must be admin or agent, got '%s'", role);
	char password[256];
	int generated = 0;
	if (o.password_stdin) {
		if (read_password_stdin(password, sizeof password)) {
			fprintf(stderr, "%s: no password on standard input\n", prog);
			return 2;
		}
	} else {
		static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
		for (int k = 0; k < 16; k++)
			password[k] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
		password[16] = '\0';
		generated = 1;
	}
	em_config cfg;
	em_store *store;
	char err[512];
	int rc = open_store(&cfg, &o, &store);
	if (rc)
		return rc;
	rc = em_operators_add_sync(store, email, role, password, err, sizeof err);
	em_store_close(store);
	em_loop_close();
	sodium_memzero(password + (generated ? 16 : 0), sizeof password - (generated ? 16 : 0));
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return rc == EM_EINVAL || rc == EM_EEXIST ? 2 : 1;
	}
	printf("Created %s %s.\n", role, email);
	if (generated)
		printf("Password: %s\n", password);
	return 0;
}

/* ---- import-log ----------------------------------------------------- */

static int cmd_import(int argc, char **argv)
{
	struct common o = {0};
	int i = parse_options(argc, argv, &o, ALLOW_IMPORT);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma import-log [--format combined|common|'<nginx log_format>'] [--site KEY] "
		       "FILE...\n\n"
		       "Stores the page views of web-server access logs as visitors and visits, like\n"
		       "tracker hits. FILE may be '-' for standard input. Shows progress on a terminal\n"
		       "and ends with a summary: lines read, imported, bots, skipped with reasons.\n");
		return 0;
	}
	if (i >= argc)
		return usage_error("import-log needs at least one FILE");
	char err[512];
	em_logfmt *fmt;
	if (em_logfmt_compile(o.format ? o.format : "combined", &fmt, err, sizeof err)) {
		fprintf(stderr, "%s: --format: %s\n", prog, err);
		return 2;
	}
	em_config cfg;
	int rc = load_config(&cfg, &o);
	if (rc) {
		em_logfmt_free(fmt);
		return rc;
	}
	em_loop_init();
	em_store *store;
	if (em_geo_open(cfg.geoip_db, err, sizeof err) || em_store_open(&store, &cfg, err, sizeof err) ||
	    em_ingest_init_offline(store, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		em_logfmt_free(fmt);
		return 1;
	}
	const char *key = o.site ? o.site : "default";
	em_logsource src;
	memset(&src, 0, sizeof src);
	src.fmt = fmt;
	src.site = em_sites_find(key);
	src.anonymize_bytes = cfg.anonymize_ip_bytes;
	if (!src.site) {
		fprintf(stderr, "%s: --site: no site '%s' (start emma serve once to create 'default')\n",
			prog, key);
		em_ingest_shutdown();
		em_store_close(store);
		em_logfmt_free(fmt);
		return 2;
	}
	uint64_t t0 = em_mono_us();
	err[0] = '\0';
	rc = em_import_files(store, &src, argv + i, argc - i, isatty(2), err, sizeof err);
	double secs = (double)(em_mono_us() - t0) / 1e6;
	em_store_close(store);
	em_loop_drain();
	em_ingest_shutdown();
	em_loop_close();
	em_logfmt_free(fmt);
	char summary[1024];
	em_import_summary(&src.st, secs, summary, sizeof summary);
	fprintf(stderr, "%s\n", summary);
	if (src.first_error[0])
		fprintf(stderr, "first skipped line: %s\n", src.first_error);
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	return 0;
}

/* ---- import-faq ---------------------------------------------------- */

static int cmd_import_faq(int argc, char **argv)
{
	/* --lang and --publish are this command's own flags. */
	const char *lang = NULL;
	int publish = 0, n = 0;
	char *args[256];
	for (int k = 0; k < argc; k++) {
		if (n == 255)
			return usage_error("import-faq: too many arguments");
		if (k > 0 && !strcmp(argv[k], "--publish")) {
			publish = 1;
		} else if (k > 0 && !strcmp(argv[k], "--lang")) {
			if (k + 1 >= argc)
				return usage_error("--lang needs de or en");
			lang = argv[++k];
		} else if (k > 0 && !strncmp(argv[k], "--lang=", 7)) {
			lang = argv[k] + 7;
		} else {
			args[n++] = argv[k];
		}
	}
	args[n] = NULL;
	struct common o = {0};
	int i = parse_options(n, args, &o, ALLOW_IMPORT);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma import-faq [--site KEY] [--lang de|en] [--publish] PATH...\n\n"
		       "Imports help-centre articles. PATH is a .json file (an array of articles with\n"
		       "question, answer, category, tags, lang, status, slug), a .csv file with the header\n"
		       "question,answer,category,tags,lang,status (slug optional), or a folder of .md\n"
		       "files, each starting with front matter (question:, category:, tags: a, b, lang:,\n"
		       "status:) between '---' lines, then the answer in Markdown; the file name is the "
		       "slug.\n"
		       "--lang is the language of articles that name none; --publish publishes every\n"
		       "imported article (else: the status given, or draft). An article whose site, "
		       "language\n"
		       "and slug exist already is updated. Prints what was skipped (file:line: why) and a\n"
		       "summary. Runs on the database directly; a serving emma shows the changes within a\n"
		       "minute.\n");
		return 0;
	}
	if (o.format)
		return usage_error("option --format is not used by import-faq");
	if (lang && strcmp(lang, "de") && strcmp(lang, "en"))
		return usage_error("--lang must be de or en, got '%s'", lang);
	if (i >= n)
		return usage_error("import-faq needs at least one PATH");
	em_config cfg;
	em_store *store;
	int rc = open_store(&cfg, &o, &store);
	if (rc)
		return rc;
	if (em_sites_load(store)) {
		fprintf(stderr, "%s: cannot read the sites\n", prog);
		em_store_close(store);
		return 1;
	}
	const char *key = o.site ? o.site : "default";
	em_help_import imp = {.site = em_sites_find(key), .lang = lang, .publish = publish, .report = stdout};
	if (!imp.site) {
		fprintf(stderr, "%s: --site: no site '%s' (start emma serve once to create 'default')\n",
			prog, key);
		em_sites_free();
		em_store_close(store);
		return 2;
	}
	rc = em_help_import_paths(store, &imp, args + i, n - i);
	em_store_close(store);
	em_loop_drain();
	em_sites_free();
	em_loop_close();
	printf("%d created, %d updated (matched by slug), %d skipped\n", imp.created, imp.updated,
	       imp.skipped);
	return rc ? 1 : 0;
}

/* ---- migrate, backup, version --------------------------------------- */

static int cmd_migrate(int argc, char **argv)
{
	struct common o = {0};
	int i = parse_options(argc, argv, &o, 0);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma migrate [--config FILE] [--data DIR]\nApplies pending database "
		       "migrations.\n");
		return 0;
	}
	if (i < argc)
		return usage_error("migrate takes no arguments, got '%s'", argv[i]);
	em_config cfg;
	int rc = load_config(&cfg, &o);
	if (rc)
		return rc;
	char err[512];
	int applied = 0;
	if (em_store_migrate(&cfg, &applied, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	printf("Applied %d migration%s.\n", applied, applied == 1 ? "" : "s");
	return 0;
}

static int cmd_backup(int argc, char **argv)
{
	struct common o = {0};
	int i = parse_options(argc, argv, &o, 0);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma backup FILE [--config FILE] [--data DIR]\n"
		       "Copies the database to FILE; safe while emma serve is running.\n");
		return 0;
	}
	if (i >= argc)
		return usage_error("backup needs a target FILE");
	if (i + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[i + 1]);
	em_config cfg;
	em_store *store;
	char err[512];
	int rc = open_store(&cfg, &o, &store);
	if (rc)
		return rc;
	rc = em_store_backup(store, argv[i], err, sizeof err);
	em_store_close(store);
	em_loop_close();
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	printf("Backup written to %s\n", argv[i]);
	return 0;
}

/* ---- retention ------------------------------------------------------ */

static int cmd_retention(int argc, char **argv)
{
	/* --dry-run is this command's own flag; the shared parser never sees it. */
	int dry_run = 0, n = 0;
	char *args[64];
	for (int k = 0; k < argc && n < 63; k++) {
		if (k > 0 && !strcmp(argv[k], "--dry-run"))
			dry_run = 1;
		else
			args[n++] = argv[k];
	}
	args[n] = NULL;
	struct common o = {0};
	int i = parse_options(n, args, &o, 0);
	if (i < 0)
		return 2;
	if (o.help) {
		printf("Usage: emma retention [--dry-run] [--config FILE] [--data DIR]\n\n"
		       "Deletes what is older than the retention settings allow "
		       "(privacy.retain_events_days,\n"
		       "privacy.retain_chats_months, privacy.retain_visitors_days), in chunks, and prints\n"
		       "what went. With --dry-run nothing is deleted; it prints what would go.\n"
		       "emma serve does the same once a day by itself.\n");
		return 0;
	}
	if (i < n)
		return usage_error("retention takes no arguments, got '%s'", args[i]);
	em_config cfg;
	em_store *store;
	int rc = open_store(&cfg, &o, &store);
	if (rc)
		return rc;
	em_retention r;
	em_privacy_retention_plan(&cfg, em_now_ms(), &r);
	r.dry_run = dry_run;
	rc = em_privacy_retention_run_sync(store, &r);
	em_store_close(store);
	em_loop_close();
	json_t *report = em_privacy_retention_json(&r);
	char *text = json_dumps(report, JSON_INDENT(2));
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(report);
	if (rc) {
		fprintf(stderr, "%s: retention stopped: %s (what was deleted so far stays deleted)\n", prog,
			em_strerror(rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "emma: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage_main(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("emma %s\n", EMMA_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "user"))
		return cmd_user(argc - 1, argv + 1);
	if (!strcmp(cmd, "import-log"))
		return cmd_import(argc - 1, argv + 1);
	if (!strcmp(cmd, "import-faq"))
		return cmd_import_faq(argc - 1, argv + 1);
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate(argc - 1, argv + 1);
	if (!strcmp(cmd, "backup"))
		return cmd_backup(argc - 1, argv + 1);
	if (!strcmp(cmd, "retention"))
		return cmd_retention(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", cmd);
}
