// Command carevisit is the carevisit server and its tools.
//
//	carevisit serve      run the ingest server (trackers, phones) and HTTP endpoints
//	carevisit migrate    apply database migrations
//	carevisit decode     decode tracker bytes from stdin (support tool)
//	carevisit device     add, list, import devices; list unknown ones
//	carevisit org        add, list organisations
//	carevisit visits     detect visits offline
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `carevisit: proves when home-care workers visited their clients.

Usage: carevisit <command> [flags]

Commands:
  serve     run the server (GT06 :5023, H02 :5013, watch :5093, OsmAnd :5055, HTTP :8080)
  migrate   apply database migrations (serve does this at start too)
  decode    decode tracker input from stdin: -proto gt06|h02|watch|osmand [-hex] [-imei ID]
  device    add | list | import FILE.csv | unknown
  org       add -name NAME [-tz Europe/Moscow] | list
  visits    detect DIR (offline detection over a benchmark folder)
            recompute -from 2026-11-01 -to 2026-11-08 [-device ID] (re-run over stored positions)
  report    visits -org ID -from DATE -to DATE [-group ID|-worker ID] [-lang en] -o FILE.xlsx|.csv
            schedule add|list|enable|disable | runs | mail-test
  user      add -email E -name N -role platform|admin|supervisor|auditor [-org ID] [-password P]
  demo      seed (the demonstration organisation that make run shows)

Run "carevisit <command> -h" for a command's flags. DATABASE_URL names the database.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "carevisit:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout)
	case "decode":
		return cmdDecode(rest, stdin, stdout)
	case "device", "devices":
		return cmdDevice(ctx, rest, stdout)
	case "org":
		return cmdOrg(ctx, rest, stdout)
	case "report", "reports":
		return cmdReport(ctx, rest, stdout)
	case "user":
		return cmdUser(ctx, rest, stdout)
	case "demo":
		return cmdDemo(ctx, rest, stdout)
	case "visits":
		if len(rest) > 0 && rest[0] == "detect" {
			return cmdVisitsDetect(rest[1:], stdout)
		}
		if len(rest) > 0 && rest[0] == "recompute" {
			return cmdVisitsRecompute(ctx, rest[1:], stdout)
		}
		return fmt.Errorf("visits: unknown subcommand (want: detect DIR | recompute -from -to [-device ID])")
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
