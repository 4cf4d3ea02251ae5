package reports

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/xuri/excelize/v2"

	"carevisit/store"
)

// excelEpoch is day 0 of Excel's 1900 date system (the 1900 leap-year bug
// makes it the 30th, not the 31st, for every date after February 1900).
var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

// excelTime is t as an Excel date-time serial of its wall clock in loc:
// Excel has no time zones, so the cell must already hold local time.
func excelTime(t time.Time, loc *time.Location) float64 {
	l := t.In(loc)
	wall := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
	return float64(wall.Unix()-excelEpoch.Unix()) / 86400
}

// excelDays is a duration as an Excel time value (a fraction of a day).
func excelDays(seconds int) float64 { return float64(seconds) / 86400 }

// durationBuckets are the upper bounds, in minutes, of the duration chart's
// bars; the last bar is everything longer.
var durationBuckets = []int{15, 30, 45, 60, 90, 120}

// topWorkers is how many workers the hours chart shows: more bars than this
// are unreadable. The summary sheet lists everybody.
const topWorkers = 30

type workerAgg struct {
	id        int64
	name      string
	group     string
	visits    int
	closed    int
	seconds   int
	short     int
	missed    int
	disputed  int
	listOrder int
}

type styles struct {
	head, date, time, dur, dateTime, title, bold, boldDur, hours, key int
}

func newStyles(f *excelize.File, t labels) (styles, error) {
	var s styles
	var err error
	num := func(code string, bold bool) int {
		if err != nil {
			return 0
		}
		var id int
		st := &excelize.Style{CustomNumFmt: &code}
		if bold {
			st.Font = &excelize.Font{Bold: true}
		}
		id, err = f.NewStyle(st)
		return id
	}
	s.date = num(t.dateFmt, false)
	s.time = num(t.timeFmt, false)
	s.dur = num("[h]:mm", false)
	s.dateTime = num(t.dateTimeFmt, false)
	s.boldDur = num("[h]:mm", true)
	s.hours = num("0.0", false)
	if err != nil {
		return s, err
	}
	if s.head, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border:    []excelize.Border{{Type: "bottom", Color: "8EA9DB", Style: 1}},
		Alignment: &excelize.Alignment{Vertical: "center", WrapText: true},
	}); err != nil {
		return s, err
	}
	if s.title, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}); err != nil {
		return s, err
	}
	if s.bold, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
		return s, err
	}
	s.key, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{Vertical: "top"}})
	return s, err
}

// xlsxSink writes the visits sheet as the rows arrive and keeps the small
// aggregates (per worker, per day, per duration bucket) for the other
// sheets.
type xlsxSink struct {
	ctx     context.Context
	rep     *report
	f       *excelize.File
	sw      *excelize.StreamWriter
	st      styles
	row     int
	total   int
	done    int
	workers map[int64]*workerAgg
	perDay  []int
	buckets []int
	vals    []any
}

func buildXLSX(ctx context.Context, st *store.Store, rep *report, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	t := rep.t
	if err := f.SetSheetName("Sheet1", t.sheetCover); err != nil {
		return err
	}
	for _, name := range []string{t.sheetSummary, t.sheetVisits, t.sheetCharts} {
		if _, err := f.NewSheet(name); err != nil {
			return err
		}
	}
	sty, err := newStyles(f, t)
	if err != nil {
		return err
	}
	s := &xlsxSink{ctx: ctx, rep: rep, f: f, st: sty, workers: map[int64]*workerAgg{},
		perDay: make([]int, rep.days), buckets: make([]int, len(durationBuckets)+1), vals: make([]any, 11)}
	if err := st.VisitReport(ctx, rep.filter(), s); err != nil {
		return err
	}
	if s.sw == nil { // Begin was never called: cannot happen with a working store
		return fmt.Errorf("reports: no data")
	}
	if err := s.sw.Flush(); err != nil {
		return err
	}
	if rep.Progress != nil {
		rep.Progress(s.done, s.total)
	}
	aggs := s.sortedWorkers()
	if err := s.writeSummary(aggs); err != nil {
		return fmt.Errorf("reports: summary sheet: %w", err)
	}
	if err := s.writeCharts(aggs); err != nil {
		return fmt.Errorf("reports: charts sheet: %w", err)
	}
	if err := s.writeCover(); err != nil {
		return fmt.Errorf("reports: cover sheet: %w", err)
	}
	// The cover is already the active sheet (it was NewFile's Sheet1). Do not
	// call SetActiveSheet: it parses every worksheet, the streamed visits too,
	// back into memory (60% of allocations for a 5,000-visit report).
	if err := f.SetDocProps(&excelize.DocProperties{Creator: "carevisit", Title: t.title + " " + rep.periodText(),
		Language: t.lang}); err != nil {
		return err
	}
	return f.Write(w)
}

