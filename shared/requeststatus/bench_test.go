package requeststatus

import (
	"context"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// BenchmarkFindAndRecord measures one file's database work: FindOpenJob then
// RecordOutcome, as the workflow does around a copy, against the Postgres of
// TEST_DATABASE_URL through a warm pool.
func BenchmarkFindAndRecord(b *testing.B) {
	pool := testPool(b)
	ctx := context.Background()
	store := NewStore(pool)
	// Some history for the key, as a real table has.
	for range 10 {
		if _, err := NewTable(pool).Insert(ctx, Row{ObjectKey: "bench/other.txt", ArchiveBucketDest: "archive"}); err != nil {
			b.Fatal(err)
		}
	}
	failed := &contract.StateError{Error: "TransientCopyError", Cause: "slow down"}
	job, err := NewTable(pool).Insert(ctx, Row{ObjectKey: "bench/file.txt", ArchiveBucketDest: "archive"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		found, err := store.FindOpenJob(ctx, "bench/file.txt")
		if err != nil || found.RequestID != job.RequestID {
			b.Fatalf("FindOpenJob: %+v, %v", found, err)
		}
		// A failure: the row stays open, and is updated every time.
		if _, err := store.RecordOutcome(ctx, job.RequestID, "bench/file.txt", failed); err != nil {
			b.Fatal(err)
		}
	}
}
