package cabinet

import (
	"testing"
	"time"
)

func TestAPILimiterBucket(t *testing.T) {
	l := newAPILimiter(2, 3) // 2 per second, burst 3
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.allow(1, t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait, first := l.take(1, t0)
	if ok || wait != 500*time.Millisecond || !first {
		t.Errorf("4th request at once: ok=%v wait=%v first=%v, want refused, 500ms, first of an episode", ok, wait, first)
	}
	if _, _, first := l.take(1, t0); first {
		t.Error("the 5th refusal starts a new episode (it would be logged again)")
	}
	if ok, _ := l.allow(2, t0); !ok {
		t.Error("another device pays for the first one's burst")
	}
	if ok, _ := l.allow(1, t0.Add(500*time.Millisecond)); !ok {
		t.Error("no token after half a second at 2/s")
	}
	if ok, _ := l.allow(1, t0.Add(500*time.Millisecond)); ok {
		t.Error("two tokens after half a second at 2/s")
	}
	// Refilled buckets are forgotten; an idle device starts with a full burst.
	l.prune(t0.Add(time.Hour))
	if len(l.buckets) != 0 {
		t.Errorf("%d buckets kept after an idle hour", len(l.buckets))
	}
}
