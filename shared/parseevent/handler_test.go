package parseevent

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

func TestParseHandler(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		want    contract.ParsedEvent
		wantErr string
		wantLog map[string]any
	}{
		{
			name:  "two files",
			event: string(readTestdata(t, "s3-records-two-files-encoded-keys.json")),
			want: contract.ParsedEvent{Files: []contract.File{
				{SourceBucket: "my-dr-fake-glacier-bucket", SourceKey: "granules/L0A RAD RAW product (1 of 20).h5", Size: 2048},
				{SourceBucket: "my-dr-fake-glacier-bucket", SourceKey: "granules/a+b=c café.iso.xml", Size: 512},
			}, Rejected: []contract.RejectedMessage{}},
			wantLog: map[string]any{
				"level": "INFO", "message": "event parsed", "requestId": "req-1", "files": 2.0,
				"bucket": "my-dr-fake-glacier-bucket", "first_key": "granules/L0A RAD RAW product (1 of 20).h5",
			},
		},
		{
			name:    "missing key",
			event:   string(readTestdata(t, "s3-records-missing-key.json")),
			wantErr: "Records[0].s3.object.key is missing",
			wantLog: map[string]any{
				"level": "WARN", "message": "event rejected", "requestId": "req-1", "files": 0.0,
				"error": "Records[0].s3.object.key is missing",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := &ParseHandler{Logger: lambdafn.NewLogger(&logs, nil)}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})

			got, err := h.Handle(ctx, json.RawMessage(tc.event))

			if tc.wantErr != "" {
				// The error must be the *InvalidEventError itself, not a
				// wrapper: Lambda reports the outermost type's name.
				if _, ok := err.(*InvalidEventError); !ok {
					t.Fatalf("error %v is a %T, want *InvalidEventError unwrapped", err, err)
				}
				if err.Error() != tc.wantErr {
					t.Errorf("error %q, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}

			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs.String())
			}
			var gotLog map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &gotLog); err != nil {
				t.Fatal(err)
			}
			delete(gotLog, "timestamp")
			if diff := cmp.Diff(tc.wantLog, gotLog); diff != "" {
				t.Errorf("log line (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseHandlerBoundsFilesPerExecution: with MAX_FILES_PER_EVENT set, an event of more files is
// rejected as a whole with an *InvalidEventError naming the bound and how
// to split; one at the bound is parsed; a bad value is refused at cold start.
func TestParseHandlerBoundsFilesPerExecution(t *testing.T) {
	env := map[string]string{EnvMaxFiles: "8"}
	h, err := NewHandlerFromEnv(context.Background(), aws.Config{}, func(k string) string { return env[k] }, lambdafn.NewLogger(&bytes.Buffer{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Handle(context.Background(), notificationWith(9, 100))
	if _, ok := err.(*InvalidEventError); !ok {
		t.Fatalf("9 files with %s=8: error %v (%T), want *InvalidEventError unwrapped", EnvMaxFiles, err, err)
	}
	for _, want := range []string{"event names 9 files; one execution may carry at most 8", "262144 bytes", "events of at most 8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got, err := h.Handle(context.Background(), notificationWith(8, 100)); err != nil || len(got.Files) != 8 {
		t.Errorf("8 files with %s=8: %d files, error %v; want all 8", EnvMaxFiles, len(got.Files), err)
	}
	env[EnvMaxFiles] = "eight"
	if _, err := NewHandlerFromEnv(context.Background(), aws.Config{}, func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), `MAX_FILES_PER_EVENT="eight"`) {
		t.Errorf("%s=eight: err = %v, want it named", EnvMaxFiles, err)
	}
}
