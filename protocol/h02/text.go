package h02

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"carevisit/protocol"
)

// maxFields bounds the comma-separated fields looked at; a text frame is at
// most protocol.MaxFrame bytes, but the decoders never need more than this.
const maxFields = 128

// splitFields splits s on ',' into dst (no copies). Fields beyond cap(dst)
// are merged into the last one.
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
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isHex8(b []byte) bool {
	if len(b) != 8 {
		return false
	}
	for _, c := range b {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// atoi parses up to 9 decimal digits (the caller checked they are digits).
func atoi(b []byte) int {
	v := 0
	for _, c := range b[:min(len(b), 9)] {
		v = v*10 + int(c-'0')
	}
	return v
}

// isDecimal reports whether b is `d+.?d*` (what the H02 patterns accept).
func isDecimal(b []byte) bool {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}

func parseFloat(b []byte) float64 {
	v, _ := strconv.ParseFloat(string(b), 64) // callers validated the syntax
	return v
}

// hms returns hours, minutes, seconds of a 6-digit field.
func hms(b []byte) (int, int, int) { return atoi(b[0:2]), atoi(b[2:4]), atoi(b[4:6]) }

func isTime6(b []byte) bool { return len(b) == 6 && isDigits(b) }

// coordinate parses one H02 coordinate field (protocols.md §2.2) and its
// hemisphere; neg is the hemisphere letter that makes it negative.
func coordinate(v, hem []byte, pos, neg byte) (float64, bool) {
	if len(hem) != 1 || hem[0] != pos && hem[0] != neg {
		return 0, false
	}
	var deg, minutes float64
	switch {
	case len(v) > 0 && v[0] == '-': // -dd-mm.mmmm
		i := bytes.IndexByte(v[1:], '-')
		if i < 1 || i > 9 {
			return 0, false
		}
		d, mn := v[1:1+i], v[2+i:]
		if !isDigits(d) || !isFraction(mn) {
			return 0, false
		}
		deg, minutes = float64(atoi(d)), parseFloat(mn)
	case bytes.IndexByte(v, '.') >= 0: // d+dd.d+
		dot := bytes.IndexByte(v, '.')
		if dot < 3 || dot > 12 || !isDigits(v[:dot]) || !isDigits(v[dot+1:]) {
			return 0, false
		}
		deg, minutes = float64(atoi(v[:dot-2])), parseFloat(v[dot-2:])
	default: // d+ddmmmm (undotted: last four digits are minute fractions)
		if len(v) < 7 || len(v) > 15 || !isDigits(v) {
			return 0, false
		}
		deg, minutes = float64(atoi(v[:len(v)-6])), float64(atoi(v[len(v)-6:]))/10000
	}
	c := deg + minutes/60
	if hem[0] == neg {
		c = -c
	}
	return c, true
}

// isFraction reports whether b is `d+.d+`.
func isFraction(b []byte) bool {
	dot := bytes.IndexByte(b, '.')
	return dot > 0 && dot < 10 && isDigits(b[:dot]) && isDigits(b[dot+1:])
}

// decodeText dispatches a `*..#` frame on its type (the third field).
func (c *Codec) decodeText(frame []byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	s := bytes.TrimRight(frame, "\r\n \x00")
	hasHash := len(s) > 0 && s[len(s)-1] == '#'
	if hasHash {
		s = s[:len(s)-1]
	}
	body := s[1:]
	var arr [maxFields][]byte
	f := splitFields(arr[:0], body)
	if len(f) < 3 || len(f[0]) != 2 {
		return dst, nil, nil // `*HQ,<id>,#` and the like: nothing to report
	}
	switch string(f[2]) {
	case "V0", "HTBT":
		// Echo up to the type; then HTBT carries a battery level.
		reply := append(replyBuf[:0], s[:1+len(f[0])+1+len(f[1])+1+len(f[2])]...)
		reply = append(reply, '#')
		return c.decodeHeartbeat(f, dst), reply, nil
	case "NBR":
		return c.decodeNBR(f, dst, replyBuf)
	case "LINK":
		return c.decodeLink(f, dst)
	case "V3":
		return c.decodeV3(f, dst)
	case "VP1":
		return c.decodeVP1(f, dst)
	case "SMS":
		return c.decodeSMS(f, body, dst)
	}
	if !hasHash || len(f[2]) == 0 || f[2][0] != 'V' {
		return dst, nil, nil // XT, BS, BASE, unknown: Traccar ignores them
	}
	return c.decodeV(f, dst, replyBuf)
}

// decodeV decodes V1 and its relatives (V2, V5, V6, V19, VI1, V4 replies).
func (c *Codec) decodeV(f [][]byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	if len(f[1]) > 0 && !isDigits(f[1]) {
		return dst, nil, fmt.Errorf("%w: device id %q", protocol.ErrMalformed, f[1])
	}
	m := protocol.Message{Type: protocol.TypePosition}
	start := 3
	var result []byte
	if string(f[2]) == "V4" {
		// V4,<reply text>,<fix>: the reply text may hold commas; like
		// Traccar's greedy pattern, take the last split that leaves a fix.
		start = -1
		for s := len(f) - 1; s > 3; s-- {
			var probe protocol.Message
			if _, ok := parseFix(f, s, &probe); ok {
				start = s
				break
			}
		}
		if start < 0 {
			return dst, nil, fmt.Errorf("%w: V4 without a fix", protocol.ErrMalformed)
		}
		result = bytes.Join(f[3:start], []byte{','})
	}
	tail, ok := parseFix(f, start, &m)
	if !ok {
		return dst, nil, fmt.Errorf("%w: %s fix", protocol.ErrMalformed, f[2])
	}
	if !tail.hasDate {
		m.Time = c.now()
	}
	if err := checkLatLon(&m); err != nil {
		return dst, nil, err
	}
	m.DeviceID = c.setID(f[1])
	if result != nil {
		m.SetExtra("result", string(result))
	}
	if tail.hasStatus {
		processStatus(&m, tail.status)
	}
	decodeExtras(&m, f[tail.extra:])

	var reply []byte
	if string(f[2]) == "V1" {
		if id := c.replyID(m.DeviceID); id != "" {
			reply = appendDated(replyBuf[:0], id, "V1", c.now())
		}
	}
	return append(dst, m), reply, nil
}

// appendDated appends `*HQ,<id>,V4,<typ>,<yyyyMMddHHmmss>#`.
func appendDated(dst []byte, id, typ string, t time.Time) []byte {
	dst = append(dst, "*HQ,"...)
	dst = append(dst, id...)
	dst = append(dst, ",V4,"...)
	dst = append(dst, typ...)
	dst = append(dst, ',')
	dst = t.UTC().AppendFormat(dst, "20060102150405")
	return append(dst, '#')
}

type fixTail struct {
	hasDate   bool
	hasStatus bool
	status    uint32
	extra     int // index of the first field after the status
}

// parseFix parses `hhmmss,validity,lat,NS,lon,EW,speed,course[,battery],
// ddmmyy[,sim,ip,iccid][,status[,extras]]` starting at field s, the field
// form of Traccar's H02 pattern.
func parseFix(f [][]byte, s int, m *protocol.Message) (fixTail, bool) {
	var t fixTail
	if s < 0 || len(f) < s+9 {
		return t, false
	}
	tm := f[s]
	if len(tm) != 0 && !isTime6(tm) {
		return t, false
	}
	switch v := f[s+1]; {
	case len(v) == 0:
	case len(v) == 1 && (v[0] == 'A' || v[0] == 'B' || v[0] == 'V'):
		m.Valid = v[0] == 'A'
	case isDigits(v): // coding scheme number
		m.Valid = true
	default:
		return t, false
	}
	var ok bool
	if m.Lat, ok = coordinate(f[s+2], f[s+3], 'N', 'S'); !ok {
		return t, false
	}
	if m.Lon, ok = coordinate(f[s+4], f[s+5], 'E', 'W'); !ok {
		return t, false
	}
	speed := bytes.TrimLeft(f[s+6], " ")
	if !isDecimal(speed) {
		return t, false
	}
	course := f[s+7]
	if len(course) != 0 && !isDecimal(course) {
		return t, false
	}
	m.SpeedKmh = parseFloat(speed) * knotKmh
	m.Has |= protocol.HasSpeed
	if len(course) != 0 {
		m.Course = parseFloat(course)
		m.Has |= protocol.HasCourse
	}

	// The date, or an optional battery field and then the date. Traccar's
	// pattern tries the battery first, which misreads V19 (date taken as
	// battery, status as ICCID); trying the date first reads it as documented.
	k, okTail := -1, false
	if isDateField(f[s+8]) {
		if t, okTail = parseStatus(f, s+9); okTail {
			k = s + 8
		}
	}
	if k < 0 && isDigits(f[s+8]) && len(f) > s+9 && isDateField(f[s+9]) {
		if t, okTail = parseStatus(f, s+10); okTail {
			k = s + 9
		}
	}
	if k < 0 {
		return t, false
	}
	if date := f[k]; len(date) == 6 {
		d, mo, y := hms(date)
		var h, mi, sec int
		if len(tm) == 6 {
			h, mi, sec = hms(tm)
		}
		m.Time = time.Date(2000+y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
		t.hasDate = true
	}
	return t, true
}

func isDateField(b []byte) bool { return len(b) == 0 || isTime6(b) }

// parseStatus parses what follows the date: an optional status word, with
// V19's three SIM fields (blank, phone/IP, ICCID) possibly before it.
func parseStatus(f [][]byte, k int) (fixTail, bool) {
	t := fixTail{extra: len(f)}
	switch {
	case len(f) == k:
		return t, true
	case isHex8(f[k]):
		t.hasStatus, t.extra = true, k+1
	case len(f) > k+3 && isHex8(f[k+3]):
		t.hasStatus, t.extra = true, k+4
		k += 3
	case len(f) == k+3: // SIM fields only
		return t, true
	default:
		return t, false
	}
	v, _ := strconv.ParseUint(string(f[k]), 16, 32)
	t.status = uint32(v)
	return t, true
}

// decodeExtras stores what follows the status: odometer, temperature,
// fuel, altitude, LAC, CID when all six are there, else the fields verbatim
// as io1..ioN (often MCC, MNC, LAC, CID).
func decodeExtras(m *protocol.Message, f [][]byte) {
	for len(f) > 0 && len(f[len(f)-1]) == 0 {
		f = f[:len(f)-1] // Java's split drops trailing empty fields
	}
	if len(f) == 0 {
		return
	}
	if len(f) == 6 && isDigits(f[0]) && isSignedInt(f[1]) && isFraction(f[2]) &&
		isSignedInt(f[3]) && isHexField(f[4]) && isHexField(f[5]) {
		m.Odometer = float64(atoi(f[0]))
		m.SetExtra("temp1", signedAtoi(f[1]))
		m.SetExtra("fuel", parseFloat(f[2]))
		m.Altitude = float64(signedAtoi(f[3]))
		lac, _ := strconv.ParseInt(string(f[4]), 16, 64)
		cid, _ := strconv.ParseInt(string(f[5]), 16, 64)
		m.LAC, m.CID = lac, cid
		m.Has |= protocol.HasOdometer | protocol.HasAltitude | protocol.HasCell
		return
	}
	for i, v := range f {
		m.SetExtra("io"+strconv.Itoa(i+1), strings.TrimSpace(string(v)))
	}
}

func isSignedInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	return isDigits(b) && len(b) <= 9
}

func signedAtoi(b []byte) int {
	if len(b) > 0 && b[0] == '-' {
		return -atoi(b[1:])
	}
	return atoi(b)
}

func isHexField(b []byte) bool {
	if len(b) == 0 || len(b) > 15 {
		return false
	}
	for _, c := range b {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// decodeHeartbeat: `*HQ,<id>,HTBT,<battery %>`; V0 and a bare HTBT only get
// their echo.
func (c *Codec) decodeHeartbeat(f [][]byte, dst []protocol.Message) []protocol.Message {
	if len(f) < 4 || string(f[2]) != "HTBT" || !isDigits(f[1]) || !isDigits(f[3]) || len(f[3]) > 3 {
		if isDigits(f[1]) {
			c.setID(f[1])
		}
		return dst
	}
	m := protocol.Message{Type: protocol.TypeStatus, DeviceID: c.setID(f[1]), Time: c.now()}
	m.Battery = atoi(f[3])
	m.Has |= protocol.HasBattery
	return append(dst, m)
}

// timeDate combines hhmmss and ddmmyy fields (both validated).
func timeDate(tm, date []byte) time.Time {
	h, mi, s := hms(tm)
	d, mo, y := hms(date)
	return time.Date(2000+y, time.Month(mo), d, h, mi, s, 0, time.UTC)
}

// decodeNBR: `NBR,hhmmss,mcc,mnc,delay,count,(lac,cid,rssi)+,ddmmyy,status`
// and possibly more. The serving (first) cell goes to the typed fields.
func (c *Codec) decodeNBR(f [][]byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	n := len(f)
	if n < 13 || !isDigits(f[1]) || !isTime6(f[3]) {
		return dst, nil, fmt.Errorf("%w: NBR", protocol.ErrMalformed)
	}
	for _, v := range f[4:8] {
		if !isDigits(v) {
			return dst, nil, fmt.Errorf("%w: NBR field %q", protocol.ErrMalformed, v)
		}
	}
	// The cell list is greedy, as in Traccar's pattern: the date is the last
	// position after whole triples that is followed by a status word.
	date := -1
	for i := 8; i+2 < n; i += 3 {
		if !isDigits(f[i]) || !isDigits(f[i+1]) || !isSignedInt(f[i+2]) {
			break
		}
		if j := i + 3; j+1 < n && isTime6(f[j]) && isHex8(f[j+1]) {
			date = j
		}
	}
	if date < 0 {
		return dst, nil, fmt.Errorf("%w: NBR cells", protocol.ErrMalformed)
	}
	m := protocol.Message{Type: protocol.TypeNetwork, DeviceID: c.setID(f[1])}
	m.Time = timeDate(f[3], f[date])
	m.MCC, m.MNC = atoi(f[4]), atoi(f[5])
	m.LAC, m.CID = int64(atoi(f[8])), int64(atoi(f[9]))
	m.RSSI = signedAtoi(f[10])
	m.Has |= protocol.HasCell | protocol.HasRSSI
	v, _ := strconv.ParseUint(string(f[date+1]), 16, 32)
	processStatus(&m, uint32(v))
	reply := appendDated(replyBuf[:0], m.DeviceID, "NBR", c.now())
	return append(dst, m), reply, nil
}

// decodeLink: `LINK,hhmmss,rssi,sats,battery,steps,turnovers,ddmmyy,status`.
func (c *Codec) decodeLink(f [][]byte, dst []protocol.Message) ([]protocol.Message, []byte, error) {
	if len(f) < 11 || !isDigits(f[1]) || !isTime6(f[3]) || !isTime6(f[9]) || !isHex8(f[10]) {
		return dst, nil, fmt.Errorf("%w: LINK", protocol.ErrMalformed)
	}
	for _, v := range f[4:9] {
		if !isDigits(v) {
			return dst, nil, fmt.Errorf("%w: LINK field %q", protocol.ErrMalformed, v)
		}
	}
	m := protocol.Message{Type: protocol.TypeStatus, DeviceID: c.setID(f[1])}
	m.Time = timeDate(f[3], f[9])
	m.RSSI, m.Sats, m.Battery, m.Steps = atoi(f[4]), atoi(f[5]), atoi(f[6]), atoi(f[7])
	m.Has |= protocol.HasRSSI | protocol.HasSats | protocol.HasBattery | protocol.HasSteps
	m.SetExtra("turnovers", atoi(f[8]))
	v, _ := strconv.ParseUint(string(f[10]), 16, 32)
	processStatus(&m, uint32(v))
	return append(dst, m), nil, nil
}

// decodeV3: `V3,hhmmss,<mcc3><mnc>,count,(lac,cid,rssi,x)*,battery(hex4),
// reboot,X,ddmmyy,status`.
func (c *Codec) decodeV3(f [][]byte, dst []protocol.Message) ([]protocol.Message, []byte, error) {
	n := len(f)
	if n < 12 || !isDigits(f[1]) || !isTime6(f[3]) || len(f[4]) < 4 || !isDigits(f[4]) ||
		!isDigits(f[5]) || !isHex8(f[n-1]) || !isTime6(f[n-2]) || string(f[n-3]) != "X" ||
		len(f[n-5]) != 4 || !isHexField(f[n-5]) {
		return dst, nil, fmt.Errorf("%w: V3", protocol.ErrMalformed)
	}
	count, cells := atoi(f[5]), f[6:n-5]
	if count < 1 || len(cells) < 4*(count-1)+2 || !isDigits(cells[0]) || !isDigits(cells[1]) {
		return dst, nil, fmt.Errorf("%w: V3 cells", protocol.ErrMalformed)
	}
	m := protocol.Message{Type: protocol.TypeNetwork, DeviceID: c.setID(f[1])}
	m.Time = timeDate(f[3], f[n-2])
	m.MCC, m.MNC = atoi(f[4][:3]), atoi(f[4][3:])
	m.LAC, m.CID = int64(atoi(cells[0])), int64(atoi(cells[1]))
	m.Has |= protocol.HasCell
	bat, _ := strconv.ParseUint(string(f[n-5]), 16, 16)
	m.SetExtra("battery", int(bat)) // raw, unit unknown (Traccar's "battery")
	v, _ := strconv.ParseUint(string(f[n-1]), 16, 32)
	processStatus(&m, uint32(v))
	return append(dst, m), nil, nil
}

// decodeVP1: `*hq,<imei>,VP1,A,lat,NS,lon,EW,speed,course,ddmmyy` (a fix
// dated at midnight) or `VP1,V,mcc,mnc,lac,cid,rssi[Y...]` (cells).
func (c *Codec) decodeVP1(f [][]byte, dst []protocol.Message) ([]protocol.Message, []byte, error) {
	if len(f) < 7 || !isDigits(f[1]) {
		return dst, nil, fmt.Errorf("%w: VP1", protocol.ErrMalformed)
	}
	switch string(f[3]) {
	case "V":
		if len(f) < 9 || !isDigits(f[4]) || !isDigits(f[5]) || !isDigits(f[6]) || !isDigits(f[7]) {
			return dst, nil, fmt.Errorf("%w: VP1 cells", protocol.ErrMalformed)
		}
		m := protocol.Message{Type: protocol.TypeNetwork, DeviceID: c.setID(f[1]), Time: c.now()}
		m.MCC, m.MNC = atoi(f[4]), atoi(f[5])
		m.LAC, m.CID = int64(atoi(f[6])), int64(atoi(f[7]))
		m.Has |= protocol.HasCell
		if rssi := f[8]; len(rssi) > 0 {
			if y := bytes.IndexByte(rssi, 'Y'); y >= 0 {
				rssi = rssi[:y]
			}
			if isSignedInt(rssi) {
				m.RSSI = signedAtoi(rssi)
				m.Has |= protocol.HasRSSI
			}
		}
		return append(dst, m), nil, nil
	case "A", "B":
	default:
		return dst, nil, fmt.Errorf("%w: VP1 validity %q", protocol.ErrMalformed, f[3])
	}
	if len(f) < 11 || !isFraction(f[8]) || !isFraction(f[9]) || !isTime6(f[10]) {
		return dst, nil, fmt.Errorf("%w: VP1 fix", protocol.ErrMalformed)
	}
	m := protocol.Message{Type: protocol.TypePosition, Valid: true}
	var ok1, ok2 bool
	m.Lat, ok1 = coordinate(f[4], f[5], 'N', 'S')
	m.Lon, ok2 = coordinate(f[6], f[7], 'E', 'W')
	if !ok1 || !ok2 || bytes.IndexByte(f[4], '.') < 0 || bytes.IndexByte(f[6], '.') < 0 {
		return dst, nil, fmt.Errorf("%w: VP1 coordinates", protocol.ErrMalformed)
	}
	if err := checkLatLon(&m); err != nil {
		return dst, nil, err
	}
	m.DeviceID = c.setID(f[1])
	m.SpeedKmh = parseFloat(f[8]) * knotKmh
	m.Course = parseFloat(f[9])
	m.Has |= protocol.HasSpeed | protocol.HasCourse
	d, mo, y := hms(f[10])
	m.Time = time.Date(2000+y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	return append(dst, m), nil, nil
}

// decodeSMS: `*HQ,<id>,SMS,<free text>#`, the device's answer to an SMS-style
// command; the text (commas and newlines included) becomes the result.
func (c *Codec) decodeSMS(f [][]byte, body []byte, dst []protocol.Message) ([]protocol.Message, []byte, error) {
	if len(f[1]) > 0 && !isDigits(f[1]) {
		return dst, nil, fmt.Errorf("%w: device id %q", protocol.ErrMalformed, f[1])
	}
	text := body[min(len(f[0])+len(f[1])+len(f[2])+3, len(body)):]
	m := protocol.Message{Type: protocol.TypeResult, DeviceID: c.setID(f[1]), Time: c.now()}
	m.SetExtra("result", string(text))
	return append(dst, m), nil, nil
}
