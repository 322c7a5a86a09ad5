package reconcile_test

// The sweep against a real Postgres (TEST_DATABASE_URL, a schema per test)
// and moto's S3, which knows storage classes and RestoreObject: GLACIER
// objects never restored, restored, restored with an expiry already past,
// and a restore kept running through moto's state manager (below). Step
// Functions is a hand-written starter that refuses a name twice, as Step
// Functions does; the end-to-end test in internal/localrun starts real
// executions on the local engine.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

const (
	restoreBucket = "restore-bucket"
	otherRestore  = "other-restore-bucket"
	archiveBucket = "archive-bucket"
	stateMachine  = "arn:aws:states:us-east-1:123456789012:stateMachine:copy"
)

// fakeStarter records executions and refuses a name it has started, as
// Step Functions does for 90 days.
type fakeStarter struct {
	mu     sync.Mutex
	inputs map[string]string
	order  []string
}

var _ reconcile.ExecutionStarter = (*fakeStarter)(nil)

func (f *fakeStarter) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inputs == nil {
		f.inputs = map[string]string{}
	}
	name := aws.ToString(in.Name)
	if _, ok := f.inputs[name]; ok {
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: " + name)}
	}
	f.inputs[name] = aws.ToString(in.Input)
	f.order = append(f.order, name)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:copy:" + name)}, nil
}

type world struct {
	t     *testing.T
	ctx   context.Context
	db    *pgxpool.Pool
	s3    *s3.Client
	moto  string
	start *fakeStarter
}

func newWorld(t *testing.T, srv *s3server.Server) *world {
	t.Helper()
	ctx := context.Background()
	url, _ := pgtest.Schema(t, "reconcile")
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := requeststatus.ApplySchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	c, _ := srv.Client(ctx)
	return &world{t: t, ctx: ctx, db: db, s3: c, moto: srv.Endpoint, start: &fakeStarter{}}
}

func (w *world) reconciler(cfg reconcile.Config) *reconcile.Reconciler {
	cfg.StateMachineARN = stateMachine
	if cfg.RestoreBuckets == nil {
		cfg.RestoreBuckets = []string{restoreBucket, otherRestore}
	}
	if cfg.Grace == 0 {
		cfg.Grace = time.Hour
	}
	if cfg.Period == 0 {
		cfg.Period = time.Hour
	}
	return &reconcile.Reconciler{Config: cfg, DB: w.db, S3: w.s3, SFN: w.start}
}

func (w *world) put(bucket, key string, class s3types.StorageClass) {
	w.t.Helper()
	if _, err := w.s3.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader([]byte("body of " + key)), StorageClass: class}); err != nil {
		w.t.Fatalf("put %s: %v", key, err)
	}
}

func (w *world) restore(key string, days int32) {
	w.t.Helper()
	if _, err := w.s3.RestoreObject(w.ctx, &s3.RestoreObjectInput{Bucket: aws.String(restoreBucket), Key: aws.String(key),
		RestoreRequest: &s3types.RestoreRequest{Days: aws.Int32(days)}}); err != nil {
		w.t.Fatalf("restore %s: %v", key, err)
	}
}

func (w *world) restoreHeader(key string) string {
	w.t.Helper()
	head, err := w.s3.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(restoreBucket), Key: aws.String(key)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(head.Restore)
}

// restoreTransition sets how moto's restores progress (its state manager,
// model s3::keyrestore: None -> IN_PROGRESS -> RESTORED; x-amz-restore says
// ongoing-request="true" only IN_PROGRESS). "manual" advances a key's state
// after times reads of the object; moto's default, "immediate", completes a
// restore at once.
func (w *world) restoreTransition(progression string, times int) {
	w.t.Helper()
	body, _ := json.Marshal(map[string]any{"model_name": "s3::keyrestore",
		"transition": map[string]any{"progression": progression, "times": times}})
	resp, err := http.Post(w.moto+"/moto-api/state-manager/set-transition", "application/json", bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("set-transition: %s", resp.Status)
	}
}

