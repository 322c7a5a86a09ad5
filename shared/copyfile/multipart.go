package copyfile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// partRange is one part of a multipart copy: bytes First..Last (inclusive)
// of the source.
type partRange struct {
	Number      int32
	First, Last int64
}

// planParts splits size bytes into parts of partSize (the last one smaller).
func planParts(size, partSize int64) []partRange {
	var parts []partRange
	for first, n := int64(0), int32(1); first < size; first, n = first+partSize, n+1 {
		parts = append(parts, partRange{Number: n, First: first, Last: min(first+partSize, size) - 1})
	}
	return parts
}

// multipartProgress is how far a multipart copy got.
type multipartProgress struct {
	uploadID   string
	partSize   int64
	partsTotal int
	// partsDone and bytesDone count the parts the upload holds after this
	// invocation (all of them once complete), newParts those this
	// invocation copied.
	partsDone int
	bytesDone int64
	newParts  int
	complete  bool
	// finishBy is when CompleteMultipartUpload's budget ends; the
	// integrity check runs under the same budget (see finishContext).
	finishBy time.Time
}

// finishReserve is the time a multipart copy keeps free before its copy
// deadline for CompleteMultipartUpload and the integrity check: a quarter
// of the mean part duration, at least one second, never more than the
// deadline margin.
func (a *ArchiveCopier) finishReserve(mean time.Duration) time.Duration {
	return min(max(time.Second, mean/4), a.margin())
}

// finishContext returns the context CompleteMultipartUpload and the
// integrity check run under: derived from ctx (the Lambda's), not from
// copyCtx, so it outlives the copy deadline; it ends at the copy
// deadline or, when that is less than reserve away (parts in flight ran
// long), reserve from now, but never later than half the deadline margin
// before the Lambda's deadline, so the cleanup after a failure still has at
// least half the margin minus one second.
func (a *ArchiveCopier) finishContext(ctx, copyCtx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	stop, ok := copyCtx.Deadline()
	lambda, hasLambda := ctx.Deadline()
	if !ok || !hasLambda {
		return context.WithCancel(copyCtx)
	}
	if later := a.clock().Add(reserve); later.After(stop) {
		stop = later
	}
	if limit := lambda.Add(-a.margin() / 2); stop.After(limit) {
		stop = limit
	}
	return context.WithDeadline(ctx, stop)
}

