package localrun_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// `go run ./cmd/local rerun` is recovery's rerun on the local services: it
// re-runs a failed file through the real definition on the local engine
// (versitygw, Postgres), waits, and the row ends complete.
func TestRerunOnLocalEngine(t *testing.T) {
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		t.Fatal(err)
	}
	srv := s3server.StartForTest(t, "restore-bucket", "archive-bucket")
	url, _ := pgtest.Schema(t, "rerun")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := requeststatus.ApplySchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	c, _ := srv.Client(ctx)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore-bucket"), Key: aws.String("again/file.txt"),
		Body: bytes.NewReader([]byte("restored"))}); err != nil {
		t.Fatal(err)
	}
	job, err := jobseed.Insert(ctx, db, jobseed.Row{ObjectKey: "again/file.txt", JobStatus: "error", ErrMsg: "copy failed: SlowDown",
		RestoreBucketDest: "restore-bucket", ArchiveBucketDest: "archive-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_REGION": srv.Region,
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	var stdout, stderr bytes.Buffer
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Dir: root, Getenv: func(k string) string { return env[k] }}
	if code := cli.Main(ctx, []string{"rerun", "--failed"}); code != localrun.ExitSucceeded {
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

// rerun's flags are recovery's, checked as recovery checks them; a
// deployed state machine or a region makes no sense on the local engine.
func TestRerunRefusesAWSFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rerun", "--state-machine-arn", "arn:aws:states:us-east-1:123456789012:stateMachine:copy"},
			"flag provided but not defined: -state-machine-arn (go run ./cmd/local runs the executions on its own engine"},
		{[]string{"rerun", "--region", "eu-west-1"}, "flag provided but not defined: -region (go run ./cmd/local needs no region"},
		{[]string{"rerun", "--limit", "0"}, "--limit 0: want at least 1"},
	} {
		var stdout, stderr bytes.Buffer
		cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if code := cli.Main(context.Background(), tc.args); code != localrun.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), localrun.ExitUsage, tc.want)
		}
	}
}

// rerun --help lists the flags rerun takes here: recovery's without
// --state-machine-arn and --region, which it refuses, in the synopsis too.
func TestRerunHelpListsNoAWSFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := cli.Main(context.Background(), []string{"rerun", "--help"}); code != localrun.ExitSucceeded {
		t.Fatalf("exit %d, stderr %q; want %d", code, stderr.String(), localrun.ExitSucceeded)
	}
	help := stdout.String()
	if !strings.HasPrefix(help, "usage: go run ./cmd/local rerun [--request-group ID]") || !strings.Contains(help, "\n  -failed") {
		t.Errorf("rerun --help does not print rerun's usage and flags:\n%s", help)
	}
	for _, flag := range []string{"state-machine-arn", "region"} {
		if strings.Contains(help, "-"+flag) {
			t.Errorf("rerun --help names -%s, which rerun refuses:\n%s", flag, help)
		}
	}
}

// Outside the repository, rerun says to run it from inside: it takes
// recovery rerun's flags, so the other commands' --repo would be refused.
func TestRerunOutsideTheRepositoryNamesNoRepoFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Dir: t.TempDir(), Getenv: func(string) string { return "" }}
	code := cli.Main(context.Background(), []string{"rerun", "--dry-run"})
	if code != localrun.ExitUsage || !strings.Contains(stderr.String(), "from inside the repository") || strings.Contains(stderr.String(), "--repo") {
		t.Errorf("exit %d, stderr %q; want %d (configuration), saying to run from inside the repository, naming no --repo flag", code, stderr.String(), localrun.ExitUsage)
	}
	if code := cli.Main(context.Background(), []string{"rerun", "--repo", "."}); code != localrun.ExitUsage {
		t.Errorf("rerun --repo: exit %d, want %d (not one of rerun's flags)", code, localrun.ExitUsage)
	}
}

// A repository without node_modules is a setup to fix, not a file that
// failed: rerun exits 2 (as cmd/local's other commands do for
// configuration errors) and says to run npm ci.
func TestRerunWithoutNodeModulesIsAConfigurationError(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "package.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Dir: dir, Getenv: func(string) string { return "" }}
	code := cli.Main(context.Background(), []string{"rerun", "--dry-run"})
	if code != localrun.ExitUsage || !strings.Contains(stderr.String(), "npm ci") || strings.Count(stderr.String(), "npm ci") != 1 {
		t.Errorf("exit %d, stderr %q; want %d and npm ci named once", code, stderr.String(), localrun.ExitUsage)
	}
}
