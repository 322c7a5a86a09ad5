package aggregate

import (
	"context"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// AggregateHandler is the aggregate Lambda: the workflow's last step, which
// reports every file's result and fails the execution with CopyRequestError
// when any file failed.
type AggregateHandler struct {
	Logger *slog.Logger
}

// Handle logs one line per file and returns the results, or the
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
	failed := 0
	for _, r := range results {
		attrs := []any{
			"request_id", r.RequestID, "source_bucket", r.SourceBucket, "source_key", r.SourceKey,
			"target_bucket", r.TargetBucket, "success", r.Success,
		}
		if r.Success {
			logger.InfoContext(ctx, "file copied", attrs...)
			continue
		}
		failed++
		logger.ErrorContext(ctx, "file failed", append(attrs, "err_msg", r.ErrMsg)...)
	}
	logger.InfoContext(ctx, "copy request finished", "files", len(results), "failed", failed)
	if err != nil {
		return nil, err
	}
	return results, nil
}
