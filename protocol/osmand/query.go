package osmand

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"carevisit/protocol"
)

const knotKmh = 1.852

// decodeQuery decodes URL or form parameters (Traccar Client, OsmAnd).
func decodeQuery(query string, now time.Time) ([]protocol.Message, error) {
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", protocol.ErrMalformed, err)
	}
	id := params.Get("id")
	if id == "" {
		id = params.Get("deviceid")
	}
	if id, err = checkID(id); err != nil {
		return nil, err
	}

	m := protocol.Message{DeviceID: id, Valid: true}
	var (
		haveTime         bool
		lat, lon         float64
		haveLat, haveLon bool
		cells            []map[string]any
		wifis            []map[string]any
	)
	// Sorted keys: with several bad parameters the same one is reported
	// every time.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		for _, v := range params[key] {
			var f float64
			switch key {
			case "id", "deviceid":
				// Handled above; a repeated id keeps the first.
			case "valid":
				m.Valid = strings.EqualFold(v, "true") || v == "1"
			case "timestamp":
				if m.Time, err = parseTime(key, v, now.Location()); err != nil {
					return nil, err
				}
				haveTime = true
			case "lat":
				if lat, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				haveLat = true
			case "lon":
				if lon, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				haveLon = true
			case "location":
				a, b, ok := strings.Cut(v, ",")
				if !ok {
					return nil, fieldErr(key, v, fmt.Errorf("want lat,lon"))
				}
				if lat, err = parseFloat("location lat", a); err != nil {
					return nil, err
				}
				if lon, err = parseFloat("location lon", b); err != nil {
					return nil, err
				}
				haveLat, haveLon = true, true
			case "speed":
				if f, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				if f >= 0 { // negative: the phone does not know
					m.SpeedKmh = f * knotKmh
					m.Has |= protocol.HasSpeed
				}
			case "bearing", "heading":
				if f, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				if f >= 0 {
					m.Course = math.Mod(f, 360)
					m.Has |= protocol.HasCourse
				}
			case "altitude":
				if m.Altitude, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				m.Has |= protocol.HasAltitude
			case "accuracy":
				if f, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				setAccuracy(&m, f)
			case "hdop":
				if m.HDOP, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				m.Has |= protocol.HasHDOP
			case "batt":
				if f, err = parseFloat(key, v); err != nil {
					return nil, err
				}
				if f >= 0 {
					m.Battery = int(math.Round(min(f, 100)))
					m.Has |= protocol.HasBattery
				}
			case "charge":
				m.Charging = strings.EqualFold(v, "true") || v == "1"
				m.Has |= protocol.HasCharging
			case "mock":
				m.SetExtra("mock", strings.EqualFold(v, "true") || v == "1")
			case "driverUniqueId", "notificationToken":
				m.SetExtra(key, v)
			case "cell":
				c, err := parseCell(v)
				if err != nil {
					return nil, err
				}
				cells = append(cells, c)
			case "wifi":
				w, err := parseWifi(v)
				if err != nil {
					return nil, err
				}
				wifis = append(wifis, w)
			default:
				m.SetExtra(key, attrValue(v))
			}
		}
	}

	if haveLat != haveLon {
		missing := "lon"
		if haveLon {
			missing = "lat"
		}
		return nil, fieldErr(missing, "", fmt.Errorf("missing (the other coordinate is set)"))
	}
	if haveLat {
		if err := setLatLon(&m, lat, lon, "lat", "lon"); err != nil {
			return nil, err
		}
	}
	if len(cells) > 0 {
		// The first (serving) cell also goes into the typed fields.
		c := cells[0]
		m.MCC, m.MNC = c["mobileCountryCode"].(int), c["mobileNetworkCode"].(int)
		m.LAC, m.CID = c["locationAreaCode"].(int64), c["cellId"].(int64)
		m.Has |= protocol.HasCell
		if r, ok := c["signalStrength"].(int); ok {
			m.RSSI = r
			m.Has |= protocol.HasRSSI
		}
	}
	if len(cells) > 0 || len(wifis) > 0 {
		// Traccar's network object, for a later cell / Wi-Fi geolocation.
		n := map[string]any{}
		if len(cells) > 0 {
			n["cellTowers"] = cells
		}
		if len(wifis) > 0 {
			n["wifiAccessPoints"] = wifis
		}
		m.SetExtra("network", n)
	}
	finish(&m, haveTime, now)
	return []protocol.Message{m}, nil
}

// parseCell reads `mcc,mnc,lac,cid[,rssi]`.
func parseCell(v string) (map[string]any, error) {
	p := strings.Split(v, ",")
	if len(p) != 4 && len(p) != 5 {
		return nil, fieldErr("cell", v, fmt.Errorf("want mcc,mnc,lac,cid[,rssi]"))
	}
	var n [5]int64
	for i, s := range p {
		x, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || (i < 2 && (x < 0 || x > 999)) {
			return nil, fieldErr("cell", v, fmt.Errorf("part %d not a number", i+1))
		}
		n[i] = x
	}
	c := map[string]any{
		"mobileCountryCode": int(n[0]), "mobileNetworkCode": int(n[1]),
		"locationAreaCode": n[2], "cellId": n[3],
	}
	if len(p) == 5 {
		c["signalStrength"] = int(n[4])
	}
	return c, nil
}

// parseWifi reads `mac-with-dashes,rssi`.
func parseWifi(v string) (map[string]any, error) {
	mac, rssi, ok := strings.Cut(v, ",")
	if !ok || mac == "" {
		return nil, fieldErr("wifi", v, fmt.Errorf("want mac,rssi"))
	}
	r, err := strconv.Atoi(strings.TrimSpace(rssi))
	if err != nil {
		return nil, fieldErr("wifi", v, errNotNumber)
	}
	return map[string]any{"macAddress": strings.ReplaceAll(mac, "-", ":"), "signalStrength": r}, nil
}

// attrValue types an unknown parameter as Traccar does: a number if it
// parses, true/false as booleans, else the string.
func attrValue(v string) any {
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	return v
}
