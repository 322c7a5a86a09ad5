package localrun

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/archivecopy"
)

// copyFileHandler builds the copy-file Lambda's handler as
// functions/copy-file/main.go does: archivecopy.ConfigFromEnv, an S3 client
// from the AWS configuration with archivecopy.HTTPClient and
// archivecopy.S3ClientOptions, ArchiveCopier, CopyHandler.
func copyFileHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (lambda.Handler, error) {
	cfg, err := archivecopy.ConfigFromEnv(getenv)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("copy-file: %w", err)}
	}
	opt, err := archivecopy.S3ClientOptions(getenv)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("copy-file: %w", err)}
	}
	awsCfg, err := AWSConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	awsCfg.HTTPClient = archivecopy.HTTPClient(cfg.Concurrency)
	copier := archivecopy.NewArchiveCopier(s3.NewFromConfig(awsCfg, opt), cfg)
	copier.Logger = logger
	h := &archivecopy.CopyHandler{Copier: copier, Logger: logger}
	return lambda.NewHandler(h.Handle), nil
}
