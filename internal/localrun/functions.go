package localrun

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Functions builds the four Lambdas as their main.go files do (the same
// handler structs, configured by the same Config-from-environment code), but
// reading getenv's environment and logging JSON to log. copyTimeout, when
// positive, replaces the copy-file function's deployed timeout (900 s) as
// its invocations' deadline (tests of the resumable copy). close releases
// what they hold (the request-status pool).
func Functions(ctx context.Context, getenv func(string) string, log io.Writer, copyTimeout time.Duration) (fns []invokeapi.Function, close func(), err error) {
	if log == nil {
		log = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()

	parse := &parseevent.ParseHandler{Logger: logger.With("function", statemachine.FunctionParseEvent)}
	aggLogger := logger.With("function", statemachine.FunctionAggregate)
	aggregate := &aggregate.AggregateHandler{Logger: aggLogger, Metrics: metrics.New(aggLogger, statemachine.FunctionAggregate)}

	// request-status: functions/request-status/main.go's wiring, with the
	// connection string always given (no SSM locally).
	pool, err := NewPool(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, pool.Close)
	status := &requeststatus.StatusHandler{
		Store:   requeststatus.NewStore(pool),
		Logger:  logger.With("function", statemachine.FunctionRequestStatus),
		Metrics: metrics.New(logger.With("function", statemachine.FunctionRequestStatus), statemachine.FunctionRequestStatus),
	}

	copyLogger := logger.With("function", statemachine.FunctionCopyFile)
	copyFile, err := copyFileHandler(ctx, getenv, copyLogger, metrics.New(copyLogger, statemachine.FunctionCopyFile))
	if err != nil {
		return nil, nil, err
	}

	if copyTimeout <= 0 {
		copyTimeout = copyFunctionTimeout
	}
	return []invokeapi.Function{
		{Name: statemachine.FunctionParseEvent, Handler: lambda.NewHandler(parse.Handle), Timeout: otherFunctionTimeout},
		{Name: statemachine.FunctionRequestStatus, Handler: lambda.NewHandler(status.Handle), Timeout: otherFunctionTimeout},
		{Name: statemachine.FunctionCopyFile, Handler: copyFile, Timeout: copyTimeout},
		{Name: statemachine.FunctionAggregate, Handler: lambda.NewHandler(aggregate.Handle), Timeout: otherFunctionTimeout},
	}, close, nil
}

// The functions' timeouts as infra/stack.go deploys them: each local
// invocation gets that deadline in its context.
const (
	copyFunctionTimeout  = statemachine.CopyFunctionTimeoutSecs * time.Second
	otherFunctionTimeout = statemachine.FunctionTimeoutSecs * time.Second
)
