/*
** User-Agent classification (see useragent.h and docs/user-agents.md).
**
** Three parts:
**   - the rules: uap-core's three lists and isbot's one alternation, from the
**     generated build/gen/uadata.c, compiled once by em_ua_init with PCRE2;
**   - classify(): first matching rule per list, uap's "$N" replacements, and
**     our derivation of the device type from what uap reports. A rule whose
**     required literals (found at build time) are all absent from the UA is
**     skipped without running its regex: most rules fail for any one UA,
**     and a memmem is far cheaper than a PCRE2 call;
**   - the cache: a fixed array of entries with chained buckets, keyed by a
**     SipHash of the UA string under a random key (so nobody can aim many
**     strings at one bucket), evicted by CLOCK, behind one mutex.
*/
#include "track/useragent.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

/* The generated tables (tools/uadata.mjs): rows of em__ua_stride strings:
** regex, flag ("i" or NULL), four replacements (NULL: use the group) and the
** prefilter (NULL or lower-case literals separated by "\n", one of which
** every match contains). */
extern const unsigned em__ua_stride;
extern const char em__ua_data_version[];
extern const char *const em__ua_agents[];
extern const unsigned em__ua_agents_n;
extern const char *const em__ua_oses[];
extern const unsigned em__ua_oses_n;
extern const char *const em__ua_devices[];
extern const unsigned em__ua_devices_n;
extern const char em__ua_bot_pattern[];

#define STRIDE 7
#define NIL UINT32_MAX
/* Backtracking budget per regex and string. Real UAs need a few thousand
** steps at most; the budget only stops a pathological string early, and a
** regex that runs out simply counts as "no match". */
#define MATCH_LIMIT 200000

typedef struct lit {
	const char *s;	/* points into the generated table */
	size_t n;	/* >= 2 */
	uint16_t bg[4]; /* four of its byte pairs, spread over it */
} lit;

/* The byte pairs (bigrams) that occur in the lower-cased UA, one bit each:
** a literal with a pair not in the set cannot occur, and that test costs
** a few loads where memmem costs a search. Lives on the caller's stack. */
typedef struct bigrams {
	uint64_t bits[65536 / 64];
} bigrams;

static inline uint16_t bigram(const char *p)
{
	return (uint16_t)(((unsigned char)p[0] << 8) | (unsigned char)p[1]);
}

static inline int bigram_has(const bigrams *b, uint16_t v)
{
	return (b->bits[v >> 6] >> (v & 63)) & 1;
}

typedef struct rule_list {
	pcre2_code **re;	 /* owned; one per row */
	const char *const *rows; /* the generated table */
	unsigned n;
	uint32_t *lit_first; /* owned; rule i's literals are lits[lit_first[i] .. lit_first[i+1]) */
	lit *lits;	     /* owned */
} rule_list;

typedef struct entry {
	uint64_t hash;
	uint32_t next;	 /* next entry in the same bucket, or NIL */
	uint32_t keylen; /* 0: slot unused */
	uint32_t keycap; /* size of key's allocation, reused on eviction */
	uint8_t ref;	 /* CLOCK: used since the hand last passed */
	uint8_t bot_pat; /* the isbot pattern matched (em_ua_is_bot's answer) */
	char *key;	 /* owned: the UA bytes (not NUL-terminated) */
	em_ua ua;
} entry;

static struct {
	int ready; /* read with __atomic: other threads may look before init */
	rule_list agents, oses, devices;
	pcre2_code *bot;
	pcre2_general_context *gctx; /* PCRE2 allocates through em_malloc */
	pcre2_match_context *mctx;
	uint32_t ovec_pairs; /* enough for the rule with the most groups */

