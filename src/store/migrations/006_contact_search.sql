-- Contact search: a trigram full-text index over name, e-mail, phone and
-- company, so that any fragment of three or more characters is found
-- without reading every contact. The index reads its text from the contact
-- table itself (external content), so no second copy of a person's data is
-- kept; the triggers below keep it in step with every insert, change and
-- delete. Also the indexes the contact links and merges need.

CREATE VIRTUAL TABLE contact_search USING fts5(
	name, email, phone, company,
	content = 'contact', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER contact_search_ai AFTER INSERT ON contact BEGIN
	INSERT INTO contact_search (rowid, name, email, phone, company)
	VALUES (new.id, new.name, new.email, new.phone, new.company);
END;

CREATE TRIGGER contact_search_ad AFTER DELETE ON contact BEGIN
	INSERT INTO contact_search (contact_search, rowid, name, email, phone, company)
	VALUES ('delete', old.id, old.name, old.email, old.phone, old.company);
END;

-- Only a change of an indexed column touches the index: stage, owner and
-- lifetime value change far more often than names do.
CREATE TRIGGER contact_search_au AFTER UPDATE OF name, email, phone, company ON contact BEGIN
	INSERT INTO contact_search (contact_search, rowid, name, email, phone, company)
	VALUES ('delete', old.id, old.name, old.email, old.phone, old.company);
	INSERT INTO contact_search (rowid, name, email, phone, company)
	VALUES (new.id, new.name, new.email, new.phone, new.company);
END;

-- Existing rows (a database that had contacts before this migration).
INSERT INTO contact_search (contact_search) VALUES ('rebuild');

-- Links from the visitor and conversation sides, read on every merge, link
-- and lifetime-value recount.
CREATE INDEX IF NOT EXISTS visitor_contact ON visitor(contact_id);
CREATE INDEX IF NOT EXISTS conversation_contact ON conversation(contact_id);
CREATE INDEX contact_merged ON contact(merged_into);
