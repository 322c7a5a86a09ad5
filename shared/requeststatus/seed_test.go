package requeststatus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

func (r Row) key() string { return r.ObjectKey }

// EnsureOpen seeds a key once: a second call finds the open job.
func TestEnsureOpenSeedsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl := NewTable(testPool(t))
	first, inserted, err := tbl.EnsureOpen(ctx, Row{ObjectKey: "k", ArchiveBucketDest: "archive"})
	if err != nil || !inserted {
		t.Fatalf("first EnsureOpen: inserted %v, %v", inserted, err)
	}
	again, inserted, err := tbl.EnsureOpen(ctx, Row{ObjectKey: "k", ArchiveBucketDest: "elsewhere"})
	if err != nil || inserted || again.RequestID != first.RequestID || again.ArchiveBucketDest != "archive" {
		t.Fatalf("second EnsureOpen: %+v, inserted %v, %v; want the first job", again, inserted, err)
	}
	if _, err := tbl.SetStatus(ctx, "k", StatusComplete); err != nil {
		t.Fatal(err)
	}
	if _, inserted, err := tbl.EnsureOpen(ctx, Row{ObjectKey: "k", ArchiveBucketDest: "archive"}); err != nil || !inserted {
		t.Fatalf("EnsureOpen after the job completed: inserted %v, %v; want a new job", inserted, err)
	}
	rows, err := tbl.RowsOfKey(ctx, "k")
	if err != nil || len(rows) != 2 || rows[0].JobStatus != StatusInProgress || rows[1].JobStatus != StatusComplete {
		t.Fatalf("RowsOfKey: %+v (%v), want the new open job, then the complete one", rows, err)
	}
}

// The helpers the local runner's demo and load use, and its tests.
func TestSeedHelpers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	tbl := NewTable(pool)
	if _, found, err := tbl.LatestStatus(ctx, "none"); err != nil || found {
		t.Errorf("LatestStatus of a key without rows: found %v, %v", found, err)
	}
	old := mustInsert(t, pool, Row{ObjectKey: "k", JobStatus: StatusComplete, LastUpdateTime: base})
	mustInsert(t, pool, Row{ObjectKey: "k", JobStatus: StatusError, ErrMsg: "boom"})
	mustInsert(t, pool, Row{ObjectKey: "other", ErrMsg: ""})
	if status, found, err := tbl.LatestStatus(ctx, "k"); err != nil || !found || status != StatusError {
		t.Errorf("LatestStatus: %q, %v, %v; want the newest row's error", status, found, err)
	}
	errs, err := tbl.RowsWithStatus(ctx, StatusError)
	if err != nil || len(errs) != 1 || errs[0].ErrMsg != "boom" {
		t.Errorf("RowsWithStatus(error): %+v (%v)", errs, err)
	}
	if err := tbl.Backdate(ctx, old.RequestID, 5*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, pool, old.RequestID); time.Since(got.LastUpdateTime) < 5*time.Hour || time.Since(got.RequestTime) < 5*time.Hour {
		t.Errorf("backdated row: request_time %s, last_update_time %s; want both 5 h ago", got.RequestTime, got.LastUpdateTime)
	}
	if err := tbl.Backdate(ctx, NewRequestID(), time.Hour); !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("Backdate of no row: %v, want pgx.ErrNoRows", err)
	}
	if n, err := tbl.DeleteKeys(ctx, []string{"k", "none"}); err != nil || n != 2 {
		t.Errorf("DeleteKeys: %d, %v; want 2 rows", n, err)
	}
	if _, err := tbl.Read(ctx, old.RequestID); !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("Read of a deleted row: %v, want pgx.ErrNoRows", err)
	}
	left, err := tbl.CountByStatus(ctx, Selection{})
	if diff := cmp.Diff(map[string]int64{StatusInProgress: 1}, left); diff != "" || err != nil {
		t.Errorf("rows left (-want +got):\n%s%v", diff, err)
	}
}
