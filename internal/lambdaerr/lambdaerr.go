// Package lambdaerr names a handler's error the way the Go Lambda runtime
// (aws-lambda-go) reports it as errorType, so that local stand-ins for Lambda
// give Step Functions the same error names as AWS does.
package lambdaerr

import (
	"reflect"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// ErrorType returns the errorType aws-lambda-go reports for err (see its
// lambda/errors.go): a messages.InvokeResponse_Error value reports its own
// Type; any other error reports the name of its Go type, and for a pointer
// the name of the type it points to. Only the outermost type counts:
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
