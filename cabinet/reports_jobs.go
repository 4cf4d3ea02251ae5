package cabinet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	"carevisit/reports"
)

// Report downloads are built in the background: the page polls the job and
// then fetches the file. The table lives in memory (one server instance
// serves a user's browser for the few minutes a job lives; a restart loses
// the jobs, and the user builds the report again).
const (
	repJobTTL      = 10 * time.Minute // a job and its file are gone after this
	repJobsPerUser = 3                // jobs a user may hold at once
	repBuilders    = 2                // reports built at once, for the whole server (2 cores)
)

// errRepTooMany: the user already has repJobsPerUser reports being built.
var errRepTooMany = errors.New("too many reports in progress")

// Job states, as the status endpoint reports them.
const (
	repQueued  = "queued"
	repRunning = "running"
	repDone    = "done"
	repFailed  = "failed"
)

// repBuildFunc writes the report to w, reporting progress.
type repBuildFunc func(ctx context.Context, w io.Writer, progress func(done, total int)) error

// repJob is one report being built for one user. The fields after the
// comment change while it runs and are guarded by repJobs.mu.
type repJob struct {
	id        string
	userID    int64
	orgID     int64
	form      url.Values // the request, to show it again on the page
	fileName  string     // offered name (Russian for Russian reports)
	asciiName string     // fallback name for old clients
	ctype     string
	created   time.Time
	cancel    context.CancelFunc

	// guarded by repJobs.mu
	state       string
	done, total int
	failKey     string // message key when failed (set by finish)
	path        string // the finished file
	finished    time.Time
}

// repJobs is the job table of one App. Jobs belong to the user who started
// them: a lookup with another user's id finds nothing.
type repJobs struct {
	mu    sync.Mutex
	jobs  map[string]*repJob
	slots chan struct{} // running builds
	ttl   time.Duration
	now   func() time.Time
	dir   string // temporary files ("" = os.TempDir)
}

func newRepJobs(ttl time.Duration) *repJobs {
	return &repJobs{jobs: map[string]*repJob{}, slots: make(chan struct{}, repBuilders), ttl: ttl, now: time.Now}
}

// start registers a job and builds it in the background. done is called
// with the build's error (nil on success) once it ends, for logging.
func (t *repJobs) start(j *repJob, build repBuildFunc, done func(error)) error {
	t.mu.Lock()
	t.sweepLocked()
	var mine []*repJob
	for _, o := range t.jobs {
		if o.userID == j.userID {
			mine = append(mine, o)
		}
	}
	// At the limit, finished jobs make room, oldest first; running ones
	// are not thrown away behind the user's back.
	sort.Slice(mine, func(a, b int) bool { return mine[a].created.Before(mine[b].created) })
	held := len(mine)
	for _, o := range mine {
		if held < repJobsPerUser {
			break
		}
		if o.state == repDone || o.state == repFailed {
			t.removeLocked(o)
			held--
		}
	}
	if held >= repJobsPerUser {
		t.mu.Unlock()
		return errRepTooMany
	}
	j.id = rand.Text()
	j.created = t.now()
	j.state = repQueued
	ctx, cancel := context.WithTimeout(context.Background(), t.ttl)
	j.cancel = cancel
	t.jobs[j.id] = j
	t.mu.Unlock()

	// Files are removed when the job expires even if nobody asks again.
	time.AfterFunc(t.ttl+time.Second, func() {
		t.mu.Lock()
		t.sweepLocked()
		t.mu.Unlock()
	})
	go func() {
		err := t.run(ctx, j, build)
		if done != nil {
			done(err)
		}
	}()
	return nil
}

func (t *repJobs) run(ctx context.Context, j *repJob, build repBuildFunc) (err error) {
	defer j.cancel()
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		t.finish(j, "", ctx.Err())
		return ctx.Err()
	}
	defer func() { <-t.slots }()
	t.update(j, func() { j.state = repRunning })
	f, err := os.CreateTemp(t.dir, "carevisit-report-*")
	if err != nil {
		t.finish(j, "", err)
		return err
	}
	defer func() {
		// A panic in the workbook library must not take the server down.
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
			t.finish(j, "", err)
			return
		}
		t.finish(j, f.Name(), nil)
	}()
	return build(ctx, f, func(done, total int) {
		t.update(j, func() { j.done, j.total = done, total })
	})
}

func (t *repJobs) update(j *repJob, f func()) {
	t.mu.Lock()
	f()
	t.mu.Unlock()
}

// finish records the outcome. A job that expired meanwhile is gone from
// the table: its file is removed at once.
func (t *repJobs) finish(j *repJob, path string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jobs[j.id] != j {
		if path != "" {
			os.Remove(path)
		}
		return
	}
	j.finished = t.now()
	if err != nil {
		j.state, j.failKey = repFailed, "rep.job.failed"
		switch {
		case errors.Is(err, reports.ErrBadRequest):
			j.failKey = "rep.job.bad"
		case errors.Is(err, context.DeadlineExceeded):
			j.failKey = "rep.job.timeout"
		}
		return
	}
	j.state, j.path = repDone, path
}

// repJobSnap is a copy of a job's state, safe to read without the lock.
type repJobSnap struct {
	ID, State, FailKey, Path string
	FileName, AsciiName      string
	ContentType              string
	Done, Total              int
	Form                     url.Values
	Finished                 time.Time
}

// get returns the user's job; another user's or an expired one is not found.
func (t *repJobs) get(id string, userID int64) (repJobSnap, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked()
	j, ok := t.jobs[id]
	if !ok || j.userID != userID {
		return repJobSnap{}, false
	}
	return repJobSnap{ID: j.id, State: j.state, FailKey: j.failKey, Path: j.path, FileName: j.fileName,
		AsciiName: j.asciiName, ContentType: j.ctype, Done: j.done, Total: j.total, Form: j.form,
		Finished: j.finished}, true
}

func (t *repJobs) sweepLocked() {
	now := t.now()
	for _, j := range t.jobs {
		if now.Sub(j.created) >= t.ttl {
			t.removeLocked(j)
		}
	}
}

// removeLocked drops a job: a running build is cancelled and removes its
// own file when it stops (finish sees the job gone).
func (t *repJobs) removeLocked(j *repJob) {
	delete(t.jobs, j.id)
	if j.cancel != nil {
		j.cancel()
	}
	if j.path != "" {
		os.Remove(j.path)
		j.path = ""
	}
}
