/*
** Text analysis for the knowledge-base search (see docs/help.md): words are
** lowercased, German umlaut spellings are folded ("Ruecksendung" and
** "Rücksendung" are one word), stemmed with Snowball (German or English),
** and long German compounds also yield their tail words, so "Rücksendung"
** finds "Warenrücksendung".
**
** One analyser per thread or connection (Snowball's stemmers keep state).
*/
#ifndef EM_KB_TEXT_H
#define EM_KB_TEXT_H

#include <stddef.h>

typedef struct em_text em_text;

/* lang: "de", "en" (anything else: English). NULL when the stemmer cannot
** be created. */
em_text *em_text_new(const char *lang);
void em_text_free(em_text *t);

/* Called for each token: the normalised term, the byte range of the word in
** the input, and colocated = 1 for an extra term at the same position
** (compound parts). Return non-zero to stop. */
typedef int (*em_text_emit)(void *arg, const char *term, size_t termlen, int start, int end, int colocated);

/* with_parts = 0 for queries: a query word is not split, its stem must
** match one of the document's terms (whole words or compound tails). */
int em_text_tokens(em_text *t, const char *text, size_t len, int with_parts, em_text_emit emit, void *arg);

/* The same for a text of which only the words that may stand for some
** terms matter (highlighting the words of a query): a word that has none of
** the terms' needles (em_text_needle) in it is not stemmed but emitted with
** an empty term (termlen 0), its place kept. At most 64 needles (more: every
** word is analysed). */
int em_text_tokens_near(em_text *t, const char *text, size_t len, int with_parts, const char *const *needles,
			int nneedles, em_text_emit emit, void *arg);
/* What a word must have in it (in any case, umlaut spellings as the base
** letter, "y" as "i") to be stemmed to term or to a term that begins with it,
** or to have a compound tail that is: the first letters of the term that
** stemming never changes. Returns its length (bytes written to out). */
size_t em_text_needle(const em_text *t, const char *term, char *out, size_t cap);

/* The normalised form of one word (lowercase, folded, stemmed) into out;
** returns its length or 0. */
size_t em_text_term(em_text *t, const char *word, size_t len, char *out, size_t outlen);

/* Rows ranked by the search's rank function on this thread (a counter for
** the search's debug log). */
extern _Thread_local unsigned long em_text_rank_calls;

#endif
