package execution

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
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
			engine := &stepengine.Node{RepoRoot: root, LambdaEndpoint: srv.URL}
			var retries int
			start := time.Now()
			res, err := engine.Run(context.Background(), stepengine.Job{
				Definition:             definition,
				Input:                  json.RawMessage(tc.input),
				RetryIntervalOverrides: map[string]any{"Copy": 10},
			}, func(ev stepengine.Event) {
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
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		t.Fatalf("%v", err)
	}
	return root
}

// TestExecuteReportsLongCopies checks the progress line printed while a copy
// runs, and the in-flight count. The copy runs until the progress line is
// out (at most a minute), so the outcome does not hang on the machine's
// speed.
func TestExecuteReportsLongCopies(t *testing.T) {
	root := requireEngine(t)
	var out childproc.Output
	const progress = "copying big/file.bin: still running after"
	slowCopy := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
		for limit := time.Now().Add(time.Minute); !strings.Contains(out.String(), progress) && time.Now().Before(limit); {
			time.Sleep(10 * time.Millisecond)
		}
		return map[string]any{"ok": true}, nil
	})
	definition := json.RawMessage(`{
	  "StartAt": "Copy file",
	  "States": {
	    "Copy file": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:copy-file",
	                  "Parameters": {"source_key.$": "$.key"}, "End": true}
	  }
	}`)
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
	if !strings.Contains(out.String(), progress) {
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
			engine := &stepengine.Node{RepoRoot: root, LambdaEndpoint: srv.URL}
			retries := 0
			res, err := engine.Run(context.Background(), stepengine.Job{
				Definition: definition, Input: json.RawMessage(`{}`),
				RetryIntervalOverrides: map[string]any{"Call": 10},
			}, func(ev stepengine.Event) {
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

// TestEngineEnforcesStepFunctionsLimits: a local run fails where AWS would.
// A state's output above 256 KiB fails the execution with
// States.DataLimitExceeded, which not even a States.ALL catcher handles; an
// error's cause is cut at 32,768 characters.
func TestEngineEnforcesStepFunctionsLimits(t *testing.T) {
	root := requireEngine(t)
	big := lambda.NewHandler(func(ctx context.Context, in struct {
		Bytes int `json:"bytes"`
		Fail  int `json:"fail"`
	}) (map[string]any, error) {
		if in.Fail > 0 {
			return nil, &PermanentCopyError{msg: strings.Repeat("m", in.Fail)}
		}
		return map[string]any{"blob": strings.Repeat("b", in.Bytes)}, nil
	})
	srv, err := invokeapi.Start([]invokeapi.Function{{Name: "big", Handler: big}}, testErrorReport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	task := `{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:big", "TimeoutSeconds": 30,
	          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true}`
	single := json.RawMessage(`{"StartAt": "Call", "States": {"Call": ` + task + `, "Caught": {"Type": "Pass", "End": true}}}`)
	// A Map whose iterations each return 20 KB: 20 items make 400 KB.
	mapped := json.RawMessage(`{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
	  "ItemProcessor": {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:big", "TimeoutSeconds": 30, "End": true}}},
	  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true}, "Caught": {"Type": "Pass", "End": true}}}`)
	items := func(n int) string {
		var parts []string
		for range n {
			parts = append(parts, `{"bytes": 20000}`)
		}
		return `{"items": [` + strings.Join(parts, ",") + `]}`
	}
	tests := []struct {
		name       string
		definition json.RawMessage
		input      string
		wantStatus string
		wantError  string
		check      func(t *testing.T, res *stepengine.Result)
	}{
		{name: "task output below the limit", definition: single, input: `{"bytes": 200000}`, wantStatus: "SUCCEEDED"},
		{name: "task output above the limit", definition: single, input: `{"bytes": 300000}`, wantStatus: "FAILED", wantError: "States.DataLimitExceeded"},
		{name: "Map output above the limit", definition: mapped, input: items(20), wantStatus: "FAILED", wantError: "States.DataLimitExceeded"},
		{name: "Map output below the limit", definition: mapped, input: items(10), wantStatus: "SUCCEEDED"},
		{name: "long cause cut at 32768 characters", definition: single, input: `{"fail": 40000}`, wantStatus: "SUCCEEDED",
			check: func(t *testing.T, res *stepengine.Result) {
				var caught struct{ Error, Cause string }
				if err := json.Unmarshal(res.Output, &caught); err != nil {
					t.Fatal(err)
				}
				if caught.Error != "PermanentCopyError" || len([]rune(caught.Cause)) != 32768 || !strings.HasPrefix(caught.Cause, `{"errorType":"PermanentCopyError","errorMessage":"mmm`) {
					t.Errorf("caught %s with a cause of %d characters starting %.60q; want PermanentCopyError cut at 32768", caught.Error, len([]rune(caught.Cause)), caught.Cause)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := &stepengine.Node{RepoRoot: root, LambdaEndpoint: srv.URL}
			res, err := engine.Run(context.Background(), stepengine.Job{Definition: tc.definition, Input: json.RawMessage(tc.input)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantStatus || res.Error != tc.wantError {
				t.Fatalf("status %s error %q (%.200s), want %s %q", res.Status, res.Error, res.Cause, tc.wantStatus, tc.wantError)
			}
			if tc.wantError != "" && !strings.Contains(res.Cause, "262144 bytes") {
				t.Errorf("cause %q does not name the limit", res.Cause)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

// TestEngineNamesUnansweredInvocations: an invocation Lambda never answers
// (here: nothing listens) reaches Retry and Catch as
// Lambda.SdkClientException, as in AWS, so the definition's Lambda-fault
// retrier handles it.
func TestEngineNamesUnansweredInvocations(t *testing.T) {
	root := requireEngine(t)
	definition := json.RawMessage(`{
	  "StartAt": "Call",
	  "States": {
	    "Call": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:gone",
	      "TimeoutSeconds": 30,
	      "Retry": [{"ErrorEquals": ["Lambda.SdkClientException"], "IntervalSeconds": 30, "MaxAttempts": 1}],
	      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
	      "End": true
	    },
	    "Caught": {"Type": "Pass", "End": true}
	  }
	}`)
	engine := &stepengine.Node{RepoRoot: root, LambdaEndpoint: fmt.Sprintf("http://127.0.0.1:%d", closedPort(t))}
	retries := 0
	res, err := engine.Run(context.Background(), stepengine.Job{
		Definition: definition, Input: json.RawMessage(`{}`), RetryIntervalOverrides: map[string]any{"Call": 10},
	}, func(ev stepengine.Event) {
		if ev.Type == "StateRetried" {
			retries++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var caught struct{ Error string }
	if res.Status != "SUCCEEDED" || json.Unmarshal(res.Output, &caught) != nil || caught.Error != "Lambda.SdkClientException" || retries != 1 {
		t.Errorf("status %s output %s, %d retries; want Lambda.SdkClientException caught after 1 retry", res.Status, res.Output, retries)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
