package copyfile

import (
	"context"
	"log/slog"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// Copier is what the handler needs: one copy.
type Copier interface {
	Copy(ctx context.Context, req contract.CopyRequest) (contract.CopyOutcome, error)
}

var _ Copier = (*ArchiveCopier)(nil)

// CopyHandler is the copy-file Lambda's handler.
type CopyHandler struct {
	Copier Copier
	Logger *slog.Logger
	// Metrics receives the EMF line of each finished copy; nil writes none.
	Metrics *metrics.Writer
	invoker lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle copies one file and logs one line about it. Its error is a
// *TransientCopyError or a *PermanentCopyError, never wrapped: the Lambda
// runtime reports that type's name as errorType.
func (h *CopyHandler) Handle(ctx context.Context, req contract.CopyRequest) (contract.CopyOutcome, error) {
	start := time.Now()
	out, err := h.Copier.Copy(ctx, req)
	c := Copy{SourceBucket: req.SourceBucket, SourceKey: req.SourceKey, TargetBucket: req.TargetBucket}
	if out.DurationMS == 0 {
		out.DurationMS = time.Since(start).Milliseconds()
	}
	out.Passes = req.Passes + 1
	out.ElapsedMS = req.ElapsedMS + out.DurationMS

	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	attrs := []any{
		"source_bucket", req.SourceBucket,
		"source_key", req.SourceKey,
		"target_bucket", req.TargetBucket,
		"bytes", out.Bytes,
		"multipart", out.Multipart,
		"parts", out.Parts,
		"duration_ms", out.DurationMS,
	}
	if req.VersionID != "" {
		attrs = append(attrs, "version_id", req.VersionID)
	}
	if out.Multipart {
		attrs = append(attrs, "parts_done", out.PartsDone, "part_size", out.PartSize)
	}
	if out.AlreadyArchived {
		// Not copied: the archive copy already held the source's bytes.
		attrs = append(attrs, "already_archived", true)
	}
	if err == nil && !out.Complete {
		log.InfoContext(ctx, "file copy paused before the deadline; the workflow resumes it",
			append(attrs, "upload_id", out.UploadID, "source_etag", out.SourceETag, "bytes_done", out.BytesDone)...)
		return out, nil
	}
	if err == nil {
		// The outcome line is the copy's EMF document too.
		line := slog.Group("", append(attrs, "passes", out.Passes, "elapsed_ms", out.ElapsedMS)...).Value.Group()
		h.Metrics.Log(ctx, log, slog.LevelInfo, "file copied", line, nil, CopyMetrics(out)...)
		return out, nil
	}
	// The error's Go type is its name for Step Functions. Copy returns one
	// of the two routed types, which Classify hands back as is, unwrapped;
	// another Copier's error is classified here.
	err = Classify(c, err)
	name := contract.ErrorType(err)
	level := slog.LevelError
	if name == contract.TransientCopyError {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "file copy failed", append(attrs, "error_type", name, "code", errorCode(err), "error", err.Error())...)
	return contract.CopyOutcome{}, err
}

// errorCode is the S3 code (or ours) of a routed copy error.
func errorCode(err error) string {
	switch e := err.(type) {
	case *TransientCopyError:
		return e.Code
	case *PermanentCopyError:
		return e.Code
	}
	return ""
}

// CopyMetrics are the metrics of a finished copy: its size, the time its
// passes took together, the throughput (MB/s, 10^6 bytes) and the passes.
// A copy not made (AlreadyArchived) copied 0 bytes and has no throughput:
// its seconds are the check's.
func CopyMetrics(out contract.CopyOutcome) []metrics.Metric {
	secs := float64(out.ElapsedMS) / 1000
	copied := out.Bytes
	if out.AlreadyArchived {
		copied = 0
	}
	ms := []metrics.Metric{
		{Name: metrics.BytesCopied, Unit: metrics.Bytes, Value: float64(copied)},
		{Name: metrics.CopySeconds, Unit: metrics.Seconds, Value: secs},
		{Name: metrics.CopyPasses, Unit: metrics.Count, Value: float64(out.Passes)},
	}
	if secs > 0 && !out.AlreadyArchived {
		ms = append(ms, metrics.Metric{Name: metrics.CopyThroughput, Unit: metrics.MBPerSecond, Value: float64(out.Bytes) / 1e6 / secs})
	}
	return ms
}
