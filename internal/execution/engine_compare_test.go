package execution

// The two engines side by side on small definitions, pinning where they
// differ from each other and which one matches AWS's documentation. The
// copy workflow's own scenarios run on both in e2e_test.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

var (
	motoCheckOnce sync.Once
	motoCheckErr  error
)

// requireMotoEngine stops the test without a usable moto
// (testenv.Unavailable).
func requireMotoEngine(t *testing.T) {
	t.Helper()
	motoCheckOnce.Do(func() { motoCheckErr = stepengine.CheckMoto(context.Background(), "") })
	if motoCheckErr == nil {
		return
	}
	testenv.Unavailable(t, fmt.Sprintf("the moto engine cannot run: %v", motoCheckErr))
}

// runOn runs definition with input on engine, the functions served by the
// local Invoke API, Retry pauses shortened.
func runOn(t *testing.T, engine string, definition string, functions ...invokeapi.Function) *Result {
	t.Helper()
	return runOnWith(t, engine, definition, `{}`, nil, functions...)
}

// runOnWith is runOn with an input and a writer for the printed history
// (nil prints nothing).
func runOnWith(t *testing.T, engine, definition, input string, out io.Writer, functions ...invokeapi.Function) *Result {
	t.Helper()
	root := requireEngine(t)
	if engine == stepengine.EngineMoto {
		requireMotoEngine(t)
	}
	overrides, err := localservices.RetryOverrides([]byte(definition), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Execute(ctx, Execution{
		Engine: engine, RepoRoot: root, Definition: []byte(definition),
		Functions: functions, ErrorReport: testErrorReport,
		RetryIntervalOverrides: overrides, RetryPause: 10 * time.Millisecond,
		Out: out,
	}, []byte(input))
	if err != nil {
		t.Fatalf("%s engine: %v", engine, err)
	}
	return res
}

// $$.State.RetryCount: AWS documents it in the Context object
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html,
// "State": {"EnteredTime", "Name", "RetryCount"}). moto's interpreter
// counts the retries of the state (0, 1, 2); aws-local-stepfunctions 3.0
// has no $$.State at all, and engine.cjs supplies a constant 0 so the path
// resolves (the copier then never thinks an attempt is its last: it keeps a
// resumed upload as it did before). moto matches AWS.
func TestEnginesRetryCount(t *testing.T) {
	definition := `{
	  "StartAt": "Copy",
	  "States": {
	    "Copy": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
	      "Parameters": {"retry_count.$": "$$.State.RetryCount"},
	      "TimeoutSeconds": 30,
	      "Retry": [{"ErrorEquals": ["TransientCopyError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
	      "End": true
	    }
	  }
	}`
	want := map[string][]int{stepengine.EngineMoto: {0, 1, 2}, stepengine.EngineNode: {0, 0, 0}}
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			var mu sync.Mutex
			var seen []int
			flaky := lambda.NewHandler(func(ctx context.Context, in struct {
				RetryCount int `json:"retry_count"`
			}) (map[string]any, error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, in.RetryCount)
				if len(seen) < 3 {
					return nil, &TransientCopyError{msg: "slow down"}
				}
				return map[string]any{"ok": true}, nil
			})
			res := runOn(t, engine, definition, invokeapi.Function{Name: "flaky", Handler: flaky})
			if !res.Succeeded() {
				t.Fatalf("%s: %s %s", res.Status, res.ErrorName(), res.CauseText())
			}
			if diff := cmp.Diff(want[engine], seen); diff != "" {
				t.Errorf("retry_count per attempt on %s (-want +got):\n%s", engine, diff)
			}
		})
	}
}

// TimeoutSeconds on a Task: the state fails with States.Timeout when the
// task runs longer (Amazon States Language, Task State,
// https://states-language.net/spec.html#task-state; AWS:
// https://docs.aws.amazon.com/step-functions/latest/dg/sfn-stuck-execution.html).
// Both engines enforce an explicit TimeoutSeconds on a Lambda task.
func TestEnginesTaskTimeout(t *testing.T) {
	definition := `{
	  "StartAt": "Slow",
	  "States": {
	    "Slow": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:slow",
	      "TimeoutSeconds": 1,
	      "End": true
	    }
	  }
	}`
	want := map[string]string{stepengine.EngineMoto: "States.Timeout", stepengine.EngineNode: "States.Timeout"}
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			slow := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
				select {
				case <-time.After(3 * time.Second):
				case <-ctx.Done():
				}
				return map[string]any{"ok": true}, nil
			})
			res := runOn(t, engine, definition, invokeapi.Function{Name: "slow", Handler: slow})
			if got := res.ErrorName(); got != want[engine] {
				t.Errorf("%s: a 3 s task with TimeoutSeconds 1 ended %s with error %q, want %q", engine, res.Status, got, want[engine])
			}
		})
	}
}

