// Package sim simulates the trackers and phones that report to carevisit:
// people walking or riding between places, staying at clients for visits,
// and the devices they carry (GT06, H02, watch, OsmAnd phone) with their
// reporting intervals, acknowledgements, reconnects and late uploads. It is
// used by the firmware-sim binary and by Go tests that need live devices.
package sim

import (
	"context"
	"time"
)

// Clock is simulated time. It runs Speed times faster than wall time from
// Start, but never ahead of wall time: once it catches up with the wall
// clock it runs at 1x. Devices stamp their fixes with it, so a fix is never
// in the future however large the speed-up, and a sped-up run is anchored
// in the past (see NewClock).
type Clock struct {
	speed     float64
	realStart time.Time
	simStart  time.Time
	wall      func() time.Time
}

// NewClock returns a clock showing simStart now and running speed times
// faster than wall time until it reaches wall time. simStart after now is
// moved back to now. With speed > 1, simStart = now - lead gives lead/(speed-1)
// of sped-up wall time before the clock runs at 1x.
func NewClock(simStart time.Time, speed float64) *Clock {
	return newClock(simStart, speed, time.Now)
}

func newClock(simStart time.Time, speed float64, wall func() time.Time) *Clock {
	now := wall()
	if speed <= 0 {
		speed = 1
	}
	if simStart.After(now) {
		simStart = now
	}
	return &Clock{speed: speed, realStart: now, simStart: simStart, wall: wall}
}

// Speed is the speed-up factor while the clock is behind wall time.
func (c *Clock) Speed() float64 { return c.speed }

// Now is the simulated time.
func (c *Clock) Now() time.Time { return c.at(c.wall()) }

func (c *Clock) at(wall time.Time) time.Time {
	s := c.simStart.Add(time.Duration(float64(wall.Sub(c.realStart)) * c.speed))
	if s.After(wall) {
		return wall
	}
	return s
}

// Until returns the wall duration until the simulated clock shows t.
func (c *Clock) Until(t time.Time) time.Duration {
	wall := c.wall()
	if !c.at(wall).Before(t) {
		return 0
	}
	// The simulated clock shows t once both the sped-up clock and the wall
	// clock (its cap) have reached t.
	at := c.realStart.Add(time.Duration(float64(t.Sub(c.simStart)) / c.speed))
	if t.After(at) {
		at = t
	}
	return at.Sub(wall)
}

// Real converts a simulated duration starting now into wall time.
func (c *Clock) Real(d time.Duration) time.Duration { return c.Until(c.Now().Add(d)) }

// Sleep waits for the simulated duration d; false if ctx ended first.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) bool {
	return c.SleepUntil(ctx, c.Now().Add(d))
}

// SleepUntil waits until the simulated clock shows t; false if ctx ended first.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) bool {
	for {
		w := c.Until(t)
		if w <= 0 {
			return ctx.Err() == nil
		}
		tm := time.NewTimer(w)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
	}
}
