// Package copyfile is the copy-file function. It copies a restored object
// server-side to its archive bucket, same key. Up to MULTIPART_THRESHOLD_MB
// it sends one CopyObject, above it parallel UploadPartCopy (plan.go). A
// multipart copy pauses before the Lambda's deadline, or the end of the
// time budget the request gives, and resumes in the next invocation. The
// copy is pinned to the event's version and ETag, keeps metadata, content
// headers and tags, and is checked for size and checksum (a single
// CopyObject's copy by its ETag where that is the content's MD5). A small
// source whose event gives its size and MD5 ETag takes one request, the
// CopyObject, with no HeadObject of the source first. A request
// with CheckArchive (the Standard lane's) makes no CopyObject when the
// archive copy already holds the source's bytes (alreadyArchived). Each
// failure is a TransientCopyError or a PermanentCopyError, for the
// workflow to route on.
//
// Copy reads as its steps: copy a small source its event describes at
// once (copyFromEvent), else inspect the source, then copy it whole and
// verify it, or plan, transfer and complete its parts (multipart.go).
// copyRun.fail classifies and settles whatever fails. BENCHMARKS.md holds
// the measurements behind the defaults.
package copyfile

import (
	"context"
	"encoding/hex"
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
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/s3region"
)

// S3API is the part of the S3 client the copier uses. The copy-file Lambda
// gives it an s3region.Client, which reaches buckets in other regions.
type S3API = s3region.API

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
// A multipart copy that cannot finish before ctx's deadline (minus the
// margin), or within req.TimeBudgetSecs (see withinBudget), returns,
// without error, an outcome with Complete false and a resume token. Called
// again with that token in req, Copy continues the same upload. Every
// finished copy has Complete true. On failure the token's upload is kept
// for the workflow's retry only when the failure is transient and a retry
// follows (see copyRun.fail).
func (a *ArchiveCopier) Copy(ctx context.Context, req contract.CopyRequest) (contract.CopyOutcome, error) {
	start := a.clock()
	c := Copy{SourceBucket: req.SourceBucket, SourceKey: req.SourceKey, TargetBucket: req.TargetBucket}
	out := contract.CopyOutcome{TargetBucket: req.TargetBucket, TargetKey: req.SourceKey}
	if f := a.admit(c, req.TimeBudgetSecs); f != nil {
		return out, f.routed(c)
	}
	copyCtx, cancel, f := a.copyContext(ctx)
	if f != nil {
		return out, f.routed(c)
	}
	defer cancel()
	r := &copyRun{ArchiveCopier: a, c: c, req: req, ctx: ctx, copyCtx: copyCtx,
		margin: a.deadlineMargin(), limit: "the Lambda deadline",
		uploadID: req.UploadID, resumed: req.UploadID != ""}

	// 1. A small source the event describes is copied at once, with no
	// HeadObject first (copyFromEvent); any other, or one that copy could
	// not settle, is inspected first.
	if src, ok := r.eventSource(); ok {
		done, err := r.copyFromEvent(src, &out)
		if err != nil {
			return out, r.fail(err)
		}
		if done {
			out.Complete = true
			out.DurationMS = a.clock().Sub(start).Milliseconds()
			return out, nil
		}
	}
	src, err := r.inspect()
	if err != nil {
		return out, r.fail(err)
	}
	out.Bytes = src.size

	// 2. Copy it whole and verify it, or plan and transfer its parts;
	// CompleteMultipartUpload verifies those (see complete).
	if !a.Config.multipart(src.size) {
		if req.CheckArchive && req.UploadID == "" && r.alreadyArchived(src) {
			out.AlreadyArchived, out.Complete = true, true
			out.DurationMS = a.clock().Sub(start).Milliseconds()
			return out, nil
		}
		r.drop() // a token's upload is of no use to a whole-object copy
		copied, err := r.copySingle(src)
		if err != nil {
			return out, r.fail(err)
		}
		if !etagProvesCopy(src, copied) {
			if err := r.verify(src); err != nil {
				return out, r.fail(err)
			}
		}
	} else {
		out.Multipart = true
		endBudget := r.withinBudget(start)
		defer endBudget()
		prog, err := r.copyMultipart(src)
		out.Parts = prog.partsTotal
		out.PartSize, out.PartsTotal, out.PartsDone, out.BytesDone = prog.partSize, prog.partsTotal, prog.partsDone, prog.bytesDone
		if err != nil {
			return out, r.fail(err)
		}
		if !prog.complete {
			// Paused before the deadline (or the budget's end): the workflow calls again with the token.
			out.UploadID, out.SourceETag, out.SourceVersionID = prog.uploadID, aws.ToString(src.head.ETag), aws.ToString(src.head.VersionId)
			out.DurationMS = a.clock().Sub(start).Milliseconds()
			return out, nil
		}
	}
	out.Complete = true
	out.DurationMS = a.clock().Sub(start).Milliseconds()
	return out, nil
}

