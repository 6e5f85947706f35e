/*
** Unit tests for src/kb/text.c and the Markdown helpers of src/kb/kb.c: the
** analysis that decides which words meet in a search (umlaut spellings,
** German compounds, stemming) and the rendering that must never let markup
** through.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "kb/kb.h"
#include "kb/text.h"

typedef struct terms {
	char list[64][64];
	int colocated[64];
	int n;
} terms;

static int collect(void *arg, const char *term, size_t len, int start, int end, int colocated)
{
	terms *t = arg;
	(void)start;
	(void)end;
	if (t->n < 64 && len < 64) {
		memcpy(t->list[t->n], term, len);
		t->list[t->n][len] = 0;
		t->colocated[t->n] = colocated;
		t->n++;
	}
	return 0;
}

static void analyse(const char *lang, const char *text, int parts, terms *out)
{
	em_text *t = em_text_new(lang);
	assert_non_null(t);
	memset(out, 0, sizeof *out);
	em_text_tokens(t, text, strlen(text), parts, collect, out);
	em_text_free(t);
}

static const char *term(const char *lang, const char *word)
{
	static char out[128];
	em_text *t = em_text_new(lang);
	size_t n = em_text_term(t, word, strlen(word), out, sizeof out - 1);
	out[n] = 0;
	em_text_free(t);
	return out;
}

static int has(const terms *t, const char *s)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->list[i], s))
			return 1;
	return 0;
}

static void test_umlaut_spellings_meet(void **state)
{
	(void)state;
	char a[128];
	snprintf(a, sizeof a, "%s", term("de", "Rücksendung"));
	assert_string_equal(a, term("de", "Ruecksendung"));
	assert_string_equal(a, term("de", "RÜCKSENDUNG"));
	assert_string_equal(term("de", "Größe"), term("de", "Groesse"));
	assert_string_equal(term("de", "Straße"), term("de", "Strasse"));
	/* "ue" after a vowel is no umlaut: "Feuer" keeps its "e" and still
	** meets its plural, "Feuern". */
	assert_string_equal(term("de", "Feuer"), term("de", "Feuern"));
}

static void test_stemming(void **state)
{
	(void)state;
	assert_string_equal(term("de", "Rücksendungen"), term("de", "Rücksendung"));
	assert_string_equal(term("de", "Lieferungen"), term("de", "Lieferung"));
	assert_string_equal(term("en", "returns"), term("en", "returning"));
	assert_string_equal(term("en", "shipping"), term("en", "shipped"));
}

static void test_compound_tails_in_documents_only(void **state)
{
	(void)state;
	terms doc, query;
	analyse("de", "Warenrücksendung", 1, &doc);
	assert_true(doc.n > 1);
	assert_int_equal(doc.colocated[0], 0);
	assert_true(has(&doc, term("de", "Rücksendung")));
	assert_true(has(&doc, term("de", "Sendung")));
	for (int i = 1; i < doc.n; i++)
		assert_int_equal(doc.colocated[i], 1);
	analyse("de", "Warenrücksendung", 0, &query);
	assert_int_equal(query.n, 1);
	/* Short words and English text are not split. */
	analyse("de", "Versand", 1, &doc);
	assert_int_equal(doc.n, 1);
	analyse("en", "troubleshooting", 1, &doc);
	assert_int_equal(doc.n, 1);
}

static void test_word_boundaries(void **state)
{
	(void)state;
	terms t;
	analyse("en", "Hello, world! 2–3 days… “quoted” don't e-mail", 0, &t);
	assert_true(has(&t, "hello"));
	assert_true(has(&t, "world"));
	assert_true(has(&t, "2"));
	assert_true(has(&t, "3"));
	assert_true(has(&t, "day"));
	assert_true(has(&t, "quot"));
	assert_true(has(&t, "mail"));
	/* Broken UTF-8 and control bytes neither crash nor loop. */
	analyse("de", "\xff\xfe abc \xc3 \x01\x02 def\xe2\x82", 1, &t);
	assert_true(has(&t, "abc"));
}

static void test_markdown_is_safe(void **state)
{
	(void)state;
	const char *md = "# Titel\n\n**fett** <script>alert(1)</script>\n\n"
			 "[klick](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
			 "[gut](https://shop.example/\"onmouseover=alert(1))";
	char *html = em_kb_markdown_html(md, strlen(md));
	assert_non_null(strstr(html, "<strong>fett</strong>"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "javascript:"));
	assert_null(strstr(html, "\"onmouseover"));
	em_free(html);
	char *text = em_kb_markdown_text(md, strlen(md));
	assert_non_null(strstr(text, "Titel"));
	assert_non_null(strstr(text, "fett"));
	assert_null(strchr(text, '<'));
	assert_null(strchr(text, '*'));
	em_free(text);
}