// A Lambda service error (here 429 TooManyRequestsException, the function
// not run) is named "Lambda." + its code: "Lambda errors are reported as
// Lambda.ErrorName ... When Lambda hits the maximum number of invocations,
// the error is Lambda.TooManyRequestsException"
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
// aws-local-stepfunctions does so; moto 5.2.1's interpreter names every
// Lambda service error "Exception", so engine_moto.py renames it: without
// that the moto run of this test fails.
func TestEnginesNameLambdaServiceErrors(t *testing.T) {
	definition := `{
	  "StartAt": "Call",
	  "States": {
	    "Call": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:busy",
	      "TimeoutSeconds": 30,
	      "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
	      "End": true
	    }
	  }
	}`
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			busy := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
				return map[string]any{"ok": true}, nil
			})
			res := runOn(t, engine, definition, invokeapi.Function{Name: "busy", Handler: busy, ThrottleFirst: 2})
			if !res.Succeeded() {
				t.Fatalf("%s: %s %s, want success after two throttled calls retried", res.Status, res.ErrorName(), res.CauseText())
			}
			var names []string
			for _, ev := range res.History {
				if ev.Type == "StateFailed" {
					names = append(names, ev.Error)
				}
			}
			if diff := cmp.Diff([]string{"Lambda.TooManyRequestsException", "Lambda.TooManyRequestsException"}, names); diff != "" {
				t.Errorf("failed attempts' error names on %s (-want +got):\n%s", engine, diff)
			}
		})
	}
}

// copyFileRetry is the Retry list of the deployed definition's "Copy file"
// state (the default settings rendered).
func copyFileRetry(t *testing.T) json.RawMessage {
	t.Helper()
	s := statemachine.DefaultSettings()
	s.FunctionARNs = map[string]string{}
	for _, f := range statemachine.Functions {
		s.FunctionARNs[f.Name] = "arn:aws:lambda:us-east-1:123456789012:function:" + f.Name
	}
	def, err := statemachine.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		States map[string]struct {
			ItemProcessor struct {
				States map[string]struct{ Retry json.RawMessage }
			}
		}
	}
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	for _, st := range doc.States {
		if r, ok := st.ItemProcessor.States["Copy file"]; ok {
			return r.Retry
		}
	}
	t.Fatal(`no "Copy file" state in the rendered definition`)
	return nil
}

// A copy invocation that runs into the function's timeout: Lambda stops it
// and the state machine sees Sandbox.Timedout
// (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts),
// which both engines get from the local Invoke API (it stops waiting at the
// function's Timeout). With the deployed "Copy file" Retry list the attempt
// is retried and the next one succeeds, on both engines.
func TestEnginesRetryACopyThatTimesOut(t *testing.T) {
	definition := `{
	  "StartAt": "Copy file",
	  "States": {
	    "Copy file": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:copy",
	      "TimeoutSeconds": 30,
	      "Retry": ` + string(copyFileRetry(t)) + `,
	      "End": true
	    }
	  }
	}`
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			overruns := lambda.NewHandler(func(ctx context.Context, in map[string]any) (map[string]any, error) {
				mu.Lock()
				calls++
				first := calls == 1
				mu.Unlock()
				if first {
					// Past the deadline, as a copy stuck beyond its
					// deadline margin would be.
					<-ctx.Done()
					time.Sleep(50 * time.Millisecond)
				}
				return map[string]any{"complete": true}, nil
			})
			res := runOn(t, engine, definition, invokeapi.Function{Name: "copy", Handler: overruns, Timeout: time.Second})
			if !res.Succeeded() {
				t.Fatalf("%s: %s %s, want success after the timed-out attempt is retried", res.Status, res.ErrorName(), res.CauseText())
			}
			var names []string
			for _, ev := range res.History {
				if ev.Type == "StateFailed" {
					names = append(names, ev.Error)
				}
			}
			if diff := cmp.Diff([]string{invokeapi.TimeoutErrorType}, names); diff != "" {
				t.Errorf("failed attempts' error names on %s (-want +got):\n%s", engine, diff)
			}
		})
	}
}

// A Choice's type test with false matches when the test fails
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html:
// "IsNull": true or false). moto evaluates it so; aws-local-stepfunctions
// 3.0 never matches a false test, which engine.cjs works around by giving
// the engine the same rule with Not. Both engines route a non-null
// lookup_error, and a null one, as AWS would (the batched definition's
// "Job found?").
func TestEnginesChoiceTypeTestFalse(t *testing.T) {
	definition := `{
	  "StartAt": "Job found?",
	  "States": {
	    "Job found?": {
	      "Type": "Choice",
	      "Choices": [
	        {"Variable": "$.lookup_error", "IsNull": false, "Next": "No open job"},
	        {"And": [{"Variable": "$.size", "IsNumeric": false}, {"Variable": "$.size", "IsPresent": true}], "Next": "Size not a number"}
	      ],
	      "Default": "Copy"
	    },
	    "No open job": {"Type": "Pass", "Result": {"route": "no open job"}, "End": true},
	    "Size not a number": {"Type": "Pass", "Result": {"route": "size not a number"}, "End": true},
	    "Copy": {"Type": "Pass", "Result": {"route": "copy"}, "End": true}
	  }
	}`
	inputs := map[string]string{
		`{"lookup_error": {"Error": "NoOpenJobError"}, "size": 1}`: "no open job",
		`{"lookup_error": null, "size": "1"}`:                      "size not a number",
		`{"lookup_error": null, "size": 1}`:                        "copy",
	}
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			for input, want := range inputs {
				res := runOnWith(t, engine, definition, input, nil)
				if got := findString(res.Output, "route"); !res.Succeeded() || got != want {
					t.Errorf("%s on %s: %s, route %q (%s), want %q", input, engine, res.Status, got, res.CauseText(), want)
				}
			}
		})
	}
}
