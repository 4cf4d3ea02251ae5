package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Position is one stored fix. Unknown optional values are NaN (floats),
// -1 (Battery, Sats) or "" (Alarm, Attributes).
type Position struct {
	DeviceID    int64
	FixTime     time.Time
	RecvTime    time.Time
	Lat, Lon    float64
	Valid       bool
	Approximate bool
	AccuracyM   float32
	SpeedKmh    float32
	Course      float32
	AltitudeM   float32
	Sats        int16
	HDOP        float32
	Battery     int16
	Alarm       string
	Source      string // "tracker" or "phone"
	Attributes  string // JSON object or ""
}

// NaN32 marks an unknown optional float.
var NaN32 = float32(math.NaN())

// PositionBatch holds a batch as column slices, reused between flushes so a
// writer does not allocate per row.
type PositionBatch struct {
	dev                        []int64
	fix, recv                  []time.Time
	lat, lon                   []float64
	valid, approx              []bool
	acc, speed, course, alt, h []float32
	sats, batt                 []int16
	alarm, source, attrs       []string
}

// Reset empties the batch, keeping its storage.
func (b *PositionBatch) Reset() {
	b.dev, b.fix, b.recv = b.dev[:0], b.fix[:0], b.recv[:0]
	b.lat, b.lon, b.valid, b.approx = b.lat[:0], b.lon[:0], b.valid[:0], b.approx[:0]
	b.acc, b.speed, b.course, b.alt, b.h = b.acc[:0], b.speed[:0], b.course[:0], b.alt[:0], b.h[:0]
	b.sats, b.batt = b.sats[:0], b.batt[:0]
	b.alarm, b.source, b.attrs = b.alarm[:0], b.source[:0], b.attrs[:0]
}

// Len is the number of rows.
func (b *PositionBatch) Len() int { return len(b.dev) }

// Add appends a row.
func (b *PositionBatch) Add(p *Position) {
	b.dev = append(b.dev, p.DeviceID)
	b.fix = append(b.fix, p.FixTime)
	b.recv = append(b.recv, p.RecvTime)
	b.lat = append(b.lat, p.Lat)
	b.lon = append(b.lon, p.Lon)
	b.valid = append(b.valid, p.Valid)
	b.approx = append(b.approx, p.Approximate)
	b.acc = append(b.acc, p.AccuracyM)
	b.speed = append(b.speed, p.SpeedKmh)
	b.course = append(b.course, p.Course)
	b.alt = append(b.alt, p.AltitudeM)
	b.h = append(b.h, p.HDOP)
	b.sats = append(b.sats, p.Sats)
	b.batt = append(b.batt, p.Battery)
	b.alarm = append(b.alarm, p.Alarm)
	source := p.Source
	if source == "" {
		source = "tracker"
	}
	b.source = append(b.source, source)
	b.attrs = append(b.attrs, p.Attributes)
}