	pthread_mutex_t mu; /* guards everything below */
	entry *e;
	uint32_t *buckets;
	uint32_t mask; /* buckets - 1 (a power of two) */
	uint32_t max, used, hand;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	uint64_t hits, misses, evictions;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- rules ------------------------------------------------------------- */

/* PCRE2's allocations go through em_malloc, which aborts when memory runs
** out (CONVENTIONS.md 4), so no PCRE2 call here needs a NULL check. */
static void *pcre_alloc(size_t n, void *data)
{
	(void)data;
	return em_malloc(n);
}

static void pcre_free(void *p, void *data)
{
	(void)data;
	em_free(p);
}

static void free_list(rule_list *l)
{
	if (l->re) {
		for (unsigned i = 0; i < l->n; i++)
			pcre2_code_free(l->re[i]);
		em_free(l->re);
	}
	em_free(l->lit_first);
	em_free(l->lits);
	memset(l, 0, sizeof(*l));
}

static pcre2_code *compile(const char *src, uint32_t opts, const char *what, unsigned idx, char *err,
			   size_t errlen)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_compile_context *cctx = pcre2_compile_context_create(g.gctx);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts, &ec, &off, cctx);
	pcre2_compile_context_free(cctx);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen,
			 "useragent: %s rule %u does not compile at offset %zu: %s (regex: %.200s)", what,
			 idx, (size_t)off, (const char *)msg, src);
		return NULL;
	}
	/* JIT is an optimisation: where the platform has none, the
	** interpreter gives the same answers, so a JIT failure is ignored. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	uint32_t groups = 0;
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
	if (groups + 1 > g.ovec_pairs)
		g.ovec_pairs = groups + 1;
	return re;
}

static int compile_list(rule_list *l, const char *what, const char *const *rows, unsigned n, char *err,
			size_t errlen)
{
	l->rows = rows;
	l->n = n;
	l->re = em_calloc(n ? n : 1, sizeof(*l->re));

	/* Split the prefilters once, and note four byte pairs of each literal for
	** the quick rejection in may_match(). */
	size_t nlits = 0;
	for (unsigned i = 0; i < n; i++) {
		const char *p = rows[(size_t)i * STRIDE + 6];
		for (; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			nlits++;
	}
	l->lit_first = em_malloc(((size_t)n + 1) * sizeof(*l->lit_first));
	l->lits = em_malloc((nlits ? nlits : 1) * sizeof(*l->lits));
	nlits = 0;
	for (unsigned i = 0; i < n; i++) {
		l->lit_first[i] = (uint32_t)nlits;
		const char *p = rows[(size_t)i * STRIDE + 6];
		while (p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			lit *L = &l->lits[nlits++];
			*L = (lit){.s = p, .n = len};
			for (int k = 0; k < 4; k++)
				L->bg[k] = len >= 2 ? bigram(p + (len - 2) * (size_t)k / 3) : 0;
			if (len < 2) /* the generator never emits these; stay correct anyway */
				L->n = 0;
			p = nl ? nl + 1 : NULL;
		}
	}
	l->lit_first[n] = (uint32_t)nlits;

	for (unsigned i = 0; i < n; i++) {
		const char *const *row = rows + (size_t)i * STRIDE;
		uint32_t opts = (row[1] && row[1][0] == 'i') ? PCRE2_CASELESS : 0;
		l->re[i] = compile(row[0], opts, what, i, err, errlen);
		if (!l->re[i])
			return EM_EINVAL;
	}
	return 0;
}

/* Runs one regex; >0 on a match (the number of groups set plus one). A
** match that exhausts the JIT stack is retried by the interpreter, which
** keeps its backtracking on the heap. */
static int run(pcre2_code *re, const char *s, size_t len, pcre2_match_data *md)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, g.mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, md, g.mctx);
	return rc;
}

/* Whether rule i of l may match: it has no prefilter, or one of its
** literals occurs in low (the UA in lower case). */
static int may_match(const rule_list *l, unsigned i, const char *low, size_t len, const bigrams *bg)
{
	uint32_t a = l->lit_first[i], b = l->lit_first[i + 1];
	if (a == b)
		return 1;
	for (; a < b; a++) {
		const lit *L = &l->lits[a];
		if (L->n == 0)
			return 1;
		if (bigram_has(bg, L->bg[0]) && bigram_has(bg, L->bg[1]) && bigram_has(bg, L->bg[2]) &&
		    bigram_has(bg, L->bg[3]) && memmem(low, len, L->s, L->n))
			return 1;
	}
	return 0;
}

/* The first rule of l that matches, or -1; its groups are left in md. With
** low NULL, every rule is tried (the tests compare both ways). */
static int first_match(const rule_list *l, const char *s, const char *low, const bigrams *bg, size_t len,
		       pcre2_match_data *md, int *rc)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (low && !may_match(l, i, low, len, bg))
			continue;
		*rc = run(l->re[i], s, len, md);
		if (*rc > 0)
			return (int)i;
	}
	return -1;
}

