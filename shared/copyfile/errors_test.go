package copyfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/s3region"
)

func TestClassify(t *testing.T) {
	c := Copy{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"}
	sendErr := func(err error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "CopyObject", Err: &smithyhttp.RequestSendError{Err: err}}
	}
	tests := []struct {
		name      string
		err       error
		transient bool
		code      string
	}{
		{"SlowDown", apiError(503, "SlowDown", "Please reduce your request rate."), true, "SlowDown"},
		{"InternalError", apiError(500, "InternalError", "We encountered an internal error."), true, "InternalError"},
		{"ServiceUnavailable", apiError(503, "ServiceUnavailable", "x"), true, "ServiceUnavailable"},
		{"RequestTimeout", apiError(400, "RequestTimeout", "x"), true, "RequestTimeout"},
		{"throttling", apiError(400, "ThrottlingException", "x"), true, "ThrottlingException"},
		{"unknown 5xx", apiError(502, "BadGateway", "x"), true, "BadGateway"},
		{"unknown 429", apiError(429, "TooMany", "x"), true, "TooMany"},
		{"source changed", apiError(412, "PreconditionFailed", "x"), true, "PreconditionFailed"},
		{"after SDK retries", &retry.MaxAttemptsError{Attempt: 3, Err: apiError(503, "SlowDown", "x")}, true, "SlowDown"},
		{"connection reset", sendErr(syscall.ECONNRESET), true, "ConnectionError"},
		{"connection refused", sendErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true, "ConnectionError"},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, "ConnectionError"},
		{"net timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, true, "ConnectionError"},
		{"context deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), true, "Timeout"},
		{"NoSuchKey", apiError(404, "NoSuchKey", "The specified key does not exist."), false, "NoSuchKey"},
		{"NoSuchBucket", apiError(404, "NoSuchBucket", "x"), false, "NoSuchBucket"},
		{"AccessDenied", apiError(403, "AccessDenied", "Access Denied"), false, "AccessDenied"},
		{"501 NotImplemented is not worth retrying", apiError(501, "NotImplemented", "x"), false, "NotImplemented"},
		{"ACLs not supported", apiError(400, "AccessControlListNotSupported", "x"), false, "AccessControlListNotSupported"},
		{"InvalidObjectState", apiError(403, "InvalidObjectState", "The operation is not valid for the object's storage class"), false, "InvalidObjectState"},
		{"ObjectNotInActiveTierError", apiError(403, "ObjectNotInActiveTierError", "x"), false, "ObjectNotInActiveTierError"},
		{"unknown 4xx", apiError(400, "SomethingNew", "x"), false, "SomethingNew"},
		{"not an AWS error", errors.New("serialization failed"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(c, tc.err)
			var te *TransientCopyError
			var pe *PermanentCopyError
			switch {
			case errors.As(got, &te):
				if !tc.transient {
					t.Fatalf("Classify = transient %v, want permanent", got)
				}
				if te.Code != tc.code || te.Copy != c {
					t.Errorf("code = %q, copy = %+v; want %q", te.Code, te.Copy, tc.code)
				}
				if !errors.Is(got, tc.err) {
					t.Errorf("the cause is not kept: errors.Is(got, err) = false")
				}
			case errors.As(got, &pe):
				if tc.transient {
					t.Fatalf("Classify = permanent %v, want transient", got)
				}
				if pe.Code != tc.code || pe.Copy != c {
					t.Errorf("code = %q, copy = %+v; want %q", pe.Code, pe.Copy, tc.code)
				}
			default:
				t.Fatalf("Classify = %T, want one of the two copy errors", got)
			}
		})
	}
	if Classify(c, nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

func TestCopyErrorMessages(t *testing.T) {
	c := Copy{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"}
	got := Classify(c, apiError(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")).Error()
	want := "copy s3://restore/k to s3://archive/k: NoSuchKey: The specified key does not exist."
	if got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	te := &TransientCopyError{Copy: c, Code: "SlowDown"}
	if got, want := te.Error(), "copy s3://restore/k to s3://archive/k: SlowDown"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// redirectingS3 answers every call as S3 does for a bucket in another
// region it cannot name: 301 without x-amz-bucket-region.
type redirectingS3 struct{ S3API }

func (redirectingS3) redirect() error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "CopyObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusMovedPermanently, Header: http.Header{}}},
		Err:      &smithy.GenericAPIError{Code: "PermanentRedirect", Message: "The bucket you are attempting to access must be addressed using the specified endpoint."},
	}}
}

func (f redirectingS3) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return nil, f.redirect()
}

// A call s3region could not route is a PermanentCopyError PermanentRedirect
// that names the problem.
func TestClassifyMisdirected(t *testing.T) {
	r := s3region.NewWith(redirectingS3{}, "us-east-1", func(string) S3API { return redirectingS3{} })
	_, err := r.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String("lost"), Key: aws.String("k"), CopySource: aws.String("home/k")})
	pe, ok := Classify(Copy{SourceBucket: "home", SourceKey: "k", TargetBucket: "lost"}, err).(*PermanentCopyError)
	if !ok || pe.Code != "PermanentRedirect" || !strings.Contains(pe.Message, "bucket lost is not in region us-east-1") {
		t.Errorf("Classify = %v, want PermanentCopyError PermanentRedirect naming the bucket and region", pe)
	}
}
