package localrun

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
)

// copyFileHandler builds the copy-file Lambda's handler as
// functions/copy-file/main.go does.
func copyFileHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (lambda.Handler, error) {
	return lambda.NewHandler(func(ctx context.Context) error { return errors.New("copy-file: not wired yet") }), nil
}