// copyMultipart copies src with CreateMultipartUpload, UploadPartCopy of its
// parts (Concurrency at a time) and CompleteMultipartUpload.
//
// With a resume token in req (UploadID and SourceETag of an upload an earlier
// invocation left unfinished) it lists that upload's parts and copies only
// the missing ones; if the upload is gone (NoSuchUpload) or the source's ETag
// is no longer the token's, it aborts the old upload (if it still exists) and
// starts a new one.
//
// When the copy cannot finish before copyCtx's deadline it stops starting
// parts, lets those in flight finish and, if resumable (the caller loops
// until complete), returns its progress with complete false, leaving the
// upload for the next invocation to resume. If it copied no part at all, or
// is not resumable, it fails instead (TransientCopyError DeadlineExceeded),
// so the workflow cannot loop without progress, and an old definition that
// records any success as complete never sees an unfinished copy.
//
// On failure an upload this invocation created is aborted (nobody else knows
// its id); an upload named in req is kept on a transient failure, which the
// workflow retries with the same token (see multipartFailed).
func (a *ArchiveCopier) copyMultipart(copyCtx, ctx context.Context, c Copy, src sourceObject, req resumeToken, resumable bool) (multipartProgress, error) {
	partSize := a.Config.partSize(src.size)
	parts := planParts(src.size, partSize)
	prog := multipartProgress{partSize: partSize, partsTotal: len(parts)}
	fullChecksum := a.Config.MultipartChecksum != ChecksumOff && src.hasChecksum && supportsFullObjectMultipart(src.checksum.alg)

	var have map[int32]types.CompletedPart
	resumed := false
	if req.uploadID != "" {
		var err error
		have, resumed, err = a.resumeUpload(copyCtx, ctx, c, src, req, partSize, parts, fullChecksum)
		if err != nil {
			return prog, a.multipartFailed(ctx, c, req.uploadID, !req.lastAttempt, err)
		}
	}
	if resumed {
		prog.uploadID = req.uploadID
	} else {
		id, err := a.createUpload(copyCtx, c, src, fullChecksum)
		if err != nil {
			return prog, err
		}
		prog.uploadID = id
	}

	todo := make([]partRange, 0, len(parts))
	for _, p := range parts {
		if _, ok := have[p.Number]; !ok {
			todo = append(todo, p)
		}
	}
	var haveBytes int64
	for n := range have {
		haveBytes += parts[n-1].Last - parts[n-1].First + 1
	}
	progress, stopProgress := a.logProgress(ctx, c, prog.uploadID, len(parts), src.size, len(have), haveBytes)
	copied, stopped, mean, err := a.copyParts(copyCtx, c, src, prog.uploadID, todo, fullChecksum, progress)
	stopProgress()
	prog.newParts = len(copied)
	all := make([]types.CompletedPart, 0, len(parts))
	for _, p := range have {
		all = append(all, p)
	}
	all = append(all, copied...)
	sort.Slice(all, func(i, j int) bool { return *all[i].PartNumber < *all[j].PartNumber })
	prog.partsDone = len(all)
	for _, p := range all {
		r := parts[*p.PartNumber-1]
		prog.bytesDone += r.Last - r.First + 1
	}
	if err != nil {
		return prog, a.multipartFailed(ctx, c, prog.uploadID, resumed && !req.lastAttempt, err)
	}
	if stopped {
		if !resumable {
			err := &TransientCopyError{Copy: c, Code: "DeadlineExceeded", Message: fmt.Sprintf(
				"the copy would not finish before the Lambda deadline minus the %s margin (%d of %d parts done) and the request is not resumable; stopped", a.margin(), prog.partsDone, prog.partsTotal)}
			return prog, a.multipartFailed(ctx, c, prog.uploadID, resumed && !req.lastAttempt, err)
		}
		if prog.newParts == 0 {
			err := &TransientCopyError{Copy: c, Code: "DeadlineExceeded", Message: fmt.Sprintf(
				"no part could be copied before the Lambda deadline minus the %s margin (%d of %d parts done); stopped", a.margin(), prog.partsDone, prog.partsTotal)}
			return prog, a.multipartFailed(ctx, c, prog.uploadID, resumed && !req.lastAttempt, err)
		}
		return prog, nil
	}

	complete := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(c.TargetBucket),
		Key:             aws.String(c.SourceKey),
		UploadId:        aws.String(prog.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: all},
		MpuObjectSize:   aws.Int64(src.size),
	}
	if fullChecksum {
		setExpectedChecksum(src.checksum, complete)
	}
	finishCtx, cancel := a.finishContext(ctx, copyCtx, a.finishReserve(mean))
	defer cancel()
	prog.finishBy, _ = finishCtx.Deadline()
	if _, err := a.S3.CompleteMultipartUpload(finishCtx, complete); err != nil {
		if resumable && finishCtx.Err() != nil && ctx.Err() == nil && prog.newParts > 0 {
			// Only time ran out, and this pass made progress: pause as if
			// stopped before Complete; the next pass lists the parts and
			// completes. Should S3 have completed the upload after all, the
			// next pass finds it gone (NoSuchUpload) and copies again.
			a.logger().WarnContext(ctx, "CompleteMultipartUpload did not finish before the copy deadline; pausing for the next pass",
				"target_bucket", c.TargetBucket, "key", c.SourceKey, "upload_id", prog.uploadID, "error", err.Error())
			return prog, nil
		}
		return prog, a.multipartFailed(ctx, c, prog.uploadID, resumed && !req.lastAttempt, err)
	}
	prog.complete = true
	return prog, nil
}

// resumeToken names an unfinished multipart upload to continue.
type resumeToken struct {
	uploadID, sourceETag string
	// sourceVersionID is the version id of the source the upload copies;
	// empty when the source has none or the caller did not say (a
	// definition from before it was carried), and then not compared.
	sourceVersionID string
	// partSize is the part size the upload was planned with; 0 when the
	// caller did not say (then the parts cannot be trusted).
	partSize int64
	// lastAttempt: the workflow will not retry a failure of this call, so
	// an upload is never kept for it.
	lastAttempt bool
}

