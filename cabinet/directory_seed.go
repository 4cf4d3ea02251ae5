package cabinet

import (
	"context"
	"fmt"

	"carevisit/store"
)

// demoServices is the demo services catalogue with norms (minutes).
var demoServices = []struct {
	Name string
	Norm int
}{
	{"Приготовление пищи", 30},
	{"Покупка и доставка продуктов", 20},
	{"Уборка жилого помещения", 30},
	{"Помощь в приёме лекарств", 10},
	{"Социально-психологическая беседа", 15},
}

// SeedDemoDirectory adds to the demo organisation's existing clients and
// workers a services catalogue with norms, each client's services and a
// weekday schedule of planned visits (each worker's clients in turn from
// 09:00, an hour each, an hour and a half apart). Safe to run again:
// present services are kept and plans are added only to an organisation
// that has none.
func SeedDemoDirectory(ctx context.Context, st *store.Store, orgID int64) error {
	sc := store.Scope{OrgID: orgID, Role: store.RoleAdmin}
	have, err := st.Services(ctx, orgID)
	if err != nil {
		return err
	}
	ids := make([]int64, len(demoServices))
	for i, s := range demoServices {
		for _, h := range have {
			if h.Name == s.Name {
				ids[i] = h.ID
			}
		}
		if ids[i] == 0 {
			if ids[i], err = st.SaveService(ctx, sc, store.Service{Name: s.Name, NormMinutes: s.Norm, Active: true}); err != nil {
				return fmt.Errorf("seed services: %w", err)
			}
		}
	}
	clients, err := st.DirClients(ctx, sc)
	if err != nil {
		return err
	}
	services := map[int64][]int64{}
	for i, c := range clients {
		// Everyone gets shopping; then two more in turn, so norms differ.
		mine := []int64{ids[1], ids[(2+i)%len(ids)], ids[(3+i)%len(ids)]}
		if len(c.ServiceIDs) == 0 {
			if err := st.SetClientServices(ctx, sc, c.ID, mine); err != nil {
				return fmt.Errorf("seed client services: %w", err)
			}
			c.ServiceIDs = uniqIDs(mine)
		}
		services[c.ID] = c.ServiceIDs
	}
	plans, err := st.Plans(ctx, sc, store.PlanFilter{})
	if err != nil || len(plans) > 0 {
		return err
	}
	workers, err := st.DirWorkers(ctx, sc)
	if err != nil {
		return err
	}
	for _, w := range workers {
		for j, cid := range w.ClientIDs {
			start := 9*60 + j*90
			if start+60 > 24*60 {
				break
			}
			for day := 1; day <= 5; day++ {
				// Two services a visit: the longest norm sets the visit's norm.
				svc := services[cid]
				if len(svc) > 2 {
					svc = svc[:2]
				}
				p := store.Plan{ClientID: cid, WorkerID: w.ID, Weekday: day, StartMin: start, EndMin: start + 60,
					ServiceIDs: svc, Active: true}
				if _, err := st.SavePlan(ctx, sc, p); err != nil {
					return fmt.Errorf("seed plans: %w", err)
				}
			}
		}
	}
	return nil
}

func uniqIDs(ids []int64) []int64 { return dirIDs(dirIDStrings(ids)) }
