// Package copyfile is the copy-file function: it copies a restored object server-side from its restore
// bucket to its archive bucket under the same key: one CopyObject up to a
// threshold, a parallel multipart UploadPartCopy above it, which pauses
// before the Lambda's deadline and resumes in the next invocation when the
// object is too large for one. It copies the version the event names (and
// refuses a source whose ETag changed since), carries the object's
// metadata, content headers and tags, leaves encryption to the archive
// bucket's default unless a key is configured, gives the archive bucket's
// owner full control, and reaches a bucket in another region through a
// client of that region (RegionalS3). The copy's size and full-object
// checksum are verified, and every failure is classified as a
// TransientCopyError or a PermanentCopyError for the workflow to route on.
package copyfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// S3API is the part of the S3 client the copier uses.
type S3API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// ArchiveCopier copies restored objects to their archive bucket.
type ArchiveCopier struct {
	S3     S3API
	Config Config
	// Logger receives warnings (e.g. a checksum that could not be
	// compared); nil means slog.Default().
	Logger *slog.Logger
	// now is time.Now; tests replace it.
	now func() time.Time
}

// NewArchiveCopier returns a copier using client and cfg.
func NewArchiveCopier(client S3API, cfg Config) *ArchiveCopier {
	return &ArchiveCopier{S3: client, Config: cfg}
}

