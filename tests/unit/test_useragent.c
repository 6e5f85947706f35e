/*
** Unit tests for src/track/useragent.c: browser / OS / device / bot
** classification from uap-core's and isbot's data, and its bounded cache.
**
** The table holds real User-Agent strings as browsers and crawlers send
** them. Expected browser and OS names are uap-core's own vocabulary
** ("Chrome Mobile", "Mac OS X"); the device type is our derivation
** (docs/user-agents.md). When a new uap-core release renames a family, this
** table is where it shows.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/err.h"
#include "track/useragent.h"

typedef struct ua_case {
	const char *ua;
	const char *browser, *version, *os, *os_version, *device;
	int is_bot;
} ua_case;

/* clang-format off */
static const ua_case cases[] = {
	/* Windows */
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	 "Chrome", "124", "Windows", "10", "desktop", 0},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
	 "Firefox", "125", "Windows", "10", "desktop", 0},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
	 "Edge", "124", "Windows", "10", "desktop", 0},
	{"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
	 "Chrome", "109", "Windows", "7", "desktop", 0},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
	 "Opera", "110", "Windows", "10", "desktop", 0},
	/* macOS */
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	 "Safari", "17", "Mac OS X", "10", "desktop", 0},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	 "Chrome", "124", "Mac OS X", "10", "desktop", 0},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
	 "Firefox", "125", "Mac OS X", "14", "desktop", 0},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
	 "Edge", "124", "Mac OS X", "10", "desktop", 0},
	/* Linux and Chrome OS */
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	 "Chrome", "124", "Linux", "", "desktop", 0},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	 "Firefox", "125", "Ubuntu", "", "desktop", 0},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
	 "Firefox", "115", "Linux", "", "desktop", 0},
	{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	 "Chrome", "124", "Chrome OS", "14541", "desktop", 0},
	/* Android phones */
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	 "Chrome Mobile", "124", "Android", "10", "mobile", 0},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
	 "Chrome Mobile", "124", "Android", "14", "mobile", 0},
	{"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36",
	 "Chrome Mobile", "112", "Android", "13", "mobile", 0},
	{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
	 "Samsung Internet", "24", "Android", "14", "mobile", 0},
	{"Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
	 "Firefox Mobile", "125", "Android", "14", "mobile", 0},
	{"Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
	 "Android", "4", "Android", "4", "mobile", 0},
	{"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
	 "Edge Mobile", "15", "Windows Phone", "10", "mobile", 0},
	/* Android tablets */
	{"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	 "Chrome", "124", "Android", "13", "tablet", 0},
	{"Mozilla/5.0 (Linux; Android 12; SAMSUNG SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
	 "Samsung Internet", "23", "Android", "12", "tablet", 0},
	{"Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
	 "Firefox Mobile", "125", "Android", "13", "tablet", 0},
	{"Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.118 Safari/537.36",
	 "Amazon Silk", "124", "Android", "9", "tablet", 0},
	/* iOS */
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
	 "Mobile Safari", "17", "iOS", "17", "mobile", 0},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
	 "Chrome Mobile iOS", "124", "iOS", "17", "mobile", 0},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
	 "Firefox iOS", "125", "iOS", "17", "mobile", 0},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/de_DE;FBOP/5]",
	 "Facebook", "", "iOS", "16", "mobile", 0},
	{"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	 "Mobile Safari", "17", "iOS", "17", "tablet", 0},
	{"Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
	 "Chrome Mobile iOS", "124", "iOS", "16", "tablet", 0},
	/* TVs and consoles */
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
	 "Edge", "18", "Windows", "10", "other", 0},
	{"Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
	 "Samsung Internet", "4", "Tizen", "6", "other", 0},
	/* Crawlers (uap "Spider" and isbot agree) */
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	 "Googlebot", "2", "Other", "", "bot", 1},
	{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	 "Googlebot", "2", "Android", "6", "bot", 1},
	{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	 "bingbot", "2", "Other", "", "bot", 1},
	{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
	 "bingbot", "2", "Other", "", "bot", 1},
	{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	 "YandexBot", "3", "Other", "", "bot", 1},
	{"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	 "AhrefsBot", "7", "Other", "", "bot", 1},
	{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	 "FacebookBot", "1", "Other", "", "bot", 1},
	{"Twitterbot/1.0", "Twitterbot", "1", "Other", "", "bot", 1},
	{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	 "Slackbot-LinkExpanding", "1", "Other", "", "bot", 1},
	/* Tools and headless browsers: only isbot knows these are not people */
	{"curl/8.5.0", "curl", "8", "Other", "", "bot", 1},
	{"python-requests/2.31.0", "Python Requests", "2", "Other", "", "bot", 1},
	{"Wget/1.21.3", "Wget", "1", "Other", "", "bot", 1},
	{"Go-http-client/1.1", "Go-http-client", "1", "Other", "", "bot", 1},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
	 "HeadlessChrome", "124", "Linux", "", "bot", 1},
};
/* clang-format on */
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The first table case whose UA contains needle. */
static const ua_case *find(const char *needle)
{
	for (size_t i = 0; i < NCASES; i++)
		if (strstr(cases[i].ua, needle))
			return &cases[i];
	fail_msg("no case with %s", needle);
	return NULL;
}

