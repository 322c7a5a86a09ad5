package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The reconcile indexes: the two partial indexes of
// schema/002_reconcile_index.sql that serve the reconcile sweep and
// `cmd/recovery status` / `rerun`. ApplySchema creates them with the table;
// a table created before them gets them from CreateReconcileIndexes (the
// reconcile function at the start of each sweep, or
// CreateIndexesCommand). Without them those queries still work, by
// scanning the table.
const (
	IndexInProgress = "idx_reqstat_inprogress_lstupd"
	IndexError      = "idx_reqstat_error_lstupd"
)

// ReconcileIndexes are the reconcile indexes, in schema/002's order.
var ReconcileIndexes = []string{IndexInProgress, IndexError}

// CreateIndexesCommand is the operators' command that creates (or rebuilds)
// the reconcile indexes; warnings name it.
const CreateIndexesCommand = "go run ./cmd/recovery create-indexes"

// IndexDB is what the index check and build need from a database handle:
// *pgxpool.Pool and *pgx.Conn satisfy it (not a pgx.Tx: CREATE INDEX
// CONCURRENTLY cannot run inside a transaction).
type IndexDB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// IndexCheck is which reconcile indexes request_status lacks.
type IndexCheck struct {
	// Missing are the indexes that do not exist on the table.
	Missing []string `json:"missing,omitempty"`
	// Invalid are indexes that exist but queries do not use
	// (pg_index.indisvalid false): left by a CREATE INDEX CONCURRENTLY that
	// failed or was cancelled, or one still running (then also in Building).
	Invalid []string `json:"invalid,omitempty"`
	// Building are the Invalid indexes a session is building now
	// (pg_stat_progress_create_index; another role's builds are visible
	// only to members of pg_read_all_stats).
	Building []string `json:"building,omitempty"`
	// User is the database user that checked (current_user).
	User string `json:"user"`
}

// OK reports whether both indexes exist and are valid.
func (c IndexCheck) OK() bool { return len(c.Missing) == 0 && len(c.Invalid) == 0 }

