package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// wantLine is what a support engineer reads in one output line.
type wantLine struct {
	typ      string  // a message of this type must be there ("" = no message)
	time     string  // its time, RFC 3339
	lat, lon float64 // its position when time is set
	device   string  // its device id
	err      string  // the error must contain this ("" = no error)
	reply    string  // reply_hex must start with this
	pending  int     // bytes kept for the next line
}

type outLine struct {
	Messages []struct {
		Type     string   `json:"type"`
		DeviceID string   `json:"device_id"`
		Time     string   `json:"time"`
		Lat      *float64 `json:"lat"`
		Lon      *float64 `json:"lon"`
	} `json:"messages"`
	ReplyHex string `json:"reply_hex"`
	Pending  int    `json:"pending_bytes"`
	Error    string `json:"error"`
}

const (
	gt06Login    = "78780d01086471700328358100093f040d0a"                                     // gt06-2, IMEI 864717003283581 (BCD 0864...)
	gt06Location = "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a" // gt06-144
)

func TestCmdDecode(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		input []string
		want  []wantLine
	}{
		{
			name:  "gt06 login then location",
			args:  []string{"-proto", "gt06", "-hex"},
			input: []string{gt06Login, gt06Location},
			want: []wantLine{
				{reply: "78780501"},
				{typ: "position", time: "2015-10-20T14:21:11Z", lat: 54.94535, lon: 24.01762, device: "864717003283581"},
			},
		},
		{
			name:  "gt06 location before login",
			args:  []string{"-proto", "gt06", "-hex"},
			input: []string{gt06Location},
			want:  []wantLine{{err: "not identified"}},
		},
		{
			name:  "gt06 -imei starts identified",
			args:  []string{"-proto", "gt06", "-hex", "-imei", "123456789012345"},
			input: []string{gt06Location},
			want:  []wantLine{{typ: "position", time: "2015-10-20T14:21:11Z", lat: 54.94535, lon: 24.01762, device: "123456789012345"}},
		},
		{
			name:  "gt06 frame split over two lines stays buffered",
			args:  []string{"-proto", "gt06", "-hex", "-imei", "123456789012345"},
			input: []string{gt06Location[:20], gt06Location[20:]},
			want: []wantLine{
				{pending: 10},
				{typ: "position", time: "2015-10-20T14:21:11Z", lat: 54.94535, lon: 24.01762},
			},
		},
		{
			name:  "bad hex",
			args:  []string{"-proto", "gt06", "-hex"},
			input: []string{"7878zz"},
			want:  []wantLine{{err: "bad hex"}},
		},
		{
			name:  "h02 text line",
			args:  []string{"-proto", "h02"},
			input: []string{"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#"},
			want:  []wantLine{{typ: "position", time: "2015-12-22T16:45:49Z", lat: 9.93978, lon: -84.11178, device: "4210051415"}},
		},
		{
			name:  "watch text frame identifies itself",
			args:  []string{"-proto", "watch"},
			input: []string{"[SG*9059056143*0053*UD,251021,223408,A,41.46500,N,081.53128,W,0.926,000,0,00,70,70,0,50,00000000,0,1,,,,00]"},
			want:  []wantLine{{typ: "position", time: "2021-10-25T22:34:08Z", lat: 41.465, lon: -81.53128, device: "9059056143"}},
		},
		{
			name: "osmand request line and hex request",
			args: []string{"-proto", "osmand"},
			input: []string{
				"GET /?id=123456&timestamp=1377177267&lat=60.0&lon=30.0",
				"# comment lines and blank lines are skipped",
				"",
				"/?id=123456&timestamp=1377177267&lat=200&lon=30.0",
				"/?timestamp=1377177267&lat=60&lon=30",
			},
			want: []wantLine{
				{typ: "position", time: "2013-08-22T13:14:27Z", lat: 60, lon: 30, device: "123456"},
				{err: "lat 200 out of range"},
				{err: "no device id"},
			},
		},
		{
			name:  "osmand hex of a whole request",
			args:  []string{"-proto", "osmand", "-hex"},
			input: []string{hex.EncodeToString([]byte("GET /?deviceid=77&location=52.5,13.25&timestamp=1377177267 HTTP/1.1\r\nHost: x\r\n\r\n"))},
			want:  []wantLine{{typ: "position", time: "2013-08-22T13:14:27Z", lat: 52.5, lon: 13.25, device: "77"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := cmdDecode(tc.args, strings.NewReader(strings.Join(tc.input, "\n")), &out); err != nil {
				t.Fatalf("cmdDecode: %v", err)
			}
			sc := bufio.NewScanner(strings.NewReader(out.String()))
			i := 0
			for ; sc.Scan(); i++ {
				if i >= len(tc.want) {
					t.Fatalf("extra output line %q", sc.Text())
				}
				checkLine(t, sc.Text(), tc.want[i])
			}
			if i != len(tc.want) {
				t.Fatalf("%d output lines, want %d:\n%s", i, len(tc.want), out.String())
			}
		})
	}
}

func checkLine(t *testing.T, line string, w wantLine) {
	t.Helper()
	var o outLine
	if err := json.Unmarshal([]byte(line), &o); err != nil {
		t.Fatalf("output %q is not JSON: %v", line, err)
	}
	if w.err == "" && o.Error != "" || !strings.Contains(o.Error, w.err) {
		t.Errorf("error %q, want %q in: %s", o.Error, w.err, line)
	}
	if !strings.HasPrefix(o.ReplyHex, w.reply) {
		t.Errorf("reply_hex %q, want prefix %q", o.ReplyHex, w.reply)
	}
	if o.Pending != w.pending {
		t.Errorf("pending_bytes %d, want %d", o.Pending, w.pending)
	}
	if w.err != "" && o.Messages == nil && strings.Contains(line, `"messages"`) {
		t.Errorf("error line carries messages: %s", line)
	}
	if w.typ == "" {
		for _, m := range o.Messages {
			if m.Type == "position" {
				t.Errorf("unexpected position in %s", line)
			}
		}
		return
	}
	for _, m := range o.Messages {
		if m.Type != w.typ {
			continue
		}
		if w.device != "" && m.DeviceID != w.device {
			t.Errorf("device_id %q, want %q", m.DeviceID, w.device)
		}
		if w.time != "" {
			if m.Time != w.time || m.Lat == nil || m.Lon == nil ||
				math.Abs(*m.Lat-w.lat) > 1e-5 || math.Abs(*m.Lon-w.lon) > 1e-5 {
				t.Errorf("got %s, want time %s lat %v lon %v", line, w.time, w.lat, w.lon)
			}
		}
		return
	}
	t.Errorf("no %s message in %s", w.typ, line)
}

func TestCmdDecodeUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-proto", "nmea"}, {"-proto", "h02", "extra"}, {"-bogus"}} {
		var out strings.Builder
		err := cmdDecode(args, strings.NewReader(""), &out)
		if err == nil || !strings.Contains(err.Error(), "usage: carevisit decode") {
			t.Errorf("cmdDecode(%q) = %v, want a usage error", args, err)
		}
	}
}
