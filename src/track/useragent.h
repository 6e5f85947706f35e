/*
** User-Agent classification: browser, OS, device type and bots.
**
** The rules are the field's maintained lists, not our own: uap-core's
** regexes.yaml for browser / OS / device family and isbot's pattern list for
** crawlers, both embedded into the binary at build time (tools/uadata.mjs)
** and matched with PCRE2 (JIT where available). Results are cached per UA
** string in a bounded cache. docs/user-agents.md has the details, including
** how the device type is derived.
**
** Threads: after em_ua_init() every function may be called from any thread
** at once (the loop thread and the import thread do). The compiled patterns
** are read-only; the cache is shared and guarded by one mutex that is held
** only for the lookup or insertion, never while a regex runs.
*/
#ifndef EM_TRACK_USERAGENT_H
#define EM_TRACK_USERAGENT_H

#include <stddef.h>
#include <stdint.h>

/* Cache size em_ua_init() uses. */
#define EM_UA_CACHE_DEFAULT 16384

/* A UA longer than this is classified (and cached) by its first EM_UA_MAX_LEN
** bytes: real browsers stay far below, and it bounds the work per string. */
#define EM_UA_MAX_LEN 1024

typedef struct em_ua {
	char browser[32], browser_version[16]; /* uap family, e.g. "Chrome", "Mobile Safari"; major only */
	char os[32], os_version[16];	       /* "Android", "14"; "Windows", "10"; major only */
	char device[16];		       /* "desktop" | "mobile" | "tablet" | "bot" | "other" */
	char device_family[32];		       /* uap device family, e.g. "iPhone", "Spider", "Other" */
	int is_bot;			       /* isbot pattern or uap device family "Spider" */
} em_ua;

typedef struct em_ua_stats {
	size_t entries;	  /* UA strings cached now */
	size_t max;	  /* the cache's bound */
	size_t key_bytes; /* bytes held for the cached UA strings */
	size_t mem_bytes; /* all memory the cache holds: tables, entries and keys */
	uint64_t hits;	  /* em_ua_classify calls answered from the cache */
	uint64_t misses;  /* em_ua_classify calls that ran the rules */
	uint64_t evictions;
} em_ua_stats;

/*
** Compiles every rule once (PCRE2, JIT when available) and creates the cache
** with room for EM_UA_CACHE_DEFAULT strings. Returns 0, or EM_EINVAL with a
** message in err when a rule does not compile (which list, which rule, why).
** Calling it again while initialised does nothing and returns 0.
*/
int em_ua_init(char *err, size_t errlen);

/* As em_ua_init, with a cache of cache_max entries (at least 1). */
int em_ua_init_sized(size_t cache_max, char *err, size_t errlen);

/* Frees the compiled rules and the cache. No call may be running. */
void em_ua_shutdown(void);

/*
** Classifies a User-Agent string (len bytes, need not be NUL-terminated).
** Always fills *out. Returns 0; EM_EINVAL for NULL or empty (out is then
** "Other" / device "other", not a bot) and when em_ua_init has not run.
** A cached answer costs one hash, one lookup and a copy: no allocation.
*/
int em_ua_classify(const char *ua, size_t len, em_ua *out);

/*
** Bot check alone, with isbot's patterns (which catch more crawlers than
** uap's "Spider" family): 1 for a bot, 0 otherwise (also for NULL, empty or
** before em_ua_init). Answered from the cache when the string is there;
** otherwise runs the one combined pattern and caches nothing.
*/
int em_ua_is_bot(const char *ua, size_t len);

/* A snapshot of the cache's counters. */
void em_ua_cache_stats(em_ua_stats *out);

/* Versions of the embedded data, e.g. "uap-core 0.18.0, isbot 5.2.3". */
const char *em_ua_data_version(void);

/* For tests: classifies without the cache, with or without the literal
** prefilter (docs/user-agents.md), which must never change an answer. */
int em__ua_classify_uncached(const char *ua, size_t len, int prefilter, em_ua *out);

#endif
