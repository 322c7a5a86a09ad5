package localrun_test

// Scenarios of the batched definition's two lanes (issue 24): a copy the
// Express lane cannot finish within its budget goes on in the Standard
// lane, and a batch from the intake's Pipe is copied with its bad message
// rejected alone. Both run on either engine ($LOCAL_E2E_ENGINE).

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The copy states of the two lanes and the Maps running their children
// (statemachine/definition.asl.json).
const (
	expressCopyState  = "Copy file (Express)"
	standardCopyState = "Copy file"
	expressMap        = "Copy chunks"
	standardMap       = "Copy in the Standard lane"
)

// laneCopy is one pass of a copy state, as the history shows it: the
// child execution it ran in (the Distributed Map holding it) and its
// outcome.
type laneCopy struct {
	lane    string
	outcome contract.CopyOutcome
}

// copyPasses returns every pass through either lane's copy state, in the
// order the history shows them ended.
func copyPasses(t *testing.T, res *execution.Result) []laneCopy {
	t.Helper()
	var passes []laneCopy
	for _, ev := range res.History {
		if ev.Type != "StateExited" || ev.State == nil || (ev.State.Name != expressCopyState && ev.State.Name != standardCopyState) {
			continue
		}
		var it contract.Iteration
		if err := json.Unmarshal(ev.State.Output, &it); err != nil || it.Copy == nil {
			t.Fatalf("%s output %s: no copy outcome (%v)", ev.State.Name, ev.State.Output, err)
		}
		lane := "parent"
		if len(ev.Path) > 0 {
			lane = ev.Path[0].Map
		}
		passes = append(passes, laneCopy{lane: lane + ": " + ev.State.Name, outcome: *it.Copy})
	}
	return passes
}

// Scenario (issue 24): a 40 MiB object, 8 parts of 5 MiB copied one at a
// time. Its first pass runs in an Express child, told to return within
// statemachine.ExpressCopyBudgetSecs. A gate in the fault proxy holds the
// first copy of part 3 (it never forwards it) until the copier gives up at
// its budget's copy deadline (the budget less the 5 s margin: the Lambda's
// own deadline, 900 s, is far), so that pass copies exactly parts 1 and 2
// and returns complete=false with its resume token; "Copy finished?
// (Express)" hands the file over, "Sort results" gives it to the Standard
// lane with the token, and a Standard child's "Copy file" resumes the same
// upload and copies parts 3 to 8. The history shows both lanes; each part
// is forwarded once, one upload is created and none left open, the bytes
// are the source's and the row is complete. The run takes the budget's 40 s
// of waiting.
func TestScenarioExpressBudgetHandsOverToStandardLane(t *testing.T) {
	t.Parallel()
	gate := &faultproxy.Rule{Match: func(r *http.Request) bool {
		n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		return faultproxy.IsUploadPartCopy(r) && err == nil && n >= 3
	}, Times: 1, Delay: time.Hour}
	parts := &faultproxy.Rule{Match: faultproxy.IsUploadPartCopy} // counts the parts forwarded
	creates := &faultproxy.Rule{Match: func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("uploads") }}
	h := newHarness(t, harnessOptions{lambdaEnv: func(h *harness) map[string]string {
		proxy := h.s3Proxy(creates, gate, parts)
		return resumableCopyEnv(proxy.URL)
	}})
	const key = "granules/cut by the Express budget+1.h5"
	body := make([]byte, 40<<20)
	rand.Read(body)
	h.putObject(key, body)
	job := h.insertJob(key)

	res := h.run(classicEvent(t, restoredFile{key: key, size: len(body)}))
	t.Logf("execution took %v", res.Duration.Round(time.Millisecond))

	want := []contract.FileResult{{RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key, TargetBucket: archiveBucket, Success: true}}
	if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	passes := copyPasses(t, res)
	var lanes []string
	for _, p := range passes {
		lanes = append(lanes, p.lane)
		t.Logf("%s: complete=%v parts %d/%d in %d ms", p.lane, p.outcome.Complete, p.outcome.PartsDone, p.outcome.PartsTotal, p.outcome.DurationMS)
	}
	wantLanes := []string{expressMap + ": " + expressCopyState, standardMap + ": " + standardCopyState}
	if diff := cmp.Diff(wantLanes, lanes); diff != "" {
		t.Fatalf("copy passes by lane (-want +got):\n%s", diff)
	}
	first, last := passes[0].outcome, passes[1].outcome
	if first.Complete || first.PartsDone != 2 || first.PartsTotal != 8 || first.UploadID == "" {
		t.Errorf("Express pass = %+v, want incomplete with parts 1 and 2 of 8 and a resume token", first)
	}
	if !last.Complete || last.PartsDone != 8 || last.BytesDone != 40<<20 || last.Passes != 2 {
		t.Errorf("Standard lane pass = %+v, want the second pass, complete with 8 parts", last)
	}
	checkHandedOver(t, res)
	if h.engine == stepengine.EngineMoto {
		// AWS's history: the Standard lane's attempt's
		// LambdaFunctionScheduled input carries $$.State.RetryCount
		// (engine_compare_test pins the count over retries and the Node
		// engine's constant 0).
		if diff := cmp.Diff([]int{0}, scheduledRetryCounts(t, res, standardCopyState)); diff != "" {
			t.Errorf("retry_count of the Standard lane's copy attempts (-want +got):\n%s", diff)
		}
	}
	if creates.Hits() != 1 || gate.Hits() != 1 || parts.Hits() != 8 {
		t.Errorf("%d uploads created, %d part copies held, %d forwarded; want 1, 1 and 8 (the Standard lane resumes the upload)",
			creates.Hits(), gate.Hits(), parts.Hits())
	}
	if got, ok := h.archived(key); !ok || !bytes.Equal(got, body) {
		t.Errorf("%q archived: %v, same bytes: %v", key, ok, bytes.Equal(got, body))
	}
	if n := h.openUploads(); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row: status %q err_msg %q, want complete", got.JobStatus, got.ErrMsg)
	}
}

