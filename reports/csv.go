package reports

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"carevisit/store"
)

// csvSink writes one line per visit, with the visits sheet's columns.
// Times are text in the organisation's zone; the duration is whole minutes
// (a number a spreadsheet can sum). A UTF-8 byte order mark comes first:
// Excel reads a CSV without one as the local ANSI code page.
type csvSink struct {
	ctx   context.Context
	rep   *report
	w     *csv.Writer
	total int
	done  int
	rec   []string
}

func buildCSV(ctx context.Context, st *store.Store, rep *report, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	cw.Comma = rep.t.csvComma
	s := &csvSink{ctx: ctx, rep: rep, w: cw}
	if err := st.VisitReport(ctx, rep.filter(), s); err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if rep.Progress != nil {
		rep.Progress(s.done, s.total)
	}
	return bw.Flush()
}

func (s *csvSink) Begin(_ []store.ReportWorker, visits int) error {
	s.total = visits
	head := append([]string(nil), s.rep.t.visitsHead...)
	head[7] += ", " + s.rep.t.minutes
	s.rec = make([]string, len(head))
	return s.w.Write(head)
}

func (s *csvSink) Visit(v *store.VisitReportRow) error {
	t, loc := s.rep.t, s.rep.loc
	open := v.End.IsZero()
	start := v.Start.In(loc)
	worker := v.WorkerName
	if v.WorkerID == 0 {
		worker = t.noWorker
	}
	r := s.rec
	r[0] = t.date(start)
	r[1], r[2], r[3], r[4] = v.ClientName, v.ClientAddress, worker, v.GroupName
	r[5] = start.Format("15:04")
	r[6], r[7] = "", ""
	if !open {
		r[6] = v.End.In(loc).Format("15:04")
		r[7] = strconv.Itoa((v.DurationS + 30) / 60)
	}
	r[8], r[9], r[10] = v.Services, t.flagText(v.Flags, open, v.Disputed), v.Corrections
	if err := s.w.Write(r); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	s.done++
	if s.done%5000 == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if s.rep.Progress != nil {
			s.rep.Progress(s.done, s.total)
		}
	}
	return nil
}
