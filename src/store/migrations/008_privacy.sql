-- Privacy: erased messages and conversations are marked (their text is gone,
-- the rows stay for the statistics), and closed conversations are found by
-- the chat retention without scanning the ones already purged.

ALTER TABLE message ADD COLUMN erased_at INTEGER;
ALTER TABLE conversation ADD COLUMN erased_at INTEGER;
CREATE INDEX conversation_retention ON conversation(closed_at) WHERE status = 'closed' AND erased_at IS NULL;
