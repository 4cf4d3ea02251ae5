package h02

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/internal/codectest"
)

var fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func newTestCodec() *Codec {
	c := New()
	c.Now = func() time.Time { return fixedNow }
	return c
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		check func(t *testing.T, m protocol.Message)
	}{
		{"V1 west, cells as io", "*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#",
			func(t *testing.T, m protocol.Message) {
				want := time.Date(2015, 12, 22, 16, 45, 49, 0, time.UTC)
				if m.Type != protocol.TypePosition || !m.Time.Equal(want) || !m.Valid || !near(m.Lat, 9.93978) || !near(m.Lon, -84.11178) {
					t.Errorf("got %+v", m)
				}
				if m.DeviceID != "4210051415" || m.Status != 0xFFFFFBFF || m.Alarm != "" || m.Ignition {
					t.Errorf("id/status: %+v", m)
				}
				if m.Extra["io1"] != "712" || m.Extra["io5"] != "6" {
					t.Errorf("io: %v", m.Extra)
				}
			}},
		{"empty validity is invalid", "*HQ,355488020119695,V1,050418,,2827.61232,N,07703.84822,E,0.00,0,031015,FFFEFBFF#",
			func(t *testing.T, m protocol.Message) {
				if m.Valid || !near(m.Lat, 28.46021) || !near(m.Lon, 77.06414) {
					t.Errorf("got %+v", m)
				}
				if m.Alarm != "" || m.Status != 0xFFFEFBFF { // bit 16 clear maps to no alarm
					t.Errorf("alarm %q status %x", m.Alarm, m.Status)
				}
			}},
		{"dash coordinates", "*HQ,1451316485,V1,121557,A,-23-3.3408,S,-48-2.8926,W,0.1,158,241115,FFFFFFFF#",
			func(t *testing.T, m protocol.Message) {
				if !near(m.Lat, -(23+3.3408/60)) || !near(m.Lon, -(48+2.8926/60)) || !near(m.SpeedKmh, 0.1852) || m.Course != 158 {
					t.Errorf("got %+v", m)
				}
			}},
		{"V19 date and status after SIM fields", "*HQ,4109179024,V19,181519,V,3853.2587,S,06205.9175,W,000.00,000,090217,,5492932630888,8954315265044716555?,FFFFFBFF#",
			func(t *testing.T, m protocol.Message) {
				if !m.Time.Equal(time.Date(2017, 2, 9, 18, 15, 19, 0, time.UTC)) || m.Status != 0xFFFFFBFF {
					t.Errorf("got %+v", m)
				}
			}},
		{"vibration bit 0 is active-low", "*HQ,1,V1,120000,A,5002.5849,N,01433.7822,E,0,0,010120,FFFFFBFE#",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "vibration" {
					t.Errorf("alarm %q", m.Alarm)
				}
			}},
		{"power cut bit 19, ignition bit 10", "*HQ,1,V1,120000,A,5002.5849,N,01433.7822,E,0,0,010120,FFF7FFFF#",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "powerCut" || !m.Ignition {
					t.Errorf("alarm %q ignition %v", m.Alarm, m.Ignition)
				}
			}},
		{"SOS bit 1", "*HQ,4210209006,V1,201812,A,2608.9437,N,08016.2521,W,000.80,000,150317,FFFFFBFD,310,260,0,0,6#",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "sos" {
					t.Errorf("alarm %q", m.Alarm)
				}
			}},
		{"V4 reply with commas", "*TH,2020916012,V4,S20,ERROR,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,FFFFFBFF#",
			func(t *testing.T, m protocol.Message) {
				if m.Extra["result"] != "S20,ERROR,130305" || !m.Time.Equal(time.Date(2002, 9, 22, 5, 3, 16, 0, time.UTC)) {
					t.Errorf("got %+v", m)
				}
			}},
		{"binary 32 bytes", "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f",
			func(t *testing.T, m protocol.Message) {
				want := time.Date(2015, 8, 31, 21, 53, 21, 0, time.UTC)
				if m.DeviceID != "4106000826" || !m.Time.Equal(want) || !m.Valid || !near(m.Lat, 4.69898) || !near(m.Lon, -74.06971) {
					t.Errorf("got %+v", m)
				}
				if m.Battery != 100 || m.Has&protocol.HasBattery == 0 || m.Status != 0xfffffbfd || m.Alarm != "sos" {
					t.Errorf("battery/status: %+v", m)
				}
			}},
		{"binary 42 bytes, long id", "2435248308419329301047591808172627335900074412294e024138feffffffff01120064ba73005ecc",
			func(t *testing.T, m protocol.Message) {
				if m.DeviceID != "352483084193293" || m.Type != protocol.TypePosition {
					t.Errorf("got %+v", m)
				}
			}},
		{"LINK status", "*HQ,1600068860,LINK,112137,20,8,67,0,0,081116,FFFFFBFF#",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeStatus || m.RSSI != 20 || m.Sats != 8 || m.Battery != 67 || m.Steps != 0 {
					t.Errorf("got %+v", m)
				}
			}},
		{"NBR cells", "*HQ,4208150188,NBR,210249,260,6,0,7,1014,50675,37,1014,50633,27,1014,17933,18,1014,17231,15,1014,50632,12,1014,13211,11,1014,17031,10,281216,FFFFFBFF,2#",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeNetwork || m.MCC != 260 || m.MNC != 6 || m.LAC != 1014 || m.CID != 50675 || m.RSSI != 37 ||
					!m.Time.Equal(time.Date(2016, 12, 28, 21, 2, 49, 0, time.UTC)) {
					t.Errorf("got %+v", m)
				}
			}},
		{"V3 cells", "*HQ,353111080001055,V3,044855,28403,01,001450,011473,158,-62,0292,0,X,030817,FFFFFBFF#",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeNetwork || m.MCC != 284 || m.MNC != 3 || m.LAC != 1450 || m.CID != 11473 {
					t.Errorf("got %+v", m)
				}
			}},
		{"VP1 fix", "*hq,356327080425330,VP1,A,2702.7245,S,15251.9311,E,0.48,0.0000,080917#",
			func(t *testing.T, m protocol.Message) {
				if !m.Valid || !near(m.Lat, -(27+2.7245/60)) || !m.Time.Equal(time.Date(2017, 9, 8, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("got %+v", m)
				}
			}},
		{"HTBT battery", "*HQ,135790246811220,HTBT,75#",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeStatus || m.Battery != 75 || m.Has&protocol.HasBattery == 0 || !m.Time.Equal(fixedNow) {
					t.Errorf("got %+v", m)
				}
			}},
		{"SMS result", "*HQ,5226073533,SMS,VOLT:12.9V\nGPS:A-24-23,x#",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeResult || m.Extra["result"] != "VOLT:12.9V\nGPS:A-24-23,x" {
					t.Errorf("got %+v", m)
				}
			}},
		{"missing date uses the clock", "*HQ,2705171109,V1,213324,A,5002.5849,N,01433.7822,E,0.00,000,,FFFFFFFF#",
			func(t *testing.T, m protocol.Message) {
				if !m.Time.Equal(fixedNow) {
					t.Errorf("time %v", m.Time)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.frame)
			if tc.frame[0] != '*' {
				in = mustHex(t, tc.frame)
			}
			msgs, _, err := newTestCodec().Decode(in, nil, nil)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("Decode: %d messages, err %v", len(msgs), err)
			}
			tc.check(t, msgs[0])
		})
	}
}

