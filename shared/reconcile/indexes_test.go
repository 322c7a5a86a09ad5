package reconcile_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// withoutReconcileIndexes drops the reconcile indexes, as on a table a
// deployment made before schema/002, and leaves one restored file stuck
// for the sweep to start.
func (w *world) withoutReconcileIndexes() {
	w.t.Helper()
	if _, err := w.db.Exec(w.ctx, "DROP INDEX "+requeststatus.IndexInProgress+", "+requeststatus.IndexError); err != nil {
		w.t.Fatal(err)
	}
	w.put(restoreBucket, "restored.dat", s3types.StorageClassGlacier)
	w.restore("restored.dat", 2)
	w.insert("restored.dat", "inprogress", 2*time.Hour, nil)
}

// A sweep on a table without the reconcile indexes, as a user that owns
// it, creates them and sweeps as usual, with no warning.
func TestSweepCreatesTheMissingIndexes(t *testing.T) {
	w := newWorld(t, startMoto(t))
	w.withoutReconcileIndexes()
	r := w.reconciler(reconcile.Config{})
	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if rep.Started != 1 || len(rep.Warnings) != 0 {
		t.Errorf("started %d, warnings %q; want 1 and none", rep.Started, rep.Warnings)
	}
	if c, err := requeststatus.CheckReconcileIndexes(w.ctx, w.db); err != nil || !c.OK() {
		t.Errorf("indexes after the sweep: %+v, %v; want both", c, err)
	}
}

// As a database user that does not own the table (the function's user
// may not), the sweep cannot create the indexes: it says so in its report
// and its log, naming the indexes and the command, and still sweeps
// without failing.
func TestSweepWithoutIndexPrivilegeWarns(t *testing.T) {
	w := newWorld(t, startMoto(t))
	w.withoutReconcileIndexes()
	conn := w.db.Config().ConnString()
	user, err := pgxpool.New(w.ctx, pgtest.UnprivilegedRole(t, conn, w.db.Config().ConnConfig.RuntimeParams["search_path"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(user.Close)
	var logs bytes.Buffer
	r := w.reconciler(reconcile.Config{})
	r.DB, r.Logger = user, slog.New(slog.NewJSONHandler(&logs, nil))

	rep, err := r.Sweep(w.ctx)
	if err != nil {
		t.Fatalf("Sweep: %v (want the sweep to go on without the indexes)", err)
	}
	if rep.Started != 1 {
		t.Errorf("started %d executions, want 1", rep.Started)
	}
	all := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{
		"request_status lacks the index(es) idx_reqstat_inprogress_lstupd, idx_reqstat_error_lstupd",
		"`go run ./cmd/recovery create-indexes`",
		"may not create indexes on request_status: ERROR: must be owner of table request_status (SQLSTATE 42501)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"reconcile: request_status lacks the index(es)`) {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
	if c, _ := requeststatus.CheckReconcileIndexes(w.ctx, w.db); len(c.Missing) != 2 {
		t.Errorf("check %+v: want both still missing", c)
	}
}