// copyRun is one invocation's copy: the request, its two contexts and the
// multipart upload it holds, if any.
type copyRun struct {
	*ArchiveCopier
	c   Copy
	req contract.CopyRequest
	// ctx is the Lambda's; copyCtx ends the margin before its deadline.
	// Cleanup and CompleteMultipartUpload's budget derive from ctx. Under a
	// time budget (withinBudget) ctx ends with the budget and copyCtx the
	// budget's margin before.
	ctx, copyCtx context.Context
	// margin is the time between copyCtx's deadline and ctx's; limit names
	// what ctx's deadline is, for messages.
	margin time.Duration
	limit  string
	// uploadID is the multipart upload the run holds ("" for none);
	// resumed says it is the token's, which a retry may resume.
	uploadID string
	resumed  bool
}

// multipart reports whether an object of size bytes is copied in parts.
func (c Config) multipart(size int64) bool {
	return size > c.MultipartThreshold && size > 0 || size > MaxCopyObjectSize
}

// admit checks the request's fields and the bucket allowlists.
func (a *ArchiveCopier) admit(c Copy, budgetSecs int) *failure {
	if budgetSecs < 0 {
		return permanent("InvalidInput", fmt.Sprintf("time_budget_secs is %d: want 0 (no budget) or more", budgetSecs), nil)
	}
	for _, f := range []struct{ name, value string }{
		{"source_bucket", c.SourceBucket},
		{"source_key", c.SourceKey},
		{"target_bucket", c.TargetBucket},
	} {
		if f.value == "" { // " " is a valid key: only empty is invalid
			return permanent("InvalidInput", f.name+" is empty", nil)
		}
	}
	if l := a.Config.SourceBuckets; len(l) > 0 && !slices.Contains(l, c.SourceBucket) {
		return permanent("BucketNotAllowed", fmt.Sprintf("source bucket %q is not in SOURCE_BUCKETS", c.SourceBucket), nil)
	}
	if l := a.Config.ArchiveBuckets; len(l) > 0 && !slices.Contains(l, c.TargetBucket) {
		return permanent("BucketNotAllowed", fmt.Sprintf("archive bucket %q is not in ARCHIVE_BUCKETS", c.TargetBucket), nil)
	}
	return nil
}

// copyContext is the context of the copy's S3 calls: it ends the deadline
// margin before ctx's deadline. The cleanup after it (cleanupContext) then
// has at least MinDeadlineMargin minus cleanupEndsBefore.
func (a *ArchiveCopier) copyContext(ctx context.Context) (context.Context, context.CancelFunc, *failure) {
	deadline, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	stop := deadline.Add(-a.deadlineMargin())
	if !a.clock().Before(stop) {
		return nil, nil, transient("DeadlineExceeded",
			fmt.Sprintf("no time left before the Lambda deadline (%s) minus the %s margin", deadline.UTC().Format(time.RFC3339), a.deadlineMargin()), nil)
	}
	ctx, cancel := context.WithDeadline(ctx, stop)
	return ctx, cancel, nil
}

// deadlineMargin is Config.DeadlineMargin, raised to MinDeadlineMargin.
func (a *ArchiveCopier) deadlineMargin() time.Duration {
	return max(a.Config.DeadlineMargin, MinDeadlineMargin)
}

