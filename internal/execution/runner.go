package execution

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Config configures a Runner.
type Config struct {
	// RepoRoot is the repository root (cdk.json, node_modules).
	RepoRoot string
	// Engine runs the definition: EngineNode (default when empty) or
	// EngineMoto.
	Engine string
	// Getenv is the runner's environment (os.Getenv when nil): the
	// Lambdas' settings, AWS_ENDPOINT_URL_S3, DATABASE_URL, COPY_RETRIES,
	// COPY_RETRY_SLEEP_SECS, MAP_MAX_CONCURRENCY, CHUNK_FILES,
	// CHUNK_MAP_MAX_CONCURRENCY.
	Getenv func(string) string
	// S3Dir and DBDir hold the embedded services' data (defaults
	// <RepoRoot>/.local/s3 and <RepoRoot>/.local/pglite).
	S3Dir, DBDir string
	// Buckets are created on the embedded S3 server.
	Buckets []string
	// Out receives the execution history, one line per event, and
	// progress lines (copies still running; a multipart copy's parts and
	// bytes done, every COPY_PROGRESS_SECS); nil prints nothing.
	Out io.Writer
	// ServerLog receives the embedded servers' and the engine's output;
	// LambdaLog the Lambdas' JSON logs. Nil discards.
	ServerLog, LambdaLog io.Writer
	// RetryPause, when positive, replaces every Retry pause with this
	// duration through the engine's retryIntervalOverrides (tests); the
	// definition keeps its own timing.
	RetryPause time.Duration
	// LambdaEnv overrides variables for the Lambdas only (not for the
	// runner's own S3 client and pool): tests point a function at a fault
	// proxy this way.
	LambdaEnv map[string]string
	// CopyFunctionTimeout, when positive, is the copy-file function's
	// timeout for this runner instead of the deployed 900 s: each copy
	// invocation's context deadline. Tests shorten it so that a small
	// object needs several invocations of the resumable copy.
	CopyFunctionTimeout time.Duration
	// ProgressEvery and ProgressAfter tune the "still running" lines.
	ProgressEvery, ProgressAfter time.Duration
	// ThrottleFirst, when positive, makes the local Invoke API refuse the
	// first ThrottleFirst invocations of every function per execution with
	// 429 TooManyRequestsException, as Lambda does beyond a concurrency
	// limit (tests of the throttle retries).
	ThrottleFirst int
	// ThrottleOnly, when not empty, limits ThrottleFirst to the functions
	// it names (statemachine.Functions' names).
	ThrottleOnly []string
}

// Runner runs the workflow locally: services up, definition rendered,
// handlers built. Close stops everything it started.
type Runner struct {
	Services   *localservices.Services
	Settings   statemachine.Settings
	Definition []byte

	cfg            Config
	retryOverrides map[string]any
	functions      []invokeapi.Function
	closeFns       func()
}

// NewRunner prepares a runner: it renders the definition with cdk.json's
// settings (and the environment's overrides), starts or connects to S3 and
// Postgres, applies the schema and builds the four handlers.
func NewRunner(ctx context.Context, cfg Config) (_ *Runner, err error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.RepoRoot == "" {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("no repository root")}
	}
	if err := localservices.CheckNodeModules(cfg.RepoRoot); err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	if err := CheckEngine(cfg.Engine); err != nil {
		return nil, err
	}
	if cfg.Engine == stepengine.EngineMoto {
		if err := stepengine.CheckMoto(ctx, ""); err != nil {
			return nil, &localservices.ConfigError{Err: err}
		}
	}
	if cfg.S3Dir == "" {
		cfg.S3Dir = filepath.Join(cfg.RepoRoot, ".local", "s3")
	}
	if cfg.DBDir == "" {
		cfg.DBDir = filepath.Join(cfg.RepoRoot, ".local", "pglite")
	}
	settings, err := localservices.LoadSettings(cfg.RepoRoot, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	settings.ChunkExecutionType = ChunkExecutionType(cfg.Engine)
	definition, err := statemachine.Render(settings)
	if err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	r := &Runner{Settings: settings, Definition: definition, cfg: cfg}
	if cfg.RetryPause > 0 {
		r.retryOverrides, err = localservices.RetryOverrides(definition, int(cfg.RetryPause.Milliseconds()))
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	r.Services, err = localservices.StartServices(ctx, localservices.ServicesConfig{
		RepoRoot: cfg.RepoRoot,
		Getenv:   cfg.Getenv,
		S3Dir:    cfg.S3Dir,
		DBDir:    cfg.DBDir,
		Buckets:  cfg.Buckets,
		Log:      cfg.ServerLog,
	})
	if err != nil {
		return nil, err
	}
	lambdaEnv := func(name string) string {
		if v, ok := cfg.LambdaEnv[name]; ok {
			return v
		}
		return r.Services.Getenv(name)
	}
	r.functions, r.closeFns, err = localservices.Functions(ctx, lambdaEnv, newProgressWatcher(cfg.LambdaLog, cfg.Out), cfg.CopyFunctionTimeout)
	if err != nil {
		return nil, err
	}
	for i := range r.functions {
		if len(cfg.ThrottleOnly) == 0 || slices.Contains(cfg.ThrottleOnly, r.functions[i].Name) {
			r.functions[i].ThrottleFirst = cfg.ThrottleFirst
		}
	}
	return r, nil
}

// Config is the configuration the runner was made with (defaults filled
// in).
func (r *Runner) Config() Config { return r.cfg }

// Run executes the workflow once with the given event.
func (r *Runner) Run(ctx context.Context, event []byte) (*Result, error) {
	return Execute(ctx, Execution{
		Engine:                 r.cfg.Engine,
		RetryPause:             r.cfg.RetryPause,
		RepoRoot:               r.cfg.RepoRoot,
		Definition:             r.Definition,
		Functions:              r.functions,
		ErrorReport:            LambdaErrorReport,
		RetryIntervalOverrides: r.retryOverrides,
		Out:                    r.cfg.Out,
		EngineLog:              r.cfg.ServerLog,
		ProgressEvery:          r.cfg.ProgressEvery,
		ProgressAfter:          r.cfg.ProgressAfter,
	}, event)
}

// Close releases the handlers' resources and stops the embedded services.
func (r *Runner) Close() {
	if r.closeFns != nil {
		r.closeFns()
		r.closeFns = nil
	}
	if r.Services != nil {
		r.Services.Close()
	}
}

// LambdaErrorReport reports a handler error as aws-lambda-go does.
func LambdaErrorReport(err error) (string, string) {
	return contract.ErrorType(err), contract.ErrorMessage(err)
}

// ChunkExecutionType is the Express lane children's execution type an
// engine runs: moto's interpreter refuses EXPRESS when it parses the
// definition ("expecting STANDARD"), so a moto run renders STANDARD
// children, which run the same states; the Node engine ignores the type
// and runs the deployed EXPRESS rendering (docs/local-engines.md).
func ChunkExecutionType(engine string) string {
	if engine == stepengine.EngineMoto {
		return statemachine.ExecutionTypeStandard
	}
	return statemachine.ExecutionTypeExpress
}

// CheckEngine reports a name that selects no engine: the one place the
// engine names are checked ("" is stepengine.EngineNode).
func CheckEngine(name string) error {
	switch name {
	case "", stepengine.EngineNode, stepengine.EngineMoto:
		return nil
	}
	return &localservices.ConfigError{Err: fmt.Errorf("--engine %q: want %s or %s", name, stepengine.EngineNode, stepengine.EngineMoto)}
}
