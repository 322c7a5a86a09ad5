package parseevent

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// NewHandlerFromEnv builds the parse-event Lambda's handler. It has no
// settings and uses no AWS service; the signature is the one every function
// shares (lambdafn.Constructor).
func NewHandlerFromEnv(_ context.Context, _ aws.Config, _ func(string) string, logger *slog.Logger) (*ParseHandler, error) {
	h := &ParseHandler{Logger: logger}
	h.invoker.Build(h.Handle)
	return h, nil
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *ParseHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

var _ lambda.Handler = (*ParseHandler)(nil)
