-- Call-me-back: the indexes the queue and the timeline read through
-- (visitor.contact_id and conversation.contact_id come from 006), and the flag that
-- makes the "overdue" announcement of a callback happen exactly once, also
-- across restarts. Changing a callback's due time clears the flag.
ALTER TABLE callback_request ADD COLUMN overdue_sent INTEGER NOT NULL DEFAULT 0;

-- The callbacks still to be announced as overdue, cheap to scan every tick.
CREATE INDEX callback_unannounced ON callback_request(due_at)
	WHERE status IN ('open', 'no_answer') AND overdue_sent = 0;
CREATE INDEX callback_visitor ON callback_request(site_id, vid);

-- A contact's orders for the timeline without reading every event of every
-- visit: a small index that holds only order events.
CREATE INDEX event_order_visitor ON event(visitor_id, ts) WHERE type = 'order';
