// Package jobseed seeds request_status jobs for tests and the local runner.
// It holds no SQL: each function calls requeststatus.Table, the table's one
// owner.
package jobseed

import (
	"context"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// StatusInProgress is the job_status a new job gets.
const StatusInProgress = requeststatus.StatusInProgress

// DB is what the seeding needs: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type DB = requeststatus.Queryer

// Row is one row of request_status (requeststatus.Row).
type Row = requeststatus.Row

// Insert inserts a job (requeststatus.Table.Insert).
func Insert(ctx context.Context, db DB, job Row) (Row, error) {
	return requeststatus.NewTable(db).Insert(ctx, job)
}

// Read reads the job requestID back (requeststatus.Table.Read).
func Read(ctx context.Context, db DB, requestID string) (Row, error) {
	return requeststatus.NewTable(db).Read(ctx, requestID)
}

// EnsureOpen gives job.ObjectKey an open job
// (requeststatus.Table.EnsureOpen).
func EnsureOpen(ctx context.Context, db DB, job Row) (row Row, inserted bool, err error) {
	return requeststatus.NewTable(db).EnsureOpen(ctx, job)
}

// NewRequestID returns a random (version 4) UUID in its text form.
func NewRequestID() string { return requeststatus.NewRequestID() }
