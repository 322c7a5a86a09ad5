package requeststatus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
)

// tableWithoutReconcileIndexes is request_status as a deployment made
// before schema/002 has it: the table and its 2019 indexes, not the two
// reconcile indexes. It returns the schema's connection string and a pool
// on it.
func tableWithoutReconcileIndexes(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	connString, _ := pgtest.Schema(t, "rsindex")
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := ApplySchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DROP INDEX "+IndexInProgress+", "+IndexError); err != nil {
		t.Fatal(err)
	}
	return connString, pool
}

// indexDef is pg_indexes.indexdef of name in the search_path's schema ("" if
// there is none).
func indexDef(t *testing.T, db IndexDB, name string) string {
	t.Helper()
	rows, _ := db.Query(context.Background(), `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`, name)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) == 0 {
		return ""
	}
	return defs[0]
}

// A table without the reconcile indexes: the check names both, its warning
// names them and the command; CreateReconcileIndexes builds schema/002's
// partial indexes, and the check is clean.
func TestReconcileIndexesMissingThenCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := tableWithoutReconcileIndexes(t)

	c, err := CheckReconcileIndexes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IndexCheck{Missing: ReconcileIndexes, User: "postgres"}, c); diff != "" {
		t.Errorf("check without the indexes (-want +got):\n%s", diff)
	}
	for _, want := range []string{"request_status lacks the index(es) idx_reqstat_inprogress_lstupd, idx_reqstat_error_lstupd", "scan the whole table", "`go run ./cmd/recovery create-indexes`"} {
		if !strings.Contains(c.Warning(), want) {
			t.Errorf("warning %q lacks %q", c.Warning(), want)
		}
	}

	b, err := CreateReconcileIndexes(ctx, pool, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IndexBuild{Created: ReconcileIndexes, After: IndexCheck{User: "postgres"}}, b); diff != "" {
		t.Errorf("build (-want +got):\n%s", diff)
	}
	if c, err := CheckReconcileIndexes(ctx, pool); err != nil || !c.OK() || c.Warning() != "" {
		t.Errorf("check after the build: %+v, %v; want OK", c, err)
	}
	for name, where := range map[string]string{IndexInProgress: "WHERE ((job_status)::text = 'inprogress'::text)", IndexError: "WHERE ((job_status)::text = 'error'::text)"} {
		if def := indexDef(t, pool, name); !strings.Contains(def, "(last_update_time, request_id) "+where) {
			t.Errorf("%s is %q, want schema/002's partial index", name, def)
		}
	}

	// Again: nothing to do.
	if b, err := CreateReconcileIndexes(ctx, pool, true); err != nil || len(b.Created)+len(b.Rebuilt) != 0 || !b.After.OK() {
		t.Errorf("second build: %+v, %v; want nothing done", b, err)
	}
}

// The build does not lock the workflow out of the table: while it waits for
// a transaction that wrote to the table (as CREATE INDEX CONCURRENTLY
// does), another insert goes through at once. A plain CREATE INDEX would
// queue for a SHARE lock behind that transaction and hold every later write
// behind it (the insert's lock_timeout would fire).
func TestCreateReconcileIndexesLetsWritesThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := tableWithoutReconcileIndexes(t)

	// An open transaction that has written a row (ROW EXCLUSIVE on the
	// table) and not committed.
	open, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx) //nolint:errcheck // after Commit a no-op
	if _, err := NewTable(open).Insert(ctx, Row{ObjectKey: "open.dat", ArchiveBucketDest: "archive"}); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := CreateReconcileIndexes(ctx, pool, false)
		done <- err
	}()
	// Wait until the build has taken (CONCURRENTLY: SHARE UPDATE EXCLUSIVE)
	// or asked for (plain: SHARE) its lock on the table; it then waits for
	// the open transaction.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = to_regclass('request_status')
			AND mode IN ('ShareUpdateExclusiveLock', 'ShareLock')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no index build started within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	writer, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTable(writer).Insert(ctx, Row{ObjectKey: "during-build.dat", ArchiveBucketDest: "archive"}); err != nil {
		t.Errorf("an insert during the build: %v (want it to go through)", err)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Errorf("commit the insert: %v", err)
	}

	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("build: %v", err)
	}
	if c, err := CheckReconcileIndexes(ctx, pool); err != nil || !c.OK() {
		t.Errorf("check after the build: %+v, %v", c, err)
	}
}

