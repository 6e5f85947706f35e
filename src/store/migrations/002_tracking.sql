-- Site monitor: visitors, visits, events, log-tail offsets.
-- Times are integer milliseconds since the epoch (UTC).

-- One row per browser (or per cookieless daily id until consent).
CREATE TABLE visitor (
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL REFERENCES site(id),
	vid TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	visits INTEGER NOT NULL DEFAULT 0,
	pageviews INTEGER NOT NULL DEFAULT 0,
	email TEXT,
	external_id TEXT,
	name TEXT,
	contact_id INTEGER,
	consent INTEGER NOT NULL DEFAULT 0,
	consent_at INTEGER,
	cart_total REAL NOT NULL DEFAULT 0,
	merged_into INTEGER REFERENCES visitor(id),
	UNIQUE (site_id, vid)
);
CREATE INDEX visitor_last_seen ON visitor(site_id, last_seen);
CREATE INDEX visitor_email ON visitor(site_id, email);
CREATE INDEX visitor_external ON visitor(site_id, external_id);

-- A visit ends after 30 minutes without events or with a new campaign source.
CREATE TABLE visit (
	id INTEGER PRIMARY KEY,
	visitor_id INTEGER NOT NULL REFERENCES visitor(id),
	site_id INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	last_at INTEGER NOT NULL,
	entry_url TEXT NOT NULL DEFAULT '',
	referrer TEXT NOT NULL DEFAULT '',
	utm_source TEXT NOT NULL DEFAULT '',
	utm_medium TEXT NOT NULL DEFAULT '',
	utm_campaign TEXT NOT NULL DEFAULT '',
	pageviews INTEGER NOT NULL DEFAULT 0,
	active_s INTEGER NOT NULL DEFAULT 0,
	ip TEXT NOT NULL DEFAULT '',
	device TEXT NOT NULL DEFAULT '',
	browser TEXT NOT NULL DEFAULT '',
	os TEXT NOT NULL DEFAULT '',
	country TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT 'beacon'
);
CREATE INDEX visit_visitor ON visit(visitor_id, started_at);
CREATE INDEX visit_site_started ON visit(site_id, started_at);

CREATE TABLE event (
	id INTEGER PRIMARY KEY,
	visit_id INTEGER NOT NULL REFERENCES visit(id),
	visitor_id INTEGER NOT NULL,
	site_id INTEGER NOT NULL,
	ts INTEGER NOT NULL,
	type TEXT NOT NULL,
	url TEXT,
	title TEXT,
	name TEXT,
	data TEXT
);
CREATE INDEX event_visit ON event(visit_id, ts);
CREATE INDEX event_site_ts ON event(site_id, ts);

-- Where `emma serve --tail` stopped in each followed log, written in the same
-- transaction as the events those lines produced.
CREATE TABLE tail_offset (
	path TEXT PRIMARY KEY,
	inode INTEGER NOT NULL,
	offset INTEGER NOT NULL,
	head_hash TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);
