package ingest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"carevisit/store"
)

// Acker delivers an acknowledgement once the data it acknowledges is
// durable. gnet connections use AsyncWrite; HTTP pings wait on a channel.
type Acker interface {
	Ack(err error)
}

// record is one position on its way to PostgreSQL, with the ack to send
// after its batch commits (nil when another record of the frame carries it).
type record struct {
	pos   store.Position
	ack   Acker
	since time.Time // frame arrival, for the ack latency metric
}

// PositionStore is what the pipeline needs from the database.
type PositionStore interface {
	InsertPositionsOnly(ctx context.Context, b *store.PositionBatch) (int64, error)
	UpsertLastPositions(ctx context.Context, ps []store.Position) error
}

// Committed receives every batch after it is durable (the visit detector,
// the live map). It runs on a writer goroutine: it must be quick.
type Committed func(ps []store.Position)

// Pipeline is the bounded queue between the event loops and the database
// writers, with group commit by size and time.
type Pipeline struct {
	q          chan record
	st         PositionStore
	m          *Metrics
	log        *slog.Logger
	batchMax   int
	batchDelay time.Duration
	onCommit   Committed
	wg         sync.WaitGroup
	healthy    atomic.Bool
	waiters    *waiters

	// Newest committed fix per device, written to device_last_position
	// about once a second instead of with every batch.
	lastMu   sync.Mutex
	last     map[int64]store.Position
	lastWG   sync.WaitGroup
	stopLast chan struct{}
}

func newPipeline(st PositionStore, size, batchMax int, batchDelay time.Duration, log *slog.Logger) *Pipeline {
	p := &Pipeline{q: make(chan record, size), st: st, log: log, batchMax: batchMax, batchDelay: batchDelay,
		waiters: &waiters{}, last: map[int64]store.Position{}, stopLast: make(chan struct{})}
	p.healthy.Store(true)
	return p
}

// Room reports whether the queue can take n more records without blocking.
// Event loops check it before decoding a frame: when it is false they stop
// consuming the connection's bytes (backpressure) instead of dropping data.
func (p *Pipeline) Room(n int) bool { return cap(p.q)-len(p.q) >= n }

// Depth is the number of queued records.
func (p *Pipeline) Depth() int { return len(p.q) }

// offer enqueues without blocking; false when full.
func (p *Pipeline) offer(r record) bool {
	select {
	case p.q <- r:
		return true
	default:
		return false
	}
}

// put enqueues, waiting while the queue is full (HTTP handlers may block).
func (p *Pipeline) put(ctx context.Context, r record) error {
	select {
	case p.q <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pipeline) start(n int) {
	for i := 0; i < n; i++ {
		p.wg.Add(1)
		go p.run()
	}
	p.lastWG.Add(1)
	go p.lastLoop()
}

// close stops intake; writers flush what is queued, the last positions are
// written, and it returns.
func (p *Pipeline) close() {
	close(p.q)
	p.wg.Wait()
	close(p.stopLast)
	p.lastWG.Wait()
}

// noteLast remembers the newest committed fix of each device.
func (p *Pipeline) noteLast(ps []store.Position) {
	p.lastMu.Lock()
	for i := range ps {
		if cur, ok := p.last[ps[i].DeviceID]; !ok || !ps[i].FixTime.Before(cur.FixTime) {
			p.last[ps[i].DeviceID] = ps[i]
		}
	}
	p.lastMu.Unlock()
}

func (p *Pipeline) lastLoop() {
	defer p.lastWG.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.flushLast()
		case <-p.stopLast:
			p.flushLast()
			return
		}
	}
}

func (p *Pipeline) flushLast() {
	p.lastMu.Lock()
	if len(p.last) == 0 {
		p.lastMu.Unlock()
		return
	}
	list := make([]store.Position, 0, len(p.last))
	for _, v := range p.last {
		list = append(list, v)
	}
	p.last = make(map[int64]store.Position, len(list))
	p.lastMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.st.UpsertLastPositions(ctx, list); err != nil {
		// Only the live map's freshness is at stake: put them back for the
		// next tick (newer fixes win).
		p.log.Warn("last positions not updated", "err", err, "devices", len(list))
		p.noteLast(list)
	}
}

func (p *Pipeline) run() {
	defer p.wg.Done()
	batch := make([]record, 0, p.batchMax)
	var rows store.PositionBatch
	positions := make([]store.Position, 0, p.batchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for r := range p.q {
		batch = append(batch[:0], r)
		timer.Reset(p.batchDelay)
	fill:
		for len(batch) < p.batchMax {
			select {
			case r, ok := <-p.q:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		rows.Reset()
		positions = positions[:0]
		for i := range batch {
			rows.Add(&batch[i].pos)
			positions = append(positions, batch[i].pos)
		}
		p.commit(&rows, len(batch))
		p.noteLast(positions)
		now := time.Now()
		for i := range batch {
			if batch[i].ack != nil {
				batch[i].ack.Ack(nil)
				p.m.AckLatency.Observe(now.Sub(batch[i].since).Seconds())
			}
			batch[i] = record{}
		}
		if p.onCommit != nil {
			p.onCommit(positions)
		}
		p.waiters.wake(p)
	}
}

// commit retries until the batch is stored: a batch is never dropped. While
// the database is away the queue fills, event loops stop reading and no
// device gets an ack, so nothing acknowledged is lost.
func (p *Pipeline) commit(rows *store.PositionBatch, n int) {
	backoff := 50 * time.Millisecond
	for {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		inserted, err := p.st.InsertPositionsOnly(ctx, rows)
		cancel()
		if err == nil {
			p.m.CommitLatency.Observe(time.Since(t0).Seconds())
			p.m.BatchSize.Observe(float64(n))
			p.m.Persisted.Add(float64(inserted))
			p.m.Duplicates.Add(float64(int64(n) - inserted))
			if !p.healthy.Swap(true) {
				p.log.Info("database back: ingest resumed")
			}
			return
		}
		p.m.CommitErrors.Inc()
		if p.healthy.Swap(false) {
			p.log.Error("commit failed: ingest paused until the database answers", "err", err, "rows", n)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// waiters holds connections paused by backpressure, woken when the queue
// drains below half.
type waiters struct {
	mu    sync.Mutex
	conns []func()
}

func (w *waiters) add(wake func()) {
	w.mu.Lock()
	w.conns = append(w.conns, wake)
	w.mu.Unlock()
}

func (w *waiters) wake(p *Pipeline) {
	if len(p.q) > cap(p.q)/2 {
		return
	}
	w.mu.Lock()
	list := w.conns
	w.conns = nil
	w.mu.Unlock()
	for _, f := range list {
		f()
	}
}
