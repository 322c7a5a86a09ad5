package localservices

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Constructors are the functions' own constructors, the ones their main.go
// files pass to lambdafn.Start, by the folder under functions/ they are
// built from (statemachine.Function.Folder: copy-file-express is
// copy-file's).
var Constructors = map[string]lambdafn.Constructor[lambda.Handler]{
	statemachine.FunctionParseEvent:    lambdafn.Any(parseevent.NewHandlerFromEnv),
	statemachine.FunctionRequestStatus: lambdafn.Any(requeststatus.NewHandlerFromEnv),
	statemachine.FunctionCopyFile:      lambdafn.Any(copyfile.NewHandlerFromEnv),
	statemachine.FunctionAggregate:     lambdafn.Any(aggregate.NewHandlerFromEnv),
}

// Functions builds every function of statemachine.Functions with the
// constructor its main.go calls, from getenv's environment and the AWS
// configuration it names (AWSConfig), logging JSON to log as deployed
// (lambdafn.NewLogger, with a "function" attribute). Each invocation gets
// the function's deployed timeout as its deadline; copyTimeout, when
// positive, replaces that of each function built from copy-file (tests of
// the resumable copy). close
// releases what they hold (the request-status pool).
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
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, f := range statemachine.Functions {
		build, ok := Constructors[f.Folder()]
		if !ok {
			close()
			return nil, nil, fmt.Errorf("local runner: no constructor for function %s (functions/%s)", f.Name, f.Folder())
		}
		h, err := build(ctx, awsCfg, getenv, logger.With("function", f.Name))
		if err != nil {
			close()
			return nil, nil, &ConfigError{fmt.Errorf("%s: %w", f.Name, err)}
		}
		if c, ok := h.(interface{ Close() }); ok {
			closers = append(closers, c.Close)
		}
		timeout := time.Duration(f.TimeoutSecs) * time.Second
		if f.Folder() == statemachine.FunctionCopyFile && copyTimeout > 0 {
			timeout = copyTimeout
		}
		fns = append(fns, invokeapi.Function{Name: f.Name, Code: f.Folder(), Handler: h, Timeout: timeout})
	}
	return fns, close, nil
}
