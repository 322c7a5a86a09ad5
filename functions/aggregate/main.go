// Command aggregate is the workflow's last Lambda: it reports every file's
// result and fails with CopyRequestError when any file was not copied.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	slog.SetDefault(logger)
	h := &aggregate.AggregateHandler{Logger: logger, Metrics: metrics.New(logger, "aggregate")}
	lambda.Start(h.Handle)
}
