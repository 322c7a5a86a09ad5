package parseevent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// ParseHandler is the parse-event Lambda: it turns the execution's input (a
// Pipe's batch, or one event) into the files the workflow copies and the
// messages it rejected (ParseInput).
type ParseHandler struct {
	Logger *slog.Logger
	// MaxFiles bounds the files of one execution (EnvMaxFiles); 0 is
	// contract.MaxFilesPerExecution. contract.MaxFilesBytesPerExecution
	// bounds them too, and so does the report (contract.FilesWithinReport)
	// for a single event.
	MaxFiles int
	invoker  lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle parses one execution's input. A rejected event is returned as the
// *InvalidEventError itself, unwrapped, so that Lambda reports errorType
// "InvalidEventError" and the workflow can route on it. A batch is never
// rejected as a whole: its bad messages are listed in Rejected, each
// logged at WARN.
func (h *ParseHandler) Handle(ctx context.Context, event json.RawMessage) (contract.ParsedEvent, error) {
	logger := h.logger()
	parsed, err := ParseInput(event, h.MaxFiles)
	if err != nil {
		logger.WarnContext(ctx, "event rejected", "files", 0, "error", err.Error())
		return contract.ParsedEvent{}, err
	}
	for _, r := range parsed.Rejected {
		logger.WarnContext(ctx, "message rejected", "index", r.Index, "message_id", r.MessageID, "error", r.Error)
	}
	attrs := []any{"files", len(parsed.Files)}
	if len(parsed.Rejected) > 0 {
		attrs = append(attrs, "rejected", len(parsed.Rejected))
	}
	if len(parsed.Files) > 0 {
		attrs = append(attrs, "bucket", parsed.Files[0].SourceBucket, "first_key", parsed.Files[0].SourceKey)
	}
	logger.InfoContext(ctx, "event parsed", attrs...)
	return parsed, nil
}

// checkFileCount rejects an event of more than maxFiles files.
func checkFileCount(files, maxFiles int) error {
	if files <= maxFiles {
		return nil
	}
	return &InvalidEventError{Problem: fmt.Sprintf("event names %d files; one execution may carry at most %d, "+
		"so that its state stays within Step Functions' %d bytes (contract.MaxFilesPerExecution). "+
		"Send the files in events of at most %d (cmd/recovery rerun splits them by itself)",
		files, maxFiles, contract.MaxStatePayloadBytes, maxFiles)}
}

// logger is h.Logger, else slog's default. The request id is the logger's
// business (lambdafn.NewLogger adds it from ctx).
func (h *ParseHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
