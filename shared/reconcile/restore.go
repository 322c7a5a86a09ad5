package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// ObjectStore is the part of the S3 client the sweep uses.
type ObjectStore interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	RestoreObject(ctx context.Context, in *s3.RestoreObjectInput, optFns ...func(*s3.Options)) (*s3.RestoreObjectOutput, error)
}

// RestoreState is what became of a file's restore, as S3 tells it.
type RestoreState string

// The restore states.
const (
	// StateWaiting: the restored copy is readable (x-amz-restore
	// ongoing-request="false" with an expiry date still ahead, or an
	// object that is not archived at all) and its copy never happened.
	StateWaiting RestoreState = "waiting"
	// StateRunning: the restore is still running (ongoing-request="true").
	StateRunning RestoreState = "running"
	// StateExpired: archived and not restored: the restore expired or was
	// never made.
	StateExpired RestoreState = "expired"
	// StateMissing: no object under the key in the bucket(s) asked.
	StateMissing RestoreState = "missing"
)

// Restore is one file's restore as a HeadObject found it.
type Restore struct {
	State  RestoreState
	Bucket string // where it was found ("" when missing)
	// StorageClass is the object's class (GLACIER, DEEP_ARCHIVE, ...;
	// empty for STANDARD).
	StorageClass string
	// ArchiveStatus is Intelligent-Tiering's archive tier (ARCHIVE_ACCESS,
	// DEEP_ARCHIVE_ACCESS), from x-amz-archive-status; empty otherwise.
	ArchiveStatus string
	// ExpiryDate is the restored copy's expiry when S3 says it; for
	// StateExpired it is when the restore expired, if S3 still says so.
	ExpiryDate time.Time
	Size       int64
	ETag       string
	VersionID  string
}

// The x-amz-restore header
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html#API_HeadObject_ResponseSyntax):
// `ongoing-request="true"` while the restore runs, `ongoing-request="false",
// expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"` once it completed. After the
// expiry S3 removes the header and the object is archived again.
var (
	ongoingRE = regexp.MustCompile(`ongoing-request="(true|false)"`)
	expiryRE  = regexp.MustCompile(`expiry-date="([^"]+)"`)
)

// ClassifyHead reads a HeadObject answer at time now.
func ClassifyHead(bucket string, head *s3.HeadObjectOutput, now time.Time) Restore {
	r := Restore{
		Bucket:        bucket,
		StorageClass:  string(head.StorageClass),
		ArchiveStatus: string(head.ArchiveStatus),
		Size:          aws.ToInt64(head.ContentLength),
		ETag:          trimQuotes(aws.ToString(head.ETag)),
		VersionID:     aws.ToString(head.VersionId),
	}
	header := aws.ToString(head.Restore)
	if m := expiryRE.FindStringSubmatch(header); m != nil {
		if t, err := http.ParseTime(m[1]); err == nil {
			r.ExpiryDate = t.UTC()
		}
	}
	switch m := ongoingRE.FindStringSubmatch(header); {
	case m != nil && m[1] == "true":
		r.State = StateRunning
	case m != nil && !r.ExpiryDate.IsZero() && !r.ExpiryDate.After(now):
		// S3 still answers with the header for a moment after the
		// expiry; the copy would fail.
		r.State = StateExpired
	case m != nil:
		r.State = StateWaiting
	case archived(head):
		r.State = StateExpired
	default:
		r.State = StateWaiting
	}
	return r
}

// archived reports whether an object without a restore header can only be
// read after a restore: GLACIER and DEEP_ARCHIVE (GLACIER_IR is read
// directly), or Intelligent-Tiering's archive tiers (x-amz-archive-status).
func archived(head *s3.HeadObjectOutput) bool {
	switch head.StorageClass {
	case s3types.StorageClassGlacier, s3types.StorageClassDeepArchive:
		return true
	}
	return head.ArchiveStatus != ""
}

// trimQuotes drops the quotes S3 puts around an ETag.
func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// notFound reports whether a HeadObject error means no such object (HEAD
// answers 404 with no body, so the SDK names it NotFound).
func notFound(err error) bool {
	var nf *s3types.NotFound
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey") {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound
}

// File is the restored file as an event names it.
func (r Restore) File(key string) contract.File {
	return contract.File{
		SourceBucket:      r.Bucket,
		SourceKey:         key,
		Size:              r.Size,
		VersionID:         r.VersionID,
		ETag:              r.ETag,
		RestoreExpiryTime: contract.FormatRestoreExpiry(r.ExpiryDate),
	}
}

// RestoreFinder asks S3 what became of files' restores at time Now.
type RestoreFinder struct {
	S3 ObjectStore
	// Buckets are asked, in order, for a file whose row names no restore
	// bucket.
	Buckets []string
	Now     time.Time
}

// Find asks S3 about key: in restoreBucket when the row names one, else in
// each of f.Buckets in turn (the first that has the object answers). An
// error other than "not found" is returned as it is: the row is left for
// the next sweep.
func (f RestoreFinder) Find(ctx context.Context, restoreBucket, key string) (Restore, error) {
	buckets := f.Buckets
	if restoreBucket != "" {
		buckets = []string{restoreBucket}
	}
	for _, b := range buckets {
		head, err := f.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if notFound(err) {
			continue
		}
		if err != nil {
			return Restore{}, fmt.Errorf("HeadObject s3://%s/%s: %w", b, key, err)
		}
		return ClassifyHead(b, head, f.Now), nil
	}
	return Restore{State: StateMissing}, nil
}
