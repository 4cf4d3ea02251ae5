package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"carevisit/demo"
	"carevisit/firmware-sim/sim"
)

// cmdDemo runs the demo workers. The simulated clock starts -lead in the
// past and runs -speed times faster until it reaches wall time, then at 1x:
// fixes are never stamped in the future, and the first visits show up
// within a minute or two.
func cmdDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "127.0.0.1", "server host")
	speed := fs.Float64("speed", 10, "simulated seconds per wall second (until the simulated clock reaches wall time)")
	lead := fs.Duration("lead", 3*time.Hour, "how far in the past the simulated day starts (with -speed N it catches up after lead/(N-1))")
	ports := map[string]*int{}
	for _, p := range []string{sim.ProtoGT06, sim.ProtoH02, sim.ProtoWatch, sim.ProtoOsmAnd} {
		ports[p] = fs.Int(p+"-port", sim.DefaultPorts[p], p+" port")
	}
	statsEvery := fs.Duration("stats", time.Minute, "log ack counts this often (wall)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *speed < 1 {
		return fmt.Errorf("-speed must be >= 1")
	}
	if *speed == 1 {
		*lead = 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	start := time.Now().Add(-*lead)
	clk := sim.NewClock(start, *speed)
	log.Info("demo starting", "workers", len(demo.Workers), "server", *server, "speed", *speed,
		"sim_start", start.Format(time.DateTime), "catch_up_after", catchUp(*lead, *speed).String())

	var devices []*sim.Device
	for i, w := range demo.Workers {
		stops := []sim.Stop{{Name: "home of " + w.FullName, Lat: w.Home[0], Lon: w.Home[1]}}
		for _, code := range w.Clients {
			c, ok := demo.ClientByCode(code)
			if !ok {
				return fmt.Errorf("worker %s: unknown client %q", w.FullName, code)
			}
			stops = append(stops, sim.Stop{Name: c.Code + " " + c.FullName, Lat: c.Lat, Lon: c.Lon, RadiusM: c.RadiusM, Visit: true})
		}
		d, err := sim.NewDevice(sim.Config{
			Protocol: w.Protocol, Ident: w.Ident, Clock: clk, Log: log,
			Addr:  net.JoinHostPort(*server, strconv.Itoa(*ports[w.Protocol])),
			Track: sim.NewTrack(stops, start, uint64(i+1), sim.TrackOptions{}),
		})
		if err != nil {
			return err
		}
		devices = append(devices, d)
	}

	// SIGUSR1: every device sends an SOS alarm with its next report.
	usr := make(chan os.Signal, 1)
	signal.Notify(usr, syscall.SIGUSR1)
	defer signal.Stop(usr)

	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.Run(ctx)
		}()
	}
	tick := time.NewTicker(*statsEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-usr:
			log.Info("SIGUSR1: SOS from every device")
			for _, d := range devices {
				d.SOS()
			}
		case <-tick.C:
			for _, d := range devices {
				s := d.Stats()
				log.Info("acks", "device", d.Ident(), "generated", s.Generated, "sent", s.Sent, "acked", s.Acked,
					"delivered_unacked_protocol", s.Delivered, "late", s.Late, "pending", s.Pending,
					"connects", s.Connects, "connect_failures", s.ConnectFailures, "sim", clk.Now().Format(time.TimeOnly))
			}
		}
	}
}

func catchUp(lead time.Duration, speed float64) time.Duration {
	if speed <= 1 {
		return 0
	}
	return time.Duration(float64(lead) / (speed - 1)).Round(time.Second)
}
