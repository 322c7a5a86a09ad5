package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// base is a fixed time far enough in the past that now() is always later.
var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const hostileKey = `it's "quoted"'; DROP TABLE request_status; --`

func TestFindOpenJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	store := NewStore(pool)

	// Several rows per key; the request ids say which one must win.
	type row struct {
		id, status, archive string
		updated             time.Duration // after base
	}
	seed := map[string][]row{
		"newest-open": {
			{"00000000-0000-4000-8000-000000000001", "inprogress", "old-archive", 0},
			{"00000000-0000-4000-8000-000000000002", "error", "archive", 2 * time.Hour},
			{"00000000-0000-4000-8000-000000000003", "inprogress", "mid-archive", time.Hour},
			{"00000000-0000-4000-8000-000000000004", "complete", "done-archive", 3 * time.Hour},
		},
		"only-complete": {
			{"00000000-0000-4000-8000-000000000011", "complete", "old-archive", 0},
			{"00000000-0000-4000-8000-000000000012", "complete", "archive", time.Hour},
		},
		"open-without-archive": {
			{"00000000-0000-4000-8000-000000000021", "inprogress", "", time.Hour},
			{"00000000-0000-4000-8000-000000000022", "complete", "archive", 2 * time.Hour},
		},
		hostileKey: {
			{"00000000-0000-4000-8000-000000000031", "inprogress", "hostile-archive", 0},
		},
		"Case.TXT": {
			{"00000000-0000-4000-8000-000000000041", "inprogress", "upper", 0},
		},
	}
	for key, rows := range seed {
		for _, r := range rows {
			mustInsert(t, pool, Row{RequestID: r.id, ObjectKey: key, JobStatus: r.status,
				ArchiveBucketDest: r.archive, RequestTime: base, LastUpdateTime: base.Add(r.updated)})
		}
	}
	// A NULL job_status counts as open, as in the original Lambda.
	if _, err := pool.Exec(ctx, `INSERT INTO request_status
		(request_id, request_group_id, granule_id, object_key, archive_bucket_dest, job_status, request_time, last_update_time)
		VALUES ('00000000-0000-4000-8000-000000000051', gen_random_uuid(), 'g', 'null-status', 'null-archive', NULL, $1, $1)`, base); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		key     string
		want    contract.Job
		wantErr error
	}{
		{key: "newest-open", want: contract.Job{RequestID: "00000000-0000-4000-8000-000000000002", TargetBucket: "archive"}},
		{key: "only-complete", want: contract.Job{RequestID: "00000000-0000-4000-8000-000000000012", TargetBucket: "archive", AlreadyComplete: true}},
		{key: "open-without-archive", wantErr: &NoOpenJobError{Key: "open-without-archive",
			Reason: "its job 00000000-0000-4000-8000-000000000021 has no archive_bucket_dest"}},
		{key: "no-such-key", wantErr: &NoOpenJobError{Key: "no-such-key"}},
		{key: "case.txt", wantErr: &NoOpenJobError{Key: "case.txt"}},
		{key: hostileKey, want: contract.Job{RequestID: "00000000-0000-4000-8000-000000000031", TargetBucket: "hostile-archive"}},
		{key: "null-status", want: contract.Job{RequestID: "00000000-0000-4000-8000-000000000051", TargetBucket: "null-archive"}},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			got, err := store.FindOpenJob(ctx, tc.key)
			if diff := cmp.Diff(tc.wantErr, err, cmp.Comparer(sameError)); diff != "" {
				t.Fatalf("FindOpenJob(%q) error (-want +got):\n%s", tc.key, diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FindOpenJob(%q) (-want +got):\n%s", tc.key, diff)
			}
		})
	}

	// The hostile key dropped no rows: every seeded row (and the
	// NULL-status one) is still there.
	seeded := 1
	for _, rows := range seed {
		seeded += len(rows)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM request_status").Scan(&n); err != nil {
		t.Fatalf("request_status after the hostile key: %v", err)
	}
	if n != seeded {
		t.Errorf("request_status holds %d rows after the lookups, want the %d seeded", n, seeded)
	}
}

// sameError compares errors by type and message.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}

func TestRecordOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	store := NewStore(pool)

	copyErr := &contract.StateError{
		Error: "PermanentCopyError",
		Cause: `{"errorMessage":"copy s/a.txt: NoSuchKey: it's gone","errorType":"PermanentCopyError"}`,
	}
	tests := []struct {
		name       string
		seed       Row    // ObjectKey set from the name; RequestID generated
		requestID  string // "" means the seeded row's id
		key        string // "" means the seeded row's key
		copyErr    *contract.StateError
		wantStatus string
		wantErr    string // %T of the error, "" for none
		wantRow    Row    // JobStatus and ErrMsg of the row afterwards
		wantTouch  bool   // last_update_time moved to now()
		nullStatus bool   // job_status set to NULL after seeding (the column allows it)
	}{
		// The original's rows may hold NULL: NULL is not 'complete', so an
		// error is recorded (a plain <> 'complete' would skip the row).
		{name: "NULL status then error", nullStatus: true, copyErr: copyErr,
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: "copy s/a.txt: NoSuchKey: it's gone"}, wantTouch: true},
		{name: "NULL status then success", nullStatus: true,
			wantStatus: "complete", wantRow: Row{JobStatus: "complete"}, wantTouch: true},
		{name: "inprogress then success", seed: Row{JobStatus: "inprogress"},
			wantStatus: "complete", wantRow: Row{JobStatus: "complete"}, wantTouch: true},
		{name: "inprogress then error", seed: Row{JobStatus: "inprogress"}, copyErr: copyErr,
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: "copy s/a.txt: NoSuchKey: it's gone"}, wantTouch: true},
		{name: "error with a bare cause", seed: Row{JobStatus: "inprogress"},
			copyErr:    &contract.StateError{Error: "States.Timeout", Cause: "task timed out"},
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: "task timed out"}, wantTouch: true},
		{name: "error without any message", seed: Row{JobStatus: "inprogress"}, copyErr: &contract.StateError{},
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: "copy failed without an error message"}, wantTouch: true},
		{name: "error then success clears err_msg", seed: Row{JobStatus: "error", ErrMsg: "earlier failure"},
			wantStatus: "complete", wantRow: Row{JobStatus: "complete"}, wantTouch: true},
		{name: "error then error", seed: Row{JobStatus: "error", ErrMsg: "earlier failure"}, copyErr: copyErr,
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: "copy s/a.txt: NoSuchKey: it's gone"}, wantTouch: true},
		{name: "complete then error is not downgraded", seed: Row{JobStatus: "complete"}, copyErr: copyErr,
			wantStatus: "complete", wantRow: Row{JobStatus: "complete"}, wantTouch: false},
		// A duplicate success records nothing: the row, last_update_time
		// included, is left as it was.
		{name: "complete then success", seed: Row{JobStatus: "complete"},
			wantStatus: "complete", wantRow: Row{JobStatus: "complete"}, wantTouch: false},
		{name: "hostile key", seed: Row{ObjectKey: hostileKey}, copyErr: &contract.StateError{Cause: hostileKey},
			wantStatus: "error", wantRow: Row{JobStatus: "error", ErrMsg: hostileKey}, wantTouch: true},
		{name: "unknown request id", seed: Row{}, requestID: "00000000-0000-4000-8000-0000000000ff",
			wantErr: "*requeststatus.StatusUpdateError", wantRow: Row{JobStatus: "inprogress"}},
		{name: "malformed request id", seed: Row{}, requestID: "not-a-uuid'; --",
			wantErr: "*requeststatus.StatusUpdateError", wantRow: Row{JobStatus: "inprogress"}},
		{name: "request id of another key", seed: Row{}, key: "some/other/key",
			wantErr: "*requeststatus.StatusUpdateError", wantRow: Row{JobStatus: "inprogress"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := tc.seed
			if seed.ObjectKey == "" {
				seed.ObjectKey = "record/" + tc.name
			}
			seed.ArchiveBucketDest, seed.RequestTime = "archive", base
			job := mustInsert(t, pool, seed)
			if tc.nullStatus {
				if _, err := pool.Exec(ctx, "UPDATE request_status SET job_status = NULL WHERE request_id = $1", job.RequestID); err != nil {
					t.Fatal(err)
				}
			}
			requestID, key := job.RequestID, job.ObjectKey
			if tc.requestID != "" {
				requestID = tc.requestID
			}
			if tc.key != "" {
				key = tc.key
			}

			status, err := store.RecordOutcome(ctx, requestID, key, tc.copyErr)
			if got := goTypeName(err); got != tc.wantErr {
				t.Fatalf("RecordOutcome error = %v (%s), want %q", err, got, tc.wantErr)
			}
			if status != tc.wantStatus {
				t.Errorf("RecordOutcome status = %q, want %q", status, tc.wantStatus)
			}
			row := mustRead(t, pool, job.RequestID)
			if diff := cmp.Diff(tc.wantRow, Row{JobStatus: row.JobStatus, ErrMsg: row.ErrMsg}); diff != "" {
				t.Errorf("row afterwards (-want +got):\n%s", diff)
			}
			if touched := row.LastUpdateTime.After(base); touched != tc.wantTouch {
				t.Errorf("last_update_time = %v; moved = %t, want %t", row.LastUpdateTime, touched, tc.wantTouch)
			}
		})
	}
}

