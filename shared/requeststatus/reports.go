package requeststatus

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CountByStatus counts sel's rows by job_status. Rows without job_status
// count under "null". Statuses without rows are absent.
func (t *Table) CountByStatus(ctx context.Context, sel Selection) (map[string]int64, error) {
	var args []any
	rows, err := t.db.Query(ctx, `SELECT coalesce(job_status, 'null'), count(*) FROM request_status `+
		whereAll(sel.where(&args))+` GROUP BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("count rows by status: %w", err)
	}
	out := map[string]int64{}
	var status string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		out[status] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count rows by status: %w", err)
	}
	return out, nil
}

// FileRow names one row in the operators' reports.
type FileRow struct {
	RequestID      string    `json:"request_id"`
	RequestGroupID string    `json:"request_group_id"`
	GranuleID      string    `json:"granule_id"`
	Key            string    `json:"key"`
	LastUpdate     time.Time `json:"last_update_time"`
}

// FailureGroup is the failed files whose err_msg is the same once the key,
// ids and times are taken out.
type FailureGroup struct {
	Error   string    `json:"error"`
	Count   int64     `json:"count"`
	Example string    `json:"example_err_msg"`
	Files   []FileRow `json:"files"`
}

// normalizedErrSQL is err_msg with the row's key, UUIDs and RFC 3339 times
// replaced. The same failure of different files then groups together.
const normalizedErrSQL = `regexp_replace(regexp_replace(replace(coalesce(err_msg, ''), object_key, '<key>'),
    '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'),
    '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)', '<time>', 'g')`

// failureGroupsSQL groups the error rows by normalized err_msg, the
// largest groups first. Each group names its newest files.
//
//	$1 files per group  $2 groups; the selection's arguments follow
const failureGroupsSQL = `SELECT ` + normalizedErrSQL + ` AS error, count(*),
    (array_agg(coalesce(err_msg, '') ORDER BY last_update_time DESC))[1],
    (array_agg(request_id::text ORDER BY last_update_time DESC))[1:$1],
    (array_agg(request_group_id::text ORDER BY last_update_time DESC))[1:$1],
    (array_agg(granule_id ORDER BY last_update_time DESC))[1:$1],
    (array_agg(object_key ORDER BY last_update_time DESC))[1:$1],
    (array_agg(last_update_time ORDER BY last_update_time DESC))[1:$1]
FROM request_status %s
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2`

// FailureGroups groups sel's error rows by their normalized err_msg: at
// most maxGroups groups, the largest first, each naming its newest
// filesPerGroup files.
func (t *Table) FailureGroups(ctx context.Context, sel Selection, maxGroups, filesPerGroup int) ([]FailureGroup, error) {
	args := []any{filesPerGroup, maxGroups}
	sql := fmt.Sprintf(failureGroupsSQL, whereAll("job_status = 'error'", sel.where(&args)))
	rows, err := t.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("group failed files: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FailureGroup, error) {
		var (
			g                   FailureGroup
			ids, gids, grs, kys []string
			times               []time.Time
		)
		if err := r.Scan(&g.Error, &g.Count, &g.Example, &ids, &gids, &grs, &kys, &times); err != nil {
			return g, err
		}
		for i := range ids {
			g.Files = append(g.Files, FileRow{RequestID: ids[i], RequestGroupID: gids[i], GranuleID: grs[i], Key: kys[i], LastUpdate: times[i]})
		}
		return g, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group failed files: %w", err)
	}
	return groups, nil
}

// WaitingRow is an inprogress row and its restore bucket ("" when none).
type WaitingRow struct {
	FileRow
	RestoreBucket string
}

// Waiting lists sel's inprogress rows updated least recently, at most
// limit of them, oldest first.
func (t *Table) Waiting(ctx context.Context, sel Selection, limit int) ([]WaitingRow, error) {
	args := []any{limit}
	rows, err := t.db.Query(ctx, `SELECT request_id::text, request_group_id::text, granule_id, object_key, last_update_time,
    coalesce(restore_bucket_dest, '')
FROM request_status `+whereAll("job_status = 'inprogress'", sel.where(&args))+`
ORDER BY last_update_time, request_id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list waiting files: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitingRow, error) {
		var w WaitingRow
		err := r.Scan(&w.RequestID, &w.RequestGroupID, &w.GranuleID, &w.Key, &w.LastUpdate, &w.RestoreBucket)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("list waiting files: %w", err)
	}
	return out, nil
}

// GroupCounts is one request group's rows by status. InProgress counts
// every row neither complete nor error, rows without job_status too.
type GroupCounts struct {
	RequestGroupID              string
	Complete, Error, InProgress int64
}

// CountByGroup counts sel's rows per request group and status, the groups
// in request_group_id order.
func (t *Table) CountByGroup(ctx context.Context, sel Selection) ([]GroupCounts, error) {
	var args []any
	rows, err := t.db.Query(ctx, `SELECT request_group_id::text,
    count(*) FILTER (WHERE job_status = 'complete'),
    count(*) FILTER (WHERE job_status = 'error'),
    count(*) FILTER (WHERE job_status IS DISTINCT FROM 'complete' AND job_status IS DISTINCT FROM 'error')
FROM request_status `+whereAll(sel.where(&args))+`
GROUP BY 1 ORDER BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("count rows by request group and status: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[GroupCounts])
	if err != nil {
		return nil, fmt.Errorf("count rows by request group and status: %w", err)
	}
	return out, nil
}

// RerunSelection says which rows a rerun selects among Selection's. Failed
// selects the rows in error. A StuckBefore not zero selects the inprogress
// rows last updated before it. At most Limit rows are selected, least
// recently updated first.
type RerunSelection struct {
	Selection
	Failed      bool
	StuckBefore time.Time
	Limit       int
}

// RerunCandidate is a row a rerun selected.
type RerunCandidate struct {
	RequestID, ObjectKey, RestoreBucket, ArchiveBucket string
}

// RerunCandidates returns the rows q selects. It selects none unless
// Failed is set or StuckBefore is not zero.
func (t *Table) RerunCandidates(ctx context.Context, q RerunSelection) ([]RerunCandidate, error) {
	args := []any{q.Limit}
	var which string
	switch stuck := !q.StuckBefore.IsZero(); {
	case q.Failed && stuck:
		args = append(args, q.StuckBefore)
		which = "(job_status = 'error' OR (job_status = 'inprogress' AND last_update_time < $2))"
	case q.Failed:
		which = "job_status = 'error'"
	case stuck:
		args = append(args, q.StuckBefore)
		which = "job_status = 'inprogress' AND last_update_time < $2"
	default:
		return nil, nil
	}
	rows, err := t.db.Query(ctx, `SELECT request_id::text, object_key, coalesce(restore_bucket_dest, ''), coalesce(archive_bucket_dest, '')
FROM request_status `+whereAll(which, q.where(&args))+`
ORDER BY last_update_time, request_id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("select files to re-run: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RerunCandidate])
	if err != nil {
		return nil, fmt.Errorf("select files to re-run: %w", err)
	}
	return out, nil
}
