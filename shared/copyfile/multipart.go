package copyfile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// partRange is one part of a multipart copy: bytes First..Last (inclusive)
// of the source.
type partRange struct {
	Number      int32
	First, Last int64
}

func (p partRange) size() int64 { return p.Last - p.First + 1 }

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
	// invocation; newParts those this invocation copied.
	partsDone int
	bytesDone int64
	newParts  int
	complete  bool
}

// copyMultipart plans the parts, starts or resumes the upload, copies the
// missing parts and completes it. Short of time it pauses (complete false)
// if this pass copied a part, else fails DeadlineExceeded: no empty loops.
func (r *copyRun) copyMultipart(src sourceObject) (multipartProgress, error) {
	partSize := r.Config.partSize(src.size)
	parts := planParts(src.size, partSize)
	prog := multipartProgress{partSize: partSize, partsTotal: len(parts)}
	fullChecksum := r.fullChecksum(src)

	have, err := r.resumeUpload(src, partSize, parts, fullChecksum)
	if err != nil {
		return prog, err
	}
	if r.uploadID == "" {
		if r.uploadID, err = r.createUpload(src, fullChecksum); err != nil {
			return prog, err
		}
	}
	prog.uploadID = r.uploadID

	todo := make([]partRange, 0, len(parts))
	var done partCount
	for _, p := range parts {
		if _, ok := have[p.Number]; ok {
			done.parts++
			done.bytes += p.size()
		} else {
			todo = append(todo, p)
		}
	}
	progress, stopProgress := r.logProgress(partCount{len(parts), src.size}, done)
	copied, stopped, mean, err := r.copyParts(src, todo, fullChecksum, progress)
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
		prog.bytesDone += parts[*p.PartNumber-1].size()
	}
	switch {
	case err != nil:
		return prog, err
	case stopped && prog.newParts == 0:
		return prog, transient("DeadlineExceeded", fmt.Sprintf(
			"no part could be copied before %s minus the %s margin (%d of %d parts done); stopped", r.limit, r.margin, prog.partsDone, prog.partsTotal), nil)
	case stopped:
		return prog, nil
	}
	return prog, r.complete(src, all, mean, &prog)
}

// fullChecksum reports whether the upload carries the source's full-object
// checksum (a CRC, unless MULTIPART_CHECKSUM is off).
func (r *copyRun) fullChecksum(src sourceObject) bool {
	return r.Config.MultipartChecksum != ChecksumOff && src.hasChecksum && supportsFullObjectMultipart(src.checksum.alg)
}

// complete sends CompleteMultipartUpload under its own budget
// (finishContext). Out of time after a pass that made progress, it pauses
// instead: the next pass lists the parts and completes.
//
// S3 checks the copy itself, so no HeadObject follows. It refuses a size
// other than x-amz-mp-object-size with 400 InvalidRequest
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
// It validates a full-object checksum sent with it "before storing the
// object" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
// The checksum S3 answers is compared too, for servers that do not check.
func (r *copyRun) complete(src sourceObject, parts []types.CompletedPart, mean time.Duration, prog *multipartProgress) error {
	fullChecksum := r.fullChecksum(src)
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(r.c.TargetBucket),
		Key:             aws.String(r.c.SourceKey),
		UploadId:        aws.String(r.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		MpuObjectSize:   aws.Int64(src.size),
	}
	if fullChecksum {
		setExpectedChecksum(src.checksum, in)
	}
	if src.hasChecksum && !fullChecksum {
		r.logger().InfoContext(r.ctx, "archive copy has no checksum comparable with the source's; size checked only",
			"source_bucket", r.c.SourceBucket, "source_key", r.c.SourceKey, "target_bucket", r.c.TargetBucket,
			"checksum_algorithm", string(src.checksum.alg))
	}
	finishCtx, cancel := r.finishContext(r.finishReserve(mean))
	defer cancel()
	out, err := r.completeUpload(finishCtx, in)
	if err != nil {
		if finishCtx.Err() != nil && r.ctx.Err() == nil && prog.newParts > 0 {
			// Should S3 have completed it after all, the next pass finds
			// the upload gone (NoSuchUpload) and copies again.
			r.logger().WarnContext(r.ctx, "CompleteMultipartUpload did not finish before the copy deadline; pausing for the next pass",
				"target_bucket", r.c.TargetBucket, "key", r.c.SourceKey, "upload_id", r.uploadID, "error", err.Error())
			return nil
		}
		return err
	}
	r.uploadID = "" // complete: nothing left to settle
	if fullChecksum {
		if got := completedChecksum(src.checksum.alg, out); got != "" && got != src.checksum.value {
			return r.badCopy(fmt.Sprintf("the archive copy's %s checksum is %s, the source's %s", src.checksum.alg, got, src.checksum.value))
		}
	}
	prog.complete = true
	return nil
}

