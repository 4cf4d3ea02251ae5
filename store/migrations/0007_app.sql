-- Worker app: check-ins, photo reports and messages between coordinators
-- and workers. Positions from the app go to positions (source 'phone').

-- A worker's own claim "I arrived / I left" at a client, with the phone's
-- position at that moment: evidence shown beside the detected visit.
CREATE TABLE app_checkins (
	id         bigserial PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	worker_id  bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	device_id  bigint REFERENCES devices(id) ON DELETE SET NULL,
	client_id  bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	kind       text NOT NULL CHECK (kind IN ('in', 'out')),
	at         timestamptz NOT NULL,
	lat        double precision,
	lon        double precision,
	accuracy_m real,
	mock       boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((lat IS NULL) = (lon IS NULL)),
	-- a resent check-in (the app retried after a lost answer) is stored once
	UNIQUE (worker_id, client_id, kind, at)
);
CREATE INDEX app_checkins_client_idx ON app_checkins (org_id, client_id, at);

-- Photo reports, kept in the database: one backup holds everything. The
-- server stamps the time and the device's last known place.
CREATE TABLE photos (
	id           bigserial PRIMARY KEY,
	org_id       bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	worker_id    bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	device_id    bigint REFERENCES devices(id) ON DELETE SET NULL,
	client_id    bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	at           timestamptz NOT NULL DEFAULT now(),
	lat          double precision,
	lon          double precision,
	place_at     timestamptz, -- fix time of the place (how stale it is)
	content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
	size         int NOT NULL CHECK (size > 0),
	width        int NOT NULL DEFAULT 0,
	height       int NOT NULL DEFAULT 0,
	data         bytea NOT NULL,
	note         text NOT NULL DEFAULT ''
);
CREATE INDEX photos_client_idx ON photos (org_id, client_id, at);
CREATE INDEX photos_worker_idx ON photos (worker_id, at);

-- Messages between the organisation's coordinators and a worker: one
-- conversation per worker. from_worker tells the direction; read_at is when
-- the other side read it.
CREATE TABLE messages (
	id          bigserial PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	worker_id   bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	from_worker boolean NOT NULL,
	user_id     bigint REFERENCES users(id) ON DELETE SET NULL, -- the staff author
	body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
	at          timestamptz NOT NULL DEFAULT now(),
	read_at     timestamptz,
	-- the app's own id for a message, so a retried send is stored once
	client_ref  text
);
CREATE INDEX messages_worker_idx ON messages (worker_id, id);
CREATE INDEX messages_org_idx ON messages (org_id, at DESC);
CREATE UNIQUE INDEX messages_ref_idx ON messages (worker_id, client_ref) WHERE client_ref IS NOT NULL;
