/*
** genlog: writes a realistic web-server access log for benchmarks and tests.
**
** The log is what a small shop's nginx would write: a few thousand visitors
** at a time, each walking through pages (home, categories, products, search,
** cart, checkout) and pulling the page's assets with the page as referrer,
** browsers and crawlers mixed, a sprinkle of 404 scanners, redirects, 304
** revalidations and 5xx, times increasing. Output is deterministic for a seed,
** so two runs of a benchmark read the same bytes.
**
**   cc -O2 -o build/bench/genlog bench/genlog.c
**   build/bench/genlog -n 2000000 -f combined > /tmp/access.log
**
** Options:
**   -n LINES     lines to write (default 1000000)
**   -f FORMAT    combined (default), common, or custom: combined plus
**                "$host" $request_time (the custom format of docs/access-logs.md)
**   -s SEED      random seed (default 1)
**   -t EPOCH     time of the first line, seconds (default 2024-03-01 00:00 UTC)
**   -z +HHMM     time zone written in the log (default +0100)
**   -r RATE      mean lines per second of log time (default 60)
**   -b PERMILLE  broken lines per thousand: truncated, "-" requests, TLS junk
**                on the plain port, NUL runs (default 0)
**   -o FILE      write to FILE instead of stdout
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

/* splitmix64: small, fast, and good enough for synthetic traffic. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Percent chance. */
static int pct(unsigned p)
{
	return rn(100) < p;
}

static const char *const browsers[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
	"Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 "
	"Safari/537.36 Edg/121.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.3.1 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
	"Safari/537.36",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.3 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/16.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
	"Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/122.0.6261.64 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/121.0.6167.178 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
	"Chrome/115.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Mobile/15E148 Instagram 319.0.2.24.106 (iPhone14,5; iOS 17_3; de_DE; de; scale=3.00; 1170x2532; "
	"568504015)",
	"Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
	"Gecko) Version/4.0 Chrome/121.0.6167.178 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/450.0.0.38.108;]",
	"Mozilla/5.0 (Windows NT 6.1; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
	"Safari/537.36 OPR/107.0.0.0",
};

static const char *const bots[] = {
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/122.0.6261.94 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
	"+http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
	"+https://openai.com/gptbot)",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	"curl/8.5.0",
	"python-requests/2.31.0",
	"Go-http-client/1.1",
	"Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
};

static const char *const categories[] = {"shoes",	"jackets", "shirts", "trousers", "bags",
					 "accessories", "sale",	   "new-in", "outdoor",	 "kids"};
static const char *const words[] = {"blue", "leather", "classic", "merino", "rain",  "trail", "city", "linen",
				    "wool", "slim",    "canvas",  "suede",  "light", "warm",  "urban"};
static const char *const searches[] = {
	"jacke", "schuhe+gr%C3%B6%C3%9Fe+42", "rucksack",	  "wool+socks", "gift+card",
	"sale",	 "regenjacke+damen",	      "sneaker+wei%C3%9F"};
static const char *const entry_refs[] = {
	"https://www.google.com/",
	"https://www.google.de/",
	"https://www.bing.com/",
	"https://duckduckgo.com/",
	"https://l.facebook.com/",
	"https://l.instagram.com/",
	"https://t.co/",
	"https://www.ecosia.org/",
	"android-app://com.google.android.gm/",
	"https://news.ycombinator.com/",
};
static const char *const scans[] = {"/wp-login.php",
				    "/.env",
				    "/.git/config",
				    "/phpmyadmin/index.php",
				    "/wp-content/plugins/revslider/temp.php",
				    "/admin/config.php",
				    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
				    "/cgi-bin/luci"};

#define HOST "shop.example.com"
#define NVISITORS 4096

typedef struct visitor {
	char ip[48];
	const char *ua;
	int bot;
	int pages_left;	 /* page views before the visit ends */
	int assets_left; /* assets of the current page still to fetch */
	int first_page;
	char page[160]; /* current page, for referrers */
} visitor;

static visitor pool[NVISITORS];

static void make_ip(char *dst, size_t n)
{
	if (pct(12)) {
		snprintf(dst, n, "2a02:%x:%x:%x::%x", 0x800 + rn(0x400), rn(0x10000), rn(0x10000),
			 1 + rn(0xfff));
	} else {
		/* Skip private and reserved first octets; the rest is uniform. */
		unsigned a;
		do
			a = 1 + rn(223);
		while (a == 10 || a == 127 || a == 172 || a == 192 || a == 100 || a == 169);
		snprintf(dst, n, "%u.%u.%u.%u", a, rn(256), rn(256), 1 + rn(254));
	}
}