// runningRestore leaves key's restore in progress: one HEAD with a transition
// after one read moves it to IN_PROGRESS, then a transition after a billion
// reads keeps it there.
func (w *world) runningRestore(key string) {
	w.t.Helper()
	w.put(restoreBucket, key, s3types.StorageClassGlacier)
	w.restoreTransition("manual", 1)
	w.restore(key, 1)
	if h := w.restoreHeader(key); h != `ongoing-request="true"` {
		w.t.Fatalf("x-amz-restore %q, want a running restore", h)
	}
	w.restoreTransition("manual", 1_000_000_000)
	if h := w.restoreHeader(key); h != `ongoing-request="true"` {
		w.t.Fatalf("x-amz-restore %q after the second HEAD, want a running restore", h)
	}
}

func (w *world) insert(key, status string, age time.Duration, mod func(*jobseed.Row)) jobseed.Row {
	w.t.Helper()
	t := time.Now().Add(-age).UTC().Truncate(time.Microsecond)
	job := jobseed.Row{ObjectKey: key, JobStatus: status, ArchiveBucketDest: archiveBucket, RequestTime: t, LastUpdateTime: t}
	if mod != nil {
		mod(&job)
	}
	job, err := jobseed.Insert(w.ctx, w.db, job)
	if err != nil {
		w.t.Fatal(err)
	}
	return job
}

