package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LiveWorker is a worker on the live map: the device's newest fix, a
// recent SOS and the open visit, if any.
type LiveWorker struct {
	WorkerID   int64
	WorkerName string
	GroupID    int64
	DeviceID   int64 // 0 = no device
	HasFix     bool
	FixTime    time.Time
	Lat, Lon   float64
	Valid      bool
	SpeedKmh   float64 // -1 = unknown
	Battery    int     // -1 = unknown
	SOSAt      time.Time
	VisitID    int64 // open visit, 0 = none
	ClientID   int64
	ClientName string
	VisitStart time.Time
}

// LiveWorkers lists the workers in scope with their devices' newest fixes;
// an SOS counts when a fix with alarm 'sos' is newer than sosSince.
func (s *Store) LiveWorkers(ctx context.Context, sc Scope, sosSince time.Time) ([]LiveWorker, error) {
	rows, err := s.Pool.Query(ctx, `SELECT w.id, w.full_name, coalesce(w.group_id, 0), coalesce(d.id, 0),
		lp.device_id IS NOT NULL, coalesce(lp.fix_time, '0001-01-01Z'), coalesce(lp.lat, 0), coalesce(lp.lon, 0),
		coalesce(lp.valid, false), coalesce(lp.speed_kmh, -1), coalesce(lp.battery, -1),
		coalesce(sos.at, '0001-01-01Z'), coalesce(ov.id, 0), coalesce(ov.client_id, 0), coalesce(c.full_name, ''),
		coalesce(ov.start_time, '0001-01-01Z')
		FROM workers w
		LEFT JOIN devices d ON d.id = w.device_id AND d.org_id = w.org_id
		LEFT JOIN device_last_position lp ON lp.device_id = d.id
		LEFT JOIN LATERAL (SELECT max(p.fix_time) AS at FROM positions p
			WHERE p.device_id = d.id AND p.alarm = 'sos' AND p.fix_time > $3) sos ON true
		LEFT JOIN LATERAL (SELECT v.id, v.client_id, v.start_time FROM visits v
			WHERE v.device_id = d.id AND v.end_time IS NULL ORDER BY v.start_time DESC LIMIT 1) ov ON true
		LEFT JOIN clients c ON c.id = ov.client_id
		WHERE w.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))
		ORDER BY w.full_name, w.id`, sc.OrgID, sc.Groups, sosSince)
	if err != nil {
		return nil, fmt.Errorf("store: live workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LiveWorker, error) {
		var l LiveWorker
		var speed float32
		var batt int16
		err := r.Scan(&l.WorkerID, &l.WorkerName, &l.GroupID, &l.DeviceID, &l.HasFix, &l.FixTime, &l.Lat, &l.Lon,
			&l.Valid, &speed, &batt, &l.SOSAt, &l.VisitID, &l.ClientID, &l.ClientName, &l.VisitStart)
		l.SpeedKmh, l.Battery = float64(speed), int(batt)
		l.FixTime, l.SOSAt, l.VisitStart = zeroYear1(l.FixTime), zeroYear1(l.SOSAt), zeroYear1(l.VisitStart)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: live workers: %w", err)
	}
	return out, nil
}
