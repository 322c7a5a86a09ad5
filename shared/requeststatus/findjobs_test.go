package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// chunkSeed are the rows of the find_open_jobs tests: one key per case of
// FindOpenJob, with fixed ids so that two tables can be seeded alike.
var chunkSeed = []Row{
	{RequestID: "00000000-0000-4000-8000-000000000201", ObjectKey: "open", JobStatus: StatusInProgress, ArchiveBucketDest: "archive"},
	{RequestID: "00000000-0000-4000-8000-000000000202", ObjectKey: "newest-open", JobStatus: StatusInProgress, ArchiveBucketDest: "old-archive"},
	{RequestID: "00000000-0000-4000-8000-000000000203", ObjectKey: "newest-open", JobStatus: StatusError, ArchiveBucketDest: "archive", LastUpdateTime: base.Add(2 * time.Hour), ErrMsg: "copy failed"},
	{RequestID: "00000000-0000-4000-8000-000000000204", ObjectKey: "newest-open", JobStatus: StatusComplete, ArchiveBucketDest: "done-archive", LastUpdateTime: base.Add(3 * time.Hour)},
	{RequestID: "00000000-0000-4000-8000-000000000205", ObjectKey: "only-complete", JobStatus: StatusComplete, ArchiveBucketDest: "archive"},
	{RequestID: "00000000-0000-4000-8000-000000000206", ObjectKey: "open-without-archive", JobStatus: StatusInProgress},
	{RequestID: "00000000-0000-4000-8000-000000000207", ObjectKey: hostileKey, JobStatus: StatusInProgress, ArchiveBucketDest: "hostile-archive"},
	{RequestID: "00000000-0000-4000-8000-000000000208", ObjectKey: "Case.TXT", JobStatus: StatusInProgress, ArchiveBucketDest: "upper"},
	{RequestID: "00000000-0000-4000-8000-000000000209", ObjectKey: "failed", JobStatus: StatusError, ArchiveBucketDest: "archive", ErrMsg: "AccessDenied"},
}

// nullStatusID is the seeded row whose job_status is NULL (open, as in the
// original Lambda).
const nullStatusID = "00000000-0000-4000-8000-000000000210"

// chunkKeys is a chunk in no particular order, with a key twice, keys
// without rows (one twice, one differing only in case) and every case of
// chunkSeed.
var chunkKeys = []string{"open", "no-such-key", "only-complete", hostileKey, "open", "newest-open", "case.txt",
	"open-without-archive", "null-status", "failed", "no-such-key"}