func (w *world) row(id string) jobseed.Row {
	w.t.Helper()
	r, err := jobseed.Read(w.ctx, w.db, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func startMoto(t *testing.T) *s3server.Server {
	return s3server.StartMotoForTest(t, restoreBucket, otherRestore, archiveBucket)
}

func TestSweepClassifiesAndActs(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)

	// Set up the running restore first: moto's transition is global.
	w.runningRestore("running.dat")
	running := w.insert("running.dat", "inprogress", 2*time.Hour, nil)

	w.put(restoreBucket, "standard.dat", s3types.StorageClassStandard)
	standard := w.insert("standard.dat", "inprogress", 2*time.Hour, nil)
	w.put(restoreBucket, "restored.dat", s3types.StorageClassGlacier)
	w.restore("restored.dat", 2)
	restored := w.insert("restored.dat", "inprogress", 3*time.Hour, nil)
	w.put(otherRestore, "elsewhere.dat", s3types.StorageClassStandard)
	elsewhere := w.insert("elsewhere.dat", "inprogress", 4*time.Hour, func(j *jobseed.Row) { j.RestoreBucketDest = otherRestore })

	w.put(restoreBucket, "never.dat", s3types.StorageClassDeepArchive)
	never := w.insert("never.dat", "inprogress", 2*time.Hour, nil)
	w.put(restoreBucket, "expired.dat", s3types.StorageClassGlacier)
	w.restore("expired.dat", -1) // moto accepts a negative Days: an expiry date already past
	expired := w.insert("expired.dat", "inprogress", 5*24*time.Hour, nil)
	missing := w.insert("missing.dat", "inprogress", 2*time.Hour, func(j *jobseed.Row) { j.RestoreBucketDest = restoreBucket })

	w.put(restoreBucket, "done.dat", s3types.StorageClassStandard)
	done := w.insert("done.dat", "complete", 2*time.Hour, nil)
	w.put(restoreBucket, "fresh.dat", s3types.StorageClassStandard)
	fresh := w.insert("fresh.dat", "inprogress", time.Minute, nil)

	r := w.reconciler(reconcile.Config{PageSize: 10, MaxFilesPerExecution: 2})
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	got := [7]int{rep.Stuck, rep.Waiting, rep.Running, rep.Expired, rep.Missing, rep.Started, rep.AlreadyStarted}
	if want := [7]int{7, 3, 1, 2, 1, 2, 0}; got != want {
		t.Errorf("stuck, waiting, running, expired, missing, started, already = %v, want %v (report %+v)", got, want, rep)
	}

	// The waiting files are in the executions' classic events, two files
	// at most each, from the bucket where each was found.
	var inEvents []string
	for _, name := range w.start.order {
		files, err := parseevent.ParseEvent([]byte(w.start.inputs[name]))
		if err != nil {
			t.Fatalf("execution %s input: %v", name, err)
		}
		if len(files) > 2 {
			t.Errorf("execution %s names %d files, want at most 2", name, len(files))
		}
		if !strings.HasPrefix(name, "reconcile-"+rep.Window+"-") || len(name) > 80 {
			t.Errorf("execution name %q: want reconcile-%s-<digest>, at most 80 characters", name, rep.Window)
		}
		for _, f := range files {
			inEvents = append(inEvents, f.SourceBucket+"/"+f.SourceKey)
		}
	}
	want := []string{otherRestore + "/elsewhere.dat", restoreBucket + "/restored.dat", restoreBucket + "/standard.dat"}
	if diff := cmp.Diff(want, sorted(inEvents)); diff != "" {
		t.Errorf("files in the executions' events (-want +got):\n%s", diff)
	}

	for _, j := range []jobseed.Row{standard, restored, elsewhere} {
		got := w.row(j.RequestID)
		if got.JobStatus != "inprogress" || !strings.HasPrefix(got.ErrMsg, reconcile.MarkStarted) || !got.LastUpdateTime.After(j.LastUpdateTime) {
			t.Errorf("%s: row %s %q updated %v, want inprogress, claimed by the sweep", j.ObjectKey, got.JobStatus, got.ErrMsg, got.LastUpdateTime)
		}
	}
	for _, c := range []struct {
		job  jobseed.Row
		want []string
	}{
		{never, []string{"archived in DEEP_ARCHIVE and not restored", "s3://" + restoreBucket + "/never.dat", "request the restore again"}},
		{expired, []string{"restore of s3://" + restoreBucket + "/expired.dat expired at " + time.Now().UTC().Add(-24*time.Hour).Format("2006-01-02")}},
		{missing, []string{"no object", "missing.dat", restoreBucket}},
	} {
		got := w.row(c.job.RequestID)
		if got.JobStatus != "error" {
			t.Errorf("%s: status %q, want error", c.job.ObjectKey, got.JobStatus)
		}
		for _, s := range c.want {
			if !strings.Contains(got.ErrMsg, s) {
				t.Errorf("%s: err_msg %q does not say %q", c.job.ObjectKey, got.ErrMsg, s)
			}
		}
	}
	// The running restore's row is touched, so that no sweep asks S3
	// about it again before another grace period.
	if got := w.row(running.RequestID); got.JobStatus != "inprogress" || !strings.HasPrefix(got.ErrMsg, reconcile.MarkRestoreRunning) ||
		!got.LastUpdateTime.After(running.LastUpdateTime) {
		t.Errorf("running.dat: row %s %q updated %v, want inprogress, marked restore running, updated", got.JobStatus, got.ErrMsg, got.LastUpdateTime)
	}
	for _, j := range []jobseed.Row{done, fresh} {
		if diff := cmp.Diff(j, w.row(j.RequestID)); diff != "" {
			t.Errorf("%s changed (-before +after):\n%s", j.ObjectKey, diff)
		}
	}

	// A second sweep while those executions run: the claimed rows were
	// updated within the grace period, so nothing is started again.
	rep2, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nor is the running restore asked about again.
	if rep2.Started != 0 || rep2.Stuck != 0 || rep2.Running != 0 {
		t.Errorf("second sweep: stuck %d, running %d, started %d; want 0, 0, 0", rep2.Stuck, rep2.Running, rep2.Started)
	}
	// With no grace at all it lists them again, and the names of the same
	// files in the same window are taken: still nothing new.
	if _, err := requeststatus.NewStore(w.db).RecordOutcome(w.ctx, fresh.RequestID, fresh.ObjectKey, nil); err != nil {
		t.Fatal(err) // its own event came
	}
	r.Config.Grace = time.Nanosecond
	rep3, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep3.Started != 0 || rep3.AlreadyStarted != 2 || rep3.StuckAgain != 3 {
		t.Errorf("sweep without grace: started %d, already started %d, stuck again %d; want 0, 2, 3", rep3.Started, rep3.AlreadyStarted, rep3.StuckAgain)
	}
	if len(w.start.order) != 2 {
		t.Errorf("%d executions in all, want 2", len(w.start.order))
	}
}

// A row that changes after the sweep listed it (the workflow completed it
// meanwhile) keeps what the workflow wrote.
func TestSweepLeavesRowsChangedAfterListing(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	job := w.insert("gone.dat", "inprogress", 2*time.Hour, func(j *jobseed.Row) { j.RestoreBucketDest = restoreBucket })
	r := w.reconciler(reconcile.Config{})
	r.S3 = completeOnHead{ObjectStore: w.s3, w: w, id: job.RequestID}
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != 1 || rep.Skipped != 1 {
		t.Errorf("missing %d, skipped %d; want 1, 1", rep.Missing, rep.Skipped)
	}
	if got := w.row(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row %q %q, want complete as the workflow recorded it", got.JobStatus, got.ErrMsg)
	}
}

// completeOnHead completes a row (as the workflow would) while the sweep
// asks S3 about it.
type completeOnHead struct {
	reconcile.ObjectStore
	w  *world
	id string
}

func (c completeOnHead) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if _, err := requeststatus.NewStore(c.w.db).RecordOutcome(ctx, c.id, aws.ToString(in.Key), nil); err != nil {
		c.w.t.Errorf("complete the row: %v", err)
	}
	return c.ObjectStore.HeadObject(ctx, in, o...)
}

