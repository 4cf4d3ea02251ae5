package h02

import (
	"testing"

	"carevisit/protocol/internal/codectest"
)

// TestConformance runs every vector and fails below a 95% pass rate.
func TestConformance(t *testing.T) {
	codec := codectest.PerMethod(New)
	codectest.Run(t, codectest.Load(t, "h02"), func(v codectest.Vector) string {
		return codectest.Judge(v, codectest.Feed(codec(v), v, v.Input(t)))
	})
}
