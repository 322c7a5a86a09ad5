package requeststatus

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StuckRow is an inprogress row the reconcile sweep lists.
type StuckRow struct {
	RequestID         string
	RequestGroupID    string
	GranuleID         string
	ObjectKey         string
	RestoreBucketDest string
	ArchiveBucketDest string
	RequestTime       time.Time
	// LastUpdateTime is the value the sweep listed. Every update the
	// sweep makes requires the row to still have it.
	LastUpdateTime time.Time
	ErrMsg         string
}

// listStuckSQL lists one page of inprogress rows not updated since $1.
// The page starts after the key ($2, $3) in (last_update_time, request_id)
// order: keyset pagination. idx_reqstat_inprogress_lstupd serves it. The
// bucket condition filters on the index scan. $5 is this stack's restore
// buckets: a row names one of them, or none. An empty $5 means every
// bucket. One database may serve several stacks; another stack's rows are
// never listed.
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

// PageKey is where a page of stuck rows starts: after this row.
type PageKey struct {
	LastUpdate time.Time
	RequestID  string
}

// FirstPage is the key before every row.
var FirstPage = PageKey{LastUpdate: time.Unix(0, 0).UTC(), RequestID: "00000000-0000-0000-0000-000000000000"}

// StuckPage is one page of the stuck rows: inprogress, last updated before
// Cutoff, after the row at After, at most Limit of them. Their
// restore_bucket_dest is one of Buckets or none (any when Buckets is
// empty).
type StuckPage struct {
	Cutoff  time.Time
	After   PageKey
	Limit   int
	Buckets []string
}

// Next is the page after rows, the last page listed.
func (q StuckPage) Next(rows []StuckRow) StuckPage {
	last := rows[len(rows)-1]
	q.After = PageKey{LastUpdate: last.LastUpdateTime, RequestID: last.RequestID}
	return q
}

// ListStuck returns page q's rows, in (last_update_time, request_id) order.
func (t *Table) ListStuck(ctx context.Context, q StuckPage) ([]StuckRow, error) {
	buckets := q.Buckets
	if buckets == nil {
		buckets = []string{} // a text[] argument, never NULL
	}
	rows, err := t.db.Query(ctx, listStuckSQL, q.Cutoff, q.After.LastUpdate, q.After.RequestID, q.Limit, buckets)
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

// guardedUpdateSQL updates rows the sweep listed. It changes a row only
// while it is still inprogress and still carries the last_update_time the
// sweep listed. A row that became complete or error, or that anyone
// updated since, is left alone.
//
//	$1 request ids  $2 their listed last_update_time  $3 new job_status  $4 new err_msg
const guardedUpdateSQL = `UPDATE request_status r
SET job_status = l.status, err_msg = l.msg, last_update_time = now()
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS l(id, listed, status, msg)
WHERE r.request_id = l.id
  AND r.job_status = 'inprogress'
  AND r.last_update_time = l.listed
RETURNING r.request_id::text`

// GuardedUpdate is one update of a listed row: its new job_status and
// err_msg, applied only if the row is as listed.
type GuardedUpdate struct {
	Row    StuckRow
	Status string
	ErrMsg string
}

// ApplyGuarded runs the updates in one statement and returns the request
// ids it changed. A row changed since it was listed is not updated and
// not returned.
func (t *Table) ApplyGuarded(ctx context.Context, updates []GuardedUpdate) (map[string]bool, error) {
	if len(updates) == 0 {
		return map[string]bool{}, nil
	}
	ids := make([]string, len(updates))
	listed := make([]time.Time, len(updates))
	statuses := make([]string, len(updates))
	msgs := make([]string, len(updates))
	for i, u := range updates {
		ids[i], listed[i], statuses[i], msgs[i] = u.Row.RequestID, u.Row.LastUpdateTime, u.Status, u.ErrMsg
	}
	rows, err := t.db.Query(ctx, guardedUpdateSQL, ids, listed, statuses, msgs)
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

// undoClaimSQL undoes the sweep's claims of rows whose execution did not
// start. It changes a row only while it is still inprogress and still
// carries the claim's err_msg (which names the sweep's time): a row the
// workflow or anyone else updated since is left alone. last_update_time
// goes back to the value the sweep listed, so the next sweep lists the row
// at once, not a grace period later.
//
//	$1 request ids  $2 their listed last_update_time  $3 the claim's err_msg  $4 new err_msg
const undoClaimSQL = `UPDATE request_status r
SET err_msg = l.msg, last_update_time = l.listed
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS l(id, listed, claim, msg)
WHERE r.request_id = l.id
  AND r.job_status = 'inprogress'
  AND r.err_msg = l.claim
RETURNING r.request_id::text`

// UndoneClaim is one claim to undo: the row as listed, the err_msg the
// claim wrote, and the err_msg to leave instead.
type UndoneClaim struct {
	Row    StuckRow
	Claim  string
	ErrMsg string
}

// UndoClaims undoes the claims in one statement and returns the request
// ids it changed. A row no longer carrying its claim is not changed and
// not returned.
func (t *Table) UndoClaims(ctx context.Context, claims []UndoneClaim) (map[string]bool, error) {
	if len(claims) == 0 {
		return map[string]bool{}, nil
	}
	ids := make([]string, len(claims))
	listed := make([]time.Time, len(claims))
	marks := make([]string, len(claims))
	msgs := make([]string, len(claims))
	for i, c := range claims {
		ids[i], listed[i], marks[i], msgs[i] = c.Row.RequestID, c.Row.LastUpdateTime, c.Claim, c.ErrMsg
	}
	rows, err := t.db.Query(ctx, undoClaimSQL, ids, listed, marks, msgs)
	if err != nil {
		return nil, fmt.Errorf("undo %d claims: %w", len(claims), err)
	}
	undone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("undo %d claims: %w", len(claims), err)
	}
	out := make(map[string]bool, len(undone))
	for _, id := range undone {
		out[id] = true
	}
	return out, nil
}
