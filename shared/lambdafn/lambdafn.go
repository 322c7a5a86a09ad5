// Package lambdafn starts every Lambda function the same way. It builds a
// JSON logger that puts the request id on every line, and the AWS
// configuration. It calls the function's own constructor, which reads the
// environment. A wrong configuration fails before lambda.Start, with a
// clear message.
//
// Each function's package owns its wiring in a [Constructor]
// (NewHandlerFromEnv). functions/<name>/main.go only calls [Start] with it;
// the local runner calls the same constructors. docs/functions.md says why.
package lambdafn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Constructor builds a function's handler from its environment (getenv),
// the AWS configuration and the logger. A wrong configuration is an error
// naming the setting. It does not talk to the network.
type Constructor[H lambda.Handler] func(ctx context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (H, error)

// RequestIDKey is the log attribute that carries the Lambda request id, as
// aws-lambda-go's own lambdacontext.NewLogHandler names it.
const RequestIDKey = "requestId"

// NewLogger returns a JSON logger writing to w with Lambda's key names
// (timestamp, message: lambdacontext.ReplaceAttr). A record logged with a
// Lambda context (the *Context slog calls) gets the request id as
// requestId.
//
// Unlike lambdacontext.NewLogger, it takes its writer (tests, the local
// runner) and always writes JSON, the functions' deployed LoggingFormat.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: lambdacontext.ReplaceAttr,
	})})
}

// SystemLogLevel is the functions' system log level, which infra deploys
// and the load runner counts the platform lines at. At INFO Lambda writes a
// START and a REPORT line per invocation; at WARN neither
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
// WARN: they cost about 600 bytes per invocation, and Lambda's own metrics
// keep Duration, Errors and Throttles (docs/runbook.md, "Logs").
const SystemLogLevel = "WARN"

// LevelFromEnv reads AWS_LAMBDA_LOG_LEVEL (the function's application log
// level, set by Lambda's advanced logging controls) as lambdacontext does:
// DEBUG, INFO, WARN or ERROR; anything else, or unset, is INFO.
func LevelFromEnv(getenv func(string) string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// requestIDHandler adds the Lambda request id from the record's context.
type requestIDHandler struct{ slog.Handler }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String(RequestIDKey, lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}

// Build is Start without lambda.Start: the logger (JSON to logOut), the AWS
// configuration from the process environment, and
// the handler, or the configuration error.
func Build[H lambda.Handler](ctx context.Context, newHandler Constructor[H], getenv func(string) string, logOut io.Writer) (H, *slog.Logger, error) {
	var zero H
	logger := NewLogger(logOut, LevelFromEnv(getenv))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return zero, logger, fmt.Errorf("load the AWS configuration: %w", err)
	}
	h, err := newHandler(ctx, awsCfg, getenv, logger)
	if err != nil {
		return zero, logger, err
	}
	return h, logger, nil
}

// Start builds the function name with newHandler from the process
// environment and serves invocations (lambda.Start). When the
// configuration is wrong, it logs why and exits with status 1 before
// lambda.Start. The Lambda init then fails with that message.
func Start[H lambda.Handler](name string, newHandler Constructor[H]) {
	h, logger, err := Build(context.Background(), newHandler, os.Getenv, os.Stdout)
	if err != nil {
		logger.Error(name+": cannot start", "error", err.Error())
		os.Exit(1)
	}
	slog.SetDefault(logger)
	lambda.Start(h)
}

// Any returns newHandler as a constructor of lambda.Handler, so that
// constructors of different handler types can be listed together (the local
// runner's table of functions).
func Any[H lambda.Handler](newHandler Constructor[H]) Constructor[lambda.Handler] {
	return func(ctx context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (lambda.Handler, error) {
		h, err := newHandler(ctx, awsCfg, getenv, logger)
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// Invoker serves a handler's invocations through aws-lambda-go handlers
// built once, as lambda.Start does. One built handler serves one
// invocation at a time, since aws-lambda-go reuses its answer buffer.
// Invocations served at once (the local Invoke API) get a handler each,
// built at the first overlap and kept. The zero value is ready to use.
type Invoker struct {
	mu    sync.Mutex
	idle  []lambda.Handler // built handlers serving no invocation now
	built int
}

// newHandler is lambda.NewHandler; tests count its calls.
var newHandler = lambda.NewHandler

// Build builds the aws-lambda-go handler of handle (a function of a shape
// lambda.NewHandler accepts) unless one is built already. Constructors call
// it, so the cost falls in the cold start.
func (i *Invoker) Build(handle any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.built == 0 {
		i.idle = append(i.idle, newHandler(handle))
		i.built++
	}
}

// Invoke serves one invocation's JSON payload with a handler of handle: an
// idle one, or one built now. The answer is the caller's own copy.
func (i *Invoker) Invoke(ctx context.Context, handle any, payload []byte) ([]byte, error) {
	h := i.take(handle)
	defer i.release(h)
	out, err := h.Invoke(ctx, payload)
	return bytes.Clone(out), err // before release lets another invocation reuse the buffer
}

func (i *Invoker) take(handle any) lambda.Handler {
	i.mu.Lock()
	defer i.mu.Unlock()
	if n := len(i.idle); n > 0 {
		h := i.idle[n-1]
		i.idle = i.idle[:n-1]
		return h
	}
	i.built++
	return newHandler(handle)
}

func (i *Invoker) release(h lambda.Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.idle = append(i.idle, h)
}
