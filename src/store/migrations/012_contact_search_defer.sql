-- Contact search index, filled later for big imports. Indexing contacts one
-- write of 2,000 at a time leaves a small index segment per write that the
-- index then merges over and over; a CSV import instead marks its new
-- contacts as "to index" and indexes them in a few large writes (see
-- docs/contacts.md, "Import speed").
--
-- contact_search_defer holds a row only inside an import's write (it is
-- added and removed by the same write, so it is never committed): while it
-- does, new contacts go to contact_search_todo instead of the index.
-- Contacts waiting in contact_search_todo are left alone by the update and
-- delete triggers (they are not in the index yet; indexing reads their
-- current text).

CREATE TABLE contact_search_todo (contact_id INTEGER PRIMARY KEY);
CREATE TABLE contact_search_defer (id INTEGER PRIMARY KEY);

DROP TRIGGER contact_search_ai;
CREATE TRIGGER contact_search_ai AFTER INSERT ON contact
WHEN NOT EXISTS (SELECT 1 FROM contact_search_defer) BEGIN
	INSERT INTO contact_search (rowid, name, email, phone, company)
	VALUES (new.id, new.name, new.email, new.phone, new.company);
END;

CREATE TRIGGER contact_search_ai_defer AFTER INSERT ON contact
WHEN EXISTS (SELECT 1 FROM contact_search_defer) BEGIN
	INSERT INTO contact_search_todo (contact_id) VALUES (new.id);
END;

DROP TRIGGER contact_search_ad;
CREATE TRIGGER contact_search_ad AFTER DELETE ON contact BEGIN
	INSERT INTO contact_search (contact_search, rowid, name, email, phone, company)
	SELECT 'delete', old.id, old.name, old.email, old.phone, old.company
	WHERE NOT EXISTS (SELECT 1 FROM contact_search_todo WHERE contact_id = old.id);
	DELETE FROM contact_search_todo WHERE contact_id = old.id;
END;

DROP TRIGGER contact_search_au;
CREATE TRIGGER contact_search_au AFTER UPDATE OF name, email, phone, company ON contact
WHEN NOT EXISTS (SELECT 1 FROM contact_search_todo WHERE contact_id = old.id) BEGIN
	INSERT INTO contact_search (contact_search, rowid, name, email, phone, company)
	VALUES ('delete', old.id, old.name, old.email, old.phone, old.company);
	INSERT INTO contact_search (rowid, name, email, phone, company)
	VALUES (new.id, new.name, new.email, new.phone, new.company);
END;

-- Terms pending in memory are written out when they pass this size or at
-- the end of a statement; a large import write then makes one segment
-- instead of a dozen. Small writes never come near it.
INSERT INTO contact_search (contact_search, rank) VALUES ('hashsize', 67108864);
