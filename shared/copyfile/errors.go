package copyfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/s3region"
)

// TransientCopyError is a copy failure worth retrying: throttling, a server
// fault (5xx), a timeout, a dropped connection, or no time left to make
// progress before the Lambda's deadline (DeadlineExceeded). The workflow
// retries it.
type TransientCopyError struct {
	Copy
	// Code is S3's error code (e.g. SlowDown), or ours for a failure S3
	// did not answer: ConnectionError, Timeout, DeadlineExceeded.
	Code    string
	Message string
	// Err is the underlying error, if any.
	Err error
}

func (e *TransientCopyError) Error() string { return e.Copy.describe(e.Code, e.Message) }
func (e *TransientCopyError) Unwrap() error { return e.Err }

// PermanentCopyError is a copy failure a retry will not fix. Examples: no
// such source or bucket, access denied, an archived object not restored,
// bad input, a failed integrity check. The workflow records it without
// retrying.
type PermanentCopyError struct {
	Copy
	Code    string
	Message string
	Err     error
}

func (e *PermanentCopyError) Error() string { return e.Copy.describe(e.Code, e.Message) }
func (e *PermanentCopyError) Unwrap() error { return e.Err }

// Copy names one copy: from SourceBucket/SourceKey to TargetBucket, same key.
type Copy struct {
	SourceBucket string `json:"source_bucket"`
	SourceKey    string `json:"source_key"`
	TargetBucket string `json:"target_bucket"`
}

func (c Copy) describe(code, msg string) string {
	s := fmt.Sprintf("copy s3://%s/%s to s3://%s/%s", c.SourceBucket, c.SourceKey, c.TargetBucket, c.SourceKey)
	switch {
	case code != "" && msg != "":
		return s + ": " + code + ": " + msg
	case code != "":
		return s + ": " + code
	case msg != "":
		return s + ": " + msg
	}
	return s + ": failed"
}

// failure is a copy failure classified where it happened. It travels as an
// error until routed turns it into one of the two routed types.
type failure struct {
	transient bool
	code, msg string
	err       error
}

func transient(code, msg string, err error) *failure { return &failure{true, code, msg, err} }
func permanent(code, msg string, err error) *failure { return &failure{false, code, msg, err} }

func (f *failure) Error() string { return f.code + ": " + f.msg }
func (f *failure) Unwrap() error { return f.err }

// routed builds the error a copy returns; it is the only place the routed
// types are made. notes end the message (what became of the upload, a hint).
func (f *failure) routed(c Copy, notes ...string) error {
	msg := f.msg
	for _, n := range notes {
		if n == "" {
			continue
		}
		if msg != "" {
			msg += "; "
		}
		msg += n
	}
	if f.transient {
		return &TransientCopyError{Copy: c, Code: f.code, Message: msg, Err: f.err}
	}
	return &PermanentCopyError{Copy: c, Code: f.code, Message: msg, Err: f.err}
}

// transientCodes are the S3 error codes a retry can fix.
var transientCodes = map[string]bool{
	"SlowDown":                               true,
	"InternalError":                          true,
	"ServiceUnavailable":                     true,
	"RequestTimeout":                         true,
	"RequestTimeoutException":                true,
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"RequestLimitExceeded":                   true,
	"BandwidthLimitExceeded":                 true,
	"ProvisionedThroughputExceededException": true,
	"EC2ThrottledException":                  true,
	"PriorRequestNotComplete":                true,
	"OperationAborted":                       true, // a conflicting operation is in progress
	"RequestTimeTooSkewed":                   true,
	"PreconditionFailed":                     true, // the source changed under the copy: copy it again
	"NoSuchUpload":                           true, // our multipart upload vanished (aborted elsewhere): start over
	"IDPCommunicationError":                  true,
	"KMS.ThrottlingException":                true,
	"KMS.KMSInternalException":               true,
}

// permanentCodes are S3 error codes known to be permanent. Codes in neither
// list are classified by HTTP status (5xx, 408, 429 transient; else
// permanent).
var permanentCodes = map[string]bool{
	"NoSuchKey":                  true,
	"NoSuchBucket":               true,
	"NotFound":                   true,
	"AccessDenied":               true,
	"Forbidden":                  true,
	"InvalidObjectState":         true,
	"ObjectNotInActiveTierError": true,
	"InvalidRequest":             true,
	"InvalidArgument":            true,
	"EntityTooLarge":             true,
	"BadDigest":                  true, // the copy's checksum differs from the one expected
	"InvalidPart":                true,
	"InvalidPartOrder":           true,
	"EntityTooSmall":             true,
	"KMS.NotFoundException":      true,
	"KMS.DisabledException":      true,
	// The server does not do what the request asks (HTTP 501, which
	// would otherwise count as a transient 5xx), e.g. an S3-compatible
	// server without ACLs given x-amz-acl.
	"NotImplemented":                true,
	"AccessControlListNotSupported": true,
}

// Classify turns an error from an S3 call of copy c into a
// *TransientCopyError or *PermanentCopyError (returned as is if it already
// is one). The rules, in order:
//
//   - a call sent to the wrong region (s3region.Misdirected): permanent
//     (PermanentRedirect);
//   - an S3 error code in the transient list: transient; in the permanent
//     list: permanent;
//   - any other S3 answer: transient if its HTTP status is 5xx, 408 or 429,
//     else permanent (S3 will refuse it again);
//   - context cancelled or deadline exceeded: transient (Timeout);
//   - no answer (connection refused or reset, timeout, EOF, DNS): transient;
//   - anything else (for example the SDK refusing its input): permanent.
func Classify(c Copy, err error) error {
	if err == nil {
		return nil
	}
	var te *TransientCopyError
	var pe *PermanentCopyError
	switch {
	case errors.As(err, &te):
		return te
	case errors.As(err, &pe):
		return pe
	}
	return classify(err).routed(c)
}

// classify applies Classify's rules; a *failure is returned as it is.
func classify(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	if msg, ok := s3region.Misdirected(err); ok {
		return permanent("PermanentRedirect", msg, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
		status := httpStatus(err)
		if msg == "" {
			msg = defaultMessage(code, status)
		}
		switch {
		case transientCodes[code]:
			return transient(code, msg, err)
		case permanentCodes[code]:
			return permanent(code, msg, err)
		case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
			return transient(code, msg, err)
		}
		return permanent(code, msg, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return transient("Timeout", err.Error(), err)
	}
	if isConnectionError(err) {
		return transient("ConnectionError", err.Error(), err)
	}
	return permanent("", err.Error(), err)
}

// isConnectionError reports whether err means the request got no (complete)
// answer: it could not be sent, the connection dropped, or it timed out.
func isConnectionError(err error) bool {
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	var timeout interface{ Timeout() bool }
	var deser *smithy.DeserializationError
	return errors.As(err, &sendErr) ||
		errors.As(err, &netErr) ||
		errors.As(err, &timeout) && timeout.Timeout() ||
		errors.As(err, &deser) || // a truncated answer
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// defaultMessage supplies a message where S3 sends none (HEAD answers have
// no body).
func defaultMessage(code string, status int) string {
	switch code {
	case "NoSuchKey":
		return "The specified key does not exist."
	case "NoSuchBucket":
		return "The specified bucket does not exist."
	case "AccessDenied", "Forbidden":
		return "Access Denied"
	}
	if status != 0 {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return ""
}
