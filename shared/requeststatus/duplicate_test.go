package requeststatus

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// countUpdates adds to the pool's schema a trigger that counts every
// UPDATE of each request_status row, whatever it changes (test-only
// instrumentation, as in internal/localrun's load test), and returns a
// function reading a row's count.
func countUpdates(t *testing.T, pool *pgxpool.Pool) func(requestID string) int {
	t.Helper()
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE row_updates (request_id uuid PRIMARY KEY, n int NOT NULL)`,
		`CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO row_updates VALUES (NEW.request_id, 1)
			ON CONFLICT (request_id) DO UPDATE SET n = row_updates.n + 1; RETURN NEW; END $$`,
		`CREATE TRIGGER count_update AFTER UPDATE ON request_status FOR EACH ROW EXECUTE FUNCTION count_update()`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	return func(requestID string) int {
		t.Helper()
		var n int
		err := pool.QueryRow(ctx, `SELECT coalesce((SELECT n FROM row_updates WHERE request_id = $1), 0)`, requestID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// A duplicate delivery records once (issue 24: "each row is updated
// once"): recording 'complete' on a row already 'complete' updates
// nothing, last_update_time included, and still answers 'complete'; an
// error after it updates nothing either (no downgrade).
func TestDuplicateSuccessUpdatesTheRowOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	updates := countUpdates(t, pool)
	store := NewStore(pool)

	job := mustInsert(t, pool, Row{ObjectKey: "dup/once.txt", ArchiveBucketDest: "archive", RequestTime: base})
	for i := range 2 {
		if s, err := store.RecordOutcome(ctx, job.RequestID, job.ObjectKey, nil); err != nil || s != StatusComplete {
			t.Fatalf("record success #%d: %q, %v; want %q", i+1, s, err, StatusComplete)
		}
	}
	first := mustRead(t, pool, job.RequestID)
	late := &contract.StateError{Error: contract.PermanentCopyError, Cause: "late failure"}
	if s, err := store.RecordOutcome(ctx, job.RequestID, job.ObjectKey, late); err != nil || s != StatusComplete {
		t.Fatalf("record error after success: %q, %v; want %q", s, err, StatusComplete)
	}
	if s, err := store.RecordOutcome(ctx, job.RequestID, job.ObjectKey, nil); err != nil || s != StatusComplete {
		t.Fatalf("record success again: %q, %v; want %q", s, err, StatusComplete)
	}
	if n := updates(job.RequestID); n != 1 {
		t.Errorf("the row was updated %d times, want once", n)
	}
	if diff := cmp.Diff(first, mustRead(t, pool, job.RequestID)); diff != "" {
		t.Errorf("row after the duplicates, against the first success's (-first +now):\n%s", diff)
	}
}

// Duplicates racing each other (two children, or a child and the Standard
// lane, recording the same file at once) update the row once too: each
// waits for the row's lock, then sees the other's 'complete'.
func TestConcurrentDuplicateSuccessesUpdateTheRowOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	updates := countUpdates(t, pool)
	store := NewStore(pool)

	for round := range 4 {
		job := mustInsert(t, pool, Row{ObjectKey: "dup/race.txt", ArchiveBucketDest: "archive", RequestTime: base})
		var wg sync.WaitGroup
		statuses, errs := make([]string, 8), make([]error, 8)
		for i := range statuses {
			wg.Go(func() { statuses[i], errs[i] = store.RecordOutcome(ctx, job.RequestID, job.ObjectKey, nil) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, s := range statuses {
			if s != StatusComplete {
				t.Errorf("round %d: call %d answered %q, want %q", round, i, s, StatusComplete)
			}
		}
		if n := updates(job.RequestID); n != 1 {
			t.Errorf("round %d: %d concurrent successes updated the row %d times, want once", round, len(statuses), n)
		}
	}
}
