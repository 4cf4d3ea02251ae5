package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"carevisit/demo"
	"carevisit/store"
)

// cmdDemo seeds the demonstration organisation of package demo. It is
// idempotent: a second run finds the organisation and changes nothing.
func cmdDemo(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "seed" {
		return fmt.Errorf("demo: want seed")
	}
	fs := flag.NewFlagSet("demo seed", flag.ContinueOnError)
	dsn := dbFlag(fs)
	if err := fs.Parse(args[1:]); err != nil {
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
	orgID, created, err := seedDemo(ctx, st)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "demo organisation %d seeded: %d workers with devices, %d clients\n", orgID, len(demo.Workers), len(demo.Clients))
	} else {
		fmt.Fprintf(out, "demo organisation %d already present\n", orgID)
	}
	return nil
}

func seedDemo(ctx context.Context, st *store.Store) (orgID int64, created bool, err error) {
	err = st.Pool.QueryRow(ctx, `SELECT id FROM organisations WHERE name = $1`, demo.OrgName).Scan(&orgID)
	if err == nil {
		return orgID, false, nil
	}
	orgID, err = st.AddOrganisation(ctx, demo.OrgName, demo.OrgTimezone)
	if err != nil {
		return 0, false, err
	}
	clientIDs := map[string]int64{}
	for _, c := range demo.Clients {
		id, err := st.AddClient(ctx, store.Client{OrgID: orgID, FullName: c.FullName, Address: c.Address, Phone: c.Phone,
			FenceKind: "circle", CenterLat: c.Lat, CenterLon: c.Lon, RadiusM: c.RadiusM})
		if err != nil {
			return 0, false, err
		}
		clientIDs[c.Code] = id
	}
	for _, w := range demo.Workers {
		devID, err := st.AddDevice(ctx, store.Device{OrgID: orgID, Ident: w.Ident, Protocol: w.Protocol, Model: w.Model, Name: w.FullName})
		if errors.Is(err, store.ErrDuplicate) {
			var d store.Device
			d, err = st.DeviceByIdent(ctx, w.Ident)
			devID = d.ID
		}
		if err != nil {
			return 0, false, err
		}
		wid, err := st.AddWorker(ctx, store.Worker{OrgID: orgID, FullName: w.FullName, Phone: w.Phone, DeviceID: devID})
		if err != nil {
			return 0, false, err
		}
		for _, code := range w.Clients {
			if err := st.AssignClient(ctx, wid, clientIDs[code]); err != nil {
				return 0, false, err
			}
		}
	}
	return orgID, true, nil
}