// Copy copies req's source object to req.TargetBucket under the same key.
// Its error is always a *TransientCopyError or a *PermanentCopyError.
//
// When req.Resumable is set, a multipart copy that cannot finish before
// ctx's deadline (minus the margin) returns, without error, an outcome with
// Complete false and the resume token (UploadID, SourceETag); called again
// with that token in req, Copy continues the same upload. Without it such a
// copy fails with TransientCopyError DeadlineExceeded and aborts its upload.
// Every finished copy has Complete true.
// A permanent failure of a call with a token aborts the token's upload,
// whichever step fails; a transient one keeps it for the retry.
func (a *ArchiveCopier) Copy(ctx context.Context, req contract.CopyRequest) (contract.CopyOutcome, error) {
	start := a.clock()
	c := Copy{SourceBucket: req.SourceBucket, SourceKey: req.SourceKey, TargetBucket: req.TargetBucket}
	out := contract.CopyOutcome{TargetBucket: req.TargetBucket, TargetKey: req.SourceKey}
	if err := a.admit(c); err != nil {
		return out, err
	}

	copyCtx, cancel, err := a.copyContext(ctx, c)
	if err != nil {
		return out, err
	}
	defer cancel()

	head, err := a.S3.HeadObject(copyCtx, &s3.HeadObjectInput{
		Bucket:       aws.String(c.SourceBucket),
		Key:          aws.String(c.SourceKey),
		VersionId:    optional(req.VersionID),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return out, a.dropResumedOnPermanent(ctx, c, req.UploadID, req.LastAttempt(), a.sourceHeadError(copyCtx, ctx, c, req.VersionID, err))
	}
	if reason, archived := notRestored(head); archived {
		return out, a.dropResumedOnPermanent(ctx, c, req.UploadID, req.LastAttempt(),
			&PermanentCopyError{Copy: c, Code: "InvalidObjectState", Message: reason})
	}
	if req.ETag != "" && !sameETag(req.ETag, aws.ToString(head.ETag)) {
		return out, a.dropResumedOnPermanent(ctx, c, req.UploadID, req.LastAttempt(), &PermanentCopyError{Copy: c, Code: "SourceChanged",
			Message: fmt.Sprintf("the restored object changed since the restore event: the event names ETag %s, the object%s now has %s; not copied",
				req.ETag, versionNote(req.VersionID), aws.ToString(head.ETag))})
	}
	src := sourceObject{head: head, size: aws.ToInt64(head.ContentLength), versionID: req.VersionID}
	src.checksum, src.hasChecksum = fullObjectChecksum(head)
	out.Bytes = src.size

	verifyCtx := copyCtx
	if src.size > a.Config.MultipartThreshold && src.size > 0 || src.size > MaxCopyObjectSize {
		out.Multipart = true
		tok := resumeToken{uploadID: req.UploadID, sourceETag: req.SourceETag, sourceVersionID: req.SourceVersionID, partSize: req.PartSize, lastAttempt: req.LastAttempt()}
		prog, err := a.copyMultipart(copyCtx, ctx, c, src, tok, req.Resumable)
		out.Parts = prog.partsTotal
		out.PartSize, out.PartsTotal, out.PartsDone, out.BytesDone = prog.partSize, prog.partsTotal, prog.partsDone, prog.bytesDone
		if err != nil {
			return out, a.aclHint(a.classify(copyCtx, ctx, c, err))
		}
		if !prog.complete {
			// Not finished before the deadline: hand back the resume token;
			// the workflow invokes the copy again with it.
			out.UploadID, out.SourceETag, out.SourceVersionID = prog.uploadID, aws.ToString(head.ETag), aws.ToString(head.VersionId)
			out.DurationMS = a.clock().Sub(start).Milliseconds()
			return out, nil
		}
		if !prog.finishBy.IsZero() {
			// The integrity check shares CompleteMultipartUpload's budget.
			var cancelVerify context.CancelFunc
			verifyCtx, cancelVerify = context.WithDeadline(ctx, prog.finishBy)
			defer cancelVerify()
		}
	} else {
		if req.UploadID != "" {
			// A resume token for an object now copied whole (the source
			// changed, or the threshold did): its upload is of no use.
			a.dropUpload(ctx, c, req.UploadID)
		}
		if err := a.copySingle(copyCtx, c, src); err != nil {
			return out, a.aclHint(a.classify(copyCtx, ctx, c, err))
		}
	}
	if err := a.verify(verifyCtx, ctx, c, src); err != nil {
		return out, err
	}
	out.Complete = true
	out.DurationMS = a.clock().Sub(start).Milliseconds()
	return out, nil
}

// dropUpload aborts a multipart upload no longer needed, logging a failure
// (the archive bucket's lifecycle rule is then the backstop).
func (a *ArchiveCopier) dropUpload(ctx context.Context, c Copy, uploadID string) {
	if err := a.abort(ctx, c, uploadID); err != nil {
		a.logger().ErrorContext(ctx, "abort multipart upload failed; parts may be left until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
			"target_bucket", c.TargetBucket, "key", c.SourceKey, "upload_id", uploadID, "error", err.Error())
	}
}

// dropResumedOnPermanent handles a failure before the multipart step of a
// call that carries a resume token: a permanent error ends the copy (the
// workflow records it and does not retry), so the upload named by the token
// would otherwise be left until the archive bucket's lifecycle rule removes
// it. It is aborted, and err's message says so. A transient error keeps the
// upload for the retry, which resumes it with the same token, unless this
// is the last attempt (no retry follows): then it is aborted too.
func (a *ArchiveCopier) dropResumedOnPermanent(ctx context.Context, c Copy, uploadID string, lastAttempt bool, err error) error {
	if uploadID == "" {
		return err
	}
	if _, permanent := err.(*PermanentCopyError); !permanent && !lastAttempt {
		return err
	}
	aerr := a.abort(ctx, c, uploadID)
	if aerr != nil {
		a.logger().ErrorContext(ctx, "abort multipart upload failed; parts may be left until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
			"target_bucket", c.TargetBucket, "key", c.SourceKey, "upload_id", uploadID, "error", aerr.Error())
	}
	return withNote(err, (&multipartError{uploadID: uploadID, abortErr: aerr}).note())
}

// admit checks the request's fields and the bucket allowlists before any S3
// call.
func (a *ArchiveCopier) admit(c Copy) error {
	for _, f := range []struct{ name, value string }{
		{"source_bucket", c.SourceBucket},
		{"source_key", c.SourceKey},
		{"target_bucket", c.TargetBucket},
	} {
		if f.value == "" { // " " is a valid key: only empty is invalid
			return &PermanentCopyError{Copy: c, Code: "InvalidInput", Message: f.name + " is empty"}
		}
	}
	if l := a.Config.SourceBuckets; len(l) > 0 && !slices.Contains(l, c.SourceBucket) {
		return &PermanentCopyError{Copy: c, Code: "BucketNotAllowed",
			Message: fmt.Sprintf("source bucket %q is not in SOURCE_BUCKETS", c.SourceBucket)}
	}
	if l := a.Config.ArchiveBuckets; len(l) > 0 && !slices.Contains(l, c.TargetBucket) {
		return &PermanentCopyError{Copy: c, Code: "BucketNotAllowed",
			Message: fmt.Sprintf("archive bucket %q is not in ARCHIVE_BUCKETS", c.TargetBucket)}
	}
	return nil
}

// copyContext returns the context the copy's S3 calls run under: it ends the
// deadline margin before ctx's deadline, so a copy that runs long is stopped
// while the Lambda still runs, and the cleanup (cleanupContext, which may run
// until one second before the deadline) has at least MinDeadlineMargin minus
// one second to abort a multipart upload (half of it after a
// CompleteMultipartUpload that used its own budget, see finishContext).
func (a *ArchiveCopier) copyContext(ctx context.Context, c Copy) (context.Context, context.CancelFunc, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	stop := deadline.Add(-a.margin())
	if !a.clock().Before(stop) {
		return nil, nil, &TransientCopyError{Copy: c, Code: "DeadlineExceeded",
			Message: fmt.Sprintf("no time left before the Lambda deadline (%s) minus the %s margin", deadline.UTC().Format(time.RFC3339), a.margin())}
	}
	ctx, cancel := context.WithDeadline(ctx, stop)
	return ctx, cancel, nil
}

// margin is Config.DeadlineMargin, raised to MinDeadlineMargin.
func (a *ArchiveCopier) margin() time.Duration {
	return max(a.Config.DeadlineMargin, MinDeadlineMargin)
}

// classify turns err into one of the two copy errors, naming a stop at the
// copy deadline DeadlineExceeded (the Lambda itself still has time). When
// err comes from a multipart copy, the message says whether its upload was
// aborted or the abort failed.
func (a *ArchiveCopier) classify(copyCtx, ctx context.Context, c Copy, err error) error {
	var mp *multipartError
	if errors.As(err, &mp) {
		return withNote(a.classify(copyCtx, ctx, c, mp.err), mp.note())
	}
	if copyCtx.Err() != nil && ctx.Err() == nil && errors.Is(copyCtx.Err(), context.DeadlineExceeded) {
		var te *TransientCopyError
		if errors.As(err, &te) && te.Code == "DeadlineExceeded" {
			return te
		}
		return &TransientCopyError{Copy: c, Code: "DeadlineExceeded", Err: err,
			Message: fmt.Sprintf("the copy would not finish before the Lambda deadline minus the %s margin; stopped", a.margin())}
	}
	return Classify(c, err)
}

// sourceHeadError names a failed HeadObject of the source (of version
// versionID, when set). A HEAD answer has no body, so S3's 404 comes
// without a code; HeadBucket tells a missing key (NoSuchKey), or version
// (NoSuchVersion), from a missing bucket (NoSuchBucket).
func (a *ArchiveCopier) sourceHeadError(copyCtx, ctx context.Context, c Copy, versionID string, err error) error {
	switch httpStatus(err) {
	case 404:
		_, berr := a.S3.HeadBucket(copyCtx, &s3.HeadBucketInput{Bucket: aws.String(c.SourceBucket)})
		if berr != nil && httpStatus(berr) == 404 {
			return &PermanentCopyError{Copy: c, Code: "NoSuchBucket", Message: "The specified bucket does not exist.", Err: err}
		}
		if versionID != "" {
			return &PermanentCopyError{Copy: c, Code: "NoSuchVersion", Err: err,
				Message: fmt.Sprintf("version %s of the key, named by the restore event, does not exist (deleted since the restore?)", versionID)}
		}
		return &PermanentCopyError{Copy: c, Code: "NoSuchKey", Message: "The specified key does not exist.", Err: err}
	case 403:
		return &PermanentCopyError{Copy: c, Code: "AccessDenied", Message: "Access Denied (HeadObject on the source)", Err: err}
	}
	return a.classify(copyCtx, ctx, c, err)
}

// notRestored reports whether the source is in an archive tier without a
// restored copy to read, which S3 would refuse with InvalidObjectState.
func notRestored(h *s3.HeadObjectOutput) (string, bool) {
	archived := h.StorageClass == types.StorageClassGlacier ||
		h.StorageClass == types.StorageClassDeepArchive ||
		h.ArchiveStatus != ""
	if !archived {
		return "", false
	}
	restore := aws.ToString(h.Restore)
	switch {
	case strings.Contains(restore, `ongoing-request="false"`):
		return "", false
	case strings.Contains(restore, `ongoing-request="true"`):
		return fmt.Sprintf("the object is archived (%s) and its restore is still in progress", archiveTier(h)), true
	}
	return fmt.Sprintf("the object is archived (%s) and not restored, or its restored copy has expired", archiveTier(h)), true
}

func archiveTier(h *s3.HeadObjectOutput) string {
	if h.ArchiveStatus != "" {
		return string(h.ArchiveStatus)
	}
	return string(h.StorageClass)
}

// sourceObject is what HeadObject told about the source.
type sourceObject struct {
	head        *s3.HeadObjectOutput
	size        int64
	checksum    checksum
	hasChecksum bool
	// versionID is the version the request names (the event's); empty
	// copies the current version.
	versionID string
}

// copySource is the CopySource of the object, of its version when the
// request names one.
func (s sourceObject) copySource(c Copy) string {
	return CopySourceVersion(c.SourceBucket, c.SourceKey, s.versionID)
}

// sameETag reports whether two ETags are the same, with or without their
// quotes (S3 events carry them bare, HeadObject quoted).
func sameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

// versionNote names a version in a message, or says nothing.
func versionNote(versionID string) string {
	if versionID == "" {
		return ""
	}
	return " (version " + versionID + ")"
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// copySingle copies with one CopyObject. S3 keeps metadata, content headers
// and tags by itself (directive COPY); encryption (see encryption), the
// canned ACL (see Config.ObjectACL) and storage class are set here.
func (a *ArchiveCopier) copySingle(ctx context.Context, c Copy, src sourceObject) error {
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(c.TargetBucket),
		Key:               aws.String(c.SourceKey),
		CopySource:        aws.String(src.copySource(c)),
		CopySourceIfMatch: src.head.ETag,
		MetadataDirective: types.MetadataDirectiveCopy,
		TaggingDirective:  types.TaggingDirectiveCopy,
		StorageClass:      a.Config.StorageClass,
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = a.encryption()
	in.ACL = a.Config.ObjectACL
	if src.hasChecksum {
		in.ChecksumAlgorithm = src.checksum.alg
	}
	_, err := a.S3.CopyObject(ctx, in)
	return err
}

// aclHint adds to err, a classified copy error, what to do when the server
// refused the canned ACL the copy sent (an S3-compatible server without
// ACLs answers AccessControlListNotSupported or NotImplemented to
// CopyObject or CreateMultipartUpload).
func (a *ArchiveCopier) aclHint(err error) error {
	pe, ok := err.(*PermanentCopyError)
	if !ok || a.Config.ObjectACL == "" || (pe.Code != "AccessControlListNotSupported" && pe.Code != "NotImplemented") {
		return err
	}
	var oe *smithy.OperationError
	if !errors.As(err, &oe) || (oe.OperationName != "CopyObject" && oe.OperationName != "CreateMultipartUpload") {
		return err
	}
	return withNote(err, fmt.Sprintf("the request carried x-amz-acl: %s; for an S3-compatible server that refuses ACL headers set %s=%s",
		a.Config.ObjectACL, EnvObjectACL, ObjectACLNone))
}

// encryption returns the archive copy's SSE settings: SSE-KMS under
// ARCHIVE_KMS_KEY_ID when configured, else none at all. The source's
// encryption is deliberately not repeated: an explicit
// x-amz-server-side-encryption header overrides the archive bucket's default
// encryption, and since January 2023 nearly every source reports SSE-S3
// (AES256), which would defeat an archive bucket whose default is SSE-KMS
// (and turn every copy into AccessDenied where its bucket policy requires
// aws:kms). AWS: "When copying an object, if you don't specify encryption
// information in your copy request, the encryption setting of the target
// object is set to the default encryption configuration of the destination
// bucket" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html);
// a multipart upload likewise takes the bucket default when
// CreateMultipartUpload names none
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html).
func (a *ArchiveCopier) encryption() (types.ServerSideEncryption, *string) {
	if a.Config.KMSKeyID != "" {
		return types.ServerSideEncryptionAwsKms, aws.String(a.Config.KMSKeyID)
	}
	return "", nil
}

// verify checks the destination against the source: same size and, where
// the source has a full-object checksum, the same checksum. A mismatch
// deletes the destination object and is permanent.
func (a *ArchiveCopier) verify(copyCtx, ctx context.Context, c Copy, src sourceObject) error {
	dst, err := a.S3.HeadObject(copyCtx, &s3.HeadObjectInput{
		Bucket:       aws.String(c.TargetBucket),
		Key:          aws.String(c.SourceKey),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return a.classify(copyCtx, ctx, c, err)
	}
	var problem string
	if got := aws.ToInt64(dst.ContentLength); got != src.size {
		problem = fmt.Sprintf("the archive copy has %d bytes, the source %d", got, src.size)
	} else if src.hasChecksum {
		got, ok := fullObjectChecksum(dst)
		switch {
		case ok && got.alg == src.checksum.alg && got.value != src.checksum.value:
			problem = fmt.Sprintf("the archive copy's %s checksum is %s, the source's %s", got.alg, got.value, src.checksum.value)
		case !ok || got.alg != src.checksum.alg:
			a.logger().InfoContext(ctx, "archive copy has no checksum comparable with the source's; size checked only",
				"source_bucket", c.SourceBucket, "source_key", c.SourceKey, "target_bucket", c.TargetBucket,
				"checksum_algorithm", string(src.checksum.alg))
		}
	}
	if problem == "" {
		return nil
	}
	// Do not leave a bad copy looking good.
	delCtx, cancel := cleanupContext(ctx)
	defer cancel()
	if _, derr := a.S3.DeleteObject(delCtx, &s3.DeleteObjectInput{Bucket: aws.String(c.TargetBucket), Key: aws.String(c.SourceKey)}); derr != nil {
		problem += fmt.Sprintf(" (deleting the bad copy failed too: %v)", derr)
	} else {
		problem += " (the bad copy was deleted)"
	}
	return &PermanentCopyError{Copy: c, Code: "IntegrityCheckFailed", Message: problem}
}

// cleanupEndsBefore is how long before ctx's deadline (the Lambda's) the
// cleanup after a failure must end, leaving time to return the error.
const cleanupEndsBefore = time.Second

// cleanupContext returns a context for cleaning up after a failure: not
// cancelled with ctx, but ending cleanupEndsBefore ctx's deadline (the
// Lambda's), or after 30 seconds when ctx has none. The copy itself stopped
// at least the margin before that deadline, so the cleanup has at least
// MinDeadlineMargin - cleanupEndsBefore; after a CompleteMultipartUpload
// or integrity check that used its own budget (finishContext, which ends
// half the margin before that deadline) at least half of it, minus
// cleanupEndsBefore.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, d.Add(-cleanupEndsBefore))
	}
	return context.WithTimeout(base, 30*time.Second)
}

func (a *ArchiveCopier) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func (a *ArchiveCopier) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