// withinBudget bounds the rest of a multipart copy by the request's time
// budget, counted from start: it then returns within TimeBudgetSecs of its
// start. It returns the function that releases the budget's contexts.
//
// The budget ends ctx at start+budget, and copyCtx (the copy deadline: no
// part starts that would end after it, a part in flight at it is cut off,
// and the copy pauses as at the Lambda's deadline) the budget's margin
// before, min(DeadlineMargin, budget/3). DeadlineMargin (30 s by
// default) is sized for the Lambda's 900 s: the time to complete or abort
// an upload and return. Taken whole from the Express lane's 45 s it would
// leave 15 s of copying; a third of the budget still leaves
// CompleteMultipartUpload its reserve (finishReserve, at most the margin)
// and the cleanup of a failure, and the Express task waits 30 s more than
// the budget (statemachine.ExpressCopyTaskTimeoutSecs). A large budget
// keeps the Lambda's margin.
//
// A single CopyObject gets no budget: S3 cannot pause it, and cut off it
// would be lost work; it runs to the Lambda's deadline as without one. A
// budget that ends after the Lambda's deadline (minus its margin) changes
// nothing either.
func (r *copyRun) withinBudget(start time.Time) context.CancelFunc {
	if r.req.TimeBudgetSecs <= 0 {
		return func() {}
	}
	budget := time.Duration(r.req.TimeBudgetSecs) * time.Second
	margin := min(r.deadlineMargin(), budget/3)
	// The budget counts on the copier's clock; the contexts on the
	// runtime's.
	end := time.Now().Add(start.Add(budget).Sub(r.clock()))
	if stop, ok := r.copyCtx.Deadline(); ok && !end.Add(-margin).Before(stop) {
		return func() {}
	}
	ctx, cancelCtx := context.WithDeadline(r.ctx, end)
	copyCtx, cancelCopy := context.WithDeadline(r.copyCtx, end.Add(-margin))
	r.ctx, r.copyCtx, r.margin, r.limit = ctx, copyCtx, margin, fmt.Sprintf("the time budget of %d s", r.req.TimeBudgetSecs)
	return func() {
		cancelCopy()
		cancelCtx()
	}
}

// sourceObject is what HeadObject told about the source.
type sourceObject struct {
	head        *s3.HeadObjectOutput
	size        int64
	checksum    checksum
	hasChecksum bool
	// versionID is the version the request names; "" is the current one.
	versionID string
	// tags, when not nil, were read alongside HeadObject (see inspect).
	tags *tagging
}

// copySource is the CopySource of the object, of its version when the
// request names one.
func (s sourceObject) copySource(c Copy) string {
	return CopySourceVersion(c.SourceBucket, c.SourceKey, s.versionID)
}

