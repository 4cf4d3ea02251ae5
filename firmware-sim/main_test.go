package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/gt06"
)

func TestParseIPRange(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"127.0.0.1", []string{"127.0.0.1"}, false},
		{"127.0.0.2-127.0.0.4", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, false},
		{"127.0.0.9,::1", []string{"127.0.0.9", "::1"}, false},
		{"127.0.0.4-127.0.0.2", nil, true},
		{"10.0.0.1", nil, true},
		{"127.0.0.1-10.0.0.1", nil, true},
		{"nonsense", nil, true},
	}
	for _, tc := range tests {
		got, err := parseIPRange(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		var s []string
		for _, ip := range got {
			s = append(s, ip.String())
		}
		if strings.Join(s, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q = %v, want %v", tc.in, s, tc.want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:5023": true, "127.9.9.9:1": true, "[::1]:5023": true, "localhost:5023": true,
		"10.1.2.3:5023": false, "8.8.8.8:53": false, "127.0.0.1": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want allowed %v", addr, err, ok)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(int64(i) * int64(time.Millisecond) / 10) // 0.1 .. 100 ms
	}
	for _, tc := range []struct {
		q    float64
		want float64 // ms
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}} {
		got := float64(h.quantile(tc.q)) / 1e6
		if got < tc.want*0.97 || got > tc.want*1.06 {
			t.Errorf("q%.2f = %.2f ms, want ~%.0f ms", tc.q, got, tc.want)
		}
	}
	if h.max.Load() != 100*int64(time.Millisecond) {
		t.Errorf("max = %d", h.max.Load())
	}
}

// ackServer acknowledges every GT06 frame at once, like the ingest server
// with an instant database.
func ackServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				codec := gt06.New()
				var buf []byte
				tmp := make([]byte, 4096)
				for {
					n, err := c.Read(tmp)
					buf = append(buf, tmp[:n]...)
					var out []byte
					for {
						fl, skip, ferr := codec.Frame(buf)
						if errors.Is(ferr, protocol.ErrGarbage) {
							buf = buf[skip:]
							continue
						}
						if ferr != nil || fl == 0 {
							break
						}
						_, reply, _ := codec.Decode(buf[:fl], nil, nil)
						out = append(out, reply...)
						buf = buf[fl:]
					}
					if len(out) > 0 {
						c.Write(out)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestLoadAgainstAckServer(t *testing.T) {
	addr := ackServer(t)
	for _, rate := range []string{"400", "0"} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"load", "-n", "20", "-rate", rate, "-duration", "1s",
			"-server", addr, "-source-ips", "127.0.0.2-127.0.0.4", "-drain", "2s"}, &out, &errb)
		if err != nil {
			t.Fatalf("rate %s: %v\n%s%s", rate, err, out.String(), errb.String())
		}
		m := regexp.MustCompile(`RESULT devices=20 connected=20 sent=(\d+) acked=(\d+) `).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("rate %s: no RESULT line:\n%s", rate, out.String())
		}
		sent, _ := strconv.Atoi(m[1])
		acked, _ := strconv.Atoi(m[2])
		if sent != acked || sent < 300 {
			t.Errorf("rate %s: sent %d acked %d; want all of at least ~400 acked", rate, sent, acked)
		}
	}
}

func TestLoadRefusesRemoteTargets(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"load", "-server", "192.0.2.1:5023"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v, want a loopback refusal", err)
	}
}
