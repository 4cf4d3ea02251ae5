// Package reports builds carevisit's reports (Excel workbooks with charts,
// CSV) and e-mails them on schedules.
package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"carevisit/store"
)

// Format is a report file format.
type Format string

const (
	XLSX Format = "xlsx"
	CSV  Format = "csv"
)

// ContentType is the MIME type of a report file.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// Request describes one visit report.
type Request struct {
	OrgID int64
	// From and To are calendar days in the organisation's time zone (only
	// year, month and day are read); both are included.
	From, To time.Time
	GroupID  int64   // 0 = every group
	WorkerID int64   // 0 = every worker
	Groups   []int64 // non-nil: only these groups (a supervisor's scope)
	Lang     string  // "ru" (default) or "en"
	Format   Format  // XLSX (default) or CSV
	// Progress, if set, is called with visits written so far and the total,
	// every few thousand visits and once at the end.
	Progress func(done, total int)
	// Now stamps the cover sheet; nil = time.Now.
	Now func() time.Time
}

// ErrBadRequest wraps a request that cannot be built (wrong dates, a group
// or worker of another organisation).
var ErrBadRequest = errors.New("bad report request")

// MaxDays caps a report's period: a year of visits is still a bounded file.
const MaxDays = 366

// report is a resolved request: the organisation, the instant range and
// the labels.
type report struct {
	Request
	org       store.Organisation
	loc       *time.Location
	from, to  time.Time // [from, to) instants
	days      int
	scopeName string
	builtAt   time.Time
	t         labels
}

func civil(t time.Time, loc *time.Location) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

func resolve(ctx context.Context, st *store.Store, r Request) (*report, error) {
	if r.Lang == "" {
		r.Lang = "ru"
	}
	if r.Lang != "ru" && r.Lang != "en" {
		return nil, fmt.Errorf("%w: lang %q (want ru or en)", ErrBadRequest, r.Lang)
	}
	if r.Format == "" {
		r.Format = XLSX
	}
	if r.Format != XLSX && r.Format != CSV {
		return nil, fmt.Errorf("%w: format %q (want xlsx or csv)", ErrBadRequest, r.Format)
	}
	if r.GroupID != 0 && r.WorkerID != 0 {
		return nil, fmt.Errorf("%w: give a group or a worker, not both", ErrBadRequest)
	}
	org, err := st.OrganisationByID(ctx, r.OrgID)
	if err != nil {
		return nil, fmt.Errorf("%w: organisation %d: %v", ErrBadRequest, r.OrgID, err)
	}
	rep := &report{Request: r, org: org, loc: org.Location(), t: labelsFor(r.Lang)}
	rep.from = civil(r.From, rep.loc)
	rep.to = civil(r.To, rep.loc).AddDate(0, 0, 1)
	rep.days = int(rep.to.Sub(rep.from).Hours()/24 + 0.5)
	if rep.days < 1 {
		return nil, fmt.Errorf("%w: period ends before it starts", ErrBadRequest)
	}
	if rep.days > MaxDays {
		return nil, fmt.Errorf("%w: period longer than %d days", ErrBadRequest, MaxDays)
	}
	rep.scopeName = rep.t.wholeOrg
	if r.Groups != nil {
		// A supervisor's report covers their groups, not the organisation.
		rep.scopeName = rep.t.myGroups
	}
	switch {
	case r.GroupID != 0:
		name, err := st.ReportScopeName(ctx, r.OrgID, r.GroupID, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: group %d: %v", ErrBadRequest, r.GroupID, err)
		}
		rep.scopeName = rep.t.group + ": " + name
	case r.WorkerID != 0:
		name, err := st.ReportScopeName(ctx, r.OrgID, 0, r.WorkerID)
		if err != nil {
			return nil, fmt.Errorf("%w: worker %d: %v", ErrBadRequest, r.WorkerID, err)
		}
		rep.scopeName = rep.t.worker + ": " + name
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	rep.builtAt = now().In(rep.loc)
	return rep, nil
}

func (r *report) filter() store.VisitReportFilter {
	return store.VisitReportFilter{OrgID: r.OrgID, GroupID: r.GroupID, WorkerID: r.WorkerID, Groups: r.Groups,
		From: r.from, To: r.to}
}

// periodText is "01.11.2026 – 30.11.2026" (ru) or "2026-11-01 – 2026-11-30".
func (r *report) periodText() string {
	last := r.to.AddDate(0, 0, -1)
	return r.t.date(r.from) + " – " + r.t.date(last)
}

// FileName is a file name for the report: visits_2026-11-01_2026-11-30.xlsx.
func FileName(r Request) string {
	f := r.Format
	if f == "" {
		f = XLSX
	}
	return fmt.Sprintf("visits_%s_%s.%s", r.From.Format("2006-01-02"), r.To.Format("2006-01-02"), f)
}

// BuildVisits writes the visit report r asks for to w: an Excel workbook
// (cover, summary, visits, charts) or a CSV of the visits. It streams the
// visits from the database, so memory stays flat with the period's size;
// the workbook itself is assembled by excelize, which spills to temporary
// files past 16 MB per sheet. Errors wrapping ErrBadRequest are the
// caller's (HTTP 400); others are internal.
func BuildVisits(ctx context.Context, st *store.Store, r Request, w io.Writer) error {
	rep, err := resolve(ctx, st, r)
	if err != nil {
		return err
	}
	if rep.Format == CSV {
		return buildCSV(ctx, st, rep, w)
	}
	return buildXLSX(ctx, st, rep, w)
}

// flagText translates the detector's flags for people.
func (t labels) flagText(flags []string, open, disputed bool) string {
	var parts []string
	if open {
		parts = append(parts, t.flags["open"])
	}
	for _, f := range flags {
		if s, ok := t.flags[f]; ok {
			parts = append(parts, s)
		} else {
			parts = append(parts, f)
		}
	}
	if disputed {
		parts = append(parts, t.flags["disputed"])
	}
	return strings.Join(parts, ", ")
}
