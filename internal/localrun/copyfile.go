package localrun

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// copyFileHandler builds the copy-file Lambda's handler as
// functions/copy-file/main.go does: copyfile.ConfigFromEnv, an S3 client
// from the AWS configuration with copyfile.HTTPClient and
// copyfile.S3ClientOptions (a copyfile.RegionalS3), ArchiveCopier,
// CopyHandler.
func copyFileHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (lambda.Handler, error) {
	cfg, err := copyfile.ConfigFromEnv(getenv)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("copy-file: %w", err)}
	}
	opt, err := copyfile.S3ClientOptions(getenv)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("copy-file: %w", err)}
	}
	awsCfg, err := AWSConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	awsCfg.HTTPClient = copyfile.HTTPClient(cfg.Concurrency)
	copier := copyfile.NewArchiveCopier(copyfile.NewRegionalS3(awsCfg, opt), cfg)
	copier.Logger = logger
	h := &copyfile.CopyHandler{Copier: copier, Logger: logger}
	return lambda.NewHandler(h.Handle), nil
}