func TestDecodeNothing(t *testing.T) {
	for _, in := range []string{
		"*HQ,4109198974,#",
		"*HQ,356803210091319,BS,,2d4,a,1b63,1969,26,1b63,10b2,31,0,0,25,,ffffffff,60#",
		"*HQ,8401016597,BASE,152609,0,0,0,0,211014,FFFFFFFF#",
		"*HQ,353588020068342,V1,000000,V,0.0000,0,0.0000,0,0.00,0.00,000000,ffffffff,000106,000002,000203,004c87,16#",
		"*HQ,1,V1,120000,A,9912.0000,N,00000.0000,E,0,0,010120,FFFFFFFF#", // latitude 99
		"X0000981499102403110117554022700601232167",
		"*",
		"$",
	} {
		msgs, _, err := newTestCodec().Decode([]byte(in), nil, nil)
		if len(msgs) != 0 {
			t.Errorf("%q: %d messages (err %v)", in, len(msgs), err)
		}
	}
}

func TestReplies(t *testing.T) {
	tests := []struct{ in, want string }{
		{"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#", "*HQ,4210051415,V4,V1,20240506070809#"},
		{"*HQ,135790246811220,HTBT,75#", "*HQ,135790246811220,HTBT#"},
		{"*HQ,135790246811220,V0#", "*HQ,135790246811220,V0#"},
		{"*HQ,1600068812,NBR,141335,262,02,255,6,431,17003,26,431,11101,13,151216,FFFFFBFF#", "*HQ,1600068812,V4,NBR,20240506070809#"},
		{"*HQ,4210051415,V5,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#", ""},
	}
	for _, tc := range tests {
		_, reply, err := newTestCodec().Decode([]byte(tc.in), nil, make([]byte, 0, 64))
		if err != nil || string(reply) != tc.want {
			t.Errorf("%q: reply %q, err %v; want %q", tc.in, reply, err, tc.want)
		}
	}
}

