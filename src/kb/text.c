/*
** Text analysis for search (see text.h).
*/
#include "kb/text.h"

#include <libstemmer.h>
#include <string.h>

#include "core/alloc.h"

#define WORD_MAX 128	 /* bytes of one word we analyse; longer words are cut */
#define PART_MIN_CHARS 5 /* a compound's tail must be this long ... */
#define HEAD_MIN_CHARS 3 /* ... after a head of at least this many letters */
#define COMPOUND_MIN_CHARS 9

struct em_text {
	struct sb_stemmer *stem;
	int german;
};

em_text *em_text_new(const char *lang)
{
	int german = lang && !strcmp(lang, "de");
	struct sb_stemmer *s = sb_stemmer_new(german ? "german" : "english", "UTF_8");
	if (!s)
		return NULL;
	em_text *t = em_calloc(1, sizeof *t);
	t->stem = s;
	t->german = german;
	return t;
}

void em_text_free(em_text *t)
{
	if (!t)
		return;
	sb_stemmer_delete(t->stem);
	em_free(t);
}

/* Decodes one UTF-8 code point at p (n bytes left); *len gets its length.
** Invalid bytes decode as themselves, one at a time. */
static unsigned decode(const unsigned char *p, size_t n, int *len)
{
	if (p[0] < 0x80 || n < 2) {
		*len = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
		*len = 2;
		return (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
	}
	if ((p[0] & 0xF0) == 0xE0 && n >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
		*len = 3;
		return (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
	}
	if ((p[0] & 0xF8) == 0xF0 && n >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
	    (p[3] & 0xC0) == 0x80) {
		*len = 4;
		return (unsigned)(p[0] & 0x07) << 18 | (unsigned)(p[1] & 0x3F) << 12 |
		       (unsigned)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
	}
	*len = 1;
	return p[0];
}

static int is_word_char(unsigned c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (c < 0xC0 || c == 0xD7 || c == 0xF7)
		return 0; /* Latin-1 punctuation and symbols */
	if (c >= 0x2000 && c <= 0x2BFF)
		return 0; /* punctuation, arrows, symbols */
	if (c >= 0x3000 && c <= 0x303F)
		return 0;
	return 1;
}

static unsigned lower(unsigned c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	return c;
}

static size_t put(char *out, size_t at, size_t cap, unsigned c)
{
	if (c < 0x80) {
		if (at + 1 > cap)
			return at;
		out[at] = (char)c;
		return at + 1;
	}
	if (c < 0x800) {
		if (at + 2 > cap)
			return at;
		out[at] = (char)(0xC0 | c >> 6);
		out[at + 1] = (char)(0x80 | (c & 0x3F));
		return at + 2;
	}
	if (c < 0x10000) {
		if (at + 3 > cap)
			return at;
		out[at] = (char)(0xE0 | c >> 12);
		out[at + 1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[at + 2] = (char)(0x80 | (c & 0x3F));
		return at + 3;
	}
	if (at + 4 > cap)
		return at;
	out[at] = (char)(0xF0 | c >> 18);
	out[at + 1] = (char)(0x80 | ((c >> 12) & 0x3F));
	out[at + 2] = (char)(0x80 | ((c >> 6) & 0x3F));
	out[at + 3] = (char)(0x80 | (c & 0x3F));
	return at + 4;
}

static int vowel(unsigned c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* Lowercases the code points cps[0..n) and, for German, writes ß as "ss"
** and "ae", "oe", "ue" (not after a vowel, as in "Feuer") as the umlaut, so
** both spellings meet. Returns the code point count in out. */
static size_t fold(const em_text *t, const unsigned *cps, size_t n, unsigned *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < cap; i++) {
		unsigned c = lower(cps[i]);
		if (t->german) {
			if (c == 0xDF && k + 2 <= cap) {
				out[k++] = 's';
				out[k++] = 's';
				continue;
			}
			if (i + 1 < n && lower(cps[i + 1]) == 'e' && (c == 'a' || c == 'o' || c == 'u') &&
			    !(k > 0 && vowel(out[k - 1]))) {
				out[k++] = c == 'a' ? 0xE4 : c == 'o' ? 0xF6 : 0xFC;
				i++;
				continue;
			}
		}
		out[k++] = c;
	}
	return k;
}

/* Stems code points cps[0..n) into out (UTF-8); returns the length. */
static size_t stem(em_text *t, const unsigned *cps, size_t n, char *out, size_t cap)
{
	char word[WORD_MAX * 4];
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len = put(word, len, sizeof word, cps[i]);
	const sb_symbol *s = sb_stemmer_stem(t->stem, (const sb_symbol *)word, (int)len);
	size_t sl = s ? (size_t)sb_stemmer_length(t->stem) : 0;
	if (!s || sl == 0) {
		s = (const sb_symbol *)word;
		sl = len;
	}
	if (sl > cap)
		sl = cap;
	memcpy(out, s, sl);
	return sl;
}

size_t em_text_term(em_text *t, const char *word, size_t len, char *out, size_t outlen)
{
	unsigned cps[WORD_MAX], folded[WORD_MAX];
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)word;
	for (size_t i = 0; i < len && n < WORD_MAX;) {
		int l;
		cps[n++] = decode(p + i, len - i, &l);
		i += (size_t)l;
	}
	size_t f = fold(t, cps, n, folded, WORD_MAX);
	return f ? stem(t, folded, f, out, outlen) : 0;
}

/* The letters a term keeps of its word, whatever the stemmer does to the
** rest: umlauts as their base letter (the German stemmer writes them so),
** "y" as "i" (the English one does at a word's end). */
static unsigned plain(unsigned c)
{
	return c == 0xE4 ? 'a' : c == 0xF6 ? 'o' : c == 0xFC ? 'u' : c == 'y' ? 'i' : c;
}

/* How many leading letters of a word its stem always keeps: the German
** stemmer removes suffixes only after the third letter; the English one
** may rewrite the third ("dying" -> "die"). */
#define KEEP_DE 3
#define KEEP_EN 2

size_t em_text_needle(const em_text *t, const char *term, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)term;
	size_t len = strlen(term), n = 0, at = 0;
	for (size_t i = 0; i < len && n < (t->german ? KEEP_DE : KEEP_EN); n++) {
		int l;
		unsigned c = decode(p + i, len - i, &l);
		i += (size_t)l;
		at = put(out, at, cap, plain(c));
	}
	return at;
}

/* Whether the folded word cps[0..n) has one of the needles in it. */
static int has_needle(const unsigned *cps, size_t n, const char *const *needles, const size_t *lens,
		      int nneedles)
{
	char w[WORD_MAX * 4];
	size_t wl = 0;
	for (size_t i = 0; i < n; i++)
		wl = put(w, wl, sizeof w, plain(cps[i]));
	for (int k = 0; k < nneedles; k++)
		if (lens[k] && memmem(w, wl, needles[k], lens[k]))
			return 1;
	return 0;
}

static int tokens(em_text *t, const char *text, size_t len, int with_parts, const char *const *needles,
		  int nneedles, em_text_emit emit, void *arg)
{
	size_t lens[64];
	if (needles) {
		if (nneedles > 64)
			needles = NULL; /* too many to be worth it: every word is analysed */
		else
			for (int k = 0; k < nneedles; k++)
				lens[k] = strlen(needles[k]);
	}
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;
	while (i < len) {
		int l;
		unsigned c = decode(p + i, len - i, &l);
		if (!is_word_char(c)) {
			i += (size_t)l;
			continue;
		}
		size_t start = i;
		unsigned cps[WORD_MAX];
		size_t n = 0;
		while (i < len) {
			c = decode(p + i, len - i, &l);
			if (!is_word_char(c))
				break;
			if (n < WORD_MAX)
				cps[n++] = c;
			i += (size_t)l;
		}
		unsigned folded[WORD_MAX];
		size_t f = fold(t, cps, n, folded, WORD_MAX);
		if (needles && !has_needle(folded, f, needles, lens, nneedles)) {
			if (emit(arg, "", 0, (int)start, (int)i, 0))
				return 1;
			continue;
		}
		char term[WORD_MAX * 4];
		size_t tl = stem(t, folded, f, term, sizeof term);
		if (tl && emit(arg, term, tl, (int)start, (int)i, 0))
			return 1;
		/* A long German word also stands for its tails: "warenrücksendung"
		** is found by "rücksendung" and "sendung". */
		if (with_parts && t->german && f >= COMPOUND_MIN_CHARS) {
			for (size_t h = HEAD_MIN_CHARS; f - h >= PART_MIN_CHARS; h++) {
				char part[WORD_MAX * 4];
				size_t pl = stem(t, folded + h, f - h, part, sizeof part);
				if (pl && emit(arg, part, pl, (int)start, (int)i, 1))
					return 1;
			}
		}
	}
	return 0;
}

int em_text_tokens(em_text *t, const char *text, size_t len, int with_parts, em_text_emit emit, void *arg)
{
	return tokens(t, text, len, with_parts, NULL, 0, emit, arg);
}

int em_text_tokens_near(em_text *t, const char *text, size_t len, int with_parts, const char *const *needles,
			int nneedles, em_text_emit emit, void *arg)
{
	return tokens(t, text, len, with_parts, needles, nneedles, emit, arg);
}