// inspect reads the source with HeadObject, and its tags alongside when
// the event's size says a multipart copy will need them. It refuses a
// source that is missing, archived without a restored copy, or changed.
func (r *copyRun) inspect() (sourceObject, error) {
	var tags chan tagging
	if r.uploadID == "" && r.Config.multipart(r.req.Size) {
		tags = make(chan tagging, 1)
		go func() { tags <- r.getTagging(optional(r.req.VersionID)) }()
	}
	head, err := r.S3.HeadObject(r.copyCtx, &s3.HeadObjectInput{
		Bucket:       aws.String(r.c.SourceBucket),
		Key:          aws.String(r.c.SourceKey),
		VersionId:    optional(r.req.VersionID),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	src := sourceObject{head: head, versionID: r.req.VersionID}
	if tags != nil {
		t := <-tags
		src.tags = &t
	}
	if err != nil {
		return sourceObject{}, r.headError(err)
	}
	if reason, archived := notRestored(head); archived {
		return sourceObject{}, permanent("InvalidObjectState", reason, nil)
	}
	if etag := r.req.ETag; etag != "" && !sameETag(etag, aws.ToString(head.ETag)) {
		return sourceObject{}, permanent("SourceChanged", fmt.Sprintf(
			"the restored object changed since the restore event: the event names ETag %s, the object%s now has %s; not copied",
			etag, versionNote(r.req.VersionID), aws.ToString(head.ETag)), nil)
	}
	src.size = aws.ToInt64(head.ContentLength)
	src.checksum, src.hasChecksum = fullObjectChecksum(head)
	return src, nil
}

// eventSource is the source as the request's event describes it, when
// that is enough to copy it with one CopyObject and no HeadObject first: a
// new copy (no resume token, no CheckArchive) of a source whose size the
// event gives, below the multipart threshold, whose ETag the event gives as
// a single-part MD5, to an archive copy not under a configured KMS key
// (whose ETag could prove nothing, see etagProvesCopy).
//
// It is a sourceObject as inspect would read it for an unencrypted object
// with no checksum: CopySourceIfMatch pins the event's ETag, so the bytes
// copied are the ones the event's size and ETag describe. The source's
// encryption is not known; etagProvesCopy stays sound for all that: an
// SSE-KMS or SSE-C source's ETag is not the MD5 of its bytes (S3's
// API_Object.html, ETag), so it cannot equal the copy's, and the copy is
// then verified. No checksum algorithm is asked for: S3 gives the copy the
// source's algorithm when CopyObject names none ("If the CopyObject request
// does not include this x-amz-checksum-algorithm header, the checksum
// algorithm will be copied from the source object", API_CopyObject.html).
func (r *copyRun) eventSource() (sourceObject, bool) {
	req := r.req
	if req.UploadID != "" || req.CheckArchive || req.Size <= 0 || r.Config.multipart(req.Size) ||
		!md5ETag(req.ETag) || r.Config.KMSKeyID != "" {
		return sourceObject{}, false
	}
	etag, size := `"`+strings.Trim(req.ETag, `"`)+`"`, req.Size
	return sourceObject{
		head:      &s3.HeadObjectOutput{ETag: &etag, ContentLength: &size, VersionId: optional(req.VersionID)},
		size:      size,
		versionID: req.VersionID,
	}, true
}

// copyFromEvent copies src (eventSource's) with one CopyObject. It is done
// when the copy's ETag proves the bytes (etagProvesCopy), or when the
// source, read after all, verifies it (out.Bytes is then the size read).
//
// It is not done, with no error, when S3 refused the copy for a reason a
// retry of the same request would not fix: the event's ETag no longer
// matches (PreconditionFailed), or a permanent error (a missing key, a
// source not restored, a size the event understated). Copy then inspects
// the source, whose HeadObject names the cause as it does for any copy
// (SourceChanged, InvalidObjectState with the restore's state, NoSuchKey
// or NoSuchVersion), or copies it after all when the event was wrong: one
// request more on a path that fails anyway. A transient error (throttling,
// a 5xx, a timeout) is returned for the workflow's retry.
func (r *copyRun) copyFromEvent(src sourceObject, out *contract.CopyOutcome) (done bool, err error) {
	copied, err := r.copySingle(src)
	if err != nil {
		if f := classify(err); f.transient && f.code != "PreconditionFailed" {
			return false, err
		}
		return false, nil
	}
	out.Bytes = src.size
	if etagProvesCopy(src, copied) {
		return true, nil
	}
	read, err := r.inspect()
	var f *failure
	if errors.As(err, &f) && f.code == "SourceChanged" {
		// A server that ignores CopySourceIfMatch (moto 5.2.1 does; S3
		// refuses with 412) copied the object as it is now: its copy is
		// not the event's object and must not stay.
		f.msg = r.deleteCopy(f.msg, "the copy the server made although the ETag no longer matched")
		return false, f
	}
	if err != nil {
		return false, err
	}
	out.Bytes = read.size
	return true, r.verify(read)
}

// headError names a failed HeadObject of the source. A HEAD answer has no
// body, so a 404 has no code: HeadBucket tells a missing key (or version)
// from a missing bucket.
func (r *copyRun) headError(err error) error {
	switch httpStatus(err) {
	case 404:
		_, berr := r.S3.HeadBucket(r.copyCtx, &s3.HeadBucketInput{Bucket: aws.String(r.c.SourceBucket)})
		switch {
		case berr != nil && httpStatus(berr) == 404:
			return permanent("NoSuchBucket", "The specified bucket does not exist.", err)
		case r.req.VersionID != "":
			return permanent("NoSuchVersion", fmt.Sprintf(
				"version %s of the key, named by the restore event, does not exist (deleted since the restore?)", r.req.VersionID), err)
		}
		return permanent("NoSuchKey", "The specified key does not exist.", err)
	case 403:
		return permanent("AccessDenied", "Access Denied (HeadObject on the source)", err)
	}
	return err
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
	tier := string(h.StorageClass)
	if h.ArchiveStatus != "" {
		tier = string(h.ArchiveStatus)
	}
	restore := aws.ToString(h.Restore)
	switch {
	case strings.Contains(restore, `ongoing-request="false"`):
		return "", false
	case strings.Contains(restore, `ongoing-request="true"`):
		return fmt.Sprintf("the object is archived (%s) and its restore is still in progress", tier), true
	}
	return fmt.Sprintf("the object is archived (%s) and not restored, or its restored copy has expired", tier), true
}

// tagging is the source's tags encoded for x-amz-tagging (nil: none), or
// the failure reading them, and the version they were read from.
type tagging struct {
	header  *string
	version string
	err     error
}

// getTagging reads the source's tags (of version, when not nil).
func (r *copyRun) getTagging(version *string) tagging {
	out, err := r.S3.GetObjectTagging(r.copyCtx, &s3.GetObjectTaggingInput{
		Bucket: aws.String(r.c.SourceBucket), Key: aws.String(r.c.SourceKey), VersionId: version,
	})
	if err != nil {
		return tagging{err: err}
	}
	t := tagging{version: aws.ToString(out.VersionId)}
	if len(out.TagSet) > 0 {
		tags := make([][2]string, 0, len(out.TagSet))
		for _, tag := range out.TagSet {
			tags = append(tags, [2]string{aws.ToString(tag.Key), aws.ToString(tag.Value)})
		}
		t.header = aws.String(encodeTagging(tags))
	}
	return t
}

// checksum is an object's full-object checksum.
type checksum struct {
	alg   types.ChecksumAlgorithm
	value string
}

// fullObjectChecksum returns the object's full-object checksum, if it has
// one. A composite checksum (of a multipart upload's parts, "value-N") is
// not comparable across part layouts and is ignored.
func fullObjectChecksum(h *s3.HeadObjectOutput) (checksum, bool) {
	if h.ChecksumType == types.ChecksumTypeComposite {
		return checksum{}, false
	}
	for _, c := range []checksum{
		{types.ChecksumAlgorithmCrc64nvme, aws.ToString(h.ChecksumCRC64NVME)},
		{types.ChecksumAlgorithmCrc32c, aws.ToString(h.ChecksumCRC32C)},
		{types.ChecksumAlgorithmCrc32, aws.ToString(h.ChecksumCRC32)},
		{types.ChecksumAlgorithmSha256, aws.ToString(h.ChecksumSHA256)},
		{types.ChecksumAlgorithmSha1, aws.ToString(h.ChecksumSHA1)},
	} {
		if c.value != "" && !strings.Contains(c.value, "-") {
			return c, true
		}
	}
	return checksum{}, false
}

// copySingle copies with one CopyObject. S3 keeps metadata, content
// headers and tags itself; encryption, ACL and storage class are set here.
// It returns CopyObject's answer (see etagProvesCopy).
func (r *copyRun) copySingle(src sourceObject) (*s3.CopyObjectOutput, error) {
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(r.c.TargetBucket),
		Key:               aws.String(r.c.SourceKey),
		CopySource:        aws.String(src.copySource(r.c)),
		CopySourceIfMatch: src.head.ETag,
		MetadataDirective: types.MetadataDirectiveCopy,
		TaggingDirective:  types.TaggingDirectiveCopy,
		StorageClass:      r.Config.StorageClass,
		ACL:               r.Config.ObjectACL,
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = r.encryption()
	if src.hasChecksum {
		in.ChecksumAlgorithm = src.checksum.alg
	}
	return r.S3.CopyObject(r.copyCtx, in)
}

// encryption returns the archive copy's SSE settings: SSE-KMS under
// ARCHIVE_KMS_KEY_ID when configured, else none.
//
// The source's encryption is not repeated on purpose. An explicit
// x-amz-server-side-encryption header overrides the archive bucket's
// default, and since January 2023 nearly every source reports SSE-S3. That
// would defeat an archive bucket whose default is SSE-KMS. Without
// encryption headers, the copy gets the destination bucket's default
// encryption
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html);
// CreateMultipartUpload likewise
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html).
func (a *ArchiveCopier) encryption() (types.ServerSideEncryption, *string) {
	if a.Config.KMSKeyID != "" {
		return types.ServerSideEncryptionAwsKms, aws.String(a.Config.KMSKeyID)
	}
	return "", nil
}

