package statemachine

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

// TestHistoryBoundMatchesMoto cross-checks HistoryBound's per-event counts
// against a real engine: moto's Step Functions interpreter, which writes
// AWS's history event types, runs testdata/history-retried.asl.json for two
// files against a stand-in Invoke API that fails every invocation with
// TransientCopyError. Each "Copy" makes its 3 attempts (the first and the
// retrier's 2; the throttling retrier's attempt is never used: the bound
// counts it) and its Catch goes to "Copy failed", the longest path. So the
// history has HistoryBound's count less 3 events per file for that unused
// throttled attempt:
//
//	ExecutionStarted, MapStateEntered, MapStateStarted,
//	per file: MapIterationStarted, TaskStateEntered,
//	  3 x (LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionFailed),
//	  TaskStateExited, PassStateEntered, PassStateExited, MapIterationSucceeded,
//	MapStateSucceeded, MapStateExited, SucceedStateEntered, SucceedStateExited,
//	ExecutionSucceeded
func TestHistoryBoundMatchesMoto(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto (about 10 s)")
	}
	python := os.Getenv("LOCAL_PYTHON")
	if python == "" {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import moto, boto3").Run(); err != nil {
		testenv.Unavailable(t, "needs Python 3 with moto 5 and boto3 ("+python+"): "+err.Error())
	}
	def, err := os.ReadFile("testdata/history-retried.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	const files = 2
	out, err := exec.CommandContext(t.Context(), python, "testdata/history_moto.py", "testdata/history-retried.asl.json",
		`{"files": [{"key": "a"}, {"key": "b"}]}`, "TransientCopyError").Output()
	if err != nil {
		t.Fatalf("moto run: %v\n%s", err, out)
	}
	var run struct {
		Status string   `json:"status"`
		Events []string `json:"events"`
	}
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("moto output %q: %v", out, err)
	}
	bound, err := HistoryBound(def, files)
	if err != nil {
		t.Fatal(err)
	}
	unusedThrottleAttempt := lambdaAttemptEvents
	if want := bound - files*unusedThrottleAttempt; run.Status != "SUCCEEDED" || len(run.Events) != want {
		t.Errorf("moto: %s with %d events, want SUCCEEDED with HistoryBound %d less %d x %d unused throttled attempt = %d:\n%s",
			run.Status, len(run.Events), bound, files, unusedThrottleAttempt, want, strings.Join(run.Events, "\n"))
	}
	for _, typ := range []string{"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed"} {
		if n := countOf(run.Events, typ); n != files*3 {
			t.Errorf("moto wrote %d %s, want %d (3 attempts a file, each %d events)", n, typ, files*3, lambdaAttemptEvents)
		}
	}
}

func countOf(events []string, typ string) int {
	n := 0
	for e := range slices.Values(events) {
		if e == typ {
			n++
		}
	}
	return n
}
