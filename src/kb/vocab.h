/*
** The search indexes' vocabularies in memory (docs/help.md, "Speed"): per
** index (articles or products, German or English) a sorted array of its
** terms with their document counts (and its documents' lengths), read once
** from the FTS5 vocabulary table (and %_docsize) and read again after the
** index changes. Looking up a term, or
** whether some term begins with a prefix, is then a binary search instead
** of an SQL lookup that reads the term's whole doclist; the typo correction
** makes a thousand such lookups per unknown word.
**
** A snapshot is used only while it is current: after a change of its index
** (em_kb_vocab_changed) lookups answer "unknown" (the caller asks SQL) until
** the snapshot is read again, which happens on the next lookup once the
** index has been still for EM_KB_VOCAB_GRACE_MS (a write may not have been
** committed yet), and at most every EM_KB_VOCAB_REBUILD_MS or
** EM_KB_VOCAB_REBUILD_X times as long as the last read took, whichever is
** longer (a catalog that changes all the time is not read all the time). A
** snapshot is trusted for EM_KB_VOCAB_TTL_MS, then kept if the index's
** structure and averages records (which FTS5 rewrites on every write, also
** by `emma import-faq`, a process of its own) are still the same, else read
** again. Only one thread reads a snapshot at a time; the others ask SQL
** meanwhile. An index of more than EM_KB_VOCAB_MAX_BYTES (terms and counts)
** is not kept in memory.
*/
#ifndef EM_KB_VOCAB_H
#define EM_KB_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define EM_KB_VOCAB_GRACE_MS 2000
#define EM_KB_VOCAB_REBUILD_MS 2000
#define EM_KB_VOCAB_REBUILD_X 50
#define EM_KB_VOCAB_TTL_MS 60000
#define EM_KB_VOCAB_MAX_BYTES (64u << 20)

/* The four indexes: de + 2 * (language is English) ... see vocab.c. */
enum { EM_KB_ART_DE, EM_KB_PROD_DE, EM_KB_ART_EN, EM_KB_PROD_EN };
#define EM_KB_VOCAB_INDEX(de, products) (((de) ? 0 : 2) + ((products) ? 1 : 0))

/* The index's terms changed (articles, or products: both languages). */
void em_kb_vocab_changed(int products);

/* Documents with term in index idx: 1 when answered (*docs, 0 when the term
** is not indexed), 0 when the caller must ask SQL. */
int em_kb_vocab_docs(em_db *db, int idx, const char *term, int64_t *docs);
/* Whether some term of index idx begins with (or is) prefix: 1 when
** answered (*found), 0 when the caller must ask SQL. */
int em_kb_vocab_prefixed(em_db *db, int idx, const char *prefix, int *found);
/* The sum of the document counts of the terms that begin with prefix (an
** upper bound of the documents a search for the word's beginning meets). */
int em_kb_vocab_prefix_docs(em_db *db, int idx, const char *prefix, int64_t *docs);
/* The terms of index idx that begin with prefix, each passed to each (in
** order), when there are at most max; returns their count, or -1 (none
** passed) when there are more or the vocabulary is not in memory now. */
int em_kb_vocab_prefix_terms(em_db *db, int idx, const char *prefix, int max,
			     void (*each)(void *arg, const char *term), void *arg);
/* An identifier of the current snapshots of both indexes of a language (a
** cache of answers derived from them is valid while it stays the same), or 0
** when one of them is not current. */
uint64_t em_kb_vocab_epoch(em_db *db, int de);

/* The documents' lengths (tokens, all columns) of index idx, read with its
** vocabulary, for the rank function: a handle while the snapshot is current
** (never reads it), else NULL. em_kb_vocab_doclen: 1 and *len when the row
** is known, 0 when not (ask FTS5). The handle is given back with _done. */
const void *em_kb_vocab_doclens(int idx);
int em_kb_vocab_doclen(const void *h, int64_t rowid, int *len);
void em_kb_vocab_doclens_done(const void *h);

/* Memory held by the snapshots (bytes) and their terms, for the log and tests. */
void em_kb_vocab_usage(size_t *bytes, size_t *terms);

#endif
