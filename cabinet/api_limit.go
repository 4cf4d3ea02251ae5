package cabinet

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// apiLimiter is a token bucket per app device: a phone that loops on a
// request (a bug, a retry storm) is slowed down with 429 before it loads
// the database for everyone. Normal use is far below it: a batch of pings
// every half minute, a burst when a backlog is uploaded.
type apiLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[int64]*bucket
	calls   int
}

type bucket struct {
	tokens  float64
	at      time.Time
	refused bool // the last request was refused (log an episode once)
}

func newAPILimiter(rate float64, burst int) *apiLimiter {
	return &apiLimiter{rate: rate, burst: float64(burst), buckets: map[int64]*bucket{}}
}

// allow takes a token for device at now, or reports how long until one
// is available.
func (l *apiLimiter) allow(device int64, now time.Time) (bool, time.Duration) {
	ok, wait, _ := l.take(device, now)
	return ok, wait
}

// take is allow that also says whether a refusal starts an episode (the
// request before was let through), for logging once per flood.
func (l *apiLimiter) take(device int64, now time.Time) (ok bool, wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%4096 == 0 {
		l.prune(now)
	}
	b := l.buckets[device]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[device] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		b.refused = false
		return true, 0, false
	}
	first = !b.refused
	b.refused = true
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), first
}

// blocked reports whether key's bucket is empty at now, without taking
// a token, and how long until it holds one.
func (l *apiLimiter) blocked(key int64, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return false, 0
	}
	tokens := math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// prune forgets buckets that have refilled: they hold nothing a new one
// would not.
func (l *apiLimiter) prune(now time.Time) {
	for id, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, id)
		}
	}
}

// limited answers 429 with Retry-After (whole seconds, at least 1).
func limited(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(math.Max(wait.Seconds(), 1)))))
	apiError(w, http.StatusTooManyRequests, "rate_limited", "too many requests from this device; retry after the given seconds", "")
}