static int setup(void **state)
{
	char err[512];
	int rc = em_ua_init(err, sizeof err);
	if (rc)
		print_error("em_ua_init: %s\n", err);
	return rc;
}

static int teardown(void **state)
{
	em_ua_shutdown();
	return 0;
}

static void check_case(const ua_case *c, const em_ua *u)
{
	if (strcmp(u->browser, c->browser) || strcmp(u->browser_version, c->version) ||
	    strcmp(u->os, c->os) || strcmp(u->os_version, c->os_version) || strcmp(u->device, c->device) ||
	    u->is_bot != c->is_bot)
		print_error("UA: %s\n got: %s %s | %s %s | %s (%s) bot=%d\nwant: %s %s | %s %s | %s bot=%d\n",
			    c->ua, u->browser, u->browser_version, u->os, u->os_version, u->device,
			    u->device_family, u->is_bot, c->browser, c->version, c->os, c->os_version,
			    c->device, c->is_bot);
	assert_string_equal(u->browser, c->browser);
	assert_string_equal(u->browser_version, c->version);
	assert_string_equal(u->os, c->os);
	assert_string_equal(u->os_version, c->os_version);
	assert_string_equal(u->device, c->device);
	assert_int_equal(u->is_bot, c->is_bot);
}

static void test_table(void **state)
{
	for (size_t i = 0; i < NCASES; i++) {
		em_ua u;
		assert_int_equal(em_ua_classify(cases[i].ua, strlen(cases[i].ua), &u), 0);
		check_case(&cases[i], &u);
	}
}

static void test_device_families(void **state)
{
	em_ua u;
	static const struct {
		const char *needle, *family;
	} want[] = {
		{"iPhone OS 17_4_1", "iPhone"},
		{"iPad; CPU OS 17_4", "iPad"},
		{"compatible; Googlebot", "Spider"},
		{"Windows NT 10.0; Win64; x64; rv", "Other"},
		{"Intel Mac OS X 14.4", "Mac"},
		{"KFTRWI", "Kindle"},
		{"curl/", "Other"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const ua_case *c = find(want[i].needle);
		em_ua_classify(c->ua, strlen(c->ua), &u);
		assert_string_equal(u.device_family, want[i].family);
	}
}

/* The build-time literal prefilter only skips rules that cannot match: with
** and without it every answer is the same, also for the UA in upper and in
** lower case (uap has case-insensitive rules) and with odd tails. */
static void test_prefilter_changes_nothing(void **state)
{
	static const char *const tails[] = {"", " (compatible; MSIE 9.0)", " Mobile", " Build/XYZ", ";"};
	char buf[600];
	for (size_t i = 0; i < NCASES; i++) {
		for (int variant = 0; variant < 3; variant++) {
			for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
				int n = snprintf(buf, sizeof buf, "%s%s", cases[i].ua, tails[t]);
				assert_true(n > 0 && (size_t)n < sizeof buf);
				for (int k = 0; k < n && variant; k++) {
					char c = buf[k];
					if (variant == 1 && c >= 'a' && c <= 'z')
						buf[k] = (char)(c - 'a' + 'A');
					if (variant == 2 && c >= 'A' && c <= 'Z')
						buf[k] = (char)(c - 'A' + 'a');
				}
				em_ua with, without;
				assert_int_equal(em__ua_classify_uncached(buf, (size_t)n, 1, &with), 0);
				assert_int_equal(em__ua_classify_uncached(buf, (size_t)n, 0, &without), 0);
				if (memcmp(&with, &without, sizeof with))
					print_error("prefilter changes the answer for: %s\n", buf);
				assert_memory_equal(&with, &without, sizeof with);
			}
		}
	}
}

/* em_ua_is_bot is the isbot list alone: for every case it agrees with the
** table (each bot here is also an isbot bot), cached or not. */
static void test_is_bot(void **state)
{
	for (size_t i = 0; i < NCASES; i++)
		assert_int_equal(em_ua_is_bot(cases[i].ua, strlen(cases[i].ua)), cases[i].is_bot);
	em_ua u;
	for (size_t i = 0; i < NCASES; i++) {
		em_ua_classify(cases[i].ua, strlen(cases[i].ua), &u);
		assert_int_equal(em_ua_is_bot(cases[i].ua, strlen(cases[i].ua)), cases[i].is_bot);
	}
	const char *ua = "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)";
	assert_int_equal(em_ua_is_bot(ua, strlen(ua)), 1);
	ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "Chrome/124.0.0.0 "
	     "Safari/537.36";
	assert_int_equal(em_ua_is_bot(ua, strlen(ua)), 0);
}

