package reports

import (
	"testing"
	"time"
)

func TestLastDue(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		spec, tz, after, now, want string // want "" = none
	}{
		{"0 8 * * *", "Asia/Yekaterinburg", "2026-11-01T00:00:00Z", "2026-11-30T05:00:00Z", "2026-11-30T03:00:00Z"},
		{"0 8 * * *", "Asia/Yekaterinburg", "2026-11-01T00:00:00Z", "2026-11-30T02:59:59Z", "2026-11-29T03:00:00Z"},
		{"0 8 * * *", "Asia/Yekaterinburg", "2026-11-30T02:00:00Z", "2026-11-30T02:59:59Z", ""}, // created after yesterday's
		{"0 8 * * *", "Europe/Moscow", "2026-11-01T00:00:00Z", "2026-11-30T05:00:00Z", "2026-11-30T05:00:00Z"},
		{"0 8 1 * *", "Asia/Yekaterinburg", "2026-01-01T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-01T03:00:00Z"},
		{"0 8 1 * *", "Asia/Yekaterinburg", "2025-01-01T00:00:00Z", "2026-02-15T00:00:00Z", "2026-02-01T03:00:00Z"},
		{"0 8 * * 1", "UTC", "2026-01-01T00:00:00Z", "2026-11-29T23:00:00Z", "2026-11-23T08:00:00Z"}, // Monday
		{"*/5 * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-11-29T23:07:00Z", "2026-11-29T23:05:00Z"},
		{"0 8 29 2 *", "UTC", "2024-03-01T00:00:00Z", "2026-11-29T23:07:00Z", ""}, // no 29 February since
		{"0 8 29 2 *", "UTC", "2020-01-01T00:00:00Z", "2026-11-29T23:07:00Z", "2024-02-29T08:00:00Z"},
	} {
		sch, err := parseSpec(tc.spec, tc.tz)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := lastDue(sch, utc(tc.after), utc(tc.now))
		if tc.want == "" {
			if ok {
				t.Errorf("%s in %s at %s: due %s, want none", tc.spec, tc.tz, tc.now, got.UTC())
			}
			continue
		}
		if !ok || !got.Equal(utc(tc.want)) {
			t.Errorf("%s in %s at %s: %s %v, want %s", tc.spec, tc.tz, tc.now, got.UTC(), ok, tc.want)
		}
	}
}

func TestPeriodFor(t *testing.T) {
	ekb, _ := time.LoadLocation("Asia/Yekaterinburg")
	due := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC) // 1 Dec 08:00 local
	for _, tc := range []struct{ period, from, to string }{
		{"day", "2026-11-30", "2026-11-30"},
		{"week", "2026-11-24", "2026-11-30"},
		{"month", "2026-11-01", "2026-11-30"},
	} {
		f, to := periodFor(tc.period, due, ekb)
		if f.Format("2006-01-02") != tc.from || to.Format("2006-01-02") != tc.to {
			t.Errorf("%s: %s – %s, want %s – %s", tc.period, f.Format("2006-01-02"), to.Format("2006-01-02"), tc.from, tc.to)
		}
	}
	// Just after local midnight (19:30 UTC the day before) the date is local.
	f, _ := periodFor("day", time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC), ekb)
	if f.Format("2006-01-02") != "2026-11-30" {
		t.Errorf("day before 1 Dec 00:30 local: %s", f.Format("2006-01-02"))
	}
	// The monthly report of 1 March covers all of February.
	f, to := periodFor("month", time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC), ekb)
	if f.Format("2006-01-02") != "2026-02-01" || to.Format("2006-01-02") != "2026-02-28" {
		t.Errorf("March's monthly: %s – %s", f, to)
	}
}
