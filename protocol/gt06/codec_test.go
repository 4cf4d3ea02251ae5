package gt06

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"carevisit/protocol"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCRC(t *testing.T) {
	if got := crcITU([]byte("123456789")); got != 0x906E {
		t.Fatalf("check value %04x, want 906e", got)
	}
	// Login ack for serial 1, as computed in protocols.md §1.1.
	if got, want := AppendReply(nil, 0x01, 1), mustHex(t, "787805010001d9dc0d0a"); !bytes.Equal(got, want) {
		t.Fatalf("login ack % x, want % x", got, want)
	}
}

func TestFrame(t *testing.T) {
	login := mustHex(t, "78780d01086471700328358100093f040d0a")
	wifi := mustHex(t, "787803691604130318491475905bd30e25001e10bbf7635d14759006e626560501cc0028660f213228660f1f2828660ea81e286610731428660f20140d0a")
	// A long frame whose content holds 0D 0A (RFID text).
	rfid := mustHex(t, "79790019941b524649443a3030384642324245424133390d0a000c14930d0a")
	tests := []struct {
		name    string
		in      []byte
		n, skip int
		err     error
	}{
		{"empty", nil, 0, 0, nil},
		{"one start byte", []byte{0x78}, 0, 0, nil},
		{"header only", login[:4], 0, 0, nil},
		{"partial", login[:10], 0, 0, nil},
		{"whole", login, len(login), 0, nil},
		{"two frames", append(append([]byte{}, login...), login...), len(login), 0, nil},
		{"garbage", append([]byte{1, 2, 0x78, 3}, login...), 0, 4, protocol.ErrGarbage},
		{"garbage keeps lone 78", []byte{1, 2, 0x78}, 0, 2, protocol.ErrGarbage},
		{"garbage all", []byte{1, 2, 3}, 0, 3, protocol.ErrGarbage},
		{"mixed marker", append([]byte{0x78, 0x79}, login...), 0, 2, protocol.ErrGarbage},
		{"wifi count in length", wifi, len(wifi), 0, nil},
		{"long with 0d0a inside", rfid, len(rfid), 0, nil},
		{"long cut inside content waits", rfid[:26], 0, 0, nil},
		{"too large", []byte{0x79, 0x79, 0xff, 0xff, 0x01}, 0, 0, protocol.ErrTooLarge},
		{"no end within MaxFrame", append([]byte{0x78, 0x78, 0x01, 0x01}, make([]byte, protocol.MaxFrame)...), 0, 0, protocol.ErrTooLarge},
	}
	c := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, skip, err := c.Frame(tt.in)
			if n != tt.n || skip != tt.skip || !errors.Is(err, tt.err) {
				t.Fatalf("Frame = %d, %d, %v; want %d, %d, %v", n, skip, err, tt.n, tt.skip, tt.err)
			}
		})
	}
}

func TestSessionAndLoginAck(t *testing.T) {
	c := New()
	loc := AppendLocation(nil, protocol.Message{Time: time.Now(), Valid: true}, 7)
	msgs, reply, err := c.Decode(loc, nil, nil)
	if !errors.Is(err, protocol.ErrNoDevice) || len(msgs) != 0 || reply != nil {
		t.Fatalf("before login: %v %v %x", msgs, err, reply)
	}
	msgs, reply, err = c.Decode(AppendLogin(nil, "864717003283581", 1), nil, make([]byte, 0, 64))
	if err != nil || len(msgs) != 1 || msgs[0].Type != protocol.TypeLogin || msgs[0].DeviceID != "864717003283581" {
		t.Fatalf("login: %+v %v", msgs, err)
	}
	if want := mustHex(t, "787805010001d9dc0d0a"); !bytes.Equal(reply, want) {
		t.Fatalf("login ack % x, want % x", reply, want)
	}
	if c.DeviceID() != "864717003283581" {
		t.Fatalf("DeviceID %q", c.DeviceID())
	}
	msgs, reply, err = c.Decode(loc, nil, nil)
	if err != nil || len(msgs) != 1 || msgs[0].DeviceID != "864717003283581" {
		t.Fatalf("after login: %+v %v", msgs, err)
	}
	if !bytes.Equal(reply, AppendReply(nil, 0x22, 7)) {
		t.Fatalf("location ack % x", reply)
	}
}

