// Command firmware-sim simulates the trackers and phones of carevisit.
//
//	firmware-sim demo [-server 127.0.0.1] [-speed 10] [-lead 3h]
//	firmware-sim load -proto gt06 -n 10000 -rate 20000 -duration 30s [-server 127.0.0.1:5023] ...
//	firmware-sim copybench [-rows 400000] [-batch 2000] [-writers 2]   (DATABASE_URL)
//
// demo drives the workers of the demo organisation (carevisit/demo) on
// their rounds, each with its own device and protocol. load opens many GT06
// connections to a loopback server and measures acknowledged throughput and
// latency. copybench measures how fast the same database takes position
// rows with COPY, the ceiling the ingest path is compared with.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: firmware-sim <command> [flags]

commands:
  demo       the demo workers walking their rounds (make run)
  load       many GT06 devices against a loopback server (benchmark)
  copybench  COPY throughput of the positions table (DATABASE_URL)

Run 'firmware-sim <command> -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firmware-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "demo":
		return cmdDemo(ctx, args[1:], stderr)
	case "load":
		return cmdLoad(ctx, args[1:], stdout, stderr)
	case "copybench":
		return cmdCopyBench(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