// completeUpload sends CompleteMultipartUpload; on SlowDown it backs off
// and sends it again, as a part copy does, up to maxThrottles times or
// until ctx ends.
func (r *copyRun) completeUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error) {
	for n := 1; ; n++ {
		out, err := r.S3.CompleteMultipartUpload(ctx, in, throttlesNotRetried)
		if err == nil || !isThrottle(err) || n >= maxThrottles {
			return out, err
		}
		t := time.NewTimer(throttleBackoff(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// finishReserve is the time kept free before the copy deadline for
// CompleteMultipartUpload: a quarter of the mean
// part duration, at least 1 s, at most the run's margin.
func (r *copyRun) finishReserve(mean time.Duration) time.Duration {
	return min(max(time.Second, mean/4), r.margin)
}

// finishContext is CompleteMultipartUpload's context, derived from the
// run's ctx (the Lambda's, or the time budget's). It ends at the copy
// deadline or reserve from now, whichever is later. It ends at least half
// the run's margin before ctx's deadline.
func (r *copyRun) finishContext(reserve time.Duration) (context.Context, context.CancelFunc) {
	stop, ok := r.copyCtx.Deadline()
	end, hasEnd := r.ctx.Deadline()
	if !ok || !hasEnd {
		return context.WithCancel(r.copyCtx)
	}
	if later := r.clock().Add(reserve); later.After(stop) {
		stop = later
	}
	if limit := end.Add(-r.margin / 2); stop.After(limit) {
		stop = limit
	}
	return context.WithDeadline(r.ctx, stop)
}

// createUpload starts the multipart upload with the source's metadata,
// content headers and tags, and the configured storage class, ACL and
// encryption.
func (r *copyRun) createUpload(src sourceObject, fullChecksum bool) (string, error) {
	h := src.head
	in := &s3.CreateMultipartUploadInput{
		Bucket:             aws.String(r.c.TargetBucket),
		Key:                aws.String(r.c.SourceKey),
		Metadata:           h.Metadata,
		ContentType:        h.ContentType,
		CacheControl:       h.CacheControl,
		ContentDisposition: h.ContentDisposition,
		ContentEncoding:    h.ContentEncoding,
		ContentLanguage:    h.ContentLanguage,
		Expires:            h.Expires, //nolint:staticcheck // the parsed Expires header is what CreateMultipartUpload takes
		StorageClass:       r.Config.StorageClass,
		ACL:                r.Config.ObjectACL,
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = r.encryption()
	if fullChecksum {
		in.ChecksumAlgorithm = src.checksum.alg
		in.ChecksumType = types.ChecksumTypeFullObject
	}
	tagging, err := r.sourceTagging(src)
	if err != nil {
		return "", err
	}
	in.Tagging = tagging
	out, err := r.S3.CreateMultipartUpload(r.copyCtx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.UploadId), nil
}

// sourceTagging returns the tags of the version HeadObject read: those
// read alongside it if they are of that version, else read now.
func (r *copyRun) sourceTagging(src sourceObject) (*string, error) {
	h := src.head
	if h.TagCount != nil && *h.TagCount == 0 {
		return nil, nil
	}
	t := src.tags
	if t == nil || t.err == nil && t.version != aws.ToString(h.VersionId) {
		read := r.getTagging(h.VersionId)
		t = &read
	}
	return t.header, t.err
}

// resumeUpload returns the parts of the token's upload that match the plan.
// It lets go of the upload (aborting it) when the source changed or the
// token has another part size, or when it is gone; the copy starts anew.
func (r *copyRun) resumeUpload(src sourceObject, partSize int64, plan []partRange, fullChecksum bool) (map[int32]types.CompletedPart, error) {
	if r.uploadID == "" {
		return nil, nil
	}
	tok := r.req
	log := r.logger().With("source_bucket", r.c.SourceBucket, "source_key", r.c.SourceKey, "target_bucket", r.c.TargetBucket, "upload_id", r.uploadID)
	etag, version := aws.ToString(src.head.ETag), aws.ToString(src.head.VersionId)
	switch {
	case tok.SourceETag != etag:
		log.WarnContext(r.ctx, "the source changed since the multipart upload began; aborting it and starting over",
			"source_etag", etag, "upload_source_etag", tok.SourceETag)
		r.drop()
		return nil, nil
	case tok.SourceVersionID != version:
		log.WarnContext(r.ctx, "the source is another version than the one the multipart upload copies; aborting it and starting over",
			"source_version_id", version, "upload_source_version_id", tok.SourceVersionID)
		r.drop()
		return nil, nil
	case tok.PartSize != partSize:
		// A part of the same number and size may hold other bytes.
		log.WarnContext(r.ctx, "the multipart upload was planned with another part size; aborting it and starting over",
			"part_size", partSize, "upload_part_size", tok.PartSize)
		r.drop()
		return nil, nil
	}
	have := map[int32]types.CompletedPart{}
	in := &s3.ListPartsInput{Bucket: aws.String(r.c.TargetBucket), Key: aws.String(r.c.SourceKey), UploadId: aws.String(r.uploadID)}
	for {
		out, err := r.S3.ListParts(r.copyCtx, in)
		if err != nil && isNoSuchUpload(err) {
			log.WarnContext(r.ctx, "the multipart upload to resume is gone; starting over")
			r.uploadID, r.resumed = "", false
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ListParts of upload %s: %w", r.uploadID, err)
		}
		for _, p := range out.Parts {
			n := aws.ToInt32(p.PartNumber)
			if n < 1 || int(n) > len(plan) || aws.ToInt64(p.Size) != plan[n-1].size() {
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
	log.InfoContext(r.ctx, "resuming multipart copy", "parts_done", len(have), "parts_total", len(plan))
	return have, nil
}

// copyParts copies parts, at most Concurrency at once (see window), and
// returns those copied, in order, and their mean duration. After a failure
// it waits for the parts in flight (S3 may finish them after an abort).
//
// It stops early (stopped true) when the copy deadline is too near. A part
// starts only if, at the mean part duration, it would end finishReserve
// before the deadline. A part cut off by the deadline counts as not copied.
func (r *copyRun) copyParts(src sourceObject, parts []partRange, withChecksum bool, progress *copyProgress) (copied []types.CompletedPart, stopped bool, mean time.Duration, err error) {
	pc := &partCopies{src: src, source: src.copySource(r.c), withChecksum: withChecksum, progress: progress,
		win: newWindow(r.Config.Concurrency, r.clock, cutGap), failed: make(chan struct{}), startedAt: map[int32]time.Time{}}
	deadline, hasLimit := r.copyCtx.Deadline()
	var wg sync.WaitGroup
	for _, p := range parts {
		epoch, ok := pc.win.acquire(r.copyCtx, pc.failed)
		if !ok {
			stopped = r.copyCtx.Err() != nil
			break
		}
		pc.mu.Lock()
		quit := pc.firstErr != nil
		if n := len(pc.copied); !quit && hasLimit && n > 0 {
			mean := pc.busy / time.Duration(n)
			if !r.clock().Add(mean + r.finishReserve(mean)).Before(deadline) {
				stopped, quit = true, true
			}
		}
		pc.startedAt[p.Number] = r.clock()
		pc.mu.Unlock()
		if quit {
			pc.win.release()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.copyPart(pc, p, epoch)
		}()
	}
	wg.Wait()
	if n := len(pc.copied); n > 0 {
		mean = pc.busy / time.Duration(n)
	}
	if pc.firstErr != nil {
		return pc.copied, false, mean, pc.firstErr
	}
	sort.Slice(pc.copied, func(i, j int) bool { return *pc.copied[i].PartNumber < *pc.copied[j].PartNumber })
	return pc.copied, stopped || pc.cutOff, mean, nil
}

// partCopies is the state the part copies of one pass share.
type partCopies struct {
	src          sourceObject
	source       string // CopySource
	withChecksum bool
	progress     *copyProgress
	win          *window
	failed       chan struct{} // closed at the first failure

	mu        sync.Mutex
	firstErr  error
	copied    []types.CompletedPart
	busy      time.Duration // the copied parts' durations, summed
	cutOff    bool          // a part in flight was cancelled at the copy deadline
	startedAt map[int32]time.Time
}

// copyPart copies part p in the slot acquired in epoch and records the
// outcome in pc.
func (r *copyRun) copyPart(pc *partCopies, p partRange, epoch int) {
	out, held, err := r.uploadPartCopy(pc.win, epoch, pc.failed, &s3.UploadPartCopyInput{
		Bucket:            aws.String(r.c.TargetBucket),
		Key:               aws.String(r.c.SourceKey),
		UploadId:          aws.String(r.uploadID),
		PartNumber:        aws.Int32(p.Number),
		CopySource:        aws.String(pc.source),
		CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", p.First, p.Last)),
		CopySourceIfMatch: pc.src.head.ETag,
	})
	if held {
		defer pc.win.release()
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case err == nil && out == nil:
		return // another part failed while this one waited to be sent again
	case err != nil && r.copyCtx.Err() != nil:
		pc.cutOff = true
		return
	case err != nil:
		if pc.firstErr == nil {
			pc.firstErr = fmt.Errorf("part %d (bytes %d-%d): %w", p.Number, p.First, p.Last, err)
			close(pc.failed)
		}
		return
	}
	part := types.CompletedPart{PartNumber: aws.Int32(p.Number)}
	if res := out.CopyPartResult; res != nil {
		part.ETag = res.ETag
		if pc.withChecksum {
			setPartChecksum(pc.src.checksum.alg, res.ChecksumCRC32, res.ChecksumCRC32C, res.ChecksumCRC64NVME, &part)
		}
	}
	pc.copied = append(pc.copied, part)
	pc.busy += r.clock().Sub(pc.startedAt[p.Number])
	pc.progress.add(p.size())
}

// uploadPartCopy sends a part copy in win's slot of epoch; on SlowDown it
// backs off and resends in a new slot, up to maxThrottles times. held: the
// caller holds a slot. If stop closes meanwhile it returns nil, nil.
func (r *copyRun) uploadPartCopy(win *window, epoch int, stop <-chan struct{}, in *s3.UploadPartCopyInput) (out *s3.UploadPartCopyOutput, held bool, err error) {
	ctx, c := r.copyCtx, r.c
	for n := 1; ; n++ {
		out, err = r.S3.UploadPartCopy(ctx, in, throttlesNotRetried)
		if err == nil {
			if win.copied(epoch) {
				r.logger().InfoContext(ctx, "part copies back to full concurrency after S3 SlowDown",
					"target_bucket", c.TargetBucket, "key", c.SourceKey, "in_flight_limit", win.max)
			}
			return out, true, nil
		}
		if !isThrottle(err) || n >= maxThrottles || ctx.Err() != nil {
			return nil, true, err
		}
		if limit, cut := win.throttled(epoch); cut {
			r.logger().WarnContext(ctx, "S3 SlowDown: fewer part copies in flight",
				"target_bucket", c.TargetBucket, "key", c.SourceKey, "part", aws.ToInt32(in.PartNumber), "in_flight_limit", limit)
		}
		win.release()
		t := time.NewTimer(throttleBackoff(n))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return nil, false, nil
		case <-ctx.Done():
			t.Stop()
			return nil, false, ctx.Err()
		}
		var ok bool
		if epoch, ok = win.acquire(ctx, stop); !ok {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			return nil, false, nil
		}
	}
}

// abort aborts the upload under cleanupContext and checks with ListParts
// that it is gone, up to three times. A failure is logged and returned.
//
// S3 may still finish a part copy in flight at the abort. A Lambda killed
// mid-copy aborts nothing. The archive buckets should therefore carry an
// AbortIncompleteMultipartUpload lifecycle rule as the backstop.
func (r *copyRun) abort(uploadID string) error {
	ctx, cancel := cleanupContext(r.ctx)
	defer cancel()
	err := r.abortOnce(ctx, uploadID)
	for attempt := 1; err != nil && attempt < 3; attempt++ {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%w (then the cleanup time ran out: %v)", err, ctx.Err())
			attempt = 3
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			err = r.abortOnce(ctx, uploadID)
		}
	}
	if err != nil {
		r.logger().ErrorContext(r.ctx, "abort multipart upload failed; parts may be left until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
			"target_bucket", r.c.TargetBucket, "key", r.c.SourceKey, "upload_id", uploadID, "error", err.Error())
	}
	return err
}

// abortOnce sends AbortMultipartUpload and checks with ListParts that the
// upload is gone (NoSuchUpload).
func (r *copyRun) abortOnce(ctx context.Context, uploadID string) error {
	_, err := r.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(r.c.TargetBucket), Key: aws.String(r.c.SourceKey), UploadId: aws.String(uploadID),
	})
	if err != nil && !isNoSuchUpload(err) {
		return fmt.Errorf("AbortMultipartUpload: %w", err)
	}
	_, err = r.S3.ListParts(ctx, &s3.ListPartsInput{
		Bucket: aws.String(r.c.TargetBucket), Key: aws.String(r.c.SourceKey), UploadId: aws.String(uploadID),
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

// maxThrottles is how many SlowDown answers in a row one part copy takes
// before the copy fails.
const maxThrottles = 10

// firstBackoff is the longest wait after a part's first SlowDown.
const firstBackoff = 100 * time.Millisecond

// throttleBackoff is the wait before a part is sent again after its n-th
// SlowDown in a row (n from 1). Tests replace it.
var throttleBackoff = fullJitterBackoff

// fullJitterBackoff is full jitter over 100 ms × 2^(n-1), at most 5 s, as
// AWS's exponential back-off with jitter.
func fullJitterBackoff(n int) time.Duration {
	ceiling := min(firstBackoff<<min(n-1, 6), 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

// isThrottle reports whether err is a throttling answer (SlowDown and the
// other codes the SDK counts as throttles).
func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// throttlesNotRetried is the option of a part copy's UploadPartCopy: the
// SDK's retryer, except that a throttle is returned at once to the window.
func throttlesNotRetried(o *s3.Options) {
	if o.Retryer != nil {
		o.Retryer = &noThrottleRetry{Retryer: o.Retryer}
	}
}

type noThrottleRetry struct{ aws.Retryer }

func (r *noThrottleRetry) IsErrorRetryable(err error) bool {
	return !isThrottle(err) && r.Retryer.IsErrorRetryable(err)
}

// GetAttemptToken keeps the wrapped retryer's attempt token (aws.RetryerV2).
func (r *noThrottleRetry) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.Retryer.GetInitialToken(), nil
}

// supportsFullObjectMultipart reports whether a multipart upload can carry a
// full-object checksum of alg (S3 allows it for the CRC algorithms only).
func supportsFullObjectMultipart(alg types.ChecksumAlgorithm) bool {
	switch alg {
	case types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme:
		return true
	}
	return false
}

// setPartChecksum puts a part's checksum of alg on the completed part. S3
// reports three per part, in CopyPartResult or a ListParts entry.
func setPartChecksum(alg types.ChecksumAlgorithm, crc32, crc32c, crc64nvme *string, p *types.CompletedPart) {
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		p.ChecksumCRC32 = crc32
	case types.ChecksumAlgorithmCrc32c:
		p.ChecksumCRC32C = crc32c
	case types.ChecksumAlgorithmCrc64nvme:
		p.ChecksumCRC64NVME = crc64nvme
	}
}

// setExpectedChecksum puts the source's full-object checksum on the
// CompleteMultipartUpload request, so S3 itself refuses a copy that differs.
func setExpectedChecksum(c checksum, in *s3.CompleteMultipartUploadInput) {
	in.ChecksumType = types.ChecksumTypeFullObject
	switch c.alg {
	case types.ChecksumAlgorithmCrc32:
		in.ChecksumCRC32 = aws.String(c.value)
	case types.ChecksumAlgorithmCrc32c:
		in.ChecksumCRC32C = aws.String(c.value)
	case types.ChecksumAlgorithmCrc64nvme:
		in.ChecksumCRC64NVME = aws.String(c.value)
	}
}

// completedChecksum is the checksum of alg that CompleteMultipartUpload
// answered, or "" (the CRC families only: a multipart object's SHA
// checksums are composite, not comparable with a whole object's).
func completedChecksum(alg types.ChecksumAlgorithm, out *s3.CompleteMultipartUploadOutput) string {
	return checksumOf(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, nil, nil)
}