func TestRoundTrip(t *testing.T) {
	fix := time.Date(2024, 5, 17, 9, 30, 12, 0, time.UTC)
	base := protocol.Message{
		Time: fix, Valid: true, Lat: -33.868820, Lon: 151.209290, SpeedKmh: 42, Course: 271, Sats: 9,
		MCC: 505, MNC: 1, LAC: 0x1234, CID: 0xABCDEF,
	}
	tests := []struct {
		name   string
		encode func(dst []byte, m protocol.Message, serial uint16) []byte
		in     protocol.Message
		check  func(t *testing.T, m protocol.Message)
	}{
		{"location", AppendLocation, base, func(t *testing.T, m protocol.Message) {
			checkFix(t, m, base)
			if m.Archive {
				t.Error("archive set")
			}
		}},
		{"archived location north-west", AppendLocation,
			with(base, func(m *protocol.Message) { m.Lat, m.Lon, m.Archive, m.Ignition = 51.5, -0.12, true, true }),
			func(t *testing.T, m protocol.Message) {
				if !m.Archive || !m.Ignition || m.Lat != 51.5 || math.Abs(m.Lon+0.12) > 1e-6 {
					t.Errorf("got %+v", m)
				}
			}},
		{"heartbeat", AppendHeartbeat,
			protocol.Message{Battery: 80, Charging: true, RSSI: 3},
			func(t *testing.T, m protocol.Message) {
				if m.Type != protocol.TypeStatus || m.Battery != 80 || !m.Charging || m.Ignition || m.RSSI != 3 || m.Alarm != "" {
					t.Errorf("got %+v", m)
				}
			}},
		{"sos alarm", AppendAlarm,
			with(base, func(m *protocol.Message) { m.Alarm, m.Battery = "sos", 50 }),
			func(t *testing.T, m protocol.Message) {
				checkFix(t, m, base)
				if m.Alarm != "sos" || m.Battery != 50 {
					t.Errorf("alarm %q battery %d", m.Alarm, m.Battery)
				}
			}},
		{"fall alarm", AppendAlarm,
			with(base, func(m *protocol.Message) { m.Alarm = "fallDown" }),
			func(t *testing.T, m protocol.Message) {
				if m.Alarm != "fallDown" {
					t.Errorf("alarm %q", m.Alarm)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			c.SetDeviceID("123456789012345")
			b := tt.encode(nil, tt.in, 0x0102)
			n, skip, err := c.Frame(b)
			if n != len(b) || skip != 0 || err != nil {
				t.Fatalf("Frame = %d, %d, %v for % x", n, skip, err, b)
			}
			msgs, reply, err := c.Decode(b, nil, nil)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("Decode: %v %+v", err, msgs)
			}
			if c.CRCMismatches() != 0 {
				t.Error("our own frame has a bad CRC")
			}
			if !bytes.Equal(reply, AppendReply(nil, b[3], 0x0102)) {
				t.Errorf("reply % x", reply)
			}
			tt.check(t, msgs[0])
		})
	}
}

func with(m protocol.Message, f func(*protocol.Message)) protocol.Message {
	f(&m)
	return m
}

func checkFix(t *testing.T, got, want protocol.Message) {
	t.Helper()
	if got.Type != protocol.TypePosition || !got.Time.Equal(want.Time) || got.Valid != want.Valid ||
		math.Abs(got.Lat-want.Lat) > 1e-6 || math.Abs(got.Lon-want.Lon) > 1e-6 ||
		got.SpeedKmh != want.SpeedKmh || got.Course != want.Course || got.Sats != want.Sats ||
		got.Approximate || got.Has&(protocol.HasSats|protocol.HasSpeed|protocol.HasCourse|protocol.HasCell) !=
		protocol.HasSats|protocol.HasSpeed|protocol.HasCourse|protocol.HasCell ||
		got.MCC != want.MCC || got.MNC != want.MNC || got.LAC != want.LAC || got.CID != want.CID {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestTimeRequest(t *testing.T) {
	c := New()
	c.SetDeviceID("1")
	c.Now = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600)) }
	msgs, reply, err := c.Decode(AppendTimeRequest(nil, 9), nil, nil)
	if err != nil || len(msgs) != 1 || msgs[0].Type != protocol.TypeTime {
		t.Fatalf("%+v %v", msgs, err)
	}
	// UTC time, serial 0 (as Traccar answers).
	want := appendFrame(nil, false, 0x8A, []byte{25, 3, 4, 4, 6, 7}, 0)
	if !bytes.Equal(reply, want) {
		t.Fatalf("reply % x, want % x", reply, want)
	}
}

func TestWiFiReplyEchoesTime(t *testing.T) {
	c := New()
	c.SetDeviceID("1")
	in := mustHex(t, "787803691604130318491475905bd30e25001e10bbf7635d14759006e626560501cc0028660f213228660f1f2828660ea81e286610731428660f20140d0a")
	msgs, reply, err := c.Decode(in, nil, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%+v %v", msgs, err)
	}
	m := msgs[0]
	if m.Type != protocol.TypeNetwork || !m.Approximate || m.MCC != 460 || len(m.Extra["wifi"].([]WiFi)) != 3 ||
		len(m.Extra["cells"].([]Cell)) != 5 || !m.Time.Equal(time.Date(2016, 4, 13, 3, 18, 49, 0, time.UTC)) {
		t.Fatalf("got %+v", m)
	}
	if want := mustHex(t, "787800691604130318490d0a"); !bytes.Equal(reply, want) {
		t.Fatalf("reply % x, want % x", reply, want)
	}
}