// checkHandedOver checks that the Express child handed the file over
// because its copy was unfinished (no error caught), once.
func checkHandedOver(t *testing.T, res *execution.Result) {
	t.Helper()
	handovers := 0
	for _, ev := range res.History {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Hand over to the Standard lane" {
			var it contract.Iteration
			if err := json.Unmarshal(ev.State.Output, &it); err != nil || it.Handover == nil || it.Handover.Lane != "standard" || it.HandoverError != nil {
				t.Errorf("hand-over output %s: want lane standard and no error (%v)", ev.State.Output, err)
			}
			handovers++
		}
	}
	if handovers != 1 {
		t.Errorf("%d hand-overs to the Standard lane, want 1", handovers)
	}
	if got := countEvents(res, "StateEntered", "Copy finished? (Express)"); got != 1 {
		t.Errorf("Copy finished? (Express) entered %d times, want once", got)
	}
}

// pipeMessage is one SQS message as the intake's EventBridge Pipe hands it
// to the execution: the body is a string holding the event.
func pipeMessage(t *testing.T, id, body string) map[string]any {
	t.Helper()
	return map[string]any{
		"messageId": id, "receiptHandle": "AQEB" + id, "body": body,
		"attributes":        map[string]any{"ApproximateReceiveCount": "1", "SentTimestamp": "1796670000000"},
		"messageAttributes": map[string]any{}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
		"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:restore-intake", "awsRegion": "us-east-1",
	}
}

// restoreCompleted is the EventBridge "Object Restore Completed" event of
// one object in the restore bucket, its key encoded as S3 does.
func restoreCompleted(key string, size int, etag string) string {
	return fmt.Sprintf(`{"version":"0","id":"e-%s","detail-type":"Object Restore Completed","source":"aws.s3",`+
		`"account":"111122223333","time":"2026-12-07T12:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::%s"],`+
		`"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":%d,"etag":%q},`+
		`"restore-expiry-time":"2026-12-14T00:00:00Z","source-storage-class":"GLACIER"}}`,
		randomHex(4), restoreBucket, restoreBucket, url.QueryEscape(key), size, etag)
}