// insertPositionsSQL inserts a batch from column arrays. ON CONFLICT DO
// NOTHING makes a resent fix (a device that missed our ack) harmless. The
// same statement moves each device's last position forward, never back:
// late uploads of old fixes must not rewind the live map.
const insertPositionsSQL = `
WITH rows AS (
	SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[],
		$6::bool[], $7::bool[], $8::real[], $9::real[], $10::real[], $11::real[], $12::smallint[], $13::real[],
		$14::smallint[], $15::text[], $16::text[], $17::text[])
		AS r(device_id, fix_time, recv_time, lat, lon, valid, approximate, accuracy_m, speed_kmh, course,
		     altitude_m, sats, hdop, battery, alarm, source, attributes)
), ins AS (
	INSERT INTO positions (device_id, fix_time, recv_time, lat, lon, valid, approximate, accuracy_m, speed_kmh,
		course, altitude_m, sats, hdop, battery, alarm, source, attributes)
	SELECT device_id, fix_time, recv_time, lat, lon, valid, approximate, nullif(accuracy_m, 'NaN'),
		nullif(speed_kmh, 'NaN'), nullif(course, 'NaN'), nullif(altitude_m, 'NaN'), nullif(sats, -1),
		nullif(hdop, 'NaN'), nullif(battery, -1), nullif(alarm, ''), source, nullif(attributes, '')::jsonb
	FROM rows
	ON CONFLICT DO NOTHING
	RETURNING 1
), last AS (
	SELECT DISTINCT ON (device_id) * FROM rows ORDER BY device_id, fix_time DESC
), up AS (
	INSERT INTO device_last_position AS d (device_id, fix_time, recv_time, lat, lon, valid, speed_kmh, course, battery, alarm)
	SELECT l.device_id, l.fix_time, l.recv_time, l.lat, l.lon, l.valid, nullif(l.speed_kmh, 'NaN'), nullif(l.course, 'NaN'),
		nullif(l.battery, -1), nullif(l.alarm, '')
	FROM last l JOIN devices dv ON dv.id = l.device_id
	ON CONFLICT (device_id) DO UPDATE SET fix_time = excluded.fix_time, recv_time = excluded.recv_time,
		lat = excluded.lat, lon = excluded.lon, valid = excluded.valid, speed_kmh = excluded.speed_kmh,
		course = excluded.course, battery = coalesce(excluded.battery, d.battery), alarm = excluded.alarm
	WHERE excluded.fix_time >= d.fix_time
	RETURNING 1
)
SELECT (SELECT count(*) FROM ins)`

// insertOnlySQL is the ingest hot path: positions only. The last position
// of each device is kept by UpsertLastPositions, coalesced per second,
// because upserting it per batch cost more than the insert itself.
const insertOnlySQL = `
INSERT INTO positions (device_id, fix_time, recv_time, lat, lon, valid, approximate, accuracy_m, speed_kmh,
	course, altitude_m, sats, hdop, battery, alarm, source, attributes)
SELECT device_id, fix_time, recv_time, lat, lon, valid, approximate, nullif(accuracy_m, 'NaN'),
	nullif(speed_kmh, 'NaN'), nullif(course, 'NaN'), nullif(altitude_m, 'NaN'), nullif(sats, -1),
	nullif(hdop, 'NaN'), nullif(battery, -1), nullif(alarm, ''), source, nullif(attributes, '')::jsonb
FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[],
	$6::bool[], $7::bool[], $8::real[], $9::real[], $10::real[], $11::real[], $12::smallint[], $13::real[],
	$14::smallint[], $15::text[], $16::text[], $17::text[])
	AS r(device_id, fix_time, recv_time, lat, lon, valid, approximate, accuracy_m, speed_kmh, course,
	     altitude_m, sats, hdop, battery, alarm, source, attributes)
ON CONFLICT DO NOTHING`