static void test_empty_and_null(void **state)
{
	em_ua u;
	memset(&u, 0x5a, sizeof u);
	assert_int_equal(em_ua_classify(NULL, 0, &u), EM_EINVAL);
	assert_string_equal(u.browser, "Other");
	assert_string_equal(u.os, "Other");
	assert_string_equal(u.device, "other");
	assert_string_equal(u.device_family, "Other");
	assert_string_equal(u.browser_version, "");
	assert_int_equal(u.is_bot, 0);
	memset(&u, 0x5a, sizeof u);
	assert_int_equal(em_ua_classify("", 0, &u), EM_EINVAL);
	assert_string_equal(u.device, "other");
	assert_int_equal(u.is_bot, 0);
	assert_int_equal(em_ua_is_bot(NULL, 0), 0);
	assert_int_equal(em_ua_is_bot("", 0), 0);
}

/* Only len bytes count: the same bytes followed by garbage classify alike,
** and odd bytes (NUL, invalid UTF-8, very long strings) are harmless. */
static void test_odd_input(void **state)
{
	em_ua a, b;
	const ua_case *ff = find("Windows NT 10.0; Win64; x64; rv:125.0");
	const char *ua = ff->ua;
	char buf[512];
	size_t n = strlen(ua);
	memcpy(buf, ua, n);
	memcpy(buf + n, " Googlebot/2.1", 15);
	assert_int_equal(em_ua_classify(buf, n, &a), 0);
	check_case(ff, &a);

	char bin[300];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (char)(i * 37 + 11);
	bin[5] = '\0';
	assert_int_equal(em_ua_classify(bin, sizeof bin, &b), 0);
	assert_non_null(memchr(b.device, '\0', sizeof b.device));
	assert_non_null(memchr(b.browser, '\0', sizeof b.browser));

	/* Longer than EM_UA_MAX_LEN: classified by its prefix, and the same
	** prefix with a different tail is the same cache entry. */
	static char big[EM_UA_MAX_LEN * 4];
	memset(big, 'x', sizeof big);
	memcpy(big, cases[0].ua, strlen(cases[0].ua));
	assert_int_equal(em_ua_classify(big, sizeof big, &a), 0);
	assert_string_equal(a.browser, "Chrome");
	em_ua_stats s0, s1;
	em_ua_cache_stats(&s0);
	big[sizeof big - 1] = 'y';
	assert_int_equal(em_ua_classify(big, sizeof big, &b), 0);
	em_ua_cache_stats(&s1);
	assert_int_equal(s1.hits, s0.hits + 1);
	assert_memory_equal(&a, &b, sizeof a);

	/* A replacement longer than a field is cut, still NUL-terminated. */
	const char *longname =
		"Mozilla/5.0 (Linux; Android 14; "
		"AVeryLongDeviceModelNameThatKeepsGoingAndGoingAndGoing Build/UP1A) AppleWebKit/537.36 "
		"(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
	assert_int_equal(em_ua_classify(longname, strlen(longname), &a), 0);
	assert_true(strlen(a.device_family) < sizeof a.device_family);
	assert_string_equal(a.device, "mobile");
}

static void test_cache_hit_identical(void **state)
{
	em_ua first[NCASES], again;
	em_ua_stats s0, s1;
	for (size_t i = 0; i < NCASES; i++)
		em_ua_classify(cases[i].ua, strlen(cases[i].ua), &first[i]);
	em_ua_cache_stats(&s0);
	for (size_t i = 0; i < NCASES; i++) {
		memset(&again, 0x5a, sizeof again);
		assert_int_equal(em_ua_classify(cases[i].ua, strlen(cases[i].ua), &again), 0);
		assert_memory_equal(&again, &first[i], sizeof again);
		check_case(&cases[i], &again);
	}
	em_ua_cache_stats(&s1);
	assert_int_equal(s1.hits, s0.hits + NCASES);
	assert_int_equal(s1.misses, s0.misses);
}

