package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// failedIterations returns n iterations: every third one succeeded when
// withSuccesses, the others failed as a missing source does, with a
// realistic copy-file message, a versioned key and a restore expiry.
func failedIterations(n int, withSuccesses bool) []contract.Iteration {
	var its []contract.Iteration
	for i := range n {
		f := contract.File{
			SourceBucket: "my-dr-fake-glacier-bucket",
			SourceKey:    fmt.Sprintf("dr-glacier/MOD09GQ.A0219114.N5aUCG.006.%013d.hdf", i),
			Size:         5242880, VersionID: fmt.Sprintf("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY%04d", i),
			ETag: "b1946ac92492d2347c6235b4d2611184", RestoreExpiryTime: "2026-11-25T00:00:00Z",
		}
		job := &contract.Job{RequestID: fmt.Sprintf("5f0c4a8e-8d0e-4d39-9a53-%012d", i), TargetBucket: "my-dr-archive-bucket"}
		if withSuccesses && i%3 == 0 {
			its = append(its, contract.Iteration{File: f, Job: job, Copy: &contract.CopyOutcome{TargetBucket: job.TargetBucket, Complete: true},
				Recorded: &contract.Recorded{JobStatus: "complete"}})
			continue
		}
		msg := fmt.Sprintf("copy s3://%s/%s to s3://%s/%s: NoSuchKey: The specified key does not exist.",
			f.SourceBucket, f.SourceKey, job.TargetBucket, f.SourceKey)
		its = append(its, contract.Iteration{File: f, Job: job, Recorded: &contract.Recorded{JobStatus: "error"},
			CopyError: &contract.StateError{Error: "PermanentCopyError", Cause: aggLambdaCause("PermanentCopyError", msg)}})
	}
	return its
}

func aggregateError(t testing.TB, its []contract.Iteration) *CopyRequestError {
	t.Helper()
	_, err := Aggregate(contract.AggregateRequest{Iterations: its})
	cre, ok := err.(*CopyRequestError)
	if !ok {
		t.Fatalf("error %v is a %T, want *CopyRequestError", err, err)
	}
	return cre
}

// The re-run input names exactly the failed files, version ids and expiry
// kept, and the workflow's parser reads them back.
func TestRerunInputNamesTheFailedFiles(t *testing.T) {
	its := failedIterations(5, true) // files 0 and 3 succeeded
	cre := aggregateError(t, its)
	results, input, err := ParseMessage(cre.Error())
	if err != nil {
		t.Fatalf("ParseMessage: %v\n%s", err, cre.Error())
	}
	if len(results) != 3 {
		t.Errorf("%d results listed, want the 3 failed files'", len(results))
	}
	files, err := parseevent.ParseEvent(input)
	if err != nil {
		t.Fatalf("the re-run input does not parse: %v\n%s", err, input)
	}
	want := []contract.File{its[1].File, its[2].File, its[4].File}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("re-run files (-want +got):\n%s", diff)
	}
	if !bytes.Equal(input, cre.Rerun()) {
		t.Errorf("message input %s differs from Rerun() %s", input, cre.Rerun())
	}
	if cre.LeftOut() != 0 {
		t.Errorf("LeftOut = %d, want 0", cre.LeftOut())
	}
	if !strings.Contains(cre.Error(), "\nRe-run input for the 3 failed files (start a new execution") {
		t.Errorf("message lacks the re-run line:\n%s", cre.Error())
	}
}

// A failed file's result says until when its restored copy can be re-run;
// a successful one says nothing about it.
func TestFailedResultNamesRestoreExpiry(t *testing.T) {
	its := failedIterations(2, true)
	ok, failed := IterationResult(its[0]), IterationResult(its[1])
	if ok.RestoreExpiryTime != "" || strings.Contains(ok.ErrMsg, "re-run") {
		t.Errorf("successful result %+v mentions the expiry", ok)
	}
	if failed.RestoreExpiryTime != "2026-11-25T00:00:00Z" {
		t.Errorf("restore_expiry_time = %q", failed.RestoreExpiryTime)
	}
	if want := "NoSuchKey: The specified key does not exist.; restored copy expires 2026-11-25T00:00:00Z: re-run before then or restore again"; !strings.Contains(failed.ErrMsg, want) {
		t.Errorf("err_msg %q lacks %q", failed.ErrMsg, want)
	}
	noExpiry := its[1]
	noExpiry.File.RestoreExpiryTime = ""
	if r := IterationResult(noExpiry); strings.Contains(r.ErrMsg, "re-run") || r.RestoreExpiryTime != "" {
		t.Errorf("without an expiry the result says %+v", r)
	}
}

