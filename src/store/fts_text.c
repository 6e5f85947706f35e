/*
** The FTS5 tokenizer "emma" (tokenize = 'emma de' or 'emma en'), registered
** on every connection: SQLite's side of src/kb/text.h. Documents get their
** compound tails as colocated tokens; queries are analysed word by word,
** except terms marked as analysed already (see tokenize()).
*/
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "core/alloc.h"
#include "kb/text.h"
#include "kb/vocab.h"
#include "store/store_int.h"

typedef struct tok_ctx {
	void *ctx;
	int (*xToken)(void *, int, const char *, int, int, int);
	int rc;
} tok_ctx;

static int create(void *unused, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)unused;
	em_text *t = em_text_new(argc > 0 ? argv[0] : "en");
	if (!t)
		return SQLITE_ERROR;
	*out = (Fts5Tokenizer *)t;
	return SQLITE_OK;
}

static void destroy(Fts5Tokenizer *tok)
{
	em_text_free((em_text *)tok);
}

static int emit(void *arg, const char *term, size_t len, int start, int end, int colocated)
{
	tok_ctx *c = arg;
	c->rc = c->xToken(c->ctx, colocated ? FTS5_TOKEN_COLOCATED : 0, term, (int)len, start, end);
	return c->rc != SQLITE_OK;
}

static int tokenize(Fts5Tokenizer *tok, void *ctx, int flags, const char *text, int len,
		    int (*xToken)(void *, int, const char *, int, int, int))
{
	tok_ctx c = {ctx, xToken, SQLITE_OK};
	int document = (flags & FTS5_TOKENIZE_DOCUMENT) != 0;
	/* A query term the search code analysed already ("\x01" + term) is
	** taken as it is: stemming is not idempotent. */
	if (!document && len > 1 && text[0] == '\x01')
		return xToken(ctx, 0, text + 1, len - 1, 0, len);
	em_text_tokens((em_text *)tok, text, (size_t)(len < 0 ? 0 : len), document, emit, &c);
	return c.rc;
}

/* The rank function "emma_bm25": FTS5's bm25() (k1 = 1.2, b = 0.75, the same
** formula and column weights) except that each phrase's document count comes
** from the query, as arguments after the three column weights and the
** index's number (kb/vocab.h; -1: none):
**   emma_bm25(w_title, w_body, w_tags, index, docs_phrase_1, docs_phrase_2, ...)
** With the index's number, documents' lengths come from memory while its
** snapshot there is current (else, and for rows it does not know, from
** FTS5: a lookup per row).
** bm25() counts them itself on its first row, by reading every document of
** every phrase, which for a common word (or a word's beginning that stands
** for many words) costs more than ranking the few rows wanted. The search
** knows the counts from the vocabulary (for a word's beginning: the count of
** the word itself). A phrase without a count is taken as in one document;
** a phrase with the count -1 is one with the phrase before it (its
** occurrences count for that one, with its weight). */
#define RANK_K1 1.2
#define RANK_B 0.75
#define RANK_PHRASES 64

typedef struct rank_query {
	const void *lens; /* the documents' lengths in memory (kb/vocab.h), or NULL */
	int nphrase;
	double avgdl;
	double idf[RANK_PHRASES];
	int group[RANK_PHRASES]; /* the phrase whose count and weight it shares (itself, or one before) */
} rank_query;

static void rank_free(void *p)
{
	rank_query *q = p;
	if (q->lens)
		em_kb_vocab_doclens_done(q->lens);
	em_free(q);
}

#define RANK_COUNTS 4 /* the first count's argument: after the weights and the index */

_Thread_local unsigned long em_text_rank_calls;

static void rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *out, int nval,
		    sqlite3_value **val)
{
	em_text_rank_calls++;
	rank_query *q = api->xGetAuxdata(fts, 0);
	if (!q) {
		q = em_calloc(1, sizeof *q);
		sqlite3_int64 nrow = 0, ntok = 0;
		int rc = api->xRowCount(fts, &nrow);
		if (rc == SQLITE_OK)
			rc = api->xColumnTotalSize(fts, -1, &ntok);
		if (rc != SQLITE_OK) {
			em_free(q);
			sqlite3_result_error_code(out, rc);
			return;
		}
		q->avgdl = nrow > 0 ? (double)ntok / (double)nrow : 1.0;
		if (q->avgdl <= 0)
			q->avgdl = 1.0;
		q->nphrase = api->xPhraseCount(fts);
		if (q->nphrase > RANK_PHRASES)
			q->nphrase = RANK_PHRASES;
		q->lens = nval > 3 ? em_kb_vocab_doclens(sqlite3_value_int(val[3])) : NULL;
		for (int i = 0; i < q->nphrase; i++) {
			double hit =
				RANK_COUNTS + i < nval ? sqlite3_value_double(val[RANK_COUNTS + i]) : 1.0;
			/* A count of -1: the words of one beginning ("bestell" *
			** looked for as its words), ranked as one phrase. */
			q->group[i] = i > 0 && hit < 0 ? q->group[i - 1] : i;
			if (hit < 0)
				hit = 0;
			if (hit > (double)nrow)
				hit = (double)nrow;
			double idf = log(((double)nrow - hit + 0.5) / (hit + 0.5));
			q->idf[i] = idf <= 0.0 ? 1e-6 : idf;
		}
		if ((rc = api->xSetAuxdata(fts, q, rank_free)) != SQLITE_OK) {
			/* xSetAuxdata freed q already */
			sqlite3_result_error_code(out, rc);
			return;
		}
	}
	double w[3];
	for (int c = 0; c < 3; c++)
		w[c] = c < nval ? sqlite3_value_double(val[c]) : 1.0;
	double freq[RANK_PHRASES] = {0};
	int ninst = 0;
	int rc = api->xInstCount(fts, &ninst);
	for (int k = 0; rc == SQLITE_OK && k < ninst; k++) {
		int ph, col, off;
		rc = api->xInst(fts, k, &ph, &col, &off);
		if (rc == SQLITE_OK && ph >= 0 && ph < q->nphrase && col >= 0 && col < 3)
			freq[q->group[ph]] += w[col];
	}
	int dl = 0;
	if (rc == SQLITE_OK && !(q->lens && em_kb_vocab_doclen(q->lens, api->xRowid(fts), &dl)))
		rc = api->xColumnSize(fts, -1, &dl);
	if (rc != SQLITE_OK) {
		sqlite3_result_error_code(out, rc);
		return;
	}
	double score = 0, norm = RANK_K1 * (1 - RANK_B + RANK_B * (double)dl / q->avgdl);
	for (int i = 0; i < q->nphrase; i++)
		if (q->group[i] == i)
			score += q->idf[i] * (freq[i] * (RANK_K1 + 1)) / (freq[i] + norm);
	sqlite3_result_double(out, -1.0 * score);
}

int em__fts_register(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (!api)
		return SQLITE_ERROR;
	static fts5_tokenizer t = {create, destroy, tokenize};
	int rc = api->xCreateTokenizer(api, "emma", NULL, &t, NULL);
	if (rc == SQLITE_OK)
		rc = api->xCreateFunction(api, "emma_bm25", NULL, rank_fn, NULL);
	return rc;
}
