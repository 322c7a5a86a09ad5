package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// TransientCopyError stands in for copy-file's error type of that name.
type TransientCopyError struct{ msg string }

func (e *TransientCopyError) Error() string { return e.msg }

// PermanentCopyError stands in for copy-file's error type of that name.
type PermanentCopyError struct{ msg string }

func (e *PermanentCopyError) Error() string { return e.msg }

func testErrorReport(err error) (string, string) {
	switch err.(type) {
	case *TransientCopyError:
		return "TransientCopyError", err.Error()
	case *PermanentCopyError:
		return "PermanentCopyError", err.Error()
	}
	return "errorString", err.Error()
}

// TestEngineRetriesAndCatchesByLambdaErrorName proves that error names from
// our Invoke API reach the engine's Retry and Catch matching.
func TestEngineRetriesAndCatchesByLambdaErrorName(t *testing.T) {
	root := requireEngine(t)
	var calls atomic.Int32
	flaky := lambda.NewHandler(func(ctx context.Context, in struct {
		Fail string `json:"fail"`
	}) (map[string]any, error) {
		n := calls.Add(1)
		switch {
		case in.Fail == "permanent":
			return nil, &PermanentCopyError{msg: "gone for good"}
		case n <= 2:
			return nil, &TransientCopyError{msg: fmt.Sprintf("slow down (call %d)", n)}
		}
		return map[string]any{"copied": true}, nil
	})
	srv, err := invokeapi.Start([]invokeapi.Function{{Name: "flaky", Handler: flaky}}, testErrorReport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	definition := json.RawMessage(`{
	  "StartAt": "Copy",
	  "States": {
	    "Copy": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
	      "TimeoutSeconds": 30,
	      "Retry": [{"ErrorEquals": ["TransientCopyError"], "IntervalSeconds": 30, "MaxAttempts": 2}],
	      "Catch": [{"ErrorEquals": ["PermanentCopyError"], "ResultPath": "$.caught", "Next": "Caught"}],
	      "End": true
	    },
	    "Caught": {"Type": "Pass", "End": true}
	  }
	}`)
	tests := []struct {
		name       string
		input      string
		wantStatus string
		wantOutput string
		wantRetry  int
	}{
		{name: "transient retried", input: `{}`, wantStatus: "SUCCEEDED", wantOutput: `{"copied":true}`, wantRetry: 2},
		{name: "permanent caught", input: `{"fail":"permanent"}`, wantStatus: "SUCCEEDED",
			wantOutput: `{"fail":"permanent","caught":{"Error":"PermanentCopyError","Cause":"{\"errorType\":\"PermanentCopyError\",\"errorMessage\":\"gone for good\"}"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			engine := &Engine{RepoRoot: root, LambdaEndpoint: srv.URL}
			var retries int
			start := time.Now()
			res, err := engine.Run(context.Background(), EngineJob{
				Definition:             definition,
				Input:                  json.RawMessage(tc.input),
				RetryIntervalOverrides: map[string]any{"Copy": 10},
			}, func(ev Event) {
				if ev.Type == "StateRetried" {
					retries++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("took %v: retry interval override not applied", time.Since(start))
			}
			got := struct{ Status, Output string }{res.Status, compactJSON(t, res.Output)}
			want := struct{ Status, Output string }{tc.wantStatus, compactJSON(t, json.RawMessage(tc.wantOutput))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s\nerror %s cause %s", diff, res.Error, res.Cause)
			}
			if retries != tc.wantRetry {
				t.Errorf("StateRetried events = %d, want %d", retries, tc.wantRetry)
			}
		})
	}
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %q: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func requireEngine(t *testing.T) string {
	t.Helper()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNodeModules(root); err != nil {
		t.Fatalf("%v", err)
	}
	return root
}

// TestExecuteReportsLongCopies checks the progress line printed while a copy
// runs, and the in-flight count.
func TestExecuteReportsLongCopies(t *testing.T) {
	root := requireEngine(t)
	slowCopy := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
		time.Sleep(400 * time.Millisecond)
		return map[string]any{"ok": true}, nil
	})
	definition := json.RawMessage(`{
	  "StartAt": "Copy file",
	  "States": {
	    "Copy file": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:copy-file",
	                  "Parameters": {"source_key.$": "$.key"}, "End": true}
	  }
	}`)
	var out childproc.Output
	res, err := Execute(context.Background(), Execution{
		RepoRoot:      root,
		Definition:    definition,
		Functions:     []invokeapi.Function{{Name: statemachine.FunctionCopyFile, Handler: slowCopy}},
		ErrorReport:   testErrorReport,
		Out:           &out,
		ProgressEvery: 50 * time.Millisecond,
		ProgressAfter: 100 * time.Millisecond,
	}, []byte(`{"key":"big/file.bin"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded() {
		t.Fatalf("status %s: %s %s", res.Status, res.ErrorName(), res.CauseText())
	}
	if !strings.Contains(out.String(), "copying big/file.bin: still running after") {
		t.Errorf("no progress line in:\n%s", out.String())
	}
	if res.MaxCopiesInFlight != 1 || res.Calls[statemachine.FunctionCopyFile] != 1 {
		t.Errorf("in flight %d, calls %d; want 1 and 1", res.MaxCopiesInFlight, res.Calls[statemachine.FunctionCopyFile])
	}
	var doc map[string]any
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"cause", "error", "events", "output", "status"}, keys); diff != "" {
		t.Errorf("--json document keys (-want +got):\n%s", diff)
	}
}

// TestEngineNamesThrottlesAsStepFunctionsDoes: an invocation Lambda refuses
// with 429 TooManyRequestsException reaches Retry and Catch as
// Lambda.TooManyRequestsException, as in AWS, once per refusal (the SDK does
// not retry it on its own).
func TestEngineNamesThrottlesAsStepFunctionsDoes(t *testing.T) {
	root := requireEngine(t)
	ok := lambda.NewHandler(func(ctx context.Context) (map[string]any, error) { return map[string]any{"ran": true}, nil })
	definition := json.RawMessage(`{
	  "StartAt": "Call",
	  "States": {
	    "Call": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:busy",
	      "TimeoutSeconds": 30,
	      "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 30, "MaxAttempts": 2}],
	      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
	      "End": true
	    },
	    "Caught": {"Type": "Pass", "End": true}
	  }
	}`)
	tests := []struct {
		name          string
		throttleFirst int
		wantOutput    string
		wantRetries   int
	}{
		{"two throttles retried", 2, `{"ran":true}`, 2},
		{"three throttles exhaust the retrier", 3, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := invokeapi.Start([]invokeapi.Function{{Name: "busy", Handler: ok, ThrottleFirst: tc.throttleFirst}}, testErrorReport)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			engine := &Engine{RepoRoot: root, LambdaEndpoint: srv.URL}
			retries := 0
			res, err := engine.Run(context.Background(), EngineJob{
				Definition: definition, Input: json.RawMessage(`{}`),
				RetryIntervalOverrides: map[string]any{"Call": 10},
			}, func(ev Event) {
				if ev.Type == "StateRetried" {
					retries++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "SUCCEEDED" {
				t.Fatalf("status %s: %s %s", res.Status, res.Error, res.Cause)
			}
			if retries != tc.wantRetries || srv.Throttled("busy") != min(tc.throttleFirst, 3) {
				t.Errorf("retries %d, throttled %d; want %d and %d", retries, srv.Throttled("busy"), tc.wantRetries, min(tc.throttleFirst, 3))
			}
			if tc.wantOutput != "" {
				if got := compactJSON(t, res.Output); got != tc.wantOutput {
					t.Errorf("output %s, want %s", got, tc.wantOutput)
				}
				return
			}
			var caught struct{ Error, Cause string }
			if err := json.Unmarshal(res.Output, &caught); err != nil {
				t.Fatal(err)
			}
			if caught.Error != "Lambda.TooManyRequestsException" || !strings.Contains(caught.Cause, "Rate Exceeded.") || !strings.Contains(caught.Cause, "Status Code: 429") {
				t.Errorf("caught %+v, want Lambda.TooManyRequestsException with Rate Exceeded. and status 429", caught)
			}
		})
	}
}
