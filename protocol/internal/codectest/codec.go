package codectest

import (
	"bytes"
	"errors"
	"testing"

	"carevisit/protocol"
)

// CheckFrames cuts in with c.Frame until it is consumed or c waits for more,
// failing t when a result breaks the Codec contract: a garbage skip outside
// the buffer, a frame longer than the buffer or MaxFrame, or waiting with
// more than MaxFrame bytes buffered. For fuzz targets.
func CheckFrames(t *testing.T, c protocol.Codec, in []byte) {
	t.Helper()
	for len(in) > 0 {
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
}

// CheckDecode decodes in as one frame with c, failing t when a position is
// out of range or a message aliases the frame. For fuzz targets.
func CheckDecode(t *testing.T, c protocol.Codec, in []byte) {
	t.Helper()
	frame := bytes.Clone(in)
	msgs, _, _ := c.Decode(frame, nil, nil)
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if m.IsPosition() && (m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180) {
			t.Fatalf("position out of range: %+v", m)
		}
		ids[i] = m.DeviceID
	}
	for i := range frame {
		frame[i] ^= 0xff
	}
	for i, m := range msgs {
		if m.DeviceID != ids[i] {
			t.Fatalf("DeviceID aliases the frame")
		}
	}
}

// DecodeStream cuts stream into frames, skipping garbage, and decodes each
// with c, as a connection would. It fails tb on any other error and returns
// the messages, the reply to every frame ("" for none) and how many garbage
// bytes it skipped.
func DecodeStream(tb testing.TB, c protocol.Codec, stream []byte) (msgs []protocol.Message, replies []string, skipped int) {
	tb.Helper()
	for len(stream) > 0 {
		n, skip, err := c.Frame(stream)
		if errors.Is(err, protocol.ErrGarbage) {
			stream = stream[skip:]
			skipped += skip
			continue
		}
		if err != nil || n == 0 {
			tb.Fatalf("Frame(%q) = %d, %v", stream, n, err)
		}
		var reply []byte
		msgs, reply, err = c.Decode(stream[:n], msgs, nil)
		if err != nil {
			tb.Fatalf("Decode(%q): %v", stream[:n], err)
		}
		replies = append(replies, string(reply))
		stream = stream[n:]
	}
	return msgs, replies, skipped
}

// BenchmarkDecode measures c.Decode of one frame holding one message into a
// reused message slice and reply buffer, as the ingest loop does.
func BenchmarkDecode(b *testing.B, c protocol.Codec, frame []byte) {
	b.Helper()
	msgs := make([]protocol.Message, 0, 4)
	reply := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		var err error
		msgs, reply, err = c.Decode(frame, msgs[:0], reply[:0])
		if err != nil || len(msgs) != 1 {
			b.Fatal(err)
		}
	}
}
