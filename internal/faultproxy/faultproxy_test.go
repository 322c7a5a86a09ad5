package faultproxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
)

func TestProxyInjectsThenForwards(t *testing.T) {
	srv := s3server.StartForTest(t, "src", "dst")
	ctx := context.Background()
	direct, _ := srv.Client(ctx)
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}

	slow := &faultproxy.Rule{Match: faultproxy.IsCopyObject, Times: 1, Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	// net/http itself retries an idempotent request (GET, HEAD) whose reused
	// connection drops, so resets are tested on CopyObject (PUT).
	reset := &faultproxy.Rule{Match: func(r *http.Request) bool {
		return faultproxy.IsCopyObject(r) && r.URL.Path == "/dst/reset"
	}, Times: 1, Reset: true}
	p, err := faultproxy.New(srv.Endpoint, slow, reset)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(p.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1 // see every injected failure
	})
	copyIn := &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("a b"), CopySource: aws.String("src/a%20b")}

	_, err = c.CopyObject(ctx, copyIn)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SlowDown" {
		t.Fatalf("first CopyObject: err = %v, want SlowDown", err)
	}
	if _, err := c.CopyObject(ctx, copyIn); err != nil {
		t.Fatalf("second CopyObject (forwarded, signature must verify): %v", err)
	}
	if got := slow.Hits(); got != 1 {
		t.Errorf("SlowDown rule hits = %d, want 1", got)
	}

	copyIn.Key = aws.String("reset")
	_, err = c.CopyObject(ctx, copyIn)
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("third CopyObject: err = %v, want a connection error", err)
	}
	if _, err := c.CopyObject(ctx, copyIn); err != nil {
		t.Fatalf("fourth CopyObject: %v", err)
	}
	if got := reset.Hits(); got != 1 {
		t.Errorf("reset rule hits = %d, want 1", got)
	}
}
