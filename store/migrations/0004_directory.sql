-- Shared model of the staff cabinet: services with norms, clients'
-- programmes, planned visits, what workers report from the app, and visit
-- maintenance. Feature code lives in separate store files.

-- Services catalogue: cooking takes at least 30 minutes, say.
CREATE TABLE services (
	id           bigserial PRIMARY KEY,
	org_id       bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	name         text NOT NULL,
	norm_minutes int NOT NULL DEFAULT 0 CHECK (norm_minutes >= 0),
	active       boolean NOT NULL DEFAULT true,
	UNIQUE (org_id, name)
);

-- A client's services, from the individual programme (IPPSU).
CREATE TABLE client_services (
	client_id  bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	service_id bigint NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (client_id, service_id)
);

-- Planned visits: every week on weekday (ISO: 1 = Monday) between
-- start_min and end_min minutes after local midnight (organisation's zone).
CREATE TABLE planned_visits (
	id          bigserial PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	client_id   bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	worker_id   bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
	start_min   int NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
	end_min     int NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
	service_ids bigint[] NOT NULL DEFAULT '{}',
	active      boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now(),
	CHECK (end_min > start_min)
);
CREATE INDEX planned_visits_org_idx ON planned_visits (org_id, weekday);

-- A planned window that passed with no visit.
CREATE TABLE missed_visits (
	id               bigserial PRIMARY KEY,
	org_id           bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	planned_visit_id bigint NOT NULL REFERENCES planned_visits(id) ON DELETE CASCADE,
	client_id        bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	worker_id        bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	window_start     timestamptz NOT NULL,
	window_end       timestamptz NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	UNIQUE (planned_visit_id, window_start)
);
CREATE INDEX missed_visits_org_idx ON missed_visits (org_id, window_start);

-- Services a worker ticked in the app at a client. Tied to worker, client
-- and time, not to a visit row: detection may re-evaluate visits; the log
-- joins ticks that fall within a visit.
CREATE TABLE service_ticks (
	id         bigserial PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	worker_id  bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	client_id  bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	service_id bigint NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	at         timestamptz NOT NULL,
	UNIQUE (worker_id, client_id, service_id, at)
);
CREATE INDEX service_ticks_time_idx ON service_ticks (worker_id, client_id, at);

-- Supervisor's maintenance of a visit: the detected times stay in visits;
-- a confirmation or correction is kept here (newest wins), always with a
-- reason, and each change is also in audit_log.
CREATE TABLE visit_reviews (
	id            bigserial PRIMARY KEY,
	visit_id      bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
	user_id       bigint REFERENCES users(id) ON DELETE SET NULL,
	at            timestamptz NOT NULL DEFAULT now(),
	status        text NOT NULL CHECK (status IN ('confirmed', 'corrected', 'annotated', 'rejected')),
	start_time    timestamptz,
	end_time      timestamptz,
	reason        text NOT NULL CHECK (length(reason) > 0)
);
CREATE INDEX visit_reviews_visit_idx ON visit_reviews (visit_id, at DESC);

-- Citizen's view of a visit: confirmed or disputed, with a rating.
CREATE TABLE visit_feedback (
	id          bigserial PRIMARY KEY,
	visit_id    bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
	user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
	at          timestamptz NOT NULL DEFAULT now(),
	status      text NOT NULL CHECK (status IN ('confirmed', 'disputed')),
	rating      smallint CHECK (rating BETWEEN 1 AND 5),
	comment     text NOT NULL DEFAULT '',
	resolved_at timestamptz,
	UNIQUE (visit_id, user_id)
);

-- Alerts for the cabinet (and e-mail where configured).
CREATE TABLE alerts (
	id         bigserial PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	kind       text NOT NULL CHECK (kind IN ('sos', 'short_visit', 'missed_visit', 'offline', 'low_battery', 'dispute', 'mock_location')),
	worker_id  bigint REFERENCES workers(id) ON DELETE CASCADE,
	device_id  bigint REFERENCES devices(id) ON DELETE CASCADE,
	client_id  bigint REFERENCES clients(id) ON DELETE CASCADE,
	visit_id   bigint REFERENCES visits(id) ON DELETE SET NULL,
	at         timestamptz NOT NULL DEFAULT now(),
	-- one alert per subject and period (e.g. per visit, per device and day)
	dedup_key  text NOT NULL,
	details    jsonb NOT NULL DEFAULT '{}',
	seen_at    timestamptz,
	seen_by    bigint REFERENCES users(id) ON DELETE SET NULL,
	UNIQUE (org_id, kind, dedup_key)
);
CREATE INDEX alerts_org_idx ON alerts (org_id, at DESC);

-- A phone with the worker app authenticates with a token (hashed here);
-- trackers are identified by IMEI instead.
ALTER TABLE devices ADD COLUMN token_hash bytea UNIQUE;