/* Copies src[0..n) into dst (cap bytes, NUL-terminated). When it has to cut,
** it cuts before a UTF-8 sequence rather than inside one. */
static void copy_cut(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
** uap's replacement rule: the template with $1..$9 replaced by those groups
** (an unset group is empty), or without a template capture group `group`;
** the result trimmed of spaces. Writes "" when nothing is left.
*/
static void expand(char *dst, size_t cap, const char *tmpl, int group, const char *s, pcre2_match_data *md,
		   int rc)
{
	char tmp[256];
	size_t n = 0;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	const char *p = tmpl;
	char one[3] = {'$', (char)('0' + group), '\0'};
	if (!tmpl)
		p = group > 0 ? one : "";
	for (; *p && n < sizeof(tmp); p++) {
		if (p[0] == '$' && p[1] >= '1' && p[1] <= '9') {
			int gi = p[1] - '0';
			p++;
			if (gi < rc && ov[2 * gi] != PCRE2_UNSET) {
				size_t glen = ov[2 * gi + 1] - ov[2 * gi];
				if (glen > sizeof(tmp) - n)
					glen = sizeof(tmp) - n;
				memcpy(tmp + n, s + ov[2 * gi], glen);
				n += glen;
			}
			continue;
		}
		tmp[n++] = *p;
	}
	size_t a = 0;
	while (a < n && (tmp[a] == ' ' || tmp[a] == '\t'))
		a++;
	while (n > a && (tmp[n - 1] == ' ' || tmp[n - 1] == '\t'))
		n--;
	copy_cut(dst, cap, tmp + a, n - a);
}

/* ---- device type ------------------------------------------------------- */

static int has(const char *s, size_t len, const char *needle)
{
	return memmem(s, len, needle, strlen(needle)) != NULL;
}

static int has_str(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

static int is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static const char *const mobile_oses[] = {"iOS",
					  "Android",
					  "Windows Phone",
					  "Windows Mobile",
					  "BlackBerry OS",
					  "BlackBerry Tablet OS",
					  "KaiOS",
					  "Symbian OS",
					  "Symbian^3",
					  "Firefox OS",
					  "Sailfish",
					  "Ubuntu Touch",
					  "webOS",
					  "Bada",
					  "Tizen",
					  "HarmonyOS",
					  NULL};
static const char *const desktop_oses[] = {
	"Mac OS X",  "macOS",	"Linux",    "Ubuntu", "Kubuntu", "Debian",     "Fedora",    "Red Hat",
	"CentOS",    "SUSE",	"openSUSE", "Mint",   "Gentoo",	 "Arch Linux", "Slackware", "Mandriva",
	"Chrome OS", "FreeBSD", "OpenBSD",  "NetBSD", "Solaris", "Haiku",      "BeOS",	    NULL};

/*
** The device type, derived from what uap reports plus two tokens of the UA
** itself (docs/user-agents.md explains each step):
**   bot     - isbot or uap's "Spider" (decided by the caller);
**   other   - TVs, set-top boxes and game consoles, which otherwise look
**             like Linux, Android tablets or Windows;
**   tablet  - iPad, Kindle, anything uap or the UA calls a tablet, and
**             Android without "Mobile" (Google's rule for Android UAs);
**   mobile  - iPhone/iPod, uap's generic phones, phone OSes, or "Mobi";
**   desktop - Windows, Mac OS X, Linux, Chrome OS and the BSDs;
**   other   - everything else.
*/
static const char *device_type(const char *ua, size_t len, const char *os, const char *fam, const char *model)
{
	if (has(ua, len, "SmartTV") || has(ua, len, "SMART-TV") || has(ua, len, "Smart TV") ||
	    has(ua, len, "SMARTTV") || has(ua, len, "GoogleTV") || has(ua, len, "Android TV") ||
	    has(ua, len, "AndroidTV") || has(ua, len, "HbbTV") || has(ua, len, "CrKey") ||
	    has(ua, len, "; AFT") || has(ua, len, "Roku") || has(ua, len, "Xbox") ||
	    has(ua, len, "PlayStation") || has(ua, len, "Nintendo") || has_str(fam, "TV"))
		return "other";
	if (strcmp(fam, "iPad") == 0 || strncmp(fam, "Kindle", 6) == 0 || has_str(fam, "Tablet") ||
	    has_str(model, "Tablet") || has(ua, len, "Tablet") || has(ua, len, "Silk/"))
		return "tablet";
	if (strcmp(os, "Android") == 0 && !has(ua, len, "Mobile"))
		return "tablet";
	if (strcmp(fam, "iPhone") == 0 || strcmp(fam, "iPod") == 0 ||
	    strncmp(fam, "Generic Smartphone", 18) == 0 || strcmp(fam, "Generic Feature Phone") == 0 ||
	    is_one_of(os, mobile_oses) || has(ua, len, "Mobi"))
		return "mobile";
	if ((strncmp(os, "Windows", 7) == 0 && strcmp(os, "Windows CE") != 0) ||
	    is_one_of(os, desktop_oses) || strcmp(fam, "Mac") == 0)
		return "desktop";
	return "other";
}

/* Runs every rule list on s (len <= EM_UA_MAX_LEN); bot_pat gets the isbot
** pattern's answer. */
static void classify(const char *s, size_t len, int prefilter, em_ua *out, int *bot_pat)
{
	pcre2_match_data *md = pcre2_match_data_create(g.ovec_pairs, g.gctx);
	int rc, i;
	char brand[32] = "", model[64] = "";
	char lowbuf[EM_UA_MAX_LEN];
	const char *low = NULL;
	bigrams bg; /* only the bits set here are read, and cleared again below */

	if (prefilter) {
		for (size_t k = 0; k < len; k++) {
			char c = s[k];
			lowbuf[k] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
		}
		low = lowbuf;
		memset(&bg, 0, sizeof bg);
		for (size_t k = 0; k + 1 < len; k++) {
			uint16_t v = bigram(lowbuf + k);
			bg.bits[v >> 6] |= (uint64_t)1 << (v & 63);
		}
	}

	memset(out, 0, sizeof(*out));
	if ((i = first_match(&g.agents, s, low, &bg, len, md, &rc)) >= 0) {
		const char *const *row = g.agents.rows + (size_t)i * STRIDE;
		expand(out->browser, sizeof(out->browser), row[2], 1, s, md, rc);
		expand(out->browser_version, sizeof(out->browser_version), row[3], 2, s, md, rc);
	}
	if ((i = first_match(&g.oses, s, low, &bg, len, md, &rc)) >= 0) {
		const char *const *row = g.oses.rows + (size_t)i * STRIDE;
		expand(out->os, sizeof(out->os), row[2], 1, s, md, rc);
		expand(out->os_version, sizeof(out->os_version), row[3], 2, s, md, rc);
	}
	if ((i = first_match(&g.devices, s, low, &bg, len, md, &rc)) >= 0) {
		const char *const *row = g.devices.rows + (size_t)i * STRIDE;
		expand(out->device_family, sizeof(out->device_family), row[2], 1, s, md, rc);
		if (row[3])
			expand(brand, sizeof(brand), row[3], 0, s, md, rc);
		expand(model, sizeof(model), row[4], 1, s, md, rc);
	}
	*bot_pat = run(g.bot, s, len, md) > 0;
	pcre2_match_data_free(md);

	/* uap's name for "no rule matched" (or a rule that yields nothing). */
	if (!out->browser[0]) {
		copy_cut(out->browser, sizeof(out->browser), "Other", 5);
		out->browser_version[0] = '\0';
	}
	if (!out->os[0]) {
		copy_cut(out->os, sizeof(out->os), "Other", 5);
		out->os_version[0] = '\0';
	}
	if (!out->device_family[0])
		copy_cut(out->device_family, sizeof(out->device_family), "Other", 5);

	out->is_bot = *bot_pat || strcmp(out->device_family, "Spider") == 0;
	const char *type = out->is_bot ? "bot" : device_type(s, len, out->os, out->device_family, model);
	copy_cut(out->device, sizeof(out->device), type, strlen(type));
}

static void set_other(em_ua *out)
{
	memset(out, 0, sizeof(*out));
	copy_cut(out->browser, sizeof(out->browser), "Other", 5);
	copy_cut(out->os, sizeof(out->os), "Other", 5);
	copy_cut(out->device, sizeof(out->device), "other", 5);
	copy_cut(out->device_family, sizeof(out->device_family), "Other", 5);
}

/* ---- cache (all called with g.mu held) ---------------------------------- */

static uint64_t hash_of(const char *s, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;
	crypto_shorthash(h, (const unsigned char *)s, len, g.hkey);
	memcpy(&v, h, sizeof(v));
	return v;
}

static entry *cache_find(uint64_t h, const char *s, size_t len)
{
	for (uint32_t i = g.buckets[h & g.mask]; i != NIL; i = g.e[i].next) {
		entry *e = &g.e[i];
		if (e->hash == h && e->keylen == len && memcmp(e->key, s, len) == 0)
			return e;
	}
	return NULL;
}

static void cache_unlink(uint32_t idx)
{
	uint32_t *p = &g.buckets[g.e[idx].hash & g.mask];
	while (*p != idx)
		p = &g.e[*p].next;
	*p = g.e[idx].next;
}

/* A free slot: a never-used one while there are any, else the first entry
** the CLOCK hand finds not referenced since its last pass. */
static uint32_t cache_slot(void)
{
	if (g.used < g.max)
		return g.used++;
	for (;;) {
		uint32_t i = g.hand;
		g.hand = (g.hand + 1 == g.max) ? 0 : g.hand + 1;
		if (g.e[i].ref) {
			g.e[i].ref = 0;
			continue;
		}
		cache_unlink(i);
		g.e[i].keylen = 0;
		g.evictions++;
		return i;
	}
}

static void cache_put(uint64_t h, const char *s, size_t len, const em_ua *ua, int bot_pat)
{
	if (cache_find(h, s, len))
		return; /* another thread classified the same string meanwhile */
	uint32_t i = cache_slot();
	entry *e = &g.e[i];
	if (e->keycap < len) {
		em_free(e->key);
		e->key = em_malloc(len);
		e->keycap = (uint32_t)len;
	}
	memcpy(e->key, s, len);
	e->keylen = (uint32_t)len;
	e->hash = h;
	e->ua = *ua;
	e->bot_pat = (uint8_t)bot_pat;
	e->ref = 0;
	e->next = g.buckets[h & g.mask];
	g.buckets[h & g.mask] = i;
}

/* ---- public ------------------------------------------------------------- */

static void free_all(void)
{
	free_list(&g.agents);
	free_list(&g.oses);
	free_list(&g.devices);
	pcre2_code_free(g.bot);
	g.bot = NULL;
	pcre2_match_context_free(g.mctx);
	g.mctx = NULL;
	pcre2_general_context_free(g.gctx);
	g.gctx = NULL;
	if (g.e) {
		for (uint32_t i = 0; i < g.max; i++)
			em_free(g.e[i].key);
		em_free(g.e);
	}
	em_free(g.buckets);
	g.e = NULL;
	g.buckets = NULL;
	g.max = g.used = g.hand = g.mask = 0;
	g.hits = g.misses = g.evictions = 0;
	g.ovec_pairs = 0;
}

int em_ua_init_sized(size_t cache_max, char *err, size_t errlen)
{
	int rc = 0;
	if (!err || errlen == 0) {
		static char scratch[1];
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (cache_max == 0 || cache_max >= NIL) {
		snprintf(err, errlen, "useragent: cache size %zu is outside 1..%u", cache_max, NIL - 1);
		return EM_EINVAL;
	}
	pthread_mutex_lock(&init_mu);
	if (__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE))
		goto out;
	if (em__ua_stride != STRIDE) {
		snprintf(err, errlen,
			 "useragent: generated data has stride %u, this code expects %d (rebuild)",
			 em__ua_stride, STRIDE);
		rc = EM_EINVAL;
		goto out;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "useragent: libsodium failed to initialise");
		rc = EM_EINVAL;
		goto out;
	}

	g.gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
	if (!g.gctx) {
		snprintf(err, errlen, "useragent: pcre2_general_context_create failed");
		rc = EM_EINVAL;
		goto out;
	}
	g.mctx = pcre2_match_context_create(g.gctx);
	pcre2_set_match_limit(g.mctx, MATCH_LIMIT);
	if ((rc = compile_list(&g.agents, "uap-core user_agent_parsers", em__ua_agents, em__ua_agents_n, err,
			       errlen)) ||
	    (rc = compile_list(&g.oses, "uap-core os_parsers", em__ua_oses, em__ua_oses_n, err, errlen)) ||
	    (rc = compile_list(&g.devices, "uap-core device_parsers", em__ua_devices, em__ua_devices_n, err,
			       errlen)))
		goto fail;
	/* isbot's patterns are JavaScript regexes run with the i flag; in
	** JavaScript "$" matches only at the very end. */
	g.bot = compile(em__ua_bot_pattern, PCRE2_CASELESS | PCRE2_DOLLAR_ENDONLY, "isbot", 0, err, errlen);
	if (!g.bot) {
		rc = EM_EINVAL;
		goto fail;
	}

	/* Buckets: a power of two at least the entry count, so chains stay
	** short (load factor <= 1). */
	uint32_t nb = 1;
	while (nb < cache_max)
		nb <<= 1;
	g.buckets = em_malloc((size_t)nb * sizeof(*g.buckets));
	memset(g.buckets, 0xff, (size_t)nb * sizeof(*g.buckets)); /* NIL everywhere */
	g.mask = nb - 1;
	g.e = em_calloc(cache_max, sizeof(*g.e));
	g.max = (uint32_t)cache_max;
	crypto_shorthash_keygen(g.hkey);
	__atomic_store_n(&g.ready, 1, __ATOMIC_RELEASE);
	goto out;
fail:
	free_all();
out:
	pthread_mutex_unlock(&init_mu);
	return rc;
}

int em_ua_init(char *err, size_t errlen)
{
	return em_ua_init_sized(EM_UA_CACHE_DEFAULT, err, errlen);
}

void em_ua_shutdown(void)
{
	pthread_mutex_lock(&init_mu);
	if (__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&g.ready, 0, __ATOMIC_RELEASE);
		free_all();
	}
	pthread_mutex_unlock(&init_mu);
}