func TestLoginTimeZone(t *testing.T) {
	c := New()
	// Zone word 0x3201: 800 -> +08:00, east.
	login := appendFrame(nil, false, 0x01, mustHex(t, "0123456789012345100b3201"), 1)
	if _, _, err := c.Decode(login, nil, nil); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := c.Decode(AppendLocation(nil, protocol.Message{Time: time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)}, 2), nil, nil)
	if err != nil || !msgs[0].Time.Equal(time.Date(2020, 1, 1, 4, 0, 0, 0, time.UTC)) {
		t.Fatalf("device-local 12:00 at +08:00 should be 04:00 UTC, got %v (%v)", msgs[0].Time, err)
	}
	c.Location = time.UTC // the configured zone wins
	msgs, _, _ = c.Decode(AppendLocation(nil, protocol.Message{Time: time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)}, 3), nil, nil)
	if msgs[0].Time.Hour() != 12 {
		t.Fatalf("configured zone ignored: %v", msgs[0].Time)
	}
}

func TestBadCRCStillDecoded(t *testing.T) {
	c := New()
	c.SetDeviceID("1")
	b := AppendLocation(nil, protocol.Message{Time: time.Now(), Valid: true, Lat: 1, Lon: 2}, 5)
	b[len(b)-3] ^= 0xff
	msgs, _, err := c.Decode(b, nil, nil)
	if err != nil || len(msgs) != 1 || !msgs[0].IsPosition() {
		t.Fatalf("%+v %v", msgs, err)
	}
	if c.CRCMismatches() != 1 {
		t.Fatalf("CRCMismatches = %d", c.CRCMismatches())
	}
}

func TestStatusAndAlarms(t *testing.T) {
	c := New()
	c.SetDeviceID("1")
	tests := []struct {
		name, hex string
		typ       string
		check     func(m protocol.Message) bool
	}{
		// 0x13: charging, battery level 6 -> 100%, rssi 4.
		{"heartbeat", "78780a13440604000201baaf540d0a", protocol.TypeStatus, func(m protocol.Message) bool {
			return m.Charging && !m.Ignition && m.Battery == 100 && m.RSSI == 4 && m.Alarm == ""
		}},
		// 0x19 LBS alarm: low battery.
		{"lbs alarm", "78781219012ed042cc00954d00040419000056fe290d0a", protocol.TypeStatus, func(m protocol.Message) bool {
			return m.Alarm == "lowBattery" && m.Has&protocol.HasCell != 0
		}},
		// 0x16 with SOS from the terminal-info bits (VXT01 layout).
		{"sos", "7878241617070a150e24ca01fba0040780e177005c0001720253360027db6204e40400004bf1e90d0a", protocol.TypePosition,
			func(m protocol.Message) bool { return m.Alarm == "sos" }},
		// 0x26 tampering.
		{"tampering", "78782526160913063918c002780fab0c44750f00040008027f14084c0038420600030c020007398e0d0a", protocol.TypePosition,
			func(m protocol.Message) bool { return m.Alarm == "tampering" }},
		// 0x15 command reply.
		{"result", "78782d152500000000437574206f666620746865206675656c20737570706c793a2053756363657373210002013b898a0d0a", protocol.TypeResult,
			func(m protocol.Message) bool { return m.Extra["result"] == "Cut off the fuel supply: Success!" }},
		// 0x94 ICCID.
		{"iccid", "79790020940a035985708236675805200502187214018966051912408052452f000355560d0a", protocol.TypeInfo,
			func(m protocol.Message) bool { return m.Extra["iccid"] == "8966051912408052452" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, _, err := c.Decode(mustHex(t, tt.hex), nil, nil)
			if err != nil || len(msgs) != 1 || msgs[0].Type != tt.typ || !tt.check(msgs[0]) {
				t.Fatalf("%+v %v", msgs, err)
			}
		})
	}
}

// Messages must not alias the frame: the caller reuses its buffer.
func TestNoAliasing(t *testing.T) {
	c := New()
	login := AppendLogin(nil, "864717003283581", 1)
	msgs, _, _ := c.Decode(login, nil, nil)
	res := mustHex(t, "78782d152500000000437574206f666620746865206675656c20737570706c793a2053756363657373210002013b898a0d0a")
	msgs, _, _ = c.Decode(res, msgs, nil)
	for i := range login {
		login[i] = 'X'
	}
	for i := range res {
		res[i] = 'X'
	}
	if msgs[0].DeviceID != "864717003283581" || msgs[1].Extra["result"] != "Cut off the fuel supply: Success!" {
		t.Fatalf("messages changed with the frame: %+v", msgs)
	}
}

// crcBitwise is the textbook bit-at-a-time X.25 CRC, the reference for the
// table-driven one.
func crcBitwise(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func TestCRCMatchesBitwise(t *testing.T) {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	for n := 0; n <= len(b); n++ {
		if got, want := crcITU(b[:n]), crcBitwise(b[:n]); got != want {
			t.Fatalf("len %d: %04x, want %04x", n, got, want)
		}
	}
}
