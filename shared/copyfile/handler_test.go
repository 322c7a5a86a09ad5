package copyfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// copierFunc adapts a function to Copier.
type copierFunc func(context.Context, contract.CopyRequest) (contract.CopyOutcome, error)

func (f copierFunc) Copy(ctx context.Context, r contract.CopyRequest) (contract.CopyOutcome, error) {
	return f(ctx, r)
}

var _ Copier = copierFunc(nil)

func TestHandlerReturnsRoutedErrorsUnwrapped(t *testing.T) {
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "a b", TargetBucket: "archive"}
	c := Copy{SourceBucket: "restore", SourceKey: "a b", TargetBucket: "archive"}
	tests := []struct {
		name     string
		err      error
		wantType string
		wantMsg  string
		level    string
	}{
		{"wrapped transient", fmt.Errorf("ctx: %w", &TransientCopyError{Copy: c, Code: "SlowDown", Message: "Please reduce your request rate."}),
			"*copyfile.TransientCopyError", "copy s3://restore/a b to s3://archive/a b: SlowDown: Please reduce your request rate.", "WARN"},
		{"raw S3 error", apiError(404, "NoSuchKey", "The specified key does not exist."),
			"*copyfile.PermanentCopyError", "copy s3://restore/a b to s3://archive/a b: NoSuchKey: The specified key does not exist.", "ERROR"},
		{"plain error", errors.New("boom"), "*copyfile.PermanentCopyError", "copy s3://restore/a b to s3://archive/a b: boom", "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := &CopyHandler{
				Copier: copierFunc(func(context.Context, contract.CopyRequest) (contract.CopyOutcome, error) {
					return contract.CopyOutcome{}, tc.err
				}),
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			}
			_, err := h.Handle(context.Background(), req)
			if got := fmt.Sprintf("%T", err); got != tc.wantType {
				t.Errorf("error type = %s, want %s (unwrapped)", got, tc.wantType)
			}
			if err == nil || err.Error() != tc.wantMsg {
				t.Errorf("message = %v, want %q", err, tc.wantMsg)
			}
			line := oneLogLine(t, &logs)
			if line["level"] != tc.level || line["source_key"] != "a b" {
				t.Errorf("log line = %v", line)
			}
		})
	}
}