// etagProvesCopy reports whether CopyObject's answer proves that the
// archive copy holds exactly the source's bytes, so that verify's
// HeadObject (a GET-class request and a round trip) is not needed: the
// copy's ETag equals the source's, and both are MD5 digests of the
// content.
//
// S3 documents when an ETag is the MD5 digest of the object's data
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, ETag):
// for an object created by PUT, POST or Copy and stored in plaintext or
// under SSE-S3 it is; under SSE-C or SSE-KMS it is not; for an object
// created by a multipart upload (or UploadPartCopy) it is not, whatever the
// encryption (its ETag has a "-N" suffix). CopyObjectResult's ETag is the
// ETag of the new object
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObjectResult.html;
// earlier editions of S3's API model added "The source and destination ETag
// is identical for a successfully copied non-multipart object"). So when
// the source's
// ETag (the one HeadObject read and CopySourceIfMatch pinned) is a
// single-part MD5, neither the source nor the copy is under SSE-KMS
// (DSSE-KMS included) or SSE-C, and the copy's ETag is the same digest, the
// copy's bytes are the source's: its size and any checksum are too.
// Anything else (no result ETag, another ETag, a multipart-style or
// non-hex ETag, an encryption other than none or AES256) leaves verify to
// decide, as does an S3-compatible server that answers its own kind of
// ETag.
//
// The copy's checksum is part of what verify checks: S3 computes it from
// the bytes, but a server may record a wrong one (moto 5.2.1 does for a
// CRC32C CopyObject asks for). CopyObjectResult carries it at no cost: one
// of the source's algorithm that differs from the source's also leaves
// verify to decide (and refuse the copy).
func etagProvesCopy(src sourceObject, out *s3.CopyObjectOutput) bool {
	if out == nil || out.CopyObjectResult == nil {
		return false
	}
	res := out.CopyObjectResult
	cp := archiveObject{etag: aws.ToString(res.ETag), sse: out.ServerSideEncryption, sseC: out.SSECustomerAlgorithm, size: -1}
	if src.hasChecksum {
		cp.checksum = resultChecksum(res, src.checksum.alg)
	}
	return md5ProvesBytes(src, cp)
}

