package sim

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"carevisit/protocol"
)

// runPhone simulates a phone with the Traccar Client / OsmAnd app: one HTTP
// GET per fix, answered 200 once stored. Fixes that got no 200 stay in the
// phone's buffer and are sent again, oldest first, after a backoff.
func (d *Device) runPhone(ctx context.Context) error {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 90 * time.Second,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, LocalAddr: localTCP(d.cfg.LocalIP)}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: d.cfg.AckTimeout}
	clk := d.cfg.Clock
	out := queue{max: d.cfg.MaxBuffer}
	nextReport := clk.Now()
	var retryAt time.Time
	fails := 0
	failing := false
	announced := false // the first stored ping is logged as "connected"
	reporting := true
	for {
		if reporting && !d.cfg.Until.IsZero() && !clk.Now().Before(d.cfg.Until) {
			reporting = false
		}
		if !reporting && len(out.items) == 0 {
			return nil
		}
		if !time.Now().Before(retryAt) {
			for len(out.items) > 0 {
				m := out.items[0]
				err := d.ping(ctx, client, &m)
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					d.count(func(s *Stats) { s.ConnectFailures++ })
					if !failing {
						d.cfg.Log.Warn("ping failed", "device", d.cfg.Ident, "err", err, "buffered", len(out.items))
					}
					failing = true
					retryAt = time.Now().Add(d.backoff(fails))
					fails++
					break
				}
				if failing || !announced {
					d.cfg.Log.Info("connected", "device", d.cfg.Ident, "protocol", ProtoOsmAnd, "buffered", len(out.items))
					failing, announced = false, true
					d.count(func(s *Stats) { s.Connects++ })
				}
				fails = 0
				out.pop()
				d.count(func(s *Stats) {
					s.Sent++
					s.Acked++
					if m.Archive {
						s.Late++
					}
				})
			}
			d.count(func(s *Stats) { s.Pending = int64(len(out.items)) })
		}
		wait := time.Hour
		if reporting {
			wait = clk.Until(nextReport)
		}
		if len(out.items) > 0 {
			wait = min(wait, time.Until(retryAt))
		}
		if wait > 0 {
			tm := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				tm.Stop()
				return nil
			case <-tm.C:
			}
		}
		if t := clk.Now(); reporting && !t.Before(nextReport) && (d.cfg.Until.IsZero() || nextReport.Before(d.cfg.Until)) {
			m, st := d.report(nextReport)
			m.Archive = len(out.items) > 0 // queued behind older fixes: sent late
			if out.push(m) {
				d.count(func(s *Stats) { s.Dropped++ })
			}
			nextReport = d.nextReport(nextReport, st.Moving)
			if !nextReport.After(t) {
				nextReport = t.Add(time.Second)
			}
		}
	}
}

func localTCP(ip net.IP) net.Addr {
	if ip == nil {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

// errStatus is a non-200 answer.
type errStatus int

func (e errStatus) Error() string { return "HTTP " + strconv.Itoa(int(e)) }

// ping sends one fix as the OsmAnd app does (speed in knots).
func (d *Device) ping(ctx context.Context, c *http.Client, m *protocol.Message) error {
	q := url.Values{}
	q.Set("id", d.cfg.Ident)
	q.Set("timestamp", strconv.FormatInt(m.Time.Unix(), 10))
	q.Set("lat", strconv.FormatFloat(m.Lat, 'f', 6, 64))
	q.Set("lon", strconv.FormatFloat(m.Lon, 'f', 6, 64))
	q.Set("speed", strconv.FormatFloat(m.SpeedKmh/1.852, 'f', 1, 64))
	q.Set("bearing", strconv.FormatFloat(m.Course, 'f', 0, 64))
	q.Set("altitude", "130")
	q.Set("accuracy", strconv.FormatFloat(m.AccuracyM, 'f', 1, 64))
	q.Set("batt", strconv.Itoa(m.Battery))
	q.Set("valid", strconv.FormatBool(m.Valid))
	if m.Alarm != "" {
		q.Set("alarm", m.Alarm)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.cfg.Addr+"/?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errStatus(resp.StatusCode)
	}
	return nil
}
