package gt06

import (
	"errors"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/internal/codectest"
)

func addSeeds(f *testing.F) {
	codectest.Seed(f, "gt06")
	f.Add(AppendLocation(nil, protocol.Message{Time: time.Unix(1700000000, 0), Valid: true, Lat: 10, Lon: 20}, 1))
}

// FuzzFrame: Frame never panics, never claims more bytes than it was given,
// and always makes progress or asks for more.
func FuzzFrame(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := New()
		buf := b
		for len(buf) > 0 {
			n, skip, err := c.Frame(buf)
			switch {
			case errors.Is(err, protocol.ErrGarbage):
				if skip <= 0 || skip > len(buf) || n != 0 {
					t.Fatalf("garbage skip %d of %d (n %d)", skip, len(buf), n)
				}
				buf = buf[skip:]
			case err != nil:
				if !errors.Is(err, protocol.ErrTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			case n == 0:
				if len(buf) >= protocol.MaxFrame {
					t.Fatalf("waiting with %d bytes buffered", len(buf))
				}
				return
			default:
				if n > len(buf) || n > protocol.MaxFrame || n < 4 {
					t.Fatalf("frame length %d of %d", n, len(buf))
				}
				buf = buf[n:]
			}
		}
	})
}

// FuzzDecode: Decode never panics on any bytes, with or without a session,
// for every model-specific layout, and its reply is a sane size.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	models := []string{"", "LW4G-4B", "SEEWORLD", "NT20", "VL103", "R11", "QH302R"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, model := range models {
			c := New()
			c.Model = model
			c.SetDeviceID("123456789012345")
			msgs, reply, err := c.Decode(b, nil, make([]byte, 0, 64))
			if err != nil && len(msgs) != 0 {
				t.Fatalf("messages with error %v", err)
			}
			if len(msgs) > 1 || len(reply) > 64 {
				t.Fatalf("%d messages, reply of %d bytes", len(msgs), len(reply))
			}
		}
		c := New()
		if msgs, _, err := c.Decode(b, nil, nil); len(msgs) > 0 && msgs[0].Type != protocol.TypeLogin {
			t.Fatalf("decoded %q without a session (err %v)", msgs[0].Type, err)
		}
	})
}
