package contract

import (
	"reflect"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// The routed errors: the error names the functions report, on which the
// state machine's Retry and Catch and the aggregate function route. Each is the name of the Go error type that carries it (in the
// function's package), since the Lambda runtime reports a returned error's
// type name as errorType (ErrorType). Tests check that every error type is
// listed, that each type's name equals its constant, that
// definition.asl.json names no other error (besides States.* and Lambda.*),
// and that docs/workflow.md's table lists exactly these.
const (
	// InvalidEventError: parse-event rejected the event (parseevent).
	InvalidEventError = "InvalidEventError"
	// TransientCopyError: a copy failed in a way worth retrying (copyfile).
	TransientCopyError = "TransientCopyError"
	// PermanentCopyError: a copy failed for good (copyfile).
	PermanentCopyError = "PermanentCopyError"
	// NoOpenJobError: request_status has no usable job for the key
	// (requeststatus).
	NoOpenJobError = "NoOpenJobError"
	// DatabaseUnavailableError: the database or SSM could not serve now
	// (requeststatus).
	DatabaseUnavailableError = "DatabaseUnavailableError"
	// StatusUpdateError: the outcome could not be recorded for that
	// request_id (requeststatus).
	StatusUpdateError = "StatusUpdateError"
	// DatabaseError: any other database failure (requeststatus).
	DatabaseError = "DatabaseError"
	// InvalidStatusRequestError: request-status's input is incomplete
	// (requeststatus).
	InvalidStatusRequestError = "InvalidStatusRequestError"
	// CopyRequestError: at least one file failed; the execution fails with
	// it (aggregate).
	CopyRequestError = "CopyRequestError"
)

// RoutedErrors lists every routed error name, in the order of
// docs/workflow.md's table.
var RoutedErrors = []string{
	InvalidEventError,
	TransientCopyError,
	PermanentCopyError,
	NoOpenJobError,
	DatabaseUnavailableError,
	StatusUpdateError,
	DatabaseError,
	InvalidStatusRequestError,
	CopyRequestError,
}

// ErrorType returns the errorType aws-lambda-go reports for err (see its
// lambda/errors.go): a messages.InvokeResponse_Error value reports its own
// Type; any other error reports the name of its Go type, and for a pointer
// the name of the type it points to. Only the outermost type counts:
// fmt.Errorf("...: %w", err) reports "wrapError". A nil err gives "".
// Handlers log it; the local runner reports it as AWS's runtime does.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	if ire, ok := err.(messages.InvokeResponse_Error); ok {
		return ire.Type
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// ErrorMessage returns the errorMessage aws-lambda-go reports for err: the
// Message of a messages.InvokeResponse_Error value, else err.Error().
// A nil err gives "".
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if ire, ok := err.(messages.InvokeResponse_Error); ok {
		return ire.Message
	}
	return err.Error()
}
