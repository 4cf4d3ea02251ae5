package cabinet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"carevisit/reports"
)

// testJobs is a job table with a hand-moved clock and its own temp dir.
func testJobs(t *testing.T) (*repJobs, *atomic.Int64) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	j := newRepJobs(time.Minute)
	j.dir = t.TempDir()
	j.now = func() time.Time { return time.Unix(0, clock.Load()) }
	return j, &clock
}

func startJob(t *testing.T, jobs *repJobs, user int64, build repBuildFunc) (*repJob, chan error) {
	t.Helper()
	j := &repJob{userID: user, orgID: 1}
	ended := make(chan error, 1)
	if err := jobs.start(j, build, func(err error) { ended <- err }); err != nil {
		t.Fatal(err)
	}
	return j, ended
}

func writeBuild(s string) repBuildFunc {
	return func(_ context.Context, w io.Writer, progress func(int, int)) error {
		progress(1, 1)
		_, err := io.WriteString(w, s)
		return err
	}
}

func blockedBuild(release chan struct{}) repBuildFunc {
	return func(ctx context.Context, w io.Writer, _ func(int, int)) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func tempFiles(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "carevisit-report-*"))
	return len(m)
}

func TestReportsJobsLimitPerUser(t *testing.T) {
	jobs, clock := testJobs(t)
	release := make(chan struct{})
	var ends []chan error
	for i := 0; i < repJobsPerUser; i++ {
		_, end := startJob(t, jobs, 7, blockedBuild(release))
		ends = append(ends, end)
		clock.Add(int64(time.Second))
	}
	if err := jobs.start(&repJob{userID: 7}, blockedBuild(release), nil); !errors.Is(err, errRepTooMany) {
		t.Fatalf("job %d of one user: %v, want errRepTooMany", repJobsPerUser+1, err)
	}
	// Another user is not held back by the first one's limit (the build
	// may wait for a free builder).
	other, otherEnd := startJob(t, jobs, 8, writeBuild("x"))
	if _, ok := jobs.get(other.id, 7); ok {
		t.Error("a job is visible to another user")
	}
	close(release)
	for _, end := range append(ends, otherEnd) {
		if err := <-end; err != nil {
			t.Fatal(err)
		}
	}
	// At the limit with finished jobs, the oldest finished one makes room.
	first := jobs.oldest(7)
	if _, end := startJob(t, jobs, 7, writeBuild("y")); <-end != nil {
		t.Fatal("build failed")
	}
	if _, ok := jobs.get(first, 7); ok {
		t.Error("the oldest finished job was not dropped to make room")
	}
	if n := tempFiles(t, jobs.dir); n != repJobsPerUser+1 {
		t.Errorf("%d temp files, want %d (the dropped job's file removed)", n, repJobsPerUser+1)
	}
}

// oldest is the id of the user's oldest job (for the test).
func (t *repJobs) oldest(user int64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var o *repJob
	for _, j := range t.jobs {
		if j.userID == user && (o == nil || j.created.Before(o.created)) {
			o = j
		}
	}
	return o.id
}

func TestReportsJobsExpire(t *testing.T) {
	jobs, clock := testJobs(t)
	done, end := startJob(t, jobs, 7, writeBuild("report"))
	if err := <-end; err != nil {
		t.Fatal(err)
	}
	s, ok := jobs.get(done.id, 7)
	if !ok || s.State != repDone || s.Done != 1 || s.Total != 1 {
		t.Fatalf("finished job: %+v %v", s, ok)
	}
	if b, err := os.ReadFile(s.Path); err != nil || string(b) != "report" {
		t.Fatalf("file: %q %v", b, err)
	}
	release := make(chan struct{})
	running, runEnd := startJob(t, jobs, 7, blockedBuild(release))

	clock.Add(int64(time.Minute))
	if _, ok := jobs.get(done.id, 7); ok {
		t.Error("an expired job is still there")
	}
	if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
		t.Error("an expired job's file is still on disk")
	}
	// An expired running build is cancelled and leaves no file behind.
	if err := <-runEnd; !errors.Is(err, context.Canceled) {
		t.Errorf("expired running build ended with %v, want cancelled", err)
	}
	if _, ok := jobs.get(running.id, 7); ok {
		t.Error("the expired running job is still there")
	}
	if n := tempFiles(t, jobs.dir); n != 0 {
		t.Errorf("%d temp files left", n)
	}
}

func TestReportsJobsFailures(t *testing.T) {
	jobs, _ := testJobs(t)
	for _, tc := range []struct {
		name  string
		build repBuildFunc
		key   string
	}{
		{"bad request", func(context.Context, io.Writer, func(int, int)) error {
			return fmt.Errorf("%w: period", reports.ErrBadRequest)
		}, "rep.job.bad"},
		{"internal", func(context.Context, io.Writer, func(int, int)) error { return errors.New("db down") }, "rep.job.failed"},
		{"panic", func(context.Context, io.Writer, func(int, int)) error { panic("excelize") }, "rep.job.failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, end := startJob(t, jobs, int64(len(tc.name)), tc.build)
			if err := <-end; err == nil {
				t.Fatal("no error")
			}
			s, ok := jobs.get(j.id, j.userID)
			if !ok || s.State != repFailed || s.FailKey != tc.key || s.Path != "" {
				t.Errorf("failed job: %+v", s)
			}
		})
	}
	if n := tempFiles(t, jobs.dir); n != 0 {
		t.Errorf("failed builds left %d temp files", n)
	}
}
