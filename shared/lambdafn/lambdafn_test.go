package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

func records(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, rec)
	}
	return out
}

// Lines logged with an invocation's context carry its request id, under
// Lambda's key names; attributes added with With are kept; a line logged
// without a Lambda context has no requestId.
func TestNewLoggerAddsRequestID(t *testing.T) {
	var logs bytes.Buffer
	logger := lambdafn.NewLogger(&logs, slog.LevelInfo).With("function", "f")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	logger.InfoContext(ctx, "in an invocation", "n", 1)
	logger.WarnContext(ctx, "warned", "k", "v")
	logger.DebugContext(ctx, "below the level")
	logger.Info("at cold start")

	recs := records(t, &logs)
	if len(recs) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(recs), logs.String())
	}
	for i, want := range []string{"req-7", "req-7", ""} {
		got, _ := recs[i]["requestId"].(string)
		if got != want || recs[i]["function"] != "f" || recs[i]["message"] == nil || recs[i]["timestamp"] == nil {
			t.Errorf("line %d = %v; want requestId %q, function, message, timestamp", i, recs[i], want)
		}
	}
}

// A function built by its constructor logs the request id on every line of
// an invocation (copy-file's lines had none before lambdafn).
func TestConstructedFunctionLogsRequestID(t *testing.T) {
	var logs bytes.Buffer
	getenv := func(string) string { return "" }
	h, _, err := lambdafn.Build(context.Background(), copyfile.NewHandlerFromEnv, getenv, &logs)
	if err != nil {
		t.Fatal(err)
	}
	// A copy the allow-list refuses fails before any S3 call and logs one
	// line.
	h.Copier.(*copyfile.ArchiveCopier).Config.SourceBuckets = []string{"allowed"}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-copy"})
	_, err = h.Handle(ctx, contract.CopyRequest{SourceBucket: "other", SourceKey: "k", TargetBucket: "archive"})
	if err == nil {
		t.Fatal("a copy from a bucket outside SOURCE_BUCKETS succeeded")
	}
	recs := records(t, &logs)
	if len(recs) == 0 {
		t.Fatal("no log line")
	}
	for _, rec := range recs {
		if rec["requestId"] != "req-copy" {
			t.Errorf("line without requestId: %v", rec)
		}
	}
}