// createUpload starts the multipart upload with the source's metadata,
// content headers, tags, the configured storage class, canned ACL and
// encryption (see encryption: the archive bucket's default unless
// ARCHIVE_KMS_KEY_ID is set).
func (a *ArchiveCopier) createUpload(ctx context.Context, c Copy, src sourceObject, fullChecksum bool) (string, error) {
	h := src.head
	create := &s3.CreateMultipartUploadInput{
		Bucket:             aws.String(c.TargetBucket),
		Key:                aws.String(c.SourceKey),
		Metadata:           h.Metadata,
		ContentType:        h.ContentType,
		CacheControl:       h.CacheControl,
		ContentDisposition: h.ContentDisposition,
		ContentEncoding:    h.ContentEncoding,
		ContentLanguage:    h.ContentLanguage,
		Expires:            h.Expires, //nolint:staticcheck // the parsed Expires header is what CreateMultipartUpload takes
		StorageClass:       a.Config.StorageClass,
	}
	create.ServerSideEncryption, create.SSEKMSKeyId = a.encryption()
	create.ACL = a.Config.ObjectACL
	if fullChecksum {
		create.ChecksumAlgorithm = src.checksum.alg
		create.ChecksumType = types.ChecksumTypeFullObject
	}
	tagging, err := a.sourceTagging(ctx, c, h)
	if err != nil {
		return "", err
	}
	create.Tagging = tagging
	mpu, err := a.S3.CreateMultipartUpload(ctx, create)
	if err != nil {
		return "", err
	}
	return aws.ToString(mpu.UploadId), nil
}

