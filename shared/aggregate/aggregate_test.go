package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// aggLambdaCause is a Catch's Cause for a Lambda error, as AWS writes it.
func aggLambdaCause(errorType, message string) string {
	b, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message})
	return string(b)
}

var (
	aggFile     = contract.File{SourceBucket: "restore", SourceKey: "granules/a+b=c café.iso.xml", Size: 512}
	aggJob      = &contract.Job{RequestID: "req-1", TargetBucket: "archive"}
	aggCopied   = &contract.CopyOutcome{TargetBucket: "archive", TargetKey: "granules/a+b=c café.iso.xml", Bytes: 512, Complete: true}
	aggComplete = &contract.Recorded{JobStatus: "complete"}
	// aggDone is the job of a duplicate delivery: already complete.
	aggDone = &contract.Job{RequestID: "req-1", TargetBucket: "archive", AlreadyComplete: true}
)

func TestIterationResult(t *testing.T) {
	ok := func(msg string) contract.FileResult {
		return contract.FileResult{RequestID: "req-1", SourceBucket: "restore", SourceKey: aggFile.SourceKey, TargetBucket: "archive", Success: msg == "", ErrMsg: msg}
	}
	tests := []struct {
		name string
		it   contract.Iteration
		want contract.FileResult
	}{
		{
			name: "copied and recorded",
			it:   contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied, Recorded: aggComplete},
			want: ok(""),
		},
		{
			name: "already complete job copied again",
			it:   contract.Iteration{File: aggFile, Job: &contract.Job{RequestID: "req-1", TargetBucket: "archive", AlreadyComplete: true}, Copy: aggCopied, Recorded: aggComplete},
			want: ok(""),
		},
		{
			name: "already complete, left alone by the Express child (\"Already copied\")",
			it:   contract.Iteration{File: aggFile, Job: aggDone},
			want: ok(""),
		},
		{
			name: "already complete, but only the initial copy token: not left alone, never success",
			it:   contract.Iteration{File: aggFile, Job: aggDone, Copy: &contract.CopyOutcome{}},
			want: ok(`the copy of key "granules/a+b=c café.iso.xml" did not finish (0 of 0 parts copied)`),
		},
		{
			name: "already complete, copied again and the copy failed",
			it: contract.Iteration{File: aggFile, Job: aggDone, Recorded: aggComplete,
				CopyError: &contract.StateError{Error: "PermanentCopyError", Cause: aggLambdaCause("PermanentCopyError", "InvalidObjectState: restored copy expired")}},
			want: ok("InvalidObjectState: restored copy expired"),
		},
		{
			name: "already complete, handed over and not done",
			it: contract.Iteration{File: aggFile, Job: aggDone, Handover: &contract.Handover{Lane: "standard"},
				HandoverError: &contract.StateError{Error: "Lambda.TooManyRequestsException", Cause: "Rate exceeded"}},
			want: ok(`no copy outcome for key "granules/a+b=c café.iso.xml"`),
		},
		{
			name: "already complete, recording failed",
			it: contract.Iteration{File: aggFile, Job: aggDone,
				RecordError: &contract.StateError{Error: "DatabaseUnavailableError", Cause: "connection refused"}},
			want: ok(`no copy outcome for key "granules/a+b=c café.iso.xml"`),
		},
		{
			name: "no open job",
			it: contract.Iteration{File: aggFile, LookupError: &contract.StateError{Error: "NoOpenJobError",
				Cause: aggLambdaCause("NoOpenJobError", `no job for key "granules/a+b=c café.iso.xml"`)}},
			want: contract.FileResult{SourceBucket: "restore", SourceKey: aggFile.SourceKey,
				ErrMsg: `no open job in request_status for key "granules/a+b=c café.iso.xml": no job for key "granules/a+b=c café.iso.xml"`},
		},
		{
			name: "no open job, as request-status words it",
			it: contract.Iteration{File: aggFile, LookupError: &contract.StateError{Error: "NoOpenJobError",
				Cause: aggLambdaCause("NoOpenJobError", `no open job in request_status for key "granules/a+b=c café.iso.xml"`)}},
			want: contract.FileResult{SourceBucket: "restore", SourceKey: aggFile.SourceKey,
				ErrMsg: `no open job in request_status for key "granules/a+b=c café.iso.xml"`},
		},
		{
			name: "database down during lookup",
			it:   contract.Iteration{File: aggFile, LookupError: &contract.StateError{Error: "DatabaseUnavailableError", Cause: "connection refused"}},
			want: contract.FileResult{SourceBucket: "restore", SourceKey: aggFile.SourceKey,
				ErrMsg: `looking up the job in request_status for key "granules/a+b=c café.iso.xml" failed (DatabaseUnavailableError): connection refused`},
		},
		{
			name: "lookup timed out without cause",
			it:   contract.Iteration{File: aggFile, LookupError: &contract.StateError{Error: "States.Timeout"}},
			want: contract.FileResult{SourceBucket: "restore", SourceKey: aggFile.SourceKey,
				ErrMsg: `looking up the job in request_status for key "granules/a+b=c café.iso.xml" failed (States.Timeout): States.Timeout`},
		},
		{
			name: "copy failed, failure recorded",
			it: contract.Iteration{File: aggFile, Job: aggJob, Recorded: &contract.Recorded{JobStatus: "error"},
				CopyError: &contract.StateError{Error: "PermanentCopyError", Cause: aggLambdaCause("PermanentCopyError", "NoSuchKey: the source object does not exist")}},
			want: ok("NoSuchKey: the source object does not exist"),
		},
		{
			name: "copy failed and recording failed too",
			it: contract.Iteration{File: aggFile, Job: aggJob,
				CopyError:   &contract.StateError{Error: "TransientCopyError", Cause: aggLambdaCause("TransientCopyError", "SlowDown after 3 attempts")},
				RecordError: &contract.StateError{Error: "DatabaseUnavailableError", Cause: aggLambdaCause("DatabaseUnavailableError", "connection refused")}},
			want: ok("SlowDown after 3 attempts; and the status could not be recorded: connection refused"),
		},
		{
			name: "copied but recording failed is never success",
			it: contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied,
				RecordError: &contract.StateError{Error: "StatusUpdateError", Cause: aggLambdaCause("StatusUpdateError", "no row updated")}},
			want: ok("copied to archive/granules/a+b=c café.iso.xml but the status could not be recorded: no row updated"),
		},
		{
			name: "copied but nothing recorded",
			it:   contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied},
			want: ok("copied to archive/granules/a+b=c café.iso.xml but no status was recorded"),
		},
		{
			name: "copied but recorded as error",
			it:   contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied, Recorded: &contract.Recorded{JobStatus: "error"}},
			want: ok(`copied to archive/granules/a+b=c café.iso.xml but the status was recorded as "error"`),
		},
		{
			name: "copy not finished is never success",
			it: contract.Iteration{File: aggFile, Job: aggJob, Recorded: aggComplete, Copy: &contract.CopyOutcome{TargetBucket: "archive",
				TargetKey: aggFile.SourceKey, Bytes: 512, Multipart: true, UploadID: "u-1", SourceETag: `"e"`, PartsDone: 2, PartsTotal: 5}},
			want: ok(`the copy of key "granules/a+b=c café.iso.xml" did not finish (2 of 5 parts copied)`),
		},
		{
			name: "initial copy document (the Map's ItemSelector) and nothing else",
			it:   contract.Iteration{File: aggFile, Job: aggJob, Recorded: aggComplete, Copy: &contract.CopyOutcome{}},
			want: ok(`the copy of key "granules/a+b=c café.iso.xml" did not finish (0 of 0 parts copied)`),
		},
		{
			name: "copied in the Express lane, which keeps no copy outcome",
			it:   contract.Iteration{File: aggFile, Job: aggJob, Recorded: aggComplete},
			want: ok(""),
		},
		{
			name: "no copy outcome, nothing recorded",
			it:   contract.Iteration{File: aggFile, Job: aggJob},
			want: ok(`no copy outcome for key "granules/a+b=c café.iso.xml"`),
		},
		{
			name: "no lookup at all",
			it:   contract.Iteration{File: aggFile},
			want: contract.FileResult{SourceBucket: "restore", SourceKey: aggFile.SourceKey,
				ErrMsg: `no job was looked up in request_status for key "granules/a+b=c café.iso.xml"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, IterationResult(tc.it)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	good := contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied, Recorded: aggComplete}
	missing := contract.Iteration{File: contract.File{SourceBucket: "restore", SourceKey: "gone&lost.h5"}, Job: &contract.Job{RequestID: "req-2", TargetBucket: "archive"},
		CopyError: &contract.StateError{Error: "PermanentCopyError", Cause: aggLambdaCause("PermanentCopyError", "NoSuchKey")}}
	tests := []struct {
		name    string
		req     contract.AggregateRequest
		want    []contract.FileResult
		wantErr string
	}{
		{
			name: "all succeeded",
			req:  contract.AggregateRequest{Iterations: []contract.Iteration{good, good}},
			want: []contract.FileResult{IterationResult(good), IterationResult(good)},
		},
		{
			name: "a duplicate the Express child left alone, beside a copied file: both succeed",
			req:  contract.AggregateRequest{Done: []contract.Iteration{good, {File: aggFile, Job: aggDone}}},
			want: []contract.FileResult{IterationResult(good), {RequestID: "req-1", SourceBucket: "restore",
				SourceKey: aggFile.SourceKey, TargetBucket: "archive", Success: true}},
		},
		{
			name: "no files",
			req:  contract.AggregateRequest{Iterations: nil},
			want: []contract.FileResult{},
		},
		{
			name: "one failed",
			req:  contract.AggregateRequest{Iterations: []contract.Iteration{good, missing}},
			wantErr: `File copy failed. [` +
				`{"request_id":"req-2","source_bucket":"restore","source_key":"gone&lost.h5","target_bucket":"archive","success":false,"err_msg":"NoSuchKey"}]` + "\n" +
				`1 of 2 files failed.` + "\n" +
				`Re-run input for the failed file (start a new execution with it once the cause is fixed): ` +
				`{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"restore"},"object":{"key":"gone%26lost.h5"}}}]}`,
		},
		{
			name: "invalid event",
			req: contract.AggregateRequest{EventError: &contract.StateError{Error: "InvalidEventError",
				Cause: aggLambdaCause("InvalidEventError", "Records[0].s3.object.key is missing")}},
			wantErr: `File copy failed. [{"request_id":"","source_bucket":"","source_key":"","target_bucket":"","success":false,` +
				`"err_msg":"invalid event, nothing was copied: Records[0].s3.object.key is missing"}]`,
		},
		{
			name: "event not read: parse-event timed out",
			req:  contract.AggregateRequest{EventError: &contract.StateError{Error: "States.Timeout", Cause: "Task timed out after 30 seconds"}},
			wantErr: `File copy failed. [{"request_id":"","source_bucket":"","source_key":"","target_bucket":"","success":false,` +
				`"err_msg":"the event could not be read (States.Timeout), nothing was copied: Task timed out after 30 seconds"}]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Aggregate(tc.req)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Aggregate: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
				if got == nil {
					t.Error("results are nil, want a list (JSON [] rather than null)")
				}
				return
			}
			cre, ok := err.(*CopyRequestError)
			if !ok {
				t.Fatalf("error %v is a %T, want *CopyRequestError", err, err)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("message\n got %s\nwant %s", err, tc.wantErr)
			}
			if got != nil {
				t.Errorf("results %v returned with the error", got)
			}
			// The message's list is the error's Results, as JSON.
			inMessage, _, perr := ParseMessage(err.Error())
			if perr != nil {
				t.Fatalf("ParseMessage: %v", perr)
			}
			if diff := cmp.Diff(cre.Results, inMessage); diff != "" {
				t.Errorf("message list differs from Results (-Results +message):\n%s", diff)
			}
		})
	}
}

