package copyfile

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/s3region"
)

// NewHandlerFromEnv builds the copy-file Lambda's handler from getenv's
// environment (ConfigFromEnv, S3ClientOptions). Its S3 client comes from
// awsCfg, with an HTTPClient sized for the concurrency. Each S3 call goes to
// a client of its bucket's region (s3region.Client). An error names the
// setting that is wrong.
func NewHandlerFromEnv(_ context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (*CopyHandler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	opt, err := S3ClientOptions(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg.HTTPClient = HTTPClient(cfg.Concurrency)
	copier := NewArchiveCopier(s3region.New(awsCfg, opt), cfg)
	copier.Logger = logger
	h := &CopyHandler{Copier: copier, Logger: logger, Metrics: metrics.New(logger, "copy-file")}
	h.invoker.Build(h.Handle)
	return h, nil
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *CopyHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

var _ lambda.Handler = (*CopyHandler)(nil)
