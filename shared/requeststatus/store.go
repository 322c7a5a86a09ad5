// Package requeststatus keeps the request_status table of the restore
// workflow. Its Store finds the job a restored file belongs to and records
// the outcome of the file's copy. It is the table's one owner: every query
// on it is here, the sweep's, the operators' and the seeding's too (Table).
// It also holds the table's schema, the database configuration
// (environment and SSM Parameter Store) and the request-status handler.
package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// The values of request_status.job_status (its CHECK constraint allows
// exactly these).
const (
	StatusInProgress = "inprogress"
	StatusComplete   = "complete"
	StatusError      = "error"
)

// DefaultQueryTimeout bounds one Store operation, connecting included, when
// the caller's context allows longer.
const DefaultQueryTimeout = 10 * time.Second

// DB is what the Store needs from a database handle: *pgxpool.Pool,
// *pgx.Conn and pgx.Tx satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and updates request_status. Every query is parameterized.
type Store struct {
	db DB
	// QueryTimeout bounds each operation; zero leaves only the caller's
	// deadline. Either way an operation gives up deadlineMargin before the
	// caller's deadline, so that a Lambda reports DatabaseUnavailableError
	// rather than timing out.
	QueryTimeout time.Duration
}

// NewStore returns a Store on db with DefaultQueryTimeout.
func NewStore(db DB) *Store {
	return &Store{db: db, QueryTimeout: DefaultQueryTimeout}
}

// newestOpenFirst orders a key's rows as FindOpenJob and FindOpenJobs pick
// them, and keeps the first: open (job_status is not 'complete'; NULL
// counts as open) before complete, then the newest.
const newestOpenFirst = `ORDER BY job_status IS NOT DISTINCT FROM 'complete', last_update_time DESC, request_time DESC
    LIMIT 1`

// markFound marks the rows a lookup found (the CTE "found": request_id,
// archive_bucket_dest) as picked up, as FindOpenJob and FindOpenJobs both
// do: last_update_time = now() on an 'inprogress' row that names an archive
// bucket, nothing else. The UPDATE re-checks job_status on the row's latest
// version, so a row completed meanwhile by another writer is not marked.
const markFound = `marked AS (
    UPDATE request_status r
    SET last_update_time = now()
    FROM found f
    WHERE r.request_id = f.request_id
      AND r.job_status = 'inprogress'
      AND coalesce(f.archive_bucket_dest, '') <> ''
    RETURNING r.request_id
)`

// findJobSQL picks the key's newest open job (job_status is not 'complete';
// NULL counts as open, as in the original Lambda, whose Python test
// `job_status != "complete"` was true for NULL), else its newest complete one,
// and marks it as picked up in the same statement: see FindOpenJob for which
// rows the mark touches. The lookup is served by idx_reqstat_keylstupd
// (object_key, last_update_time). The UPDATE re-checks job_status on the row's
// latest version, so a row completed meanwhile by another writer is not marked.
//
//	$1 object_key
const findJobSQL = `WITH found AS (
    SELECT request_id, archive_bucket_dest, job_status
    FROM request_status
    WHERE object_key = $1
    ` + newestOpenFirst + `
), ` + markFound + `
SELECT f.request_id::text, f.archive_bucket_dest, f.job_status, EXISTS (SELECT 1 FROM marked)
FROM found f`

// FindOpenJob returns the job for a restored file's key: the newest job
// whose job_status is not 'complete'; if there is none but the key has a
// complete job, the newest complete one with AlreadyComplete set (a
// duplicate event after a successful copy). Errors: *NoOpenJobError when the
// key has no row, or its job names no archive bucket;
// *DatabaseUnavailableError when retrying may help; *DatabaseError otherwise.
//
// Finding the job marks it as picked up: when the job found is 'inprogress'
// and names an archive bucket, its last_update_time becomes now(), so that
// the reconcile sweep, which counts its grace from last_update_time and
// claims a row only if that is still the value it listed, leaves a file
// alone while its execution works on it (docs/reconcile.md). The mark
// changes nothing else: never job_status or err_msg, never a 'complete'
// row, and never an 'error' or NULL-status row being re-run (the sweep
// takes only 'inprogress' rows, and an 'error' row's last_update_time keeps
// saying when its error was recorded until its new outcome is).
func (s *Store) FindOpenJob(ctx context.Context, key string) (contract.Job, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	var (
		requestID string
		archive   *string
		status    *string
		marked    bool
	)
	err := s.db.QueryRow(ctx, findJobSQL, key).Scan(&requestID, &archive, &status, &marked)
	if errors.Is(err, pgx.ErrNoRows) {
		return contract.Job{}, &NoOpenJobError{Key: key}
	}
	if err != nil {
		return contract.Job{}, classify(fmt.Sprintf("find open job for key %q", key), err)
	}
	job, noJob := foundJob(key, &requestID, archive, status)
	if noJob != nil {
		return contract.Job{}, noJob
	}
	return job, nil
}

