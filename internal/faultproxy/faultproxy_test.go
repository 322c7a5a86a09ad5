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

// A rule without a failure records what it matches, forwards it and adds
// its Header to the answer.
func TestProxyRecordsAndAddsHeaders(t *testing.T) {
	srv := s3server.StartForTest(t, "src")
	ctx := context.Background()
	direct, _ := srv.Client(ctx)
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	head := &faultproxy.Rule{Match: faultproxy.IsHeadObject, Header: http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}}
	p, err := faultproxy.New(srv.Endpoint, head)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out, err := srv.ClientFor(p.URL).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if out.ServerSideEncryption != "AES256" || aws.ToInt64(out.ContentLength) != 1 {
		t.Errorf("HeadObject answer: SSE %q, length %d; want the added header and the server's answer", out.ServerSideEncryption, aws.ToInt64(out.ContentLength))
	}
	if _, err := srv.ClientFor(p.URL).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	reqs := head.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/src/k" || reqs[0].Header.Get("Authorization") == "" {
		t.Errorf("recorded %+v, want the one HeadObject (HeadBucket is not one)", reqs)
	}
}

// A regional proxy accepts only requests signed for its region and signs
// them again for the server's.
func TestRegionalProxy(t *testing.T) {
	srv := s3server.StartForTest(t, "bkt")
	ctx := context.Background()
	p, err := faultproxy.NewRegional(srv.Endpoint, faultproxy.Region{
		Name: "eu-west-1", UpstreamRegion: srv.Region,
		Credentials: aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := func(region string) *s3.Client {
		return s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(p.URL)
			o.UsePathStyle = true
			o.Region = region
		})
	}
	if _, err := client("eu-west-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a b+c"), Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("signed for eu-west-1: %v", err)
	}
	_, err = client(srv.Region).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bkt")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AuthorizationHeaderMalformed" {
		// HEAD answers carry no body: the status tells.
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
			t.Fatalf("signed for %s: err = %v, want 400 AuthorizationHeaderMalformed", srv.Region, err)
		}
	}
}
