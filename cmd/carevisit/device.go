package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"carevisit/store"
)

func cmdDevice(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("device: want add | list | import FILE.csv | unknown")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("device "+sub, flag.ContinueOnError)
	dsn := dbFlag(fs)
	ident := fs.String("imei", "", "IMEI or device id (add)")
	proto := fs.String("proto", "gt06", "protocol: "+strings.Join(store.Protocols, ", "))
	model := fs.String("model", "", "model, e.g. S20 (add)")
	name := fs.String("name", "", "display name (add)")
	org := fs.Int64("org", 0, "organisation id (add, import)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		d := store.Device{OrgID: *org, Ident: strings.TrimSpace(*ident), Protocol: *proto, Model: *model, Name: *name}
		if err := validateDevice(d); err != nil {
			return err
		}
		id, err := st.AddDevice(ctx, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "device %d added: %s (%s)\n", id, d.Ident, d.Protocol)
	case "list":
		list, err := st.Devices(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tIDENT\tPROTOCOL\tMODEL\tNAME\tORG")
		for _, d := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", d.ID, d.Ident, d.Protocol, d.Model, d.Name, d.OrgID)
		}
		return tw.Flush()
	case "unknown":
		list, err := st.UnknownDevices(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROTOCOL\tIDENT\tLAST SEEN\tCOUNT\tFROM")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.Protocol, u.Ident, u.LastSeen.UTC().Format("2006-01-02 15:04:05Z"), u.Count, u.RemoteAddr)
		}
		return tw.Flush()
	case "import":
		if len(pos) != 1 {
			return fmt.Errorf("device import: want one CSV file (columns: imei,protocol[,model[,name]])")
		}
		return importDevices(ctx, st, pos[0], *org, out)
	default:
		return fmt.Errorf("device: unknown subcommand %q", sub)
	}
	return nil
}

func validateDevice(d store.Device) error {
	if d.Ident == "" {
		return fmt.Errorf("device: -imei is required")
	}
	if !slices.Contains(store.Protocols, d.Protocol) {
		return fmt.Errorf("device: protocol %q unknown (want one of %s)", d.Protocol, strings.Join(store.Protocols, ", "))
	}
	if d.Protocol == "gt06" {
		if len(d.Ident) < 15 || len(d.Ident) > 16 || strings.Trim(d.Ident, "0123456789") != "" {
			return fmt.Errorf("device: GT06 IMEI %q must be 15 digits", d.Ident)
		}
	}
	return nil
}

// importDevices reads imei,protocol[,model[,name]] lines; a header line is
// skipped. Every bad line is reported with its number; good lines are added.
func importDevices(ctx context.Context, st *store.Store, path string, org int64, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var added, failed int
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(rec[0], "imei") {
			continue
		}
		d := store.Device{OrgID: org}
		if len(rec) > 0 {
			d.Ident = strings.TrimSpace(rec[0])
		}
		if len(rec) > 1 {
			d.Protocol = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			d.Model = rec[2]
		}
		if len(rec) > 3 {
			d.Name = rec[3]
		}
		err = validateDevice(d)
		if err == nil {
			_, err = st.AddDevice(ctx, d)
		}
		if err != nil {
			failed++
			fmt.Fprintf(out, "line %d: %v\n", line, err)
			continue
		}
		added++
	}
	fmt.Fprintf(out, "%d devices added, %d lines failed\n", added, failed)
	if failed > 0 {
		return fmt.Errorf("%d lines failed", failed)
	}
	return nil
}

func cmdOrg(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("org: want add | list")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("org "+sub, flag.ContinueOnError)
	dsn := dbFlag(fs)
	name := fs.String("name", "", "organisation name")
	tz := fs.String("tz", "Europe/Moscow", "IANA time zone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		if strings.TrimSpace(*name) == "" {
			return fmt.Errorf("org add: -name is required")
		}
		id, err := st.AddOrganisation(ctx, *name, *tz)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "organisation %d added: %s (%s)\n", id, *name, *tz)
	case "list":
		rows, err := st.Pool.Query(ctx, `SELECT id, name, timezone FROM organisations ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var n, z string
			if err := rows.Scan(&id, &n, &z); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d\t%s\t%s\n", id, n, z)
		}
		return rows.Err()
	default:
		return fmt.Errorf("org: unknown subcommand %q", sub)
	}
	return nil
}
