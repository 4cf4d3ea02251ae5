package gt06

import (
	"testing"
	"time"

	"carevisit/protocol"
)

// BenchmarkDecodeLocation: Frame + Decode of a 0x22 location into a reused
// message slice and reply buffer, as the ingest loop does.
func BenchmarkDecodeLocation(b *testing.B) {
	c := New()
	c.SetDeviceID("864717003283581")
	frame := AppendLocation(nil, protocol.Message{
		Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Valid: true, Lat: 48.8566, Lon: 2.3522,
		SpeedKmh: 30, Course: 90, Sats: 8, MCC: 208, MNC: 1, LAC: 0x1234, CID: 0x56789A,
	}, 1)
	dst := make([]protocol.Message, 0, 4)
	reply := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		n, _, err := c.Frame(frame)
		if err != nil || n != len(frame) {
			b.Fatal(n, err)
		}
		msgs, r, err := c.Decode(frame[:n], dst[:0], reply)
		if err != nil || len(msgs) != 1 || len(r) == 0 {
			b.Fatal(err)
		}
	}
}
