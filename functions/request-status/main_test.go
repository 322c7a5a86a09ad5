package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/runtimeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// These tests run the real request-status binary, built as it is deployed,
// against a fake Lambda Runtime API, and check what Step Functions would
// receive.

// A database that is down at cold start does not crash the function: the
// first query reports DatabaseUnavailableError, and nothing logs the password.
func TestDatabaseDownAtColdStart(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/request-status")
	dbURL := fmt.Sprintf("postgres://druser:s3cret-pw@127.0.0.1:%d/dr?sslmode=disable", pgtest.ClosedPort(t))
	for _, event := range []string{
		`{"operation":"find_open_job","source_key":"a.txt"}`,
		`{"operation":"record_outcome","source_key":"a.txt","request_id":"00000000-0000-4000-8000-000000000001"}`,
	} {
		got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
			Event: []byte(event),
			Env:   []string{"DATABASE_URL=" + dbURL, "AWS_LAMBDA_LOG_FORMAT=JSON"},
		})
		if got.Error == nil || got.Error.ErrorType != "DatabaseUnavailableError" {
			t.Errorf("%s: reported %+v, response %s; want errorType DatabaseUnavailableError\nlogs:\n%s", event, got.Error, got.Response, got.Logs)
		}
		if strings.Contains(got.Logs, "s3cret-pw") || (got.Error != nil && strings.Contains(got.Error.ErrorMessage, "s3cret-pw")) {
			t.Errorf("the password appears in the logs or the error:\n%s", got.Logs)
		}
	}
}

// fakeSSM serves GetParameter (awsJson1_1) from values; errType, when set,
// is the error every call gets instead (400, as SSM sends its errors).
func fakeSSM(t *testing.T, values map[string]string, errType string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name           string
			WithDecryption bool
		}
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "fake SSM serves GetParameter only", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := values[in.Name]
		switch {
		case errType != "":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":%q,"message":"fake SSM says %s"}`, errType, errType)
		case !ok || !in.WithDecryption:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"ParameterNotFound"}`)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Value": v, "Type": "SecureString"}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Without DATABASE_URL, SSM is read by the first invocation, not at init:
// an SSM or database failure is that invocation's routed error, never an
// init failure, and the password appears nowhere.
func TestSSMReadAtFirstInvocation(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/request-status")
	dbPort := pgtest.ClosedPort(t)
	values := map[string]string{"drdb-host": "127.0.0.1", "drdb-user-pass": "s3cret-pw"}
	tests := []struct {
		name          string
		endpoint      string
		wantErrorType string
		wantMsg       []string
	}{
		{name: "SSM unreachable", endpoint: fmt.Sprintf("http://127.0.0.1:%d", pgtest.ClosedPort(t)),
			wantErrorType: "DatabaseUnavailableError", wantMsg: []string{`SSM parameter "drdb-host"`, "connection refused"}},
		{name: "SSM throttled", endpoint: fakeSSM(t, values, "ThrottlingException"),
			wantErrorType: "DatabaseUnavailableError", wantMsg: []string{`SSM parameter "drdb-host"`, "ThrottlingException"}},
		{name: "access denied", endpoint: fakeSSM(t, values, "AccessDeniedException"),
			wantErrorType: "DatabaseError", wantMsg: []string{`SSM parameter "drdb-host"`, "AccessDeniedException"}},
		{name: "parameter not found", endpoint: fakeSSM(t, map[string]string{"drdb-host": "127.0.0.1"}, ""),
			wantErrorType: "DatabaseError", wantMsg: []string{`SSM parameter "drdb-user-pass"`, "DATABASE_PASSWORD_PARAMETER", "does not exist"}},
		{name: "SSM read, database down", endpoint: fakeSSM(t, values, ""),
			wantErrorType: "DatabaseUnavailableError", wantMsg: []string{`find open job for key "a.txt"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
				Event: []byte(`{"operation":"find_open_job","source_key":"a.txt"}`),
				Env: []string{"DATABASE_NAME=dr", "DATABASE_USER=druser", "DATABASE_SSLMODE=disable",
					fmt.Sprintf("DATABASE_PORT=%d", dbPort), "AWS_LAMBDA_LOG_FORMAT=JSON",
					"AWS_REGION=us-west-2", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
					"AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_ENDPOINT_URL_SSM=" + tc.endpoint},
			})
			if got.Error == nil || got.Error.ErrorType != tc.wantErrorType {
				t.Fatalf("reported %+v, response %s; want errorType %s\nlogs:\n%s", got.Error, got.Response, tc.wantErrorType, got.Logs)
			}
			for _, frag := range tc.wantMsg {
				if !strings.Contains(got.Error.ErrorMessage, frag) {
					t.Errorf("errorMessage %q does not contain %s", got.Error.ErrorMessage, frag)
				}
			}
			if strings.Contains(got.Logs, "s3cret-pw") || strings.Contains(got.Error.ErrorMessage, "s3cret-pw") {
				t.Errorf("the password appears in the logs or the error:\n%s", got.Logs)
			}
		})
	}
}