// archiveObject is what an S3 answer tells about an archive copy: its
// ETag, encryption, size (-1: not told) and checksum of the source's
// algorithm ("" when not told).
type archiveObject struct {
	etag     string
	sse      types.ServerSideEncryption
	sseC     *string
	size     int64
	checksum string
}

// md5Comparable reports whether the copy's and the source's ETags are
// both MD5 digests of their bytes, so that equal ETags mean equal bytes
// (see etagProvesCopy).
func md5Comparable(src sourceObject, cp archiveObject) bool {
	return src.head != nil && md5ETag(cp.etag) && md5ETag(aws.ToString(src.head.ETag)) &&
		md5Encryption(src.head.ServerSideEncryption, src.head.SSECustomerAlgorithm) &&
		md5Encryption(cp.sse, cp.sseC)
}

// md5ProvesBytes reports whether the copy's ETag proves it holds src's
// bytes: both ETags are MD5 digests (md5Comparable) and equal, and what
// else the answer tells does not contradict it (a size, a checksum of the
// source's algorithm).
func md5ProvesBytes(src sourceObject, cp archiveObject) bool {
	if !md5Comparable(src, cp) || !sameETag(cp.etag, aws.ToString(src.head.ETag)) {
		return false
	}
	if cp.size >= 0 && cp.size != src.size {
		return false
	}
	return !src.hasChecksum || cp.checksum == "" || cp.checksum == src.checksum.value
}

