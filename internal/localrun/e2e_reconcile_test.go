package localrun_test

// The reconcile sweep end to end: rows whose restore event was never sent,
// a real S3 server holding the restored files, the sweep starting real
// executions of the definition on the local engine.

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// age makes a row look untouched for d.
func (h *harness) age(job jobseed.Row, d time.Duration) {
	h.t.Helper()
	if _, err := h.db.Exec(h.ctx, `UPDATE request_status SET last_update_time = now() - $2::interval, request_time = now() - $2::interval
		WHERE request_id = $1`, job.RequestID, d.String()); err != nil {
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
	rec, err := h.runner.Reconciler(starter, time.Hour)
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
	// reconcile.CopyStarter.Start).
	time.Sleep(1100 * time.Millisecond)
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
