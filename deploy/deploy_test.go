// Package deploy_test checks the deploy kit without a Docker engine: the
// Grafana dashboard refers only to metrics and tables that exist, the
// compose file is valid, the systemd unit passes systemd-analyze.
package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr   string `json:"expr"`
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

func loadDashboard(t *testing.T) []panel {
	t.Helper()
	data, err := os.ReadFile("grafana/dashboards/carevisit.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or no panels")
	}
	var flat []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			flat = append(flat, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return flat
}

// codeMetrics collects every `Name: "carevisit_…"` in the repository's
// non-test Go code: the metrics the server can export.
func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "var" || d.Name() == "testdata") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return nil // someone's work in progress: not ours to judge here
		}
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if id, ok := kv.Key.(*ast.Ident); !ok || id.Name != "Name" {
				return true
			}
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "carevisit_") {
					names[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// runtimeMetrics are the Go and process collectors' names, as serve
// registers them.
func runtimeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

var (
	metricRe = regexp.MustCompile(`\b(carevisit_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)\b`)
	tableRe  = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)`)
	createRe = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)`)
)

func TestDashboardReferencesExistingMetrics(t *testing.T) {
	known := codeMetrics(t)
	if !known["carevisit_ingest_frames_total"] {
		t.Fatalf("metric names not found in the code (found %d): is ingest/metrics.go still there?", len(known))
	}
	for n := range runtimeMetrics(t) {
		known[n] = true
	}
	used := map[string]bool{}
	var exprs int
	for _, p := range loadDashboard(t) {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				continue
			}
			exprs++
			if p.Datasource.UID != "prometheus" {
				t.Errorf("panel %q: PromQL on datasource %q", p.Title, p.Datasource.UID)
			}
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				base := m
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suf); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q uses %s, which nothing exports", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	if exprs < 5 {
		t.Errorf("only %d Prometheus queries", exprs)
	}
	// Every ingest metric should be on the dashboard somewhere.
	for n := range codeMetrics(t) {
		if strings.HasPrefix(n, "carevisit_ingest_") && !used[n] {
			t.Errorf("ingest metric %s is on no panel", n)
		}
	}
}

func TestDashboardSQLUsesExistingTables(t *testing.T) {
	files, err := filepath.Glob("../store/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations not found: %v", err)
	}
	tables := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range createRe.FindAllStringSubmatch(string(data), -1) {
			tables[strings.ToLower(m[1])] = true
		}
	}
	var queries int
	for _, p := range loadDashboard(t) {
		for _, tg := range p.Targets {
			if tg.RawSQL == "" {
				continue
			}
			queries++
			if p.Datasource.UID != "carevisit-pg" {
				t.Errorf("panel %q: SQL on datasource %q", p.Title, p.Datasource.UID)
			}
			for _, m := range tableRe.FindAllStringSubmatch(tg.RawSQL, -1) {
				name := strings.ToLower(m[1])
				if name == "unnest" {
					continue
				}
				if !tables[name] {
					t.Errorf("panel %q reads table %s, which no migration creates", p.Title, name)
				}
			}
		}
	}
	if queries == 0 {
		t.Error("no visit panels (SQL)")
	}
}

// TestComposeConfig validates docker-compose.yml with whichever compose
// client is installed (no engine needed), in a copy of this folder with an
// env file made from the example.
func TestComposeConfig(t *testing.T) {
	var cmd []string
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd = []string{"docker", "compose"}
	} else if p, err := exec.LookPath("docker-compose"); err == nil {
		cmd = []string{p}
	} else {
		t.Skip("no compose client (docker compose plugin or docker-compose): compose file not validated")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("carevisit.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "carevisit.env"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) (string, error) {
		c := exec.Command(cmd[0], append(cmd[1:], "-f", "docker-compose.yml", "config")...)
		c.Dir = dir
		c.Env = append(os.Environ(), env...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run("POSTGRES_PASSWORD=p", "GRAFANA_DB_PASSWORD=g", "GRAFANA_ADMIN_PASSWORD=a")
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(cmd, " "), err, out)
	}
	for _, want := range []string{"postgres:", "carevisit:", "prometheus:", "grafana:", "5023", "nofile"} {
		if !strings.Contains(out, want) {
			t.Errorf("resolved compose file lacks %q", want)
		}
	}
	// Secrets are required, not defaulted.
	if out, err := run("POSTGRES_PASSWORD=", "GRAFANA_DB_PASSWORD=g", "GRAFANA_ADMIN_PASSWORD=a"); err == nil {
		t.Errorf("compose accepted an empty POSTGRES_PASSWORD:\n%s", out)
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit, with ExecStart
// and EnvironmentFile pointed at files that exist here.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: unit not verified")
	}
	unit, err := os.ReadFile("carevisit.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env, _ := filepath.Abs("carevisit.env.example")
	s := strings.ReplaceAll(string(unit), "/usr/local/bin/carevisit", self)
	s = strings.ReplaceAll(s, "/etc/carevisit/carevisit.env", env)
	if s == string(unit) {
		t.Fatal("unit's ExecStart or EnvironmentFile path changed: update this test")
	}
	path := filepath.Join(t.TempDir(), "carevisit.service")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
