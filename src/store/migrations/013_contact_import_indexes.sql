-- Fewer index entries per contact, for faster imports (see docs/contacts.md,
-- "Import speed"). No query reads contacts by (site, updated_at): that index
-- only cost a write per contact. Owner and merged-into are empty for most
-- contacts (every imported one): their indexes keep only the contacts that
-- have one, which is all the queries on them look for ("owner_id = ?",
-- "merged_into = ?", and the foreign key checks when an operator or a
-- contact is deleted).

DROP INDEX contact_site_updated;

DROP INDEX contact_owner;
CREATE INDEX contact_owner ON contact(owner_id) WHERE owner_id IS NOT NULL;

DROP INDEX contact_merged;
CREATE INDEX contact_merged ON contact(merged_into) WHERE merged_into IS NOT NULL;