// resumeUpload lists the parts of the upload named by tok (all pages) and
// returns those that match the plan (same number, same size), with their
// ETags and, when the upload carries a full-object checksum, their
// checksums. ok is false when the upload cannot be resumed: it is gone
// (NoSuchUpload); the source's ETag differs from the token's (the source
// changed, so the parts copied so far are of another object); or the
// token's part size is not partSize, this pass's (the configuration
// changed: a part of the same number and size may then hold other bytes,
// e.g. the last part of the old plan), or the token has none (a caller
// from before the part size was carried); the old upload is then aborted
// if it still exists. Any other ListParts failure is returned.
func (a *ArchiveCopier) resumeUpload(copyCtx, ctx context.Context, c Copy, src sourceObject, tok resumeToken, partSize int64, plan []partRange, fullChecksum bool) (have map[int32]types.CompletedPart, ok bool, err error) {
	log := a.logger().With("source_bucket", c.SourceBucket, "source_key", c.SourceKey, "target_bucket", c.TargetBucket, "upload_id", tok.uploadID)
	if etag := aws.ToString(src.head.ETag); tok.sourceETag != etag {
		log.WarnContext(ctx, "the source changed since the multipart upload began; aborting it and starting over",
			"source_etag", etag, "upload_source_etag", tok.sourceETag)
		a.dropUpload(ctx, c, tok.uploadID)
		return nil, false, nil
	}
	if v := aws.ToString(src.head.VersionId); tok.sourceVersionID != "" && tok.sourceVersionID != v {
		log.WarnContext(ctx, "the source is another version than the one the multipart upload copies; aborting it and starting over",
			"source_version_id", v, "upload_source_version_id", tok.sourceVersionID)
		a.dropUpload(ctx, c, tok.uploadID)
		return nil, false, nil
	}
	if tok.partSize != partSize {
		log.WarnContext(ctx, "the multipart upload was planned with another part size (or the token does not say); aborting it and starting over",
			"part_size", partSize, "upload_part_size", tok.partSize)
		a.dropUpload(ctx, c, tok.uploadID)
		return nil, false, nil
	}
	have = map[int32]types.CompletedPart{}
	in := &s3.ListPartsInput{Bucket: aws.String(c.TargetBucket), Key: aws.String(c.SourceKey), UploadId: aws.String(tok.uploadID)}
	for {
		out, err := a.S3.ListParts(copyCtx, in)
		if err != nil {
			if isNoSuchUpload(err) {
				log.WarnContext(ctx, "the multipart upload to resume is gone; starting over")
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("ListParts of upload %s: %w", tok.uploadID, err)
		}
		for _, p := range out.Parts {
			n := aws.ToInt32(p.PartNumber)
			if n < 1 || int(n) > len(plan) || aws.ToInt64(p.Size) != plan[n-1].Last-plan[n-1].First+1 {
				continue // not a part of this plan: copied again
			}
			part := types.CompletedPart{PartNumber: aws.Int32(n), ETag: p.ETag}
			if fullChecksum {
				setPartChecksum(src.checksum.alg, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, &part)
			}
			have[n] = part
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextPartNumberMarker) == "" {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	log.InfoContext(ctx, "resuming multipart copy", "parts_done", len(have), "parts_total", len(plan))
	return have, true, nil
}

// multipartFailed ends a failed multipart copy: it aborts the upload when
// keepable is false (this invocation created it, or this is the workflow's
// last attempt: see contract.CopyRequest.LastAttempt), the failure is
// permanent, or the source changed under the copy (PreconditionFailed: the
// parts copied are of another object), and keeps it on another transient
// failure of a resumed upload, which the workflow's retry resumes with the
// same token. The error says which.
func (a *ArchiveCopier) multipartFailed(ctx context.Context, c Copy, uploadID string, keepable bool, err error) error {
	if keepable {
		if te, transient := Classify(c, err).(*TransientCopyError); transient && te.Code != "PreconditionFailed" {
			return &multipartError{err: err, uploadID: uploadID, kept: true}
		}
	}
	aerr := a.abort(ctx, c, uploadID)
	if aerr != nil {
		a.logger().ErrorContext(ctx, "abort multipart upload failed; parts may be left until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
			"target_bucket", c.TargetBucket, "key", c.SourceKey, "upload_id", uploadID, "error", aerr.Error())
	}
	return &multipartError{err: err, uploadID: uploadID, abortErr: aerr}
}

// multipartError is a failed multipart copy and the outcome of aborting its
// upload, so the error reported says whether the upload is gone.
type multipartError struct {
	err      error
	uploadID string
	abortErr error // nil: aborted, and ListParts confirmed it
	// kept: not aborted, so that a retry by the workflow resumes it.
	kept bool
}

func (e *multipartError) Error() string { return e.err.Error() + " (" + e.note() + ")" }
func (e *multipartError) Unwrap() error { return e.err }

func (e *multipartError) note() string {
	if e.kept {
		// The request did not say this is the last attempt, but it may
		// be (a definition or engine without $$.State.RetryCount), so
		// say what happens then too.
		return fmt.Sprintf("multipart upload %s kept for a retry to resume; if none follows, the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes it", e.uploadID)
	}
	if e.abortErr == nil {
		return fmt.Sprintf("multipart upload %s aborted", e.uploadID)
	}
	return fmt.Sprintf("abort failed for multipart upload %s: %v; its parts stay until the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
		e.uploadID, e.abortErr)
}

// withNote appends note to the message of err, a *TransientCopyError or
// *PermanentCopyError.
func withNote(err error, note string) error {
	add := func(msg string) string {
		if msg == "" {
			return note
		}
		return msg + "; " + note
	}
	switch e := err.(type) {
	case *TransientCopyError:
		e.Message = add(e.Message)
	case *PermanentCopyError:
		e.Message = add(e.Message)
	}
	return err
}

// sourceTagging returns the source's tags encoded for x-amz-tagging, or nil
// when it has none.
func (a *ArchiveCopier) sourceTagging(ctx context.Context, c Copy, h *s3.HeadObjectOutput) (*string, error) {
	if h.TagCount != nil && *h.TagCount == 0 {
		return nil, nil
	}
	out, err := a.S3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{
		Bucket: aws.String(c.SourceBucket), Key: aws.String(c.SourceKey), VersionId: h.VersionId,
	})
	if err != nil {
		return nil, err
	}
	if len(out.TagSet) == 0 {
		return nil, nil
	}
	tags := make([][2]string, 0, len(out.TagSet))
	for _, t := range out.TagSet {
		tags = append(tags, [2]string{aws.ToString(t.Key), aws.ToString(t.Value)})
	}
	return aws.String(encodeTagging(tags)), nil
}

// copyParts copies the parts, at most Concurrency at once (fewer for a while
// after S3 answers SlowDown: see window), and returns those copied, in part
// order. After the first failure it starts no more parts but
// lets those in flight finish (a part copy cancelled on our side may still
// complete on S3's side after an abort and leave a part behind), then
// returns the failure.
//
// It also stops starting parts (stopped true, no error) when ctx's deadline
// (the copy deadline) is too near for another part: a part is started only
// if, at the mean duration of the parts copied so far, it would end
// finishReserve before that deadline, which keeps time for
// CompleteMultipartUpload and the integrity check. Parts in flight are then
// waited for; only ctx's own end cancels them, and a part cancelled that
// way just counts as not copied. mean is the mean duration of the parts
// copied (0 if none).
func (a *ArchiveCopier) copyParts(ctx context.Context, c Copy, src sourceObject, uploadID string, parts []partRange, withChecksum bool, progress *copyProgress) (copied []types.CompletedPart, stopped bool, mean time.Duration, err error) {
	var (
		mu        sync.Mutex
		failure   error
		failed    = make(chan struct{})
		busy      time.Duration // sum of the copied parts' durations
		wg        sync.WaitGroup
		win       = newWindow(a.Config.Concurrency)
		source    = src.copySource(c)
		cutOff    bool // a part in flight was cancelled at the copy deadline
		deadline  time.Time
		hasLimit  bool
		startedAt = make(map[int32]time.Time)
	)
	deadline, hasLimit = ctx.Deadline()
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failure == nil {
			failure = err
			close(failed)
		}
	}
schedule:
	for _, p := range parts {
		epoch, ok := win.acquire(ctx, failed)
		if !ok {
			if ctx.Err() != nil {
				stopped = true
			}
			break schedule
		}
		mu.Lock()
		quit := failure != nil
		if !quit && hasLimit && len(copied) > 0 {
			mean := busy / time.Duration(len(copied))
			if !a.clock().Add(mean + a.finishReserve(mean)).Before(deadline) {
				stopped, quit = true, true
			}
		}
		startedAt[p.Number] = a.clock()
		mu.Unlock()
		if quit {
			win.release()
			break
		}
		wg.Add(1)
		go func(p partRange) {
			defer wg.Done()
			out, held, err := a.uploadPartCopy(ctx, c, win, epoch, failed, &s3.UploadPartCopyInput{
				Bucket:            aws.String(c.TargetBucket),
				Key:               aws.String(c.SourceKey),
				UploadId:          aws.String(uploadID),
				PartNumber:        aws.Int32(p.Number),
				CopySource:        aws.String(source),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", p.First, p.Last)),
				CopySourceIfMatch: src.head.ETag,
			})
			if held {
				defer win.release()
			}
			if err == nil && out == nil {
				return // another part failed while this one waited to be sent again
			}
			if err != nil {
				if ctx.Err() != nil {
					mu.Lock()
					cutOff = true
					mu.Unlock()
					return
				}
				fail(fmt.Errorf("part %d (bytes %d-%d): %w", p.Number, p.First, p.Last, err))
				return
			}
			part := types.CompletedPart{PartNumber: aws.Int32(p.Number)}
			if r := out.CopyPartResult; r != nil {
				part.ETag = r.ETag
				if withChecksum {
					setPartChecksum(src.checksum.alg, r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, &part)
				}
			}
			mu.Lock()
			copied = append(copied, part)
			busy += a.clock().Sub(startedAt[p.Number])
			mu.Unlock()
			progress.add(p.Last - p.First + 1)
		}(p)
	}
	wg.Wait()
	if len(copied) > 0 {
		mean = busy / time.Duration(len(copied))
	}
	if failure != nil {
		return copied, false, mean, failure
	}
	sort.Slice(copied, func(i, j int) bool { return *copied[i].PartNumber < *copied[j].PartNumber })
	return copied, stopped || cutOff, mean, nil
}

// abort aborts the multipart upload under cleanupContext (at least
// MinDeadlineMargin minus one second when the copy stopped at its deadline),
// then checks with ListParts that it is gone, trying up to three times.
//
// S3 may still finish a part copy that was in flight when the abort arrived,
// and AWS advises aborting again then; but once ListParts answers
// NoSuchUpload the upload can no longer be listed or completed, and a part
// finishing after that may still occupy storage for a while. Nor can a
// Lambda killed mid-copy abort anything. The archive buckets should
// therefore carry a lifecycle rule with AbortIncompleteMultipartUpload (for
// example after 1 day) as the backstop.
func (a *ArchiveCopier) abort(ctx context.Context, c Copy, uploadID string) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := a.abortOnce(ctx, c, uploadID)
		if err == nil || attempt == 3 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (then the cleanup time ran out: %v)", err, ctx.Err())
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// abortOnce sends AbortMultipartUpload and checks with ListParts that the
// upload is gone (NoSuchUpload).
func (a *ArchiveCopier) abortOnce(ctx context.Context, c Copy, uploadID string) error {
	_, err := a.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(c.TargetBucket), Key: aws.String(c.SourceKey), UploadId: aws.String(uploadID),
	})
	if err != nil && !isNoSuchUpload(err) {
		return fmt.Errorf("AbortMultipartUpload: %w", err)
	}
	_, err = a.S3.ListParts(ctx, &s3.ListPartsInput{
		Bucket: aws.String(c.TargetBucket), Key: aws.String(c.SourceKey), UploadId: aws.String(uploadID),
	})
	switch {
	case err != nil && isNoSuchUpload(err):
		return nil
	case err != nil:
		return fmt.Errorf("ListParts after the abort: %w", err)
	}
	return errors.New("the upload is still listed after the abort")
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	return httpStatus(err) == 404
}

