package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"carevisit/store"
)

// maxPingBody bounds a phone ping body: a ping is a few hundred bytes; a
// batch from the Traccar Client is at most a few hundred of them.
const maxPingBody = 1 << 20

// chanAck lets an HTTP handler wait for its positions to be committed.
type chanAck chan error

func (a chanAck) Ack(err error) { a <- err }

// osmandHandler serves OsmAnd / Traccar Client pings. It answers 200 only
// after the positions are durable, so a phone that got no answer resends.
func (s *Server) osmandHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPingBody))
		if err != nil {
			s.M.DecodeErrors.WithLabelValues("osmand", "too_large").Inc()
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		now := time.Now()
		msgs, err := s.cfg.OsmAnd(r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), body, now)
		if err != nil {
			s.M.DecodeErrors.WithLabelValues("osmand", errReason(err)).Inc()
			s.log.Info("osmand ping refused", "remote", r.RemoteAddr, "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
		var wait []chanAck
		for i := range msgs {
			m := &msgs[i]
			s.M.Frames.WithLabelValues("osmand", m.Type).Inc()
			d, ok := s.reg.lookup(m.DeviceID)
			if !ok && s.cfg.RegisterUnknown && m.DeviceID != "" {
				d, ok = s.registerNow(r.Context(), m.DeviceID)
			}
			if !ok {
				s.M.UnknownDevices.Inc()
				s.unknown.note(store.UnknownDevice{Protocol: "osmand", Ident: m.DeviceID, RemoteAddr: r.RemoteAddr,
					LastSeen: now, Count: 1})
				code := http.StatusBadRequest // what the OsmAnd app expects; JSON clients get 404 as from Traccar
				if isJSON {
					code = http.StatusNotFound
				}
				http.Error(w, "unknown device", code)
				return
			}
			if !m.IsPosition() {
				continue
			}
			p, _, reason := toPosition(m, d.ID, "phone", now, nil)
			if reason != "" {
				s.M.Rejected.WithLabelValues(reason).Inc()
				http.Error(w, "implausible position: "+reason, http.StatusBadRequest)
				return
			}
			ack := make(chanAck, 1)
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			err := s.pipe.put(ctx, record{pos: p, ack: ack, since: now})
			cancel()
			if err != nil {
				http.Error(w, "server busy, retry", http.StatusServiceUnavailable)
				return
			}
			wait = append(wait, ack)
		}
		for _, a := range wait {
			select {
			case err := <-a:
				if err != nil {
					http.Error(w, "not stored, retry", http.StatusServiceUnavailable)
					return
				}
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})
}

func (s *Server) registerNow(ctx context.Context, ident string) (store.Device, bool) {
	d := store.Device{Ident: ident, Protocol: "osmand", Name: "osmand " + ident}
	id, err := s.st.AddDevice(ctx, d)
	if errors.Is(err, store.ErrDuplicate) {
		d, err = s.st.DeviceByIdent(ctx, ident)
		id = d.ID
	}
	if err != nil {
		return d, false
	}
	d.ID = id
	s.reg.put(d)
	return d, true
}