int em_ua_classify(const char *ua, size_t len, em_ua *out)
{
	if (!ua || len == 0 || !__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE)) {
		set_other(out);
		return EM_EINVAL;
	}
	if (len > EM_UA_MAX_LEN)
		len = EM_UA_MAX_LEN;
	uint64_t h = hash_of(ua, len);

	pthread_mutex_lock(&g.mu);
	entry *e = cache_find(h, ua, len);
	if (e) {
		e->ref = 1;
		*out = e->ua;
		g.hits++;
		pthread_mutex_unlock(&g.mu);
		return 0;
	}
	g.misses++;
	pthread_mutex_unlock(&g.mu);

	/* The rules run without the lock: they are read-only, and another
	** thread's lookups must not wait for them. */
	int bot_pat;
	classify(ua, len, 1, out, &bot_pat);

	pthread_mutex_lock(&g.mu);
	cache_put(h, ua, len, out, bot_pat);
	pthread_mutex_unlock(&g.mu);
	return 0;
}

int em_ua_is_bot(const char *ua, size_t len)
{
	if (!ua || len == 0 || !__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE))
		return 0;
	if (len > EM_UA_MAX_LEN)
		len = EM_UA_MAX_LEN;
	uint64_t h = hash_of(ua, len);

	pthread_mutex_lock(&g.mu);
	entry *e = cache_find(h, ua, len);
	if (e) {
		int bot = e->bot_pat;
		e->ref = 1;
		pthread_mutex_unlock(&g.mu);
		return bot;
	}
	pthread_mutex_unlock(&g.mu);

	pcre2_match_data *md = pcre2_match_data_create(1, g.gctx);
	int bot = run(g.bot, ua, len, md) > 0;
	pcre2_match_data_free(md);
	return bot;
}

void em_ua_cache_stats(em_ua_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&g.mu);
	out->entries = g.used;
	out->max = g.max;
	out->key_bytes = 0;
	for (uint32_t i = 0; g.e && i < g.used; i++)
		out->key_bytes += g.e[i].keycap;
	out->mem_bytes = (size_t)g.max * sizeof(entry) +
			 (g.buckets ? ((size_t)g.mask + 1) * sizeof(uint32_t) : 0) + out->key_bytes;
	out->hits = g.hits;
	out->misses = g.misses;
	out->evictions = g.evictions;
	pthread_mutex_unlock(&g.mu);
}

int em__ua_classify_uncached(const char *ua, size_t len, int prefilter, em_ua *out)
{
	if (!ua || len == 0 || !__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE)) {
		set_other(out);
		return EM_EINVAL;
	}
	if (len > EM_UA_MAX_LEN)
		len = EM_UA_MAX_LEN;
	int bot_pat;
	classify(ua, len, prefilter, out, &bot_pat);
	return 0;
}

const char *em_ua_data_version(void)
{
	return em__ua_data_version;
}
