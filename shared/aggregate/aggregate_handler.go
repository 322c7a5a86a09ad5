package aggregate

import (
	"context"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// AggregateHandler is the aggregate Lambda: the workflow's last step, which
// reports every file's result and fails the execution with CopyRequestError
// when any file failed.
type AggregateHandler struct {
	Logger *slog.Logger
	// Metrics receives the files copied and failed (by error name); nil
	// writes none.
	Metrics *metrics.Writer
	invoker lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle logs one line per failed file and one for the request, and
// returns the results, or the
// *CopyRequestError itself (unwrapped, so Lambda reports errorType
// "CopyRequestError").
func (h *AggregateHandler) Handle(ctx context.Context, req contract.AggregateRequest) ([]contract.FileResult, error) {
	logger := h.Logger
	if logger == nil {
		logger = slog.Default()
	}

	results, err := Aggregate(req)
	if cre, ok := err.(*CopyRequestError); ok {
		results = cre.Results
	}
	// A file copied has its lines already (copy-file's "file copied",
	// request-status's "request status record_outcome"): only failures get
	// one here.
	failed := 0
	for _, r := range results {
		if r.Success {
			continue
		}
		failed++
		logger.ErrorContext(ctx, "file failed", "request_id", r.RequestID, "source_bucket", r.SourceBucket, "source_key", r.SourceKey,
			"target_bucket", r.TargetBucket, "success", r.Success, "err_msg", r.ErrMsg)
	}
	h.finished(ctx, logger, req, results, failed)
	if cre, ok := err.(*CopyRequestError); ok && len(cre.Failed) > 0 {
		// The full re-run input, which the error's message may have had to
		// shorten to fit a cause (left_out_of_cause files).
		logger.ErrorContext(ctx, LogRerunInput, "failed", len(cre.Failed), "left_out_of_cause", cre.LeftOut(),
			"input", cre.Rerun())
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// finished logs the request's line, which is also the EMF document of the
// files copied, and one EMF line per error name with the files that failed
// with it.
func (h *AggregateHandler) finished(ctx context.Context, logger *slog.Logger, req contract.AggregateRequest, results []contract.FileResult, failedFiles int) {
	copied := 0
	failed := map[string]int{}
	var names []string
	for i, r := range results {
		if r.Success {
			copied++
			continue
		}
		name := ErrorNameOfEvent(req)
		if i < len(req.Iterations) {
			name = ErrorName(req.Iterations[i])
		}
		if failed[name] == 0 {
			names = append(names, name)
		}
		failed[name]++
	}
	h.Metrics.Log(ctx, logger, slog.LevelInfo, "copy request finished",
		[]slog.Attr{slog.Int("files", len(results)), slog.Int("failed", failedFiles)}, nil,
		metrics.Metric{Name: metrics.FilesCopied, Unit: metrics.Count, Value: float64(copied)})
	for _, name := range names {
		h.Metrics.Emit(ctx, []metrics.Dimension{{Name: metrics.DimensionErrorName, Value: name}},
			metrics.Metric{Name: metrics.FilesFailed, Unit: metrics.Count, Value: float64(failed[name])})
	}
}

// ErrorName names why an iteration failed, for the FilesFailed metric: the
// error Step Functions caught (the copy's, else the lookup's, else the
// status update's), or CopyNotFinished / StatusNotRecorded; "" on success.
func ErrorName(it contract.Iteration) string {
	switch {
	case iterationFailure(it) == "":
		return ""
	case it.LookupError != nil:
		return it.LookupError.Error
	case it.CopyError != nil:
		return it.CopyError.Error
	case it.RecordError != nil:
		return it.RecordError.Error
	case it.Copy != nil && !it.Copy.Complete:
		return "CopyNotFinished"
	}
	return "StatusNotRecorded"
}

// ErrorNameOfEvent names the error that rejected an event (EventError).
func ErrorNameOfEvent(req contract.AggregateRequest) string {
	if req.EventError != nil && req.EventError.Error != "" {
		return req.EventError.Error
	}
	return "EventError"
}
