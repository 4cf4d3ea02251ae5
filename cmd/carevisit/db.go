package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"carevisit/store"
)

// dbFlag adds -database-url, defaulting to $DATABASE_URL.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (env DATABASE_URL)")
}

// openDB connects, naming DATABASE_URL in the error so the operator knows
// what to fix.
func openDB(ctx context.Context, dsn string, maxConns int32) (*store.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("DATABASE_URL is not set: point it at PostgreSQL (e.g. postgres://user:pass@localhost:5432/carevisit), or use `make run`, which starts a local database")
	}
	st, err := store.Open(ctx, dsn, maxConns)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the database named by DATABASE_URL: %w", err)
	}
	return st, nil
}

func cmdMigrate(ctx context.Context, args []string, out interface{ Write([]byte) (int, error) }) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dsn := dbFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "migrations applied")
	return nil
}

// parseArgs parses flags wherever they stand among the positional
// arguments (`device import file.csv -org 2` reads as users expect) and
// returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
