package osmand

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/internal/codectest"
)

var now = time.Date(2025, 6, 15, 14, 0, 0, 0, time.UTC)

func decodeOne(t *testing.T, target, ct, body string) protocol.Message {
	t.Helper()
	msgs, err := Decode("GET", target, ct, []byte(body), now)
	if err != nil {
		t.Fatalf("Decode(%q): %v", target, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("Decode(%q): %d messages, want 1", target, len(msgs))
	}
	return msgs[0]
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestDecodeQuery(t *testing.T) {
	m := decodeOne(t, "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=10&bearing=370&accuracy=12&batt=87.6&charge=true&mock=true&vacc=3&label=home&flag=false", "", "")
	want := time.Date(2015, 9, 12, 14, 38, 6, 579e6, time.UTC)
	switch {
	case m.Type != protocol.TypePosition || m.DeviceID != "902064":
		t.Errorf("type %q id %q", m.Type, m.DeviceID)
	case !m.Time.Equal(want):
		t.Errorf("time %v, want %v", m.Time, want)
	case !near(m.Lat, 42.06288) || !near(m.Lon, -88.23412):
		t.Errorf("lat/lon %v,%v", m.Lat, m.Lon)
	case !near(m.SpeedKmh, 18.52) || m.Has&protocol.HasSpeed == 0:
		t.Errorf("speed %v km/h, want 18.52 (10 kn)", m.SpeedKmh)
	case !near(m.Course, 10):
		t.Errorf("course %v, want 10", m.Course)
	case m.AccuracyM != 12 || m.Has&protocol.HasAccuracy == 0 || m.Approximate:
		t.Errorf("accuracy %v approximate %v", m.AccuracyM, m.Approximate)
	case !m.Valid:
		t.Error("not valid")
	}
	a := m.Attributes()
	for k, v := range map[string]any{"batteryLevel": 88, "charge": true, "mock": true, "vacc": 3.0, "label": "home", "flag": false, "hdop": 6.0} {
		if a[k] != v {
			t.Errorf("attribute %s = %#v, want %#v", k, a[k], v)
		}
	}
}

func TestDecodeVariants(t *testing.T) {
	tests := []struct {
		name, target, ct, body string
		check                  func(m protocol.Message) string
	}{
		{"location= and deviceid", "/?deviceid=7&location=60.5,30.25&timestamp=1377177267", "", "",
			func(m protocol.Message) string {
				if m.DeviceID != "7" || m.Lat != 60.5 || m.Lon != 30.25 || !m.Time.Equal(time.Unix(1377177267, 0)) {
					return "wrong position"
				}
				return ""
			}},
		{"form body", "/", "application/x-www-form-urlencoded", "id=9&lat=1.5&lon=2.5", func(m protocol.Message) string {
			if m.DeviceID != "9" || m.Lat != 1.5 || !m.IsPosition() {
				return "form body not read"
			}
			return ""
		}},
		{"ISO time with offset", "/?id=1&lat=1&lon=1&timestamp=2025-06-15T15:45:12.862%2B02:00", "", "", func(m protocol.Message) string {
			if !m.Time.Equal(time.Date(2025, 6, 15, 13, 45, 12, 862e6, time.UTC)) {
				return "time " + m.Time.String()
			}
			return ""
		}},
		{"local time in now's zone", "/?id=1&lat=1&lon=1&timestamp=2025-06-15+13:45:12", "", "", func(m protocol.Message) string {
			if !m.Time.Equal(time.Date(2025, 6, 15, 13, 45, 12, 0, time.UTC)) {
				return "time " + m.Time.String()
			}
			return ""
		}},
		{"no timestamp -> now", "/?id=1&lat=1&lon=1", "", "", func(m protocol.Message) string {
			if !m.Time.Equal(now) {
				return "time " + m.Time.String()
			}
			return ""
		}},
		{"no lat/lon -> status, not 0,0", "/?id=1&batt=50", "", "", func(m protocol.Message) string {
			if m.Type != protocol.TypeStatus || m.Battery != 50 {
				return "type " + m.Type
			}
			return ""
		}},
		{"0,0 is no fix", "/?id=1&lat=0&lon=0", "", "", func(m protocol.Message) string {
			if m.IsPosition() {
				return "0,0 stored as a position"
			}
			return ""
		}},
		{"cells without fix -> network", "/?id=1&cell=262,1,4711,12345,-70&cell=262,1,4711,12346&wifi=aa-bb-cc-dd-ee-ff,-60", "", "", func(m protocol.Message) string {
			n, _ := m.Extra["network"].(map[string]any)
			if m.Type != protocol.TypeNetwork || m.MCC != 262 || m.CID != 12345 || m.RSSI != -70 || n == nil {
				return "cells not read"
			}
			if w := n["wifiAccessPoints"].([]map[string]any); w[0]["macAddress"] != "aa:bb:cc:dd:ee:ff" {
				return "wifi mac not converted"
			}
			return ""
		}},
		{"coarse fix is approximate", "/?id=1&lat=52.5&lon=13.4&accuracy=1500", "", "", func(m protocol.Message) string {
			if !m.Approximate || m.AccuracyM != 1500 {
				return "1500 m fix not approximate"
			}
			return ""
		}},
		{"valid=0", "/?id=1&lat=52.5&lon=13.4&valid=0", "", "", func(m protocol.Message) string {
			if m.Valid {
				return "valid"
			}
			return ""
		}},
		{"JSON m/s, battery, extras", "/", "application/json; charset=utf-8",
			`{"device_id":"abc","location":{"timestamp":"2021-07-21T08:06:34.444Z","mock":true,"coords":{"latitude":-6.1,"longitude":106.6,"accuracy":3.8,"speed":10,"heading":-1,"altitude":35.7},"battery":{"level":0.79,"is_charging":true},"activity":{"type":"walking"},"is_moving":true,"event":"motionchange","extras":{"n":12,"d":1.5,"s":"x","o":{"x":1}}}}`,
			func(m protocol.Message) string {
				a := m.Attributes()
				switch {
				case m.DeviceID != "abc" || !near(m.SpeedKmh, 36) || m.Has&protocol.HasCourse != 0 || m.Altitude != 35.7:
					return "coords wrong"
				case a["batteryLevel"] != 79 || a["charge"] != true || a["mock"] != true || a["activity"] != "walking" || a["motion"] != true:
					return "attributes wrong"
				case a["n"] != int64(12) || a["d"] != 1.5 || a["s"] != "x" || a["o"] != nil:
					return "extras wrong"
				}
				return ""
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if why := tc.check(decodeOne(t, tc.target, tc.ct, tc.body)); why != "" {
				t.Error(why)
			}
		})
	}
}

func TestDecodeJSONBatch(t *testing.T) {
	body := `{"device_id":"42","location":[{"timestamp":"2021-07-21T08:06:34Z","coords":{"latitude":1,"longitude":2}},{"timestamp":"2021-07-21T08:07:34Z","coords":{"latitude":1.1,"longitude":2.1}}]}`
	msgs, err := Decode("POST", "/", "application/json", []byte(body), now)
	if err != nil || len(msgs) != 2 || msgs[1].Lat != 1.1 || msgs[1].DeviceID != "42" {
		t.Fatalf("batch: %v %+v", err, msgs)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, target, ct, body string
		is                     error  // errors.Is target besides ErrMalformed
		text                   string // the error must contain this
	}{
		{"no id", "/?lat=60&lon=30", "", "", ErrNoID, "no device id"},
		{"empty id", "/?id=&lat=60&lon=30", "", "", ErrNoID, "no device id"},
		{"empty body", "/", "", "", ErrNoID, "no device id"},
		{"lat 200", "/?id=1&lat=200&lon=30", "", "", ErrOutOfRange, "lat 200 out of range"},
		{"lon -181", "/?id=1&location=10,-181", "", "", ErrOutOfRange, "lon -181 out of range"},
		{"lat NaN", "/?id=1&lat=NaN&lon=30", "", "", errNotNumber, `lat "NaN"`},
		{"lon missing", "/?id=1&lat=10", "", "", nil, "lon"},
		{"garbage timestamp", "/?id=1&lat=1&lon=1&timestamp=yesterday", "", "", nil, `timestamp "yesterday"`},
		{"garbage ISO timestamp", "/?id=1&lat=1&lon=1&timestamp=2025-13-45T99:00:00Z", "", "", nil, "timestamp"},
		{"speed not a number", "/?id=1&lat=1&lon=1&speed=fast", "", "", errNotNumber, `speed "fast"`},
		{"bad cell", "/?id=1&cell=262,1", "", "", nil, "cell"},
		{"bad escape", "/?id=1&lat=%zz", "", "", nil, "query"},
		{"id too long", "/?id=" + strings.Repeat("9", 65), "", "", nil, "longer than 64"},
		{"JSON empty body", "/", "application/json", "", nil, "empty JSON body"},
		{"JSON garbage", "/", "application/json", "{nope", nil, "JSON body"},
		{"JSON no device_id", "/", "application/json", `{"location":{"coords":{"latitude":1,"longitude":2}}}`, ErrNoID, "no device id"},
		{"JSON lat 200", "/", "application/json", `{"device_id":"1","location":{"coords":{"latitude":200,"longitude":2}}}`, ErrOutOfRange, "coords.latitude 200 out of range"},
		{"JSON no location", "/", "application/json", `{"device_id":"1"}`, nil, "no location"},
		{"JSON bad timestamp", "/", "application/json", `{"device_id":"1","location":{"timestamp":"soon","coords":{"latitude":1,"longitude":2}}}`, nil, "location.timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := Decode("POST", tc.target, tc.ct, []byte(tc.body), now)
			if err == nil {
				t.Fatalf("no error, got %+v", msgs)
			}
			if len(msgs) != 0 {
				t.Errorf("messages returned with the error: %+v", msgs)
			}
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Errorf("%v does not wrap protocol.ErrMalformed", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	raw := "POST /?id=5&lat=48.1&lon=11.5&timestamp=1700000000 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
	msgs, err := ParseRequest([]byte(raw), now)
	if err != nil || len(msgs) != 1 || msgs[0].DeviceID != "5" || msgs[0].Lat != 48.1 {
		t.Fatalf("ParseRequest: %v %+v", err, msgs)
	}
	// Content-Length longer than the body: the request is cut.
	cut := "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{}"
	if _, err := ParseRequest([]byte(cut), now); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("cut request: %v, want ErrMalformed", err)
	}
	if _, err := ParseRequest([]byte("hello"), now); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("not HTTP: %v, want ErrMalformed", err)
	}
}

// FuzzDecode: no panic, errors wrap ErrMalformed, positions are in range and
// marshal to JSON.
func FuzzDecode(f *testing.F) {
	for _, v := range codectest.Load(f, "osmand") {
		f.Add(v.InputText)
	}
	f.Add("GET /?id=1&cell=1,2,3,4,5&wifi=a-b,1&timestamp=2025-06-15+13:45:12 HTTP/1.1\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		msgs, err := ParseRequest([]byte(raw), now)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, m := range msgs {
			if m.DeviceID == "" {
				t.Fatal("message without device id")
			}
			if m.IsPosition() && (m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180) {
				t.Fatalf("position out of range: %v,%v", m.Lat, m.Lon)
			}
			if _, err := json.Marshal(m); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}
