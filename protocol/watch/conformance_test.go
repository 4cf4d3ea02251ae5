package watch

import (
	"errors"
	"testing"

	"carevisit/protocol/internal/codectest"
)

// TestConformance runs every vector and fails below a 95% pass rate.
func TestConformance(t *testing.T) {
	codec := codectest.PerMethod(New)
	codectest.Run(t, codectest.Load(t, "watch"), func(v codectest.Vector) string {
		c := codec(v)
		// Traccar's harness stubs media storage; so does ours.
		c.Media = func(_, _ string, _ []byte) (string, error) {
			if v.MediaStub == "" {
				return "", errors.New("no media stub")
			}
			return v.MediaStub, nil
		}
		got := codectest.Feed(c, v, v.Input(t))
		if v.Expect == "frame" {
			// Traccar's frame decoder also resolves the `}` escapes; ours
			// leaves that to Decode, so compare the unescaped cut.
			got.Frame = Unescape(nil, got.Frame)
		}
		return codectest.Judge(v, got)
	})
}
