package geofence

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/paulmach/orb"
)

// Worker is one worker of a benchmark dataset, with their device and
// assigned clients.
type Worker struct {
	WorkerID string   `json:"worker_id"`
	DeviceID string   `json:"device_id"`
	Source   Source   `json:"source"`
	Clients  []string `json:"clients"`
}

// Bench is a dataset in the visit-benchmark format (places.json,
// assignments.json, fixes.jsonl; see shared/bench/visits/README.md).
type Bench struct {
	Fences  []*Geofence
	Workers []Worker
	Fixes   []Fix // in file (arrival) order
}

// LoadBenchDir reads a benchmark folder.
func LoadBenchDir(dir string) (*Bench, error) {
	b := &Bench{}
	if err := b.loadPlaces(filepath.Join(dir, "places.json")); err != nil {
		return nil, err
	}
	if err := b.loadAssignments(filepath.Join(dir, "assignments.json")); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "fixes.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b.Fixes, err = ReadFixesJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "fixes.jsonl"), err)
	}
	return b, nil
}

func (b *Bench) loadPlaces(path string) error {
	var doc struct {
		Clients []struct {
			ID     string `json:"id"`
			Kind   string `json:"kind"`
			Circle *struct {
				Lat     float64 `json:"lat"`
				Lon     float64 `json:"lon"`
				RadiusM float64 `json:"radius_m"`
			} `json:"circle"`
			Polygon [][2]float64 `json:"polygon"`
		} `json:"clients"`
	}
	if err := readJSON(path, &doc); err != nil {
		return err
	}
	for _, c := range doc.Clients {
		var g *Geofence
		var err error
		switch {
		case c.Kind == "circle" && c.Circle != nil:
			g, err = NewCircle(c.ID, c.Circle.Lat, c.Circle.Lon, c.Circle.RadiusM)
		case c.Kind == "polygon":
			ring := make(orb.Ring, len(c.Polygon))
			for i, p := range c.Polygon {
				ring[i] = orb.Point{p[0], p[1]}
			}
			g, err = NewPolygon(c.ID, ring)
		default:
			err = fmt.Errorf("client %s: unknown geofence kind %q", c.ID, c.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		b.Fences = append(b.Fences, g)
	}
	return nil
}

func (b *Bench) loadAssignments(path string) error {
	var doc struct {
		Workers []Worker `json:"workers"`
	}
	if err := readJSON(path, &doc); err != nil {
		return err
	}
	b.Workers = doc.Workers
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// benchFix is one line of fixes.jsonl; null keys stay nil.
type benchFix struct {
	DeviceID string   `json:"device_id"`
	Time     string   `json:"time"`
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Valid    bool     `json:"valid"`
	Accuracy *float64 `json:"accuracy"`
	HDOP     *float64 `json:"hdop"`
	Sats     *int     `json:"sats"`
	Speed    *float64 `json:"speed"`
	Source   Source   `json:"source"`
}

// ReadFixesJSONL reads fixes, one JSON object a line, in the benchmark
// format.
func ReadFixesJSONL(r io.Reader) ([]Fix, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var out []Fix
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var bf benchFix
		if err := json.Unmarshal(sc.Bytes(), &bf); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		t, err := time.Parse(time.RFC3339Nano, bf.Time)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		f := Fix{DeviceID: bf.DeviceID, Time: t.UTC(), Lat: bf.Lat, Lon: bf.Lon, Valid: bf.Valid, SpeedMS: -1, Source: bf.Source}
		if bf.Accuracy != nil {
			f.AccuracyM = *bf.Accuracy
		}
		if bf.HDOP != nil {
			f.HDOP = *bf.HDOP
		}
		if bf.Sats != nil {
			f.Sats = *bf.Sats
		}
		if bf.Speed != nil {
			f.SpeedMS = *bf.Speed
		}
		out = append(out, f)
	}
	return out, sc.Err()
}

// Detect runs the detector over the whole dataset: each worker's device
// against the worker's assigned clients. Visits come out ordered by device,
// then start.
func (b *Bench) Detect(p Params) []Visit {
	byID := make(map[string]*Geofence, len(b.Fences))
	for _, g := range b.Fences {
		byID[g.ClientID] = g
	}
	count := make(map[string]int)
	for _, f := range b.Fixes {
		count[f.DeviceID]++
	}
	byDev := make(map[string][]Fix, len(count))
	for _, f := range b.Fixes {
		if byDev[f.DeviceID] == nil {
			byDev[f.DeviceID] = make([]Fix, 0, count[f.DeviceID])
		}
		byDev[f.DeviceID] = append(byDev[f.DeviceID], f)
	}
	var out []Visit
	for _, w := range b.Workers {
		var cands []Candidate
		for _, c := range w.Clients {
			if g := byID[c]; g != nil {
				cands = append(cands, Candidate{Fence: g, Assigned: true})
			}
		}
		out = append(out, DetectDevice(w.DeviceID, w.WorkerID, byDev[w.DeviceID], cands, p)...)
	}
	slices.SortStableFunc(out, func(a, b Visit) int {
		if c := compareStr(a.DeviceID, b.DeviceID); c != 0 {
			return c
		}
		return a.Start.Compare(b.Start)
	})
	return out
}

// VisitRecord is the benchmark's detected-visit record.
type VisitRecord struct {
	DeviceID string `json:"device_id"`
	ClientID string `json:"client_id"`
	Start    string `json:"start"`
	End      string `json:"end"`
}

// Records converts visits to benchmark records (RFC 3339 UTC, seconds).
func Records(vs []Visit) []VisitRecord {
	out := make([]VisitRecord, 0, len(vs))
	for _, v := range vs {
		out = append(out, VisitRecord{
			DeviceID: v.DeviceID, ClientID: v.ClientID,
			Start: v.Start.UTC().Format(time.RFC3339), End: v.End.UTC().Format(time.RFC3339),
		})
	}
	return out
}

// FullRecord is a visit with its evidence and flags, for people and logs.
type FullRecord struct {
	VisitRecord
	WorkerID  string   `json:"worker_id"`
	DurationS int64    `json:"duration_s"`
	Open      bool     `json:"open,omitempty"`
	Flags     []string `json:"flags,omitempty"`
	Evidence  Evidence `json:"evidence"`
}

// FullRecords converts visits to FullRecord.
func FullRecords(vs []Visit) []FullRecord {
	rs := Records(vs)
	out := make([]FullRecord, len(vs))
	for i, v := range vs {
		out[i] = FullRecord{VisitRecord: rs[i], WorkerID: v.WorkerID, DurationS: int64(v.Duration().Seconds()),
			Open: v.Open, Flags: v.Flags.Names(), Evidence: v.Evidence}
	}
	return out
}
