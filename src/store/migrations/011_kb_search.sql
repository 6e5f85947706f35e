-- The search index, split by kind: help-centre articles and products each get their own FTS5
-- table per language, so a search for articles never ranks the catalog and the reverse.
-- The rowid says whose a row is, so that a site's rows (and its published articles) are one
-- rowid range that FTS5 seeks to, instead of a column read per candidate:
--   articles: (site_id << 33) | (draft << 32) | kb_article.id
--   products: (site_id << 32) | product.id
-- Products are in both languages (the tokenizer stems per language). The rows move over from
-- the shared kb_index_de/kb_index_en of 010_kb.sql, which are dropped.

CREATE VIRTUAL TABLE kb_art_de USING fts5(title, body, tags, tokenize = 'emma de');
CREATE VIRTUAL TABLE kb_art_en USING fts5(title, body, tags, tokenize = 'emma en');
CREATE VIRTUAL TABLE kb_prod_de USING fts5(title, body, tags, tokenize = 'emma de');
CREATE VIRTUAL TABLE kb_prod_en USING fts5(title, body, tags, tokenize = 'emma en');

INSERT INTO kb_art_de (rowid, title, body, tags)
	SELECT (site << 33) | ((kind = 'd') << 32) | ref, title, body, tags FROM kb_index_de WHERE kind IN ('a', 'd');
INSERT INTO kb_art_en (rowid, title, body, tags)
	SELECT (site << 33) | ((kind = 'd') << 32) | ref, title, body, tags FROM kb_index_en WHERE kind IN ('a', 'd');
INSERT INTO kb_prod_de (rowid, title, body, tags)
	SELECT (site << 32) | ref, title, body, tags FROM kb_index_de WHERE kind = 'p';
INSERT INTO kb_prod_en (rowid, title, body, tags)
	SELECT (site << 32) | ref, title, body, tags FROM kb_index_en WHERE kind = 'p';

DROP TABLE kb_vocab_de;
DROP TABLE kb_vocab_en;
DROP TABLE kb_index_de;
DROP TABLE kb_index_en;

-- Their vocabularies: how many documents have a term (typo tolerance, common words).
CREATE VIRTUAL TABLE kb_vocab_art_de USING fts5vocab('kb_art_de', 'row');
CREATE VIRTUAL TABLE kb_vocab_art_en USING fts5vocab('kb_art_en', 'row');
CREATE VIRTUAL TABLE kb_vocab_prod_de USING fts5vocab('kb_prod_de', 'row');
CREATE VIRTUAL TABLE kb_vocab_prod_en USING fts5vocab('kb_prod_en', 'row');


-- One b-tree per index, as after a large feed (kb.c merges then too): the moved rows
-- arrive in many pieces, which slows the vocabulary lookups of typo correction.
INSERT INTO kb_art_de (kb_art_de) VALUES ('optimize');
INSERT INTO kb_art_en (kb_art_en) VALUES ('optimize');
INSERT INTO kb_prod_de (kb_prod_de) VALUES ('optimize');
INSERT INTO kb_prod_en (kb_prod_en) VALUES ('optimize');
