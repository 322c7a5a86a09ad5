package parseevent

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// ParseHandler is the parse-event Lambda: it turns the triggering event into
// the list of files the workflow's Map iterates over.
type ParseHandler struct {
	Logger  *slog.Logger
	invoker lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle parses one event. A rejected event is returned as the
// *InvalidEventError itself, unwrapped, so that Lambda reports errorType
// "InvalidEventError" and the workflow can route on it.
func (h *ParseHandler) Handle(ctx context.Context, event json.RawMessage) (contract.ParsedEvent, error) {
	logger := h.logger()
	files, err := ParseEvent(event)
	if err != nil {
		logger.WarnContext(ctx, "event rejected", "files", 0, "error", err.Error())
		return contract.ParsedEvent{}, err
	}
	attrs := []any{"files", len(files)}
	if len(files) > 0 {
		attrs = append(attrs, "bucket", files[0].SourceBucket, "first_key", files[0].SourceKey)
	}
	logger.InfoContext(ctx, "event parsed", attrs...)
	return contract.ParsedEvent{Files: files}, nil
}

// logger is h.Logger, else slog's default. The request id is the logger's
// business (lambdafn.NewLogger adds it from ctx).
func (h *ParseHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