// foundJob turns the row a lookup found for key into its job: requestID
// nil is no row; a row without an archive bucket is no usable job either.
func foundJob(key string, requestID, archive, status *string) (contract.Job, *NoOpenJobError) {
	switch {
	case requestID == nil:
		return contract.Job{}, &NoOpenJobError{Key: key}
	case archive == nil || *archive == "":
		return contract.Job{}, &NoOpenJobError{
			Key:    key,
			Reason: fmt.Sprintf("its job %s has no archive_bucket_dest", *requestID),
		}
	}
	return contract.Job{
		RequestID:       *requestID,
		TargetBucket:    *archive,
		AlreadyComplete: status != nil && *status == StatusComplete,
	}, nil
}

// MaxChunkFiles is the most files one FindOpenJobs call looks up: an
// Express child's chunk, whose files the inline Map "Copy each file of the
// chunk" runs all at once (statemachine.MaxInlineMapConcurrency).
const MaxChunkFiles = 40

// findJobsSQL is findJobSQL for a chunk of keys in one statement: each
// distinct key's row is picked as findJobSQL picks it (one index lookup per
// key, LATERAL), the rows found are marked as findJobSQL marks them, and
// the answer lists, in the order of $1 (duplicates included, each with its
// key's row), the request_id, archive_bucket_dest and job_status found, NULL
// for a key without a row. The answer is one row of three arrays, so the
// chunk costs one round trip. The data-modifying CTE runs whether or not
// the outer query reads it
// (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING).
//
//	$1 object_keys (text[])
const findJobsSQL = `WITH keys AS (
    SELECT k.key, k.ord FROM unnest($1::text[]) WITH ORDINALITY AS k(key, ord)
), found AS (
    SELECT d.key, j.request_id, j.archive_bucket_dest, j.job_status
    FROM (SELECT DISTINCT key FROM keys) d
    CROSS JOIN LATERAL (
        SELECT request_id, archive_bucket_dest, job_status
        FROM request_status
        WHERE object_key = d.key
        ` + newestOpenFirst + `
    ) j
), ` + markFound + `
SELECT array_agg(f.request_id::text ORDER BY k.ord),
       array_agg(f.archive_bucket_dest ORDER BY k.ord),
       array_agg(f.job_status ORDER BY k.ord)
FROM keys k LEFT JOIN found f ON f.key = k.key`

// JobLookup is one key's answer from FindOpenJobs: its job, or NoJob when
// FindOpenJob would fail with that *NoOpenJobError.
type JobLookup struct {
	Job   contract.Job
	NoJob *NoOpenJobError
}

// FindOpenJobs is FindOpenJob for up to MaxChunkFiles keys in one
// statement: one JobLookup per key, in the order of keys, each the job
// FindOpenJob would return for that key, or its *NoOpenJobError. It marks
// the jobs found as picked up exactly where FindOpenJob would. A key
// given twice gets the same job twice (its row is marked once).
//
// Errors, for the whole call: *InvalidStatusRequestError when keys is
// empty or longer than MaxChunkFiles; *DatabaseUnavailableError when
// retrying may help; *DatabaseError otherwise.
func (s *Store) FindOpenJobs(ctx context.Context, keys []string) ([]JobLookup, error) {
	if len(keys) == 0 || len(keys) > MaxChunkFiles {
		return nil, &InvalidStatusRequestError{Reason: fmt.Sprintf("%d keys to look up; want 1 to %d", len(keys), MaxChunkFiles)}
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	var requestIDs, archives, statuses []*string
	err := s.db.QueryRow(ctx, findJobsSQL, keys).Scan(&requestIDs, &archives, &statuses)
	if err != nil {
		return nil, classify(fmt.Sprintf("find open jobs for %d keys (first %q)", len(keys), keys[0]), err)
	}
	if len(requestIDs) != len(keys) || len(archives) != len(keys) || len(statuses) != len(keys) {
		return nil, &DatabaseError{Op: "find open jobs", Err: fmt.Errorf("%d answers for %d keys", len(requestIDs), len(keys))}
	}
	out := make([]JobLookup, len(keys))
	for i, key := range keys {
		out[i].Job, out[i].NoJob = foundJob(key, requestIDs[i], archives[i], statuses[i])
	}
	return out, nil
}

// markSQL marks a job as picked up again (a copy resuming): only its
// last_update_time changes, and only on an 'inprogress' row of that key.
//
//	$1 request_id  $2 object_key
const markSQL = `UPDATE request_status
SET last_update_time = now()
WHERE request_id = $1 AND object_key = $2 AND job_status = 'inprogress'`

// MarkPickedUp marks the job requestID of key as picked up again, as
// FindOpenJob does when it finds it: last_update_time = now() on the row,
// only if it is 'inprogress' (nothing else changes; a 'complete', 'error'
// or NULL-status row is left untouched). The workflow calls it each time a
// copy too large for one invocation resumes, so that the reconcile sweep's
// grace counts from the latest pass. It reports whether a row was marked;
// no matching row is not an error (the mark is best effort).
//
// Errors: *InvalidStatusRequestError when requestID is not a valid id;
// *DatabaseUnavailableError when retrying may help; *DatabaseError
// otherwise.
func (s *Store) MarkPickedUp(ctx context.Context, requestID, key string) (bool, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	tag, err := s.db.Exec(ctx, markSQL, requestID, key)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "22P02": // invalid_text_representation
		return false, &InvalidStatusRequestError{Reason: fmt.Sprintf("request_id %q is not a valid id", requestID)}
	case err != nil:
		return false, classify(fmt.Sprintf("mark request %q (key %q) picked up", requestID, key), err)
	}
	return tag.RowsAffected() > 0, nil
}

