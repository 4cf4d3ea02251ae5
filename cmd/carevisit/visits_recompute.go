package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"carevisit/geofence"
	"carevisit/tracking"
)

// cmdVisitsRecompute implements `carevisit visits recompute -from -to
// [-device ID]`: detection re-run over stored positions, replacing the
// stored visits of the span (after a client's geofence was corrected).
func cmdVisitsRecompute(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("visits recompute", flag.ContinueOnError)
	dsn := dbFlag(fs)
	fromS := fs.String("from", "", "start of the span, RFC 3339 or YYYY-MM-DD (UTC)")
	toS := fs.String("to", "", "end of the span (exclusive), RFC 3339 or YYYY-MM-DD (UTC)")
	device := fs.Int64("device", 0, "only this device id (default: every device with fixes in the span)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := parseWhen(*fromS)
	if err != nil {
		return fmt.Errorf("visits recompute: -from: %w", err)
	}
	to, err := parseWhen(*toS)
	if err != nil {
		return fmt.Errorf("visits recompute: -to: %w", err)
	}
	if !to.After(from) {
		return fmt.Errorf("visits recompute: -to must be after -from")
	}
	st, err := openDB(ctx, *dsn, 4)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := tracking.Recompute(ctx, st, geofence.DefaultParams(), from, to, *device)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d visits stored for %s .. %s\n", n, from.Format(time.RFC3339), to.Format(time.RFC3339))
	return nil
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}
