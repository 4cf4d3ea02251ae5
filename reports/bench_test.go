package reports_test

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"carevisit/internal/pgtest"
	"carevisit/reports"
)

// BenchmarkBuildVisitsMonth builds the November workbook (or CSV) of an
// organisation with 1,000 workers and 100,000 visits
// (testdata/bench_seed.sql). peak-RSS-MB is the process's high-water mark
// (VmHWM), which includes the test binary itself.
//
//	go test -run '^$' -bench BuildVisitsMonth -benchtime 3x ./reports/
func BenchmarkBuildVisitsMonth(b *testing.B) {
	ctx := context.Background()
	st := pgtest.NewStore(b)
	seed, err := os.ReadFile("testdata/bench_seed.sql")
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := st.Pool.Exec(ctx, string(seed)); err != nil {
		b.Fatal(err)
	}
	var org int64
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT max(org_id), count(*) FROM visits`).Scan(&org, &n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d visits in %.1fs", n, time.Since(t0).Seconds())
	for _, format := range []reports.Format{reports.XLSX, reports.CSV} {
		b.Run(string(format), func(b *testing.B) {
			var size int64
			for b.Loop() {
				f, err := os.CreateTemp(b.TempDir(), "bench-*."+string(format))
				if err != nil {
					b.Fatal(err)
				}
				err = reports.BuildVisits(ctx, st, reports.Request{OrgID: org, Format: format,
					From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}, f)
				if err != nil {
					b.Fatal(err)
				}
				size, _ = f.Seek(0, io.SeekCurrent)
				f.Close()
			}
			b.ReportMetric(float64(n), "visits/op")
			b.ReportMetric(float64(size)/(1<<20), "file-MB")
			b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
		})
	}
}

func peakRSSMB() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