// LogCopyProgress is the message of the line a multipart copy logs every
// Config.ProgressInterval.
const LogCopyProgress = "multipart copy progress"

// copyProgress counts the parts and bytes a multipart copy has copied in this
// invocation, for its progress lines.
type copyProgress struct {
	mu    sync.Mutex
	parts int
	bytes int64
}

func (p *copyProgress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.parts++
	p.bytes += n
	p.mu.Unlock()
}

func (p *copyProgress) read() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parts, p.bytes
}

// logProgress logs, every Config.ProgressInterval until the returned stop
// is called, how many of the copy's total parts and bytes are done (those
// an earlier pass copied, haveParts/haveBytes, included) and this pass's
// rate, so that a copy of many minutes is visibly alive in its log.
func (a *ArchiveCopier) logProgress(ctx context.Context, c Copy, uploadID string, totalParts int, totalBytes int64, haveParts int, haveBytes int64) (*copyProgress, func()) {
	every := a.Config.ProgressInterval
	if every <= 0 {
		every = DefaultProgressSecs * time.Second
	}
	prog := &copyProgress{}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := a.clock()
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				parts, bytes := prog.read()
				elapsed := a.clock().Sub(start)
				rate := 0.0
				if secs := elapsed.Seconds(); secs > 0 {
					rate = float64(bytes) / 1e6 / secs
				}
				doneBytes := haveBytes + bytes
				a.logger().InfoContext(ctx, LogCopyProgress,
					"source_bucket", c.SourceBucket, "source_key", c.SourceKey, "target_bucket", c.TargetBucket, "upload_id", uploadID,
					"parts_done", haveParts+parts, "parts_total", totalParts, "bytes_done", doneBytes, "bytes_total", totalBytes,
					"percent", float64(int(1000*float64(doneBytes)/float64(max(totalBytes, 1))))/10,
					"pass_seconds", int(elapsed.Seconds()), "pass_mb_per_s", float64(int(rate*10))/10)
			}
		}
	}()
	return prog, func() {
		select {
		case <-done:
		default:
			close(done)
			<-finished
		}
	}
}
