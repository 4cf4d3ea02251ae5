package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"carevisit/geofence"
)

// cmdVisitsDetect implements `carevisit visits detect DIR`: it runs the
// visit detector over a folder in the benchmark format (places.json,
// assignments.json, fixes.jsonl) and prints the detected visits as a JSON
// list of {"device_id","client_id","start","end"} (RFC 3339 UTC), the input
// of shared/bench/visits/score.py. With -full it prints the whole visit
// (worker, evidence, flags) instead.
func cmdVisitsDetect(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("visits detect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	full := fs.Bool("full", false, "print worker, evidence and flags too")
	norm := fs.Duration("norm", geofence.DefaultParams().NormDuration, "visits shorter than this are flagged short")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("visits detect: %w (usage: carevisit visits detect [-full] [-norm 10m] DIR)", err)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: carevisit visits detect [-full] [-norm 10m] DIR")
	}
	b, err := geofence.LoadBenchDir(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("visits detect: %w", err)
	}
	p := geofence.DefaultParams()
	p.NormDuration = *norm
	vs := b.Detect(p)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", " ")
	if *full {
		return enc.Encode(geofence.FullRecords(vs))
	}
	return enc.Encode(geofence.Records(vs))
}