// causeChars is the cause's length as Step Functions counts it.
func causeChars(msg string) int { return contract.CauseChars(contract.ErrorTypeCopyRequest, msg) }

// The cause never exceeds AWS's limit. Every failed file's result stays listed
// (error messages shortened if the list alone is too long); beyond the
// limit the re-run input names the first K failed files, K as large as
// fits, and says how many were left out and where the full input is.
func TestCauseFitsTheLimit(t *testing.T) {
	for _, tc := range []struct {
		n             int
		withSuccesses bool
		wantAll       bool
	}{
		{1, false, true}, {10, false, true}, {30, true, true}, {40, false, false}, {60, true, false}, {100, false, false},
	} {
		t.Run(fmt.Sprintf("%d files, successes %v", tc.n, tc.withSuccesses), func(t *testing.T) {
			its := failedIterations(tc.n, tc.withSuccesses)
			cre := aggregateError(t, its)
			msg := cre.Error()
			if got := causeChars(msg); got > contract.MaxCauseChars {
				t.Fatalf("cause has %d characters, limit %d", got, contract.MaxCauseChars)
			}
			results, input, err := ParseMessage(msg)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if len(results) != len(cre.Failed) {
				t.Errorf("%d results listed, want every failed file's (%d)", len(results), len(cre.Failed))
			}
			files, err := parseevent.ParseEvent(input)
			k := len(files)
			if err != nil {
				if input == nil || !strings.Contains(string(input), `"Records":[]`) {
					t.Fatalf("re-run input %s: %v", input, err)
				}
				k = 0 // no file fits: an empty event, which parse-event rejects
			}
			if diff := cmp.Diff(cre.Failed[:k], files[:k], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("re-run files are not the first %d failed (-want +got):\n%s", k, diff)
			}
			if cre.LeftOut() != len(cre.Failed)-k {
				t.Errorf("LeftOut = %d, message names %d of %d", cre.LeftOut(), k, len(cre.Failed))
			}
			t.Logf("%d failed of %d: cause %d characters, %d failed files in the re-run input", len(cre.Failed), tc.n, causeChars(msg), k)
			if tc.wantAll {
				if k != len(cre.Failed) {
					t.Fatalf("%d of %d failed files in the re-run input, want all", k, len(cre.Failed))
				}
				return
			}
			if k == len(cre.Failed) {
				t.Fatalf("re-run input names all %d failed files; want some left out", k)
			}
			wantNote := fmt.Sprintf("Re-run input for %d of the %d failed files (start a new execution with it once the cause is fixed; %d failed files are left out",
				k, len(cre.Failed), len(cre.Failed)-k)
			if !strings.Contains(msg, wantNote) || !strings.Contains(msg, `the aggregate function's log has the full re-run input, in its "re-run input" line`) {
				t.Errorf("message lacks the left-out note %q:\n%.600s", wantNote, msg[strings.Index(msg, "\nRe-run"):])
			}
			// K is the most that fits: one more file would not.
			if more := cre.message(layout{results, nil, k + 1}); causeChars(more) <= contract.MaxCauseChars {
				t.Errorf("%d files fit, but %d would fit too (%d characters)", k, k+1, causeChars(more))
			}
		})
	}
}

