// Package osmand decodes OsmAnd / Traccar Client HTTP pings: query or form
// parameters (`/?id=..&lat=..&lon=..`) and the JSON body of the
// background-geolocation library. It is pure: a request in, messages out.
//
// One request yields one message, or one per location when a JSON body holds
// an array of locations. A request without coordinates (or with exactly 0,0,
// which phones send when they have no fix) yields a status message, or a
// network message when it lists cells or Wi-Fi access points, never a
// position at 0,0.
package osmand

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"carevisit/protocol"
)

// ApproximateAccuracyM is the accuracy radius above which a phone fix is
// marked Approximate. Phones report a cell-tower fix with an accuracy of
// 1 km or more and a Wi-Fi fix with tens of metres; 500 m is too coarse to
// place a carer at one address, so such fixes must not count as visits.
const ApproximateAccuracyM = 500

// MaxIDLen bounds the device id: longer ones are not ids but abuse.
const MaxIDLen = 64

// ErrNoID means the request has no device id (`id`, `deviceid` or JSON
// `device_id`). The server answers 400, as Traccar does.
var ErrNoID = fmt.Errorf("%w: no device id (id, deviceid or device_id)", protocol.ErrMalformed)

// ErrOutOfRange is the cause of a FieldError whose value parsed but is not
// possible (lat 200).
var ErrOutOfRange = errors.New("out of range")

// FieldError reports one bad parameter. It matches protocol.ErrMalformed and
// its cause (ErrOutOfRange, or the parse error) with errors.Is.
type FieldError struct {
	Field string // parameter name as sent: "lat", "timestamp", "coords.speed"
	Value string // the value as sent, shortened
	Err   error  // ErrOutOfRange or why it did not parse
}

func (e *FieldError) Error() string {
	if errors.Is(e.Err, ErrOutOfRange) {
		return fmt.Sprintf("%s %s out of range", e.Field, e.Value)
	}
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s %q: %v", e.Field, e.Value, e.Err)
}

// Unwrap lets errors.Is see both protocol.ErrMalformed and the cause.
func (e *FieldError) Unwrap() []error { return []error{protocol.ErrMalformed, e.Err} }

func fieldErr(field, value string, err error) error {
	if len(value) > 40 {
		value = value[:40] + "..."
	}
	return &FieldError{Field: field, Value: value, Err: err}
}

var errNotNumber = errors.New("not a number")

// Decode decodes one request. target is the request target as sent
// ("/?id=1&lat=.."); contentType the Content-Type header. now stands in for
// a missing timestamp, and its Location is the zone of
// `yyyy-MM-dd HH:mm:ss` timestamps (Traccar uses the server's zone).
func Decode(method, target, contentType string, body []byte, now time.Time) ([]protocol.Message, error) {
	_ = method // GET and POST carry the same parameters; the method changes nothing
	if isJSON(contentType) {
		return decodeJSON(body, now)
	}
	query := ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		query = target[i+1:]
	}
	if strings.Trim(query, "&") == "" {
		// Traccar Client may POST the parameters as a form body.
		query = string(body)
	}
	return decodeQuery(query, now)
}

func isJSON(contentType string) bool {
	return len(contentType) >= 16 && strings.EqualFold(contentType[:16], "application/json")
}

// ParseRequest parses a whole raw HTTP/1.x request (request line, headers,
// body) and decodes it. A body shorter than Content-Length is an error.
func ParseRequest(raw []byte, now time.Time) ([]protocol.Message, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("%w: http request: %v", protocol.ErrMalformed, err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: http body: %v", protocol.ErrMalformed, err)
	}
	return Decode(req.Method, req.RequestURI, req.Header.Get("Content-Type"), body, now)
}

// parseFloat parses a finite number; NaN and infinities are not positions.
func parseFloat(field, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fieldErr(field, v, errNotNumber)
	}
	return f, nil
}

// checkID validates a device id.
func checkID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", ErrNoID
	}
	if len(id) > MaxIDLen {
		return "", fieldErr("id", id, fmt.Errorf("longer than %d bytes", MaxIDLen))
	}
	for _, c := range []byte(id) {
		if c < 0x20 || c == 0x7f {
			return "", fieldErr("id", id, errors.New("control character"))
		}
	}
	return id, nil
}

// setLatLon validates and sets the fix coordinates. Exactly 0,0 means no fix.
func setLatLon(m *protocol.Message, lat, lon float64, latField, lonField string) error {
	if lat < -90 || lat > 90 {
		return fieldErr(latField, strconv.FormatFloat(lat, 'f', -1, 64), ErrOutOfRange)
	}
	if lon < -180 || lon > 180 {
		return fieldErr(lonField, strconv.FormatFloat(lon, 'f', -1, 64), ErrOutOfRange)
	}
	if lat == 0 && lon == 0 {
		return nil
	}
	m.Type = protocol.TypePosition
	m.Lat, m.Lon = lat, lon
	return nil
}

// setAccuracy records a horizontal accuracy; negative means unknown.
func setAccuracy(m *protocol.Message, acc float64) {
	if acc < 0 {
		return
	}
	m.AccuracyM = acc
	m.Has |= protocol.HasAccuracy
}

// finish applies what depends on several fields.
func finish(m *protocol.Message, haveTime bool, now time.Time) {
	if !haveTime {
		m.Time = now.UTC()
	}
	if m.Type == protocol.TypePosition {
		m.Approximate = m.Has&protocol.HasAccuracy != 0 && m.AccuracyM > ApproximateAccuracyM
		return
	}
	m.Valid = false
	if m.Has&protocol.HasCell != 0 || m.Extra["network"] != nil {
		m.Type = protocol.TypeNetwork
	} else {
		m.Type = protocol.TypeStatus
	}
}

// maxTime bounds timestamps: anything later is garbage, not a clock error.
var maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// parseTime reads a timestamp: integer or fractional seconds (below 2^31-1)
// or milliseconds; ISO 8601 with a T (UTC when it has no zone); or
// `yyyy-MM-dd HH:mm:ss` in loc.
func parseTime(field, v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	var t time.Time
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && !strings.ContainsAny(v, "xXpP") {
		if f < math.MaxInt32 {
			f *= 1000
		}
		if f < 0 || f > float64(maxTime.UnixMilli()) {
			return time.Time{}, fieldErr(field, v, ErrOutOfRange)
		}
		t = time.UnixMilli(int64(math.Round(f)))
	} else if strings.Contains(v, "T") {
		var perr error
		for _, layout := range isoLayouts {
			if t, perr = time.Parse(layout, v); perr == nil {
				break
			}
		}
		if perr != nil {
			return time.Time{}, fieldErr(field, v, errors.New("not a timestamp"))
		}
	} else {
		var err error
		if t, err = time.ParseInLocation(time.DateTime, v, loc); err != nil {
			return time.Time{}, fieldErr(field, v, errors.New("not a timestamp"))
		}
	}
	if t.Year() < 1970 || t.After(maxTime) {
		return time.Time{}, fieldErr(field, v, ErrOutOfRange)
	}
	return t.UTC(), nil
}

// isoLayouts are the ISO 8601 forms phones send. Fractional seconds are
// accepted by time.Parse after the seconds field without being in the layout.
var isoLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
}
