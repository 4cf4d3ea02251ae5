package geofence

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkDetect runs the offline detector over all of public/ (93,941
// fixes, 20 devices) per iteration and reports fixes per second on one
// core (file loading excluded).
func BenchmarkDetect(b *testing.B) {
	bench := loadBench(b, "public")
	p := DefaultParams()
	b.ResetTimer()
	for b.Loop() {
		bench.Detect(p)
	}
	b.ReportMetric(float64(len(bench.Fixes))*float64(b.N)/b.Elapsed().Seconds(), "fixes/s")
}

// BenchmarkLive feeds each public/ device's first day to the live
// detector in upload order with extra late bursts (a quarter of the fixes
// arrive up to 40 fixes late, shuffled) and duplicates, and reports the
// 99th percentile and the mean time per Add.
func BenchmarkLive(b *testing.B) {
	bench := loadBench(b, "public")
	cands := benchCandidates(bench)
	byDev := map[string][]Fix{}
	for _, f := range bench.Fixes {
		if f.Time.Format("2006-01-02") == "2024-03-11" {
			byDev[f.DeviceID] = append(byDev[f.DeviceID], f)
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	var stream []Fix
	for _, fixes := range byDev {
		sorted := slices.Clone(fixes)
		slices.SortStableFunc(sorted, func(a, b Fix) int { return a.Time.Compare(b.Time) })
		stream = append(stream, shuffleUploads(r, sorted)...)
	}
	lookup := func(dev string) (string, []Candidate, bool) { return "w", cands[dev], true }
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		d := NewDetector(DefaultParams(), lookup, 0)
		for _, f := range stream {
			t := time.Now()
			d.Add(f)
			lat = append(lat, time.Since(t))
		}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs/fix")
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat)), "mean-µs/fix")
}
