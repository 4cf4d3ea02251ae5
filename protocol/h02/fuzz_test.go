package h02

import (
	"testing"

	"carevisit/protocol/internal/codectest"
)

// FuzzFrame: Frame never panics and its results stay inside the buffer.
func FuzzFrame(f *testing.F) {
	codectest.Seed(f, "h02")
	f.Fuzz(func(t *testing.T, in []byte) {
		codectest.CheckFrames(t, New(), in)
	})
}

// FuzzDecode: Decode never panics, positions are in range and messages do
// not alias the frame.
func FuzzDecode(f *testing.F) {
	codectest.Seed(f, "h02")
	f.Fuzz(func(t *testing.T, in []byte) {
		codectest.CheckDecode(t, newTestCodec(), in)
	})
}
