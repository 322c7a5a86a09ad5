package recovery_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
)

// `rerun --local` re-runs a failed file through the real definition on the
// local engine (versitygw, Postgres) and its row ends complete.
func TestRerunLocal(t *testing.T) {
	root, err := localrun.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localrun.CheckNodeModules(root); err != nil {
		t.Fatal(err)
	}
	srv := s3server.StartForTest(t, "restore-bucket", "archive-bucket")
	url, db := seededDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _ := srv.Client(ctx)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore-bucket"), Key: aws.String("again/file.txt"),
		Body: bytes.NewReader([]byte("restored"))}); err != nil {
		t.Fatal(err)
	}
	job := insert(t, db, jobseed.Row{ObjectKey: "again/file.txt", JobStatus: "error", ErrMsg: "copy failed: SlowDown",
		RestoreBucketDest: "restore-bucket", ArchiveBucketDest: "archive-bucket"})
	env := map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_REGION": srv.Region,
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	var stdout, stderr bytes.Buffer
	cli := &recovery.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	if code := cli.Main(ctx, []string{"rerun", "--local", "--failed"}); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "ran: SUCCEEDED") {
		t.Errorf("output does not say the execution succeeded:\n%s", stdout.String())
	}
	got, err := jobseed.Read(ctx, db, job.RequestID)
	if err != nil || got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row %q %q (%v), want complete", got.JobStatus, got.ErrMsg, err)
	}
}
