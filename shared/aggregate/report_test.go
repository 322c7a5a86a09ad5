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

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// standardIteration is the Standard lane's iteration of a file it copied
// and recorded (today's per-file iteration).
func standardIteration(f contract.File) contract.Iteration {
	return contract.Iteration{File: f, Job: &contract.Job{RequestID: "req-" + f.SourceKey, TargetBucket: "archive"},
		Copy: &contract.CopyOutcome{TargetBucket: "archive", TargetKey: f.SourceKey, Complete: true}, Recorded: aggComplete}
}

// reportRequest is "Report results"' input: done, the Standard items of
// standard, the Standard lane's Map output and the rejected messages.
func reportRequest(t *testing.T, done []contract.Iteration, standard []contract.File, results any, rejected ...contract.RejectedMessage) contract.AggregateRequest {
	t.Helper()
	raw, err := json.Marshal(results)
	if err != nil {
		t.Fatal(err)
	}
	req := contract.AggregateRequest{Done: done, StandardResults: raw, Rejected: rejected}
	for _, f := range standard {
		req.Standard = append(req.Standard, contract.StandardItem{File: f})
	}
	return req
}

// The report reads each shape of the Standard lane's output: iterations,
// a failed child's {Error, Cause}, anything else, a missing entry, and the
// Map's catch; the files it did not finish fail with the reason.
func TestReportReadsTheStandardLane(t *testing.T) {
	f := make([]contract.File, 6)
	for i := range f {
		f[i] = chunkFile(i)
	}
	f[4].RestoreExpiryTime = "2026-12-24T00:00:00Z"
	failedChild := map[string]string{"Error": "States.Timeout", "Cause": "the execution timed out"}
	for _, tc := range []struct {
		name       string
		req        contract.AggregateRequest
		wantFailed map[string]string // key: err_msg
		wantNames  []string          // FilesFailed error names, by failed file
	}{
		{
			name: "all copied, in either lane",
			req:  reportRequest(t, []contract.Iteration{copiedExpress(f[0])}, f[1:3], []contract.Iteration{standardIteration(f[1]), standardIteration(f[2])}),
		},
		{
			name: "a failed child, a stray document, a missing entry, another file reported",
			req: reportRequest(t, []contract.Iteration{copiedExpress(f[0])}, f[1:6],
				[]any{standardIteration(f[1]), failedChild, []int{7}, standardIteration(f[0])}),
			wantFailed: map[string]string{
				f[2].SourceKey: "the Standard lane's execution for this file failed: States.Timeout: the execution timed out",
				f[3].SourceKey: "the Standard lane's execution for this file failed: [7]",
				f[4].SourceKey: "the Standard lane gave no result for this file; " +
					"restored copy expires 2026-12-24T00:00:00Z: re-run before then or restore again",
				f[5].SourceKey: "the Standard lane gave no result for this file",
			},
			wantNames: []string{"States.Timeout", errorNameNoResult, errorNameNoResult, errorNameNoResult},
		},
		{
			name: "a list short of a failed child's entry: the others keep their own results",
			req:  reportRequest(t, nil, f[1:4], []any{standardIteration(f[1]), standardIteration(f[3])}),
			wantFailed: map[string]string{
				f[2].SourceKey: "the Standard lane gave no result for this file",
			},
			wantNames: []string{errorNameNoResult},
		},
		{
			name: "the Map's catch: every Standard file fails with it",
			req:  reportRequest(t, []contract.Iteration{copiedExpress(f[0])}, f[1:3], map[string]string{"Error": "States.ItemReaderFailed", "Cause": "gone"}),
			wantFailed: map[string]string{
				f[1].SourceKey: "the Standard lane failed before this file's result: States.ItemReaderFailed: gone",
				f[2].SourceKey: "the Standard lane failed before this file's result: States.ItemReaderFailed: gone",
			},
			wantNames: []string{"States.ItemReaderFailed", "States.ItemReaderFailed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcomes, err := aggregate(tc.req)
			if len(outcomes) != len(tc.req.Done)+len(tc.req.Standard) {
				t.Fatalf("%d outcomes for %d done and %d standard", len(outcomes), len(tc.req.Done), len(tc.req.Standard))
			}
			gotFailed := map[string]string{}
			var gotNames []string
			for _, o := range outcomes {
				if !o.result.Success {
					gotFailed[o.result.SourceKey] = o.result.ErrMsg
					gotNames = append(gotNames, o.errorName)
				}
			}
			if len(tc.wantFailed) == 0 {
				if err != nil {
					t.Fatalf("Aggregate: %v", err)
				}
				return
			}
			if diff := cmp.Diff(tc.wantFailed, gotFailed); diff != "" {
				t.Errorf("failed files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNames, gotNames); diff != "" {
				t.Errorf("error names (-want +got):\n%s", diff)
			}
			cre, ok := err.(*CopyRequestError)
			if !ok || len(cre.Results) != len(tc.wantFailed) || cre.Files != len(outcomes) {
				t.Fatalf("error %v (%T), want a CopyRequestError of the %d failed files of %d", err, err, len(tc.wantFailed), len(outcomes))
			}
		})
	}
}

// The cause lists only the failed files, sums the batch up, gives the
// re-run input and lists each rejected message; ParseReport reads it all
// back.
func TestCauseListsFailedFilesAndRejectedMessages(t *testing.T) {
	f := []contract.File{chunkFile(0), chunkFile(1), chunkFile(2)}
	rejected := []contract.RejectedMessage{{Index: 3, MessageID: "m3", Error: `detail.object.key "a%zz": invalid URL escape "%zz"`}}
	req := reportRequest(t, []contract.Iteration{copiedExpress(f[0])}, f[1:],
		[]any{standardIteration(f[1]), map[string]string{"Error": "States.Timeout", "Cause": "timed out"}}, rejected...)
	_, err := Aggregate(req)
	cre, ok := err.(*CopyRequestError)
	if !ok {
		t.Fatalf("error %v (%T), want *CopyRequestError", err, err)
	}
	msg := cre.Error()
	wantStart := `File copy failed. [{"request_id":"","source_bucket":"restore","source_key":"granules/002.h5","target_bucket":"",` +
		`"success":false,"err_msg":"the Standard lane's execution for this file failed: States.Timeout: timed out"}]` + "\n" +
		"1 of 3 files failed; 1 message of the batch rejected.\n" +
		"Re-run input for the failed file (start a new execution with it once the cause is fixed): "
	wantEnd := "\nRejected messages of the batch (send each one's event again once the cause is fixed): " +
		`[{"index":3,"message_id":"m3","error":"detail.object.key \"a%zz\": invalid URL escape \"%zz\""}]`
	if !strings.HasPrefix(msg, wantStart) || !strings.HasSuffix(msg, wantEnd) {
		t.Fatalf("message\n%s\nwant it to start\n%s\nand end\n%s", msg, wantStart, wantEnd)
	}
	report, err := ParseReport(msg)
	if err != nil {
		t.Fatal(err)
	}
	rerun, err := parseevent.ParseEvent(report.Rerun)
	if err != nil || len(rerun) != 1 || rerun[0] != f[2] {
		t.Errorf("re-run input names %+v (%v), want only %+v", rerun, err, f[2])
	}
	if diff := cmp.Diff(rejected, report.Rejected); diff != "" {
		t.Errorf("rejected messages read back (-want +got):\n%s", diff)
	}
}

// Rejected messages alone fail the execution, every file copied: the
// operator must see them.
func TestRejectedMessagesAloneFailTheExecution(t *testing.T) {
	req := reportRequest(t, []contract.Iteration{copiedExpress(chunkFile(0))}, nil, []any{},
		contract.RejectedMessage{Index: 1, MessageID: "m1", Error: "event is not valid JSON"})
	_, err := Aggregate(req)
	cre, ok := err.(*CopyRequestError)
	if !ok {
		t.Fatalf("error %v (%T), want *CopyRequestError", err, err)
	}
	report, perr := ParseReport(cre.Error())
	if perr != nil || len(report.Results) != 0 || report.Rerun != nil || len(report.Rejected) != 1 ||
		!strings.Contains(cre.Error(), "\n0 of 1 files failed; 1 message of the batch rejected.\n") {
		t.Errorf("message %s read back as %+v (%v)", cre.Error(), report, perr)
	}
}

// 100 files of 1,024-byte keys all failing, and 100 messages rejected with
// long errors: the cause stays within 32,768 characters, names what it
// left out, and the log has everything.
func TestCauseFitsWithHundredLongKeys(t *testing.T) {
	var standard []contract.File
	var results []any
	var rejected []contract.RejectedMessage
	for i := range 100 {
		key := fmt.Sprintf("granules/%04d/", i)
		standard = append(standard, contract.File{SourceBucket: "my-dr-fake-glacier-bucket", SourceKey: key + strings.Repeat("é", (1024-len(key))/2),
			VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", RestoreExpiryTime: "2026-12-24T00:00:00Z"})
		results = append(results, map[string]string{"Error": "PermanentCopyError", "Cause": aggLambdaCause("PermanentCopyError",
			"copy s3://my-dr-fake-glacier-bucket/"+standard[i].SourceKey+": AccessDenied")})
		rejected = append(rejected, contract.RejectedMessage{Index: 100 + i, MessageID: fmt.Sprintf("%036d", i),
			Error: fmt.Sprintf(`detail.object.key %q: invalid URL escape "%%zz"`, strings.Repeat("k", 1000)+"%zz")})
	}
	var logs bytes.Buffer
	h := &AggregateHandler{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	_, err := h.Report(context.Background(), reportRequest(t, nil, standard, results, rejected...))
	cre, ok := err.(*CopyRequestError)
	if !ok {
		t.Fatalf("error %v (%T), want *CopyRequestError", err, err)
	}
	msg := cre.Error()
	if n := causeChars(msg); n > contract.MaxCauseChars {
		t.Fatalf("cause has %d characters, limit %d", n, contract.MaxCauseChars)
	}
	report, err := ParseReport(msg)
	if err != nil {
		t.Fatalf("ParseReport: %v", err)
	}
	if len(report.Results) == 0 || len(report.Results) == 100 {
		t.Fatalf("%d results listed: want the first ones, as many as fit", len(report.Results))
	}
	for i, r := range report.Results {
		if r.SourceKey != standard[i].SourceKey || r.ErrMsg == "" {
			t.Fatalf("result %d is %+v, want file %d's with its error", i, r, i)
		}
	}
	for _, want := range []string{"100 of 100 files failed; 100 messages of the batch rejected.",
		fmt.Sprintf("The list names the first %d failed files", len(report.Results)), `a "file failed" line for each`,
		"Re-run input for 0 of the 100 failed files", fmt.Sprintf("Rejected messages of the batch (the first %d of 100", len(report.Rejected)),
		`a "message rejected" line for each`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg[strings.LastIndex(msg, "}]\n"):])
		}
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg string }
		_ = json.Unmarshal([]byte(line), &rec)
		counts[rec.Msg]++
	}
	if counts[LogFileFailed] != 100 || counts[LogMessageRejected] != 100 || counts[LogRerunInput] != 1 {
		t.Errorf("log lines %v, want 100 %q, 100 %q, 1 %q", counts, LogFileFailed, LogMessageRejected, LogRerunInput)
	}
}

// With room after the failed files' results, the rejected messages come
// next, their errors shortened to fit, then the re-run input with what is
// left (here nothing).
func TestCauseSharesTheRoomInOrder(t *testing.T) {
	its := failedIterations(20, false)
	var rejected []contract.RejectedMessage
	for i := range 100 {
		rejected = append(rejected, contract.RejectedMessage{Index: 20 + i, MessageID: fmt.Sprint("m", i), Error: strings.Repeat("x", 400)})
	}
	_, err := Aggregate(contract.AggregateRequest{Iterations: its, Rejected: rejected})
	cre := err.(*CopyRequestError)
	msg := cre.Error()
	report, perr := ParseReport(msg)
	if perr != nil {
		t.Fatal(perr)
	}
	if causeChars(msg) > contract.MaxCauseChars || len(report.Results) != 20 || len(report.Rejected) != 100 {
		t.Fatalf("cause of %d characters lists %d results and %d of 100 rejected messages: want all of both",
			causeChars(msg), len(report.Results), len(report.Rejected))
	}
	if diff := cmp.Diff(cre.Results, report.Results); diff != "" {
		t.Errorf("results shortened, though they fit (-want +got):\n%s", diff)
	}
	for _, r := range report.Rejected {
		if !strings.HasSuffix(r.Error, "…") || len(r.Error) >= 400 {
			t.Fatalf("rejected error of %d bytes, want it cut to fit", len(r.Error))
		}
	}
	if cre.LeftOut() != 20 {
		t.Errorf("LeftOut = %d: the rejected messages left no room, want all 20 failed files left out of the re-run input", cre.LeftOut())
	}
}
