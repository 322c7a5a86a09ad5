// Command copy-file is the workflow's copy Lambda: it copies one restored
// object server-side to its archive bucket, failing with TransientCopyError
// (retried by the workflow) or PermanentCopyError (recorded, not retried).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	slog.SetDefault(logger)

	cfg, err := copyfile.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(logger, "invalid configuration", err)
	}
	client, err := newS3Client(context.Background(), cfg.Concurrency)
	if err != nil {
		fail(logger, "cannot build the S3 client", err)
	}
	copier := copyfile.NewArchiveCopier(client, cfg)
	copier.Logger = logger
	h := &copyfile.CopyHandler{Copier: copier, Logger: logger}
	lambda.Start(h.Handle)
}

// newS3Client builds the S3 client from the default AWS configuration with
// copyfile's HTTP client and endpoint options (AWS_ENDPOINT_URL_S3,
// S3_FORCE_PATH_STYLE): a copyfile.RegionalS3, which sends each call to a
// client for its bucket's region.
func newS3Client(ctx context.Context, concurrency int) (*copyfile.RegionalS3, error) {
	opt, err := copyfile.S3ClientOptions(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(copyfile.HTTPClient(concurrency)))
	if err != nil {
		return nil, err
	}
	return copyfile.NewRegionalS3(awsCfg, opt), nil
}

func fail(logger *slog.Logger, msg string, err error) {
	logger.Error(msg, "error", err.Error())
	os.Exit(1)
}
