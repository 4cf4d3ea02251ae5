-- Clients with their home geofences, assignments, and detected visits.

CREATE TABLE clients (
	id          bigserial PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	full_name   text NOT NULL,
	address     text NOT NULL DEFAULT '',
	phone       text NOT NULL DEFAULT '',
	notes       text NOT NULL DEFAULT '',
	-- The home geofence: a circle (centre, radius in metres) or a polygon
	-- (GeoJSON-order [[lon, lat], ...] exterior ring).
	fence_kind  text NOT NULL DEFAULT 'circle' CHECK (fence_kind IN ('circle', 'polygon')),
	center_lat  double precision,
	center_lon  double precision,
	radius_m    real,
	polygon     jsonb,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	CHECK (fence_kind <> 'circle' OR (center_lat IS NOT NULL AND center_lon IS NOT NULL AND radius_m > 0)),
	CHECK (fence_kind <> 'polygon' OR polygon IS NOT NULL)
);
CREATE INDEX clients_org_idx ON clients (org_id);

CREATE TABLE worker_clients (
	worker_id bigint NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
	client_id bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	PRIMARY KEY (worker_id, client_id)
);
CREATE INDEX worker_clients_client_idx ON worker_clients (client_id);

-- Per-organisation settings for visit detection.
ALTER TABLE organisations ADD COLUMN min_visit_minutes int NOT NULL DEFAULT 15;

-- Detected visits. Open visits (end_time NULL) are in progress. Detection is
-- re-run when late fixes touch a period: the visits of that device and span
-- are replaced as a whole.
CREATE TABLE visits (
	id          bigserial PRIMARY KEY,
	org_id      bigint REFERENCES organisations(id) ON DELETE CASCADE,
	device_id   bigint NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	worker_id   bigint REFERENCES workers(id) ON DELETE SET NULL,
	client_id   bigint NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
	start_time  timestamptz NOT NULL,
	end_time    timestamptz,
	last_seen   timestamptz NOT NULL,
	duration_s  int NOT NULL DEFAULT 0,
	flags       text[] NOT NULL DEFAULT '{}',
	evidence    jsonb NOT NULL DEFAULT '{}',
	updated_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (device_id, client_id, start_time)
);
CREATE INDEX visits_org_time_idx ON visits (org_id, start_time);
CREATE INDEX visits_device_time_idx ON visits (device_id, start_time);
