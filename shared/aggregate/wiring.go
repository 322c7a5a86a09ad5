package aggregate

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// NewHandlerFromEnv builds the aggregate Lambda's handler. It has no
// settings and uses no AWS service; the signature is the one every function
// shares (lambdafn.Constructor).
func NewHandlerFromEnv(_ context.Context, _ aws.Config, _ func(string) string, logger *slog.Logger) (*AggregateHandler, error) {
	h := &AggregateHandler{Logger: logger, Metrics: metrics.New(logger, "aggregate")}
	h.invoker.Build(h.Handle)
	return h, nil
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *AggregateHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

var _ lambda.Handler = (*AggregateHandler)(nil)