// Begin prepares the visits sheet: the autofilter must cover every row,
// and the stream writer needs it (like panes and widths) before the first row.
func (s *xlsxSink) Begin(workers []store.ReportWorker, visits int) error {
	t := s.rep.t
	for i, w := range workers {
		s.workers[w.ID] = &workerAgg{id: w.ID, name: w.Name, group: w.GroupName, missed: w.MissedPlanned, listOrder: i}
	}
	s.total = visits
	last, _ := excelize.CoordinatesToCellName(len(t.visitsHead), visits+1)
	if err := s.f.AutoFilter(t.sheetVisits, "A1:"+last, nil); err != nil {
		return err
	}
	sw, err := s.f.NewStreamWriter(t.sheetVisits)
	if err != nil {
		return err
	}
	s.sw = sw
	if err := sw.SetPanes(frozenHeader()); err != nil {
		return err
	}
	for i, width := range []float64{11, 28, 34, 28, 18, 9, 9, 12, 24, 22, 24} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	s.row = 1
	return sw.SetRow("A1", header(t.visitsHead, s.st.head), excelize.RowOpts{Height: 30})
}

func frozenHeader() *excelize.Panes {
	return &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}
}

func header(names []string, style int) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = excelize.Cell{StyleID: style, Value: n}
	}
	return out
}

func (s *xlsxSink) Visit(v *store.VisitReportRow) error {
	rep := s.rep
	open := v.End.IsZero()
	// Aggregates.
	agg := s.workers[v.WorkerID]
	if agg == nil {
		name := v.WorkerName
		if v.WorkerID == 0 {
			name = rep.t.noWorker
		}
		agg = &workerAgg{id: v.WorkerID, name: name, group: v.GroupName, listOrder: len(s.workers)}
		s.workers[v.WorkerID] = agg
	}
	agg.visits++
	if v.Disputed {
		agg.disputed++
	}
	if slices.Contains(v.Flags, "short") {
		agg.short++
	}
	if !open {
		agg.closed++
		agg.seconds += v.DurationS
		b := len(durationBuckets)
		for i, ub := range durationBuckets {
			if v.DurationS < ub*60 {
				b = i
				break
			}
		}
		s.buckets[b]++
	}
	day := civil(v.Start.In(rep.loc), rep.loc)
	if d := int(day.Sub(rep.from).Hours()/24 + 0.5); d >= 0 && d < len(s.perDay) {
		s.perDay[d]++
	}

	// The row: times are numbers with a time format, in the org's zone.
	worker := v.WorkerName
	if v.WorkerID == 0 {
		worker = rep.t.noWorker
	}
	vals := s.vals
	vals[0] = excelize.Cell{StyleID: s.st.date, Value: float64(int(excelTime(day, rep.loc)))}
	vals[1] = v.ClientName
	vals[2] = v.ClientAddress
	vals[3] = worker
	vals[4] = v.GroupName
	vals[5] = excelize.Cell{StyleID: s.st.time, Value: excelTime(v.Start, rep.loc)}
	if open {
		vals[6], vals[7] = nil, nil
	} else {
		vals[6] = excelize.Cell{StyleID: s.st.time, Value: excelTime(v.End, rep.loc)}
		vals[7] = excelize.Cell{StyleID: s.st.dur, Value: excelDays(v.DurationS)}
	}
	vals[8] = v.Services
	vals[9] = rep.t.flagText(v.Flags, open, v.Disputed)
	vals[10] = v.Corrections
	s.row++
	cell, _ := excelize.CoordinatesToCellName(1, s.row)
	if err := s.sw.SetRow(cell, vals); err != nil {
		return err
	}
	s.done++
	if s.done%5000 == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if rep.Progress != nil {
			rep.Progress(s.done, s.total)
		}
	}
	return nil
}

// sortedWorkers lists workers in the store's order (by name), the visits
// of no worker last.
func (s *xlsxSink) sortedWorkers() []*workerAgg {
	out := make([]*workerAgg, 0, len(s.workers))
	for _, a := range s.workers {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *workerAgg) int {
		if (a.id == 0) != (b.id == 0) {
			if a.id == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.listOrder, b.listOrder)
	})
	return out
}

