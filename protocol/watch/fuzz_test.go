package watch

import (
	"bytes"
	"errors"
	"testing"

	"carevisit/protocol"
)

func addSeeds(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.input(f))
	}
}

// FuzzFrame: Frame never panics and its results stay inside the buffer.
func FuzzFrame(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := New()
		for rounds := 0; len(in) > 0; rounds++ {
			n, skip, err := c.Frame(in)
			switch {
			case errors.Is(err, protocol.ErrGarbage):
				if skip <= 0 || skip > len(in) {
					t.Fatalf("skip %d of %d", skip, len(in))
				}
				in = in[skip:]
			case err != nil:
				return
			case n == 0:
				if len(in) > protocol.MaxFrame {
					t.Fatalf("waiting with %d bytes buffered", len(in))
				}
				return
			default:
				if n > len(in) || n > protocol.MaxFrame {
					t.Fatalf("frame %d of %d", n, len(in))
				}
				in = in[n:]
			}
		}
	})
}

// FuzzDecode: Decode never panics, positions are in range and messages do
// not alias the frame.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := newTestCodec()
		frame := bytes.Clone(in)
		msgs, _, _ := c.Decode(frame, nil, nil)
		snapshot := make([]string, len(msgs))
		for i, m := range msgs {
			if m.IsPosition() && (m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180) {
				t.Fatalf("position out of range: %+v", m)
			}
			snapshot[i] = m.DeviceID
		}
		for i := range frame {
			frame[i] ^= 0xff
		}
		for i, m := range msgs {
			if m.DeviceID != snapshot[i] {
				t.Fatalf("DeviceID aliases the frame")
			}
		}
	})
}
