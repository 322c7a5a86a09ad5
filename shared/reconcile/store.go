package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// DB is what the sweep needs from a database handle: *pgxpool.Pool,
// *pgx.Conn and pgx.Tx satisfy it (PoolDB adapts requeststatus.LazyPool).
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// PoolDB is a DB on a requeststatus.LazyPool: the host and password are
// read from SSM at the first query, inside the invocation. Exec goes through
// the LazyPool, which drops its pool when the database refuses a rotated
// password; Query uses the pool as it is (the next Exec, or the next
// invocation after a failed one, reads SSM again).
type PoolDB struct {
	Lazy *requeststatus.LazyPool
}

// Query runs sql on the pool.
func (p PoolDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	pool, err := p.Lazy.Pool(ctx)
	if err != nil {
		return nil, err
	}
	return pool.Query(ctx, sql, args...)
}

// Exec runs sql through the LazyPool.
func (p PoolDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.Lazy.Exec(ctx, sql, args...)
}

// StuckRow is an inprogress row the sweep lists.
type StuckRow struct {
	RequestID         string
	RequestGroupID    string
	GranuleID         string
	ObjectKey         string
	RestoreBucketDest string
	ArchiveBucketDest string
	RequestTime       time.Time
	// LastUpdateTime is the value the sweep listed: every update the sweep
	// makes requires the row to still have it.
	LastUpdateTime time.Time
	ErrMsg         string
}

// listStuckSQL lists one page of inprogress rows not updated since $1, in
// (last_update_time, request_id) order after the key ($2, $3): keyset
// pagination, served by idx_reqstat_inprogress_lstupd (a partial index on
// the inprogress rows; the bucket condition filters on the index scan).
// Only this stack's rows: restore_bucket_dest one of $5 (this stack's
// restore buckets), or none; an empty $5 means every bucket (no restore
// bucket configured, as copy-file reads SOURCE_BUCKETS). One database may
// serve several stacks: another stack's rows are never asked about.
const listStuckSQL = `SELECT request_id::text, request_group_id::text, granule_id, object_key,
    coalesce(restore_bucket_dest, ''), coalesce(archive_bucket_dest, ''),
    request_time, last_update_time, coalesce(err_msg, '')
FROM request_status
WHERE job_status = 'inprogress'
  AND last_update_time < $1
  AND (last_update_time, request_id) > ($2, $3::uuid)
  AND (cardinality($5::text[]) = 0 OR restore_bucket_dest = ANY($5::text[])
       OR restore_bucket_dest IS NULL OR restore_bucket_dest = '')
ORDER BY last_update_time, request_id
LIMIT $4`

// pageKey is where the next page starts.
type pageKey struct {
	lastUpdate time.Time
	requestID  string
}

var firstPage = pageKey{lastUpdate: time.Unix(0, 0).UTC(), requestID: "00000000-0000-0000-0000-000000000000"}

// stuckPage is one page of the stuck rows: inprogress, last updated
// before cutoff, after the row at key after, at most limit of them, with
// restore_bucket_dest one of buckets or none (any when buckets is empty).
type stuckPage struct {
	cutoff  time.Time
	after   pageKey
	limit   int
	buckets []string
}

// next is the page after rows, the last page listed.
func (q stuckPage) next(rows []StuckRow) stuckPage {
	last := rows[len(rows)-1]
	q.after = pageKey{lastUpdate: last.LastUpdateTime, requestID: last.RequestID}
	return q
}

// listStuck returns page q's rows, in (last_update_time, request_id) order.
func listStuck(ctx context.Context, db DB, q stuckPage) ([]StuckRow, error) {
	rows, err := db.Query(ctx, listStuckSQL, q.cutoff, q.after.lastUpdate, q.after.requestID, q.limit, bucketsArg(q.buckets))
	if err != nil {
		return nil, fmt.Errorf("list stuck rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StuckRow, error) {
		var s StuckRow
		err := r.Scan(&s.RequestID, &s.RequestGroupID, &s.GranuleID, &s.ObjectKey,
			&s.RestoreBucketDest, &s.ArchiveBucketDest, &s.RequestTime, &s.LastUpdateTime, &s.ErrMsg)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list stuck rows: %w", err)
	}
	return out, nil
}

// bucketsArg is buckets as a text[] argument (never NULL).
func bucketsArg(buckets []string) []string {
	if buckets == nil {
		return []string{}
	}
	return buckets
}

// touchSQL updates rows the sweep listed, only where they are still
// inprogress and still carry the last_update_time the sweep listed: a row
// that became complete (or error), or was updated by anyone since, is left
// alone. $1 request ids, $2 their listed last_update_time, $3 the new
// job_status, $4 the new err_msg (one per row).
const touchSQL = `UPDATE request_status r
SET job_status = l.status, err_msg = l.msg, last_update_time = now()
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS l(id, listed, status, msg)
WHERE r.request_id = l.id
  AND r.job_status = 'inprogress'
  AND r.last_update_time = l.listed
RETURNING r.request_id::text`

// rowUpdate is one guarded update.
type rowUpdate struct {
	row    StuckRow
	status string
	errMsg string
}

// applyUpdates runs the guarded updates and returns the request ids it
// changed.
func applyUpdates(ctx context.Context, db DB, updates []rowUpdate) (map[string]bool, error) {
	if len(updates) == 0 {
		return map[string]bool{}, nil
	}
	ids := make([]string, len(updates))
	listed := make([]time.Time, len(updates))
	statuses := make([]string, len(updates))
	msgs := make([]string, len(updates))
	for i, u := range updates {
		ids[i], listed[i], statuses[i], msgs[i] = u.row.RequestID, u.row.LastUpdateTime, u.status, u.errMsg
	}
	rows, err := db.Query(ctx, touchSQL, ids, listed, statuses, msgs)
	if err != nil {
		return nil, fmt.Errorf("update %d rows: %w", len(updates), err)
	}
	changed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("update %d rows: %w", len(updates), err)
	}
	out := make(map[string]bool, len(changed))
	for _, id := range changed {
		out[id] = true
	}
	return out, nil
}

// Status words, as requeststatus has them.
const (
	statusInProgress = requeststatus.StatusInProgress
	statusError      = requeststatus.StatusError
)