// Reading SSM needs a region: without one the function does not start.
func TestNoRegionFailsInit(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/request-status")
	_, err := runtimeapi.Invoke(t.Context(), binary, runtimeapi.Invocation{
		Event: []byte(`{"operation":"find_open_job","source_key":"a.txt"}`),
		Env:   []string{"DATABASE_NAME=dr", "DATABASE_USER=druser", "AWS_EC2_METADATA_DISABLED=true"},
	})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION is not set") {
		t.Errorf("Invoke error %v; want an init failure naming AWS_REGION", err)
	}
}

// A configuration error stops the function before lambda.Start with a message
// naming the variable.
func TestBadConfigurationFailsInit(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/request-status")
	_, err := runtimeapi.Invoke(t.Context(), binary, runtimeapi.Invocation{
		Event: []byte(`{"operation":"find_open_job","source_key":"a.txt"}`),
		Env:   []string{"DATABASE_USER=druser", "DATABASE_PORT=none"},
	})
	if err == nil {
		t.Fatal("the function served an invocation without DATABASE_NAME")
	}
	for _, want := range []string{"DATABASE_NAME is not set", `DATABASE_PORT=\"none\"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("init failure %q does not mention %s", err, want)
		}
	}
}

// Against a real Postgres: the documents Step Functions receives.
func TestRequestStatusOnPostgres(t *testing.T) {
	ctx := context.Background()
	// The function's DATABASE_URL selects the schema through search_path.
	dbURL, _ := pgtest.Schema(t, "request_status_fn")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := requeststatus.ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	job, err := jobseed.Insert(ctx, conn, jobseed.Row{ObjectKey: "dir/a b+c.txt", ArchiveBucketDest: "archive"})
	if err != nil {
		t.Fatal(err)
	}
	binary := runtimeapi.BuildFunction(t, "./functions/request-status")

	tests := []struct {
		name, event   string
		wantResponse  string
		wantErrorType string
	}{
		{name: "find", event: `{"operation":"find_open_job","source_key":"dir/a b+c.txt"}`,
			wantResponse: fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive"}`, job.RequestID)},
		{name: "record error", event: fmt.Sprintf(`{"operation":"record_outcome","source_key":"dir/a b+c.txt","request_id":%q,"copy_error":{"Error":"TransientCopyError","Cause":"{\"errorMessage\":\"slow down\",\"errorType\":\"TransientCopyError\"}"}}`, job.RequestID),
			wantResponse: `{"job_status":"error"}`},
		{name: "record complete", event: fmt.Sprintf(`{"operation":"record_outcome","source_key":"dir/a b+c.txt","request_id":%q}`, job.RequestID),
			wantResponse: `{"job_status":"complete"}`},
		{name: "late error keeps complete", event: fmt.Sprintf(`{"operation":"record_outcome","source_key":"dir/a b+c.txt","request_id":%q,"copy_error":{"Error":"PermanentCopyError","Cause":"late"}}`, job.RequestID),
			wantResponse: `{"job_status":"complete"}`},
		{name: "duplicate event", event: `{"operation":"find_open_job","source_key":"dir/a b+c.txt"}`,
			wantResponse: fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive","already_complete":true}`, job.RequestID)},
		{name: "no job", event: `{"operation":"find_open_job","source_key":"missing.txt"}`, wantErrorType: "NoOpenJobError"},
		{name: "unknown request", event: `{"operation":"record_outcome","source_key":"missing.txt","request_id":"00000000-0000-4000-8000-000000000001"}`,
			wantErrorType: "StatusUpdateError"},
		{name: "bad operation", event: `{"operation":"delete","source_key":"a.txt"}`, wantErrorType: "InvalidStatusRequestError"},
	}
	for _, tc := range tests {
		got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
			Event: []byte(tc.event),
			Env:   []string{"DATABASE_URL=" + dbURL},
		})
		gotType := ""
		if got.Error != nil {
			gotType = got.Error.ErrorType
		}
		if gotType != tc.wantErrorType || string(got.Response) != tc.wantResponse {
			t.Fatalf("%s: response %s, error %+v; want response %s, errorType %q\nlogs:\n%s",
				tc.name, got.Response, got.Error, tc.wantResponse, tc.wantErrorType, got.Logs)
		}
	}
	final, err := jobseed.Read(ctx, conn, job.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"complete", ""}, []string{final.JobStatus, final.ErrMsg}); diff != "" {
		t.Errorf("final row (-want +got):\n%s", diff)
	}
}
