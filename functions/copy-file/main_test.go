package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/runtimeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
)

// These tests run the real copy-file binary, built as it is deployed,
// against a fake Lambda Runtime API and a local S3-compatible server.

// The function is wired from the environment only: the endpoint comes from
// AWS_ENDPOINT_URL_S3 and addressing is path-style (a bucket name as a host
// would not resolve on 127.0.0.1). Every log line is JSON and carries the
// invocation's request id (requestId).
func TestCopyFileFromEnvironment(t *testing.T) {
	srv := s3server.StartForTest(t, "restore", "archive")
	ctx := context.Background()
	direct, _ := srv.Client(ctx)
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String("a b+c.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	binary := runtimeapi.BuildFunction(t, "./functions/copy-file")
	env := []string{
		"AWS_ENDPOINT_URL_S3=" + srv.Endpoint,
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=" + srv.Region,
		"AWS_CONFIG_FILE=" + t.TempDir() + "/none",
		"AWS_SHARED_CREDENTIALS_FILE=" + t.TempDir() + "/none",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
		Event:     []byte(`{"source_bucket":"restore","source_key":"a b+c.txt","target_bucket":"archive"}`),
		Env:       env,
		RequestID: "8f1c6a2e-copy-file-request",
		Deadline:  2 * time.Minute, // more than COPY_DEADLINE_MARGIN_SECS
	})
	if got.Error != nil {
		t.Fatalf("error %+v\nlogs:\n%s", got.Error, got.Logs)
	}
	var out struct {
		Bytes    int64 `json:"bytes"`
		Complete bool  `json:"complete"`
	}
	if err := json.Unmarshal(got.Response, &out); err != nil || out.Bytes != 5 || !out.Complete {
		t.Errorf("response %s (%v); want 5 bytes, complete", got.Response, err)
	}
	lines := strings.Split(strings.TrimSpace(got.Logs), "\n")
	copied := false
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if rec["requestId"] != "8f1c6a2e-copy-file-request" {
			t.Errorf("log line without the invocation's requestId: %s", line)
		}
		copied = copied || rec["message"] == "file copied"
	}
	if !copied {
		t.Errorf("no \"file copied\" line in the logs:\n%s", got.Logs)
	}
}

// A bad setting stops the function before lambda.Start with a message
// naming the variable.
func TestBadConfigurationFailsInit(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/copy-file")
	for _, tc := range []struct{ env, want string }{
		{"S3_FORCE_PATH_STYLE=maybe", `S3_FORCE_PATH_STYLE=\"maybe\"`},
		{"MULTIPART_CHUNKSIZE_MB=4", "MULTIPART_CHUNKSIZE_MB"},
	} {
		_, err := runtimeapi.Invoke(t.Context(), binary, runtimeapi.Invocation{
			Event: []byte(`{"source_bucket":"restore","source_key":"a","target_bucket":"archive"}`),
			Env:   []string{tc.env, "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"},
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "copy-file: cannot start") {
			t.Errorf("%s: Invoke error %v; want an init failure naming %s", tc.env, err, tc.want)
		}
	}
}
