package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"carevisit/cabinet"
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
	if err := cabinet.SeedDemoDirectory(ctx, st, orgID); err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "demo organisation %d seeded: %d workers with devices, %d clients\n", orgID, len(demo.Workers), len(demo.Clients))
	} else {
		fmt.Fprintf(out, "demo organisation %d already present\n", orgID)
	}
	fmt.Fprintf(out, "\n  Cabinet: http://localhost:8080/   supervisor: %s / %s   administrator: %s / %s\n\n",
		demo.SupervisorEmail, demo.Password, demo.AdminEmail, demo.Password)
	return nil
}

func seedDemo(ctx context.Context, st *store.Store) (orgID int64, created bool, err error) {
	var supervisorID int64
	err = st.Pool.QueryRow(ctx, `SELECT id FROM organisations WHERE name = $1`, demo.OrgName).Scan(&orgID)
	if err == nil {
		return orgID, false, nil
	}
	orgID, err = st.AddOrganisation(ctx, demo.OrgName, demo.OrgTimezone)
	if err != nil {
		return 0, false, err
	}
	h, err := cabinet.HashPassword(demo.Password)
	if err != nil {
		return 0, false, err
	}
	for _, u := range []store.User{
		{OrgID: orgID, Email: demo.AdminEmail, FullName: "Администратор Демо", Role: store.RoleAdmin},
		{OrgID: orgID, Email: demo.SupervisorEmail, FullName: "Руководитель Демо", Role: store.RoleSupervisor},
	} {
		u.PasswordHash, u.EmailConfirmed = h, true
		uid, err := st.AddUser(ctx, u)
		if err != nil {
			return 0, false, err
		}
		if u.Role == store.RoleSupervisor {
			supervisorID = uid
		}
	}
	groupID, err := st.AddGroup(ctx, orgID, demo.Group)
	if err != nil {
		return 0, false, err
	}
	if err := st.SetSupervisorGroups(ctx, orgID, supervisorID, []int64{groupID}); err != nil {
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
		if _, err := st.Pool.Exec(ctx, `UPDATE workers SET group_id = $2 WHERE id = $1`, wid, groupID); err != nil {
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