// The handler logs the full re-run input, also when the message left files
// out. 50 files: an event parse-event accepts (contract.FilesWithinReport),
// so the logged input, a part of it, is accepted too.
func TestHandlerLogsTheFullRerunInput(t *testing.T) {
	its := failedIterations(50, false)
	var logs bytes.Buffer
	h := &AggregateHandler{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	_, err := h.Report(context.Background(), contract.AggregateRequest{Iterations: its})
	cre := err.(*CopyRequestError)
	if cre.LeftOut() == 0 {
		t.Fatal("50 failed files fit the cause; the test needs some left out")
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg      string          `json:"msg"`
			Failed   int             `json:"failed"`
			LeftOut  int             `json:"left_out_of_cause"`
			Input    json.RawMessage `json:"input"`
			Level    string          `json:"level"`
			Filtered bool
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Msg != LogRerunInput {
			continue
		}
		found = true
		files, err := parseevent.ParseEvent(rec.Input)
		if err != nil {
			t.Fatalf("logged input: %v", err)
		}
		if len(files) != 50 || rec.Failed != 50 || rec.LeftOut != cre.LeftOut() {
			t.Errorf("logged %d files, failed=%d, left_out=%d; want 50, 50, %d", len(files), rec.Failed, rec.LeftOut, cre.LeftOut())
		}
	}
	if !found {
		t.Errorf("no %q line in the log:\n%.2000s", LogRerunInput, logs.String())
	}
}

// An event rejected as a whole names no file: no re-run line.
func TestRejectedEventHasNoRerunInput(t *testing.T) {
	_, err := Aggregate(contract.AggregateRequest{EventError: &contract.StateError{Error: "InvalidEventError", Cause: "bad"}})
	cre := err.(*CopyRequestError)
	if cre.Rerun() != nil || strings.Contains(cre.Error(), "Re-run") {
		t.Errorf("rejected event has a re-run input: %s", cre.Error())
	}
}

// BenchmarkCopyRequestError renders the cause for 1, 10 and 100 failed
// files and reports its size (cause-chars) and how many failed files its
// re-run input names (rerun-files).
func BenchmarkCopyRequestError(b *testing.B) {
	for _, n := range []int{1, 10, 50, 100} {
		b.Run(fmt.Sprintf("failed-%d", n), func(b *testing.B) {
			its := failedIterations(n, false)
			var cre *CopyRequestError
			for b.Loop() {
				cre = aggregateError(b, its)
				_ = cre.Error()
			}
			b.ReportMetric(float64(causeChars(cre.Error())), "cause-chars")
			b.ReportMetric(float64(len(cre.Failed)-cre.LeftOut()), "rerun-files")
		})
	}
}

// The aggregate function's EMF lines: files copied, and files failed by
// error name. A duplicate left alone ("Already copied") succeeds but is
// not counted as copied: the request's line says already_copied instead.
func TestAggregateWritesEMF(t *testing.T) {
	its := failedIterations(6, true) // 0 and 3 copied, 4 failed with PermanentCopyError
	its = append(its, contract.Iteration{File: its[0].File, LookupError: &contract.StateError{Error: "NoOpenJobError", Cause: "none"}},
		contract.Iteration{File: its[0].File, Job: &contract.Job{RequestID: "req-dup", TargetBucket: "archive", AlreadyComplete: true}})
	var out bytes.Buffer
	h := &AggregateHandler{Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(slog.New(slog.NewJSONHandler(&out, nil)), "aggregate")}
	h.Report(context.Background(), contract.AggregateRequest{Iterations: its})
	got := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if l["Function"] != "aggregate" {
			t.Errorf("line without Function: %s", line)
		}
		for _, m := range []string{metrics.FilesCopied, metrics.FilesFailed} {
			if v, ok := l[m].(float64); ok {
				name, _ := l[metrics.DimensionErrorName].(string)
				got[strings.TrimSpace(m+" "+name)] = v
			}
		}
	}
	want := map[string]float64{"FilesCopied": 2, "FilesFailed PermanentCopyError": 4, "FilesFailed NoOpenJobError": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s\n%s", diff, out.String())
	}
	if !strings.Contains(out.String(), `"files":8,"failed":5,"already_copied":1`) {
		t.Errorf("the request's line does not say files 8, failed 5, already_copied 1:\n%s", out.String())
	}
}
