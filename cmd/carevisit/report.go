package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"carevisit/mailer"
	"carevisit/reports"
	"carevisit/store"
)

const reportUsage = `usage:
  carevisit report visits -org ID -from 2026-11-01 -to 2026-11-30 [-group ID | -worker ID] [-lang ru|en] -o FILE.xlsx|FILE.csv
  carevisit report schedule add -org ID (-preset daily|weekly|monthly | -cron "0 8 * * *" -period day|week|month)
                                [-group ID | -worker ID] [-format xlsx|csv] [-lang ru|en] -to a@example.org,b@example.org
  carevisit report schedule list -org ID
  carevisit report schedule enable|disable -org ID -id ID
  carevisit report runs -org ID [-schedule ID]
  carevisit report mail-test -to a@example.org     (checks CAREVISIT_SMTP_* by sending one e-mail)
`

// cmdReport is the `report` command: build a report file, manage e-mail
// schedules, read their run log.
func cmdReport(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("report: missing subcommand\n%s", reportUsage)
	}
	switch args[0] {
	case "visits":
		return cmdReportVisits(ctx, args[1:], out)
	case "schedule", "schedules":
		if len(args) < 2 {
			return fmt.Errorf("report schedule: missing add|list|enable|disable\n%s", reportUsage)
		}
		return cmdReportSchedule(ctx, args[1], args[2:], out)
	case "runs":
		return cmdReportRuns(ctx, args[1:], out)
	case "mail-test":
		return cmdReportMailTest(ctx, args[1:], out)
	default:
		return fmt.Errorf("report: unknown subcommand %q\n%s", args[0], reportUsage)
	}
}

func parseDay(name, s string) (time.Time, error) {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return d, fmt.Errorf("-%s %q: want a date like 2026-11-01", name, s)
	}
	return d, nil
}