func (s *xlsxSink) writeSummary(aggs []*workerAgg) error {
	t := s.rep.t
	last, _ := excelize.CoordinatesToCellName(len(t.summaryHead), len(aggs)+1)
	if err := s.f.AutoFilter(t.sheetSummary, "A1:"+last, nil); err != nil {
		return err
	}
	sw, err := s.f.NewStreamWriter(t.sheetSummary)
	if err != nil {
		return err
	}
	if err := sw.SetPanes(frozenHeader()); err != nil {
		return err
	}
	for i, width := range []float64{30, 18, 10, 14, 14, 12, 14, 12} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetRow("A1", header(t.summaryHead, s.st.head), excelize.RowOpts{Height: 30}); err != nil {
		return err
	}
	var tot workerAgg
	row := 1
	for _, a := range aggs {
		row++
		avg := any(nil)
		if a.closed > 0 {
			avg = excelize.Cell{StyleID: s.st.dur, Value: excelDays(a.seconds) / float64(a.closed)}
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, []any{a.name, a.group, a.visits,
			excelize.Cell{StyleID: s.st.dur, Value: excelDays(a.seconds)}, avg, a.short, a.missed, a.disputed}); err != nil {
			return err
		}
		tot.visits += a.visits
		tot.closed += a.closed
		tot.seconds += a.seconds
		tot.short += a.short
		tot.missed += a.missed
		tot.disputed += a.disputed
	}
	row++
	b := s.st.bold
	avg := any(nil)
	if tot.closed > 0 {
		avg = excelize.Cell{StyleID: s.st.boldDur, Value: excelDays(tot.seconds) / float64(tot.closed)}
	}
	cell, _ := excelize.CoordinatesToCellName(1, row)
	if err := sw.SetRow(cell, []any{excelize.Cell{StyleID: b, Value: t.total}, nil,
		excelize.Cell{StyleID: b, Value: tot.visits}, excelize.Cell{StyleID: s.st.boldDur, Value: excelDays(tot.seconds)},
		avg, excelize.Cell{StyleID: b, Value: tot.short}, excelize.Cell{StyleID: b, Value: tot.missed},
		excelize.Cell{StyleID: b, Value: tot.disputed}}); err != nil {
		return err
	}
	return sw.Flush()
}

