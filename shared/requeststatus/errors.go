package requeststatus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// The errors below are the ones the request-status Lambda returns, unwrapped,
// so that aws-lambda-go reports their type names as errorType and the state
// machine can route on them:
//
//	NoOpenJobError            the key has no job in request_status (permanent)
//	DatabaseUnavailableError  the database could not serve the query now (transient: retry)
//	StatusUpdateError         the outcome could not be recorded for that request_id (permanent)
//	DatabaseError             any other database failure: misconfiguration,
//	                          missing table, permissions (permanent)
//	InvalidStatusRequestError the Lambda's input is malformed (permanent)

// NoOpenJobError means request_status has no usable job for the key: no row
// at all, or the newest row names no archive bucket.
type NoOpenJobError struct {
	Key string
	// Reason, when set, says why the job found is not usable.
	Reason string
}

func (e *NoOpenJobError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("no open job in request_status for key %q: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("no open job in request_status for key %q", e.Key)
}

// DatabaseUnavailableError means the database could not be reached or could
// not serve the query at this moment: connection refused or reset, host
// unreachable, timeouts, too many connections, server shutting down or
// starting up, serialization failures and deadlocks. Retrying later may
// succeed, so the state machine retries it with backoff.
type DatabaseUnavailableError struct {
	// Op is what was being done, e.g. `find open job for key "a.txt"`.
	Op  string
	Err error
}

func (e *DatabaseUnavailableError) Error() string {
	return fmt.Sprintf("database unavailable: %s: %v", e.Op, e.Err)
}

func (e *DatabaseUnavailableError) Unwrap() error { return e.Err }

// StatusUpdateError means the outcome of a copy could not be recorded: the
// request_id names no row, names a row for a different key, or is not a valid
// id.
type StatusUpdateError struct {
	RequestID string
	Key       string
	Reason    string
	Err       error
}

func (e *StatusUpdateError) Error() string {
	msg := fmt.Sprintf("could not record the copy outcome for request %q (key %q): %s", e.RequestID, e.Key, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *StatusUpdateError) Unwrap() error { return e.Err }

// DatabaseError is a database failure that retrying will not cure: wrong
// credentials or database name, a missing table or column, missing
// privileges, a TLS setting the server refuses.
type DatabaseError struct {
	Op  string
	Err error
}

func (e *DatabaseError) Error() string {
	return fmt.Sprintf("database error: %s: %v", e.Op, e.Err)
}

func (e *DatabaseError) Unwrap() error { return e.Err }

// InvalidStatusRequestError means the request-status Lambda's input cannot be
// acted on: an unknown operation or a missing field.
type InvalidStatusRequestError struct {
	Reason string
}

func (e *InvalidStatusRequestError) Error() string {
	return "invalid request-status input: " + e.Reason
}

func (*NoOpenJobError) routed()            {}
func (*DatabaseUnavailableError) routed()  {}
func (*StatusUpdateError) routed()         {}
func (*DatabaseError) routed()             {}
func (*InvalidStatusRequestError) routed() {}

// classify turns an error from pgx into *DatabaseUnavailableError when
// retrying may succeed, else into *DatabaseError. op describes the operation
// for the message.
//
// Transient (DatabaseUnavailableError):
//   - a server error (*pgconn.PgError) of SQLSTATE class 08 (connection
//     exception), 53 (insufficient resources, e.g. 53300
//     too_many_connections), 57P01 admin_shutdown, 57P02 crash_shutdown,
//     57P03 cannot_connect_now (starting up), 57014 query_canceled
//     (statement_timeout), 55P03 lock_not_available, 40001
//     serialization_failure, 40P01 deadlock_detected, 58000/58030 system/IO
//     error;
//   - any other server error is permanent (28P01 bad password, 3D000 no such
//     database, 42P01 no such table, 42501 permission denied, ...); but a
//     LazyPool built from SSM turns 28P01 into *DatabaseUnavailableError
//     and rebuilds its pool (the password may have been rotated);
//   - no server error: context deadline exceeded, a pgconn timeout, any
//     net.Error (refused, unreachable, DNS, resets), io.EOF /
//     io.ErrUnexpectedEOF (connection dropped), ECONNREFUSED / ECONNRESET /
//     EPIPE, an error pgconn marks SafeToRetry, or a *pgconn.ConnectError
//     (the connection attempt failed before the server said anything),
//     except a TLS certificate verification failure, which is permanent.
//
// Everything else, including context.Canceled, is permanent.
//
// An error that is already a *DatabaseUnavailableError or *DatabaseError
// (from LazyPool: SSM could not be read) keeps its kind, with op prefixed.
func classify(op string, err error) error {
	var (
		unavailable *DatabaseUnavailableError
		dbErr       *DatabaseError
	)
	switch {
	case errors.As(err, &unavailable):
		return &DatabaseUnavailableError{Op: op + ": " + unavailable.Op, Err: unavailable.Err}
	case errors.As(err, &dbErr):
		return &DatabaseError{Op: op + ": " + dbErr.Op, Err: dbErr.Err}
	}
	if isTransient(err) {
		return &DatabaseUnavailableError{Op: op, Err: err}
	}
	return &DatabaseError{Op: op, Err: err}
}

// isTransient reports whether err is worth retrying; see classify.
func isTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientSQLState(pgErr.Code)
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return false // the server's certificate is not trusted: retrying will not change it
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &connectErr):
		return true
	}
	return false
}

// transientSQLState reports whether a server error with this SQLSTATE may
// succeed when retried.
func transientSQLState(code string) bool {
	if len(code) == 5 {
		switch code[:2] {
		case "08", "53": // connection exception, insufficient resources
			return true
		}
	}
	switch code {
	case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"57014",          // query_canceled (statement_timeout)
		"55P03",          // lock_not_available (lock_timeout)
		"40001", "40P01", // serialization_failure, deadlock_detected
		"58000", "58030": // system_error, io_error
		return true
	}
	return false
}
