-- Organisations, workers, devices and positions: the ingest core.

CREATE TABLE organisations (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL,
	timezone   text NOT NULL DEFAULT 'Europe/Moscow',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
	id         bigserial PRIMARY KEY,
	org_id     bigint REFERENCES organisations(id) ON DELETE CASCADE,
	-- ident is what the device says it is: IMEI (GT06), id (H02, watch, OsmAnd).
	ident      text NOT NULL UNIQUE,
	protocol   text NOT NULL CHECK (protocol IN ('gt06', 'h02', 'watch', 'osmand', 'app')),
	model      text NOT NULL DEFAULT '',
	name       text NOT NULL DEFAULT '',
	disabled   boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
	id         bigserial PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
	full_name  text NOT NULL,
	phone      text NOT NULL DEFAULT '',
	device_id  bigint UNIQUE REFERENCES devices(id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workers_org_idx ON workers (org_id);

-- Devices that connected but are not registered, for one-click registration.
CREATE TABLE unknown_devices (
	protocol    text NOT NULL,
	ident       text NOT NULL,
	remote_addr text NOT NULL DEFAULT '',
	first_seen  timestamptz NOT NULL DEFAULT now(),
	last_seen   timestamptz NOT NULL DEFAULT now(),
	seen_count  bigint NOT NULL DEFAULT 1,
	PRIMARY KEY (protocol, ident)
);

-- One row per device and fix time: a resent fix is stored once. Partitioned
-- by week on fix_time; late fixes land in their own week.
CREATE TABLE positions (
	device_id   bigint NOT NULL,
	fix_time    timestamptz NOT NULL,
	recv_time   timestamptz NOT NULL DEFAULT now(),
	lat         double precision NOT NULL,
	lon         double precision NOT NULL,
	valid       boolean NOT NULL,
	approximate boolean NOT NULL DEFAULT false,
	accuracy_m  real,
	speed_kmh   real,
	course      real,
	altitude_m  real,
	sats        smallint,
	hdop        real,
	battery     smallint,
	alarm       text,
	source      text NOT NULL DEFAULT 'tracker',
	attributes  jsonb,
	PRIMARY KEY (device_id, fix_time)
) PARTITION BY RANGE (fix_time);

-- Catches fixes outside the prepared weeks (devices with a wrong clock). It
-- should stay nearly empty; a partition cannot be created over rows held here.
CREATE TABLE positions_default PARTITION OF positions DEFAULT;

CREATE INDEX positions_fix_time_brin ON positions USING brin (fix_time timestamptz_minmax_multi_ops);

-- Creates the weekly partitions covering [from_week, from_week + weeks).
CREATE FUNCTION ensure_position_partitions(from_ts timestamptz, weeks int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	start_ts timestamptz := date_trunc('week', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
	i int;
	lo timestamptz;
	hi timestamptz;
	name text;
BEGIN
	FOR i IN 0 .. weeks - 1 LOOP
		lo := start_ts + make_interval(weeks => i);
		hi := lo + interval '1 week';
		name := 'positions_' || to_char(lo AT TIME ZONE 'UTC', 'IYYY"w"IW');
		IF to_regclass(name) IS NULL THEN
			BEGIN
				EXECUTE format('CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
			EXCEPTION WHEN check_violation THEN
				-- rows for this week already sit in positions_default: leave them.
				RAISE WARNING 'partition % not created: rows in positions_default', name;
			END;
		END IF;
	END LOOP;
END $$;

-- The device's newest fix, kept current by the ingest writer.
CREATE TABLE device_last_position (
	device_id  bigint PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
	fix_time   timestamptz NOT NULL,
	recv_time  timestamptz NOT NULL,
	lat        double precision NOT NULL,
	lon        double precision NOT NULL,
	valid      boolean NOT NULL,
	speed_kmh  real,
	course     real,
	battery    smallint,
	alarm      text
);
