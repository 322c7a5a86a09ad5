package localrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Functions builds the four Lambdas with the constructors their main.go
// files call (parseevent.NewHandlerFromEnv, ...), from getenv's environment
// and the AWS configuration it names (AWSConfig), logging JSON to log as
// deployed (lambdafn.NewLogger, with a "function" attribute). copyTimeout,
// when positive, replaces the copy-file function's deployed timeout (900 s)
// as its invocations' deadline (tests of the resumable copy). close releases
// what they hold (the request-status pool).
func Functions(ctx context.Context, getenv func(string) string, log io.Writer, copyTimeout time.Duration) (fns []invokeapi.Function, close func(), err error) {
	if log == nil {
		log = io.Discard
	}
	logger := lambdafn.NewLogger(log, lambdafn.LevelFromEnv(getenv))
	// request-status reads SSM without a connection string; locally there
	// is none to read.
	if strings.TrimSpace(getenv(EnvDatabaseURL)) == "" {
		return nil, nil, &ConfigError{fmt.Errorf("%s is empty: the local runner needs a connection string", EnvDatabaseURL)}
	}
	awsCfg, err := AWSConfig(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	named := func(name string) *slog.Logger { return logger.With("function", name) }

	parse, err := parseevent.NewHandlerFromEnv(ctx, awsCfg, getenv, named(statemachine.FunctionParseEvent))
	if err != nil {
		return nil, nil, &ConfigError{fmt.Errorf("%s: %w", statemachine.FunctionParseEvent, err)}
	}
	agg, err := aggregate.NewHandlerFromEnv(ctx, awsCfg, getenv, named(statemachine.FunctionAggregate))
	if err != nil {
		return nil, nil, &ConfigError{fmt.Errorf("%s: %w", statemachine.FunctionAggregate, err)}
	}
	copyFile, err := copyfile.NewHandlerFromEnv(ctx, awsCfg, getenv, named(statemachine.FunctionCopyFile))
	if err != nil {
		return nil, nil, &ConfigError{fmt.Errorf("%s: %w", statemachine.FunctionCopyFile, err)}
	}
	status, err := requeststatus.NewHandlerFromEnv(ctx, awsCfg, getenv, named(statemachine.FunctionRequestStatus))
	if err != nil {
		return nil, nil, &ConfigError{fmt.Errorf("%s: %w", statemachine.FunctionRequestStatus, err)}
	}

	if copyTimeout <= 0 {
		copyTimeout = copyFunctionTimeout
	}
	return []invokeapi.Function{
		{Name: statemachine.FunctionParseEvent, Handler: parse, Timeout: otherFunctionTimeout},
		{Name: statemachine.FunctionRequestStatus, Handler: status, Timeout: otherFunctionTimeout},
		{Name: statemachine.FunctionCopyFile, Handler: copyFile, Timeout: copyTimeout},
		{Name: statemachine.FunctionAggregate, Handler: agg, Timeout: otherFunctionTimeout},
	}, status.Close, nil
}

// The functions' timeouts as infra/stack.go deploys them: each local
// invocation gets that deadline in its context.
const (
	copyFunctionTimeout  = statemachine.CopyFunctionTimeoutSecs * time.Second
	otherFunctionTimeout = statemachine.FunctionTimeoutSecs * time.Second
)