func cmdReportVisits(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report visits", flag.ContinueOnError)
	dsn := dbFlag(fs)
	org := fs.Int64("org", 0, "organisation id")
	fromS := fs.String("from", "", "first day, YYYY-MM-DD (organisation's time zone)")
	toS := fs.String("to", "", "last day, YYYY-MM-DD, included")
	group := fs.Int64("group", 0, "only this group's workers")
	worker := fs.Int64("worker", 0, "only this worker")
	lang := fs.String("lang", "ru", "language: ru or en")
	output := fs.String("o", "", "output file: .xlsx or .csv")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *org == 0 || *fromS == "" || *toS == "" || *output == "" {
		return fmt.Errorf("report visits: -org, -from, -to and -o are required\n%s", reportUsage)
	}
	from, err := parseDay("from", *fromS)
	if err != nil {
		return err
	}
	to, err := parseDay("to", *toS)
	if err != nil {
		return err
	}
	var format reports.Format
	switch strings.ToLower(filepath.Ext(*output)) {
	case ".xlsx":
		format = reports.XLSX
	case ".csv":
		format = reports.CSV
	default:
		return fmt.Errorf("report visits: -o %s: the file name must end in .xlsx or .csv", *output)
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()

	// Write beside the target and rename at the end: a failed build never
	// leaves a truncated file under the requested name.
	tmp, err := os.CreateTemp(filepath.Dir(*output), ".report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	start := time.Now()
	req := reports.Request{OrgID: *org, From: from, To: to, GroupID: *group, WorkerID: *worker, Lang: *lang, Format: format}
	var visits int
	req.Progress = func(done, total int) {
		visits = total
		if !*quiet {
			fmt.Fprintf(os.Stderr, "\r%d/%d visits", done, total)
		}
	}
	err = reports.BuildVisits(ctx, st, req, tmp)
	if !*quiet {
		fmt.Fprintln(os.Stderr)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *output); err != nil {
		return err
	}
	info, _ := os.Stat(*output)
	fmt.Fprintf(out, "%s: %d visits, %d KB, %.1fs\n", *output, visits, info.Size()/1024, time.Since(start).Seconds())
	return nil
}

func cmdReportSchedule(ctx context.Context, verb string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report schedule "+verb, flag.ContinueOnError)
	dsn := dbFlag(fs)
	org := fs.Int64("org", 0, "organisation id")
	var s store.ReportSchedule
	var to string
	var id int64
	var group, worker int64
	switch verb {
	case "add":
		fs.StringVar(&s.Preset, "preset", "", "daily (08:00, yesterday), weekly (Mondays 08:00, last 7 days), monthly (1st 08:00, last month)")
		fs.StringVar(&s.CronSpec, "cron", "", "cron spec (5 fields) in the organisation's time zone, instead of -preset")
		fs.StringVar(&s.Period, "period", "", "with -cron: day, week or month before the due time")
		fs.Int64Var(&group, "group", 0, "only this group's workers")
		fs.Int64Var(&worker, "worker", 0, "only this worker")
		fs.StringVar(&s.Format, "format", "xlsx", "attachment: xlsx or csv")
		fs.StringVar(&s.Lang, "lang", "ru", "language: ru or en")
		fs.StringVar(&to, "to", "", "recipients, comma-separated")
	case "enable", "disable":
		fs.Int64Var(&id, "id", 0, "schedule id")
	case "list":
	default:
		return fmt.Errorf("report schedule: unknown %q\n%s", verb, reportUsage)
	}
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *org == 0 {
		return fmt.Errorf("report schedule %s: -org is required", verb)
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "add":
		s.OrgID = *org
		switch {
		case group != 0 && worker != 0:
			return fmt.Errorf("report schedule add: -group or -worker, not both")
		case group != 0:
			s.Scope, s.ScopeID = "group", group
		case worker != 0:
			s.Scope, s.ScopeID = "worker", worker
		}
		for _, r := range strings.Split(to, ",") {
			if r = strings.TrimSpace(r); r != "" {
				s.Recipients = append(s.Recipients, r)
			}
		}
		id, err := reports.NewSchedule(ctx, st, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "schedule %d added\n", id)
		return nil
	case "enable", "disable":
		if err := st.SetReportScheduleEnabled(ctx, *org, id, verb == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "schedule %d %sd\n", id, verb)
		return nil
	}
	list, err := st.ReportSchedules(ctx, *org)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENABLED\tCRON\tPERIOD\tSCOPE\tFORMAT\tLANG\tTO")
	for _, s := range list {
		scope := s.Scope
		if s.ScopeID != 0 {
			scope = fmt.Sprintf("%s %d", s.Scope, s.ScopeID)
		}
		fmt.Fprintf(tw, "%d\t%v\t%s (%s)\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Enabled, s.CronSpec, s.Timezone, s.Period, scope,
			s.Format, s.Lang, strings.Join(s.Recipients, ", "))
	}
	return tw.Flush()
}

func cmdReportRuns(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report runs", flag.ContinueOnError)
	dsn := dbFlag(fs)
	org := fs.Int64("org", 0, "organisation id")
	sched := fs.Int64("schedule", 0, "only this schedule")
	limit := fs.Int("n", 50, "newest runs to show")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *org == 0 {
		return fmt.Errorf("report runs: -org is required")
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ReportRuns(ctx, *org, *sched, *limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSCHEDULE\tDUE\tSTATUS\tATTEMPTS\tSENT\tERROR")
	for _, r := range runs {
		sent := ""
		if !r.SentAt.IsZero() {
			sent = r.SentAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.ScheduleID, r.DueAt.Format(time.RFC3339), r.Status,
			r.Attempts, sent, r.Error)
	}
	return tw.Flush()
}

func cmdReportMailTest(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report mail-test", flag.ContinueOnError)
	cfg := mailer.ConfigFromEnv()
	cfg.RegisterFlags(fs)
	to := fs.String("to", "", "recipient")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("report mail-test: -to is required")
	}
	m, err := mailer.New(cfg)
	if err != nil {
		return err
	}
	if err := m.Send(ctx, mailer.Message{To: []string{*to}, Subject: "carevisit: проверка почты / mail test",
		Text: "Это письмо проверяет настройки SMTP carevisit.\nThis message checks carevisit's SMTP settings.\n"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "sent to %s\n", *to)
	return nil
}
