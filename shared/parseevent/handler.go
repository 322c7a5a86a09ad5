package parseevent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// ParseHandler is the parse-event Lambda: it turns the triggering event into
// the list of files the workflow's Map iterates over.
type ParseHandler struct {
	Logger *slog.Logger
	// MaxFiles bounds the files of one event (EnvMaxFiles): the most one
	// execution can carry without risking Step Functions' 25,000 history
	// events (statemachine.MaxFilesPerExecution of the deployment's
	// settings, which the CDK app sets). 0: only the report's bound
	// (contract.FilesWithinReport), as on the local engines, which keep
	// no such quota.
	MaxFiles int
	invoker  lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle parses one event. A rejected event is returned as the
// *InvalidEventError itself, unwrapped, so that Lambda reports errorType
// "InvalidEventError" and the workflow can route on it.
func (h *ParseHandler) Handle(ctx context.Context, event json.RawMessage) (contract.ParsedEvent, error) {
	logger := h.logger()
	files, err := ParseEvent(event)
	if err == nil {
		err = checkFileCount(len(files), h.MaxFiles)
	}
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

// checkFileCount rejects an event of more than maxFiles files (0: any).
func checkFileCount(files, maxFiles int) error {
	if maxFiles <= 0 || files <= maxFiles {
		return nil
	}
	return &InvalidEventError{Problem: fmt.Sprintf("event names %d files; one execution may carry at most %d, "+
		"so that it cannot pass Step Functions' 25,000 history events when every task makes every attempt its retriers allow (docs/limits.md). "+
		"Send the files in events of at most %d (cmd/recovery rerun splits them by itself)", files, maxFiles, maxFiles)}
}

// logger is h.Logger, else slog's default. The request id is the logger's
// business (lambdafn.NewLogger adds it from ctx).
func (h *ParseHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
