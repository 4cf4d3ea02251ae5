package sim

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/h02"
	"carevisit/protocol/watch"
)

// codecServer decodes any stream protocol with the server's own codec,
// answers what the codec says to answer and records positions and alarms.
type codecServer struct {
	ln     net.Listener
	mu     sync.Mutex
	fixes  map[int64]int
	alarms []string
	types  map[string]int
}

func newCodecServer(t *testing.T, mk func() protocol.Codec) *codecServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &codecServer{ln: ln, fixes: map[int64]int{}, types: map[string]int{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(t, c, mk())
		}
	}()
	return s
}

func (s *codecServer) serve(t *testing.T, c net.Conn, codec protocol.Codec) {
	defer c.Close()
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			fl, skip, ferr := codec.Frame(buf)
			if ferr != nil && errors.Is(ferr, protocol.ErrGarbage) {
				buf = buf[skip:]
				continue
			}
			if ferr != nil {
				t.Errorf("server: framing: %v", ferr)
				return
			}
			if fl == 0 {
				break
			}
			msgs, reply, derr := codec.Decode(buf[:fl], nil, nil)
			buf = buf[fl:]
			if derr != nil {
				t.Errorf("server: decode: %v", derr)
				return
			}
			s.mu.Lock()
			for _, m := range msgs {
				s.types[m.Type]++
				if m.IsPosition() {
					s.fixes[m.Time.Unix()]++
				}
				if m.Alarm != "" {
					s.alarms = append(s.alarms, m.Alarm)
				}
			}
			s.mu.Unlock()
			if len(reply) > 0 {
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// TestStreamProtocols runs an H02 and a watch device against the real
// decoders: every fix arrives once, keep-alives go out (and the watch's LK
// is answered), and an SOS arrives as an alarm.
func TestStreamProtocols(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proto string
		codec func() protocol.Codec
	}{
		{ProtoH02, func() protocol.Codec { return h02.New() }},
		{ProtoWatch, func() protocol.Codec { return watch.New() }},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			srv := newCodecServer(t, tc.codec)
			d, _ := testDevice(t, tc.proto, srv.ln.Addr().String(), 40*time.Minute)
			d.SOS()
			runDevice(t, d)
			st := d.Stats()
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if st.Generated < 40 || st.Pending != 0 || len(srv.fixes) != int(st.Generated) {
				t.Errorf("stats %+v; server got %d distinct fixes", st, len(srv.fixes))
			}
			for k, n := range srv.fixes {
				if n != 1 {
					t.Errorf("fix %d arrived %d times", k, n)
				}
			}
			if len(srv.alarms) != 1 || srv.alarms[0] != "sos" || st.Alarms != 1 {
				t.Errorf("alarms at the server %v, device sent %d; want one sos", srv.alarms, st.Alarms)
			}
			if st.KeepAlives == 0 {
				t.Errorf("no keep-alives in 40 simulated minutes with stays: %+v", st)
			}
			if tc.proto == ProtoWatch && (st.KeepAliveAcks != st.KeepAlives || st.Acked != 1) {
				t.Errorf("watch: %d LK answered of %d, %d AL acked; want all LK and the AL", st.KeepAliveAcks, st.KeepAlives, st.Acked)
			}
		})
	}
}

// TestPhoneRetriesUntilStored: an OsmAnd server that is unavailable for a
// while (503); the phone keeps its fixes and sends each one until a 200,
// oldest first, with its accuracy.
func TestPhoneRetriesUntilStored(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]int{}
	var order []string
	failing := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		defer mu.Unlock()
		if q.Get("id") == "" || q.Get("accuracy") == "" || q.Get("lat") == "" {
			t.Errorf("ping without id, accuracy or position: %s", r.URL.RawQuery)
		}
		// Down for the 6th to 30th request.
		failing++
		if failing > 5 && failing <= 30 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got[q.Get("timestamp")]++
		order = append(order, q.Get("timestamp"))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	d, _ := testDevice(t, ProtoOsmAnd, srv.Listener.Addr().String(), 30*time.Minute)
	runDevice(t, d)
	st := d.Stats()
	mu.Lock()
	defer mu.Unlock()
	if st.Acked != st.Generated || len(got) != int(st.Generated) || st.ConnectFailures < 20 {
		t.Errorf("stats %+v, server stored %d distinct fixes", st, len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("fix %s stored %d times", k, n)
		}
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return len(a) - len(b) + strings.Compare(a, b) }) {
		t.Errorf("fixes not sent oldest first: %v", order)
	}
}
