package localrun_test

// The reconcile sweep end to end: rows whose restore event was never sent,
// a real S3 server holding the restored files, the sweep starting real
// executions of the definition on the local engine.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// age makes a row look untouched for d.
func (h *harness) age(job jobseed.Row, d time.Duration) {
	h.t.Helper()
	if err := requeststatus.NewTable(h.db).Backdate(h.ctx, job.RequestID, d); err != nil {
		h.t.Fatal(err)
	}
}

// Two restored files whose event never came are copied by the next sweep,
// in one execution, and their rows become complete. A second sweep while
// that execution has not run yet starts nothing: the rows were claimed
// (updated within the grace period), and even without a grace period the
// execution's name, from the same files and window, is that of the open
// execution.
func TestScenarioReconcileCopiesFilesWithoutEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	keys := []string{"lost/one.txt", "lost/two with space.txt"}
	var jobs []jobseed.Row
	for _, k := range keys {
		h.putObject(k, []byte("restored "+k))
		job := h.insertJob(k)
		h.age(job, 2*time.Hour)
		jobs = append(jobs, job)
	}

	gate := make(chan struct{})
	starter := &localrun.LocalExecutions{Runner: h.runner, Gate: gate}
	rec, err := localrun.Reconciler(h.runner, starter, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first, err := rec.Sweep(h.ctx)
	if err != nil {
		t.Fatalf("first sweep: %v", err)
	}
	if first.Stuck != 2 || first.Waiting != 2 || first.Started != 1 || len(first.Executions) != 1 || len(first.Executions[0].Files) != 2 {
		t.Fatalf("first sweep: %+v, want 2 stuck and waiting, one execution of both", first)
	}

	second, err := rec.Sweep(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Stuck != 0 || second.Started != 0 {
		t.Errorf("second sweep (same grace): stuck %d, started %d; want 0, 0", second.Stuck, second.Started)
	}
	// Without a grace period it lists them again and asks for the same
	// name with the same input while that execution is open: Step
	// Functions (and LocalExecutions) answer with the open execution,
	// whose start date is earlier than the call (a second at least: see
	// reconcile.CopyStarter.Start). The sweep's clock runs two seconds
	// ahead instead of the test sleeping; the window stays the same.
	rec.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
	rec.Config.Grace = time.Nanosecond
	third, err := rec.Sweep(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if third.Stuck != 2 || third.Started != 0 || third.AlreadyStarted != 1 {
		t.Errorf("sweep without grace: stuck %d, started %d, already started %d; want 2, 0, 1", third.Stuck, third.Started, third.AlreadyStarted)
	}

	close(gate)
	done := starter.Wait()
	if len(done) != 1 || done[0].Status != "SUCCEEDED" {
		t.Fatalf("executions %+v, want one that succeeded", done)
	}
	for i, job := range jobs {
		if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
			t.Errorf("%s: row %q %q, want complete without err_msg", keys[i], got.JobStatus, got.ErrMsg)
		}
		if b, ok := h.archived(keys[i]); !ok || !bytes.Equal(b, []byte("restored "+keys[i])) {
			t.Errorf("%s not archived intact", keys[i])
		}
	}

	// `go run ./cmd/local reconcile --json` on the same services: one more
	// lost file, one more execution.
	h.putObject("lost/three.txt", []byte("restored three"))
	job := h.insertJob("lost/three.txt")
	h.age(job, 3*time.Hour)
	var stdout, stderr bytes.Buffer
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return h.env[k] }}
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Minute)
	defer cancel()
	if code := cli.Main(ctx, []string{"reconcile", "--json", "--grace", "1h", "--log-file", t.TempDir() + "/reconcile.log"}); code != 0 {
		t.Fatalf("reconcile exit %d\nstderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var doc struct {
		Stuck, Started, Waiting, Expired, Missing int
		Executions                                []reconcile.ExecutionReport
		Outcomes                                  []localrun.LocalExecution
		Files                                     reconcile.NamedFiles
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if doc.Stuck != 1 || doc.Started != 1 || doc.Waiting != 1 || len(doc.Executions) != 1 || len(doc.Outcomes) != 1 || doc.Outcomes[0].Status != "SUCCEEDED" {
		t.Errorf("--json: %s", stdout.String())
	}
	if f := doc.Files.Started; len(f) != 1 || f[0].Key != "lost/three.txt" || f[0].RequestID != job.RequestID || f[0].Bucket == "" {
		t.Errorf("--json files.started %+v: want lost/three.txt, its bucket and request id", f)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" {
		t.Errorf("lost/three.txt: row %q, want complete", got.JobStatus)
	}
}

// Issue 22, item 1: a sweep while a file's execution is still working on
// it starts no second execution. The file was requested hours ago (its
// row's last_update_time is its request_time, past the grace), its event
// came and its execution is in "Copy file" (the fault proxy holds the
// CopyObject for seconds, as a throttled or slow copy would). "Find open
// job" marked the row as picked up, so the sweep, counting its grace from
// that mark, does not count the row as stuck; the execution completes the
// row with no err_msg.
func TestScenarioSweepLeavesAFileInFlightAlone(t *testing.T) {
	t.Parallel()
	held := &faultproxy.Rule{Match: faultproxy.IsCopyObject, Times: 1, Delay: 4 * time.Second}
	h := newHarness(t, harnessOptions{
		lambdaEnv: func(h *harness) map[string]string {
			proxy := h.s3Proxy(held)
			return map[string]string{"AWS_ENDPOINT_URL_S3": proxy.URL}
		},
	})
	const key = "in flight/slow copy.txt"
	h.putObject(key, []byte("restored in flight"))
	job := h.insertJob(key)
	h.age(job, 5*time.Hour) // a Standard restore's hours

	done := make(chan *execution.Result, 1)
	go func() {
		res, err := h.runner.Run(h.ctx, classicEvent(t, restoredFile{key: key, size: 18}))
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- res
	}()
	for deadline := time.Now().Add(2 * time.Minute); held.Hits() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the execution never reached its CopyObject")
		}
	}

	gate := make(chan struct{})
	starter := &localrun.LocalExecutions{Runner: h.runner, Gate: gate}
	rec, err := localrun.Reconciler(h.runner, starter, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sweep, err := rec.Sweep(h.ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if held.Hits() != 1 || len(done) != 0 {
		t.Fatal("the copy was no longer in flight when the sweep ran: the scenario proves nothing")
	}
	if sweep.Stuck != 0 || sweep.Started != 0 {
		t.Errorf("sweep while the copy is in flight: stuck %d, started %d; want 0, 0 (the row was marked when its job was found)", sweep.Stuck, sweep.Started)
	}
	close(gate)
	if extra := starter.Wait(); len(extra) != 0 {
		t.Errorf("the sweep started %d executions, want none: %+v", len(extra), extra)
	}

	res := <-done
	if res == nil {
		t.FailNow()
	}
	if diff := cmp.Diff([]contract.FileResult{{RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key,
		TargetBucket: archiveBucket, Success: true}}, outputResults(t, res)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row: status %q err_msg %q, want complete without err_msg", got.JobStatus, got.ErrMsg)
	}
}

// A mark that fails does not fail the copy, and is not silent: the file of
// scenario 12 (a copy paused in its Express child and once more in the
// Standard lane), with the database refusing every mark after the first two
// (a trigger raises on the third update that moves only last_update_time:
// the Express child's "Find open jobs" and the Standard child's "Find open
// job" mark the row first). "Mark copy resumed" fails with DatabaseError
// (not retried), its catcher keeps the error as the iteration's mark_error
// and resumes the copy; the file is copied and recorded complete, and
// request-status logged the failed mark.
func TestScenarioFailedMarkResumesTheCopy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{
		copyTimeout: 8500 * time.Millisecond,
		lambdaEnv: func(h *harness) map[string]string {
			proxy := h.s3Proxy(partGate(3), partGate(5))
			return resumableCopyEnv(proxy.URL)
		},
	})
	const key = "granules/mark refused+1.h5"
	body := make([]byte, 30<<20)
	rand.Read(body)
	h.putObject(key, body)
	job := h.insertJob(key)
	h.age(job, 5*time.Hour)
	// A failed update rolls its count back: every mark after the second is
	// refused.
	if _, err := h.db.Exec(h.ctx, `CREATE TABLE marks (n int NOT NULL); INSERT INTO marks VALUES (0);
CREATE FUNCTION refuse_third_mark() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    marked int;
BEGIN
    IF NEW.job_status IS NOT DISTINCT FROM OLD.job_status AND NEW.err_msg IS NOT DISTINCT FROM OLD.err_msg THEN
        UPDATE marks SET n = n + 1 RETURNING n INTO marked;
        IF marked > 2 THEN
            RAISE EXCEPTION 'test: marks refused';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_third_mark BEFORE UPDATE ON request_status FOR EACH ROW EXECUTE FUNCTION refuse_third_mark();`); err != nil {
		t.Fatal(err)
	}

	res := h.run(classicEvent(t, restoredFile{key: key, size: len(body)}))

	if diff := cmp.Diff([]contract.FileResult{{RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key,
		TargetBucket: archiveBucket, Success: true}}, outputResults(t, res)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	// The resumed pass's input carries the caught error (both engines
	// report a state's input as it enters; a caught state's exit differs).
	var markErrors []string
	for _, ev := range res.History {
		if ev.Type == "StateEntered" && ev.State != nil && ev.State.Name == "Copy file" {
			var it contract.Iteration
			if err := json.Unmarshal(ev.State.Input, &it); err != nil {
				t.Fatalf("Copy file input %s: %v", ev.State.Input, err)
			}
			if it.MarkError != nil {
				markErrors = append(markErrors, it.MarkError.Error)
			}
		}
	}
	if len(markErrors) != 1 || markErrors[0] != "DatabaseError" {
		t.Errorf("the resumed Copy file pass got mark_error %v, want one DatabaseError", markErrors)
	}
	if got, ok := h.archived(key); !ok || !bytes.Equal(got, body) {
		t.Errorf("%q not archived intact", key)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row: status %q err_msg %q, want complete without err_msg", got.JobStatus, got.ErrMsg)
	}
	if out := h.out.String(); !strings.Contains(out, "request status mark_picked_up") || !strings.Contains(out, "test: marks refused") {
		t.Errorf("the runner's output has no log line of the refused mark")
	}
}
