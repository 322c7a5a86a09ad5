package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--queue-url is missing"},
		{[]string{"--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q"}, "--intake-queue-url is missing"},
		{[]string{"--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q", "--intake-queue-url", "https://sqs.us-east-1.amazonaws.com/1/q"}, "replaying a queue into itself"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--dry-run", "extra"}, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// --help names every flag the command has, and says where each queue URL
// comes from.
func TestHelpListsEveryFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 2 {
		t.Errorf("--help exit %d, want 2 (flag.ErrHelp)", code)
	}
	for _, want := range []string{"-queue-url", "DeadLetterQueueUrl", "IntakeDeadLetterQueueUrl", "-intake-queue-url", "IntakeQueueUrl",
		"-dry-run", "-max ", "-max-wait", "-visibility-timeout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, stderr.String())
		}
	}
}

// The command reads the default AWS configuration: AWS_ENDPOINT_URL points
// it at moto.
func TestDryRunThroughTheEnvironment(t *testing.T) {
	srv := motoserver.StartForTest(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.Endpoint)
	t.Setenv("AWS_REGION", srv.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	ctx := context.Background()
	q := sqs.NewFromConfig(aws.Config{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cmd-dry-run")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl,
		MessageBody: aws.String(`{"Records":[{"s3":{"bucket":{"name":"restore"},"object":{"key":"a+b.h5"}}}]}`)}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--queue-url", aws.ToString(created.QueueUrl), "--dry-run"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "s3://restore/a b.h5") || !strings.Contains(stdout.String(), "1 listed") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}
