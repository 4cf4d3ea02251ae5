package reports_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"html"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"carevisit/internal/pgtest"
	"carevisit/reports"
	"carevisit/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture is a small organisation in UTC+5 with two groups, three workers
// and visits that test the edges: midnight, open, short, no worker, outside
// the period.
type fixture struct {
	st                 *store.Store
	dsn                string
	org, otherOrg      int64
	groupA, groupB     int64
	w1, w2, w3         int64
	loc                *time.Location
	from, to           time.Time
	builtAt            time.Time
	inPeriod, outsider int
}

func seed(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	st, err := store.Open(ctx, dsn, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	fx := fixture{st: st, dsn: dsn}
	must := func(id int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	fx.org = must(st.AddOrganisation(ctx, "ЦСО «Заречье»", "Asia/Yekaterinburg"))
	fx.otherOrg = must(st.AddOrganisation(ctx, "Другая", "Europe/Moscow"))
	fx.loc, err = time.LoadLocation("Asia/Yekaterinburg")
	if err != nil {
		t.Fatal(err)
	}
	fx.groupA = must(st.AddGroup(ctx, fx.org, "Центр"))
	fx.groupB = must(st.AddGroup(ctx, fx.org, "Север"))
	dev := func(ident string) int64 {
		return must(st.AddDevice(ctx, store.Device{OrgID: fx.org, Ident: ident, Protocol: "gt06"}))
	}
	d1, d2, d3, d4 := dev("860000000000001"), dev("860000000000002"), dev("860000000000003"), dev("860000000000004")
	worker := func(name string, device, group int64) int64 {
		id := must(st.AddWorker(ctx, store.Worker{OrgID: fx.org, FullName: name, DeviceID: device}))
		if _, err := st.Pool.Exec(ctx, `UPDATE workers SET group_id = $1 WHERE id = $2`, group, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	fx.w1 = worker("Андреева Анна", d1, fx.groupA)
	fx.w2 = worker("Борисова Вера", d2, fx.groupA)
	fx.w3 = worker("Власова Галина", d3, fx.groupB)
	client := func(name, addr string) int64 {
		return must(st.AddClient(ctx, store.Client{OrgID: fx.org, FullName: name, Address: addr, FenceKind: "circle",
			CenterLat: 56.8, CenterLon: 60.6, RadiusM: 40}))
	}
	c1 := client("Иванова А. П.", "ул. Ленина, 1, кв. 5")
	c2 := client("Петров Б. С.", "ул. Мира, 7")
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, fx.loc) }
	visit := func(w, c int64, start, end time.Time, flags ...string) store.Visit {
		v := store.Visit{OrgID: fx.org, WorkerID: w, ClientID: c, Start: start, End: end, LastSeen: start, Flags: flags}
		if !end.IsZero() {
			v.DurationS = int(end.Sub(start).Seconds())
			v.LastSeen = end
		}
		return v
	}
	put := func(device int64, vs ...store.Visit) {
		t.Helper()
		for i := range vs {
			vs[i].DeviceID = device
		}
		if err := st.ReplaceVisits(ctx, device, at(1, 0, 0).AddDate(0, -1, 0), at(1, 0, 0).AddDate(0, 2, 0), vs); err != nil {
			t.Fatal(err)
		}
	}
	put(d1,
		visit(fx.w1, c1, at(2, 9, 0), at(2, 9, 40)),
		visit(fx.w1, c2, at(2, 23, 50), at(3, 0, 20)), // crosses midnight: counted on the 2nd
		visit(fx.w1, c1, at(3, 11, 0), at(3, 11, 10), "short"),
		visit(fx.w1, c1, at(30, 23, 0), at(31, 0, 0)), // 1 Dec 00:00 local: the 30th is the last day
	)
	put(d2,
		visit(fx.w2, c2, at(5, 14, 0), at(5, 15, 30)),
		visit(fx.w2, c1, at(6, 10, 0), time.Time{}),  // open
		visit(fx.w2, c1, at(31, 0, 5), at(31, 1, 0)), // 1 December: outside
	)
	put(d4, visit(0, c2, at(4, 8, 0), at(4, 8, 30), "unassigned"))
	fx.inPeriod, fx.outsider = 7, 1
	fx.from, fx.to = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	fx.builtAt = time.Date(2026, 12, 1, 3, 4, 0, 0, time.UTC) // 08:04 in Yekaterinburg
	return fx
}

func (fx fixture) build(t *testing.T, r reports.Request) []byte {
	t.Helper()
	r.OrgID, r.From, r.To = fx.org, fx.from, fx.to
	r.Now = func() time.Time { return fx.builtAt }
	var buf bytes.Buffer
	if err := reports.BuildVisits(context.Background(), fx.st, r, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func open(t *testing.T, b []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func rows(t *testing.T, f *excelize.File, sheet string, opts ...excelize.Options) [][]string {
	t.Helper()
	rs, err := f.GetRows(sheet, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func numFmt(t *testing.T, f *excelize.File, sheet, cell string) string {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.CustomNumFmt == nil {
		return ""
	}
	return *st.CustomNumFmt
}

func zipFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[zf.Name] = string(data)
	}
	return out
}

func TestWorkbookOrganisation(t *testing.T) {
	fx := seed(t)
	var progress [][2]int
	b := fx.build(t, reports.Request{Progress: func(d, n int) { progress = append(progress, [2]int{d, n}) }})
	f := open(t, b)

	if got, want := strings.Join(f.GetSheetList(), ","), "Обложка,Сводка,Визиты,Графики"; got != want {
		t.Fatalf("sheets %s, want %s", got, want)
	}
	if len(progress) == 0 || progress[len(progress)-1] != [2]int{fx.inPeriod, fx.inPeriod} {
		t.Errorf("progress %v, want it to end with %d/%d", progress, fx.inPeriod, fx.inPeriod)
	}

	// Visits sheet: what a user sees (formatted in the org's zone) and what
	// Excel stores (numbers).
	vis := rows(t, f, "Визиты")
	want := [][]string{
		{"Дата", "Клиент", "Адрес", "Сотрудник", "Группа", "Прибытие", "Уход", "Длительность", "Услуги", "Отметки", "Корректировки"},
		{"02.11.2026", "Иванова А. П.", "ул. Ленина, 1, кв. 5", "Андреева Анна", "Центр", "09:00", "09:40", "0:40"},
		{"02.11.2026", "Петров Б. С.", "ул. Мира, 7", "Андреева Анна", "Центр", "23:50", "00:20", "0:30"},
		{"03.11.2026", "Иванова А. П.", "ул. Ленина, 1, кв. 5", "Андреева Анна", "Центр", "11:00", "11:10", "0:10", "", "короткий"},
		{"04.11.2026", "Петров Б. С.", "ул. Мира, 7", "(без сотрудника)", "", "08:00", "08:30", "0:30", "", "клиент не закреплён"},
		{"05.11.2026", "Петров Б. С.", "ул. Мира, 7", "Борисова Вера", "Центр", "14:00", "15:30", "1:30"},
		{"06.11.2026", "Иванова А. П.", "ул. Ленина, 1, кв. 5", "Борисова Вера", "Центр", "10:00", "", "", "", "не завершён"},
		{"30.11.2026", "Иванова А. П.", "ул. Ленина, 1, кв. 5", "Андреева Анна", "Центр", "23:00", "00:00", "1:00"},
	}
	if len(vis) != len(want) {
		t.Fatalf("visits sheet has %d rows, want %d: %q", len(vis), len(want), vis)
	}
	for i := range want {
		if strings.Join(vis[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("visits row %d:\n got %q\nwant %q", i+1, vis[i], want[i])
		}
	}
	raw := rows(t, f, "Визиты", excelize.Options{RawCellValue: true})
	for _, c := range []struct {
		row, col int
		want     float64
	}{
		{1, 0, 46328},             // 2 Nov 2026 = Excel day 46328
		{1, 5, 46328 + 9.0/24},    // arrived 09:00 local
		{2, 6, 46329 + 20.0/1440}, // left 00:20 on the 3rd
		{5, 7, 90.0 / 1440},       // 1 h 30 min
		{7, 6, 46357},             // 1 Dec 00:00
	} {
		got, err := strconv.ParseFloat(raw[c.row][c.col], 64)
		if err != nil || abs(got-c.want) > 1e-6 {
			t.Errorf("raw %s%d = %q, want the number %v", string(rune('A'+c.col)), c.row+1, raw[c.row][c.col], c.want)
		}
	}
	for cell, want := range map[string]string{"A2": "dd.mm.yyyy", "F2": "hh:mm", "G2": "hh:mm", "H2": "[h]:mm"} {
		if got := numFmt(t, f, "Визиты", cell); got != want {
			t.Errorf("Визиты!%s number format %q, want %q", cell, got, want)
		}
	}
	for _, sh := range []string{"Визиты", "Сводка"} {
		p, err := f.GetPanes(sh)
		if err != nil || !p.Freeze || p.YSplit != 1 {
			t.Errorf("%s: panes %+v %v, want the header row frozen", sh, p, err)
		}
	}

	// Summary: per worker, in name order, no-worker last, then the total.
	sum := rows(t, f, "Сводка")
	wantSum := [][]string{
		{"Сотрудник", "Группа", "Визиты", "Часы у клиентов", "Средняя длительность", "Короткие визиты", "Пропущенные плановые", "Оспоренные"},
		{"Андреева Анна", "Центр", "4", "2:20", "0:35", "1", "0", "0"},
		{"Борисова Вера", "Центр", "2", "1:30", "1:30", "0", "0", "0"},
		{"Власова Галина", "Север", "0", "0:00", "", "0", "0", "0"},
		{"(без сотрудника)", "", "1", "0:30", "0:30", "0", "0", "0"},
		{"Итого", "", "7", "4:20", "0:43", "1", "0", "0"},
	}
	for i := range wantSum {
		if i >= len(sum) || strings.Join(sum[i], "|") != strings.Join(wantSum[i], "|") {
			t.Errorf("summary row %d:\n got %q\nwant %q", i+1, at(sum, i), wantSum[i])
		}
	}
	if len(sum) != len(wantSum) {
		t.Errorf("summary has %d rows, want %d", len(sum), len(wantSum))
	}
	// Cross-check against the database: the total is the period's visits.
	all, err := fx.st.Visits(context.Background(), store.VisitFilter{OrgID: fx.org})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != fx.inPeriod+fx.outsider {
		t.Fatalf("database holds %d visits, fixture made %d", len(all), fx.inPeriod+fx.outsider)
	}

	// Cover.
	cover := rows(t, f, "Обложка")
	for _, kv := range [][2]string{{"Организация", "ЦСО «Заречье»"}, {"Период", "01.11.2026 – 30.11.2026"},
		{"Часовой пояс", "Asia/Yekaterinburg"}, {"Охват", "Вся организация"}, {"Сформирован", "01.12.2026 08:04"},
		{"Визитов", "7"}} {
		found := false
		for _, r := range cover {
			if len(r) >= 2 && r[0] == kv[0] && r[1] == kv[1] {
				found = true
			}
		}
		if !found {
			t.Errorf("cover lacks %s = %s: %q", kv[0], kv[1], cover)
		}
	}

	// Charts: three native charts over the charts sheet's tables.
	files := zipFiles(t, b)
	var charts []string
	for name, body := range files {
		if strings.HasPrefix(name, "xl/charts/chart") {
			charts = append(charts, html.UnescapeString(body))
		}
	}
	if len(charts) != 3 {
		t.Fatalf("%d charts, want 3", len(charts))
	}
	joined := strings.Join(charts, "\n")
	for _, ref := range []string{"'Графики'!$B$2:$B$31", "'Графики'!$H$2:$H$5", "'Графики'!$E$2:$E$8"} {
		if !strings.Contains(joined, ref) {
			t.Errorf("no chart plots %s", ref)
		}
	}
	gr := rows(t, f, "Графики")
	if gr[2][0] != "02.11.2026" || gr[2][1] != "2" { // the 2nd: w1's two visits
		t.Errorf("visits per day row for 2 Nov: %q", gr[2])
	}
	// Autofilter over the whole visits table.
	if !strings.Contains(files["xl/worksheets/sheet3.xml"], `<autoFilter ref="$A$1:$K$8"`) {
		t.Errorf("visits sheet has no autofilter over A1:K8")
	}
}

func at(rs [][]string, i int) []string {
	if i < len(rs) {
		return rs[i]
	}
	return nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestWorkbookScopes(t *testing.T) {
	fx := seed(t)
	for _, tc := range []struct {
		name    string
		req     reports.Request
		visits  int
		workers []string
		scope   string
	}{
		{"group", reports.Request{GroupID: fx.groupA}, 6, []string{"Андреева Анна", "Борисова Вера"}, "Группа: Центр"},
		{"worker", reports.Request{WorkerID: fx.w2}, 2, []string{"Борисова Вера"}, "Сотрудник: Борисова Вера"},
		{"supervisor of group B", reports.Request{Groups: []int64{fx.groupB}}, 0, []string{"Власова Галина"}, "Группы руководителя"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, fx.build(t, tc.req))
			if n := len(rows(t, f, "Визиты")) - 1; n != tc.visits {
				t.Errorf("%d visits, want %d", n, tc.visits)
			}
			sum := rows(t, f, "Сводка")
			var names []string
			for _, r := range sum[1 : len(sum)-1] {
				names = append(names, r[0])
			}
			if strings.Join(names, ",") != strings.Join(tc.workers, ",") {
				t.Errorf("summary workers %q, want %q", names, tc.workers)
			}
			if v, _ := f.GetCellValue("Обложка", "B6"); v != tc.scope {
				t.Errorf("cover scope %q, want %q", v, tc.scope)
			}
		})
	}
}

func TestWorkbookEnglish(t *testing.T) {
	fx := seed(t)
	f := open(t, fx.build(t, reports.Request{Lang: "en", WorkerID: fx.w2}))
	if got := strings.Join(f.GetSheetList(), ","); got != "Cover,Summary,Visits,Charts" {
		t.Fatalf("sheets %s", got)
	}
	vis := rows(t, f, "Visits")
	if vis[0][0] != "Date" || vis[1][0] != "2026-11-05" || vis[1][5] != "14:00" || vis[2][9] != "in progress" {
		t.Errorf("english visits sheet: %q", vis)
	}
}

func TestCSV(t *testing.T) {
	fx := seed(t)
	b := fx.build(t, reports.Request{Format: reports.CSV})
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Fatal("no UTF-8 byte order mark")
	}
	r := csv.NewReader(bytes.NewReader(b[3:]))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != fx.inPeriod+1 {
		t.Fatalf("%d lines, want %d", len(recs), fx.inPeriod+1)
	}
	if got := strings.Join(recs[5], "|"); got != "05.11.2026|Петров Б. С.|ул. Мира, 7|Борисова Вера|Центр|14:00|15:30|90|||" {
		t.Errorf("line 6: %s", got)
	}
}

func TestBadRequests(t *testing.T) {
	fx := seed(t)
	other, err := fx.st.AddGroup(context.Background(), fx.otherOrg, "Чужая")
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]reports.Request{
		"group of another org": {OrgID: fx.org, From: fx.from, To: fx.to, GroupID: other},
		"reversed period":      {OrgID: fx.org, From: fx.to, To: fx.from},
		"unknown language":     {OrgID: fx.org, From: fx.from, To: fx.to, Lang: "de"},
		"unknown organisation": {OrgID: 999999, From: fx.from, To: fx.to},
	} {
		err := reports.BuildVisits(context.Background(), fx.st, r, io.Discard)
		if !errors.Is(err, reports.ErrBadRequest) {
			t.Errorf("%s: err %v, want ErrBadRequest", name, err)
		}
	}
}
