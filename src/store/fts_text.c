/*
** The FTS5 tokenizer "emma" (tokenize = 'emma de' or 'emma en'), registered
** on every connection: SQLite's side of src/kb/text.h. Documents get their
** compound tails as colocated tokens; queries are analysed word by word,
** except terms marked as analysed already (see tokenize()).
*/
#include <sqlite3.h>
#include <string.h>

#include "core/alloc.h"
#include "kb/text.h"
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
	return api->xCreateTokenizer(api, "emma", NULL, &t, NULL);
}
