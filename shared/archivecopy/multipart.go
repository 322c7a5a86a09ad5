package archivecopy

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

// copyMultipart copies src with CreateMultipartUpload, UploadPartCopy of its
// parts (Concurrency at a time) and CompleteMultipartUpload. On any failure
// the upload is aborted. It returns the number of parts.
func (a *ArchiveCopier) copyMultipart(copyCtx, ctx context.Context, c Copy, src sourceObject) (int, error) {
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
	create.ServerSideEncryption, create.SSEKMSKeyId, create.BucketKeyEnabled = a.encryption(h)
	fullChecksum := a.Config.MultipartChecksum != ChecksumOff && src.hasChecksum && supportsFullObjectMultipart(src.checksum.alg)
	if fullChecksum {
		create.ChecksumAlgorithm = src.checksum.alg
		create.ChecksumType = types.ChecksumTypeFullObject
	}
	tagging, err := a.sourceTagging(copyCtx, c, h)
	if err != nil {
		return 0, err
	}
	create.Tagging = tagging

	mpu, err := a.S3.CreateMultipartUpload(copyCtx, create)
	if err != nil {
		return 0, err
	}
	uploadID := aws.ToString(mpu.UploadId)

	parts := planParts(src.size, a.Config.partSize(src.size))
	completed, err := a.copyParts(copyCtx, c, src, uploadID, parts, fullChecksum)
	if err == nil {
		complete := &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(c.TargetBucket),
			Key:             aws.String(c.SourceKey),
			UploadId:        aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
			MpuObjectSize:   aws.Int64(src.size),
		}
		if fullChecksum {
			setExpectedChecksum(src.checksum, complete)
		}
		_, err = a.S3.CompleteMultipartUpload(copyCtx, complete)
	}
	if err != nil {
		aerr := a.abort(ctx, c, uploadID)
		if aerr != nil {
			a.logger().ErrorContext(ctx, "abort multipart upload failed; parts may be left until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them",
				"target_bucket", c.TargetBucket, "key", c.SourceKey, "upload_id", uploadID, "error", aerr.Error())
		}
		return len(parts), &multipartError{err: err, uploadID: uploadID, abortErr: aerr}
	}
	return len(parts), nil
}

// multipartError is a failed multipart copy and the outcome of aborting its
// upload, so the error reported says whether the upload is gone.
type multipartError struct {
	err      error
	uploadID string
	abortErr error // nil: aborted, and ListParts confirmed it
}

func (e *multipartError) Error() string { return e.err.Error() + " (" + e.note() + ")" }
func (e *multipartError) Unwrap() error { return e.err }

func (e *multipartError) note() string {
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

// copyParts copies the parts, at most Concurrency at once, and returns them
// completed in part order. After the first failure, or when the measured
// pace says the copy cannot finish before ctx's deadline, it starts no more
// parts but lets those in flight finish: a part copy cancelled on our side
// may still complete on S3's side after the abort and leave a part behind.
// Only ctx's own end (the copy deadline) cancels parts in flight.
func (a *ArchiveCopier) copyParts(ctx context.Context, c Copy, src sourceObject, uploadID string, parts []partRange, withChecksum bool) ([]types.CompletedPart, error) {
	var (
		mu        sync.Mutex
		failure   error
		stopped   = make(chan struct{})
		completed = make([]types.CompletedPart, 0, len(parts))
		doneBytes int64
		doneParts int
		wg        sync.WaitGroup
		sem       = make(chan struct{}, max(a.Config.Concurrency, 1))
		started   = a.clock()
		source    = CopySource(c.SourceBucket, c.SourceKey)
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failure == nil {
			failure = err
			close(stopped)
		}
	}
schedule:
	for _, p := range parts {
		select {
		case sem <- struct{}{}:
		case <-stopped:
			break schedule
		case <-ctx.Done():
			fail(ctx.Err())
			break schedule
		}
		mu.Lock()
		err := failure
		if err == nil {
			err = a.pace(ctx, c, src.size, doneBytes, doneParts, started)
		}
		mu.Unlock()
		if err != nil {
			fail(err)
			break
		}
		wg.Add(1)
		go func(p partRange) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := a.S3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:            aws.String(c.TargetBucket),
				Key:               aws.String(c.SourceKey),
				UploadId:          aws.String(uploadID),
				PartNumber:        aws.Int32(p.Number),
				CopySource:        aws.String(source),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", p.First, p.Last)),
				CopySourceIfMatch: src.head.ETag,
			})
			if err != nil {
				fail(fmt.Errorf("part %d (bytes %d-%d): %w", p.Number, p.First, p.Last, err))
				return
			}
			part := types.CompletedPart{PartNumber: aws.Int32(p.Number)}
			if out.CopyPartResult != nil {
				part.ETag = out.CopyPartResult.ETag
			}
			if withChecksum {
				partChecksum(src.checksum.alg, out.CopyPartResult, &part)
			}
			mu.Lock()
			completed = append(completed, part)
			doneBytes += p.Last - p.First + 1
			doneParts++
			mu.Unlock()
		}(p)
	}
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	sort.Slice(completed, func(i, j int) bool { return *completed[i].PartNumber < *completed[j].PartNumber })
	return completed, nil
}

// pace fails with a DeadlineExceeded TransientCopyError when, at the pace
// measured so far, the remaining bytes cannot be copied before ctx's
// deadline. It judges only after the first wave of parts has completed.
func (a *ArchiveCopier) pace(ctx context.Context, c Copy, size, doneBytes int64, doneParts int, started time.Time) error {
	deadline, ok := ctx.Deadline()
	if !ok || doneBytes == 0 || doneParts < a.Config.Concurrency {
		return nil
	}
	now := a.clock()
	elapsed := now.Sub(started)
	rate := float64(doneBytes) / elapsed.Seconds() // bytes per second
	need := time.Duration(float64(size-doneBytes) / rate * float64(time.Second))
	if now.Add(need).Before(deadline) {
		return nil
	}
	return &TransientCopyError{Copy: c, Code: "DeadlineExceeded", Message: fmt.Sprintf(
		"at %.1f MiB/s the remaining %d of %d bytes need %s but only %s is left before the Lambda deadline minus the %s margin; stopped",
		rate/MiB, size-doneBytes, size, need.Round(100*time.Millisecond), deadline.Sub(now).Round(100*time.Millisecond), a.margin())}
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
