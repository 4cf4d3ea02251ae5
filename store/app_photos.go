package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Photo is a photo report from the app. Data is filled only by the
// methods that serve the image.
type Photo struct {
	ID          int64
	OrgID       int64
	WorkerID    int64
	DeviceID    int64
	ClientID    int64
	At          time.Time
	Lat, Lon    *float64   // the device's last known place; nil: none
	PlaceAt     *time.Time // fix time of that place
	ContentType string
	Size        int
	Width       int
	Height      int
	Note        string
	Data        []byte
}

// AddPhoto stores a photo report and returns its id.
func (s *Store) AddPhoto(ctx context.Context, p Photo) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO photos (org_id, worker_id, device_id, client_id, at, lat, lon, place_at,
			content_type, size, width, height, data, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		p.OrgID, p.WorkerID, nullID(p.DeviceID), p.ClientID, p.At, p.Lat, p.Lon, p.PlaceAt,
		p.ContentType, len(p.Data), p.Width, p.Height, p.Data, p.Note).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add photo: %w", err)
	}
	return id, nil
}

const photoCols = `p.id, p.org_id, p.worker_id, coalesce(p.device_id, 0), p.client_id, p.at, p.lat, p.lon, p.place_at,
	p.content_type, p.size, p.width, p.height, p.note`

func scanPhoto(r pgx.Row, withData bool) (Photo, error) {
	var p Photo
	dst := []any{&p.ID, &p.OrgID, &p.WorkerID, &p.DeviceID, &p.ClientID, &p.At, &p.Lat, &p.Lon, &p.PlaceAt,
		&p.ContentType, &p.Size, &p.Width, &p.Height, &p.Note}
	if withData {
		dst = append(dst, &p.Data)
	}
	return p, notFound(r.Scan(dst...))
}

// WorkerPhoto returns one of the worker's own photos, with the image;
// ErrNotFound for anyone else's.
func (s *Store) WorkerPhoto(ctx context.Context, orgID, workerID, id int64) (Photo, error) {
	return scanPhoto(s.Pool.QueryRow(ctx, `SELECT `+photoCols+`, p.data FROM photos p
		WHERE p.id = $1 AND p.org_id = $2 AND p.worker_id = $3`, id, orgID, workerID), true)
}

// Photo returns a photo with the image if the scope may see it (its
// organisation; for a supervisor, a worker of their groups).
func (s *Store) Photo(ctx context.Context, sc Scope, id int64) (Photo, error) {
	return scanPhoto(s.Pool.QueryRow(ctx, `SELECT `+photoCols+`, p.data FROM photos p JOIN workers w ON w.id = p.worker_id
		WHERE p.id = $1 AND p.org_id = $2 AND ($3::bigint[] IS NULL OR w.group_id = ANY($3))`,
		id, sc.OrgID, scopeGroups(sc)), true)
}

// Photos lists, without the images, the photos taken at a client (clientID
// 0: every client) with from <= at < to that the scope may see, in time
// order. The image is at /staff/photos/{id}.
func (s *Store) Photos(ctx context.Context, sc Scope, clientID int64, from, to time.Time) ([]Photo, error) {
	return s.photos(ctx, sc, clientID, 0, from, to)
}

// WorkerPhotos lists a worker's photos like Photos.
func (s *Store) WorkerPhotos(ctx context.Context, sc Scope, workerID int64, from, to time.Time) ([]Photo, error) {
	return s.photos(ctx, sc, 0, workerID, from, to)
}

func (s *Store) photos(ctx context.Context, sc Scope, clientID, workerID int64, from, to time.Time) ([]Photo, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+photoCols+` FROM photos p JOIN workers w ON w.id = p.worker_id
		WHERE p.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)) AND ($3 = 0 OR p.client_id = $3)
			AND ($4 = 0 OR p.worker_id = $4) AND p.at >= $5 AND p.at < $6
		ORDER BY p.at, p.id`, sc.OrgID, scopeGroups(sc), clientID, workerID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: photos: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Photo, error) { return scanPhoto(r, false) })
}
