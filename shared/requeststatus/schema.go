package requeststatus

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

// TxStarter is what ApplySchema needs from a database handle: both
// *pgx.Conn and *pgxpool.Pool satisfy it.
type TxStarter interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// schemaLockKey is the pg_advisory_xact_lock key that serializes concurrent
// ApplySchema calls on one database, so two callers cannot race on
// CREATE TABLE IF NOT EXISTS (which is not concurrency-safe in Postgres).
const schemaLockKey = 0x7265717374 // "reqst"

// ApplySchema creates the request_status table and its indexes if they do
// not exist, in the first schema of the connection's search_path. It is
// idempotent: running it again, or on a database that already has the table,
// changes nothing. The SQL files under schema/ run in name order in one
// transaction. Afterwards it checks that the table has the columns the Store
// uses, so an older or foreign table of the same name is reported at once.
//
// ApplySchema needs the privileges of the table's owner (COMMENT ON, CREATE
// INDEX). The Lambda never calls it; tests, the local runner and a first
// deployment do.
func ApplySchema(ctx context.Context, db TxStarter) error {
	names, err := fs.Glob(schemaFiles, "schema/*.sql")
	if err != nil {
		return fmt.Errorf("list schema files: %w", err)
	}
	sort.Strings(names)

	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("apply schema: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLockKey)); err != nil {
		return fmt.Errorf("apply schema: lock: %w", err)
	}
	for _, name := range names {
		sql, err := schemaFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		// No arguments: pgx uses the simple protocol, which runs every
		// statement of the file.
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("apply %s: %w", name, err)
		}
	}
	if _, err := tx.Exec(ctx, checkColumnsSQL); err != nil {
		return fmt.Errorf("request_status lacks a column the store uses: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("apply schema: commit: %w", err)
	}
	return nil
}

// checkColumnsSQL fails when request_status lacks a column that the Store or
// the seeding (Table.Insert, Table.Read) reads or writes.
const checkColumnsSQL = `SELECT request_id, request_group_id, granule_id, object_key, job_type,
	restore_bucket_dest, archive_bucket_dest, job_status, request_time, last_update_time, err_msg
	FROM request_status LIMIT 0`
