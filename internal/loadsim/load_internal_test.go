package loadsim

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
)

func TestS3PriceClass(t *testing.T) {
	tests := []struct {
		method, target string
		copySource     string
		put, copy      bool
	}{
		{"PUT", "/archive/a.txt?x-id=CopyObject", "restore/a.txt", true, true},
		{"PUT", "/archive/a.txt?partNumber=1&uploadId=u", "restore/a.txt", true, true},
		{"PUT", "/archive/a.txt", "", true, false},
		{"POST", "/archive/a.txt?uploads", "", true, false},
		{"POST", "/archive/a.txt?uploadId=u", "", true, false},
		{"GET", "/archive?list-type=2", "", true, false},
		{"HEAD", "/restore/a.txt", "", false, false},
		{"GET", "/restore/a.txt?tagging", "", false, false},
		{"GET", "/restore/a.txt", "", false, false},
		{"DELETE", "/archive/a.txt?uploadId=u", "", false, false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", tc.copySource)
		}
		if got := isCopyRequest(r); got != tc.copy {
			t.Errorf("%s %s: copy %v, want %v", tc.method, tc.target, got, tc.copy)
		}
		if got := tc.copy || isPutClassRequest(r); got != tc.put {
			t.Errorf("%s %s: PUT class %v, want %v", tc.method, tc.target, got, tc.put)
		}
	}
}

func TestScaleTaskTimeouts(t *testing.T) {
	in := []byte(`{"States":{"A":{"Type":"Task","TimeoutSeconds":60,"Retry":[{"IntervalSeconds":2}]},
		"M":{"Type":"Map","ItemProcessor":{"States":{"B":{"Type":"Task","TimeoutSeconds":960}}}}}}`)
	out, err := scaleTaskTimeouts(in, 20)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	states := doc["States"].(map[string]any)
	a := states["A"].(map[string]any)
	b := states["M"].(map[string]any)["ItemProcessor"].(map[string]any)["States"].(map[string]any)["B"].(map[string]any)
	got := []any{a["TimeoutSeconds"], b["TimeoutSeconds"], a["Retry"].([]any)[0].(map[string]any)["IntervalSeconds"]}
	if diff := cmp.Diff([]any{1200.0, 19200.0, 2.0}, got); diff != "" {
		t.Errorf("timeouts scaled, Retry kept (-want +got):\n%s", diff)
	}
}

func TestReadEvents(t *testing.T) {
	in := "{\"Records\":[]}\n\n  {\"detail-type\":\"Object Restore Completed\"}  \n"
	got, err := ReadEvents(strings.NewReader(in), "events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"Records":[]}`, `{"detail-type":"Object Restore Completed"}`}, []string{string(got[0]), string(got[1])}); diff != "" || len(got) != 2 {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := ReadEvents(strings.NewReader("\n\n"), "empty.ndjson"); err == nil || !strings.Contains(err.Error(), "empty.ndjson has no events") {
		t.Errorf("empty file: %v", err)
	}
}

// The state machine's log keeps, at each level, the events AWS logs at it
// (https://docs.aws.amazon.com/step-functions/latest/dg/cloudwatch-log-level.html),
// under either engine's names.
func TestStateMachineLogLevels(t *testing.T) {
	for _, tc := range []struct {
		eventType        string
		all, error, fata bool
	}{
		{"ExecutionStarted", true, false, false},
		{"TaskStateEntered", true, false, false},
		{"StateEntered", true, false, false},
		{"LambdaFunctionSucceeded", true, false, false},
		{"LambdaFunctionFailed", true, true, false},
		{"TaskFailed", true, true, false},
		{"LambdaFunctionTimedOut", true, true, false},
		{"MapIterationFailed", true, true, false},
		{"StateFailed", true, true, false},
		{"StateRetried", true, true, false},
		{"StateCaught", true, true, false},
		{"ExecutionFailed", true, true, true},
		{"ExecutionTimedOut", true, true, true},
		{"ExecutionTimeout", true, true, true},
		{"ExecutionAborted", true, true, true},
		{"ExecutionSucceeded", true, false, false},
	} {
		for level, want := range map[string]bool{"ALL": tc.all, "ERROR": tc.error, "FATAL": tc.fata, "OFF": false} {
			if got := loggedAt(level, tc.eventType); got != want {
				t.Errorf("%s at %s: logged %v, want %v", tc.eventType, level, got, want)
			}
		}
	}
	line := stepengine.Ended{LogBytes: 1000, LogBytesByType: map[string]int64{"StateEntered": 900, "StateRetried": 60, "ExecutionSucceeded": 40}}
	for level, want := range map[string]int64{"ALL": 1000, "ERROR": 60, "FATAL": 0} {
		if got := stateMachineLogBytes(line, level); got != want {
			t.Errorf("%s: %d bytes, want %d", level, got, want)
		}
	}
}

// Lambda's START and REPORT lines count at system level INFO (and DEBUG),
// not at WARN.
func TestPlatformBytesPerInvocation(t *testing.T) {
	info := platformBytesPerInvocation("INFO", 1769)
	if info < 400 || info > 800 {
		t.Errorf("START + REPORT at INFO: %d bytes, want about 600", info)
	}
	if debug := platformBytesPerInvocation("DEBUG", 1769); debug != info {
		t.Errorf("at DEBUG %d bytes, want INFO's %d", debug, info)
	}
	if warn := platformBytesPerInvocation("WARN", 1769); warn != 0 {
		t.Errorf("at WARN %d bytes, want none", warn)
	}
}

// A function's lines are counted as the function writes them, and passed
// on to the runner's one log with the function named.
func TestFunctionLogCountsWhatTheFunctionWrites(t *testing.T) {
	var sink strings.Builder
	f := &functionLog{name: "copy-file", sink: &lockedWriter{w: &sink}}
	line := `{"level":"INFO","message":"file copied"}` + "\n"
	if n, err := f.Write([]byte(line)); err != nil || n != len(line) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if got := f.n.Load(); got != int64(len(line)) {
		t.Errorf("counted %d bytes, want %d", got, len(line))
	}
	if want := `{"function":"copy-file","level":"INFO","message":"file copied"}` + "\n"; sink.String() != want {
		t.Errorf("log line %q, want %q", sink.String(), want)
	}
}
