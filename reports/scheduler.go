package reports

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"carevisit/mailer"
	"carevisit/store"
)

// Sender sends one e-mail; *mailer.Mailer is one.
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Scheduler e-mails the scheduled reports. Every server instance may run
// one on the same database: a due time becomes one report_runs row (a
// unique key), and a run is attempted by whoever holds its lease, so each
// report is sent once. If an instance dies between the SMTP server
// accepting a mail and recording it, the lease expires and another instance
// sends it again: at-least-once in that window, exactly once otherwise.
type Scheduler struct {
	Store  *store.Store
	Mailer Sender
	Log    *slog.Logger
	// Now is the clock; nil = time.Now. Tests move it by hand.
	Now func() time.Time
	// Instance names this process in the run log's lease; default
	// host-pid-random.
	Instance string
	// Interval between looks for due runs; default 30 s.
	Interval time.Duration
	// MaxAttempts before a run is given up; default 6.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt; default 1 min
	// doubling to at most 1 h (6 attempts span about half an hour).
	Backoff func(attempt int) time.Duration
	// Lease is how long a claimed run stays with this instance; default 10 min.
	Lease time.Duration

	once sync.Once // defaults are filled once: RunOnce may run concurrently
}

func (s *Scheduler) defaults() { s.once.Do(s.fillDefaults) }

func (s *Scheduler) fillDefaults() {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Instance == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		s.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if s.Interval <= 0 {
		s.Interval = 30 * time.Second
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 6
	}
	if s.Backoff == nil {
		s.Backoff = func(n int) time.Duration {
			d := time.Minute << min(n-1, 6)
			return min(d, time.Hour)
		}
	}
	if s.Lease <= 0 {
		s.Lease = 10 * time.Minute
	}
}

// Run checks for due reports at once (catching up a run missed while the
// server was down) and then every Interval, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.defaults()
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("report scheduler", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce records the schedules' most recent due times as runs, then
// attempts every run that is due now. It returns the first store error;
// send failures are recorded in the run log, not returned.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	s.defaults()
	now := s.Now()
	scheds, err := s.Store.ReportSchedules(ctx, 0)
	if err != nil {
		return err
	}
	byID := make(map[int64]store.ReportSchedule, len(scheds))
	for _, sc := range scheds {
		byID[sc.ID] = sc
		cs, err := parseSpec(sc.CronSpec, sc.Timezone)
		if err != nil {
			s.Log.Warn("report schedule skipped", "schedule", sc.ID, "err", err)
			continue
		}
		// Due times before the schedule was last changed are not caught up.
		due, ok := lastDue(cs, sc.UpdatedAt, now)
		if !ok {
			continue
		}
		if _, err := s.Store.AddReportRun(ctx, sc.ID, due, now); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		run, ok, err := s.Store.ClaimReportRun(ctx, s.Instance, now, s.Lease)
		if err != nil || !ok {
			return err
		}
		sc, known := byID[run.ScheduleID]
		if !known { // enabled after the list was read: take it next time
			sc2, err := s.scheduleOf(ctx, run.ScheduleID)
			if err != nil {
				return err
			}
			sc = sc2
		}
		s.attempt(ctx, sc, run, now)
	}
	return ctx.Err()
}

func (s *Scheduler) scheduleOf(ctx context.Context, id int64) (store.ReportSchedule, error) {
	all, err := s.Store.ReportSchedules(ctx, 0)
	if err != nil {
		return store.ReportSchedule{}, err
	}
	for _, sc := range all {
		if sc.ID == id {
			return sc, nil
		}
	}
	return store.ReportSchedule{}, fmt.Errorf("reports: schedule %d vanished", id)
}

// attempt builds and sends one run and records the outcome.
func (s *Scheduler) attempt(ctx context.Context, sc store.ReportSchedule, run store.ReportRun, now time.Time) {
	log := s.Log.With("schedule", sc.ID, "due", run.DueAt, "attempt", run.Attempts)
	err := s.send(ctx, sc, run)
	if err == nil {
		if err := s.Store.FinishReportRun(ctx, run.ID, s.Instance, s.Now()); err != nil {
			log.Error("report sent but not recorded", "err", err)
		}
		log.Info("report sent", "recipients", len(sc.Recipients))
		return
	}
	final := run.Attempts >= s.MaxAttempts
	next := now.Add(s.Backoff(run.Attempts))
	if ferr := s.Store.FailReportRun(context.WithoutCancel(ctx), run.ID, s.Instance, err.Error(), next, final); ferr != nil {
		log.Error("report failure not recorded", "err", ferr)
	}
	if final {
		log.Error("report not sent, giving up", "err", err)
	} else {
		log.Warn("report not sent, will retry", "err", err, "next", next)
	}
}

func (s *Scheduler) send(ctx context.Context, sc store.ReportSchedule, run store.ReportRun) error {
	loc, err := time.LoadLocation(sc.Timezone)
	if err != nil {
		return err
	}
	from, to := periodFor(sc.Period, run.DueAt, loc)
	req := Request{OrgID: sc.OrgID, From: from, To: to, Lang: sc.Lang, Format: Format(sc.Format), Now: s.Now}
	switch sc.Scope {
	case "group":
		req.GroupID = sc.ScopeID
	case "worker":
		req.WorkerID = sc.ScopeID
	}
	var buf bytes.Buffer
	if err := BuildVisits(ctx, s.Store, req, &buf); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	rep, err := resolve(ctx, s.Store, req) // for the subject: organisation and period
	if err != nil {
		return err
	}
	t := rep.t
	subject := fmt.Sprintf("%s: %s, %s", t.mailSubject, rep.org.Name, rep.periodText())
	return s.Mailer.Send(ctx, mailer.Message{
		To:      sc.Recipients,
		Subject: subject,
		Text:    fmt.Sprintf(t.mailBody, rep.org.Name, rep.periodText()),
		Attachments: []mailer.Attachment{{Name: FileName(req), ContentType: req.Format.ContentType(),
			Data: buf.Bytes()}},
	})
}
