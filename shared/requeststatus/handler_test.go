package requeststatus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// fakeStore records its calls and answers with canned results.
type fakeStore struct {
	job       contract.Job
	findErr   error
	status    string
	recordErr error
	marked    bool
	markErr   error
	lookups   []JobLookup
	findsErr  error
	calls     []string
}

var _ JobStore = (*fakeStore)(nil)

func (f *fakeStore) FindOpenJob(_ context.Context, key string) (contract.Job, error) {
	f.calls = append(f.calls, fmt.Sprintf("find %q", key))
	return f.job, f.findErr
}

func (f *fakeStore) FindOpenJobs(_ context.Context, keys []string) ([]JobLookup, error) {
	f.calls = append(f.calls, fmt.Sprintf("finds %q", keys))
	return f.lookups, f.findsErr
}

func (f *fakeStore) MarkPickedUp(_ context.Context, requestID, key string) (bool, error) {
	f.calls = append(f.calls, fmt.Sprintf("mark %q %q", requestID, key))
	return f.marked, f.markErr
}

func (f *fakeStore) RecordOutcome(_ context.Context, requestID, key string, copyErr *contract.StateError) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("record %q %q %+v", requestID, key, copyErr))
	return f.status, f.recordErr
}

func TestStatusHandler(t *testing.T) {
	tests := []struct {
		name          string
		input         string // the Lambda's JSON input
		store         fakeStore
		wantOutput    string // exact JSON output; "" when an error is expected
		wantErrorType string // as aws-lambda-go reports it
		wantErrText   string // a fragment of the error message
		wantCalls     []string
		wantLevel     string // the log line's level when not the default (ERROR on an error, else INFO)
	}{
		{
			name:       "find open job",
			input:      `{"operation":"find_open_job","source_key":"dir/a b.txt"}`,
			store:      fakeStore{job: contract.Job{RequestID: "r-1", TargetBucket: "archive"}},
			wantOutput: `{"request_id":"r-1","target_bucket":"archive"}`,
			wantCalls:  []string{`find "dir/a b.txt"`},
		},
		{
			name:       "find already complete job",
			input:      `{"operation":"find_open_job","source_key":"a.txt"}`,
			store:      fakeStore{job: contract.Job{RequestID: "r-1", TargetBucket: "archive", AlreadyComplete: true}},
			wantOutput: `{"request_id":"r-1","target_bucket":"archive","already_complete":true}`,
			wantCalls:  []string{`find "a.txt"`},
		},
		{
			name:  "find open jobs of a chunk",
			input: `{"operation":"find_open_jobs","files":[{"source_bucket":"restore","source_key":"a.txt","size":1,"version_id":"","etag":""},{"source_bucket":"restore","source_key":"b.txt","size":2,"version_id":"v","etag":"e"}]}`,
			store: fakeStore{lookups: []JobLookup{{Job: contract.Job{RequestID: "r-1", TargetBucket: "archive"}},
				{Job: contract.Job{RequestID: "r-2", TargetBucket: "archive", AlreadyComplete: true}}}},
			wantOutput: `{"items":[` +
				`{"file":{"source_bucket":"restore","source_key":"a.txt","size":1,"version_id":"","etag":""},"job":{"request_id":"r-1","target_bucket":"archive"},"lookup_error":null},` +
				`{"file":{"source_bucket":"restore","source_key":"b.txt","size":2,"version_id":"v","etag":"e"},"job":{"request_id":"r-2","target_bucket":"archive","already_complete":true},"lookup_error":null}]}`,
			wantCalls: []string{`finds ["a.txt" "b.txt"]`},
		},
		{
			name:  "find open jobs: a file without a job gets NoOpenJobError as its lookup_error",
			input: `{"operation":"find_open_jobs","files":[{"source_bucket":"restore","source_key":"gone.txt","size":1,"version_id":"","etag":""},{"source_bucket":"restore","source_key":"a.txt","size":1,"version_id":"","etag":""}]}`,
			store: fakeStore{lookups: []JobLookup{{NoJob: &NoOpenJobError{Key: "gone.txt"}}, {Job: contract.Job{RequestID: "r-1", TargetBucket: "archive"}}}},
			wantOutput: `{"items":[` +
				`{"file":{"source_bucket":"restore","source_key":"gone.txt","size":1,"version_id":"","etag":""},"job":null,"lookup_error":{"Error":"NoOpenJobError","Cause":"no open job in request_status for key \"gone.txt\""}},` +
				`{"file":{"source_bucket":"restore","source_key":"a.txt","size":1,"version_id":"","etag":""},"job":{"request_id":"r-1","target_bucket":"archive"},"lookup_error":null}]}`,
			wantCalls: []string{`finds ["gone.txt" "a.txt"]`},
			wantLevel: "WARN",
		},
		{
			name:          "find open jobs: the database unavailable fails the whole chunk",
			input:         `{"operation":"find_open_jobs","files":[{"source_key":"a.txt"}]}`,
			store:         fakeStore{findsErr: &DatabaseUnavailableError{Op: "find open jobs", Err: errors.New("connection refused")}},
			wantErrorType: "DatabaseUnavailableError",
			wantErrText:   "connection refused",
			wantCalls:     []string{`finds ["a.txt"]`},
		},
		{
			name:          "find open jobs needs files",
			input:         `{"operation":"find_open_jobs","files":[]}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   `operation "find_open_jobs" needs files (1 to 40)`,
		},
		{
			name:          "find open jobs takes at most 40 files",
			input:         fmt.Sprintf(`{"operation":"find_open_jobs","files":[%s{"source_key":"last"}]}`, strings.Repeat(`{"source_key":"k"},`, 40)),
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   "takes at most 40 files, got 41",
		},
		{
			name:          "find open jobs names the file without a key",
			input:         `{"operation":"find_open_jobs","files":[{"source_key":"a.txt"},{"source_bucket":"restore"}]}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   "files[1] has no source_key",
		},
		{
			name:       "mark picked up",
			input:      `{"operation":"mark_picked_up","source_key":"a.txt","request_id":"r-1"}`,
			store:      fakeStore{marked: true},
			wantOutput: `{"marked":true}`,
			wantCalls:  []string{`mark "r-1" "a.txt"`},
		},
		{
			name:       "mark of a row no longer inprogress marks nothing",
			input:      `{"operation":"mark_picked_up","source_key":"a.txt","request_id":"r-1"}`,
			wantOutput: `{"marked":false}`,
			wantCalls:  []string{`mark "r-1" "a.txt"`},
		},
		{
			name:          "mark needs the request id",
			input:         `{"operation":"mark_picked_up","source_key":"a.txt"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   `operation "mark_picked_up" needs request_id`,
		},
		{
			name:       "record success",
			input:      `{"operation":"record_outcome","source_key":"a.txt","request_id":"r-1"}`,
			store:      fakeStore{status: "complete"},
			wantOutput: `{"job_status":"complete"}`,
			wantCalls:  []string{`record "r-1" "a.txt" <nil>`},
		},
		{
			name:       "record failure passes the caught error",
			input:      `{"operation":"record_outcome","source_key":"a.txt","request_id":"r-1","copy_error":{"Error":"PermanentCopyError","Cause":"gone"}}`,
			store:      fakeStore{status: "error"},
			wantOutput: `{"job_status":"error"}`,
			wantCalls:  []string{`record "r-1" "a.txt" &{Error:PermanentCopyError Cause:gone}`},
		},
		{
			name:          "unknown operation",
			input:         `{"operation":"delete_job","source_key":"a.txt"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   `unknown operation "delete_job"`,
		},
		{
			name:          "missing operation",
			input:         `{"source_key":"a.txt"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   "operation is missing",
		},
		{
			name:          "find without key",
			input:         `{"operation":"find_open_job"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   `"find_open_job" needs source_key`,
		},
		{
			name:          "record without request id",
			input:         `{"operation":"record_outcome","source_key":"a.txt"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   `"record_outcome" needs request_id`,
		},
		{
			name:          "record without anything",
			input:         `{"operation":"record_outcome"}`,
			wantErrorType: "InvalidStatusRequestError",
			wantErrText:   "needs source_key and request_id",
		},
		{
			name:          "no open job",
			input:         `{"operation":"find_open_job","source_key":"a.txt"}`,
			store:         fakeStore{findErr: &NoOpenJobError{Key: "a.txt"}},
			wantErrorType: "NoOpenJobError",
			wantErrText:   `no open job in request_status for key "a.txt"`,
			wantCalls:     []string{`find "a.txt"`},
		},
		{
			name:          "wrapped unavailable database is unwrapped",
			input:         `{"operation":"find_open_job","source_key":"a.txt"}`,
			store:         fakeStore{findErr: fmt.Errorf("context: %w", &DatabaseUnavailableError{Op: "find", Err: errors.New("connection refused")})},
			wantErrorType: "DatabaseUnavailableError",
			wantErrText:   "database unavailable: find: connection refused",
			wantCalls:     []string{`find "a.txt"`},
		},
		{
			name:          "status update error",
			input:         `{"operation":"record_outcome","source_key":"a.txt","request_id":"r-9"}`,
			store:         fakeStore{recordErr: &StatusUpdateError{RequestID: "r-9", Key: "a.txt", Reason: "no row"}},
			wantErrorType: "StatusUpdateError",
			wantErrText:   `request "r-9" (key "a.txt"): no row`,
			wantCalls:     []string{`record "r-9" "a.txt" <nil>`},
		},
		{
			name:          "unnamed error becomes DatabaseError",
			input:         `{"operation":"record_outcome","source_key":"a.txt","request_id":"r-9"}`,
			store:         fakeStore{recordErr: errors.New("scan failed")},
			wantErrorType: "DatabaseError",
			wantErrText:   "scan failed",
			wantCalls:     []string{`record "r-9" "a.txt" <nil>`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := &StatusHandler{Store: &tc.store, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}

			// Through aws-lambda-go's own decoding and encoding.
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(tc.input))

			if got := contract.ErrorType(err); got != tc.wantErrorType {
				t.Errorf("errorType = %q (%v), want %q", got, err, tc.wantErrorType)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantErrText) {
				t.Errorf("error %q does not contain %q", err, tc.wantErrText)
			}
			if tc.wantOutput != "" && string(out) != tc.wantOutput {
				t.Errorf("output = %s, want %s", out, tc.wantOutput)
			}
			if diff := cmp.Diff(tc.wantCalls, tc.store.calls); diff != "" {
				t.Errorf("store calls (-want +got):\n%s", diff)
			}

			// One log line per operation, with key, status and duration.
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("log lines = %d, want 1:\n%s", len(lines), logs.String())
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"operation", "key", "request_id", "status", "duration_ms"} {
				if _, ok := line[field]; !ok {
					t.Errorf("log line lacks %q: %s", field, lines[0])
				}
			}
			wantLevel := map[bool]string{true: "ERROR", false: "INFO"}[err != nil]
			if tc.wantLevel != "" {
				wantLevel = tc.wantLevel
			}
			if line["level"] != wantLevel {
				t.Errorf("log level = %v, want %s", line["level"], wantLevel)
			}
			if err != nil && line["error_type"] != tc.wantErrorType {
				t.Errorf("logged error_type = %v, want %s", line["error_type"], tc.wantErrorType)
			}
		})
	}
}

func TestStatusResponseNeedsExactlyOneDocument(t *testing.T) {
	for _, r := range []StatusResponse{{}, {Job: &contract.Job{}, Recorded: &contract.Recorded{}}, {Found: &contract.FoundJobs{}, Marked: &contract.Marked{}}} {
		if _, err := json.Marshal(r); err == nil {
			t.Errorf("json.Marshal(%+v) succeeded, want an error", r)
		}
	}
}

// The handler on a real database, end to end through aws-lambda-go.
func TestStatusHandlerOnPostgres(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "dir/a b+c.txt", ArchiveBucketDest: "archive"})
	invoke := lambda.NewHandler((&StatusHandler{Store: NewStore(pool), Logger: slog.New(slog.DiscardHandler)}).Handle).Invoke

	steps := []struct {
		input, want string
	}{
		{`{"operation":"find_open_job","source_key":"dir/a b+c.txt"}`,
			fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive"}`, job.RequestID)},
		{fmt.Sprintf(`{"operation":"record_outcome","source_key":"dir/a b+c.txt","request_id":%q}`, job.RequestID),
			`{"job_status":"complete"}`},
		{fmt.Sprintf(`{"operation":"record_outcome","source_key":"dir/a b+c.txt","request_id":%q,"copy_error":{"Error":"PermanentCopyError","Cause":"late"}}`, job.RequestID),
			`{"job_status":"complete"}`},
		{`{"operation":"find_open_job","source_key":"dir/a b+c.txt"}`,
			fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive","already_complete":true}`, job.RequestID)},
	}
	for i, s := range steps {
		out, err := invoke(context.Background(), []byte(s.input))
		if err != nil || string(out) != s.want {
			t.Fatalf("step %d: output %s, error %v; want %s", i, out, err, s.want)
		}
	}
	_, err := invoke(context.Background(), []byte(`{"operation":"find_open_job","source_key":"missing.txt"}`))
	if got := contract.ErrorType(err); got != "NoOpenJobError" {
		t.Fatalf("missing key: errorType %q (%v), want NoOpenJobError", got, err)
	}
}

// A failed copy's err_msg says until when the restored copy can be re-run,
// when the request carries the file with its restore expiry (the "Record
// copy error" state passes $.file); without it, the message is the copy's.
func TestRecordedErrMsgNamesRestoreExpiry(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	invoke := lambda.NewHandler((&StatusHandler{Store: NewStore(pool), Logger: slog.New(slog.DiscardHandler)}).Handle).Invoke
	cause := `{"errorType":"PermanentCopyError","errorMessage":"NoSuchKey: The specified key does not exist."}`
	for _, tc := range []struct {
		file, want string
	}{
		{`,"file":{"source_bucket":"restore","source_key":"k1","size":1,"restore_expiry_time":"2026-11-25T00:00:00Z"}`,
			"NoSuchKey: The specified key does not exist.; restored copy expires 2026-11-25T00:00:00Z: re-run before then or restore again"},
		{`,"file":{"source_bucket":"restore","source_key":"k2","size":1}`, "NoSuchKey: The specified key does not exist."},
		{``, "NoSuchKey: The specified key does not exist."},
	} {
		job := mustInsert(t, pool, Row{ObjectKey: "expiry/" + tc.want[:8], ArchiveBucketDest: "archive"})
		in := fmt.Sprintf(`{"operation":"record_outcome","source_key":%q,"request_id":%q,"copy_error":{"Error":"PermanentCopyError","Cause":%q}%s}`,
			job.ObjectKey, job.RequestID, cause, tc.file)
		if out, err := invoke(context.Background(), []byte(in)); err != nil || string(out) != `{"job_status":"error"}` {
			t.Fatalf("record: %s, %v", out, err)
		}
		row, err := NewTable(pool).Read(context.Background(), job.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if row.ErrMsg != tc.want {
			t.Errorf("err_msg %q, want %q", row.ErrMsg, tc.want)
		}
	}
}

// Each database call writes its latency and whether the database was
// unavailable, by operation; an invalid request (no call) writes nothing.
func TestStatusHandlerWritesEMF(t *testing.T) {
	var out bytes.Buffer
	h := &StatusHandler{Store: &fakeStore{findErr: &DatabaseUnavailableError{Op: "find", Err: errors.New("connection refused")}},
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(slog.New(slog.NewJSONHandler(&out, nil)), "request-status")}
	h.Handle(context.Background(), contract.StatusRequest{Operation: contract.OperationFindOpenJob, SourceKey: "k"})
	h.Store = &fakeStore{status: "complete"}
	h.Handle(context.Background(), contract.StatusRequest{Operation: contract.OperationRecordOutcome, SourceKey: "k", RequestID: "r"})
	h.Handle(context.Background(), contract.StatusRequest{Operation: "bogus"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d EMF lines, want 2:\n%s", len(lines), out.String())
	}
	for i, want := range []struct {
		op   string
		down float64
	}{{contract.OperationFindOpenJob, 1}, {contract.OperationRecordOutcome, 0}} {
		var l map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l["Operation"] != want.op || l[metrics.DatabaseUnavailable] != want.down || l["Function"] != "request-status" {
			t.Errorf("line %d: %s; want operation %s, unavailable %v", i, lines[i], want.op, want.down)
		}
		if ms, ok := l[metrics.DatabaseCallMilliseconds].(float64); !ok || ms < 0 {
			t.Errorf("line %d has no latency: %s", i, lines[i])
		}
	}
}

// find_open_jobs on a real database, end to end through aws-lambda-go: each
// file comes back with its job or NoOpenJobError, in order, and the job
// found is marked picked up.
func TestStatusHandlerFindOpenJobsOnPostgres(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "dir/a b+c.txt", ArchiveBucketDest: "archive", RequestTime: base})
	invoke := lambda.NewHandler((&StatusHandler{Store: NewStore(pool), Logger: slog.New(slog.DiscardHandler)}).Handle).Invoke

	in := `{"operation":"find_open_jobs","files":[` +
		`{"source_bucket":"restore","source_key":"missing.txt","size":1,"version_id":"","etag":""},` +
		`{"source_bucket":"restore","source_key":"dir/a b+c.txt","size":2,"version_id":"","etag":""}]}`
	out, err := invoke(context.Background(), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"items":[` +
		`{"file":{"source_bucket":"restore","source_key":"missing.txt","size":1,"version_id":"","etag":""},"job":null,` +
		`"lookup_error":{"Error":"NoOpenJobError","Cause":"no open job in request_status for key \"missing.txt\""}},` +
		fmt.Sprintf(`{"file":{"source_bucket":"restore","source_key":"dir/a b+c.txt","size":2,"version_id":"","etag":""},"job":{"request_id":%q,"target_bucket":"archive"},"lookup_error":null}]}`, job.RequestID)
	if string(out) != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
	if row := mustRead(t, pool, job.RequestID); !row.LastUpdateTime.After(base) {
		t.Errorf("the job found was not marked picked up: last_update_time %s", row.LastUpdateTime)
	}
}