func goTypeName(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%T", err)
}

// A duplicate event after success, and outcomes racing each other, never
// leave a completed job in error.
func TestNoDowngradeSequenceAndRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	store := NewStore(pool)
	failed := &contract.StateError{Error: "PermanentCopyError", Cause: "late failure"}

	job := mustInsert(t, pool, Row{ObjectKey: "dup.txt", ArchiveBucketDest: "archive"})
	if s, err := store.RecordOutcome(ctx, job.RequestID, "dup.txt", nil); err != nil || s != StatusComplete {
		t.Fatalf("record success: %q, %v", s, err)
	}
	found, err := store.FindOpenJob(ctx, "dup.txt")
	if err != nil || !found.AlreadyComplete || found.RequestID != job.RequestID {
		t.Fatalf("FindOpenJob after success = %+v, %v; want the same job, already complete", found, err)
	}
	if s, err := store.RecordOutcome(ctx, job.RequestID, "dup.txt", failed); err != nil || s != StatusComplete {
		t.Fatalf("record error after success: %q, %v; want \"complete\"", s, err)
	}
	if row := mustRead(t, pool, job.RequestID); row.JobStatus != StatusComplete || row.ErrMsg != "" {
		t.Fatalf("row after a late error: %+v", row)
	}

	// Successes and failures racing on one open job: once any success has
	// committed, the row stays complete.
	race := mustInsert(t, pool, Row{ObjectKey: "race.txt", ArchiveBucketDest: "archive"})
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			var e *contract.StateError
			if i%2 == 1 {
				e = failed
			}
			_, errs[i] = store.RecordOutcome(ctx, race.RequestID, "race.txt", e)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if row := mustRead(t, pool, race.RequestID); row.JobStatus != StatusComplete || row.ErrMsg != "" {
		t.Fatalf("row after racing outcomes: %+v, want complete without err_msg", row)
	}
}

func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	// No TEST_DATABASE_URL needed: nothing listens on the port.
	cfg, err := Config{
		DatabaseURL: fmt.Sprintf("postgres://u:secret-pw@127.0.0.1:%d/db?sslmode=disable", pgtest.ClosedPort(t)),
		MaxConns:    1,
	}.PoolConfig(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.NewWithConfig must not connect: %v", err)
	}
	defer pool.Close()
	store := NewStore(pool)

	_, findErr := store.FindOpenJob(context.Background(), "a.txt")
	_, recordErr := store.RecordOutcome(context.Background(), NewRequestID(), "a.txt", nil)
	for name, err := range map[string]error{"FindOpenJob": findErr, "RecordOutcome": recordErr} {
		var unavailable *DatabaseUnavailableError
		if !errors.As(err, &unavailable) || err != error(unavailable) {
			t.Errorf("%s error = %T %v, want an unwrapped *DatabaseUnavailableError", name, err, err)
			continue
		}
		if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%s error message contains the password: %v", name, err)
		}
	}
}

func TestDatabaseUnavailableAfterAdminShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "terminated.txt", ArchiveBucketDest: "archive"})

	// A one-connection pool whose connection an administrator terminates.
	cfg := pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	store := NewStore(one)
	if _, err := store.FindOpenJob(ctx, "terminated.txt"); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := one.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}

	_, err = store.FindOpenJob(ctx, "terminated.txt")
	var unavailable *DatabaseUnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("FindOpenJob on a terminated connection: %T %v, want *DatabaseUnavailableError", err, err)
	}
	// Transient: the retry gets a new connection and succeeds.
	if got, err := store.FindOpenJob(ctx, "terminated.txt"); err != nil || got.RequestID != job.RequestID {
		t.Fatalf("FindOpenJob retried: %+v, %v", got, err)
	}
}

func TestDatabaseUnavailableTooManyConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	role := "requeststatus_nolimit_" + strings.ReplaceAll(NewRequestID()[:8], "-", "")
	if _, err := pool.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN CONNECTION LIMIT 0"); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("cannot create a role to provoke too_many_connections (TEST_DATABASE_URL's user needs CREATEROLE): %v", err))
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{role}.Sanitize()) })

	cfg := pool.Config().Copy()
	cfg.ConnConfig.User = role
	limited, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	_, err = NewStore(limited).FindOpenJob(ctx, "a.txt")
	var unavailable *DatabaseUnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "53300") {
		t.Fatalf("FindOpenJob as a role over its connection limit: %T %v, want *DatabaseUnavailableError (53300)", err, err)
	}
}

func TestDatabaseUnavailableOnTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "locked.txt", ArchiveBucketDest: "archive"})

	// Another transaction holds the row, so the update waits past the timeout.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT 1 FROM request_status WHERE request_id = $1 FOR UPDATE", job.RequestID); err != nil {
		t.Fatal(err)
	}
	store := NewStore(pool)
	store.QueryTimeout = 200 * time.Millisecond
	_, err = store.RecordOutcome(ctx, job.RequestID, "locked.txt", nil)
	var unavailable *DatabaseUnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("RecordOutcome on a locked row past its timeout: %T %v, want *DatabaseUnavailableError", err, err)
	}

	// Under a Lambda's deadline, the store's own deadline (see
	// TestStoreDeadlineBeforeTheCallers) ends the wait too. How soon
	// Postgres answers the cancel is the machine's business, so no
	// wall-clock bound is asserted here.
	store.QueryTimeout = time.Minute
	lambdaCtx, cancel := context.WithTimeout(ctx, deadlineMargin+300*time.Millisecond)
	defer cancel()
	_, err = store.RecordOutcome(lambdaCtx, job.RequestID, "locked.txt", nil)
	if !errors.As(err, &unavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecordOutcome near the caller's deadline: %T %v, want *DatabaseUnavailableError with the deadline", err, err)
	}
}

// TestStoreDeadlineBeforeTheCallers: an operation's context ends
// deadlineMargin before the caller's deadline (the Lambda's), or after
// QueryTimeout when that comes first, so the handler returns its own error
// in time. The deadlines are compared, not measured.
func TestStoreDeadlineBeforeTheCallers(t *testing.T) {
	caller := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name         string
		queryTimeout time.Duration
		callerLeft   time.Duration // 0: the caller has no deadline
		want         func(opStart time.Time) time.Time
	}{
		{name: "caller's deadline less the margin", queryTimeout: 2 * time.Hour, callerLeft: time.Hour,
			want: func(time.Time) time.Time { return caller.Add(-deadlineMargin) }},
		{name: "no query timeout", callerLeft: time.Hour,
			want: func(time.Time) time.Time { return caller.Add(-deadlineMargin) }},
		{name: "query timeout first", queryTimeout: time.Minute, callerLeft: time.Hour,
			want: func(start time.Time) time.Time { return start.Add(time.Minute) }},
		{name: "no caller deadline", queryTimeout: time.Minute,
			want: func(start time.Time) time.Time { return start.Add(time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.callerLeft > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, caller)
				defer cancel()
			}
			s := &Store{QueryTimeout: tc.queryTimeout}
			before := time.Now()
			op, cancel := s.withTimeout(ctx)
			defer cancel()
			after := time.Now()
			got, ok := op.Deadline()
			if !ok {
				t.Fatal("the operation has no deadline")
			}
			// withTimeout turns the deadline into a duration and back, so
			// it may land as much later as the call took.
			lo, hi := tc.want(before), tc.want(after).Add(after.Sub(before))
			if got.Before(lo) || got.After(hi) {
				t.Errorf("operation deadline %v, want %v (to %v)", got, lo, hi)
			}
		})
	}
}

func TestMissingTableIsPermanent(t *testing.T) {
	t.Parallel()
	pool, _ := emptySchemaPool(t) // no ApplySchema
	_, err := NewStore(pool).FindOpenJob(context.Background(), "a.txt")
	var dbErr *DatabaseError
	if !errors.As(err, &dbErr) || !strings.Contains(err.Error(), "42P01") {
		t.Fatalf("FindOpenJob without the table: %T %v, want *DatabaseError (42P01)", err, err)
	}
}