/* 100k distinct strings through the default cache: the entry count stops at
** its bound, memory stays within entries x (entry + longest key), and the
** answers stay right after all that eviction. */
static void test_cache_bounded(void **state)
{
	enum { N = 100000 };
	char buf[256];
	em_ua u;
	em_ua_stats s;
	size_t longest = 0;
	for (int i = 0; i < N; i++) {
		int n = snprintf(buf, sizeof buf,
				 "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/%d.%d", i % 200, i);
		if ((size_t)n > longest)
			longest = (size_t)n;
		assert_int_equal(em_ua_classify(buf, (size_t)n, &u), 0);
		assert_string_equal(u.browser, "Firefox");
	}
	em_ua_cache_stats(&s);
	print_message("after %d distinct UAs: %zu entries (max %zu), %zu key bytes, %zu bytes in all, %llu "
		      "evictions\n",
		      N, s.entries, s.max, s.key_bytes, s.mem_bytes, (unsigned long long)s.evictions);
	assert_int_equal(s.max, EM_UA_CACHE_DEFAULT);
	assert_true(s.entries <= s.max);
	assert_true(s.evictions >= (uint64_t)(N - EM_UA_CACHE_DEFAULT));
	assert_true(s.key_bytes <= s.entries * longest);
	assert_true(s.mem_bytes <= s.max * (sizeof(em_ua) + 64 + longest) + 2 * s.max * sizeof(uint32_t));
	for (size_t i = 0; i < NCASES; i++) {
		em_ua_classify(cases[i].ua, strlen(cases[i].ua), &u);
		check_case(&cases[i], &u);
	}
}

/* CLOCK: an entry looked up since the hand last passed survives the next
** eviction; an untouched one goes. */
static void test_clock_eviction(void **state)
{
	char err[256];
	em_ua_shutdown();
	assert_int_equal(em_ua_init_sized(4, err, sizeof err), 0);
	em_ua u;
	em_ua_stats s0, s1;
	for (int i = 0; i < 4; i++)
		em_ua_classify(cases[i].ua, strlen(cases[i].ua), &u);
	em_ua_classify(cases[0].ua, strlen(cases[0].ua), &u); /* touch A */
	em_ua_classify(cases[4].ua, strlen(cases[4].ua), &u); /* evicts B, not A */
	em_ua_cache_stats(&s0);
	assert_int_equal(s0.entries, 4);
	assert_int_equal(s0.evictions, 1);
	em_ua_classify(cases[0].ua, strlen(cases[0].ua), &u);
	em_ua_cache_stats(&s1);
	assert_int_equal(s1.hits, s0.hits + 1);
	em_ua_classify(cases[1].ua, strlen(cases[1].ua), &u);
	em_ua_cache_stats(&s1);
	assert_int_equal(s1.misses, s0.misses + 1);
	check_case(&cases[1], &u);
}

static void test_init_lifecycle(void **state)
{
	char err[256];
	em_ua u;
	/* Initialising twice is harmless. */
	assert_int_equal(em_ua_init(err, sizeof err), 0);
	em_ua_shutdown();
	/* Before init (or after shutdown): EM_EINVAL and a neutral answer. */
	assert_int_equal(em_ua_classify(cases[0].ua, strlen(cases[0].ua), &u), EM_EINVAL);
	assert_string_equal(u.device, "other");
	const ua_case *bot = find("Googlebot");
	assert_int_equal(em_ua_is_bot(bot->ua, strlen(bot->ua)), 0);
	assert_int_equal(em_ua_init_sized(0, err, sizeof err), EM_EINVAL);
	assert_non_null(strstr(err, "cache size"));
	assert_int_equal(em_ua_init(err, sizeof err), 0);
	assert_int_equal(em_ua_classify(cases[0].ua, strlen(cases[0].ua), &u), 0);
	check_case(&cases[0], &u);
	assert_non_null(strstr(em_ua_data_version(), "uap-core"));
	assert_non_null(strstr(em_ua_data_version(), "isbot"));
}

/* The loop thread and the import thread classify at once: both get the
** right answers, from a small cache that evicts all the time. */
typedef struct worker {
	int seed, failures;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char buf[512];
	for (int i = 0; i < 3000; i++) {
		const ua_case *c = &cases[(size_t)(i * 7 + w->seed) % NCASES];
		em_ua u;
		size_t n = strlen(c->ua);
		memcpy(buf, c->ua, n);
		/* Every 4th browser string gets a new tail, so inserts and
		** evictions interleave with hits. */
		if (i % 4 == 0 && !c->is_bot) {
			int k = snprintf(buf, sizeof buf, "%s t%d-%d", c->ua, w->seed, i);
			em_ua_classify(buf, (size_t)k, &u);
		} else {
			em_ua_classify(buf, n, &u);
		}
		if (strcmp(u.browser, c->browser) || strcmp(u.device, c->device) || u.is_bot != c->is_bot)
			w->failures++;
		if (em_ua_is_bot(buf, n) != c->is_bot)
			w->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	char err[256];
	em_ua_shutdown();
	assert_int_equal(em_ua_init_sized(8, err, sizeof err), 0);
	pthread_t t[4];
	worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (worker){.seed = i * 13};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	em_ua_stats s;
	em_ua_cache_stats(&s);
	assert_true(s.entries <= 8);
	assert_true(s.evictions > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefilter_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_is_bot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_hit_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