// Scenario (issue 24): a batch as the intake's Pipe starts an execution
// with: a JSON list of SQS messages, each body a restore event. The
// second message's event names no key: parse-event rejects it alone
// (its index and message id), the other two files are copied and their
// rows complete, and the report fails the execution with CopyRequestError
// naming the rejected message and no failed file.
func TestScenarioBatchWithABadMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	keys := []string{"granules/batch one.h5", "granules/batch two+2.h5"}
	var jobs []jobseed.Row
	bodies := map[string][]byte{}
	var messages []any
	for i, key := range keys {
		bodies[key] = []byte(fmt.Sprintf("batch file %d: %s", i, randomHex(32)))
		_, etag := h.putObject(key, bodies[key])
		jobs = append(jobs, h.insertJob(key))
		messages = append(messages, pipeMessage(t, fmt.Sprintf("msg-%d", i), restoreCompleted(key, len(bodies[key]), etag)))
	}
	const badID = "msg-bad"
	bad := strings.Replace(restoreCompleted("granules/never named.h5", 1, "x"), `"key":"granules%2Fnever+named.h5",`, "", 1)
	messages = append(messages[:1], append([]any{pipeMessage(t, badID, bad)}, messages[1:]...)...)
	batch, err := json.Marshal(messages)
	if err != nil {
		t.Fatal(err)
	}

	res := h.run(batch)

	if res.Succeeded() || res.ErrorName() != "CopyRequestError" {
		t.Fatalf("execution %s with error %q (%s), want FAILED with CopyRequestError for the rejected message", res.Status, res.ErrorName(), res.CauseText())
	}
	if !strings.Contains(res.CauseText(), badID) || !strings.Contains(res.CauseText(), "key") {
		t.Errorf("cause %q does not name the rejected message %s and its missing key", res.CauseText(), badID)
	}
	for _, key := range keys {
		if strings.Contains(res.CauseText(), key) {
			t.Errorf("cause %q names %s, which was copied", res.CauseText(), key)
		}
	}
	checkRejected(t, res, badID)
	for _, key := range keys {
		if got, ok := h.archived(key); !ok || !bytes.Equal(got, bodies[key]) {
			t.Errorf("%q archived: %v, same bytes: %v", key, ok, bytes.Equal(got, bodies[key]))
		}
	}
	for _, job := range jobs {
		if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
			t.Errorf("row %s: status %q err_msg %q, want complete", job.ObjectKey, got.JobStatus, got.ErrMsg)
		}
	}
	if got := res.Calls[statemachine.FunctionCopyFileExpress]; got != len(keys) {
		t.Errorf("%d copy-file-express calls, want %d (one per good message)", got, len(keys))
	}
}

// checkRejected checks "Read restored files" rejected exactly the message
// id, at index 1, and kept the two files.
func checkRejected(t *testing.T, res *execution.Result, id string) {
	t.Helper()
	for _, ev := range res.History {
		if ev.Type != "StateExited" || ev.State == nil || ev.State.Name != "Read restored files" {
			continue
		}
		// Its ResultSelector hands on the files cut into chunks.
		var parsed struct {
			Chunks   [][]contract.File          `json:"chunks"`
			Rejected []contract.RejectedMessage `json:"rejected"`
		}
		if err := json.Unmarshal(ev.State.Output, &parsed); err != nil {
			t.Fatalf("Read restored files output %s: %v", ev.State.Output, err)
		}
		files := 0
		for _, c := range parsed.Chunks {
			files += len(c)
		}
		if files != 2 || len(parsed.Rejected) != 1 || parsed.Rejected[0].Index != 1 || parsed.Rejected[0].MessageID != id {
			t.Errorf("parsed batch: %d files, rejected %+v; want 2 files and message %s (index 1) rejected", files, parsed.Rejected, id)
		}
		return
	}
	t.Error("the history has no exit of Read restored files")
}

