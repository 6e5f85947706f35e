-- Live chat and invitations: departments, conversations, messages, canned
-- responses, invitation rules and invitations.
-- Times are integer milliseconds since the epoch (UTC).

CREATE TABLE department (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER REFERENCES site(id),
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE operator_department (
	operator_id INTEGER NOT NULL REFERENCES operator(id) ON DELETE CASCADE,
	department_id INTEGER NOT NULL REFERENCES department(id) ON DELETE CASCADE,
	PRIMARY KEY (operator_id, department_id)
);

-- Pre-chat fields and widget settings per site.
CREATE TABLE chat_settings (
	site_id INTEGER PRIMARY KEY REFERENCES site(id),
	prechat_name TEXT NOT NULL DEFAULT 'optional',
	prechat_email TEXT NOT NULL DEFAULT 'optional',
	prechat_consent TEXT NOT NULL DEFAULT 'off',
	greeting TEXT NOT NULL DEFAULT '',
	color TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);

CREATE TABLE conversation (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	vid TEXT NOT NULL,
	visitor_id INTEGER,
	contact_id INTEGER,
	operator_id INTEGER REFERENCES operator(id),
	department_id INTEGER REFERENCES department(id),
	invitation_id INTEGER,
	status TEXT NOT NULL CHECK (status IN ('pending', 'open', 'closed')),
	channel TEXT NOT NULL DEFAULT 'chat' CHECK (channel IN ('chat', 'offline', 'callback')),
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	consent INTEGER NOT NULL DEFAULT 0,
	lang TEXT NOT NULL DEFAULT '',
	page_url TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL DEFAULT '',
	rating INTEGER,
	rating_comment TEXT NOT NULL DEFAULT '',
	last_seq INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	accepted_at INTEGER,
	closed_at INTEGER,
	updated_at INTEGER NOT NULL
);
CREATE INDEX conversation_visitor ON conversation(site_id, vid, created_at);
CREATE INDEX conversation_status ON conversation(status, created_at);
CREATE INDEX conversation_operator ON conversation(operator_id, created_at);

-- seq is per conversation; client_id makes a resent message a no-op.
CREATE TABLE message (
	id INTEGER PRIMARY KEY,
	conversation_id INTEGER NOT NULL REFERENCES conversation(id),
	seq INTEGER NOT NULL,
	author TEXT NOT NULL CHECK (author IN ('visitor', 'operator', 'system')),
	operator_id INTEGER,
	client_id TEXT,
	body TEXT NOT NULL,
	internal INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	UNIQUE (conversation_id, seq),
	UNIQUE (conversation_id, client_id)
);

CREATE TABLE canned_response (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	operator_id INTEGER REFERENCES operator(id) ON DELETE CASCADE,
	shortcut TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX canned_shortcut ON canned_response(coalesce(operator_id, 0), shortcut);

CREATE TABLE invitation_rule (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL REFERENCES site(id),
	name TEXT NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 1,
	priority INTEGER NOT NULL DEFAULT 0,
	conditions TEXT NOT NULL DEFAULT '{}',
	message TEXT NOT NULL,
	department_id INTEGER REFERENCES department(id),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE invitation (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	site_id INTEGER NOT NULL,
	vid TEXT NOT NULL,
	visit_id INTEGER,
	rule_id INTEGER REFERENCES invitation_rule(id),
	operator_id INTEGER REFERENCES operator(id),
	message TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('offered', 'shown', 'accepted', 'dismissed', 'ignored')),
	conversation_id INTEGER,
	created_at INTEGER NOT NULL,
	responded_at INTEGER
);
CREATE INDEX invitation_visitor ON invitation(site_id, vid, created_at);
CREATE INDEX invitation_rule_idx ON invitation(rule_id, created_at);