// alreadyArchived reports whether the archive copy already holds src's
// bytes (CopyRequest.CheckArchive), with one HeadObject of it
// (headArchive, as verify's). The check never fails a copy: a missing
// archive copy, any other answer and any error (logged) say no, and the
// copy is made.
func (r *copyRun) alreadyArchived(src sourceObject) bool {
	dst, err := r.headArchive()
	if err != nil {
		if httpStatus(err) != 404 {
			r.logger().WarnContext(r.ctx, "archive copy could not be checked; copying the file",
				"source_bucket", r.c.SourceBucket, "source_key", r.c.SourceKey, "target_bucket", r.c.TargetBucket,
				"error", err.Error())
		}
		return false
	}
	return holdsSource(src, dst)
}

// headArchive reads the archive copy with HeadObject, checksum mode
// enabled so that its full-object checksum comes with it.
func (r *copyRun) headArchive() (*s3.HeadObjectOutput, error) {
	return r.S3.HeadObject(r.copyCtx, &s3.HeadObjectInput{
		Bucket:       aws.String(r.c.TargetBucket),
		Key:          aws.String(r.c.SourceKey),
		ChecksumMode: types.ChecksumModeEnabled,
	})
}

// holdsSource reports whether the archive object dst (its HeadObject)
// holds src's bytes. Where both ETags are MD5 digests (md5Comparable) they
// decide, with the sizes and any checksums of the same algorithm
// (md5ProvesBytes). Otherwise (SSE-KMS, whose ETags are not MD5s, or a
// multipart-style ETag) the sizes must be equal and both objects carry
// equal full-object checksums of the same algorithm.
func holdsSource(src sourceObject, dst *s3.HeadObjectOutput) bool {
	if src.head == nil || dst == nil || dst.ContentLength == nil {
		return false
	}
	cp := archiveObject{etag: aws.ToString(dst.ETag), sse: dst.ServerSideEncryption, sseC: dst.SSECustomerAlgorithm,
		size: aws.ToInt64(dst.ContentLength)}
	got, ok := fullObjectChecksum(dst)
	sameAlg := ok && src.hasChecksum && got.alg == src.checksum.alg
	if sameAlg {
		cp.checksum = got.value
	}
	if md5Comparable(src, cp) {
		return md5ProvesBytes(src, cp)
	}
	return cp.size == src.size && sameAlg && got.value == src.checksum.value
}

// resultChecksum is the checksum of algorithm alg that CopyObject answered
// ("" for none).
func resultChecksum(r *types.CopyObjectResult, alg types.ChecksumAlgorithm) string {
	return checksumOf(alg, r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA256, r.ChecksumSHA1)
}

// checksumOf picks, from an S3 answer's checksum fields, the one of
// algorithm alg ("" when absent or another algorithm).
func checksumOf(alg types.ChecksumAlgorithm, crc32, crc32c, crc64nvme, sha256, sha1 *string) string {
	switch alg {
	case types.ChecksumAlgorithmCrc64nvme:
		return aws.ToString(crc64nvme)
	case types.ChecksumAlgorithmCrc32c:
		return aws.ToString(crc32c)
	case types.ChecksumAlgorithmCrc32:
		return aws.ToString(crc32)
	case types.ChecksumAlgorithmSha256:
		return aws.ToString(sha256)
	case types.ChecksumAlgorithmSha1:
		return aws.ToString(sha1)
	}
	return ""
}

// md5ETag reports whether etag (quoted or bare) has the shape of an MD5
// digest: 32 hex digits, no multipart "-N" suffix.
func md5ETag(etag string) bool {
	s := strings.Trim(etag, `"`)
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// md5Encryption reports whether an object stored under sse (and the SSE-C
// algorithm sseC) keeps the MD5 digest of its data as its ETag: plaintext
// or SSE-S3 only.
func md5Encryption(sse types.ServerSideEncryption, sseC *string) bool {
	return aws.ToString(sseC) == "" && (sse == "" || sse == types.ServerSideEncryptionAes256)
}

// verify checks a CopyObject's archive copy with HeadObject: its size and,
// where comparable, its checksum. S3 documents no size check for
// CopyObject, so this request stays unless the copy's ETag proves the
// bytes (etagProvesCopy). A bad copy is deleted.
func (r *copyRun) verify(src sourceObject) error {
	dst, err := r.headArchive()
	if err != nil {
		return err
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
			r.logger().InfoContext(r.ctx, "archive copy has no checksum comparable with the source's; size checked only",
				"source_bucket", r.c.SourceBucket, "source_key", r.c.SourceKey, "target_bucket", r.c.TargetBucket,
				"checksum_algorithm", string(src.checksum.alg))
		}
	}
	if problem == "" {
		return nil
	}
	return r.badCopy(problem)
}

