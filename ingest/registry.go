package ingest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"carevisit/store"
)

// registry answers "is this IMEI ours?" on the event loop without touching
// the database: a copy-on-write map, reloaded in the background.
type registry struct {
	devices atomic.Pointer[map[string]store.Device]
	mu      sync.Mutex // serialises writers of the map
}

func (r *registry) lookup(ident string) (store.Device, bool) {
	m := r.devices.Load()
	if m == nil {
		return store.Device{}, false
	}
	d, ok := (*m)[ident]
	return d, ok && !d.Disabled
}

func (r *registry) replace(list []store.Device) {
	m := make(map[string]store.Device, len(list))
	for _, d := range list {
		m[d.Ident] = d
	}
	r.mu.Lock()
	r.devices.Store(&m)
	r.mu.Unlock()
}

func (r *registry) put(d store.Device) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.devices.Load()
	m := make(map[string]store.Device, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[d.Ident] = d
	r.devices.Store(&m)
}

func lenOf(m *map[string]store.Device) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// unknownNotes coalesces "unknown device connected" notes and writes them in
// the background, so a flood of unknown devices costs one upsert per device
// per second, not one per connection.
type unknownNotes struct {
	ch  chan store.UnknownDevice
	st  *store.Store
	log *slog.Logger
}

func (u *unknownNotes) note(d store.UnknownDevice) {
	select {
	case u.ch <- d:
	default: // a full channel means a flood: the list is only informative
	}
}

func (u *unknownNotes) run(ctx context.Context) {
	pending := map[[2]string]store.UnknownDevice{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := func() {
		for k, d := range pending {
			if err := u.st.NoteUnknown(context.WithoutCancel(ctx), d); err != nil {
				u.log.Warn("unknown device not noted", "err", err)
			}
			delete(pending, k)
		}
	}
	for {
		select {
		case d := <-u.ch:
			k := [2]string{d.Protocol, d.Ident}
			p, ok := pending[k]
			if ok {
				d.Count += p.Count
			}
			pending[k] = d
		case <-tick.C:
			flush()
		case <-ctx.Done():
			flush()
			return
		}
	}
}
