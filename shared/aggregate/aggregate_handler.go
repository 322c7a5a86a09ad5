package aggregate

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// AggregateHandler is the aggregate Lambda, which each execution calls
// twice: "Sort results" (operation "sort") and "Report results" (no
// operation), the workflow's last step, which reports every file's result
// and fails the execution with CopyRequestError when any file failed or
// a message of the batch was rejected.
type AggregateHandler struct {
	Logger *slog.Logger
	// Metrics receives the files copied and failed (by error name); nil
	// writes none.
	Metrics *metrics.Writer
	invoker lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle serves one call: contract.SortRequest when its operation is
// contract.OperationSort (its answer is contract.Sorted), else
// contract.AggregateRequest (its answer is the per-file results). An input
// it cannot read fails with an error saying what was wrong.
func (h *AggregateHandler) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var op struct {
		Operation string `json:"operation"`
	}
	if err := json.Unmarshal(payload, &op); err != nil {
		return nil, &invalidRequestError{"not a JSON object: " + err.Error()}
	}
	switch op.Operation {
	case contract.OperationSort:
		var req contract.SortRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, &invalidRequestError{"sort: " + err.Error()}
		}
		return h.Sort(ctx, req)
	case "":
		var req contract.AggregateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, &invalidRequestError{"report: " + err.Error()}
		}
		return h.Report(ctx, req)
	}
	return nil, &invalidRequestError{"unknown operation " + op.Operation + `: want "sort", or none for the report`}
}

// Sort is "Sort results" (Sort), logging one INFO line with its counts.
func (h *AggregateHandler) Sort(ctx context.Context, req contract.SortRequest) (contract.Sorted, error) {
	sorted, counts, err := Sort(req)
	if err != nil {
		return contract.Sorted{}, err
	}
	h.logger().InfoContext(ctx, "results sorted", "round", sorted.Round, "done", counts.Done, "standard", counts.Standard, "deferred", counts.Deferred, "chunks", counts.Chunks,
		"chunks_failed", counts.ChunksFailed, "unreported", counts.Unreported, "rejected", len(sorted.Rejected))
	return sorted, nil
}

// Report is "Report results" (Aggregate). It logs one ERROR line per
// failed file and per rejected message, one for the request, and the full
// re-run input; it returns the results, or the *CopyRequestError itself
// (unwrapped, so Lambda reports errorType "CopyRequestError").
func (h *AggregateHandler) Report(ctx context.Context, req contract.AggregateRequest) ([]contract.FileResult, error) {
	logger := h.logger()
	outcomes, err := aggregate(req)
	if cre, ok := err.(*CopyRequestError); ok && req.EventError != nil {
		outcomes = []fileOutcome{{result: cre.Results[0], errorName: ErrorNameOfEvent(req)}}
	}
	// A file copied has its lines already (copy-file's "file copied",
	// request-status's "request status record_outcome"): only failures get
	// one here.
	failed := 0
	for _, o := range outcomes {
		if r := o.result; !r.Success {
			failed++
			logger.ErrorContext(ctx, LogFileFailed, "request_id", r.RequestID, "source_bucket", r.SourceBucket, "source_key", r.SourceKey,
				"target_bucket", r.TargetBucket, "success", r.Success, "err_msg", r.ErrMsg)
		}
	}
	for _, r := range req.Rejected {
		logger.ErrorContext(ctx, LogMessageRejected, "index", r.Index, "message_id", r.MessageID, "error", r.Error)
	}
	h.finished(ctx, logger, outcomes, failed, len(req.Rejected))
	if cre, ok := err.(*CopyRequestError); ok && len(cre.Failed) > 0 {
		// The full re-run input, which the error's message may have had to
		// shorten to fit a cause (left_out_of_cause files).
		logger.ErrorContext(ctx, LogRerunInput, "failed", len(cre.Failed), "left_out_of_cause", cre.LeftOut(),
			"input", cre.Rerun())
	}
	if err != nil {
		return nil, err
	}
	return resultsOf(outcomes), nil
}

// finished logs the request's line, which is also the EMF document of the
// files copied (a duplicate left alone, already_copied, is not one), and
// one EMF line per error name with the files that failed with it.
func (h *AggregateHandler) finished(ctx context.Context, logger *slog.Logger, outcomes []fileOutcome, failedFiles, rejected int) {
	copied, already := 0, 0
	failed := map[string]int{}
	var names []string
	for _, o := range outcomes {
		switch {
		case o.alreadyCopied:
			already++
			continue
		case o.result.Success:
			copied++
			continue
		}
		if failed[o.errorName] == 0 {
			names = append(names, o.errorName)
		}
		failed[o.errorName]++
	}
	attrs := []slog.Attr{slog.Int("files", len(outcomes)), slog.Int("failed", failedFiles)}
	if rejected > 0 {
		attrs = append(attrs, slog.Int("rejected", rejected))
	}
	if already > 0 {
		attrs = append(attrs, slog.Int("already_copied", already))
	}
	h.Metrics.Log(ctx, logger, slog.LevelInfo, "copy request finished", attrs, nil,
		metrics.Metric{Name: metrics.FilesCopied, Unit: metrics.Count, Value: float64(copied)})
	for _, name := range names {
		h.Metrics.Emit(ctx, []metrics.Dimension{{Name: metrics.DimensionErrorName, Value: name}},
			metrics.Metric{Name: metrics.FilesFailed, Unit: metrics.Count, Value: float64(failed[name])})
	}
}

// logger is h.Logger, else slog's default.
func (h *AggregateHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
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
