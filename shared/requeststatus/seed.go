package requeststatus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Row is one row of request_status, as the system that files restore
// requests writes it. Tests, the local runner and its demo seed jobs with
// it; the Lambdas never create jobs. Empty strings are NULL in the
// nullable text columns.
type Row struct {
	RequestID         string // uuid; Insert generates one when empty
	RequestGroupID    string // uuid; Insert generates one when empty
	GranuleID         string // Insert uses "granule" when empty
	ObjectKey         string
	JobType           string // Insert uses "restore" when empty
	RestoreBucketDest string
	ArchiveBucketDest string
	JobStatus         string    // Insert uses StatusInProgress when empty
	RequestTime       time.Time // Insert uses now when zero
	LastUpdateTime    time.Time // Insert uses RequestTime when zero
	ErrMsg            string
}

// withDefaults is job with the defaults Row documents filled in.
func (job Row) withDefaults() Row {
	if job.RequestID == "" {
		job.RequestID = NewRequestID()
	}
	if job.RequestGroupID == "" {
		job.RequestGroupID = NewRequestID()
	}
	if job.GranuleID == "" {
		job.GranuleID = "granule"
	}
	if job.JobType == "" {
		job.JobType = "restore"
	}
	if job.JobStatus == "" {
		job.JobStatus = StatusInProgress
	}
	if job.RequestTime.IsZero() {
		job.RequestTime = time.Now().UTC()
	}
	if job.LastUpdateTime.IsZero() {
		job.LastUpdateTime = job.RequestTime
	}
	return job
}

// Insert inserts a job, filling the defaults Row documents, and returns
// the row as inserted.
func (t *Table) Insert(ctx context.Context, job Row) (Row, error) {
	job = job.withDefaults()
	_, err := t.db.Exec(ctx, `INSERT INTO request_status (
    request_id, request_group_id, granule_id, object_key, job_type,
    restore_bucket_dest, archive_bucket_dest, job_status,
    request_time, last_update_time, err_msg
) VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10, NULLIF($11, ''))`,
		job.RequestID, job.RequestGroupID, job.GranuleID, job.ObjectKey, job.JobType,
		job.RestoreBucketDest, job.ArchiveBucketDest, job.JobStatus,
		job.RequestTime, job.LastUpdateTime, job.ErrMsg)
	if err != nil {
		return Row{}, fmt.Errorf("insert job for key %q: %w", job.ObjectKey, err)
	}
	return job, nil
}

// rowColumns are a Row's columns, in scanRow's order.
const rowColumns = `request_id::text, request_group_id::text, granule_id, object_key,
    coalesce(job_type, ''), coalesce(restore_bucket_dest, ''), coalesce(archive_bucket_dest, ''),
    coalesce(job_status, ''), request_time, last_update_time, coalesce(err_msg, '')`

func scanRow(r pgx.CollectableRow) (Row, error) {
	var job Row
	err := r.Scan(&job.RequestID, &job.RequestGroupID, &job.GranuleID, &job.ObjectKey,
		&job.JobType, &job.RestoreBucketDest, &job.ArchiveBucketDest,
		&job.JobStatus, &job.RequestTime, &job.LastUpdateTime, &job.ErrMsg)
	return job, err
}

// Read reads the job requestID. A request id without a row is an error
// wrapping pgx.ErrNoRows.
func (t *Table) Read(ctx context.Context, requestID string) (Row, error) {
	rows, err := t.db.Query(ctx, `SELECT `+rowColumns+` FROM request_status WHERE request_id = $1`, requestID)
	if err == nil {
		var job Row
		if job, err = pgx.CollectExactlyOneRow(rows, scanRow); err == nil {
			return job, nil
		}
	}
	return Row{}, fmt.Errorf("read job %q: %w", requestID, err)
}

