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
)

// TransientCopyError is a copy failure worth retrying: S3 throttling or a
// server fault (SlowDown, InternalError, ServiceUnavailable, 5xx), a timeout,
// a dropped connection, or a copy invocation that could not copy a single
// part (or do its first steps) before the Lambda's deadline (DeadlineExceeded;
// a multipart copy that made progress pauses instead and is resumed). The
// workflow retries it (Step Functions Retry on its name).
type TransientCopyError struct {
	Copy
	// Code is the S3 error code (e.g. SlowDown), or a name for a failure S3
	// did not answer: ConnectionError, Timeout, DeadlineExceeded.
	Code    string
	Message string
	// Err is the underlying error, if any.
	Err error
}

func (e *TransientCopyError) Error() string { return e.Copy.describe(e.Code, e.Message) }
func (e *TransientCopyError) Unwrap() error { return e.Err }

// PermanentCopyError is a copy failure that retrying will not fix: the
// source or bucket does not exist, access is denied, the object is archived
// and not (or no longer) restored, the input is invalid, a bucket is outside
// the allowlist, or the copy's integrity check failed. The workflow records it
// without retrying.
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
//   - a *regionError (the bucket is in another region than the client S3
//     answered, see RegionalS3): permanent (PermanentRedirect);
//   - context cancelled or deadline exceeded: transient (Timeout);
//   - an S3 error code in the transient list: transient; in the permanent
//     list: permanent;
//   - any other S3 answer: transient if its HTTP status is 5xx, 408 or 429,
//     else permanent (S3 refused the request and will refuse it again);
//   - no answer (connection refused or reset, timeout, EOF, DNS): transient;
//   - anything else (for example the SDK refusing its input): permanent.
func Classify(c Copy, err error) error {
	if err == nil {
		return nil
	}
	var te *TransientCopyError
	if errors.As(err, &te) {
		return te
	}
	var pe *PermanentCopyError
	if errors.As(err, &pe) {
		return pe
	}
	transient := func(code, msg string) error {
		return &TransientCopyError{Copy: c, Code: code, Message: msg, Err: err}
	}
	permanent := func(code, msg string) error {
		return &PermanentCopyError{Copy: c, Code: code, Message: msg, Err: err}
	}
	var regionErr *regionError
	if errors.As(err, &regionErr) {
		return permanent("PermanentRedirect", regionErr.Error())
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
		if msg == "" {
			msg = defaultMessage(code, httpStatus(err))
		}
		switch status := httpStatus(err); {
		case transientCodes[code]:
			return transient(code, msg)
		case permanentCodes[code]:
			return permanent(code, msg)
		case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
			return transient(code, msg)
		default:
			return permanent(code, msg)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return transient("Timeout", err.Error())
	}
	if isConnectionError(err) {
		return transient("ConnectionError", err.Error())
	}
	return permanent("", err.Error())
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
