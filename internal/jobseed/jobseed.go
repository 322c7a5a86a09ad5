// Package jobseed writes and reads request_status rows the way the system
// that files restore requests would, for tests and the local demo. The
// Lambdas never create jobs, so this is not part of shared/requeststatus.
package jobseed

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// StatusInProgress is the job_status a new job gets: requeststatus's
// StatusInProgress (jobseed_test pins that they agree; importing requeststatus
// here would keep its own tests from using this package).
const StatusInProgress = "inprogress"

// DB is what Insert and Read need: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Row is one row of request_status. Empty strings are stored as NULL in the
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

// Insert inserts a job into request_status, filling the defaults Row
// documents, and returns the row as inserted.
func Insert(ctx context.Context, db DB, job Row) (Row, error) {
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
	_, err := db.Exec(ctx, `INSERT INTO request_status (
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

// Read reads the job requestID back from request_status.
func Read(ctx context.Context, db DB, requestID string) (Row, error) {
	var job Row
	err := db.QueryRow(ctx, `SELECT request_id::text, request_group_id::text, granule_id, object_key,
    coalesce(job_type, ''), coalesce(restore_bucket_dest, ''), coalesce(archive_bucket_dest, ''),
    coalesce(job_status, ''), request_time, last_update_time, coalesce(err_msg, '')
FROM request_status WHERE request_id = $1`, requestID).Scan(
		&job.RequestID, &job.RequestGroupID, &job.GranuleID, &job.ObjectKey,
		&job.JobType, &job.RestoreBucketDest, &job.ArchiveBucketDest,
		&job.JobStatus, &job.RequestTime, &job.LastUpdateTime, &job.ErrMsg)
	if err != nil {
		return Row{}, fmt.Errorf("read job %q: %w", requestID, err)
	}
	return job, nil
}

// NewRequestID returns a random (version 4) UUID in its text form.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
