package watch

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"carevisit/protocol"
)

const maxFields = 160

// AccessPoint is one Wi-Fi access point a watch reported (Extra["wifi"]).
type AccessPoint struct {
	MAC  string `json:"macAddress"`
	RSSI int    `json:"signalStrength"`
}

func splitFields(dst [][]byte, s []byte) [][]byte {
	for len(dst) < cap(dst)-1 {
		i := bytes.IndexByte(s, ',')
		if i < 0 {
			break
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
	return append(dst, s)
}

func isDigits(b []byte) bool {
	if len(b) == 0 || len(b) > 9 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(b []byte) int {
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

// number parses a decimal (optionally signed, leading spaces allowed as
// devices send them), rejecting NaN, Inf, hex and exponents.
func number(b []byte) (float64, bool) {
	b = bytes.TrimLeft(b, " ")
	if len(b) == 0 || len(b) > 24 {
		return 0, false
	}
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' && i == 0) {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	return v, err == nil
}

// integer parses a signed decimal or, when it holds hex letters, a hex
// number (watches send LAC/CID either way).
func integer(b []byte, hexOK bool) (int64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	base := 10
	if hexOK && bytes.ContainsAny(b, "abcdefABCDEF") {
		base = 16
	}
	v, err := strconv.ParseInt(string(b), base, 64)
	return v, err == nil
}

// Decode decodes one frame (protocols.md §3.2) and builds the reply the
// watch expects (§3.3) in replyBuf[:0]. Unknown types yield nothing.
func (c *Codec) Decode(frame []byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	h, ok := parseHeader(frame)
	if !ok {
		return dst, nil, fmt.Errorf("%w: watch header", protocol.ErrMalformed)
	}
	content := frame[h.content:]
	if n := len(content); n > 0 && content[n-1] == ']' {
		content = content[:n-1]
	}
	typ, body := content, []byte(nil)
	if i := bytes.IndexByte(content, ','); i >= 0 {
		typ, body = content[:i], content[i+1:]
	}
	id := c.setID(h.id)
	reply := func(s string) []byte { return appendFrame(replyBuf[:0], h.maker, id, h.index, s) }

	switch {
	case string(typ) == "LK":
		return c.decodeLink(id, body, dst), reply("LK"), nil
	case bytes.HasPrefix(typ, []byte("UD")) || bytes.HasPrefix(typ, []byte("WT")):
		m, err := c.decodePosition(id, body)
		if err != nil {
			return dst, nil, err
		}
		return append(dst, m), nil, nil
	case bytes.HasPrefix(typ, []byte("AL")):
		m, err := c.decodePosition(id, body)
		if err != nil {
			return dst, reply("AL"), err
		}
		if m.Alarm == "" {
			m.Alarm = "general"
		}
		return append(dst, m), reply("AL"), nil
	case string(typ) == "INIT":
		return dst, reply("INIT,1"), nil
	case string(typ) == "TKQ" || string(typ) == "TKQ2":
		return dst, reply(string(typ)), nil
	case string(typ) == "JXTK":
		m, ok, err := c.decodeVoiceChunk(id, body)
		if err != nil {
			return dst, nil, err
		}
		if ok {
			dst = append(dst, m)
		}
		return dst, reply("JXTKR,1"), nil
	case string(typ) == "TK":
		if len(body) <= 1 { // "TK,1": an acknowledgement, no audio
			return dst, nil, nil
		}
		return c.appendMedia(dst, id, "amr", "audio", Unescape(nil, body))
	case string(typ) == "img":
		// img,<x>,<yyMMddHHmmss>,<jpeg>
		i := bytes.IndexByte(body, ',')
		if i < 0 || len(body) < i+14 {
			return dst, nil, fmt.Errorf("%w: img", protocol.ErrMalformed)
		}
		return c.appendMedia(dst, id, "jpg", "image", Unescape(nil, body[i+14:]))
	}
	if m, ok := c.decodeHealth(id, typ, body); ok {
		return append(dst, m), nil, nil
	}
	return dst, nil, nil
}

// appendFrame appends `[maker*id*[index*]len*content]`, len in lower-case
// hex as Traccar sends it.
func appendFrame(dst, maker []byte, id string, index []byte, content string) []byte {
	dst = append(dst, '[')
	dst = append(dst, maker...)
	dst = append(dst, '*')
	dst = append(dst, id...)
	dst = append(dst, '*')
	if index != nil {
		dst = append(dst, index...)
		dst = append(dst, '*')
	}
	dst = fmt.Appendf(dst, "%04x*", len(content))
	dst = append(dst, content...)
	return append(dst, ']')
}

// decodeLink: `LK` alone is a keep-alive; `LK,steps,rolls,battery` a status.
func (c *Codec) decodeLink(id string, body []byte, dst []protocol.Message) []protocol.Message {
	m := protocol.Message{Type: protocol.TypeHeartbeat, DeviceID: id, Time: c.now()}
	var arr [8][]byte
	if f := splitFields(arr[:0], body); len(f) >= 3 && isDigits(f[0]) && isDigits(f[2]) {
		m.Type = protocol.TypeStatus
		m.Steps, m.Battery = atoi(f[0]), atoi(f[2])
		m.Has |= protocol.HasSteps | protocol.HasBattery
	}
	return append(dst, m)
}

// alarm maps the status word's bits (protocols.md §3.2) to Traccar's names.
func alarm(status uint32) string {
	bit := func(n int) bool { return status&(1<<n) != 0 }
	switch {
	case bit(0):
		return "lowBattery"
	case bit(1):
		return "geofenceExit"
	case bit(2):
		return "geofenceEnter"
	case bit(14):
		return "powerCut"
	case bit(16):
		return "sos"
	case bit(17):
		return "lowBattery"
	case bit(18):
		return "geofenceExit"
	case bit(19):
		return "geofenceEnter"
	case bit(20):
		return "removing"
	case bit(21), bit(22):
		return "fallDown"
	}
	return ""
}

func isTime6(b []byte) bool { return len(b) == 6 && isDigits(b) }

// decodePosition decodes the UD/AL/WT body: date, time, validity, lat, NS,
// lon, EW, speed km/h, course, altitude, sats, rssi, battery, steps, rolls,
// status, then cells, Wi-Fi and accuracy.
func (c *Codec) decodePosition(id string, body []byte) (protocol.Message, error) {
	m := protocol.Message{Type: protocol.TypePosition, DeviceID: id}
	var arr [maxFields][]byte
	f := splitFields(arr[:0], body)
	if len(f) < 16 || !isTime6(f[0]) || !isTime6(f[1]) || len(f[2]) != 1 || f[2][0] != 'A' && f[2][0] != 'V' {
		return m, fmt.Errorf("%w: watch position", protocol.ErrMalformed)
	}
	d, mo, y := atoi(f[0][0:2]), atoi(f[0][2:4]), atoi(f[0][4:6])
	hh, mi, ss := atoi(f[1][0:2]), atoi(f[1][2:4]), atoi(f[1][4:6])
	m.Time = time.Date(2000+y, time.Month(mo), d, hh, mi, ss, 0, time.UTC)
	m.Valid = f[2][0] == 'A'

	lat, ok1 := number(f[3])
	lon, ok2 := number(f[5])
	if !ok1 || !ok2 || !hemisphere(f[4], 'N', 'S') || !hemisphere(f[6], 'E', 'W') {
		return m, fmt.Errorf("%w: watch coordinates", protocol.ErrMalformed)
	}
	if string(f[4]) == "S" {
		lat = -math.Abs(lat)
	}
	if string(f[6]) == "W" {
		lon = -math.Abs(lon)
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return m, fmt.Errorf("%w: coordinates out of range (%g, %g)", protocol.ErrMalformed, lat, lon)
	}
	m.Lat, m.Lon = lat, lon

	speed, ok1 := number(f[7])
	course, ok2 := number(f[8])
	alt, ok3 := number(f[9])
	if !ok1 || !ok2 || !ok3 || speed < 0 || course < 0 {
		return m, fmt.Errorf("%w: watch speed/course/altitude", protocol.ErrMalformed)
	}
	m.SpeedKmh, m.Course, m.Altitude = speed, course, alt
	m.Has |= protocol.HasSpeed | protocol.HasCourse | protocol.HasAltitude
	for _, v := range f[10:15] {
		if !isDigits(v) {
			return m, fmt.Errorf("%w: watch field %q", protocol.ErrMalformed, v)
		}
	}
	m.Sats, m.RSSI, m.Battery, m.Steps = atoi(f[10]), atoi(f[11]), atoi(f[12]), atoi(f[13])
	m.Has |= protocol.HasSats | protocol.HasRSSI | protocol.HasBattery | protocol.HasSteps
	status, err := strconv.ParseUint(string(f[15]), 16, 32)
	if err != nil {
		return m, fmt.Errorf("%w: watch status %q", protocol.ErrMalformed, f[15])
	}
	m.Status = uint32(status)
	m.Has |= protocol.HasStatus
	m.Alarm = alarm(m.Status)
	if m.Status&(1<<4) != 0 {
		m.SetExtra("motion", true)
	}
	decodeNetwork(&m, f[16:])
	return m, nil
}

func hemisphere(b []byte, pos, neg byte) bool {
	return len(b) == 0 || len(b) == 1 && (b[0] == pos || b[0] == neg)
}

// decodeNetwork reads `count[,ta,mcc,mnc,(lac,cid,rssi)*count],wifiCount,
// (name,mac,rssi)*,accuracy`. The serving (first) cell goes to the typed
// fields, access points to Extra["wifi"]. Layouts vary between firmwares:
// whatever does not parse is left out, the position stays.
func decodeNetwork(m *protocol.Message, v [][]byte) {
	if len(v) == 0 {
		return
	}
	count, ok := integer(v[0], false)
	if !ok || count < 0 || count > 32 {
		return
	}
	// The timing advance follows the cell count only when there are cells
	// (`0,0,58.0` is no cells, no Wi-Fi, accuracy 58).
	i := 1
	if count > 0 {
		i = 2
		if len(v) < i+2+3*int(count) {
			return
		}
		mcc, ok1 := integer(v[i], false)
		mnc, ok2 := integer(v[i+1], false)
		lac, ok3 := integer(v[i+2], true)
		cid, ok4 := integer(v[i+3], true)
		if ok1 && ok2 && ok3 && ok4 && mcc > 0 && mcc < 1000 && mnc >= 0 && mnc < 1000 {
			m.MCC, m.MNC, m.LAC, m.CID = int(mcc), int(mnc), lac, cid
			m.Has |= protocol.HasCell
		}
		i += 2 + 3*int(count)
	}
	if i < len(v) && len(v[i]) > 0 {
		n, ok := integer(v[i], false)
		if !ok || n < 0 || i+1+3*int(n) > len(v) {
			return
		}
		i++
		var aps []AccessPoint
		for k := 0; k < int(n); k, i = k+1, i+3 {
			mac := bytes.TrimSpace(v[i+1])
			rssi, ok := integer(v[i+2], false)
			if len(mac) < 11 || !ok {
				continue
			}
			aps = append(aps, AccessPoint{MAC: strings.ToLower(string(mac)), RSSI: int(rssi)})
		}
		if len(aps) > 0 {
			m.SetExtra("wifi", aps)
		}
	} else if i < len(v) {
		i++ // empty Wi-Fi count
	}
	if i == len(v)-1 {
		if acc, ok := number(v[i]); ok && acc > 0 {
			m.AccuracyM = acc
			m.Has |= protocol.HasAccuracy
		}
	}
}

// decodeHealth handles heart rate, blood pressure, temperature and SpO2
// readings; they are stored as info at the time they arrive.
func (c *Codec) decodeHealth(id string, typ, body []byte) (protocol.Message, bool) {
	t := strings.ToLower(string(typ))
	switch t {
	case "pulse", "heart", "blood", "bphrt", "temp", "btemp2", "oxygen":
	default:
		return protocol.Message{}, false
	}
	if len(body) == 0 {
		return protocol.Message{}, false
	}
	m := protocol.Message{Type: protocol.TypeInfo, DeviceID: id, Time: c.now()}
	var arr [16][]byte
	v := splitFields(arr[:0], body)
	switch t {
	case "temp":
		if x, ok := number(v[0]); ok {
			m.SetExtra("temp1", x)
		}
	case "btemp2":
		if len(v) > 1 && isDigits(v[0]) && atoi(v[0]) > 0 {
			if x, ok := number(v[1]); ok {
				m.SetExtra("temp1", x)
			}
		}
	case "oxygen":
		if len(v) > 1 && isDigits(v[1]) {
			m.SetExtra("bloodOxygen", atoi(v[1]))
		}
	default:
		k := 0
		if t == "bphrt" || t == "blood" {
			if len(v) > 1 && isDigits(v[0]) && isDigits(v[1]) {
				m.SetExtra("pressureHigh", atoi(v[0]))
				m.SetExtra("pressureLow", atoi(v[1]))
			}
			k = 2
		}
		if k < len(v) && isDigits(v[k]) {
			m.SetExtra("heartRate", atoi(v[k]))
		}
	}
	if len(m.Extra) == 0 {
		return protocol.Message{}, false
	}
	return m, true
}

// decodeVoiceChunk appends one JXTK chunk (`a,b,current,total,<amr>`) and
// returns the voice message once the last chunk is in.
func (c *Codec) decodeVoiceChunk(id string, body []byte) (protocol.Message, bool, error) {
	var arr [5][]byte
	f := splitFields(arr[:0], body)
	if len(f) < 5 || !isDigits(f[2]) || !isDigits(f[3]) {
		return protocol.Message{}, false, fmt.Errorf("%w: JXTK header", protocol.ErrMalformed)
	}
	current, total := atoi(f[2]), atoi(f[3])
	if current <= 1 {
		c.audio = c.audio[:0]
	}
	if len(c.audio)+len(f[4]) > maxAudio {
		c.audio = nil
		return protocol.Message{}, false, fmt.Errorf("%w: voice message over %d bytes", protocol.ErrTooLarge, maxAudio)
	}
	c.audio = Unescape(c.audio, f[4])
	if current < total {
		return protocol.Message{}, false, nil
	}
	m, ok, err := c.media(id, "amr", "audio", c.audio)
	c.audio = nil
	return m, ok, err
}

func (c *Codec) appendMedia(dst []protocol.Message, id, ext, key string, data []byte) ([]protocol.Message, []byte, error) {
	m, ok, err := c.media(id, ext, key, data)
	if ok {
		dst = append(dst, m)
	}
	return dst, nil, err
}

// media hands data to the Media hook and returns the message naming it.
func (c *Codec) media(id, ext, key string, data []byte) (protocol.Message, bool, error) {
	if c.Media == nil {
		return protocol.Message{}, false, nil
	}
	name, err := c.Media(id, ext, data)
	if err != nil {
		return protocol.Message{}, false, fmt.Errorf("storing %s: %w", ext, err)
	}
	m := protocol.Message{Type: protocol.TypeInfo, DeviceID: id, Time: c.now()}
	m.SetExtra(key, name)
	return m, true, nil
}