// badCopy deletes an archive copy that differs from its source, so a bad
// copy does not look good; the failure is permanent.
func (r *copyRun) badCopy(problem string) error {
	return permanent("IntegrityCheckFailed", r.deleteCopy(problem, "the bad copy"), nil)
}

// deleteCopy deletes the archive copy, named what in the problem it
// returns, which says whether that worked.
func (r *copyRun) deleteCopy(problem, what string) string {
	delCtx, cancel := cleanupContext(r.ctx)
	defer cancel()
	if _, derr := r.S3.DeleteObject(delCtx, &s3.DeleteObjectInput{Bucket: aws.String(r.c.TargetBucket), Key: aws.String(r.c.SourceKey)}); derr != nil {
		return problem + fmt.Sprintf(" (deleting %s failed too: %v)", what, derr)
	}
	return problem + fmt.Sprintf(" (%s was deleted)", what)
}

// What becomes of a failed copy is decided here, once.

// fail classifies err once and settles the upload the run holds (see
// settle). The error returned says what became of the upload.
func (r *copyRun) fail(err error) error {
	f := classify(err)
	if f.code != "DeadlineExceeded" && errors.Is(r.copyCtx.Err(), context.DeadlineExceeded) && r.ctx.Err() == nil {
		// Stopped at the copy deadline while the Lambda still runs.
		f = transient("DeadlineExceeded", fmt.Sprintf("the copy would not finish before %s minus the %s margin; stopped", r.limit, r.margin), err)
	}
	return f.routed(r.c, r.settle(f), r.aclHint(f))
}

// settle keeps the held upload for the workflow's retry when it is the
// token's, f is transient (not PreconditionFailed) and a retry follows;
// else it aborts it. It says which.
func (r *copyRun) settle(f *failure) string {
	id := r.uploadID
	if id == "" {
		return ""
	}
	r.uploadID = ""
	if r.resumed && !r.req.LastAttempt() && f.transient && f.code != "PreconditionFailed" {
		// Without a retry count the last attempt is not known: say what
		// happens then too.
		return fmt.Sprintf("multipart upload %s kept for a retry to resume; if none follows, the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes it", id)
	}
	if err := r.abort(id); err != nil {
		return fmt.Sprintf("abort failed for multipart upload %s: %v; its parts stay until the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes them", id, err)
	}
	return fmt.Sprintf("multipart upload %s aborted", id)
}

// drop aborts the held upload when it is no longer of use; a failure is
// logged only.
func (r *copyRun) drop() {
	if r.uploadID != "" {
		_ = r.abort(r.uploadID)
		r.uploadID, r.resumed = "", false
	}
}

// aclHint says what to do when a server without ACLs refused the canned
// ACL that CopyObject or CreateMultipartUpload sent.
func (r *copyRun) aclHint(f *failure) string {
	if f.transient || r.Config.ObjectACL == "" || (f.code != "AccessControlListNotSupported" && f.code != "NotImplemented") {
		return ""
	}
	var oe *smithy.OperationError
	if !errors.As(f.err, &oe) || (oe.OperationName != "CopyObject" && oe.OperationName != "CreateMultipartUpload") {
		return ""
	}
	return fmt.Sprintf("the request carried x-amz-acl: %s; for an S3-compatible server that refuses ACL headers set %s=%s",
		r.Config.ObjectACL, EnvObjectACL, ObjectACLNone)
}

// cleanupEndsBefore is how long before the Lambda's deadline the cleanup
// after a failure ends, leaving time to return the error.
const cleanupEndsBefore = time.Second

// cleanupContext is the context of the cleanup after a failure: not
// cancelled with ctx, it ends cleanupEndsBefore ctx's deadline (or after
// 30 s when ctx has none).
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, d.Add(-cleanupEndsBefore))
	}
	return context.WithTimeout(base, 30*time.Second)
}

// sameETag reports whether two ETags are equal, quoted or not (events carry
// them bare, HeadObject quoted).
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
