package reports

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"carevisit/store"
)

// Presets are the schedules the cabinet offers; each sends the period that
// just ended.
var Presets = map[string]struct{ Spec, Period string }{
	"daily":   {"0 8 * * *", "day"},   // every day at 08:00: yesterday
	"weekly":  {"0 8 * * 1", "week"},  // Mondays at 08:00: the 7 days before
	"monthly": {"0 8 1 * *", "month"}, // the 1st at 08:00: the previous month
}

// ErrBadSchedule wraps a schedule that cannot be stored.
var ErrBadSchedule = errors.New("bad report schedule")

// cronParser reads standard 5-field specs and descriptors (@daily, …).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSpec evaluates spec in the organisation's zone. A zone inside the
// spec is refused: the organisation's setting decides.
func parseSpec(spec, tz string) (cron.Schedule, error) {
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("%w: the cron spec must not name a time zone (the organisation's is used)", ErrBadSchedule)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("%w: time zone %q: %v", ErrBadSchedule, tz, err)
	}
	sch, err := cronParser.Parse("CRON_TZ=" + tz + " " + spec)
	if err != nil {
		return nil, fmt.Errorf("%w: cron spec %q: %v", ErrBadSchedule, spec, err)
	}
	return sch, nil
}

// NewSchedule validates s, fills CronSpec and Period from a preset, and
// stores it. Give Preset ("daily", "weekly", "monthly") or a CronSpec with
// a Period ("day", "week", "month"). The schedule starts enabled; due
// times before its creation are never sent.
func NewSchedule(ctx context.Context, st *store.Store, s store.ReportSchedule) (int64, error) {
	s.Enabled = true
	if s.Kind == "" {
		s.Kind = "visits"
	}
	if s.Scope == "" {
		s.Scope = "org"
	}
	if s.Format == "" {
		s.Format = string(XLSX)
	}
	if s.Lang == "" {
		s.Lang = "ru"
	}
	if p, ok := Presets[s.Preset]; ok {
		if s.CronSpec == "" {
			s.CronSpec = p.Spec
		}
		if s.Period == "" {
			s.Period = p.Period
		}
	} else if s.Preset == "" {
		s.Preset = "custom"
	}
	if s.Period == "" {
		s.Period = "day"
	}
	if len(s.Recipients) == 0 {
		return 0, fmt.Errorf("%w: no recipients", ErrBadSchedule)
	}
	for _, r := range s.Recipients {
		if _, err := mail.ParseAddress(r); err != nil {
			return 0, fmt.Errorf("%w: recipient %q: %v", ErrBadSchedule, r, err)
		}
	}
	org, err := st.OrganisationByID(ctx, s.OrgID)
	if err != nil {
		return 0, fmt.Errorf("%w: organisation %d: %v", ErrBadSchedule, s.OrgID, err)
	}
	if _, err := parseSpec(s.CronSpec, org.Timezone); err != nil {
		return 0, err
	}
	id, err := st.CreateReportSchedule(ctx, s)
	if errors.Is(err, store.ErrBadSchedule) || errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: %v", ErrBadSchedule, err)
	}
	return id, err
}

// lastDue is the most recent due time of sch in (after, now], if any.
// Only the most recent one matters: a server that was down for three days
// sends one daily report, not three.
func lastDue(sch cron.Schedule, after, now time.Time) (time.Time, bool) {
	// Widen the window until it holds a due time, so that frequent specs do
	// not iterate over a year of minutes.
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour,
		367 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		start := now.Add(-back)
		if start.Before(after) {
			start = after
		}
		t := sch.Next(start)
		if t.IsZero() || t.After(now) {
			if !start.After(after) {
				return time.Time{}, false
			}
			continue
		}
		for {
			n := sch.Next(t)
			if n.IsZero() || n.After(now) {
				return t, true
			}
			t = n
		}
	}
	return time.Time{}, false
}

// periodFor is the report period (first and last day, inclusive) of a run
// due at due: the day, week or calendar month that ended before it.
func periodFor(period string, due time.Time, loc *time.Location) (from, to time.Time) {
	d := civil(due.In(loc), loc)
	switch period {
	case "week":
		return d.AddDate(0, 0, -7), d.AddDate(0, 0, -1)
	case "month":
		first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, loc)
		return first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)
	default:
		return d.AddDate(0, 0, -1), d.AddDate(0, 0, -1)
	}
}