// InsertPositionsOnly stores the batch in one statement without touching
// the devices' last positions (the caller keeps them: see
// UpsertLastPositions). It returns how many rows were new.
func (s *Store) InsertPositionsOnly(ctx context.Context, b *PositionBatch) (int64, error) {
	if b.Len() == 0 {
		return 0, nil
	}
	tag, err := s.Pool.Exec(ctx, insertOnlySQL, b.dev, b.fix, b.recv, b.lat, b.lon, b.valid, b.approx,
		b.acc, b.speed, b.course, b.alt, b.sats, b.h, b.batt, b.alarm, b.source, b.attrs)
	if err != nil {
		return 0, fmt.Errorf("store: insert positions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// UpsertLastPositions moves each device's last position forward to the
// given fix (one per device), never back: a late upload of old fixes must
// not rewind the live map.
func (s *Store) UpsertLastPositions(ctx context.Context, ps []Position) error {
	if len(ps) == 0 {
		return nil
	}
	var b PositionBatch
	for i := range ps {
		b.Add(&ps[i])
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO device_last_position AS d (device_id, fix_time, recv_time, lat, lon, valid, speed_kmh, course, battery, alarm)
		SELECT l.device_id, l.fix_time, l.recv_time, l.lat, l.lon, l.valid, nullif(l.speed_kmh, 'NaN'), nullif(l.course, 'NaN'),
			nullif(l.battery, -1), nullif(l.alarm, '')
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[], $6::bool[],
			$7::real[], $8::real[], $9::smallint[], $10::text[])
			AS l(device_id, fix_time, recv_time, lat, lon, valid, speed_kmh, course, battery, alarm)
		JOIN devices dv ON dv.id = l.device_id
		ON CONFLICT (device_id) DO UPDATE SET fix_time = excluded.fix_time, recv_time = excluded.recv_time,
			lat = excluded.lat, lon = excluded.lon, valid = excluded.valid, speed_kmh = excluded.speed_kmh,
			course = excluded.course, battery = coalesce(excluded.battery, d.battery), alarm = excluded.alarm
		WHERE excluded.fix_time >= d.fix_time`,
		b.dev, b.fix, b.recv, b.lat, b.lon, b.valid, b.speed, b.course, b.batt, b.alarm)
	if err != nil {
		return fmt.Errorf("store: last positions: %w", err)
	}
	return nil
}

// InsertPositions stores the batch in one statement (one commit). It returns
// how many rows were new; duplicates are skipped. When it returns nil every
// row is durable (as durable as the server's fsync settings make it).
func (s *Store) InsertPositions(ctx context.Context, b *PositionBatch) (int64, error) {
	if b.Len() == 0 {
		return 0, nil
	}
	var n int64
	err := s.Pool.QueryRow(ctx, insertPositionsSQL, b.dev, b.fix, b.recv, b.lat, b.lon, b.valid, b.approx,
		b.acc, b.speed, b.course, b.alt, b.sats, b.h, b.batt, b.alarm, b.source, b.attrs).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: insert positions: %w", err)
	}
	return n, nil
}

// PositionsBetween returns a device's fixes with from <= fix_time < to, in
// time order.
func (s *Store) PositionsBetween(ctx context.Context, deviceID int64, from, to time.Time) ([]Position, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT device_id, fix_time, recv_time, lat, lon, valid, approximate, coalesce(accuracy_m, 'NaN'),
			coalesce(speed_kmh, 'NaN'), coalesce(course, 'NaN'), coalesce(altitude_m, 'NaN'), coalesce(sats, -1),
			coalesce(hdop, 'NaN'), coalesce(battery, -1), coalesce(alarm, ''), source, coalesce(attributes::text, '')
		FROM positions WHERE device_id = $1 AND fix_time >= $2 AND fix_time < $3 ORDER BY fix_time`,
		deviceID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	defer rows.Close()
	var out []Position
	for rows.Next() {
		var p Position
		if err := rows.Scan(&p.DeviceID, &p.FixTime, &p.RecvTime, &p.Lat, &p.Lon, &p.Valid, &p.Approximate,
			&p.AccuracyM, &p.SpeedKmh, &p.Course, &p.AltitudeM, &p.Sats, &p.HDOP, &p.Battery, &p.Alarm,
			&p.Source, &p.Attributes); err != nil {
			return nil, fmt.Errorf("store: positions: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// LastPosition is a device's newest fix.
type LastPosition struct {
	DeviceID int64
	FixTime  time.Time
	Lat, Lon float64
	Valid    bool
	Battery  int16
	Alarm    string
}

// LastPositionOf returns the device's newest fix or ErrNotFound.
func (s *Store) LastPositionOf(ctx context.Context, deviceID int64) (LastPosition, error) {
	var p LastPosition
	err := s.Pool.QueryRow(ctx, `SELECT device_id, fix_time, lat, lon, valid, coalesce(battery, -1), coalesce(alarm, '')
		FROM device_last_position WHERE device_id = $1`, deviceID).
		Scan(&p.DeviceID, &p.FixTime, &p.Lat, &p.Lon, &p.Valid, &p.Battery, &p.Alarm)
	if err != nil {
		return p, notFound(err)
	}
	return p, nil
}
