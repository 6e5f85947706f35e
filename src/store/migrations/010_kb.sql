-- Self-service: help-centre articles, the product catalog, synonyms, and
-- what visitors searched, read and voted (content gaps, deflections).
-- Times are integer milliseconds since the epoch (UTC).

CREATE TABLE kb_article (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	lang TEXT NOT NULL CHECK (lang IN ('de', 'en')),
	slug TEXT NOT NULL,
	question TEXT NOT NULL,
	answer TEXT NOT NULL,	     -- Markdown
	category TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '', -- comma-separated
	status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
	helpful_yes INTEGER NOT NULL DEFAULT 0,
	helpful_no INTEGER NOT NULL DEFAULT 0,
	views INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (site_id, lang, slug)
);
CREATE INDEX kb_article_site ON kb_article(site_id, lang, status, category);

CREATE TABLE product (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	sku TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	category TEXT NOT NULL DEFAULT '',
	price REAL,
	currency TEXT NOT NULL DEFAULT '',
	url TEXT NOT NULL DEFAULT '',
	image TEXT NOT NULL DEFAULT '',
	availability TEXT NOT NULL DEFAULT 'unknown'
		CHECK (availability IN ('in_stock', 'out_of_stock', 'preorder', 'unknown')),
	source TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('feed', 'api', 'event')),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (site_id, sku)
);

-- A group of words that mean the same to the shop's customers.
CREATE TABLE kb_synonym (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	lang TEXT NOT NULL,
	terms TEXT NOT NULL, -- comma-separated
	created_at INTEGER NOT NULL
);

-- Searches, article views, votes, deflections and escalations to a chat.
CREATE TABLE kb_event (
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL,
	type TEXT NOT NULL CHECK (type IN ('search', 'view', 'helpful', 'unhelpful', 'deflected', 'escalated')),
	article_id INTEGER,
	query TEXT NOT NULL DEFAULT '',
	results INTEGER NOT NULL DEFAULT 0,
	lang TEXT NOT NULL DEFAULT '',
	vid TEXT NOT NULL DEFAULT '',
	at INTEGER NOT NULL
);
CREATE INDEX kb_event_site ON kb_event(site_id, type, at);
CREATE INDEX kb_event_article ON kb_event(article_id, type);

-- The search index, one per language (the tokenizer stems per language).
-- kind 'a' = article (ref = kb_article.id), 'p' = product (ref = product.id);
-- products are in both.
CREATE VIRTUAL TABLE kb_index_de USING fts5(
	title, body, tags, kind UNINDEXED, ref UNINDEXED, site UNINDEXED,
	tokenize = 'emma de'
);
CREATE VIRTUAL TABLE kb_index_en USING fts5(
	title, body, tags, kind UNINDEXED, ref UNINDEXED, site UNINDEXED,
	tokenize = 'emma en'
);
-- Their vocabularies, for typo tolerance (which indexed term is nearest).
CREATE VIRTUAL TABLE kb_vocab_de USING fts5vocab('kb_index_de', 'row');
CREATE VIRTUAL TABLE kb_vocab_en USING fts5vocab('kb_index_en', 'row');
