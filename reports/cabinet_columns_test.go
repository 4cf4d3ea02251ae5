package reports_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"carevisit/reports"
)

// The columns that come from the cabinet: services ticked in the app during
// the visit, supervisors' corrections, citizens' disputes, missed planned
// visits in the summary.
func TestCabinetColumns(t *testing.T) {
	fx := seed(t)
	ctx := context.Background()
	q := func(sql string, args ...any) int64 {
		t.Helper()
		var id int64
		if err := fx.st.Pool.QueryRow(ctx, sql, args...).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, fx.loc) }
	visit := q(`SELECT id FROM visits WHERE worker_id = $1 AND start_time = $2`, fx.w2, at(5, 14, 0))
	client := q(`SELECT client_id FROM visits WHERE id = $1`, visit)
	cooking := q(`INSERT INTO services (org_id, name, norm_minutes) VALUES ($1, 'Приготовление пищи', 30) RETURNING id`, fx.org)
	q(`INSERT INTO service_ticks (org_id, worker_id, client_id, service_id, at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		fx.org, fx.w2, client, cooking, at(5, 14, 30))
	q(`INSERT INTO visit_reviews (visit_id, status, start_time, end_time, reason) VALUES ($1, 'corrected', $2, $3, 'забыл трекер') RETURNING id`,
		visit, at(5, 13, 50), at(5, 15, 30))
	q(`INSERT INTO visit_feedback (visit_id, status, comment) VALUES ($1, 'disputed', 'не приходила') RETURNING id`, visit)
	plan := q(`INSERT INTO planned_visits (org_id, client_id, worker_id, weekday, start_min, end_min) VALUES ($1, $2, $3, 1, 600, 660) RETURNING id`,
		fx.org, client, fx.w1)
	q(`INSERT INTO missed_visits (org_id, planned_visit_id, client_id, worker_id, window_start, window_end) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		fx.org, plan, client, fx.w1, at(9, 10, 0), at(9, 11, 0))

	b := fx.build(t, reports.Request{Format: reports.CSV})
	r := csv.NewReader(bytes.NewReader(b[3:]))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(recs[5], "|")
	for _, want := range []string{"Приготовление пищи", "оспорен", "corrected", "забыл трекер"} {
		if !strings.Contains(line, want) {
			t.Errorf("visit line lacks %q: %s", want, line)
		}
	}
	f := open(t, fx.build(t, reports.Request{}))
	sum := rows(t, f, "Сводка")
	missedCol, disputedCol := -1, -1
	var found bool
	for _, row := range sum {
		for i, c := range row {
			switch c {
			case "Пропущенные плановые":
				missedCol = i
			case "Оспоренные":
				disputedCol = i
			}
		}
		if len(row) > 0 && row[0] == "Андреева Анна" && missedCol >= 0 {
			found = true
			if row[missedCol] != "1" {
				t.Errorf("missed planned visits of Андреева = %q, want 1: %q", row[missedCol], row)
			}
		}
		if len(row) > 0 && row[0] == "Борисова Вера" && disputedCol >= 0 && disputedCol < len(row) && row[disputedCol] != "1" {
			t.Errorf("disputed visits of Борисова = %q, want 1", row[disputedCol])
		}
	}
	if !found {
		t.Errorf("summary has no row for the worker: %q", sum)
	}
}
