// Package pgtest gives tests a real PostgreSQL: a fresh database per test,
// cloned from a migrated template.
//
// With CAREVISIT_TEST_DATABASE_URL set (make test starts one cluster for the
// whole run) that server is used. Otherwise Main starts a private throwaway
// cluster for the package's test process with scripts/pgctl.sh and stops it
// at the end. Where PostgreSQL cannot be had the tests fail with the reason:
// a database test never passes quietly.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"carevisit/store"
)

const envURL = "CAREVISIT_TEST_DATABASE_URL"

var (
	// These are process-wide by necessity: one cluster per test binary.
	adminURL  string
	startErr  error
	tmplOnce  sync.Once
	tmplName  string
	tmplErr   error
	clusterMu sync.Mutex
)

// Main wraps testing.M: it provides a server (an existing one, or a private
// cluster it stops afterwards) and exits with the tests' status.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	adminURL = os.Getenv(envURL)
	var dir string
	if adminURL == "" {
		dir, adminURL, startErr = startCluster()
	}
	code := m.Run()
	if dir != "" {
		stopCluster(dir)
	}
	os.Exit(code)
}

func root() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		d = p
	}
}

func startCluster() (dir, dsn string, err error) {
	r, err := root()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "cvpg")
	if err != nil {
		return "", "", err
	}
	out, err := exec.Command("bash", filepath.Join(r, "scripts", "pgctl.sh"), "start", dir).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("start PostgreSQL (scripts/pgctl.sh): %s", strings.TrimSpace(msg))
	}
	return dir, strings.TrimSpace(string(out)), nil
}

func stopCluster(dir string) {
	r, err := root()
	if err == nil {
		exec.Command("bash", filepath.Join(r, "scripts", "pgctl.sh"), "stop", dir).Run()
	}
	os.RemoveAll(dir)
}

// URL returns the admin DSN of the test server, failing the test if there is none.
func URL(tb testing.TB) string {
	tb.Helper()
	if adminURL == "" && startErr == nil {
		tb.Fatalf("pgtest: no server: call pgtest.Main from TestMain, or set %s", envURL)
	}
	if startErr != nil {
		tb.Fatalf("pgtest: %v (or set %s)", startErr, envURL)
	}
	return adminURL
}

// template creates (once per process, shared across processes by name) a
// database with the current migrations applied.
func template(tb testing.TB) string {
	tb.Helper()
	tmplOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		tmplName = "carevisit_tmpl_" + store.MigrationsHash()
		conn, err := pgx.Connect(ctx, URL(tb))
		if err != nil {
			tmplErr = err
			return
		}
		defer conn.Close(ctx)
		// Serialise template creation across test processes.
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7411)`); err != nil {
			tmplErr = err
			return
		}
		defer conn.Exec(ctx, `SELECT pg_advisory_unlock(7411)`)
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, tmplName).Scan(&exists); err != nil {
			tmplErr = err
			return
		}
		if exists {
			return
		}
		conn.Exec(ctx, `DROP DATABASE IF EXISTS `+tmplName)
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+tmplName); err != nil {
			tmplErr = err
			return
		}
		st, err := store.Open(ctx, withDB(URL(tb), tmplName), 2)
		if err != nil {
			tmplErr = err
			return
		}
		err = st.Migrate(ctx)
		st.Close()
		if err != nil {
			tmplErr = err
			return
		}
		_, tmplErr = conn.Exec(ctx, `ALTER DATABASE `+tmplName+` WITH is_template = true`)
	})
	if tmplErr != nil {
		tb.Fatalf("pgtest: template database: %v", tmplErr)
	}
	return tmplName
}

// NewDB creates a fresh migrated database for this test and returns its DSN.
// It is dropped when the test ends.
func NewDB(tb testing.TB) string {
	tb.Helper()
	tmpl := template(tb)
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	clusterMu.Lock()
	conn, err := pgx.Connect(ctx, URL(tb))
	if err == nil {
		_, err = conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl)
		conn.Close(ctx)
	}
	clusterMu.Unlock()
	if err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, URL(tb))
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return withDB(URL(tb), name)
}

// NewStore returns a store on a fresh database, closed when the test ends.
func NewStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), NewDB(tb), 8)
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(st.Close)
	return st
}

// Pool returns a pool on a fresh database.
func Pool(tb testing.TB) *pgxpool.Pool { return NewStore(tb).Pool }

func withDB(dsn, db string) string {
	if strings.Contains(dsn, "://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err == nil {
			return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
				cfg.Host, cfg.Port, cfg.User, cfg.Password, db)
		}
	}
	var parts []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+db), " ")
}
