package localrun

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/archivecopy"
)

// copyFileHandler builds the copy-file Lambda's handler as
// functions/copy-file/main.go does: archivecopy.ConfigFromEnv, an S3 client
// from the AWS configuration (AWS_ENDPOINT_URL_S3 with path-style addressing
// unless S3_FORCE_PATH_STYLE says otherwise), ArchiveCopier, CopyHandler.
func copyFileHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (lambda.Handler, error) {
	cfg, err := archivecopy.ConfigFromEnv(getenv)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("copy-file: %w", err)}
	}
	awsCfg, err := AWSConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	endpoint := strings.TrimSpace(getenv(EnvS3Endpoint))
	if endpoint == "" {
		endpoint = strings.TrimSpace(getenv("AWS_ENDPOINT_URL"))
	}
	pathStyle := endpoint != ""
	if v := strings.TrimSpace(getenv("S3_FORCE_PATH_STYLE")); v != "" {
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, &ConfigError{fmt.Errorf("S3_FORCE_PATH_STYLE=%q: not true or false", v)}
		}
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
		o.UsePathStyle = pathStyle
	})
	copier := archivecopy.NewArchiveCopier(client, cfg)
	copier.Logger = logger
	h := &archivecopy.CopyHandler{Copier: copier, Logger: logger}
	return lambda.NewHandler(h.Handle), nil
}