static void new_visitor(visitor *v)
{
	make_ip(v->ip, sizeof v->ip);
	v->bot = pct(18);
	if (v->bot) {
		v->ua = bots[rn(sizeof bots / sizeof bots[0])];
		v->pages_left = 1 + rn(40);
	} else {
		v->ua = browsers[rn(sizeof browsers / sizeof browsers[0])];
		v->pages_left = 1 + rn(8) + (pct(20) ? rn(15) : 0);
	}
	v->assets_left = 0;
	v->first_page = 1;
	v->page[0] = '\0';
}

static void random_page(char *dst, size_t n)
{
	unsigned r = rn(100);
	if (r < 12)
		snprintf(dst, n, "/");
	else if (r < 32)
		snprintf(dst, n, "/category/%s%s", categories[rn(10)], pct(25) ? "?page=2&sort=price" : "");
	else if (r < 70)
		snprintf(dst, n, "/products/%s-%s-%s-%u", words[rn(15)], words[rn(15)], categories[rn(10)],
			 1000 + rn(5000));
	else if (r < 78)
		snprintf(dst, n, "/search?q=%s", searches[rn(8)]);
	else if (r < 85)
		snprintf(dst, n, "/cart");
	else if (r < 88)
		snprintf(dst, n, "/checkout/%s", pct(50) ? "address" : "payment");
	else if (r < 94)
		snprintf(dst, n, "/blog/%s-%s-guide", words[rn(15)], categories[rn(10)]);
	else if (r < 97)
		snprintf(dst, n, "/account/login");
	else
		snprintf(dst, n, "/%s", pct(50) ? "about" : "contact");
}

static void random_asset(char *dst, size_t n, unsigned *bytes)
{
	unsigned r = rn(100);
	if (r < 15) {
		snprintf(dst, n, "/static/css/app.3f9a1c.css");
		*bytes = 48213;
	} else if (r < 30) {
		snprintf(dst, n, "/static/js/app.c0ffee.js");
		*bytes = 181734;
	} else if (r < 38) {
		snprintf(dst, n, "/static/js/vendor.%x.js", rn(4));
		*bytes = 90000 + rn(10000);
	} else if (r < 80) {
		snprintf(dst, n, "/images/products/%u-%u.%s", 1000 + rn(5000), rn(5),
			 pct(60) ? "webp" : "jpg");
		*bytes = 8000 + rn(120000);
	} else if (r < 88) {
		snprintf(dst, n, "/fonts/inter-var.woff2");
		*bytes = 99620;
	} else if (r < 94) {
		snprintf(dst, n, "/favicon.ico");
		*bytes = 5430;
	} else {
		snprintf(dst, n, "/emma.js");
		*bytes = 3890;
	}
}

