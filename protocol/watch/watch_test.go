package watch

import (
	"bytes"
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

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func decodeOne(t *testing.T, c *Codec, frame string) (protocol.Message, string) {
	t.Helper()
	msgs, reply, err := c.Decode([]byte(frame), nil, make([]byte, 0, 64))
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Decode(%q): %d messages, err %v", frame, len(msgs), err)
	}
	return msgs[0], string(reply)
}

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name, frame, reply string
		check              func(t *testing.T, m protocol.Message)
	}{
		{"UD with cells", "[3G*4700222306*0077*UD,120316,140610,V,48.779045,N, 9.1574736,E,0.00,0.0,0.0,0,25,83,0,0,00000000,2,255,262,1,21041,9067,121,21041,5981,116]", "",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypePosition || m.Valid || !near(m.Lat, 48.779045) || !near(m.Lon, 9.1574736) ||
					!m.Time.Equal(time.Date(2016, 3, 12, 14, 6, 10, 0, time.UTC)) || m.DeviceID != "4700222306" {
					t.Errorf("got %+v", m)
				}
				if m.Has&protocol.HasCell == 0 || m.MCC != 262 || m.MNC != 1 || m.LAC != 21041 || m.CID != 9067 ||
					m.RSSI != 25 || m.Battery != 83 || m.Alarm != "" {
					t.Errorf("attributes %+v", m)
				}
			}},
		{"west keeps the sign negative", "[3G*6430073509*00E7*UD2,241016,081622,V,09.951861,N,-84.1422119,W,0.00,0.0,0.0,0,39,94,0,0,00000000,1,0,712,3,2007,18961,123,1,Luz,00:23:6A:34:EE:76,-70]", "",
			func(t *testing.T, m protocol.Message) {
				if !near(m.Lon, -84.1422119) {
					t.Errorf("lon %v", m.Lon)
				}
				aps, _ := m.Extra["wifi"].([]AccessPoint)
				if len(aps) != 1 || aps[0] != (AccessPoint{MAC: "00:23:6a:34:ee:76", RSSI: -70}) {
					t.Errorf("wifi %v", m.Extra["wifi"])
				}
			}},
		{"south forces negative, hex cells, accuracy", "[SG*9059011020*0067*UD,240123,181628,A,54.427538,S,6.409275,E,3.5,90,12,9,19,90,120,0,00000010,1,1,234,10,55C0,3B882A2,132,,10]", "",
			func(t *testing.T, m protocol.Message) {
				if !near(m.Lat, -54.427538) || m.SpeedKmh != 3.5 || m.Course != 90 || m.Altitude != 12 || m.Sats != 9 || m.Steps != 120 {
					t.Errorf("got %+v", m)
				}
				if m.LAC != 0x55C0 || m.CID != 0x3B882A2 || m.AccuracyM != 10 || m.Extra["motion"] != true {
					t.Errorf("cell/accuracy %+v", m)
				}
			}},
		{"AL SOS bit 16, with index", "[ZJ*014111001332708*0075*0064*AL,040418,052156,A,22.536207,N,113.938673,E,0,0,0,5,100,82,1000,50,00010000,1,255,460,0,9340,3663,35]",
			"[ZJ*014111001332708*0075*0002*AL]",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "sos" || m.DeviceID != "014111001332708" {
					t.Errorf("got %+v", m)
				}
			}},
		{"AL without a bit is general", "[SG*9051004074*0058*AL,120117,145602,V,40.058413,N,76.336618,W,11.519,188,99,00,01,80,0,50,00000000,0,1,0,0,,10]",
			"[SG*9051004074*0002*AL]",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "general" || m.Valid || !near(m.Lon, -76.336618) {
					t.Errorf("got %+v", m)
				}
			}},
		{"fall bit 21", "[3G*8308373902*0080*AL,230817,095346,A,47.083950,N,15.4821850,E,7.60,273.8,0.0,4,15,44,0,0,00200000,0,0,65.8]",
			"[3G*8308373902*0002*AL]",
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "fallDown" || m.AccuracyM != 65.8 {
					t.Errorf("got %+v", m)
				}
			}},
		{"LK keep-alive", "[3G*1234567890*0002*LK]", "[3G*1234567890*0002*LK]",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeHeartbeat || m.DeviceID != "1234567890" || !m.Time.Equal(fixedNow) {
					t.Errorf("got %+v", m)
				}
			}},
		{"LK with steps and battery", "[3G*4700186508*000B*LK,1234,10,77]", "[3G*4700186508*0002*LK]",
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeStatus || m.Steps != 1234 || m.Battery != 77 {
					t.Errorf("got %+v", m)
				}
			}},
		{"blood pressure and heart rate", "[3G*4700609403*0013*bphrt,120,79,73,,,,]", "",
			func(t *testing.T, m protocol.Message) {
				a := m.Attributes()
				if m.Type != protocol.TypeInfo || a["pressureHigh"] != 120 || a["pressureLow"] != 79 || a["heartRate"] != 73 {
					t.Errorf("got %v", a)
				}
			}},
		{"PULSE", "[3G*4700609403*0008*PULSE,66]", "",
			func(t *testing.T, m protocol.Message) {
				if m.Extra["heartRate"] != 66 {
					t.Errorf("got %v", m.Extra)
				}
			}},
		{"oxygen", "[3G*9705141740*000B*oxygen,0,98]", "",
			func(t *testing.T, m protocol.Message) {
				if m.Extra["bloodOxygen"] != 98 {
					t.Errorf("got %v", m.Extra)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, reply := decodeOne(t, newTestCodec(), tc.frame)
			if reply != tc.reply {
				t.Errorf("reply %q, want %q", reply, tc.reply)
			}
			tc.check(t, m)
		})
	}
}

func TestRepliesWithoutMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[3G*1234567890*0004*INIT]", "[3G*1234567890*0006*INIT,1]"},
		{"[3G*1234567890*0003*TKQ]", "[3G*1234567890*0003*TKQ]"},
		{"[3G*1234567890*0004*TKQ2]", "[3G*1234567890*0004*TKQ2]"},
		{"[ZJ*1234567890*0001*0004*TKQ2]", "[ZJ*1234567890*0001*0004*TKQ2]"},
		{"[3G*1234567890*0008*rcapture]", ""},
	}
	for _, tc := range tests {
		msgs, reply, err := newTestCodec().Decode([]byte(tc.in), nil, nil)
		if err != nil || len(msgs) != 0 || string(reply) != tc.want {
			t.Errorf("%q: %d messages, reply %q, err %v; want reply %q", tc.in, len(msgs), reply, err, tc.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"[3G]",
		"[3G*123",
		"[3G*123*0005*UD,1]",
		"[3G*123*0005*UD,120316,140610,V,98.7,N,9.15,E,0,0,0,0,25,83,0,0,00000000]",  // latitude 98.7
		"[3G*123*0005*UD,120316,140610,V,48.7,N,9.15,E,0,0,0,0,25,83,0,0,1FFFFFFFF]", // status over 32 bits
		"[3G*123*0005*UD,120316,140610,V,NaN,N,9.15,E,0,0,0,0,25,83,0,0,00000000]",
	} {
		msgs, _, _ := newTestCodec().Decode([]byte(in), nil, nil)
		if len(msgs) != 0 {
			t.Errorf("%q: %d messages", in, len(msgs))
		}
	}
}

func TestVoiceChunks(t *testing.T) {
	c := newTestCodec()
	var stored []byte
	c.Media = func(id, ext string, data []byte) (string, error) {
		if id != "7894" || ext != "amr" {
			t.Errorf("Media(%q, %q)", id, ext)
		}
		stored = append([]byte(nil), data...)
		return "v.amr", nil
	}
	chunks := []string{
		"[ZJ*7894*0034*0010*JXTK,0,w1,1,3,#!AMR}\x03]",
		"[ZJ*7894*0035*0010*JXTK,0,w1,2,3,ab}\x04]",
		"[ZJ*7894*0036*0010*JXTK,0,w1,3,3,cd]",
	}
	var msgs []protocol.Message
	for i, ch := range chunks {
		var reply []byte
		var err error
		msgs, reply, err = c.Decode([]byte(ch), msgs, nil)
		if err != nil || !strings.Contains(string(reply), "*JXTKR,1]") {
			t.Fatalf("chunk %d: reply %q, err %v", i, reply, err)
		}
		if i < 2 && len(msgs) != 0 {
			t.Fatalf("message before the last chunk")
		}
	}
	if len(msgs) != 1 || msgs[0].Extra["audio"] != "v.amr" || string(stored) != "#!AMR]ab,cd" {
		t.Errorf("msgs %+v, stored %q", msgs, stored)
	}
}

func TestFrame(t *testing.T) {
	lk := "[3G*9705141740*0009*LK,0,0,53]"
	ssid := "[3G*880900242*0023*UD,x,[LG_Wall-Mount A/C]e725,15.0]"
	unbalanced := "[3G*880900242*000D*UD,x,[bad,1.0]"
	tests := []struct {
		name    string
		in      string
		n, skip int
		err     error
	}{
		{"one of several", lk + lk, len(lk), 0, nil},
		{"garbage first", "\r\nxx" + lk, 0, 4, protocol.ErrGarbage},
		{"all garbage", "hello", 0, 5, protocol.ErrGarbage},
		{"partial", lk[:12], 0, 0, nil},
		{"brackets in a Wi-Fi name balance", ssid + lk, len(ssid), 0, nil},
		{"unbalanced name ends at the declared length", unbalanced + lk, len(unbalanced), 0, nil},
		{"escaped binary", "[CS*1*0006*TK,}\x02}\x03x]", len("[CS*1*0006*TK,}\x02}\x03x]"), 0, nil},
		{"too large", "[3G*1*0009*" + strings.Repeat("[", protocol.MaxFrame), 0, 0, protocol.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, skip, err := New().Frame([]byte(tc.in))
			if n != tc.n || skip != tc.skip || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("Frame = %d, %d, %v; want %d, %d, %v", n, skip, err, tc.n, tc.skip, tc.err)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	got := Unescape(nil, []byte("a}\x01b}\x02c}\x03d}\x04e}\x05f}[}"))
	if string(got) != "a}b[c]d,e*f}[}" {
		t.Errorf("Unescape = %q", got)
	}
}

func TestNoAliasing(t *testing.T) {
	in := []byte("[3G*6430073509*00E7*UD2,241016,081622,V,09.951861,N,-84.1422119,W,0.00,0.0,0.0,0,39,94,0,0,00000000,1,0,712,3,2007,18961,123,1,Luz,00:23:6a:34:ee:76,-70]")
	c := newTestCodec()
	msgs, _, err := c.Decode(in, nil, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	aps := msgs[0].Extra["wifi"].([]AccessPoint)
	if msgs[0].DeviceID != "6430073509" || c.DeviceID() != "6430073509" || aps[0].MAC != "00:23:6a:34:ee:76" {
		t.Errorf("message aliases the frame: %+v", msgs[0])
	}
}

func TestRoundTrip(t *testing.T) {
	base := protocol.Message{
		Time: time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC), Valid: true, Lat: -33.8688197, Lon: 151.2092955,
		SpeedKmh: 4.25, Course: 181.5, Altitude: 58.5, Sats: 7, RSSI: 80, Battery: 64, Steps: 4321,
		MCC: 505, MNC: 1, LAC: 12345, CID: 67890, AccuracyM: 12.5,
		Has: protocol.HasCell | protocol.HasAccuracy,
	}
	sos := base
	sos.Alarm, sos.Valid, sos.Lat, sos.Lon = "sos", false, 51.5007292, -0.1246254
	sos.Has, sos.AccuracyM = 0, 0

	var stream []byte
	stream = AppendLK(stream, "3G", "1234567890", 4321, 64)
	stream = AppendUD(stream, "3G", "1234567890", base)
	stream = AppendAL(stream, "3G", "1234567890", sos)

	c := newTestCodec()
	msgs, replies, skipped := codectest.DecodeStream(t, c, stream)
	if len(msgs) != 3 || skipped != 0 {
		t.Fatalf("%d messages, %d bytes skipped", len(msgs), skipped)
	}
	if lk := msgs[0]; lk.Type != protocol.TypeStatus || lk.Steps != 4321 || lk.Battery != 64 {
		t.Errorf("LK %+v", lk)
	}
	for i, want := range []protocol.Message{base, sos} {
		got := msgs[i+1]
		if !got.Time.Equal(want.Time) || got.Valid != want.Valid || !near(got.Lat, want.Lat) || !near(got.Lon, want.Lon) ||
			got.SpeedKmh != want.SpeedKmh || got.Course != want.Course || got.Altitude != want.Altitude ||
			got.Sats != want.Sats || got.RSSI != want.RSSI || got.Battery != want.Battery || got.Steps != want.Steps ||
			got.Alarm != want.Alarm || got.AccuracyM != want.AccuracyM ||
			(want.Has&protocol.HasCell != 0) != (got.Has&protocol.HasCell != 0) ||
			got.MCC != want.MCC && want.Has&protocol.HasCell != 0 || got.CID != want.CID && want.Has&protocol.HasCell != 0 {
			t.Errorf("round trip %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	wantReplies := []string{"[3G*1234567890*0002*LK]", "", "[3G*1234567890*0002*AL]"}
	if strings.Join(replies, "|") != strings.Join(wantReplies, "|") {
		t.Errorf("replies %q, want %q", replies, wantReplies)
	}
}

func TestEncodedLength(t *testing.T) {
	b := AppendLK(nil, "SG", "42", 1, 2)
	if !bytes.Equal(b, []byte("[SG*42*0008*LK,1,0,2]")) {
		t.Errorf("AppendLK = %q", b)
	}
}

func BenchmarkDecode(b *testing.B) {
	codectest.BenchmarkDecode(b, New(), []byte("[3G*4700222306*0077*UD,120316,140610,V,48.779045,N, 9.1574736,E,0.00,0.0,0.0,0,25,83,0,0,00000000,2,255,262,1,21041,9067,121,21041,5981,116]"))
}