// An index a failed CREATE INDEX CONCURRENTLY left behind (invalid) is
// reported; the sweep's build (rebuildInvalid false) leaves it, the
// command's (true) drops and rebuilds it.
func TestReconcileIndexInvalidIsReportedAndRebuilt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := tableWithoutReconcileIndexes(t)
	for _, k := range []string{"a.dat", "b.dat"} {
		mustInsert(t, pool, Row{ObjectKey: k, JobStatus: "error", ArchiveBucketDest: "archive", ErrMsg: "x"})
	}
	// A unique index on job_status fails on the two 'error' rows; built
	// concurrently, it stays behind, invalid, under the index's name.
	if _, err := pool.Exec(ctx, "CREATE UNIQUE INDEX CONCURRENTLY "+IndexError+" ON request_status (job_status)"); err == nil {
		t.Fatal("the failing build succeeded")
	}
	if _, err := CreateReconcileIndexes(ctx, pool, false); err != nil {
		t.Fatal(err)
	}
	c, err := CheckReconcileIndexes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IndexCheck{Invalid: []string{IndexError}, User: "postgres"}, c); diff != "" {
		t.Errorf("check with a failed build left (-want +got):\n%s", diff)
	}
	if w := c.Warning(); !strings.Contains(w, "has the invalid index(es) idx_reqstat_error_lstupd (left by a CREATE INDEX CONCURRENTLY that failed") ||
		!strings.Contains(w, CreateIndexesCommand) {
		t.Errorf("warning %q: want the invalid index and the command", w)
	}

	b, err := CreateReconcileIndexes(ctx, pool, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IndexBuild{Rebuilt: []string{IndexError}, After: IndexCheck{User: "postgres"}}, b); diff != "" {
		t.Errorf("rebuild (-want +got):\n%s", diff)
	}
	if def := indexDef(t, pool, IndexError); !strings.Contains(def, "WHERE ((job_status)::text = 'error'::text)") || strings.Contains(def, "UNIQUE") {
		t.Errorf("%s is %q after the rebuild, want schema/002's", IndexError, def)
	}
}

// A user that does not own the table may not create the indexes: an
// *IndexPrivilegeError naming the user and the command, the check still
// names both.
func TestCreateReconcileIndexesWithoutPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connString, _ := tableWithoutReconcileIndexes(t)
	user, err := pgxpool.New(ctx, pgtest.UnprivilegedRole(t, connString, schemaOf(t, connString)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(user.Close)

	b, err := CreateReconcileIndexes(ctx, user, true)
	var pe *IndexPrivilegeError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want an *IndexPrivilegeError", err)
	}
	if !strings.HasPrefix(pe.User, "pgtest_role_") || !strings.Contains(err.Error(), "may not create index idx_reqstat_inprogress_lstupd") ||
		!strings.Contains(err.Error(), CreateIndexesCommand) || !strings.Contains(err.Error(), "must be owner of table request_status") {
		t.Errorf("error %q: want the user, the index, the command and Postgres's reason", err)
	}
	if diff := cmp.Diff(ReconcileIndexes, b.After.Missing); diff != "" {
		t.Errorf("missing after the refused build (-want +got):\n%s", diff)
	}
}

// schemaOf is the search_path a pgtest connection string sets.
func schemaOf(t *testing.T, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.RuntimeParams["search_path"]
}

// schema/002 holds a CREATE INDEX IF NOT EXISTS for each reconcile index,
// which the build turns into CONCURRENTLY.
func TestReconcileIndexStatements(t *testing.T) {
	stmts, err := reconcileIndexStatements()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ReconcileIndexes {
		if s := stmts[name]; !strings.HasPrefix(s, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+name+"\n") || !strings.HasSuffix(s, ";") {
			t.Errorf("%s: %q", name, s)
		}
	}
}