// TestMarkPickedUp: FindOpenJob and MarkPickedUp set last_update_time =
// now() on an 'inprogress' row (the reconcile sweep counts its grace from
// it) and change nothing else; a 'complete', 'error' or NULL-status row, a
// row of another key and a row without an archive bucket are left exactly
// as they were.
func TestMarkPickedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	store := NewStore(pool)

	seed := func(id, key, status, archive, errMsg string) Row {
		return mustInsert(t, pool, Row{RequestID: id, ObjectKey: key, JobStatus: status, ArchiveBucketDest: archive,
			RestoreBucketDest: "restore", ErrMsg: errMsg, RequestTime: base, LastUpdateTime: base.Add(time.Minute)})
	}
	open := seed("00000000-0000-4000-8000-000000000101", "open", "inprogress", "archive", "listed by a sweep")
	done := seed("00000000-0000-4000-8000-000000000102", "done", "complete", "archive", "")
	failed := seed("00000000-0000-4000-8000-000000000103", "failed", "error", "archive", "copy failed: AccessDenied")
	noArchive := seed("00000000-0000-4000-8000-000000000104", "no-archive", "inprogress", "", "")
	resumed := seed("00000000-0000-4000-8000-000000000105", "resumed", "inprogress", "archive", "")

	// unchanged fails unless the row reads back exactly as seeded.
	unchanged := func(want Row) {
		t.Helper()
		if diff := cmp.Diff(want, mustRead(t, pool, want.RequestID)); diff != "" {
			t.Errorf("row %s (%s) changed (-before +after):\n%s", want.RequestID, want.JobStatus, diff)
		}
	}
	// marked fails unless only last_update_time moved, to the database's now().
	marked := func(before Row, since time.Time) {
		t.Helper()
		after := mustRead(t, pool, before.RequestID)
		if after.LastUpdateTime.Before(since) {
			t.Errorf("row %s: last_update_time = %s, want the mark's now() (at or after %s)", before.RequestID, after.LastUpdateTime, since)
		}
		after.LastUpdateTime = before.LastUpdateTime
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("row %s: the mark changed more than last_update_time (-before +after):\n%s", before.RequestID, diff)
		}
	}
	var dbNow time.Time
	if err := pool.QueryRow(ctx, "SELECT now()").Scan(&dbNow); err != nil {
		t.Fatal(err)
	}

	// Find open job marks the inprogress row it finds.
	if _, err := store.FindOpenJob(ctx, "open"); err != nil {
		t.Fatalf("FindOpenJob(open): %v", err)
	}
	marked(open, dbNow)

	// It finds, but does not mark, a complete row (a duplicate event), an
	// error row being re-run, and a row without an archive bucket.
	if job, err := store.FindOpenJob(ctx, "done"); err != nil || !job.AlreadyComplete {
		t.Fatalf("FindOpenJob(done) = %+v, %v; want the complete job", job, err)
	}
	if _, err := store.FindOpenJob(ctx, "failed"); err != nil {
		t.Fatalf("FindOpenJob(failed): %v", err)
	}
	var noJob *NoOpenJobError
	if _, err := store.FindOpenJob(ctx, "no-archive"); !errors.As(err, &noJob) {
		t.Fatalf("FindOpenJob(no-archive) error = %v, want *NoOpenJobError", err)
	}
	unchanged(done)
	unchanged(failed)
	unchanged(noArchive)

	// MarkPickedUp (a copy resuming) marks the inprogress row of its key only.
	for _, tc := range []struct {
		row        Row
		key        string
		wantMarked bool
	}{
		{resumed, "resumed", true},
		{done, "done", false},
		{failed, "failed", false},
		{open, "another-key", false},
	} {
		before := mustRead(t, pool, tc.row.RequestID)
		got, err := store.MarkPickedUp(ctx, tc.row.RequestID, tc.key)
		if err != nil || got != tc.wantMarked {
			t.Errorf("MarkPickedUp(%s, %q) = %v, %v; want %v, nil", tc.row.JobStatus, tc.key, got, err, tc.wantMarked)
		}
		if tc.wantMarked {
			marked(before, dbNow)
		} else {
			unchanged(before)
		}
	}
	var invalid *InvalidStatusRequestError
	if _, err := store.MarkPickedUp(ctx, "not-a-uuid", "open"); !errors.As(err, &invalid) {
		t.Errorf("MarkPickedUp(not-a-uuid) error = %v, want *InvalidStatusRequestError", err)
	}
}