// Scenario: two small files reach the Standard lane without a resume
// token, throttled past the deferral rounds: the Invoke API refuses the
// first 3 x statemachine.DeferMaxRounds invocations of request-status, so
// every round's "Find open jobs" is throttled three times (its short
// retrier's two retries, then the hand-over) and no Express copy runs.
// The Standard lane then gets both files: "Small copy?" sends the one
// whose event gives its size to "Copy small file", copy-file-express
// (128 MB), and the one whose event gives none (size 0) to "Copy file",
// copy-file (1,769 MB). Each copy function runs its handler once; both
// files are archived and their rows complete.
func TestScenarioSmallFileCopiedByCopyFileExpressInTheStandardLane(t *testing.T) {
	t.Parallel()
	throttles := 3 * statemachine.DeferMaxRounds
	h := newHarness(t, harnessOptions{throttleFirst: throttles, throttleOnly: []string{statemachine.FunctionRequestStatus}})
	sized, unsized := "granules/small, its size given.h5", "granules/small, no size given.h5"
	bodies := map[string][]byte{}
	var jobs []jobseed.Row
	for _, key := range []string{sized, unsized} {
		bodies[key] = []byte("throttled past the rounds " + randomHex(16))
		h.putObject(key, bodies[key])
		jobs = append(jobs, h.insertJob(key))
	}

	res := h.run(classicEvent(t, restoredFile{key: sized, size: len(bodies[sized])}, restoredFile{key: unsized}))

	results := outputResults(t, res)
	if len(results) != 2 || !results[0].Success || !results[1].Success {
		t.Fatalf("results %+v, want both files copied", results)
	}
	copied := map[string]string{}
	for _, ev := range res.History {
		if ev.Type != "StateEntered" || ev.State == nil {
			continue
		}
		switch ev.State.Name {
		case statemachine.StandardSmallCopyState, statemachine.StandardCopyState, expressCopyState:
			var it contract.Iteration
			if err := json.Unmarshal(ev.State.Input, &it); err != nil {
				t.Fatalf("%s input %s: %v", ev.State.Name, ev.State.Input, err)
			}
			lane := "parent"
			if len(ev.Path) > 0 {
				lane = ev.Path[0].Map
			}
			if prev, ok := copied[it.File.SourceKey]; ok {
				t.Errorf("%s copied twice: %s, then %s", it.File.SourceKey, prev, ev.State.Name)
			}
			copied[it.File.SourceKey] = lane + ": " + ev.State.Name
		}
	}
	want := map[string]string{sized: standardMap + ": " + statemachine.StandardSmallCopyState, unsized: standardMap + ": " + statemachine.StandardCopyState}
	if diff := cmp.Diff(want, copied); diff != "" {
		t.Errorf("copy states by file (-want +got):\n%s", diff)
	}
	if got := map[string]int{"copy-file": res.Calls[statemachine.FunctionCopyFile], "copy-file-express": res.Calls[statemachine.FunctionCopyFileExpress]}; !cmp.Equal(got, map[string]int{"copy-file": 1, "copy-file-express": 1}) {
		t.Errorf("copy handler runs %v, want one each (throttled: %v)", got, res.Throttled)
	}
	if got := res.Throttled[statemachine.FunctionRequestStatus]; got != throttles {
		t.Errorf("request-status throttled %d times, want %d (three in each round)", got, throttles)
	}
	if got := countEvents(res, "StateEntered", "Wait before going round"); got != statemachine.DeferMaxRounds-1 {
		t.Errorf("Wait before going round entered %d times, want %d (every round throttled)", got, statemachine.DeferMaxRounds-1)
	}
	for key, body := range bodies {
		if got, ok := h.archived(key); !ok || !bytes.Equal(got, body) {
			t.Errorf("%q archived: %v, same bytes: %v", key, ok, bytes.Equal(got, body))
		}
	}
	for _, job := range jobs {
		if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
			t.Errorf("row %s: status %q err_msg %q, want complete", job.ObjectKey, got.JobStatus, got.ErrMsg)
		}
	}
}