func TestDeviceIDRemembered(t *testing.T) {
	c := newTestCodec()
	if _, _, err := c.Decode([]byte("*HQ,135790246811220,HTBT,75#"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if c.DeviceID() != "135790246811220" {
		t.Fatalf("DeviceID %q", c.DeviceID())
	}
	// An empty id answers with the connection's.
	_, reply, _ := c.Decode([]byte("*HQ,,V1,164549,A,0956.3869,N,08406.7068,W,0,0,221215,FFFFFBFF#"), nil, nil)
	if !strings.HasPrefix(string(reply), "*HQ,135790246811220,V4,V1,") {
		t.Errorf("reply %q", reply)
	}
}

func TestNoAliasing(t *testing.T) {
	in := []byte("*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01#")
	c := newTestCodec()
	msgs, _, err := c.Decode(in, nil, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	if msgs[0].DeviceID != "4210051415" || msgs[0].Extra["io1"] != "712" || c.DeviceID() != "4210051415" {
		t.Errorf("message aliases the frame: %+v", msgs[0])
	}
}

func TestFrame(t *testing.T) {
	text := "*HQ,1,V1,120000,A,5002.5849,N,01433.7822,E,0,0,010120,FFFFFFFF#"
	bin := string(mustHex(t, "2441060116601245431311165035313006004318210e000000fffffbffff0024"))
	bin45 := string(mustHex(t, "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f"))
	tests := []struct {
		name       string
		in         string
		n, skip    int
		err        error
		binLenSeen int
	}{
		{"text", text + "\r\n", len(text), 0, nil, 0},
		{"partial text", text[:20], 0, 0, nil, 0},
		{"crlf is skipped", "\r\n" + text, 0, 2, protocol.ErrGarbage, 0},
		{"binary 32", bin + text, 32, 0, nil, 32},
		{"binary 45 when exactly 45 buffered", bin45, 45, 0, nil, 45},
		{"partial binary", bin[:10], 0, 0, nil, 32},
		{"X frame", "X" + bin[1:], 32, 0, nil, 0},
		{"too large", "*" + strings.Repeat("a", protocol.MaxFrame), 0, 0, protocol.ErrTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			n, skip, err := c.Frame([]byte(tc.in))
			if n != tc.n || skip != tc.skip || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("Frame = %d, %d, %v; want %d, %d, %v", n, skip, err, tc.n, tc.skip, tc.err)
			}
			if c.binLen != tc.binLenSeen {
				t.Errorf("binary length %d, want %d", c.binLen, tc.binLenSeen)
			}
		})
	}
}

// TestBinaryLengthSticks: the binary size is decided by the first `$` frame.
func TestBinaryLengthSticks(t *testing.T) {
	c := New()
	bin45 := mustHex(t, "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f")
	if n, _, _ := c.Frame(bin45); n != 45 {
		t.Fatalf("first frame %d", n)
	}
	two := append(append([]byte{}, bin45...), bin45...)
	if n, _, _ := c.Frame(two); n != 45 {
		t.Fatalf("second frame %d, want 45", n)
	}
}

func TestRoundTrip(t *testing.T) {
	msgs := []protocol.Message{
		{Time: time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC), Valid: true, Lat: 52.520008, Lon: 13.404954, SpeedKmh: 36.5, Course: 271},
		{Time: time.Date(2023, 1, 1, 0, 0, 1, 0, time.UTC), Valid: false, Lat: -33.868820, Lon: -151.209296, Alarm: "sos"},
		{Time: time.Date(2025, 7, 4, 12, 0, 0, 0, time.UTC), Valid: true, Lat: 0.0000001, Lon: -0.9999999, Alarm: "powerCut",
			Ignition: true, Has: protocol.HasIgnition},
		{Time: time.Date(2025, 7, 4, 12, 0, 0, 0, time.UTC), Valid: true, Lat: 89.9999999, Lon: 179.9999999, Alarm: "vibration"},
	}
	for _, want := range msgs {
		c := newTestCodec()
		stream := AppendV1([]byte("\r\n"), "4210051415", want)
		stream = AppendHeartbeat(stream, "4210051415", 42)
		got, _, skipped := codectest.DecodeStream(t, c, stream)
		if len(got) != 2 || skipped != 2 {
			t.Fatalf("%d messages, %d bytes skipped", len(got), skipped)
		}
		p, hb := got[0], got[1]
		if !p.Time.Equal(want.Time) || p.Valid != want.Valid || math.Abs(p.Lat-want.Lat) > 1e-6 || math.Abs(p.Lon-want.Lon) > 1e-6 ||
			math.Abs(p.SpeedKmh-want.SpeedKmh) > 0.01 || p.Course != want.Course || p.Alarm != want.Alarm || p.Ignition != want.Ignition {
			t.Errorf("round trip:\n got %+v\nwant %+v", p, want)
		}
		if hb.Type != protocol.TypeStatus || hb.Battery != 42 || hb.DeviceID != "4210051415" {
			t.Errorf("heartbeat %+v", hb)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	codectest.BenchmarkDecode(b, New(), []byte("*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#"))
}
