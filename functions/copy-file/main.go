// Command copy-file is the workflow's copy Lambda: it copies one restored
// object server-side to its archive bucket, failing with TransientCopyError
// (retried by the workflow) or PermanentCopyError (recorded, not retried).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/archivecopy"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	slog.SetDefault(logger)

	cfg, err := archivecopy.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(logger, "invalid configuration", err)
	}
	client, err := newS3Client(context.Background(), cfg.Concurrency)
	if err != nil {
		fail(logger, "cannot load AWS configuration", err)
	}
	copier := archivecopy.NewArchiveCopier(client, cfg)
	copier.Logger = logger
	h := &archivecopy.CopyHandler{Copier: copier, Logger: logger}
	lambda.Start(h.Handle)
}

// newS3Client builds the S3 client from the default AWS configuration,
// keeping an idle connection for each part copied at once. The SDK itself
// honours AWS_ENDPOINT_URL_S3 (e.g. a local S3-compatible server); with such
// an endpoint, path-style addressing is used unless S3_FORCE_PATH_STYLE says
// otherwise.
func newS3Client(ctx context.Context, concurrency int) (*s3.Client, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, concurrency)
	})
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(httpClient))
	if err != nil {
		return nil, err
	}
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if v := strings.TrimSpace(os.Getenv("S3_FORCE_PATH_STYLE")); v != "" {
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("S3_FORCE_PATH_STYLE=%q: not true or false", v)
		}
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), nil
}

func fail(logger *slog.Logger, msg string, err error) {
	logger.Error(msg, "error", err.Error())
	os.Exit(1)
}