// RowsOfKey returns the rows of key, newest last_update_time first.
func (t *Table) RowsOfKey(ctx context.Context, key string) ([]Row, error) {
	rows, err := t.db.Query(ctx, `SELECT `+rowColumns+` FROM request_status WHERE object_key = $1
ORDER BY last_update_time DESC, request_time DESC`, key)
	if err == nil {
		var out []Row
		if out, err = pgx.CollectRows(rows, scanRow); err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("read the jobs of key %q: %w", key, err)
}

// RowsWithStatus returns the rows whose job_status is status, in
// object_key order.
func (t *Table) RowsWithStatus(ctx context.Context, status string) ([]Row, error) {
	rows, err := t.db.Query(ctx, `SELECT `+rowColumns+` FROM request_status WHERE job_status = $1
ORDER BY object_key, request_id`, status)
	if err == nil {
		var out []Row
		if out, err = pgx.CollectRows(rows, scanRow); err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("read the %s jobs: %w", status, err)
}

// EnsureOpen gives job.ObjectKey an open job. When the key already has a
// row whose job_status is not 'complete' (the row FindOpenJob would pick),
// it returns that row with inserted false. Otherwise it inserts job as
// Insert does. Seeding the same key twice leaves one open job.
func (t *Table) EnsureOpen(ctx context.Context, job Row) (row Row, inserted bool, err error) {
	rows, err := t.db.Query(ctx, `SELECT request_id::text FROM request_status
WHERE object_key = $1 AND job_status IS DISTINCT FROM 'complete'
ORDER BY last_update_time DESC, request_time DESC LIMIT 1`, job.ObjectKey)
	var id string
	if err == nil {
		id, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		row, err = t.Insert(ctx, job)
		return row, err == nil, err
	case err != nil:
		return Row{}, false, fmt.Errorf("look up the open job for key %q: %w", job.ObjectKey, err)
	}
	row, err = t.Read(ctx, id)
	return row, false, err
}

// LatestStatus is the job_status of key's most recently updated row, with
// NULL read as StatusInProgress. found is false when key has no row.
func (t *Table) LatestStatus(ctx context.Context, key string) (status string, found bool, err error) {
	rows, err := t.db.Query(ctx, `SELECT coalesce(job_status, 'inprogress') FROM request_status
WHERE object_key = $1 ORDER BY last_update_time DESC LIMIT 1`, key)
	if err == nil {
		status, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read the status of key %q: %w", key, err)
	}
	return status, true, nil
}

// SetStatus sets job_status and last_update_time = now() on every row of
// key, as a finished copy would, and returns how many rows it changed.
func (t *Table) SetStatus(ctx context.Context, key, status string) (int64, error) {
	tag, err := t.db.Exec(ctx, `UPDATE request_status SET job_status = $1, last_update_time = now()
WHERE object_key = $2`, status, key)
	if err != nil {
		return 0, fmt.Errorf("set the status of key %q to %s: %w", key, status, err)
	}
	return tag.RowsAffected(), nil
}

// Backdate moves the request_time and last_update_time of job requestID
// to age before now, so that the row looks untouched for that long.
func (t *Table) Backdate(ctx context.Context, requestID string, age time.Duration) error {
	tag, err := t.db.Exec(ctx, `UPDATE request_status
SET last_update_time = now() - $2::interval, request_time = now() - $2::interval
WHERE request_id = $1`, requestID, age.String())
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return fmt.Errorf("backdate job %q by %s: %w", requestID, age, err)
	}
	return nil
}

// DeleteKeys deletes every row of keys and returns how many it deleted.
func (t *Table) DeleteKeys(ctx context.Context, keys []string) (int64, error) {
	tag, err := t.db.Exec(ctx, `DELETE FROM request_status WHERE object_key = ANY($1)`, keys)
	if err != nil {
		return 0, fmt.Errorf("delete the jobs of %d keys: %w", len(keys), err)
	}
	return tag.RowsAffected(), nil
}

// NewRequestID returns a random (version 4) UUID in its text form.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