// Warning is the line the sweep and `status` print when c is not OK ("" when
// it is): what is missing or invalid, what it costs, and the command that
// fixes it.
func (c IndexCheck) Warning() string {
	if c.OK() {
		return ""
	}
	var parts []string
	if len(c.Missing) > 0 {
		parts = append(parts, "lacks the index(es) "+strings.Join(c.Missing, ", "))
	}
	var failed []string
	for _, name := range c.Invalid {
		if !slices.Contains(c.Building, name) {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		parts = append(parts, "has the invalid index(es) "+strings.Join(failed, ", ")+" (left by a CREATE INDEX CONCURRENTLY that failed or was cancelled; queries do not use them)")
	}
	if len(c.Building) > 0 {
		parts = append(parts, "is still building "+strings.Join(c.Building, ", ")+" (CREATE INDEX CONCURRENTLY in progress)")
	}
	return "request_status " + strings.Join(parts, " and ") +
		": the reconcile sweep and `cmd/recovery status` scan the whole table until they exist; create them with `" +
		CreateIndexesCommand + "` as the table's owner (docs/deploy.md)"
}

// checkIndexesSQL finds each of $1 among request_status's indexes (the
// table the search_path resolves), whether it is valid, and the backend
// building it if any.
const checkIndexesSQL = `SELECT n.name, i.indisvalid,
    EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid),
    current_user
FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
LEFT JOIN (pg_index i JOIN pg_class c ON c.oid = i.indexrelid)
    ON c.relname = n.name AND i.indrelid = to_regclass('request_status')
ORDER BY n.ord`

// CheckReconcileIndexes reports which reconcile indexes request_status (in
// the connection's search_path) lacks or has invalid. It only reads the
// catalogs, so any user may run it.
func CheckReconcileIndexes(ctx context.Context, db IndexDB) (IndexCheck, error) {
	rows, err := db.Query(ctx, checkIndexesSQL, ReconcileIndexes)
	if err != nil {
		return IndexCheck{}, fmt.Errorf("check the reconcile indexes: %w", err)
	}
	var c IndexCheck
	var name string
	var valid *bool
	var building bool
	_, err = pgx.ForEachRow(rows, []any{&name, &valid, &building, &c.User}, func() error {
		switch {
		case valid == nil:
			c.Missing = append(c.Missing, name)
		case !*valid:
			c.Invalid = append(c.Invalid, name)
			if building {
				c.Building = append(c.Building, name)
			}
		}
		return nil
	})
	if err != nil {
		return IndexCheck{}, fmt.Errorf("check the reconcile indexes: %w", err)
	}
	return c, nil
}

// IndexPrivilegeError means the database user may not create the reconcile
// indexes: only the table's owner (or a member of its role) may
// (PostgreSQL error 42501, insufficient_privilege).
type IndexPrivilegeError struct {
	User  string
	Index string
	Err   error
}

func (e *IndexPrivilegeError) Error() string {
	return fmt.Sprintf("the database user %q may not create index %s on request_status (only the table's owner may: run `%s` as the owner): %v",
		e.User, e.Index, CreateIndexesCommand, e.Err)
}

func (e *IndexPrivilegeError) Unwrap() error { return e.Err }

// IndexBuild is what CreateReconcileIndexes did.
type IndexBuild struct {
	// Created are the indexes it built; Rebuilt those it dropped as
	// invalid and built again.
	Created []string `json:"created,omitempty"`
	Rebuilt []string `json:"rebuilt,omitempty"`
	// After is the check once it was done.
	After IndexCheck `json:"after"`
}

// CreateReconcileIndexes builds the reconcile indexes request_status lacks,
// each with CREATE INDEX CONCURRENTLY IF NOT EXISTS (schema/002's statement):
// a plain CREATE INDEX would block the workflow's inserts and updates for
// the whole build, CONCURRENTLY lets them go on
// (https://www.postgresql.org/docs/15/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY).
// It cannot run inside a transaction, so each is a statement of its own on
// db. With rebuildInvalid, an invalid index that no session is building
// (left by a failed or cancelled build) is dropped (DROP INDEX
// CONCURRENTLY) and built again; without it, invalid indexes are left
// alone and After reports them.
//
// A user that may not create indexes on the table gets an
// *IndexPrivilegeError; any other failure is returned too, with what was
// done so far. After is the check once the builds are over.
func CreateReconcileIndexes(ctx context.Context, db IndexDB, rebuildInvalid bool) (IndexBuild, error) {
	var b IndexBuild
	before, err := CheckReconcileIndexes(ctx, db)
	if err != nil {
		return b, err
	}
	stmts, err := reconcileIndexStatements()
	if err != nil {
		return b, err
	}
	build := func(name string) error {
		if _, err := db.Exec(ctx, stmts[name]); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" {
				return &IndexPrivilegeError{User: before.User, Index: name, Err: err}
			}
			return fmt.Errorf("create index %s: %w", name, err)
		}
		return nil
	}
	var errs []error
	for _, name := range before.Missing {
		if err := build(name); err != nil {
			errs = append(errs, err)
			continue
		}
		b.Created = append(b.Created, name)
	}
	if rebuildInvalid {
		for _, name := range before.Invalid {
			if slices.Contains(before.Building, name) {
				continue
			}
			if _, err := db.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
				errs = append(errs, fmt.Errorf("drop invalid index %s: %w", name, err))
				continue
			}
			if err := build(name); err != nil {
				errs = append(errs, err)
				continue
			}
			b.Rebuilt = append(b.Rebuilt, name)
		}
	}
	b.After = before
	if len(before.Missing) > 0 || (rebuildInvalid && len(before.Invalid) > 0) {
		after, err := CheckReconcileIndexes(ctx, db)
		if err != nil {
			errs = append(errs, err)
		}
		b.After = after
	}
	return b, errors.Join(errs...)
}

// createIndexStmt matches one CREATE INDEX statement of a schema file and
// its index name.
var createIndexStmt = regexp.MustCompile(`(?s)CREATE INDEX IF NOT EXISTS (\w+)\s.*?;`)

// reconcileIndexStatements returns schema/002's CREATE INDEX statements by
// index name, as CREATE INDEX CONCURRENTLY IF NOT EXISTS: the file stays
// the one definition of the indexes (ApplySchema runs it as is, in a
// transaction, where CONCURRENTLY is not allowed).
func reconcileIndexStatements() (map[string]string, error) {
	sql, err := schemaFiles.ReadFile("schema/002_reconcile_index.sql")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range createIndexStmt.FindAllStringSubmatch(string(sql), -1) {
		out[m[1]] = strings.Replace(m[0], "CREATE INDEX IF NOT EXISTS", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1)
	}
	for _, name := range ReconcileIndexes {
		if out[name] == "" {
			return nil, fmt.Errorf("schema/002_reconcile_index.sql has no CREATE INDEX IF NOT EXISTS %s", name)
		}
	}
	return out, nil
}