// With RECONCILE_RERESTORE on, an expired restore is requested again (the
// configured days and tier) and the row stays inprogress; a second expiry
// after that is recorded as error.
func TestSweepReRestores(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	w.put(restoreBucket, "again.dat", s3types.StorageClassGlacier)
	job := w.insert("again.dat", "inprogress", 2*time.Hour, nil)
	w.restoreTransition("manual", 1_000_000_000) // requested restores stay not yet visible as done
	r := w.reconciler(reconcile.Config{ReRestore: true, ReRestoreDays: 4, ReRestoreTier: "Bulk"})
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Expired != 1 || rep.ReRestored != 1 || rep.Started != 0 {
		t.Errorf("expired %d, re-restored %d, started %d; want 1, 1, 0", rep.Expired, rep.ReRestored, rep.Started)
	}
	got := w.row(job.RequestID)
	if got.JobStatus != "inprogress" || !strings.HasPrefix(got.ErrMsg, reconcile.MarkReRestored) || !strings.Contains(got.ErrMsg, "4 days, tier Bulk") {
		t.Errorf("row %q %q, want inprogress, marked re-restored with 4 days, tier Bulk", got.JobStatus, got.ErrMsg)
	}
	head := w.restoreHeader("again.dat")
	wantExpiry := time.Now().UTC().Add(4 * 24 * time.Hour).Format("02 Jan 2006")
	if !strings.Contains(head, wantExpiry) {
		t.Errorf("x-amz-restore %q, want the restore requested for 4 days (%s)", head, wantExpiry)
	}

	// The new restore expires too: the next sweep records the error
	// rather than paying for a third restore.
	w.restore("again.dat", -1)
	r.Config.Grace = time.Nanosecond
	rep, err = r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReRestored != 0 || rep.Expired != 1 {
		t.Errorf("second sweep: re-restored %d, expired %d; want 0, 1", rep.ReRestored, rep.Expired)
	}
	if got := w.row(job.RequestID); got.JobStatus != "error" || !strings.Contains(got.ErrMsg, "expired at") {
		t.Errorf("row %q %q, want error saying when the restore expired", got.JobStatus, got.ErrMsg)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A restored file whose row names no archive bucket is recorded as an
// error, not copied; a sweep stops listing once MaxFilesPerSweep files
// wait (after the page that reached it), and the next sweep goes on.
func TestSweepNoArchiveAndMaxFilesPerSweep(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	w.put(restoreBucket, "no-archive.dat", s3types.StorageClassStandard)
	noArchive := w.insert("no-archive.dat", "inprogress", 6*time.Hour, func(j *jobseed.Row) { j.ArchiveBucketDest = "" })
	var jobs []jobseed.Row
	for i, key := range []string{"a.dat", "b.dat", "c.dat", "d.dat"} {
		w.put(restoreBucket, key, s3types.StorageClassStandard)
		jobs = append(jobs, w.insert(key, "inprogress", time.Duration(5-i)*time.Hour, nil))
	}

	// Pages of two, oldest first: (no-archive, a) then (b, c) reach the
	// bound of two waiting files; d is not listed. Each page's files are
	// started when the page is done: two executions.
	r := w.reconciler(reconcile.Config{PageSize: 2, MaxFilesPerSweep: 2})
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	got := [5]int{rep.Stuck, rep.Waiting, rep.NoArchive, rep.Started, len(w.start.order)}
	if want := [5]int{4, 4, 1, 2, 2}; got != want || !rep.Truncated {
		t.Errorf("stuck, waiting, no archive, started, executions = %v, truncated %v; want %v, true", got, rep.Truncated, want)
	}
	if got := w.row(noArchive.RequestID); got.JobStatus != "error" || !strings.Contains(got.ErrMsg, "no archive_bucket_dest") {
		t.Errorf("no-archive.dat: row %q %q, want error naming archive_bucket_dest", got.JobStatus, got.ErrMsg)
	}
	if diff := cmp.Diff(jobs[3], w.row(jobs[3].RequestID)); diff != "" {
		t.Errorf("d.dat, past the bound, changed (-before +after):\n%s", diff)
	}

	rep2, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Stuck != 1 || rep2.Started != 1 || rep2.Truncated {
		t.Errorf("second sweep: stuck %d, started %d, truncated %v; want 1 (d.dat), 1, false", rep2.Stuck, rep2.Started, rep2.Truncated)
	}
}

// failingStarter refuses every StartExecution, as a throttled or denied
// call does.
type failingStarter struct{}

func (failingStarter) StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return nil, &sfntypes.ExecutionLimitExceeded{Message: aws.String("too many executions")}
}

// A StartExecution that fails undoes the sweep's claim: the row does not
// say the copy started, its last_update_time is back to the value listed,
// and the next sweep retries it at once without counting it stuck again.
func TestSweepUndoesTheClaimWhenTheStartFails(t *testing.T) {
	srv := startMoto(t)
	w := newWorld(t, srv)
	w.put(restoreBucket, "unstarted.dat", s3types.StorageClassStandard)
	job := w.insert("unstarted.dat", "inprogress", 2*time.Hour, nil)
	r := w.reconciler(reconcile.Config{})
	r.SFN = failingStarter{}
	rep, err := r.Sweep(w.ctx)
	if err == nil || rep.Started != 0 || len(rep.Problems) != 1 {
		t.Fatalf("Sweep: err %v, started %d, problems %q; want an error, 0, one problem", err, rep.Started, rep.Problems)
	}
	got := w.row(job.RequestID)
	if got.JobStatus != "inprogress" || !got.LastUpdateTime.Equal(job.LastUpdateTime) ||
		!strings.HasPrefix(got.ErrMsg, reconcile.MarkStartFailed) || !strings.Contains(got.ErrMsg, "too many executions") {
		t.Errorf("row %q, last update %v, err_msg %q; want inprogress, %v (as listed), %q saying why",
			got.JobStatus, got.LastUpdateTime, got.ErrMsg, job.LastUpdateTime, reconcile.MarkStartFailed)
	}

	// The next sweep, with Step Functions back, starts the copy and does
	// not count the row stuck again.
	r.SFN = w.start
	rep, err = r.Sweep(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stuck != 1 || rep.StuckAgain != 0 || rep.Started != 1 {
		t.Errorf("next sweep: stuck %d, stuck again %d, started %d; want 1, 0, 1", rep.Stuck, rep.StuckAgain, rep.Started)
	}
}
