package jobseed

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// EnsureOpen gives job.ObjectKey an open job: when the key already has a
// row whose job_status is not 'complete' (the row request-status's Find open
// job would pick), that row is returned with inserted false; otherwise job is
// inserted as Insert does. Seeding the same key twice leaves one open job.
func EnsureOpen(ctx context.Context, db DB, job Row) (row Row, inserted bool, err error) {
	var id string
	err = db.QueryRow(ctx, `SELECT request_id::text FROM request_status
WHERE object_key = $1 AND job_status IS DISTINCT FROM 'complete'
ORDER BY last_update_time DESC, request_time DESC LIMIT 1`, job.ObjectKey).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		row, err = Insert(ctx, db, job)
		return row, err == nil, err
	case err != nil:
		return Row{}, false, fmt.Errorf("look up the open job for key %q: %w", job.ObjectKey, err)
	}
	row, err = Read(ctx, db, id)
	return row, false, err
}
