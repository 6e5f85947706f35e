-- Foundation: sites, operators, sessions, API tokens, audit log, settings.
-- Times are integer milliseconds since the epoch (UTC).

CREATE TABLE site (
	id INTEGER PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	allowed_domains TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);

CREATE TABLE operator (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL DEFAULT '',
	role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
	password_hash TEXT NOT NULL,
	max_chats INTEGER NOT NULL DEFAULT 4,
	lang TEXT NOT NULL DEFAULT 'en',
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- Server-side sessions; the cookie carries only the random id. token_hash is
-- a keyed hash of the cookie value (key: setting 'auth.secret') so a database
-- copy does not leak sessions. API tokens are stored the same way.
CREATE TABLE op_session (
	token_hash TEXT PRIMARY KEY,
	operator_id INTEGER NOT NULL REFERENCES operator(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX op_session_operator ON op_session(operator_id);
CREATE INDEX op_session_expires ON op_session(expires_at);

CREATE TABLE api_token (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	operator_id INTEGER NOT NULL REFERENCES operator(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
	created_at INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at INTEGER
);
CREATE INDEX api_token_operator ON api_token(operator_id);

CREATE TABLE audit_log (
	id INTEGER PRIMARY KEY,
	at INTEGER NOT NULL,
	operator_id INTEGER,
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	ip TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);
-- The audit page is read newest first by id; by operator for "what did X do".
CREATE INDEX audit_log_operator ON audit_log(operator_id, id);

CREATE TABLE setting (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- A general-purpose durable record used by the foundation's tests and the
-- health check's write probe: one row per key.
CREATE TABLE kv (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
