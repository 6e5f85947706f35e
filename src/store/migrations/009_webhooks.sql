-- Webhooks: an opaque public id for each delivery (shown in the delivery log,
-- sent as X-Emma-Delivery so receivers can drop repeats) and an index for
-- paging one webhook's log newest first.

ALTER TABLE webhook_delivery ADD COLUMN public_id TEXT;
CREATE UNIQUE INDEX webhook_delivery_public ON webhook_delivery(public_id);
CREATE INDEX webhook_delivery_hook_id ON webhook_delivery(webhook_id, id);
