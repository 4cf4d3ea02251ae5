package cabinet

import (
	"context"
	"encoding/json"
	"sync"

	"carevisit/tracking"
)

// hub fans visit events out to the live map's server-sent-event streams
// of the same organisation.
type hub struct {
	mu   sync.Mutex
	subs map[int64]map[chan []byte]struct{}
}

func newHub() *hub { return &hub{subs: map[int64]map[chan []byte]struct{}{}} }

func (h *hub) subscribe(org int64) (<-chan []byte, func()) {
	ch := make(chan []byte, 64)
	h.mu.Lock()
	if h.subs[org] == nil {
		h.subs[org] = map[chan []byte]struct{}{}
	}
	h.subs[org][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[org], ch)
		h.mu.Unlock()
	}
}

func (h *hub) publish(org int64, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[org] {
		select {
		case ch <- msg:
		default: // a stalled browser misses an event; the next poll catches up
		}
	}
}

func (h *hub) run(ctx context.Context, events <-chan tracking.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			b, err := json.Marshal(map[string]any{"kind": ev.Kind, "device_id": ev.DeviceID, "worker_id": ev.WorkerID,
				"client_id": ev.ClientID, "start": ev.Start, "end": ev.End, "flags": ev.Flags, "flag": ev.Flag})
			if err == nil {
				h.publish(ev.OrgID, b)
			}
		}
	}
}