// seedChunk seeds chunkSeed and the NULL-status row into db's table.
func seedChunk(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for _, r := range chunkSeed {
		r.RequestGroupID, r.RestoreBucketDest, r.RequestTime = "00000000-0000-4000-8000-0000000002ff", "restore", base
		if r.LastUpdateTime.IsZero() {
			r.LastUpdateTime = base.Add(time.Hour)
		}
		mustInsert(t, db, r)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO request_status
		(request_id, request_group_id, granule_id, object_key, archive_bucket_dest, job_status, request_time, last_update_time)
		VALUES ($1, '00000000-0000-4000-8000-0000000002ff', 'g', 'null-status', 'null-archive', NULL, $2, $2)`, nullStatusID, base); err != nil {
		t.Fatal(err)
	}
}

// markedRows returns the ids of the seeded rows whose last_update_time is
// at or after since (the lookups' mark), and fails if a row changed in any
// other column.
func markedRows(t *testing.T, db *pgxpool.Pool, since time.Time) []string {
	t.Helper()
	var marked []string
	for _, want := range append(append([]Row(nil), chunkSeed...), Row{RequestID: nullStatusID}) {
		got := mustRead(t, db, want.RequestID)
		if !got.LastUpdateTime.Before(since) {
			marked = append(marked, want.RequestID)
		}
		if want.ObjectKey != "" && (got.JobStatus != want.JobStatus || got.ErrMsg != want.ErrMsg || got.ArchiveBucketDest != want.ArchiveBucketDest) {
			t.Errorf("row %s changed beyond last_update_time: %+v", want.RequestID, got)
		}
	}
	return marked
}

// FindOpenJobs answers each key of a chunk as FindOpenJob answers it alone,
// in the chunk's order, and marks exactly the rows FindOpenJob marks: two
// tables seeded alike, one looked up key by key, the other in one call.
func TestFindOpenJobsAsFindOpenJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	single, chunk := testPool(t), testPool(t)
	seedChunk(t, single)
	seedChunk(t, chunk)
	var dbNow time.Time
	if err := chunk.QueryRow(ctx, "SELECT now()").Scan(&dbNow); err != nil {
		t.Fatal(err)
	}

	got, err := NewStore(chunk).FindOpenJobs(ctx, chunkKeys)
	if err != nil {
		t.Fatalf("FindOpenJobs: %v", err)
	}
	if len(got) != len(chunkKeys) {
		t.Fatalf("FindOpenJobs gave %d lookups for %d keys", len(got), len(chunkKeys))
	}
	store := NewStore(single)
	for i, key := range chunkKeys {
		job, err := store.FindOpenJob(ctx, key)
		var want JobLookup
		if !errors.As(err, &want.NoJob) {
			if err != nil {
				t.Fatalf("FindOpenJob(%q): %v", key, err)
			}
			want.Job = job
		}
		if diff := cmp.Diff(want, got[i], cmp.Comparer(func(a, b *NoOpenJobError) bool { return sameError(a, b) })); diff != "" {
			t.Errorf("item %d (key %q) (-FindOpenJob +FindOpenJobs):\n%s", i, key, diff)
		}
	}

	// The same key twice: the same job twice.
	if got[0] != got[4] || got[0].Job.RequestID != chunkSeed[0].RequestID {
		t.Errorf("key %q twice: %+v and %+v, want its job %s both times", chunkKeys[0], got[0], got[4], chunkSeed[0].RequestID)
	}
	wantMarked := []string{chunkSeed[0].RequestID, chunkSeed[6].RequestID} // "open" and the hostile key: inprogress, with an archive bucket
	if diff := cmp.Diff(wantMarked, markedRows(t, chunk, dbNow)); diff != "" {
		t.Errorf("rows FindOpenJobs marked (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(markedRows(t, single, dbNow), markedRows(t, chunk, dbNow)); diff != "" {
		t.Errorf("rows marked (-FindOpenJob +FindOpenJobs):\n%s", diff)
	}
}

// queryCounter is a pgx tracer counting the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A full chunk costs one statement, not one per file.
func TestFindOpenJobsOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counter := &queryCounter{}
	pool, _ := emptySchemaPoolWith(t, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = counter })
	if err := ApplySchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, MaxChunkFiles)
	for i := range keys {
		keys[i] = fmt.Sprintf("chunk/file-%02d.dat", i)
		if i%4 != 3 { // every fourth key has no job
			mustInsert(t, pool, Row{ObjectKey: keys[i], ArchiveBucketDest: "archive"})
		}
	}

	before := counter.n.Load()
	got, err := NewStore(pool).FindOpenJobs(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load() - before; n != 1 {
		t.Errorf("FindOpenJobs of %d keys sent %d statements, want 1", len(keys), n)
	}
	for i, l := range got {
		if (l.NoJob != nil) != (i%4 == 3) {
			t.Errorf("key %q: %+v", keys[i], l)
		}
	}
}

// The whole chunk fails alike when the database is unavailable, so that
// the workflow can hand it over whole; a chunk too large or empty is
// refused before any query.
func TestFindOpenJobsErrors(t *testing.T) {
	t.Parallel()
	cfg, err := Config{
		DatabaseURL: fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?sslmode=disable", pgtest.ClosedPort(t)),
		MaxConns:    1,
	}.PoolConfig(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := NewStore(pool)

	_, err = store.FindOpenJobs(context.Background(), []string{"a.txt", "b.txt"})
	var unavailable *DatabaseUnavailableError
	if !errors.As(err, &unavailable) || err != error(unavailable) {
		t.Errorf("FindOpenJobs on a closed port: %T %v, want an unwrapped *DatabaseUnavailableError", err, err)
	}
	for _, n := range []int{0, MaxChunkFiles + 1} {
		var invalid *InvalidStatusRequestError
		if _, err := store.FindOpenJobs(context.Background(), make([]string, n)); !errors.As(err, &invalid) {
			t.Errorf("FindOpenJobs of %d keys: %v, want *InvalidStatusRequestError", n, err)
		}
	}
}

// A chunk is what the Express child's inline Map runs at once.
func TestMaxChunkFilesIsTheInlineMapsConcurrency(t *testing.T) {
	if MaxChunkFiles != statemachine.MaxInlineMapConcurrency {
		t.Errorf("MaxChunkFiles = %d, statemachine.MaxInlineMapConcurrency = %d", MaxChunkFiles, statemachine.MaxInlineMapConcurrency)
	}
}