/* Civil date from days since 1970-01-01 (inverse of the parser's arithmetic). */
static void civil(int64_t days, int *y, int *m, int *d)
{
	days += 719468;
	int64_t era = days / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int main(int argc, char **argv)
{
	long long lines = 1000000, epoch = 1709251200; /* 2024-03-01T00:00:00Z */
	unsigned long long seed = 1;
	const char *fmt = "combined", *tz = "+0100", *outpath = NULL;
	double rate = 60;
	int broken_permille = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v || a[0] != '-' || a[1] == '\0' || a[2] != '\0') {
			fprintf(stderr,
				"usage: genlog [-n LINES] [-f combined|common|custom] [-s SEED] [-t EPOCH] "
				"[-z +HHMM] [-r RATE] [-b PERMILLE] [-o FILE]\n");
			return 2;
		}
		i++;
		switch (a[1]) {
		case 'n': lines = strtoll(v, NULL, 10); break;
		case 'f': fmt = v; break;
		case 's': seed = strtoull(v, NULL, 10); break;
		case 't': epoch = strtoll(v, NULL, 10); break;
		case 'z': tz = v; break;
		case 'r': rate = strtod(v, NULL); break;
		case 'b': broken_permille = (int)strtol(v, NULL, 10); break;
		case 'o': outpath = v; break;
		default: fprintf(stderr, "genlog: unknown option %s\n", a); return 2;
		}
	}
	int style = strcmp(fmt, "common") == 0 ? 1 : strcmp(fmt, "custom") == 0 ? 2 : 0;
	if (style == 0 && strcmp(fmt, "combined") != 0) {
		fprintf(stderr, "genlog: unknown format %s\n", fmt);
		return 2;
	}
	if (strlen(tz) != 5 || (tz[0] != '+' && tz[0] != '-') || rate <= 0) {
		fprintf(stderr, "genlog: bad -z or -r\n");
		return 2;
	}
	int tz_min = ((tz[1] - '0') * 10 + (tz[2] - '0')) * 60 + (tz[3] - '0') * 10 + (tz[4] - '0');
	if (tz[0] == '-')
		tz_min = -tz_min;

	FILE *out = stdout;
	if (outpath && !(out = fopen(outpath, "w"))) {
		perror(outpath);
		return 1;
	}
	static char obuf[1 << 20];
	setvbuf(out, obuf, _IOFBF, sizeof obuf);

	rng_state = seed;
	for (int i = 0; i < NVISITORS; i++)
		new_visitor(&pool[i]);

	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t now_ms = (int64_t)epoch * 1000, cached_sec = -1;
	char when[40] = "";
	/* Mean gap between lines in ms; gaps are uniform in [0, 2 * mean]. */
	unsigned gap2 = (unsigned)(2000.0 / rate) + 1;

	for (long long n = 0; n < lines; n++) {
		now_ms += rn(gap2);
		int64_t sec = now_ms / 1000;
		if (sec != cached_sec) {
			int64_t local = sec + tz_min * 60;
			int64_t days = local / 86400, rem = local % 86400;
			int y, m, d;
			civil(days, &y, &m, &d);
			snprintf(when, sizeof when, "%02d/%s/%04d:%02d:%02d:%02d %s", d, mon[m - 1], y,
				 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), tz);
			cached_sec = sec;
		}

		visitor *v = &pool[rn(NVISITORS)];
		char path[200], ref[260];
		const char *method = "GET";
		unsigned status = 200, bytes;
		snprintf(ref, sizeof ref, "-");

		if (broken_permille && (int)rn(1000) < broken_permille) {
			switch (rn(4)) {
			case 0: fprintf(out, "%s - - [%s] \"-\" 400 0 \"-\" \"-\"\n", v->ip, when); break;
			case 1:
				fprintf(out,
					"%s - - [%s] "
					"\"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\" 400 157 "
					"\"-\" \"-\"\n",
					v->ip, when);
				break;
			case 2:
				fprintf(out, "%s - - [%s] \"GET /products/cut-", v->ip, when);
				fputc('\n', out);
				break;
			default:
				fwrite("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 1, 16, out);
				fputc('\n', out);
				break;
			}
			continue;
		}

		if (v->assets_left > 0 && !v->bot) {
			random_asset(path, sizeof path, &bytes);
			snprintf(ref, sizeof ref, "https://" HOST "%s", v->page);
			v->assets_left--;
			if (!v->first_page && pct(55)) {
				status = 304;
				bytes = 0;
			}
		} else if (v->pages_left <= 0) {
			new_visitor(v);
			n--; /* the replacement visitor writes this line next time */
			continue;
		} else {
			char prev[160];
			memcpy(prev, v->page, sizeof prev);
			if (v->bot && pct(5)) {
				snprintf(path, sizeof path, "/robots.txt");
			} else if (v->bot && pct(8)) {
				snprintf(path, sizeof path, "%s", scans[rn(8)]);
				status = 404;
			} else {
				random_page(path, sizeof path);
			}
			bytes = 6000 + rn(60000);
			if (status == 404)
				bytes = 146 + rn(400);
			if (prev[0])
				snprintf(ref, sizeof ref, "https://" HOST "%s", prev);
			else if (!v->bot && pct(62))
				snprintf(ref, sizeof ref, "%s", entry_refs[rn(10)]);
			if (status == 200) {
				unsigned r = rn(1000);
				if (r < 20) {
					status = 404;
					bytes = 1500;
				} else if (r < 25) {
					status = 500;
					bytes = 600;
				} else if (r < 45) {
					status = 301;
					bytes = 162;
				} else if (r < 60 && strcmp(path, "/cart") == 0) {
					method = "POST";
					memcpy(path, "/cart/add", 10);
					status = 302;
					bytes = 0;
				}
			}
			snprintf(v->page, sizeof v->page, "%s", path);
			v->pages_left--;
			if (!v->bot)
				v->assets_left = v->first_page ? 4 + (int)rn(6) : (int)rn(3);
			v->first_page = 0;
		}

		const char *proto = pct(70) ? "HTTP/2.0" : "HTTP/1.1";
		if (style == 1) {
			fprintf(out, "%s - - [%s] \"%s %s %s\" %u %u\n", v->ip, when, method, path, proto,
				status, bytes);
		} else {
			fprintf(out, "%s - - [%s] \"%s %s %s\" %u %u \"%s\" \"%s\"", v->ip, when, method,
				path, proto, status, bytes, ref, v->ua);
			if (style == 2)
				fprintf(out, " \"" HOST "\" %u.%03u", rn(2), rn(1000));
			fputc('\n', out);
		}
	}
	if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
		perror("genlog");
		return 1;
	}
	return 0;
}
