-- Customer memory: contacts and leads, tags, custom fields, notes with their
-- edit history, call-me-back requests, consent records, webhooks with an
-- outbox of deliveries written in the same transaction as their cause.
-- Times are integer milliseconds since the epoch (UTC).

CREATE TABLE contact (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',	  -- lowercased; '' = none
	phone TEXT NOT NULL DEFAULT '',	  -- E.164; '' = none
	company TEXT NOT NULL DEFAULT '',
	stage TEXT NOT NULL DEFAULT 'lead' CHECK (stage IN ('lead', 'customer', 'lost', 'won_back')),
	owner_id INTEGER REFERENCES operator(id),
	source TEXT NOT NULL DEFAULT 'api'
		CHECK (source IN ('chat', 'card', 'callback', 'import', 'api', 'identify', 'offline')),
	custom TEXT NOT NULL DEFAULT '{}', -- JSON object of the site's custom fields
	lifetime_value REAL NOT NULL DEFAULT 0,
	orders INTEGER NOT NULL DEFAULT 0,
	consent_marketing INTEGER NOT NULL DEFAULT 0,
	consent_at INTEGER,
	merged_into INTEGER REFERENCES contact(id),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX contact_site_updated ON contact(site_id, updated_at);
CREATE INDEX contact_email ON contact(site_id, email);
CREATE INDEX contact_phone ON contact(site_id, phone);
CREATE INDEX contact_stage ON contact(site_id, stage, id);
CREATE INDEX contact_owner ON contact(owner_id);

CREATE TABLE contact_tag (
	contact_id INTEGER NOT NULL REFERENCES contact(id) ON DELETE CASCADE,
	tag TEXT NOT NULL,
	PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tag_tag ON contact_tag(tag, contact_id);

-- Custom fields a site defines for its contacts.
CREATE TABLE custom_field (
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL REFERENCES site(id),
	key TEXT NOT NULL,
	label TEXT NOT NULL,
	type TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'bool')),
	UNIQUE (site_id, key)
);

-- Notes on a contact or on an anonymous visitor (one of the two is set).
CREATE TABLE note (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL,
	contact_id INTEGER REFERENCES contact(id),
	vid TEXT,
	author_id INTEGER REFERENCES operator(id),
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER
);
CREATE INDEX note_contact ON note(contact_id, created_at);
CREATE INDEX note_visitor ON note(site_id, vid, created_at);

-- Every earlier text of an edited note.
CREATE TABLE note_revision (
	id INTEGER PRIMARY KEY,
	note_id INTEGER NOT NULL REFERENCES note(id) ON DELETE CASCADE,
	body TEXT NOT NULL,
	editor_id INTEGER REFERENCES operator(id),
	created_at INTEGER NOT NULL
);
CREATE INDEX note_revision_note ON note_revision(note_id, created_at);

-- Stage changes and other facts for the timeline.
CREATE TABLE contact_event (
	id INTEGER PRIMARY KEY,
	contact_id INTEGER NOT NULL REFERENCES contact(id),
	type TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT '{}',
	operator_id INTEGER,
	created_at INTEGER NOT NULL
);
CREATE INDEX contact_event_contact ON contact_event(contact_id, created_at);

CREATE TABLE callback_request (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	contact_id INTEGER REFERENCES contact(id),
	vid TEXT,
	name TEXT NOT NULL DEFAULT '',
	phone TEXT NOT NULL,
	topic TEXT NOT NULL DEFAULT '',
	window_start INTEGER,	     -- preferred time window (ms)
	window_end INTEGER,
	due_at INTEGER NOT NULL,
	status TEXT NOT NULL DEFAULT 'open'
		CHECK (status IN ('open', 'called', 'no_answer', 'done', 'cancelled')),
	attempts INTEGER NOT NULL DEFAULT 0,
	assigned_id INTEGER REFERENCES operator(id),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX callback_due ON callback_request(status, due_at);
CREATE INDEX callback_contact ON callback_request(contact_id);

-- What a person agreed to, when, and in which words.
CREATE TABLE consent_record (
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL,
	contact_id INTEGER REFERENCES contact(id),
	vid TEXT,
	purpose TEXT NOT NULL,
	granted INTEGER NOT NULL,
	wording TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE INDEX consent_contact ON consent_record(contact_id, created_at);
CREATE INDEX consent_visitor ON consent_record(site_id, vid);

CREATE TABLE webhook (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	url TEXT NOT NULL,
	events TEXT NOT NULL,	  -- comma-separated event names, or '*'
	secret TEXT NOT NULL,	  -- HMAC-SHA256 key
	enabled INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- The outbox: one row per (webhook, event), written in the transaction that
-- caused the event, delivered and retried by the webhook sender.
CREATE TABLE webhook_delivery (
	id INTEGER PRIMARY KEY,
	webhook_id INTEGER NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
	event TEXT NOT NULL,
	payload TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at INTEGER NOT NULL,
	last_status INTEGER,
	last_error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	delivered_at INTEGER
);
CREATE INDEX webhook_delivery_next ON webhook_delivery(status, next_at);
CREATE INDEX webhook_delivery_hook ON webhook_delivery(webhook_id, created_at);
