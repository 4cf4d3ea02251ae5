package reports_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"carevisit/mailer"
	"carevisit/mailer/mailtest"
	"carevisit/reports"
	"carevisit/store"
)

// clock is a hand-moved clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMailer(t *testing.T, srv *mailtest.Server) *mailer.Mailer {
	t.Helper()
	m, err := mailer.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// schedule stores a schedule as if it had been created at since.
func (fx fixture) schedule(t *testing.T, s store.ReportSchedule, since time.Time) int64 {
	t.Helper()
	s.OrgID = fx.org
	if s.Recipients == nil {
		s.Recipients = []string{"director@example.org", "Бухгалтерия <acc@example.org>"}
	}
	id, err := reports.NewSchedule(context.Background(), fx.st, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.st.Pool.Exec(context.Background(), `UPDATE report_schedules SET created_at = $2, updated_at = $2
		WHERE id = $1`, id, since); err != nil {
		t.Fatal(err)
	}
	return id
}

func (fx fixture) runs(t *testing.T, scheduleID int64) []store.ReportRun {
	t.Helper()
	rs, err := fx.st.ReportRuns(context.Background(), fx.org, scheduleID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (fx fixture) scheduler(srv *mailtest.Server, c *clock, t *testing.T, name string) *reports.Scheduler {
	return &reports.Scheduler{Store: fx.st, Mailer: newMailer(t, srv), Now: c.Now, Instance: name}
}

func runOnce(t *testing.T, s *reports.Scheduler) {
	t.Helper()
	if err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The monthly report is due on 1 December 08:00 in Yekaterinburg (03:00
// UTC) and arrives as an e-mail with the November workbook attached.
func TestScheduledDelivery(t *testing.T) {
	fx := seed(t)
	srv := mailtest.Start(t)
	id := fx.schedule(t, store.ReportSchedule{Preset: "monthly"}, time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	c := &clock{t: time.Date(2026, 12, 1, 2, 59, 0, 0, time.UTC)}
	s := fx.scheduler(srv, c, t, "a")

	runOnce(t, s)
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d mails before the due time", n)
	}
	c.Add(90 * time.Second)
	runOnce(t, s)
	runOnce(t, s) // nothing more to do
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	if got := strings.Join(msgs[0].To, ","); got != "director@example.org,acc@example.org" {
		t.Errorf("recipients %s", got)
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if want := "Отчёт о посещениях: ЦСО «Заречье», 01.11.2026 – 30.11.2026"; p.Subject != want {
		t.Errorf("subject %q, want %q", p.Subject, want)
	}
	att := p.Attachments()
	if len(att) != 1 || att[0].FileName != "visits_2026-11-01_2026-11-30.xlsx" ||
		att[0].ContentType != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("attachments %+v", att)
	}
	f, err := excelize.OpenReader(bytes.NewReader(att[0].Data))
	if err != nil {
		t.Fatalf("attachment is not a workbook: %v", err)
	}
	defer f.Close()
	vis, _ := f.GetRows("Визиты")
	if len(vis)-1 != fx.inPeriod {
		t.Errorf("attached workbook has %d visits, want %d", len(vis)-1, fx.inPeriod)
	}

	rs := fx.runs(t, id)
	if len(rs) != 1 || rs[0].Status != "sent" || rs[0].Attempts != 1 || rs[0].SentAt.IsZero() ||
		!rs[0].DueAt.Equal(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("run log %+v", rs)
	}
	c.Add(20 * 24 * time.Hour) // the next is due on 1 January
	runOnce(t, s)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d mails after 20 more days, want still 1", n)
	}
}

// An SMTP server that refuses (451), then is down, is retried with backoff
// until it takes the mail; the run log counts the attempts.
func TestRetryWithBackoff(t *testing.T) {
	fx := seed(t)
	srv := mailtest.Start(t)
	id := fx.schedule(t, store.ReportSchedule{Preset: "daily", Format: "csv"}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	c := &clock{t: time.Date(2026, 11, 6, 3, 0, 5, 0, time.UTC)} // 08:00:05 local
	s := fx.scheduler(srv, c, t, "a")
	s.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Minute }

	srv.FailNext(2, 451)
	runOnce(t, s) // attempt 1: 451
	runOnce(t, s) // backing off: no attempt
	if got := srv.Attempts(); got != 1 {
		t.Fatalf("%d SMTP attempts, want 1", got)
	}
	rs := fx.runs(t, id)
	if len(rs) != 1 || rs[0].Status != "retry" || rs[0].Attempts != 1 || !strings.Contains(rs[0].Error, "451") {
		t.Fatalf("after the first failure: %+v", rs)
	}
	c.Add(time.Minute)
	runOnce(t, s) // attempt 2: 451
	srv.Stop()
	c.Add(2 * time.Minute)
	runOnce(t, s) // attempt 3: connection refused
	rs = fx.runs(t, id)
	if rs[0].Status != "retry" || rs[0].Attempts != 3 || !strings.Contains(rs[0].Error, "dial") {
		t.Fatalf("with the server down: %+v", rs[0])
	}
	srv.Restart()
	c.Add(3 * time.Minute)
	runOnce(t, s) // attempt 4: delivered
	rs = fx.runs(t, id)
	if len(rs) != 1 || rs[0].Status != "sent" || rs[0].Attempts != 4 || rs[0].Error != "" {
		t.Errorf("run log %+v, want sent after 4 attempts", rs)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	p, _ := msgs[0].Parse()
	if att := p.Attachments(); len(att) != 1 || att[0].FileName != "visits_2026-11-05_2026-11-05.csv" ||
		!strings.Contains(string(att[0].Data), "Борисова Вера") {
		t.Errorf("csv attachment %+v", att)
	}
}

func TestGiveUp(t *testing.T) {
	fx := seed(t)
	srv := mailtest.Start(t)
	id := fx.schedule(t, store.ReportSchedule{Preset: "daily"}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	c := &clock{t: time.Date(2026, 11, 6, 3, 0, 5, 0, time.UTC)}
	s := fx.scheduler(srv, c, t, "a")
	s.MaxAttempts = 2
	srv.FailNext(10, 554)
	for range 5 {
		runOnce(t, s)
		c.Add(time.Hour)
	}
	rs := fx.runs(t, id)
	if len(rs) != 1 || rs[0].Status != "failed" || rs[0].Attempts != 2 || !strings.Contains(rs[0].Error, "554") {
		t.Errorf("run log %+v, want failed after 2 attempts", rs)
	}
	if srv.Attempts() != 2 {
		t.Errorf("%d SMTP attempts, want 2", srv.Attempts())
	}
}

// Two server instances, each with its own connection pool, on one database:
// every due report is sent once.
func TestTwoInstancesSendOnce(t *testing.T) {
	fx := seed(t)
	srv := mailtest.Start(t)
	since := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for _, preset := range []string{"daily", "weekly", "monthly"} {
		ids = append(ids, fx.schedule(t, store.ReportSchedule{Preset: preset}, since))
	}
	ids = append(ids, fx.schedule(t, store.ReportSchedule{Scope: "worker", ScopeID: fx.w1, CronSpec: "*/5 * * * *"}, since))
	// Many small reports due together make the instances collide.
	const extra = 24
	for range extra {
		fx.schedule(t, store.ReportSchedule{Scope: "worker", ScopeID: fx.w3, Format: "csv", CronSpec: "0 8 * * *"}, since)
	}
	other, err := store.Open(context.Background(), fx.dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Monday 30 November 08:00:30 local: the daily and weekly reports and
	// the five-minutely one are due; the monthly one's last due time (1
	// November) is before the schedules existed.
	c := &clock{t: time.Date(2026, 11, 30, 3, 0, 30, 0, time.UTC)}
	a := fx.scheduler(srv, c, t, "a")
	b := &reports.Scheduler{Store: other, Mailer: newMailer(t, srv), Now: c.Now, Instance: "b"}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, s := range []*reports.Scheduler{a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := s.RunOnce(context.Background()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(srv.Messages()); n != 3+extra {
		t.Errorf("%d mails, want %d (daily, weekly, five-minutely, the small ones), each once", n, 3+extra)
	}
	for i, id := range ids {
		rs := fx.runs(t, id)
		want := 1
		if i == 2 {
			want = 0
		}
		if len(rs) != want {
			t.Errorf("schedule %d: %d runs, want %d", i, len(rs), want)
		}
		for _, r := range rs {
			if r.Status != "sent" || r.Attempts != 1 {
				t.Errorf("schedule %d: run %+v", i, r)
			}
		}
	}
}

// The server was down over three due times of a daily report: on start it
// sends the most recent one, once.
func TestCatchUpOnStart(t *testing.T) {
	fx := seed(t)
	srv := mailtest.Start(t)
	id := fx.schedule(t, store.ReportSchedule{Preset: "daily"}, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	c := &clock{t: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)} // 10:00 local; down since the 27th
	s := fx.scheduler(srv, c, t, "a")
	s.Interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // ten more ticks
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	p, _ := msgs[0].Parse()
	if !strings.HasSuffix(p.Subject, "29.11.2026 – 29.11.2026") {
		t.Errorf("subject %q, want yesterday's report (29.11)", p.Subject)
	}
	rs := fx.runs(t, id)
	if len(rs) != 1 || !rs[0].DueAt.Equal(time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("run log %+v, want one run due 30.11 08:00 local", rs)
	}
}

func TestNewScheduleValidation(t *testing.T) {
	fx := seed(t)
	ctx := context.Background()
	foreign, err := fx.st.AddWorker(ctx, store.Worker{OrgID: fx.otherOrg, FullName: "Чужой"})
	if err != nil {
		t.Fatal(err)
	}
	ok := store.ReportSchedule{OrgID: fx.org, Preset: "weekly", Recipients: []string{"a@example.org"}}
	for name, mod := range map[string]func(*store.ReportSchedule){
		"bad cron":           func(s *store.ReportSchedule) { s.Preset, s.CronSpec = "", "61 * * * *" },
		"zone in the spec":   func(s *store.ReportSchedule) { s.Preset, s.CronSpec = "", "CRON_TZ=UTC 0 8 * * *" },
		"no recipients":      func(s *store.ReportSchedule) { s.Recipients = nil },
		"bad address":        func(s *store.ReportSchedule) { s.Recipients = []string{"not an address"} },
		"foreign worker":     func(s *store.ReportSchedule) { s.Scope, s.ScopeID = "worker", foreign },
		"unknown scope":      func(s *store.ReportSchedule) { s.Scope, s.ScopeID = "city", 1 },
		"org with an id":     func(s *store.ReportSchedule) { s.ScopeID = 5 },
		"unknown language":   func(s *store.ReportSchedule) { s.Lang = "fr" },
		"no such org":        func(s *store.ReportSchedule) { s.OrgID = 99999 },
		"group scope, no id": func(s *store.ReportSchedule) { s.Scope = "group" },
	} {
		s := ok
		mod(&s)
		if _, err := reports.NewSchedule(ctx, fx.st, s); !errors.Is(err, reports.ErrBadSchedule) {
			t.Errorf("%s: err %v, want ErrBadSchedule", name, err)
		}
	}
	id, err := reports.NewSchedule(ctx, fx.st, ok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fx.st.ReportSchedule(ctx, fx.org, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.CronSpec != "0 8 * * 1" || got.Period != "week" || got.Lang != "ru" || got.Format != "xlsx" ||
		got.Scope != "org" || !got.Enabled || got.Timezone != "Asia/Yekaterinburg" {
		t.Errorf("stored %+v", got)
	}
	if _, err := fx.st.ReportSchedule(ctx, fx.otherOrg, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another organisation reads the schedule: %v", err)
	}
	list, _ := fx.st.ReportSchedules(ctx, fx.org)
	if len(list) != 1 {
		t.Errorf("list %d", len(list))
	}
	if err := fx.st.SetReportScheduleEnabled(ctx, fx.otherOrg, id, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another organisation switches the schedule off: %v", err)
	}
}
