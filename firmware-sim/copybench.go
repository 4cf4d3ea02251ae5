package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"carevisit/store"
)

// copyColumns are the positions columns the ingest writer fills.
var copyColumns = []string{"device_id", "fix_time", "recv_time", "lat", "lon", "valid", "approximate",
	"accuracy_m", "speed_kmh", "course", "altitude_m", "sats", "hdop", "battery", "alarm", "source", "attributes"}

// cmdCopyBench measures the raw COPY ceiling of the positions table: rows
// shaped like the ones GT06 locations produce, in transactions of -batch
// rows from -writers connections, as the ingest writers commit them.
// -mode insert runs the ingest writer's own statement (store.InsertPositionsOnly:
// unnest, ON CONFLICT DO NOTHING; last positions are written apart) on the same rows for
// registered devices, to separate the database's share from the server's.
func cmdCopyBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (env DATABASE_URL)")
	rows := fs.Int("rows", 400000, "rows to copy")
	batch := fs.Int("batch", 2000, "rows per COPY (one transaction each)")
	writers := fs.Int("writers", 2, "concurrent connections")
	devices := fs.Int("devices", 10000, "distinct device ids")
	firstID := fs.Int64("device-id-base", 1_000_000_000, "first device id (rows are deleted afterwards)")
	maxTime := fs.Duration("max-time", 60*time.Second, "stop after this long")
	keep := fs.Bool("keep", false, "keep the copied rows")
	mode := fs.String("mode", "copy", "copy (COPY FROM) or insert (the ingest writer's INSERT, registered devices)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("copybench: set DATABASE_URL or -database-url")
	}
	if *batch < 1 || *writers < 1 || *devices < 1 || *rows < 1 {
		return errors.New("copybench: -rows, -batch, -writers and -devices must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *maxTime+30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, *dsn, int32(*writers+1))
	if err != nil {
		return err
	}
	defer st.Close()
	pool := st.Pool
	if *mode != "copy" && *mode != "insert" {
		return fmt.Errorf("copybench: -mode %q: want copy or insert", *mode)
	}
	ids := make([]int64, *devices)
	for i := range ids {
		ids[i] = *firstID + int64(i)
	}
	if *mode == "insert" {
		// Real devices: the last-position upsert joins devices.
		rows, err := pool.Query(ctx, `SELECT id FROM devices ORDER BY id LIMIT $1`, *devices)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(ids) < *devices {
			return fmt.Errorf("copybench: -mode insert needs %d registered devices, found %d", *devices, len(ids))
		}
	}

	// Fix times: device d's k-th row is base + k seconds, as from a tracker.
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	recv := time.Now()
	const attrs = `{"mcc":250,"mnc":1,"lac":7701,"cid":20001}`
	var next atomic.Int64
	var copied atomic.Int64
	deadline := time.Now().Add(*maxTime)
	var wg sync.WaitGroup
	errc := make(chan error, *writers)
	t0 := time.Now()
	for range *writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([][]any, 0, *batch)
			var pb store.PositionBatch
			for time.Now().Before(deadline) {
				start := next.Add(int64(*batch)) - int64(*batch)
				if start >= int64(*rows) {
					return
				}
				end := min(start+int64(*batch), int64(*rows))
				buf = buf[:0]
				pb.Reset()
				for i := start; i < end; i++ {
					dev := ids[i%int64(*devices)]
					fix := base.Add(time.Duration(i/int64(*devices)) * time.Second)
					lat := 54.6 + float64(i%1000)*1e-5
					if *mode == "insert" {
						pb.Add(&store.Position{DeviceID: dev, FixTime: fix, RecvTime: recv, Lat: lat, Lon: 39.7,
							Valid: true, AccuracyM: store.NaN32, SpeedKmh: 5, Course: 90, AltitudeM: store.NaN32,
							Sats: 9, HDOP: store.NaN32, Battery: -1, Source: "tracker", Attributes: attrs})
						continue
					}
					buf = append(buf, []any{dev, fix, recv, lat, 39.7, true, false, nil, float32(5), float32(90),
						nil, int16(9), nil, nil, nil, "tracker", attrs})
				}
				var n int64
				var err error
				if *mode == "insert" {
					n, err = st.InsertPositionsOnly(ctx, &pb)
				} else {
					n, err = pool.CopyFrom(ctx, pgx.Identifier{"positions"}, copyColumns, pgx.CopyFromRows(buf))
				}
				if err != nil {
					errc <- err
					return
				}
				copied.Add(n)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("copybench: %w", err)
	}
	n := copied.Load()
	fmt.Fprintf(stdout, "%s: %d rows in %.2fs: %.0f rows/s (batch %d, writers %d)\n", *mode, n, elapsed.Seconds(),
		float64(n)/elapsed.Seconds(), *batch, *writers)
	fmt.Fprintf(stdout, "RESULT mode=%s rows=%d seconds=%.3f rows_per_s=%.0f batch=%d writers=%d\n", *mode, n,
		elapsed.Seconds(), float64(n)/elapsed.Seconds(), *batch, *writers)
	if !*keep {
		last := base.Add(time.Duration(int64(*rows)/int64(*devices)+1) * time.Second)
		if _, err := pool.Exec(ctx, `DELETE FROM positions WHERE device_id = ANY($1) AND fix_time >= $2 AND fix_time <= $3`,
			ids, base, last); err != nil {
			return fmt.Errorf("copybench: cleaning up: %w", err)
		}
	}
	return nil
}
