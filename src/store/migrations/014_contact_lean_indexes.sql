-- Less written per contact, for faster imports (see docs/contacts.md,
-- "Import speed"); what searches and lists read stays the same.
--
-- The search index keeps no per-contact token counts (columnsize=0): they
-- only serve ranking functions (bm25), and contact search orders by id. The
-- index is built anew from the contact table; contacts an interrupted
-- import left waiting for it are then in it, so the list of waiting ones is
-- emptied. The triggers of migrations 006 and 012 name the index by name
-- and stay as they are.

DROP TABLE contact_search;
CREATE VIRTUAL TABLE contact_search USING fts5(
	name, email, phone, company,
	content = 'contact', content_rowid = 'id', tokenize = 'trigram', columnsize = 0
);
INSERT INTO contact_search (contact_search, rank) VALUES ('hashsize', 67108864);
INSERT INTO contact_search (contact_search) VALUES ('rebuild');
DELETE FROM contact_search_todo;

-- Tags of a contact are stored once, ordered by contact, without a separate
-- row id: one b-tree fewer to write per tag. The index by tag stays.

CREATE TABLE contact_tag_new (
	contact_id INTEGER NOT NULL REFERENCES contact(id) ON DELETE CASCADE,
	tag TEXT NOT NULL,
	PRIMARY KEY (contact_id, tag)
) WITHOUT ROWID;
INSERT INTO contact_tag_new (contact_id, tag) SELECT contact_id, tag FROM contact_tag;
DROP TABLE contact_tag;
ALTER TABLE contact_tag_new RENAME TO contact_tag;
CREATE INDEX contact_tag_tag ON contact_tag(tag, contact_id);
