-- Staff cabinet foundations: users, sessions, groups, audit log.

CREATE TABLE groups (
	id         bigserial PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	name       text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);

ALTER TABLE workers ADD COLUMN group_id bigint REFERENCES groups(id) ON DELETE SET NULL;

-- Users of the cabinets. Staff users belong to an organisation; a platform
-- administrator has none. Citizens (care recipients and relatives) have
-- role 'citizen'.
CREATE TABLE users (
	id              bigserial PRIMARY KEY,
	org_id          bigint REFERENCES organisations(id) ON DELETE CASCADE,
	email           text NOT NULL,
	full_name       text NOT NULL,
	role            text NOT NULL CHECK (role IN ('platform', 'admin', 'supervisor', 'worker', 'auditor', 'citizen')),
	password_hash   text NOT NULL,
	locale          text NOT NULL DEFAULT 'ru',
	worker_id       bigint REFERENCES workers(id) ON DELETE SET NULL,
	failed_logins   int NOT NULL DEFAULT 0,
	locked_until    timestamptz,
	email_confirmed boolean NOT NULL DEFAULT true,
	disabled        boolean NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL DEFAULT now(),
	CHECK (role IN ('platform', 'citizen') OR org_id IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- Supervisors see the workers of their groups.
CREATE TABLE supervisor_groups (
	user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	PRIMARY KEY (user_id, group_id)
);

-- Sessions: only the SHA-256 of the cookie token is stored, so a leaked
-- table does not let anyone in.
CREATE TABLE sessions (
	token_hash bytea PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	user_agent text NOT NULL DEFAULT '',
	ip         text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

-- One-time tokens (password reset, e-mail confirmation), hashed like sessions.
CREATE TABLE user_tokens (
	token_hash bytea PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'email_confirm', 'email_change')),
	data       text NOT NULL DEFAULT '',
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);

-- Who changed what: visit corrections, directory edits, staff access to a
-- citizen's record. before/after are JSON snapshots.
CREATE TABLE audit_log (
	id         bigserial PRIMARY KEY,
	org_id     bigint REFERENCES organisations(id) ON DELETE CASCADE,
	user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
	at         timestamptz NOT NULL DEFAULT now(),
	action     text NOT NULL,
	entity     text NOT NULL,
	entity_id  bigint,
	reason     text NOT NULL DEFAULT '',
	before     jsonb,
	after      jsonb
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, at DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);
