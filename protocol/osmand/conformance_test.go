package osmand

import (
	"testing"
	"time"

	"carevisit/protocol/internal/codectest"
)

// TestConformance runs every public vector and fails below a 95% pass rate.
// Each case is fed twice: as the raw HTTP request, and split the way the
// server hands it over; both must pass.
func TestConformance(t *testing.T) {
	now := time.Now()
	codectest.Run(t, codectest.Load(t, "osmand"), func(v codectest.Vector) string {
		msgs, err := ParseRequest(v.Input(t), now)
		why := codectest.Judge(v, codectest.Got{Msgs: msgs, Err: err})
		ct := ""
		if v.HTTP.ContentType != nil {
			ct = *v.HTTP.ContentType
		}
		msgs, err = Decode(v.HTTP.Method, v.HTTP.Target, ct, []byte(v.HTTP.Body), now)
		if why2 := codectest.Judge(v, codectest.Got{Msgs: msgs, Err: err}); why == "" && why2 != "" {
			why = "Decode disagrees with ParseRequest: " + why2
		}
		return why
	})
}