// writeCharts fills the charts sheet's data tables and adds three native
// Excel charts over them.
func (s *xlsxSink) writeCharts(aggs []*workerAgg) error {
	t, f, sh := s.rep.t, s.f, s.rep.t.sheetCharts
	set := func(cell string, v any, style int) error {
		if err := f.SetCellValue(sh, cell, v); err != nil {
			return err
		}
		if style != 0 {
			return f.SetCellStyle(sh, cell, cell, style)
		}
		return nil
	}
	for _, h := range []struct {
		cell, text string
	}{{"A1", t.dayHead}, {"B1", t.countHead}, {"D1", t.bucketHead}, {"E1", t.countHead},
		{"G1", t.workerHead}, {"H1", t.hoursHead}} {
		if err := set(h.cell, h.text, s.st.head); err != nil {
			return err
		}
	}
	for i, n := range s.perDay {
		day := s.rep.from.AddDate(0, 0, i)
		if err := set(fmt.Sprintf("A%d", i+2), float64(int(excelTime(day, s.rep.loc))), s.st.date); err != nil {
			return err
		}
		if err := set(fmt.Sprintf("B%d", i+2), n, 0); err != nil {
			return err
		}
	}
	for i, n := range s.buckets {
		var label string
		switch {
		case i == 0:
			label = fmt.Sprintf("< %d", durationBuckets[0])
		case i == len(durationBuckets):
			label = fmt.Sprintf("≥ %d", durationBuckets[i-1])
		default:
			label = fmt.Sprintf("%d–%d", durationBuckets[i-1], durationBuckets[i])
		}
		if err := set(fmt.Sprintf("D%d", i+2), label, 0); err != nil {
			return err
		}
		if err := set(fmt.Sprintf("E%d", i+2), n, 0); err != nil {
			return err
		}
	}
	top := slices.Clone(aggs)
	slices.SortStableFunc(top, func(a, b *workerAgg) int { return cmp.Compare(b.seconds, a.seconds) })
	if len(top) > topWorkers {
		top = top[:topWorkers]
	}
	if len(top) == 0 {
		top = []*workerAgg{{name: "—"}}
	}
	for i, a := range top {
		if err := set(fmt.Sprintf("G%d", i+2), a.name, 0); err != nil {
			return err
		}
		if err := set(fmt.Sprintf("H%d", i+2), float64(a.seconds)/3600, s.st.hours); err != nil {
			return err
		}
	}
	for col, w := range map[string]float64{"A": 12, "B": 9, "D": 18, "E": 9, "G": 30, "H": 9} {
		if err := f.SetColWidth(sh, col, col, w); err != nil {
			return err
		}
	}
	q := "'" + sh + "'!"
	rng := func(col string, n int) string { return fmt.Sprintf("%s$%s$2:$%s$%d", q, col, col, n+1) }
	noLegend := excelize.ChartLegend{Position: "none"}
	one := false // a single series: one colour, not one per bar
	zero := 0.0  // value axes start at zero: bars compare by length
	values := excelize.ChartAxis{Minimum: &zero, MajorGridLines: true}
	title := func(s string) excelize.ChartTitle {
		return excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: s}}}
	}
	charts := []struct {
		cell  string
		chart *excelize.Chart
	}{
		{"J2", &excelize.Chart{Type: excelize.Col, Title: title(t.chartVisitsPerDay), Legend: noLegend, VaryColors: &one,
			Series: []excelize.ChartSeries{{Name: q + "$B$1", Categories: rng("A", len(s.perDay)), Values: rng("B", len(s.perDay))}},
			XAxis:  excelize.ChartAxis{NumFmt: excelize.ChartNumFmt{CustomNumFmt: t.chartDayFmt}}, YAxis: values,
			Dimension: excelize.ChartDimension{Width: 720, Height: 300}}},
		{"J19", &excelize.Chart{Type: excelize.Bar, Title: title(t.chartHoursPerWorker), Legend: noLegend, VaryColors: &one,
			Series: []excelize.ChartSeries{{Name: q + "$H$1", Categories: rng("G", len(top)), Values: rng("H", len(top))}},
			XAxis:  excelize.ChartAxis{ReverseOrder: true}, YAxis: values,
			Dimension: excelize.ChartDimension{Width: 720, Height: uint(120 + 18*len(top))}}},
		{"V2", &excelize.Chart{Type: excelize.Col, Title: title(t.chartDurations), Legend: noLegend, VaryColors: &one,
			Series: []excelize.ChartSeries{{Name: q + "$E$1", Categories: rng("D", len(s.buckets)),
				Values: rng("E", len(s.buckets))}}, YAxis: values,
			Dimension: excelize.ChartDimension{Width: 480, Height: 300}}},
	}
	for _, c := range charts {
		if err := f.AddChart(sh, c.cell, c.chart); err != nil {
			return err
		}
	}
	// Printed, the sheet is one landscape page rather than charts cut in
	// strips across a dozen.
	landscape, one1 := "landscape", 1
	fit := true
	if err := f.SetSheetProps(sh, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	return f.SetPageLayout(sh, &excelize.PageLayoutOptions{Orientation: &landscape, FitToWidth: &one1, FitToHeight: &one1})
}

func (s *xlsxSink) writeCover() error {
	rep, f := s.rep, s.f
	t, sh := rep.t, rep.t.sheetCover
	if err := f.SetCellValue(sh, "A1", t.title); err != nil {
		return err
	}
	if err := f.SetCellStyle(sh, "A1", "A1", s.st.title); err != nil {
		return err
	}
	values := []struct {
		v     any
		style int
	}{
		{rep.org.Name, 0},
		{rep.periodText(), 0},
		{rep.org.Timezone, 0},
		{rep.scopeName, 0},
		{excelTime(rep.builtAt, rep.loc), s.st.dateTime},
		{s.total, 0},
		{t.lang, 0},
	}
	for i, kv := range values {
		row := i + 3
		a, b := fmt.Sprintf("A%d", row), fmt.Sprintf("B%d", row)
		if err := f.SetCellValue(sh, a, t.coverKeys[i]); err != nil {
			return err
		}
		if err := f.SetCellStyle(sh, a, a, s.st.key); err != nil {
			return err
		}
		if err := f.SetCellValue(sh, b, kv.v); err != nil {
			return err
		}
		if kv.style != 0 {
			if err := f.SetCellStyle(sh, b, b, kv.style); err != nil {
				return err
			}
		}
	}
	if err := f.SetColWidth(sh, "A", "A", 18); err != nil {
		return err
	}
	return f.SetColWidth(sh, "B", "B", 48)
}
