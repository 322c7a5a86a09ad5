package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// countingS3 counts HeadObject calls by bucket and, when tick is set,
// advances a fake clock by tick at each.
type countingS3 struct {
	reconcile.ObjectStore
	mu    sync.Mutex
	heads map[string]int
	clock *fakeClock
	tick  time.Duration
}

func (c *countingS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c.mu.Lock()
	if c.heads == nil {
		c.heads = map[string]int{}
	}
	c.heads[aws.ToString(in.Bucket)]++
	c.mu.Unlock()
	if c.clock != nil {
		c.clock.advance(c.tick)
	}
	return c.ObjectStore.HeadObject(ctx, in, o...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// One database serving two stacks: the sweep lists only the rows of its own
// restore buckets and the rows naming none. A row naming another stack's
// bucket is never asked about nor changed; a row naming none that this
// stack's buckets do not have is left alone, counted and named, never
// recorded as missing. Files the report counts are named in it.
func TestSweepOnlyThisStacksRows(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	foreign := w.insert("theirs.dat", "inprogress", 3*time.Hour, func(j *jobseed.Row) { j.RestoreBucketDest = "other-stacks-restore-bucket" })
	noBucket := w.insert("nowhere.dat", "inprogress", 2*time.Hour, nil)
	w.put(otherRestore, "found.dat", s3types.StorageClassStandard)
	found := w.insert("found.dat", "inprogress", 2*time.Hour, nil)
	missing := w.insert("gone.dat", "inprogress", 2*time.Hour, func(j *jobseed.Row) { j.RestoreBucketDest = restoreBucket })

	r := w.reconciler(reconcile.Config{})
	s3c := &countingS3{ObjectStore: w.s3}
	r.S3 = s3c
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatalf("Sweep: %v (report %+v)", err, rep)
	}
	got := [5]int{rep.Stuck, rep.Waiting, rep.Missing, rep.NotHere, rep.Started}
	if want := [5]int{3, 1, 1, 1, 1}; got != want {
		t.Errorf("stuck, waiting, missing, not here, started = %v, want %v", got, want)
	}
	if n := s3c.heads["other-stacks-restore-bucket"]; n != 0 {
		t.Errorf("%d HeadObject calls on another stack's bucket, want 0", n)
	}
	for _, j := range []jobseed.Row{foreign, noBucket} {
		if diff := cmp.Diff(j, w.row(j.RequestID)); diff != "" {
			t.Errorf("%s changed (-before +after):\n%s", j.ObjectKey, diff)
		}
	}
	if got := w.row(missing.RequestID); got.JobStatus != "error" {
		t.Errorf("gone.dat (this stack's bucket, 404): status %q, want error", got.JobStatus)
	}
	want := reconcile.NamedFiles{
		Missing: []reconcile.FileRef{{RequestID: missing.RequestID, Bucket: restoreBucket, Key: "gone.dat"}},
		Expired: []reconcile.FileRef{},
		NotHere: []reconcile.FileRef{{RequestID: noBucket.RequestID, Key: "nowhere.dat"}},
		Started: []reconcile.FileRef{{RequestID: found.RequestID, Bucket: otherRestore, Key: "found.dat"}},
	}
	if diff := cmp.Diff(want, rep.Files); diff != "" {
		t.Errorf("named files (-want +got):\n%s", diff)
	}
}

// The report names at most MaxNamedFiles files a list and counts the rest.
func TestSweepNamesAtMostMaxNamedFiles(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	n := reconcile.MaxNamedFiles + 3
	for i := range n {
		w.insert("gone-"+strings.Repeat("x", i%5)+time.Duration(i).String()+".dat", "inprogress", 2*time.Hour,
			func(j *jobseed.Row) { j.RestoreBucketDest = restoreBucket })
	}
	rep, err := w.reconciler(reconcile.Config{}).Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != n || len(rep.Files.Missing) != reconcile.MaxNamedFiles || rep.Files.LeftOut != 3 {
		t.Errorf("missing %d, named %d, left out %d; want %d, %d, 3", rep.Missing, len(rep.Files.Missing), rep.Files.LeftOut, n, reconcile.MaxNamedFiles)
	}
}

// A sweep whose deadline comes while it lists stops DeadlineMargin before
// it: the pages it reached have their executions started, the rows it did
// not reach are left as they were, the report says it was cut short, and
// the metrics are written (ReconcileCutShort 1). The clock is fake: each
// HeadObject takes a minute of it.
func TestSweepStopsBeforeItsDeadline(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	var jobs []jobseed.Row
	for i := range 10 {
		key := string(rune('a'+i)) + ".dat"
		w.put(restoreBucket, key, s3types.StorageClassStandard)
		jobs = append(jobs, w.insert(key, "inprogress", time.Duration(20-i)*time.Hour, nil))
	}
	clock := &fakeClock{t: time.Now()}
	ctx, cancel := context.WithDeadline(w.ctx, clock.now().Add(8*time.Minute))
	defer cancel()

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	r := w.reconciler(reconcile.Config{PageSize: 2})
	r.S3 = &countingS3{ObjectStore: w.s3, clock: clock, tick: time.Minute}
	r.Now, r.DeadlineMargin = clock.now, 2*time.Minute
	r.Logger, r.Metrics = logger, metrics.New(logger, reconcile.FunctionName)

	// Pages of two rows, two minutes each; the sweep must stop 8-2 = 6
	// minutes in: pages 1 to 3 are done, page 4 is never listed.
	rep, err := r.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !rep.CutShort || rep.Stuck != 6 || rep.Started != 3 || len(w.start.order) != 3 {
		t.Errorf("cut short %v, stuck %d, started %d, executions %d; want true, 6, 3 (one a page), 3", rep.CutShort, rep.Stuck, rep.Started, len(w.start.order))
	}
	for _, j := range jobs[:6] {
		if got := w.row(j.RequestID); !strings.HasPrefix(got.ErrMsg, reconcile.MarkStarted) {
			t.Errorf("%s: err_msg %q, want claimed", j.ObjectKey, got.ErrMsg)
		}
	}
	for _, j := range jobs[6:] {
		if diff := cmp.Diff(j, w.row(j.RequestID)); diff != "" {
			t.Errorf("%s, not reached, changed (-before +after):\n%s", j.ObjectKey, diff)
		}
	}
	var metricLine map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == metrics.LogMessage {
			metricLine = m
		}
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "reconcile: sweep done" && m["cut_short"] != true {
			t.Errorf("sweep done line without cut_short: %s", line)
		}
	}
	if metricLine == nil || metricLine[reconcile.MetricCutShort] != 1.0 || metricLine[reconcile.MetricFilesStarted] != 6.0 {
		t.Errorf("metrics line %v: want %s 1 and %s 6", metricLine, reconcile.MetricCutShort, reconcile.MetricFilesStarted)
	}

	// The next sweep, with time enough, goes on with the rest.
	ctx2, cancel2 := context.WithDeadline(w.ctx, clock.now().Add(time.Hour))
	defer cancel2()
	rep2, err := r.Sweep(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.CutShort || rep2.Stuck != 4 || rep2.Started != 2 {
		t.Errorf("next sweep: cut short %v, stuck %d, started %d; want false, 4, 2", rep2.CutShort, rep2.Stuck, rep2.Started)
	}
}

// cutOffS3 answers HeadObject for key as a call cut off at the deadline
// would: the clock has passed the stop, and the call fails.
type cutOffS3 struct {
	reconcile.ObjectStore
	key   string
	clock *fakeClock
}

func (c cutOffS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if aws.ToString(in.Key) == c.key {
		c.clock.advance(time.Hour)
		return nil, context.DeadlineExceeded
	}
	return c.ObjectStore.HeadObject(ctx, in, o...)
}

// A HeadObject in flight when the deadline comes leaves its row as it was,
// not reached (no problem, no error recorded); the rows of the same page
// that S3 answered are recorded and started.
func TestSweepLeavesRowsCutOffAtTheDeadline(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	w.put(restoreBucket, "answered.dat", s3types.StorageClassStandard)
	answered := w.insert("answered.dat", "inprogress", 3*time.Hour, nil)
	w.put(restoreBucket, "cut.dat", s3types.StorageClassStandard)
	cut := w.insert("cut.dat", "inprogress", 2*time.Hour, nil)

	clock := &fakeClock{t: time.Now()}
	ctx, cancel := context.WithDeadline(w.ctx, clock.now().Add(time.Hour))
	defer cancel()
	r := w.reconciler(reconcile.Config{})
	r.S3 = cutOffS3{ObjectStore: w.s3, key: "cut.dat", clock: clock}
	r.Now = clock.now
	rep, err := r.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !rep.CutShort || rep.Stuck != 2 || rep.NotReached != 1 || rep.Skipped != 0 || rep.Started != 1 {
		t.Errorf("cut short %v, stuck %d, not reached %d, skipped %d, started %d; want true, 2, 1, 0, 1",
			rep.CutShort, rep.Stuck, rep.NotReached, rep.Skipped, rep.Started)
	}
	if got := w.row(answered.RequestID); !strings.HasPrefix(got.ErrMsg, reconcile.MarkStarted) {
		t.Errorf("answered.dat: err_msg %q, want claimed", got.ErrMsg)
	}
	if diff := cmp.Diff(cut, w.row(cut.RequestID)); diff != "" {
		t.Errorf("cut.dat changed (-before +after):\n%s", diff)
	}
}

// slowRestoreS3 counts RestoreObject calls; each takes an hour of the
// fake clock.
type slowRestoreS3 struct {
	reconcile.ObjectStore
	clock    *fakeClock
	restores int
}

func (c *slowRestoreS3) RestoreObject(ctx context.Context, in *s3.RestoreObjectInput, o ...func(*s3.Options)) (*s3.RestoreObjectOutput, error) {
	c.restores++
	c.clock.advance(time.Hour)
	return c.ObjectStore.RestoreObject(ctx, in, o...)
}

// Restores requested again stop at the sweep's stop time as HeadObject
// calls do: once the first RestoreObject has used up the time, the other
// expired rows are left as they were, not reached, for the next sweep.
func TestSweepStopsRequestingRestoresAtItsDeadline(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	var jobs []jobseed.Row
	for i, key := range []string{"x.dat", "y.dat", "z.dat"} {
		w.put(restoreBucket, key, s3types.StorageClassGlacier)
		jobs = append(jobs, w.insert(key, "inprogress", time.Duration(5-i)*time.Hour, nil))
	}
	w.restoreTransition("manual", 1_000_000_000) // requested restores stay running
	clock := &fakeClock{t: time.Now()}
	ctx, cancel := context.WithDeadline(w.ctx, clock.now().Add(time.Hour))
	defer cancel()
	r := w.reconciler(reconcile.Config{ReRestore: true, ReRestoreDays: 2, ReRestoreTier: "Bulk"})
	s3c := &slowRestoreS3{ObjectStore: w.s3, clock: clock}
	r.S3, r.Now = s3c, clock.now
	rep, err := r.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if s3c.restores != 1 || rep.ReRestored != 1 || rep.Expired != 1 || rep.NotReached != 2 || !rep.CutShort {
		t.Errorf("RestoreObject calls %d, re-restored %d, expired %d, not reached %d, cut short %v; want 1, 1, 1, 2, true",
			s3c.restores, rep.ReRestored, rep.Expired, rep.NotReached, rep.CutShort)
	}
	if got := w.row(jobs[0].RequestID); !strings.HasPrefix(got.ErrMsg, reconcile.MarkReRestored) {
		t.Errorf("x.dat: err_msg %q, want re-restored", got.ErrMsg)
	}
	for _, j := range jobs[1:] {
		if diff := cmp.Diff(j, w.row(j.RequestID)); diff != "" {
			t.Errorf("%s, not reached, changed (-before +after):\n%s", j.ObjectKey, diff)
		}
	}
}
