package parseevent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// EnvMaxFiles bounds the files of one execution (ParseHandler.MaxFiles);
// unset or 0, contract.MaxFilesPerExecution.
const EnvMaxFiles = "MAX_FILES_PER_EVENT"

// NewHandlerFromEnv builds the parse-event Lambda's handler. Its one
// setting is EnvMaxFiles; it uses no AWS service; the signature is the one
// every function shares (lambdafn.Constructor).
func NewHandlerFromEnv(_ context.Context, _ aws.Config, getenv func(string) string, logger *slog.Logger) (*ParseHandler, error) {
	h := &ParseHandler{Logger: logger}
	if v := strings.TrimSpace(getenv(EnvMaxFiles)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("parse-event configuration: %s=%q: want a whole number, 0 for the default", EnvMaxFiles, v)
		}
		h.MaxFiles = n
	}
	h.invoker.Build(h.Handle)
	return h, nil
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *ParseHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

var _ lambda.Handler = (*ParseHandler)(nil)
