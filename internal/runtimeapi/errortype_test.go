package runtimeapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// readEvent reads a sample event from shared/parseevent/testdata.
func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "parseevent", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseEventErrorType runs the real parse-event binary: a rejected event
// must reach Step Functions as errorType "InvalidEventError", the name
// contract.ErrorType gives the handler's error.
func TestParseEventErrorType(t *testing.T) {
	binary := BuildFunction(t, "./functions/parse-event")
	tests := []struct {
		name      string
		event     []byte
		wantError *FunctionError
		wantFiles int
	}{
		{
			name:  "missing key sample",
			event: readEvent(t, "s3-records-missing-key.json"),
			wantError: &FunctionError{ErrorType: "InvalidEventError",
				ErrorMessage: "Records[0].s3.object.key is missing"},
		},
		{
			// A JSON list is a batch (each element judged alone): a
			// string is neither a batch nor an event.
			name:  "not an object",
			event: []byte(`"not an event"`),
			wantError: &FunctionError{ErrorType: "InvalidEventError",
				ErrorMessage: "event is not a JSON object"},
		},
		{
			name:      "two files",
			event:     readEvent(t, "s3-records-two-files-encoded-keys.json"),
			wantFiles: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := InvokeFunction(t, binary, Invocation{Event: tc.event})
			if diff := cmp.Diff(tc.wantError, got.Error); diff != "" {
				t.Fatalf("reported error (-want +got):\n%s\nlogs:\n%s", diff, got.Logs)
			}
			if tc.wantError != nil {
				// The local runner names errors with contract.ErrorType:
				// it must agree with the real runtime.
				_, err := parseevent.ParseEvent(tc.event)
				if name := contract.ErrorType(err); name != got.Error.ErrorType {
					t.Errorf("contract.ErrorType = %q, the runtime reported %q", name, got.Error.ErrorType)
				}
				return
			}
			var parsed contract.ParsedEvent
			if err := json.Unmarshal(got.Response, &parsed); err != nil {
				t.Fatalf("response %s: %v", got.Response, err)
			}
			if len(parsed.Files) != tc.wantFiles {
				t.Errorf("%d files in %s, want %d", len(parsed.Files), got.Response, tc.wantFiles)
			}
			if !strings.Contains(got.Logs, `"message":"event parsed"`) {
				t.Errorf("no JSON log line for the parsed event in:\n%s", got.Logs)
			}
		})
	}
}

// TestAggregateErrorType runs the real aggregate binary: a failed iteration
// must reach Step Functions as errorType "CopyRequestError" with the
// original's message, and success returns the results.
func TestAggregateErrorType(t *testing.T) {
	binary := BuildFunction(t, "./functions/aggregate")
	file := contract.File{SourceBucket: "restore", SourceKey: "a b.h5", Size: 1}
	job := &contract.Job{RequestID: "req-1", TargetBucket: "archive"}
	succeeded := contract.Iteration{File: file, Job: job,
		Copy: &contract.CopyOutcome{TargetBucket: "archive", TargetKey: "a b.h5", Bytes: 1, Complete: true}, Recorded: &contract.Recorded{JobStatus: "complete"}}
	failed := contract.Iteration{File: file, Job: job,
		CopyError: &contract.StateError{Error: "PermanentCopyError", Cause: `{"errorType":"PermanentCopyError","errorMessage":"NoSuchKey"}`}}
	tests := []struct {
		name      string
		req       contract.AggregateRequest
		wantError *FunctionError
	}{
		{
			name: "failed iteration",
			req:  contract.AggregateRequest{Iterations: []contract.Iteration{succeeded, failed}},
			// The cause lists the failed files only, then how many of all.
			wantError: &FunctionError{ErrorType: "CopyRequestError", ErrorMessage: `File copy failed. [` +
				`{"request_id":"req-1","source_bucket":"restore","source_key":"a b.h5","target_bucket":"archive","success":false,"err_msg":"NoSuchKey"}]` + "\n" +
				"1 of 2 files failed.\n" +
				`Re-run input for the failed file (start a new execution with it once the cause is fixed): ` +
				`{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"restore"},"object":{"key":"a+b.h5","size":1}}}]}`},
		},
		{
			name: "invalid event",
			req: contract.AggregateRequest{EventError: &contract.StateError{Error: "InvalidEventError",
				Cause: `{"errorType":"InvalidEventError","errorMessage":"event has no Records"}`}},
			wantError: &FunctionError{ErrorType: "CopyRequestError", ErrorMessage: `File copy failed. [` +
				`{"request_id":"","source_bucket":"","source_key":"","target_bucket":"","success":false,"err_msg":"invalid event, nothing was copied: event has no Records"}]`},
		},
		{
			name: "all succeeded",
			req:  contract.AggregateRequest{Iterations: []contract.Iteration{succeeded}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			event, err := json.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := InvokeFunction(t, binary, Invocation{Event: event})
			if diff := cmp.Diff(tc.wantError, got.Error); diff != "" {
				t.Fatalf("reported error (-want +got):\n%s\nlogs:\n%s", diff, got.Logs)
			}
			want, err := aggregate.Aggregate(tc.req)
			if tc.wantError != nil {
				if name := contract.ErrorType(err); name != got.Error.ErrorType {
					t.Errorf("contract.ErrorType = %q, the runtime reported %q", name, got.Error.ErrorType)
				}
				return
			}
			var results []contract.FileResult
			if err := json.Unmarshal(got.Response, &results); err != nil {
				t.Fatalf("response %s: %v", got.Response, err)
			}
			if diff := cmp.Diff(want, results); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}