func TestCopyRequestErrorNilResults(t *testing.T) {
	if got, want := (&CopyRequestError{}).Error(), "File copy failed. []"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAggregateHandler(t *testing.T) {
	good := contract.Iteration{File: aggFile, Job: aggJob, Copy: aggCopied, Recorded: aggComplete}
	bad := contract.Iteration{File: contract.File{SourceBucket: "restore", SourceKey: "k2"}, LookupError: &contract.StateError{Error: "NoOpenJobError", Cause: "none"}}
	tests := []struct {
		name     string
		req      contract.AggregateRequest
		want     []contract.FileResult // on success
		wantErr  bool
		wantLogs []string // "level msg" per line
	}{
		{
			name: "success",
			req:  contract.AggregateRequest{Iterations: []contract.Iteration{good}},
			want: []contract.FileResult{{RequestID: "req-1", SourceBucket: "restore", SourceKey: "granules/a+b=c café.iso.xml",
				TargetBucket: "archive", Success: true}},
			wantLogs: []string{"INFO copy request finished"},
		},
		{
			name:     "failure",
			req:      contract.AggregateRequest{Iterations: []contract.Iteration{good, bad}},
			wantErr:  true,
			wantLogs: []string{"ERROR file failed", "INFO copy request finished", "ERROR re-run input"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := &AggregateHandler{Logger: lambdafn.NewLogger(&logs, nil)}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req"})

			got, err := h.Report(ctx, tc.req)

			if tc.wantErr {
				if _, ok := err.(*CopyRequestError); !ok {
					t.Fatalf("error %v is a %T, want *CopyRequestError unwrapped", err, err)
				}
			} else {
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			}
			var gotLogs []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec struct {
					Level     string
					Msg       string `json:"message"`
					RequestID string `json:"requestId"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				if rec.RequestID != "lambda-req" {
					t.Errorf("log line without the request id: %s", line)
				}
				gotLogs = append(gotLogs, rec.Level+" "+rec.Msg)
			}
			if diff := cmp.Diff(tc.wantLogs, gotLogs); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
			}
		})
	}
}
