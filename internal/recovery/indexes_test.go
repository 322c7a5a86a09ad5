package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// run runs cmd/recovery's command line with DATABASE_URL=url and returns
// its exit status, stdout and stderr.
func run(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cli := &recovery.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": url, "AWS_REGION": "us-east-1"}[k]
	}}
	code := cli.Main(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

const missingBoth = "request_status lacks the index(es) idx_reqstat_inprogress_lstupd, idx_reqstat_error_lstupd: " +
	"the reconcile sweep and `cmd/recovery status` scan the whole table until they exist; " +
	"create them with `go run ./cmd/recovery create-indexes` as the table's owner"

// On a table without the reconcile indexes, status warns naming them and
// the command; create-indexes --check says the same and fails;
// create-indexes creates them, after which status and the check are clean.
func TestCreateIndexesCommand(t *testing.T) {
	url, db := seededDB(t)
	if _, err := db.Exec(context.Background(), "DROP INDEX "+requeststatus.IndexInProgress+", "+requeststatus.IndexError); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, url, "status", "--check-restores", "0")
	if code != 0 || !strings.Contains(out, "warning: "+missingBoth) {
		t.Errorf("status: exit %d, stderr %q; want 0 and the warning in:\n%s", code, errOut, out)
	}
	code, out, _ = run(t, url, "status", "--check-restores", "0", "--json")
	var st recovery.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Warnings) != 1 || !strings.HasPrefix(st.Warnings[0], missingBoth) {
		t.Errorf("status --json: exit %d, warnings %q (%v); want the warning", code, st.Warnings, err)
	}

	if code, out, _ := run(t, url, "create-indexes", "--check"); code != 1 || !strings.Contains(out, "warning: "+missingBoth) {
		t.Errorf("create-indexes --check: exit %d, want 1 and the warning in:\n%s", code, out)
	}
	code, out, errOut = run(t, url, "create-indexes")
	want := "created idx_reqstat_inprogress_lstupd\ncreated idx_reqstat_error_lstupd\n" +
		"request_status has the reconcile indexes idx_reqstat_inprogress_lstupd and idx_reqstat_error_lstupd, valid\n"
	if code != 0 || out != want {
		t.Errorf("create-indexes: exit %d, stderr %q, stdout:\n%s\nwant 0 and:\n%s", code, errOut, out, want)
	}
	if c, err := requeststatus.CheckReconcileIndexes(context.Background(), db); err != nil || !c.OK() {
		t.Errorf("check after create-indexes: %+v, %v", c, err)
	}

	code, out, _ = run(t, url, "status", "--check-restores", "0")
	if code != 0 || strings.Contains(out, "warning:") || strings.Contains(out, "create-indexes") {
		t.Errorf("status after create-indexes: exit %d, want no warning:\n%s", code, out)
	}
	if code, out, _ := run(t, url, "create-indexes"); code != 0 || strings.Contains(out, "created") {
		t.Errorf("create-indexes again: exit %d, want 0 and nothing created:\n%s", code, out)
	}
	if code, _, errOut := run(t, url, "create-indexes", "extra"); code != 2 || !strings.Contains(errOut, "unexpected arguments: extra") {
		t.Errorf("create-indexes extra: exit %d, stderr %q; want 2", code, errOut)
	}
}

// As a database user that does not own the table, create-indexes fails
// saying why and what to do.
func TestCreateIndexesCommandWithoutPrivilege(t *testing.T) {
	url, db := seededDB(t)
	if _, err := db.Exec(context.Background(), "DROP INDEX "+requeststatus.IndexInProgress+", "+requeststatus.IndexError); err != nil {
		t.Fatal(err)
	}
	cfg, _ := pgxpool.ParseConfig(url)
	userURL := pgtest.UnprivilegedRole(t, url, cfg.ConnConfig.RuntimeParams["search_path"])

	code, out, errOut := run(t, userURL, "create-indexes")
	if code != 1 || !strings.Contains(errOut, "may not create index idx_reqstat_inprogress_lstupd on request_status (only the table's owner may") ||
		!strings.Contains(errOut, "SQLSTATE 42501") || !strings.Contains(out, "warning: "+missingBoth) {
		t.Errorf("create-indexes as a non-owner: exit %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
}