func TestHandlerLogsOneLinePerCopy(t *testing.T) {
	tests := []struct {
		name     string
		outcome  contract.CopyOutcome
		wantLine map[string]any
	}{
		{
			name: "finished",
			outcome: contract.CopyOutcome{TargetBucket: "archive", TargetKey: "k", Bytes: 42 * MiB, Multipart: true, Parts: 9, DurationMS: 1234,
				Complete: true, PartSize: 5 * MiB, PartsDone: 9, PartsTotal: 9, BytesDone: 42 * MiB},
			wantLine: map[string]any{
				"level": "INFO", "msg": "file copied", "source_bucket": "restore", "source_key": "k", "target_bucket": "archive",
				"bytes": float64(42 * MiB), "multipart": true, "parts": float64(9), "duration_ms": float64(1234),
				"parts_done": float64(9), "part_size": float64(5 * MiB), "passes": float64(1), "elapsed_ms": float64(1234),
			},
		},
		{
			name:    "not copied: the archive copy was already in place",
			outcome: contract.CopyOutcome{TargetBucket: "archive", TargetKey: "k", Bytes: 42, DurationMS: 12, Complete: true, AlreadyArchived: true},
			wantLine: map[string]any{
				"level": "INFO", "msg": "file copied", "source_bucket": "restore", "source_key": "k", "target_bucket": "archive",
				"bytes": float64(42), "multipart": false, "parts": float64(0), "duration_ms": float64(12),
				"already_archived": true, "passes": float64(1), "elapsed_ms": float64(12),
			},
		},
		{
			name: "paused before the deadline: the resume token is logged",
			outcome: contract.CopyOutcome{TargetBucket: "archive", TargetKey: "k", Bytes: 42 * MiB, Multipart: true, Parts: 9, DurationMS: 1234,
				UploadID: "u-1", SourceETag: `"e-1"`, PartSize: 5 * MiB, PartsDone: 4, PartsTotal: 9, BytesDone: 20 * MiB},
			wantLine: map[string]any{
				"level": "INFO", "msg": "file copy paused before the deadline; the workflow resumes it",
				"source_bucket": "restore", "source_key": "k", "target_bucket": "archive",
				"bytes": float64(42 * MiB), "multipart": true, "parts": float64(9), "duration_ms": float64(1234),
				"parts_done": float64(4), "part_size": float64(5 * MiB), "upload_id": "u-1", "source_etag": `"e-1"`, "bytes_done": float64(20 * MiB),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := &CopyHandler{
				Copier: copierFunc(func(context.Context, contract.CopyRequest) (contract.CopyOutcome, error) { return tc.outcome, nil }),
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			}
			got, err := h.Handle(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.outcome
			want.Passes, want.ElapsedMS = 1, want.DurationMS // the first pass
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			line := oneLogLine(t, &logs)
			delete(line, "time")
			if diff := cmp.Diff(tc.wantLine, line); diff != "" {
				t.Errorf("log line (-want +got):\n%s", diff)
			}
		})
	}
}

func oneLogLine(t *testing.T, logs *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestErrorTypeAsTheLambdaRuntimeReportsIt runs the handler under the real
// aws-lambda-go runtime loop (in a child process, against a fake Lambda
// Runtime API) and checks the errorType it posts: the names Step Functions
// routes on.
func TestErrorTypeAsTheLambdaRuntimeReportsIt(t *testing.T) {
	if os.Getenv("ARCHIVECOPY_RUNTIME_CHILD") != "" {
		return // the child's work is done in TestMain
	}
	tests := []struct {
		code     string
		wantType string
	}{
		{"SlowDown", "TransientCopyError"},
		{"NoSuchKey", "PermanentCopyError"},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			posted := make(chan map[string]string, 1)
			var served atomic.Bool
			rt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/runtime/invocation/next"):
					if served.Swap(true) {
						<-r.Context().Done() // no second invocation
						return
					}
					w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
					w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
					w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:copy-file")
					_, _ = io.WriteString(w, `{"source_bucket":"restore","source_key":"k","target_bucket":"archive"}`)
				case strings.HasSuffix(r.URL.Path, "/error"):
					var body map[string]string
					data, _ := io.ReadAll(r.Body)
					_ = json.Unmarshal(data, &body)
					posted <- body
					w.WriteHeader(http.StatusAccepted)
				default:
					w.WriteHeader(http.StatusAccepted)
				}
			}))
			defer rt.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestErrorTypeAsTheLambdaRuntimeReportsIt$")
			cmd.Env = append(os.Environ(),
				"ARCHIVECOPY_RUNTIME_CHILD="+tc.code,
				"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.URL, "http://"))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			select {
			case body := <-posted:
				if body["errorType"] != tc.wantType {
					t.Errorf("errorType = %q, want %q (message %q)", body["errorType"], tc.wantType, body["errorMessage"])
				}
				if !strings.HasPrefix(body["errorMessage"], "copy s3://restore/k to s3://archive/k: "+tc.code) {
					t.Errorf("errorMessage = %q", body["errorMessage"])
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the runtime posted no error; child output:\n%s", out.String())
			}
		})
	}
}

func TestMain(m *testing.M) {
	if code := os.Getenv("ARCHIVECOPY_RUNTIME_CHILD"); code != "" {
		// Child: serve the copy handler through lambda.Start, with a copier
		// failing as S3 would with code.
		status := map[string]int{"SlowDown": 503, "NoSuchKey": 404}[code]
		h := &CopyHandler{
			Copier: copierFunc(func(context.Context, contract.CopyRequest) (contract.CopyOutcome, error) {
				return contract.CopyOutcome{}, apiError(status, code, "from the fake")
			}),
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		}
		lambda.Start(h.Handle)
		return
	}
	os.Exit(m.Run())
}