// recordSQL updates one job and reports, in one statement, what the row held
// and what it ends with. A 'complete' row is final: the UPDATE's WHERE
// skips it, whatever the outcome, so an error never downgrades it and a
// duplicate success (SQS and Express deliver at least once) does not
// update it again. Being in the WHERE, the rule holds against concurrent
// writers: target locks the row, so its job_status is the committed value
// the UPDATE decided on, and a writer that waited for the lock sees the
// other's 'complete' and skips the row.
//
//	$1 request_id  $2 object_key  $3 new job_status  $4 err_msg
const recordSQL = `WITH target AS (
    SELECT request_id, object_key, job_status
    FROM request_status
    WHERE request_id = $1
    FOR UPDATE
), updated AS (
    UPDATE request_status r
    SET job_status = $3, err_msg = $4, last_update_time = now()
    FROM target t
    WHERE r.request_id = t.request_id
      AND r.object_key = $2
      AND r.job_status IS DISTINCT FROM 'complete'
    RETURNING r.job_status
)
SELECT t.object_key, t.job_status, u.job_status
FROM target t LEFT JOIN updated u ON true`

// RecordOutcome records a copy's outcome on the job requestID: copyErr nil
// sets job_status 'complete', clears err_msg; otherwise it sets 'error' with
// err_msg = copyErr.Message() (a fixed text if that is empty). Either sets
// last_update_time = now(). A job already 'complete' is left untouched
// whatever the outcome (no UPDATE at all): an error never turns it back,
// and a duplicate success records nothing twice. It returns the job_status
// the row ends with ('complete' for a row that already was).
//
// Errors: *StatusUpdateError when requestID names no row, names a row for
// another key, or is not a valid id; *DatabaseUnavailableError when retrying
// may help; *DatabaseError otherwise.
func (s *Store) RecordOutcome(ctx context.Context, requestID, key string, copyErr *contract.StateError) (string, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	newStatus, errMsg := StatusComplete, (*string)(nil)
	if copyErr != nil {
		msg := copyErr.Message()
		if msg == "" {
			msg = "copy failed without an error message"
		}
		newStatus, errMsg = StatusError, &msg
	}

	var (
		rowKey       string
		before, ends *string
	)
	err := s.db.QueryRow(ctx, recordSQL, requestID, key, newStatus, errMsg).Scan(&rowKey, &before, &ends)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", &StatusUpdateError{RequestID: requestID, Key: key, Reason: "no row in request_status has this request_id"}
	case errors.As(err, &pgErr) && pgErr.Code == "22P02": // invalid_text_representation
		return "", &StatusUpdateError{RequestID: requestID, Key: key, Reason: "request_id is not a valid id", Err: err}
	case err != nil:
		return "", classify(fmt.Sprintf("record %s for request %q (key %q)", newStatus, requestID, key), err)
	case rowKey != key:
		return "", &StatusUpdateError{RequestID: requestID, Key: key, Reason: fmt.Sprintf("its row is for key %q", rowKey)}
	case ends != nil:
		return *ends, nil
	case before != nil:
		return *before, nil // not updated: the row was already 'complete'
	default:
		return "", &StatusUpdateError{RequestID: requestID, Key: key, Reason: "the row was not updated"}
	}
}

// deadlineMargin is how long before the caller's deadline (the Lambda's) an
// operation gives up, so that the Lambda returns DatabaseUnavailableError
// itself instead of being stopped by its own timeout.
const deadlineMargin = 500 * time.Millisecond

// withTimeout bounds an operation by QueryTimeout and by the caller's
// deadline less deadlineMargin, whichever comes first.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.QueryTimeout
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline) - deadlineMargin; left > 0 && (d <= 0 || left < d) {
			d = left
		}
	}
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
