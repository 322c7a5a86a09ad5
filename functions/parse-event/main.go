// Command parse-event is the workflow's first Lambda: it reads the S3 restore
// event and returns the files to copy, or fails with InvalidEventError.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	slog.SetDefault(logger)
	h := &parseevent.ParseHandler{Logger: logger}
	lambda.Start(h.Handle)
}
