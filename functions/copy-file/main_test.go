package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// TestClientHonoursEndpointEnv wires the client as main does, from the
// environment only, against a local S3-compatible server: the endpoint comes
// from AWS_ENDPOINT_URL_S3 and addressing is path-style (a bucket name as a
// host would not resolve on 127.0.0.1).
func TestClientHonoursEndpointEnv(t *testing.T) {
	srv := s3server.StartForTest(t, "restore", "archive")
	ctx := context.Background()
	direct, _ := srv.Client(ctx)
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String("a b+c.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_REGION", srv.Region)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("S3_FORCE_PATH_STYLE", "")

	client, err := newS3Client(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := copyfile.ConfigFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	h := &copyfile.CopyHandler{Copier: copyfile.NewArchiveCopier(client, cfg)}
	out, err := h.Handle(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: "a b+c.txt", TargetBucket: "archive"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Bytes != 5 {
		t.Errorf("outcome = %+v", out)
	}

	t.Setenv("S3_FORCE_PATH_STYLE", "maybe")
	if _, err := newS3Client(ctx, 16); err == nil || !strings.Contains(err.Error(), `S3_FORCE_PATH_STYLE="maybe"`) {
		t.Errorf("bad S3_FORCE_PATH_STYLE: err = %v", err)
	}
}
