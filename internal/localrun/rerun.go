package localrun

import (
	"context"
	"errors"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
)

// rerunUsage is rerun's line in the usage text: its flags are recovery's.
const rerunUsage = "[recovery rerun's flags]   recovery's rerun on the local services, its executions on the local engine, waited for"

// rerunMain is `go run ./cmd/local rerun`: cmd/recovery's rerun (its flags,
// checks and report) on the local runner's services, starting its
// executions on the local engine (the Node one) and waiting for them.
func (c *CLI) rerunMain(ctx context.Context, args []string) int {
	cli := &recovery.CLI{Stdout: c.Stdout, Stderr: c.Stderr, Getenv: c.Getenv, Program: "go run ./cmd/local",
		Backend: c.rerunBackend}
	return cli.Main(ctx, append([]string{"rerun"}, args...))
}

// rerunBackend starts the local services (those the environment names, or
// embedded ones) and hands rerun an execution starter on the local engine.
func (c *CLI) rerunBackend(ctx context.Context) (*recovery.Backend, error) {
	// Not c.repoRoot: its hint, --repo, is no flag of rerun's.
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	// A setup error is one of configuration (exit 2, as cmd/local's
	// ConfigError), not a file that could not be handled (1).
	root, err := localservices.FindRepoRoot(dir)
	if err != nil {
		return nil, &recovery.UsageError{Err: fmt.Errorf("%w: run it from inside the repository", err)}
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		return nil, &recovery.UsageError{Err: err} // it says to run npm ci, and where
	}
	runner, err := execution.NewRunner(ctx, execution.Config{RepoRoot: root, Getenv: c.Getenv})
	var ce *localservices.ConfigError
	if errors.As(err, &ce) {
		return nil, &recovery.UsageError{Err: err}
	}
	if err != nil {
		return nil, err
	}
	starter := &LocalExecutions{Runner: runner, Context: ctx}
	return &recovery.Backend{
		DB: runner.Services.DB, S3: runner.Services.S3, Executions: starter,
		StateMachineARN: LocalStateMachineARN,
		Wait:            func() []recovery.Outcome { return outcomes(starter.Wait()) },
		Close:           runner.Close,
	}, nil
}

// outcomes says how each execution ended, in recovery's terms.
func outcomes(xs []*LocalExecution) []recovery.Outcome {
	out := make([]recovery.Outcome, 0, len(xs))
	for _, x := range xs {
		out = append(out, recovery.Outcome{Name: x.Name, Status: x.Status, Error: x.Error})
	}
	return out
}
