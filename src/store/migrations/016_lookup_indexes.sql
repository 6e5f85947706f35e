-- Visitors merged into another one (an identify that matched an earlier
-- visitor) are found by the row they were merged into: linking a visitor
-- to a contact, the privacy export, and the retention pass (which clears
-- merged_into of the rows pointing at a visitor it deletes, and whose
-- DELETE checks the foreign key) read them without scanning all visitors.
-- Only merged rows have an entry: a merge writes it, a page view does not.

CREATE INDEX visitor_merged ON visitor(merged_into) WHERE merged_into IS NOT NULL;

-- The conversation list filtered by status (GET /api/v1/conversations?status=)
-- reads newest first from the cursor on; a rare status (pending) is then
-- found without walking all the closed conversations before it.

CREATE INDEX conversation_status_id ON conversation(status, id);
