package localrun_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
)

// The sweep on the embedded services `go run ./cmd/local reconcile` starts
// by default: PGlite (one session per pool, the simple query protocol) and
// versitygw.
func TestReconcileOnEmbeddedServices(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED with -short: starts PGlite and versitygw")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runner, err := execution.NewRunner(ctx, execution.Config{
		RepoRoot: root, Getenv: func(string) string { return "" },
		S3Dir: t.TempDir(), DBDir: t.TempDir(), Buckets: []string{restoreBucket, archiveBucket},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	const key = "lost/embedded.txt"
	if _, err := runner.Services.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(restoreBucket), Key: aws.String(key),
		Body: bytes.NewReader([]byte("restored"))}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	job, err := jobseed.Insert(ctx, runner.Services.DB, jobseed.Row{ObjectKey: key,
		RestoreBucketDest: restoreBucket, ArchiveBucketDest: archiveBucket, RequestTime: old, LastUpdateTime: old})
	if err != nil {
		t.Fatal(err)
	}
	res, err := localrun.SweepOnce(ctx, runner, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stuck != 1 || res.Started != 1 || len(res.Outcomes) != 1 || res.Outcomes[0].Status != "SUCCEEDED" {
		t.Fatalf("sweep %+v, outcomes %+v: want one file started and copied", res.Report, res.Outcomes)
	}
	got, err := jobseed.Read(ctx, runner.Services.DB, job.RequestID)
	if err != nil || got.JobStatus != "complete" {
		t.Errorf("row %q (%v), want complete", got.JobStatus, err)
	}
}
