package runtimeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", pgtest.ClosedPort(t))
}

// awsEnv is the environment of a Lambda that must not reach AWS: dummy
// credentials, no shared config files, no instance metadata.
func awsEnv(t *testing.T, extra ...string) []string {
	return append([]string{
		"HOME=" + t.TempDir(),
		"AWS_REGION=us-west-2",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED=true",
	}, extra...)
}

func invokeJSON(t *testing.T, binary string, in any, env []string) Result {
	t.Helper()
	event, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return InvokeFunction(t, binary, Invocation{Event: event, Env: env, Deadline: 2 * time.Minute})
}

// checkError checks the function reported errorType want, the name
// contract.ErrorType gives sample, with a message containing each of
// fragments.
func checkError(t *testing.T, got Result, want string, sample error, fragments ...string) {
	t.Helper()
	if got.Error == nil {
		t.Fatalf("no error reported, want %s; response %s\nlogs:\n%s", want, got.Response, got.Logs)
	}
	t.Logf("%s: %s", got.Error.ErrorType, got.Error.ErrorMessage)
	if got.Error.ErrorType != want {
		t.Errorf("errorType %q (%s), want %q\nlogs:\n%s", got.Error.ErrorType, got.Error.ErrorMessage, want, got.Logs)
	}
	if name := contract.ErrorType(sample); name != got.Error.ErrorType {
		t.Errorf("contract.ErrorType(%T) = %q, the runtime reported %q", sample, name, got.Error.ErrorType)
	}
	for _, f := range fragments {
		if !strings.Contains(got.Error.ErrorMessage, f) {
			t.Errorf("errorMessage %q does not mention %q", got.Error.ErrorMessage, f)
		}
	}
}

// TestCopyFileErrorType runs the real copy-file binary: S3 not answering is
// TransientCopyError (retried by the workflow), a bucket outside the
// allowlist is PermanentCopyError (refused before any S3 call: the endpoint
// is closed, so reaching it would be transient).
func TestCopyFileErrorType(t *testing.T) {
	binary := BuildFunction(t, "./functions/copy-file")
	endpoint := "AWS_ENDPOINT_URL_S3=http://" + closedAddr(t)
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/a+b=c café.h5", TargetBucket: "archive", Size: 10}

	t.Run("S3 unreachable", func(t *testing.T) {
		got := invokeJSON(t, binary, req, awsEnv(t, endpoint, "COPY_DEADLINE_MARGIN_SECS=5"))
		checkError(t, got, "TransientCopyError", &copyfile.TransientCopyError{}, req.SourceKey, "ConnectionError")
	})
	t.Run("source bucket outside the allowlist", func(t *testing.T) {
		got := invokeJSON(t, binary, req, awsEnv(t, endpoint, "SOURCE_BUCKETS=allowed-restore", "ARCHIVE_BUCKETS=archive"))
		checkError(t, got, "PermanentCopyError", &copyfile.PermanentCopyError{}, "BucketNotAllowed", "SOURCE_BUCKETS")
	})
	t.Run("archive bucket outside the allowlist", func(t *testing.T) {
		got := invokeJSON(t, binary, req, awsEnv(t, endpoint, "SOURCE_BUCKETS=restore", "ARCHIVE_BUCKETS=other-archive"))
		checkError(t, got, "PermanentCopyError", &copyfile.PermanentCopyError{}, "BucketNotAllowed", "ARCHIVE_BUCKETS")
	})
}

// schemaURL returns TEST_DATABASE_URL with its search_path set to a fresh
// schema holding the request_status table (pgtest.Schema: dropped when the
// test ends), and a connection to it.
func schemaURL(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	dbURL, _ := pgtest.Schema(t, "runtimeapi_test")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if err := requeststatus.ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return dbURL, conn
}

// TestRequestStatusErrorType runs the real request-status binary: a
// database that refuses connections is DatabaseUnavailableError (retried),
// a key without a job NoOpenJobError, an unknown request_id
// StatusUpdateError; a key with a job returns it.
func TestRequestStatusErrorType(t *testing.T) {
	binary := BuildFunction(t, "./functions/request-status")
	find := func(key string) contract.StatusRequest {
		return contract.StatusRequest{Operation: contract.OperationFindOpenJob, SourceKey: key}
	}

	t.Run("database refuses connections", func(t *testing.T) {
		dbURL := "postgres://postgres@" + closedAddr(t) + "/test?sslmode=disable&connect_timeout=2"
		got := invokeJSON(t, binary, find("a b.h5"), []string{"DATABASE_URL=" + dbURL})
		checkError(t, got, "DatabaseUnavailableError", &requeststatus.DatabaseUnavailableError{}, "a b.h5", "connection refused")
	})

	dbURL, conn := schemaURL(t)
	env := []string{"DATABASE_URL=" + dbURL}
	t.Run("no job for the key", func(t *testing.T) {
		got := invokeJSON(t, binary, find("granules/no such key.h5"), env)
		checkError(t, got, "NoOpenJobError", &requeststatus.NoOpenJobError{}, "granules/no such key.h5")
	})
	t.Run("unknown request_id", func(t *testing.T) {
		req := contract.StatusRequest{Operation: contract.OperationRecordOutcome, SourceKey: "k", RequestID: "6f1f5f2e-8d3c-4f59-9f57-3e2b1f0a9c11"}
		got := invokeJSON(t, binary, req, env)
		checkError(t, got, "StatusUpdateError", &requeststatus.StatusUpdateError{}, "6f1f5f2e-8d3c-4f59-9f57-3e2b1f0a9c11")
	})
	t.Run("open job found", func(t *testing.T) {
		const requestID = "0b6f3a44-2a8e-4c1b-9a7e-5d0c1e2f3a4b"
		key := "granules/a+b=c café.iso.xml"
		_, err := requeststatus.NewTable(conn).Insert(context.Background(), requeststatus.Row{
			RequestID: requestID, RequestGroupID: requestID, GranuleID: "g1", ObjectKey: key, ArchiveBucketDest: "archive"})
		if err != nil {
			t.Fatal(err)
		}
		got := invokeJSON(t, binary, find(key), env)
		if got.Error != nil {
			t.Fatalf("error %+v\nlogs:\n%s", got.Error, got.Logs)
		}
		var job contract.Job
		if err := json.Unmarshal(got.Response, &job); err != nil {
			t.Fatalf("response %s: %v", got.Response, err)
		}
		if want := (contract.Job{RequestID: requestID, TargetBucket: "archive"}); job != want {
			t.Errorf("job %+v, want %+v", job, want)
		}
	})
}
