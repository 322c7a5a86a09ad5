package contract

import (
	"reflect"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// The routed errors: the error names the functions report, on which the
// state machine's Retry and Catch and the aggregate function route. Each
// is the name of the Go error type that carries it, in the function's
// package: the Lambda runtime reports that name as errorType (ErrorType).
// Tests check that this list, the error types, definition.asl.json and
// docs/workflow.md's table agree.
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

// ErrorType returns the errorType aws-lambda-go reports for err (its
// lambda/errors.go). A messages.InvokeResponse_Error reports its own Type.
// Any other error reports the name of its Go type, or of the type a
// pointer points to. Only the outermost type counts:
// fmt.Errorf("...: %w", err) reports "wrapError". A nil err gives "".
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
