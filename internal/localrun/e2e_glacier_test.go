package localrun_test

// Glacier semantics, on moto's S3 (the second S3 peer): versitygw has no
// storage classes, so these scenarios need moto_server. moto stores
// StorageClass GLACIER / DEEP_ARCHIVE, refuses CopyObject of such an object
// until RestoreObject (ObjectNotInActiveTierError, as S3 does), then answers
// HEAD with x-amz-restore: ongoing-request="false", expiry-date=...
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

func (h *harness) putArchived(key string, body []byte, class types.StorageClass) {
	h.t.Helper()
	if _, err := h.s3.PutObject(h.ctx, &s3.PutObjectInput{
		Bucket: aws.String(restoreBucket), Key: aws.String(key), Body: bytes.NewReader(body),
		StorageClass: class,
	}); err != nil {
		h.t.Fatalf("put %s (%s): %v", key, class, err)
	}
}

func (h *harness) restore(key string) {
	h.t.Helper()
	if _, err := h.s3.RestoreObject(h.ctx, &s3.RestoreObjectInput{
		Bucket: aws.String(restoreBucket), Key: aws.String(key),
		RestoreRequest: &types.RestoreRequest{Days: aws.Int32(1)},
	}); err != nil {
		h.t.Fatalf("restore %s: %v", key, err)
	}
	head, err := h.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: aws.String(restoreBucket), Key: aws.String(key)})
	if err != nil {
		h.t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(head.Restore), `ongoing-request="false"`) {
		h.t.Fatalf("after RestoreObject, x-amz-restore = %q, want a completed restore", aws.ToString(head.Restore))
	}
}

// A copy before the restore completed fails permanently (no retry) saying
// the object is not restored, in the row's err_msg and the execution's
// cause; once RestoreObject completed, the same event copies the same key
// and the row (still open: error is not complete) ends complete.
func TestScenarioGlacierCopiedOnlyAfterRestore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{s3: s3server.BackendMoto})
	body := []byte("archived in GLACIER " + randomHex(16))
	h.putArchived(singleKey, body, types.StorageClassGlacier)
	job := h.insertJob(singleKey)
	event := readEvent(t, "s3-records-restore-completed.json")

	res := h.run(event)

	results := failedResults(t, res)
	if len(results) != 1 || results[0].Success || results[0].RequestID != job.RequestID {
		t.Fatalf("results = %+v, want one failed result for request %s", results, job.RequestID)
	}
	row := h.job(job.RequestID)
	for name, msg := range map[string]string{"row err_msg": row.ErrMsg, "result err_msg": results[0].ErrMsg} {
		if !strings.Contains(msg, "not restored") || !strings.Contains(msg, "GLACIER") || !strings.Contains(msg, singleKey) {
			t.Errorf("%s %q does not say the GLACIER object %s is not restored", name, msg, singleKey)
		}
	}
	if row.JobStatus != "error" {
		t.Errorf("row status %q, want error", row.JobStatus)
	}
	for _, ev := range res.History {
		if ev.Type == "StateFailed" && ev.State != nil && ev.State.Name == "Copy file" && ev.Error != "PermanentCopyError" {
			t.Errorf("Copy file failed with %s, want PermanentCopyError", ev.Error)
		}
	}
	if got := countEvents(res, "StateRetried", "Copy file"); got != 0 {
		t.Errorf("Copy file retried %d times, want none (not restored is permanent)", got)
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Fatalf("archive holds %q before the restore, want nothing", keys)
	}

	h.restore(singleKey)
	res = h.run(event)

	want := []contract.FileResult{{RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: singleKey,
		TargetBucket: archiveBucket, Success: true}}
	if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
		t.Errorf("after the restore, output (-want +got):\n%s", diff)
	}
	if got, _ := h.archived(singleKey); !bytes.Equal(got, body) {
		t.Error("after the restore, the file is not archived intact")
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("after the restore, row %q %q, want complete without error", got.JobStatus, got.ErrMsg)
	}
}

// A restored DEEP_ARCHIVE object is copied; the archive copy is in the
// archive bucket's storage class (CopyObject does not carry the source's
// class), not DEEP_ARCHIVE with a pending restore.
func TestScenarioDeepArchiveRestored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{s3: s3server.BackendMoto})
	body := []byte("archived in DEEP_ARCHIVE " + randomHex(16))
	h.putArchived(singleKey, body, types.StorageClassDeepArchive)
	h.restore(singleKey)
	job := h.insertJob(singleKey)

	res := h.run(readEvent(t, "s3-records-restore-completed.json"))

	results := outputResults(t, res)
	if len(results) != 1 || !results[0].Success {
		t.Fatalf("results = %+v, want one success", results)
	}
	if got, _ := h.archived(singleKey); !bytes.Equal(got, body) {
		t.Error("file not archived intact")
	}
	head, err := h.s3.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: aws.String(archiveBucket), Key: aws.String(singleKey)})
	if err != nil {
		t.Fatal(err)
	}
	if head.StorageClass == types.StorageClassDeepArchive || head.StorageClass == types.StorageClassGlacier {
		t.Errorf("archive copy is in %s, want a readable class", head.StorageClass)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" {
		t.Errorf("row status %q, want complete", got.JobStatus)
	}
}

// Versioned buckets: the restore bucket holds two versions of the key and
// the archive bucket is versioned too. The copy takes the current version.
// The same event twice (a duplicate delivery) copies once: the second run's
// Express child finds the job complete and ends at "Already copied", so the
// archive keeps one version and the second run succeeds too.
func TestScenarioVersionedBuckets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{s3: s3server.BackendMoto})
	for _, b := range []string{restoreBucket, archiveBucket} {
		if _, err := h.s3.PutBucketVersioning(h.ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(b),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatal(err)
		}
	}
	h.putObject(singleKey, []byte("version 1"))
	current := []byte("version 2 " + randomHex(16))
	h.putObject(singleKey, current)
	job := h.insertJob(singleKey)
	event := readEvent(t, "s3-records-restore-completed.json")

	for run := 1; run <= 2; run++ {
		res := h.run(event)
		results := outputResults(t, res)
		if len(results) != 1 || !results[0].Success || results[0].RequestID != job.RequestID {
			t.Fatalf("run %d: results %+v, want one success for request %s", run, results, job.RequestID)
		}
		if got := countEvents(res, "StateEntered", "Already copied"); got != run-1 {
			t.Errorf("run %d: Already copied entered %d times, want %d", run, got, run-1)
		}
	}
	if got, _ := h.archived(singleKey); !bytes.Equal(got, current) {
		t.Errorf("archived %q, want the current version %q", got, current)
	}
	versions, err := h.s3.ListObjectVersions(h.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(archiveBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Versions) != 1 {
		t.Errorf("archive holds %d versions of %s, want 1 (the second run copies nothing)", len(versions.Versions), singleKey)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" {
		t.Errorf("row status %q, want complete", got.JobStatus)
	}
}
