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

/* The normalised form of one word (lowercase, folded, stemmed) into out;
** returns its length or 0. */
size_t em_text_term(em_text *t, const char *word, size_t len, char *out, size_t outlen);

#endif