static void test_slugs(void **state)
{
	(void)state;
	char s[EM_KB_SLUG_MAX + 1];
	em_kb_slug("Wie funktioniert die Rücksendung?", s, sizeof s);
	assert_string_equal(s, "wie-funktioniert-die-ruecksendung");
	em_kb_slug("Größe & Passform", s, sizeof s);
	assert_string_equal(s, "groesse-passform");
	em_kb_slug("???", s, sizeof s);
	assert_string_equal(s, "article");
}

/* Tokens with their places, for comparing two analyses of one text. */
typedef struct placed {
	char term[256][48];
	int start[256], colocated[256];
	int n;
} placed;

static int collect_placed(void *arg, const char *term, size_t len, int start, int end, int colocated)
{
	placed *p = arg;
	(void)end;
	if (p->n < 256 && len < 48) {
		memcpy(p->term[p->n], term, len);
		p->term[p->n][len] = 0;
		p->start[p->n] = start;
		p->colocated[p->n] = colocated;
		p->n++;
	}
	return 0;
}

/* Highlighting analyses only the words that may stand for a query term
** (em_text_tokens_near): every word (or compound tail) that the full
** analysis finds equal to a query term, or beginning with it, it finds too,
** in the same place; it skips words, never matches. */
static void test_near_analysis_keeps_every_match(void **state)
{
	(void)state;
	static const struct {
		const char *lang, *text, *words[6];
	} cases[] = {
		{"de",
		 "Die Warenrücksendung ist kostenlos. Ruecksendungen bitte mit Rücksendeetikett, Größe egal.",
		 {"Rücksendung", "Sendung", "Groesse", "kostenlos", "Etikett", NULL}},
		{"de",
		 "Versandkostenpauschale und Versandkosten ab 50 Euro; Lieferung in 2–3 Werktagen, liefern "
		 "wir.",
		 {"Versandkosten", "liefern", "Werktag", "Euro", NULL}},
		{"de",
		 "Übergrößen für Männer: Jacken, Mäntel, Schuhe. Zahlungsmöglichkeiten: Rechnung, PayPal.",
		 {"übergröße", "Mantel", "Mäntel", "Zahlung", "möglichkeit", NULL}},
		{"en",
		 "Dying fabrics: we tried, he cries, the flies are flying; happily shipping policies apply.",
		 {"die", "try", "cry", "fly", "happy", "policy"}},
		{"en",
		 "Skies and skis, only early gently ugly news. Returning items? Returns are free.",
		 {"sky", "ski", "early", "only", "return", "item"}},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		em_text *t = em_text_new(cases[c].lang);
		char alts[6][64], nbuf[6][16];
		const char *needles[6];
		int n = 0;
		for (; n < 6 && cases[c].words[n]; n++) {
			size_t l = em_text_term(t, cases[c].words[n], strlen(cases[c].words[n]), alts[n], 63);
			alts[n][l] = 0;
			size_t nl = em_text_needle(t, alts[n], nbuf[n], 15);
			nbuf[n][nl] = 0;
			assert_true(nl > 0);
			needles[n] = nbuf[n];
		}
		placed *all = em_calloc(1, sizeof *all), *near = em_calloc(1, sizeof *near);
		em_text_tokens(t, cases[c].text, strlen(cases[c].text), 1, collect_placed, all);
		em_text_tokens_near(t, cases[c].text, strlen(cases[c].text), 1, needles, n, collect_placed,
				    near);
		int matches = 0, skipped = 0;
		for (int i = 0; i < all->n; i++) {
			int match = 0;
			for (int k = 0; k < n; k++)
				match |= !strncmp(all->term[i], alts[k], strlen(alts[k]));
			if (!match)
				continue;
			matches++;
			int found = 0;
			for (int j = 0; j < near->n && !found; j++)
				found = near->start[j] == all->start[i] &&
					!strcmp(near->term[j], all->term[i]);
			if (!found)
				fail_msg("%s: \"%s\" at %d found by the full analysis only", cases[c].lang,
					 all->term[i], all->start[i]);
		}
		for (int j = 0; j < near->n; j++)
			skipped += !near->term[j][0];
		assert_true(matches >= n - 1); /* the cases are about something */
		assert_true(skipped > 0);      /* and words were skipped */
		/* Every word keeps its place: the same words, in order. */
		int words_all = 0, words_near = 0;
		for (int i = 0; i < all->n; i++)
			words_all += !all->colocated[i];
		for (int j = 0; j < near->n; j++)
			words_near += !near->colocated[j];
		assert_int_equal(words_all, words_near);
		em_free(all);
		em_free(near);
		em_text_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_umlaut_spellings_meet),
		cmocka_unit_test(test_stemming),
		cmocka_unit_test(test_compound_tails_in_documents_only),
		cmocka_unit_test(test_word_boundaries),
		cmocka_unit_test(test_markdown_is_safe),
		cmocka_unit_test(test_slugs),
		cmocka_unit_test(test_near_analysis_keeps_every_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
