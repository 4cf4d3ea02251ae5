package gt06

import (
	"testing"

	"carevisit/protocol/internal/codectest"
)

// TestConformance runs every Traccar-derived vector and fails below a 95%
// pass rate. Cases of one test method run in test_seq order on one Codec,
// told the device model each case names, like Traccar's harness.
func TestConformance(t *testing.T) {
	codec := codectest.PerMethod(New)
	codectest.Run(t, codectest.Load(t, "gt06"), func(v codectest.Vector) string {
		c := codec(v)
		c.Model = v.Model
		return codectest.Judge(v, codectest.Feed(c, v, v.Input(t)))
	})
}
